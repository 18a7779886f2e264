# -*- coding: utf-8 -*-
"""streams.upload_file against fake libvirt objects: chunks, the format check, and that a
failed upload leaves no volume behind."""

import io
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import streams
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.streams import UPLOAD_CHUNK, upload_file


def _error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


class Stream:
    def __init__(self, fail_after=None):
        self.vol, self.chunks = None, []
        self.fail_after = fail_after
        self.finished = self.aborted = False

    def sendAll(self, handler, opaque):
        while True:
            data = handler(self, 65536, opaque)
            if not data:
                return
            if self.fail_after is not None and len(self.chunks) >= self.fail_after:
                raise _error(libvirt.VIR_ERR_RPC, 'connection reset')
            self.chunks.append(data)

    def finish(self):
        self.vol.data = b''.join(self.chunks)
        self.finished = True

    def abort(self):
        self.aborted = True


class Vol:
    def __init__(self, pool, name, capacity, fmt):
        self.pool, self._name, self.capacity, self.fmt = pool, name, capacity, fmt
        self.data = None

    def name(self):
        return self._name

    def upload(self, stream, offset, length, flags):
        assert (offset, length, flags) == (0, self.capacity, 0)
        stream.vol = self

    def XMLDesc(self, flags):
        # The format libvirt would probe, after a few looks.
        self.pool.looks += 1
        fmt = self.fmt
        if self.data is not None and self.pool.looks > self.pool.probe_after:
            fmt = self.pool.probed
        return "<volume><name>%s</name><target><format type='%s'/></target></volume>" % (self._name, fmt)

    def delete(self, flags):
        del self.pool.vols[self._name]


class Pool:
    def __init__(self, probed='qcow2', probe_after=2):
        self.vols, self.looks = {}, 0
        self.probed, self.probe_after = probed, probe_after

    def name(self):
        return 'images'

    def createXML(self, xml, flags):
        spec = ET.fromstring(xml)
        assert spec.find('capacity').get('unit') == 'bytes'
        name = spec.findtext('name')
        self.vols[name] = Vol(self, name, int(spec.findtext('capacity')), spec.find('target/format').get('type'))
        return self.vols[name]

    def storageVolLookupByName(self, name):
        if name not in self.vols:
            raise _error(libvirt.VIR_ERR_NO_STORAGE_VOL, 'no vol %s' % name)
        return self.vols[name]


class Conn:
    def __init__(self, fail_after=None):
        self.streams, self.fail_after = [], fail_after

    def newStream(self, flags):
        self.streams.append(Stream(self.fail_after))
        return self.streams[-1]


DATA = bytes(range(256)) * 10000  # 2.5 MiB: three chunks


def test_upload_in_chunks_of_one_mib():
    pool, conn = Pool(probed='raw'), Conn()
    vol = upload_file(conn, pool, 'a.raw', io.BytesIO(DATA), len(DATA), 'raw', hypervisor='hv1')
    assert vol.data == DATA and vol.fmt == 'raw'  # created raw: exactly the bytes sent
    assert [len(c) for c in conn.streams[0].chunks] == [UPLOAD_CHUNK, UPLOAD_CHUNK, len(DATA) - 2 * UPLOAD_CHUNK]
    assert conn.streams[0].finished and not conn.streams[0].aborted


def test_upload_waits_for_libvirt_to_see_the_format():
    pool, conn = Pool(probed='qcow2', probe_after=3), Conn()
    upload_file(conn, pool, 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2')
    assert pool.looks == 4
    assert list(pool.vols) == ['a.qcow2']


def test_failed_send_aborts_and_deletes_the_volume():
    pool, conn = Pool(), Conn(fail_after=1)
    with pytest.raises(LibvirtCallError) as err:
        upload_file(conn, pool, 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2', hypervisor='hv1')
    assert err.value.operation == 'upload' and err.value.hypervisor == 'hv1'
    assert pool.vols == {} and conn.streams[0].aborted


def test_short_source_deletes_the_volume():
    pool, conn = Pool(), Conn()
    with pytest.raises(KvmcloudError, match='ended after 100 of 200 bytes'):
        upload_file(conn, pool, 'a.raw', io.BytesIO(b'x' * 100), 200, 'raw', hypervisor='hv1')
    assert pool.vols == {} and conn.streams[0].aborted and not conn.streams[0].finished


def test_source_read_error_deletes_the_volume():
    class Broken(io.RawIOBase):
        def read(self, size=-1):
            raise OSError('disk on fire')

    pool, conn = Pool(), Conn()
    with pytest.raises(OSError, match='disk on fire'):
        upload_file(conn, pool, 'a.raw', Broken(), 200, 'raw')
    assert pool.vols == {}


def test_format_libvirt_does_not_see_is_refused(monkeypatch):
    monkeypatch.setattr(streams, 'FORMAT_PROBE_TIMEOUT', 0.3)
    pool, conn = Pool(probed='raw', probe_after=0), Conn()
    with pytest.raises(KvmcloudError, match='libvirt sees it as raw, not qcow2'):
        upload_file(conn, pool, 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2', hypervisor='hv1')
    assert pool.vols == {}
