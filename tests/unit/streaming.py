# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's test driver (``test:///default``) with the two things its volumes lack: content
moved through upload and download streams, and timestamps. Everything else (creating,
looking up, listing and deleting volumes, its refusal of a name that exists) is the driver's.

The hypervisor's clock is ``clock`` (seconds since the epoch): a volume's mtime is the clock
when it was created or its upload finished; tests move it, or a volume's mtime, by hand.
"""

import threading
import xml.etree.ElementTree as ET

import libvirt


def error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


class StreamingConnection:
    """A test driver connection whose pools and volumes stream content."""

    def __init__(self, conn, start=1700000000.0, timestamps=True):
        self._conn = conn
        self.now = start
        self.timestamps = timestamps
        self.content = {}   # volume key -> bytes
        self.mtime = {}     # volume key -> the clock at its last write
        self.calls = []     # the volume writes made: ('create', name), ('upload', name), ('delete', name)
        self.fail_upload = None  # a volume name whose upload fails
        # libvirt creates a volume and its (empty) content at once: so does this, for threads.
        self.mutex = threading.RLock()

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def newStream(self, flags):
        return Stream(self)

    def storagePoolLookupByName(self, name):
        return Pool(self, self._conn.storagePoolLookupByName(name))

    def writes(self):
        return [call for call in self.calls if call[0] in ('create', 'upload', 'delete')]

    def set_mtime(self, volume_name, value):
        for key in self.content:
            if key.endswith('/' + volume_name):
                self.mtime[key] = value
                return
        raise KeyError(volume_name)


class Pool:
    def __init__(self, sc, raw):
        self._sc, self._raw = sc, raw

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def createXML(self, xml, flags):
        with self._sc.mutex:
            raw = self._raw.createXML(xml, flags)
            capacity = int(ET.fromstring(xml).findtext('capacity'))
            self._sc.content[raw.key()] = b'\0' * capacity
            self._sc.mtime[raw.key()] = self._sc.now
            self._sc.calls.append(('create', raw.name()))
        return Vol(self._sc, raw)

    def storageVolLookupByName(self, name):
        return Vol(self._sc, self._raw.storageVolLookupByName(name))

    def listAllVolumes(self, flags):
        return [Vol(self._sc, raw) for raw in self._raw.listAllVolumes(flags)]


class Vol:
    def __init__(self, sc, raw):
        self._sc, self._raw = sc, raw

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def upload(self, stream, offset, length, flags):
        stream.start(self, 'upload', offset, length)

    def download(self, stream, offset, length, flags):
        stream.start(self, 'download', offset, length)

    def XMLDesc(self, flags):
        desc = ET.fromstring(self._raw.XMLDesc(flags))
        key = self._raw.key()
        if self._sc.timestamps and key in self._sc.mtime:
            stamps = ET.SubElement(desc.find('target'), 'timestamps')
            ET.SubElement(stamps, 'mtime').text = '%.9f' % self._sc.mtime[key]
        return ET.tostring(desc, encoding='unicode')

    def delete(self, flags):
        with self._sc.mutex:
            key, name = self._raw.key(), self._raw.name()
            self._raw.delete(flags)
            self._sc.content.pop(key, None)
            self._sc.mtime.pop(key, None)
            self._sc.calls.append(('delete', name))
        return 0


class Stream:
    def __init__(self, sc):
        self._sc = sc
        self.vol = self.mode = None
        self.chunks = []

    def start(self, vol, mode, offset, length):
        self.vol, self.mode, self.offset, self.length = vol, mode, offset, length

    def sendAll(self, handler, opaque):
        while True:
            data = handler(self, 65536, opaque)
            if not data:
                return
            if self._sc.fail_upload == self.vol.name():
                raise error(libvirt.VIR_ERR_RPC, 'connection reset')
            self.chunks.append(data)

    def recvAll(self, handler, opaque):
        with self._sc.mutex:
            key = self.vol.key()
            if key not in self._sc.content:
                raise error(libvirt.VIR_ERR_NO_STORAGE_VOL, 'storage volume not found')
            data = self._sc.content[key][self.offset:self.offset + self.length]
        for i in range(0, len(data), 7):
            handler(self, data[i:i + 7], opaque)

    def finish(self):
        if self.mode != 'upload':
            return
        key = self.vol.key()
        if key not in self._sc.content:
            raise error(libvirt.VIR_ERR_NO_STORAGE_VOL, 'storage volume not found')
        data = b''.join(self.chunks)
        old = self._sc.content[key]
        self._sc.content[key] = old[:self.offset] + data + old[self.offset + len(data):]
        self._sc.mtime[key] = self._sc.now
        self._sc.calls.append(('upload', self.vol.name()))

    def abort(self):
        self.chunks = []
