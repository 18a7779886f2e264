# -*- coding: utf-8 -*-
"""storage/streams.py (and core/volume_io.py under it) against fake libvirt objects behind the wrapper: upload_file's chunks, the
format check, that a failed upload leaves no volume behind, and reading and writing small
volumes."""

import io
import json
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage import streams
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.volume_io import UPLOAD_CHUNK
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import (
    read_json, read_volume, upload_file, volume_format, write_json, write_volume)

from handles import handle


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

    def recvAll(self, handler, opaque):
        # Like libvirt: hand the downloaded range to the handler, a few bytes at a time.
        if self.fail_after is not None:
            raise _error(libvirt.VIR_ERR_RPC, 'connection reset')
        vol, offset, length = self.download
        data = vol.data[offset:offset + length]
        for i in range(0, len(data), 3):
            handler(self, data[i:i + 3], opaque)

    def finish(self):
        if self.vol is not None:
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

    def download(self, stream, offset, length, flags):
        assert isinstance(stream, Stream), 'the wrapper hands libvirt its own stream'
        stream.download = (self, offset, length)

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
        self.pools = {}

    def newStream(self, flags):
        self.streams.append(Stream(self.fail_after))
        return self.streams[-1]

    def storagePoolLookupByName(self, name):
        return self.pools[name]


def on_hv1(conn, pool):
    """The handle of hv1 over ``conn`` and ``pool`` as the code gets it: wrapped."""
    conn.pools[pool.name()] = pool
    h = handle(conn)
    return h, h.pool(pool.name())


DATA = bytes(range(256)) * 10000  # 2.5 MiB: three chunks


def test_upload_in_chunks_of_one_mib():
    pool, conn = Pool(probed='raw'), Conn()
    vol = upload_file(*on_hv1(conn, pool), 'a.raw', io.BytesIO(DATA), len(DATA), 'raw')
    assert vol.data == DATA and vol.fmt == 'raw'  # created raw: exactly the bytes sent
    assert [len(c) for c in conn.streams[0].chunks] == [UPLOAD_CHUNK, UPLOAD_CHUNK, len(DATA) - 2 * UPLOAD_CHUNK]
    assert conn.streams[0].finished and not conn.streams[0].aborted


def test_upload_waits_for_libvirt_to_see_the_format():
    pool, conn = Pool(probed='qcow2', probe_after=3), Conn()
    upload_file(*on_hv1(conn, pool), 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2')
    assert pool.looks == 4
    assert list(pool.vols) == ['a.qcow2']


def test_failed_send_aborts_and_deletes_the_volume():
    pool, conn = Pool(), Conn(fail_after=1)
    with pytest.raises(LibvirtCallError) as err:
        upload_file(*on_hv1(conn, pool), 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2')
    assert err.value.operation == 'upload' and err.value.hypervisor == 'hv1'
    assert err.value.obj == 'a.qcow2'
    assert pool.vols == {} and conn.streams[0].aborted


def test_short_source_deletes_the_volume():
    pool, conn = Pool(), Conn()
    with pytest.raises(KvmcloudError, match='ended after 100 of 200 bytes'):
        upload_file(*on_hv1(conn, pool), 'a.raw', io.BytesIO(b'x' * 100), 200, 'raw')
    assert pool.vols == {} and conn.streams[0].aborted and not conn.streams[0].finished


def test_source_read_error_deletes_the_volume():
    class Broken(io.RawIOBase):
        def read(self, size=-1):
            raise OSError('disk on fire')

    pool, conn = Pool(), Conn()
    with pytest.raises(OSError, match='disk on fire'):
        upload_file(*on_hv1(conn, pool), 'a.raw', Broken(), 200, 'raw')
    assert pool.vols == {}


def test_format_libvirt_does_not_see_is_refused(monkeypatch):
    monkeypatch.setattr(streams, 'FORMAT_PROBE_TIMEOUT', 0.3)
    pool, conn = Pool(probed='raw', probe_after=0), Conn()
    with pytest.raises(KvmcloudError, match='libvirt sees it as raw, not qcow2'):
        upload_file(*on_hv1(conn, pool), 'a.qcow2', io.BytesIO(DATA), len(DATA), 'qcow2')
    assert pool.vols == {}


# -- small volumes: write_volume, write_json, read_volume, read_json ---------------------------------

def test_write_volume_creates_a_raw_volume_holding_the_data():
    pool, conn = Pool(), Conn()
    vol = write_volume(*on_hv1(conn, pool), 'r.bin', b'\x00\x01data')
    assert vol.data == b'\x00\x01data' and vol.fmt == 'raw' and vol.capacity == 6
    assert list(pool.vols) == ['r.bin']
    assert conn.streams[0].finished


def test_write_volume_replaces_the_volume():
    pool, conn = Pool(), Conn()
    h, images = on_hv1(conn, pool)
    write_volume(h, images, 'r.bin', b'a much longer first content')
    first = pool.vols['r.bin']
    write_volume(h, images, 'r.bin', b'short')
    assert list(pool.vols) == ['r.bin'] and pool.vols['r.bin'] is not first
    assert pool.vols['r.bin'].data == b'short' and pool.vols['r.bin'].capacity == 5


def test_write_json_writes_sorted_indented_json_with_a_newline():
    pool, conn = Pool(), Conn()
    write_json(*on_hv1(conn, pool), 'r.json', {'b': 1, 'a': 'ü'})
    data = pool.vols['r.json'].data
    assert data == (json.dumps({'a': 'ü', 'b': 1}, sort_keys=True, indent=2) + '\n').encode('utf-8')


def test_read_volume_reads_at_most_max_bytes_in_chunks():
    pool, conn = Pool(), Conn()
    h, images = on_hv1(conn, pool)
    vol = write_volume(h, images, 'r.bin', b'0123456789')
    assert read_volume(h, vol) == b'0123456789'
    assert read_volume(h, vol, max_bytes=4) == b'0123'
    assert conn.streams[-1].download[1:] == (0, 4)
    assert conn.streams[-1].finished and not conn.streams[-1].aborted


def test_a_failed_download_aborts_and_names_the_volume():
    pool, conn = Pool(), Conn()
    h, images = on_hv1(conn, pool)
    vol = write_volume(h, images, 'r.bin', b'0123456789')
    conn.fail_after = 0
    with pytest.raises(LibvirtCallError) as err:
        read_volume(h, vol)
    assert (err.value.operation, err.value.obj, err.value.hypervisor) == ('download', 'r.bin', 'hv1')
    assert err.value.code == libvirt.VIR_ERR_RPC
    assert conn.streams[-1].aborted


@pytest.mark.parametrize('content, expected', [
    (b'{"a": 1}', {'a': 1}), (b'not json', None), (b'[1, 2]', None), (b'"text"', None), (b'\xff\xfe', None),
    (b'', None),
])
def test_read_json_gives_the_object_a_volume_holds_or_none(content, expected):
    pool, conn = Pool(), Conn()
    h, images = on_hv1(conn, pool)
    vol = write_volume(h, images, 'r.json', content)
    assert read_json(h, vol) == expected


def test_volume_format_is_what_libvirt_reports():
    pool, conn = Pool(), Conn()
    h, images = on_hv1(conn, pool)
    vol = images.about('x.qcow2').createXML(
        "<volume><name>x.qcow2</name><capacity unit='bytes'>1</capacity><target><format type='qcow2'/></target>"
        "</volume>", 0)
    assert volume_format(vol) == 'qcow2'
