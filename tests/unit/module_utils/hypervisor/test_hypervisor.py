# -*- coding: utf-8 -*-
"""hypervisor/record.py and hypervisor/facts.py: versions, the virt type decision, the record
volume, gather() and the hypervisor_info module's logic."""

import json
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition, Hypervisor
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor import record as hypervisor_record
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.facts import (
    describe, gather, run_hypervisor_info, version_string)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.record import (
    RECORD_VOLUME, kvm_offered, read_record, resolve_virt_type, write_record)

from handles import handle


@pytest.mark.parametrize('number, expected', [
    (9000000, '9.0.0'),
    (7002022, '7.2.22'),
    (8010000, '8.10.0'),
    (10000001, '10.0.1'),
    (1002003, '1.2.3'),
    (999, '0.0.999'),
    (0, '0.0.0'),
])
def test_version_string(number, expected):
    assert version_string(number) == expected


# -- resolve_virt_type: cloud definition > record > capabilities > default ----------------

@pytest.mark.parametrize('spec, record, offered, expected', [
    ('kvm', {'virt_type': 'qemu'}, False, ('kvm', 'cloud definition')),
    ('qemu', {'virt_type': 'kvm'}, True, ('qemu', 'cloud definition')),
    (None, {'virt_type': 'kvm'}, False, ('kvm', 'recorded')),
    (None, {'virt_type': 'qemu'}, True, ('qemu', 'recorded')),
    (None, {'virt_type': 'xen'}, False, ('qemu', 'capabilities: kvm is not offered')),
    (None, {}, False, ('qemu', 'capabilities: kvm is not offered')),
    (None, None, False, ('qemu', 'capabilities: kvm is not offered')),
    ('', None, False, ('qemu', 'capabilities: kvm is not offered')),
])
def test_resolve_virt_type_precedence(spec, record, offered, expected):
    assert resolve_virt_type(spec, record, offered) == expected


@pytest.mark.parametrize('record', [None, {}, {'virt_type': None}, {'virt_type': 'lxc'}])
def test_resolve_virt_type_default_when_not_probed(record):
    virt_type, source = resolve_virt_type(None, record, True)
    assert virt_type == 'qemu'
    assert source.startswith('default:') and 'kvmcloud.cloud.hypervisor' in source


# -- kvm_offered ---------------------------------------------------------------------------

def test_kvm_not_offered_by_test_driver(hv1):
    assert kvm_offered(hv1) is False


class CapsConn:
    def __init__(self, domain_types):
        guests = ''.join("<guest><os_type>hvm</os_type><arch name='x86_64'>%s</arch></guest>"
                         % ''.join("<domain type='%s'/>" % t for t in types) for types in domain_types)
        self.caps = '<capabilities><host><cpu><arch>x86_64</arch></cpu></host>%s</capabilities>' % guests

    def getCapabilities(self):
        return self.caps


def test_kvm_offered_from_capabilities():
    assert kvm_offered(handle(CapsConn([['qemu', 'kvm']]))) is True
    assert kvm_offered(handle(CapsConn([['qemu'], ['qemu', 'kvm']]))) is True
    assert kvm_offered(handle(CapsConn([['qemu']]))) is False
    assert kvm_offered(handle(CapsConn([]))) is False


# -- the record volume through the test driver ---------------------------------------------

@pytest.fixture
def hv_default_pool(test_conn):
    """hv1 with the test driver's default-pool as its images pool."""
    return handle(test_conn, images_pool='default-pool')


def _record_volume(h):
    return h.pool('default-pool').lookup('storageVolLookupByName', RECORD_VOLUME)


def test_record_round_trip_through_test_driver(hv_default_pool):
    h = hv_default_pool
    record = {'virt_type': 'kvm', 'kvm_boots': True, 'probed_at': '2024-01-01T00:00:00Z'}
    try:
        write_record(h, record)
    except LibvirtCallError as err:
        # Checked: libvirt's test driver implements neither virStorageVolUpload nor
        # virStorageVolDownload; test_record_round_trip_through_streams covers the logic.
        assert err.code == libvirt.VIR_ERR_NO_SUPPORT, err.msg
        assert 'virStorageVolUpload' in err.message
        pytest.skip('libvirt test driver does not support volume upload/download streams: %s' % err.message)
    try:
        assert read_record(h) == record
    finally:
        vol = _record_volume(h)
        if vol is not None:
            vol.delete(0)


def test_test_driver_really_lacks_volume_streams(test_conn):
    pool = test_conn.storagePoolLookupByName('default-pool')
    vol = pool.createXML("<volume><name>unit-stream.raw</name><capacity unit='bytes'>4</capacity></volume>", 0)
    try:
        for method in (vol.upload, vol.download):
            stream = test_conn.newStream(0)
            with pytest.raises(libvirt.libvirtError) as err:
                method(stream, 0, 4, 0)
            assert err.value.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT
            stream.abort()
    finally:
        vol.delete(0)


def test_failed_record_write_leaves_no_volume(hv_default_pool):
    h = hv_default_pool
    try:
        write_record(h, {'virt_type': 'kvm'})
    except LibvirtCallError as err:
        assert err.operation == 'upload' and err.hypervisor == 'hv1'
        assert _record_volume(h) is None
    else:  # a driver with upload support: nothing to check here, tidy up
        _record_volume(h).delete(0)


def test_write_record_needs_the_pool(hv1):
    # hv1's images pool is the default one, kvmcloud-images, which the test driver lacks.
    with pytest.raises(KvmcloudError) as err:
        write_record(hv1, {'virt_type': 'kvm'})
    assert 'kvmcloud-images' in err.value.msg and 'hv1' in err.value.msg


def test_write_record_needs_an_active_pool(hv_default_pool):
    h = hv_default_pool
    pool = h.pool('default-pool')
    pool.destroy()
    try:
        with pytest.raises(KvmcloudError, match='missing or inactive'):
            write_record(h, {'virt_type': 'kvm'})
        assert read_record(h) is None
    finally:
        pool.create(0)


def test_read_record_missing(test_conn, hv_default_pool):
    assert read_record(handle(test_conn, images_pool='no-such-pool')) is None
    assert read_record(hv_default_pool) is None  # pool without a record volume


# -- the record volume through fake streams --------------------------------------------------

def _not_found(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


class FakeStream:
    def __init__(self, conn):
        self.conn = conn
        self.op = self.vol = None
        self.sent = []
        self.finished = self.aborted = False

    def send(self, data):
        assert self.op == 'upload'
        if self.conn.fail_send:
            raise _not_found(libvirt.VIR_ERR_RPC, 'connection reset')
        self.sent.append(bytes(data))
        return len(data)

    def sendAll(self, handler, opaque):
        # Like libvirt: ask the handler for data until it returns nothing.
        while True:
            data = handler(self, 65536, opaque)
            if not data:
                return
            self.send(data)

    def recvAll(self, handler, opaque):
        assert self.op == 'download'
        if self.conn.fail_recv:
            raise _not_found(libvirt.VIR_ERR_RPC, 'connection reset')
        data = self.vol.data[self.offset:self.offset + self.length]
        for i in range(0, len(data), 7):  # several chunks
            handler(self, data[i:i + 7], opaque)

    def finish(self):
        if self.op == 'upload':
            data = b''.join(self.sent)
            assert len(data) == self.length
            self.vol.data = data
        self.finished = True

    def abort(self):
        self.aborted = True


class FakeVol:
    def __init__(self, pool, name, capacity):
        self.pool, self._name, self.data = pool, name, b'\0' * capacity

    def name(self):
        return self._name

    def _start(self, stream, op, offset, length):
        stream.op, stream.vol, stream.offset, stream.length = op, self, offset, length

    def upload(self, stream, offset, length, flags):
        assert offset == 0 and length <= len(self.data)
        self._start(stream, 'upload', offset, length)

    def download(self, stream, offset, length, flags):
        self._start(stream, 'download', offset, length)

    def delete(self, flags):
        del self.pool.vols[self._name]


class FakePool:
    def __init__(self, name, active=True):
        self._name, self.active, self.vols = name, active, {}

    def name(self):
        return self._name

    def isActive(self):
        return int(self.active)

    def storageVolLookupByName(self, name):
        if name not in self.vols:
            raise _not_found(libvirt.VIR_ERR_NO_STORAGE_VOL, 'no storage vol %s' % name)
        return self.vols[name]

    def createXML(self, xml, flags):
        spec = ET.fromstring(xml)
        assert spec.find('target/format').get('type') == 'raw'
        capacity = spec.find('capacity')
        assert capacity.get('unit') == 'bytes'
        name = spec.findtext('name')
        assert name not in self.vols
        self.vols[name] = FakeVol(self, name, int(capacity.text))
        return self.vols[name]


class FakeConn:
    def __init__(self, *pools):
        self.pools = {p.name(): p for p in pools}
        self.streams = []
        self.fail_send = self.fail_recv = False

    def storagePoolLookupByName(self, name):
        if name not in self.pools:
            raise _not_found(libvirt.VIR_ERR_NO_STORAGE_POOL, 'no pool %s' % name)
        return self.pools[name]

    def newStream(self, flags):
        self.streams.append(FakeStream(self))
        return self.streams[-1]


def on_fake(conn):
    """hv1 over a fake connection, with the pool ``images`` as its images pool."""
    return handle(conn, images_pool='images')


def test_record_round_trip_through_streams():
    conn = FakeConn(FakePool('images'))
    record = {'virt_type': 'kvm', 'kvm_boots': True, 'note': 'ünïcode', 'cpus': 8}
    write_record(on_fake(conn), record)
    vol = conn.pools['images'].vols[RECORD_VOLUME]
    assert json.loads(vol.data.decode('utf-8')) == record
    assert vol.data.endswith(b'\n')
    assert read_record(on_fake(conn)) == record
    assert all(s.finished and not s.aborted for s in conn.streams)


def test_record_is_replaced():
    conn = FakeConn(FakePool('images'))
    write_record(on_fake(conn), {'virt_type': 'qemu', 'long': 'x' * 100})
    write_record(on_fake(conn), {'virt_type': 'kvm'})
    assert list(conn.pools['images'].vols) == [RECORD_VOLUME]
    assert read_record(on_fake(conn)) == {'virt_type': 'kvm'}


def test_failed_upload_is_cleaned_up():
    conn = FakeConn(FakePool('images'))
    conn.fail_send = True
    with pytest.raises(LibvirtCallError) as err:
        write_record(on_fake(conn), {'virt_type': 'kvm'})
    assert err.value.operation == 'upload' and err.value.code == libvirt.VIR_ERR_RPC
    assert err.value.hypervisor == 'hv1' and err.value.obj == RECORD_VOLUME
    assert conn.pools['images'].vols == {}
    assert conn.streams[-1].aborted


def test_failed_download_is_a_typed_error():
    pool = FakePool('images')
    conn = FakeConn(pool)
    write_record(on_fake(conn), {'virt_type': 'kvm'})
    conn.fail_recv = True
    with pytest.raises(LibvirtCallError) as err:
        read_record(on_fake(conn))
    assert err.value.code == libvirt.VIR_ERR_RPC and err.value.hypervisor == 'hv1'
    assert err.value.operation == 'download'
    assert conn.streams[-1].aborted


@pytest.mark.parametrize('content', [b'not json', b'[1, 2]', b'"text"', b'\xff\xfe', b''])
def test_unreadable_record_is_none(content):
    pool = FakePool('images')
    conn = FakeConn(pool)
    pool.createXML("<volume><name>%s</name><capacity unit='bytes'>0</capacity>"
                   "<target><format type='raw'/></target></volume>" % RECORD_VOLUME, 0)
    pool.vols[RECORD_VOLUME].data = content
    assert read_record(on_fake(conn)) is None


def test_read_record_reads_at_most_max_bytes():
    pool = FakePool('images')
    conn = FakeConn(pool)
    pool.createXML("<volume><name>%s</name><capacity unit='bytes'>0</capacity>"
                   "<target><format type='raw'/></target></volume>" % RECORD_VOLUME, 0)
    pool.vols[RECORD_VOLUME].data = json.dumps({'pad': 'x' * hypervisor_record.RECORD_MAX_BYTES}).encode()
    assert read_record(on_fake(conn)) is None
    assert conn.streams[-1].length == hypervisor_record.RECORD_MAX_BYTES


def test_read_record_inactive_pool_is_none():
    conn = FakeConn(FakePool('images', active=False))
    assert read_record(on_fake(conn)) is None
    with pytest.raises(KvmcloudError, match='missing or inactive'):
        write_record(on_fake(conn), {})


# -- gather / describe ---------------------------------------------------------------------

def test_gather_on_test_driver(test_conn, hv_default_pool):
    facts = gather(hv_default_pool)
    model, memory_mb, cpus = test_conn.getInfo()[:3]
    assert facts['cpus'] == cpus and facts['cpus'] > 0
    assert facts['memory_mb'] == memory_mb and facts['memory_mb'] > 0
    assert facts['arch'] == model
    assert 0 <= facts['free_memory_mb'] <= facts['memory_mb']
    assert facts['driver'] == test_conn.getType()
    assert facts['qemu_version'] is None  # not a QEMU driver
    assert facts['libvirt_version'] == version_string(test_conn.getLibVersion())
    assert facts['libvirt_version'].count('.') == 2
    assert facts['hostname']
    assert facts['kvm_offered'] is False
    assert facts['record'] is None
    assert (facts['virt_type'], facts['virt_type_source']) == ('qemu', 'capabilities: kvm is not offered')
    names = [p['name'] for p in facts['pools']]
    assert 'default-pool' in names
    assert names == sorted(names)
    pool = next(p for p in facts['pools'] if p['name'] == 'default-pool')
    assert pool['type'] == 'dir'
    assert pool['path'] == '/default-pool'
    assert pool['active'] is True and pool['autostart'] is False
    assert pool['capacity'] > 0
    assert pool['allocation'] + pool['available'] <= pool['capacity']
    json.dumps(facts)  # returned to Ansible as is


def test_gather_uses_the_cloud_definition_virt_type(test_conn):
    facts = gather(handle(test_conn, virt_type='kvm'))
    assert (facts['virt_type'], facts['virt_type_source']) == ('kvm', 'cloud definition')
    assert facts['record'] is None  # the default images pool does not exist on the test driver


def test_gather_lists_pools_sorted(hv1):
    defined = [hv1.about(name).storagePoolDefineXML(
        "<pool type='dir'><name>%s</name><target><path>/%s</path></target></pool>" % (name, name), 0)
        for name in ('zzz-unit', 'aaa-unit')]
    try:
        facts = gather(hv1)
        assert [p['name'] for p in facts['pools']] == ['aaa-unit', 'default-pool', 'zzz-unit']
        assert facts['pools'][0]['active'] is False
        assert facts['pools'][0]['path'] == '/aaa-unit'
    finally:
        for pool in defined:
            pool.undefine()


def test_describe():
    hv = Hypervisor(name='hv1', uri='test:///default', zone='az1', enabled=False)
    assert describe(hv) == {'name': 'hv1', 'uri': 'test:///default', 'zone': 'az1', 'enabled': False,
                            'reachable': True, 'reason': None}
    down = describe(hv, reason='connection refused')
    assert down['reachable'] is False and down['reason'] == 'connection refused'
    up = describe(hv, facts={'cpus': 4})
    assert up['reachable'] is True and up['cpus'] == 4


# -- virt_type: what every module uses ----------------------------------------------------------

class NoCallsConn:
    """A connection no call may reach."""

    def __getattr__(self, name):
        raise AssertionError('libvirt call %s() was not expected' % name)


def test_virt_type_of_the_cloud_definition_needs_no_libvirt_call():
    assert hypervisor_record.virt_type(handle(NoCallsConn(), virt_type='kvm')) == ('kvm', 'cloud definition')


def test_virt_type_recorded_does_not_read_the_capabilities():
    class RecordOnly(FakeConn):
        def getCapabilities(self):
            raise AssertionError('the capabilities were read although the record says')

    conn = RecordOnly(FakePool('images'))
    write_record(on_fake(conn), {'virt_type': 'kvm'})
    assert hypervisor_record.virt_type(on_fake(conn)) == ('kvm', 'recorded')


def test_virt_type_without_a_record_comes_from_the_capabilities(hv1):
    assert hypervisor_record.virt_type(hv1) == ('qemu', 'capabilities: kvm is not offered')

    class KvmCaps(FakeConn):
        def getCapabilities(self):
            return CapsConn([['qemu', 'kvm']]).caps

    virt_type, source = hypervisor_record.virt_type(on_fake(KvmCaps(FakePool('images'))))
    assert virt_type == 'qemu' and source.startswith('default: not probed yet')


def test_virt_type_ignores_a_record_of_another_type():
    class XenCaps(FakeConn):
        def getCapabilities(self):
            return CapsConn([['qemu']]).caps

    conn = XenCaps(FakePool('images'))
    write_record(on_fake(conn), {'virt_type': 'xen'})
    assert hypervisor_record.virt_type(on_fake(conn)) == ('qemu', 'capabilities: kvm is not offered')


# -- run_hypervisor_info -----------------------------------------------------------------------

class FailingInfo:
    """A reachable hypervisor whose getInfo() fails."""

    def getInfo(self):
        raise _not_found(libvirt.VIR_ERR_INTERNAL_ERROR, 'no info today')


def info_module(test_conn, names=None, broken=()):
    """What run_hypervisor_info needs of the module: hv1 on the test driver, hv2 unreachable and
    the hypervisors in ``broken`` reachable but failing."""
    hypervisors = [Hypervisor(name='hv1', uri='test:///default', images_pool='default-pool'),
                   Hypervisor(name='hv2', uri='test:///unreachable', zone='az2'),
                   Hypervisor(name='hv3', uri='test:///broken', enabled=False)]

    def opener(hv):
        if hv.name == 'hv2':
            raise LibvirtCallError('open', hv.uri, libvirt.VIR_ERR_SYSTEM_ERROR, 'connection refused',
                                   hypervisor=hv.name)
        if hv.name in broken:
            return handle(FailingInfo(), hv.name)
        return handle(test_conn, hv.name, images_pool=hv.images_pool)

    return SimpleNamespace(params={'name': names}, check_mode=False,
                           cloud=CloudDefinition(hypervisors=hypervisors),
                           connections=Connections(hypervisors, opener=opener))


def test_hypervisor_info_reports_every_hypervisor_reachable_or_not(test_conn):
    result = run_hypervisor_info(info_module(test_conn))
    assert result['changed'] is False
    hv1, hv2, hv3 = result['hypervisors']
    assert (hv1['name'], hv1['reachable'], hv1['reason']) == ('hv1', True, None)
    assert hv1['driver'] == test_conn.getType() and hv1['cpus'] > 0
    assert [p['name'] for p in hv1['pools']] == ['default-pool']
    # Unreachable: the definition and the reason, no facts.
    assert hv2 == {'name': 'hv2', 'uri': 'test:///unreachable', 'zone': 'az2', 'enabled': True,
                   'reachable': False, 'reason': 'connection refused'}
    # A disabled hypervisor is reported too: all of them are by default.
    assert (hv3['name'], hv3['enabled'], hv3['reachable']) == ('hv3', False, True)


def test_hypervisor_info_reports_the_hypervisors_named_in_definition_order(test_conn):
    result = run_hypervisor_info(info_module(test_conn, names=['hv2', 'hv1']))
    assert [h['name'] for h in result['hypervisors']] == ['hv1', 'hv2']


def test_hypervisor_info_fails_on_an_error_of_a_reachable_hypervisor(test_conn):
    # Changed on purpose: only an unreachable hypervisor is reported as such; any other error
    # fails the task, naming the hypervisor.
    with pytest.raises(KvmcloudError) as err:
        run_hypervisor_info(info_module(test_conn, broken=('hv3',)))
    assert err.value.details['failed_hypervisors'] == ['hv3']
    assert 'hv3' in err.value.msg and 'no info today' in err.value.msg
    assert 'hv2' not in err.value.msg  # unreachable is no failure
