"""volume/volumes.py and volume/disks.py: sizes, names, serials, device names, and finding and
listing volumes on the test driver (the volume_info module's logic in volume/service.py)."""

from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import disks, volumes
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import run_volume_info

from handles import definition, handle

MIB = 1024 ** 2
GIB = 1024 ** 3


@pytest.mark.parametrize('value, expected', [
    (1, GIB), (2.5, int(2.5 * GIB)), ('10G', 10 * GIB), ('10GiB', 10 * GIB), ('512M', 512 * MIB),
    ('512 MiB', 512 * MIB), ('1T', 1024 * GIB), ('1TB', 1000 ** 4), ('4096', 4096 * GIB), ('100k', 102400),
    ('7B', 7), ('1.5G', int(1.5 * GIB)),
])
def test_parse_size(value, expected):
    assert volumes.parse_size(value) == expected


@pytest.mark.parametrize('value', ['', 'G', '10 parsecs', '-1G', 0, '0M', True, '1.2.3G'])
def test_parse_size_refuses(value):
    with pytest.raises(ValidationError):
        volumes.parse_size(value)


def test_parse_size_none_is_unset():
    assert volumes.parse_size(None) is None


@pytest.mark.parametrize('name', ['data', 'a', 'db-01.vol_2', 'x' * 63])
def test_valid_names(name):
    assert volumes.validate_name(name) == name


@pytest.mark.parametrize('name', ['', '-x', '.x', 'a b', 'a/b', 'x' * 65, None, 'é'])
def test_invalid_names(name):
    with pytest.raises(ValidationError, match='invalid volume name'):
        volumes.validate_name(name)


def test_libvirt_names_round_trip():
    for fmt in volumes.FORMATS:
        assert volumes.volume_name_of(volumes.data_name('db.1', fmt)) == 'db.1'
    assert volumes.volume_name_of(volumes.record_name('db.1')) is None
    assert volumes.volume_name_of('seed-x.iso') is None
    assert volumes.volume_name_of('sha256-abc.qcow2') is None


def test_serial_is_the_name_up_to_twenty_characters():
    assert disks.serial_for('data1') == 'data1'
    assert disks.serial_for('x' * 20) == 'x' * 20
    long_one, other = disks.serial_for('x' * 30), disks.serial_for('x' * 29 + 'y')
    assert len(long_one) == disks.SERIAL_MAX and long_one != other
    assert long_one == disks.serial_for('x' * 30)


def _domain(*targets):
    return xmlutil.parse('<domain><devices>%s</devices></domain>' % ''.join(
        "<disk type='file'><source file='/p/%s'/><target dev='%s'/></disk>" % (t, t) for t in targets))


def test_next_device_skips_used_names_in_live_and_config():
    assert disks.next_device([_domain('vda')]) == 'vdb'
    assert disks.next_device([_domain('vda', 'vdc'), _domain('vda', 'vdb')]) == 'vdd'


def test_disk_element_matches_by_source_path():
    desc = _domain('vda', 'vdb')
    assert xmlutil.attr(disks.disk_element(desc, '/p/vdb'), 'target', 'dev') == 'vdb'
    assert disks.disk_element(desc, '/p/none') is None


def test_disk_node_has_serial_and_virtio_target():
    disk = disks.disk_node('/v/volume-a.qcow2', 'qcow2', 'vdb', 'a')
    assert disk.tag == 'disk' and disk.get('type') == 'file'
    assert disk.get('device') == 'disk'
    assert xmlutil.attr(disk, 'source', 'file') == '/v/volume-a.qcow2'
    assert xmlutil.attr(disk, 'target', 'bus') == 'virtio'
    assert xmlutil.attr(disk, 'driver', 'type') == 'qcow2'
    assert xmlutil.text(disk, 'serial') == 'a'


# -- volumes on the test driver ------------------------------------------------------------------

def _volume_xml(name, fmt='qcow2', mib=1):
    return ("<volume><name>%s</name><capacity unit='MiB'>%d</capacity><target><format type='%s'/></target>"
            "</volume>" % (name, mib, fmt))


@pytest.fixture
def on_pool(test_conn, monkeypatch):
    """hv1 with the test driver's default-pool as its volumes pool, a function making volumes
    there, and the records (by volume name) that reading a record gives: the test driver has
    no volume streams. What was made is removed afterwards."""
    h = handle(test_conn, volumes_pool='default-pool')
    pool = h.pool('default-pool')
    made = []
    records = {}

    def make(name, fmt='qcow2', mib=1):
        vol = pool.about(name).createXML(_volume_xml(name, fmt, mib), 0)
        made.append(name)
        return vol

    def read_json(_h, vol):
        return records.get(vol.name())

    monkeypatch.setattr(volumes, 'read_json', read_json)
    yield h, make, records
    for name in made:
        vol = pool.lookup('storageVolLookupByName', name)
        if vol is not None:
            vol.delete(0)


def test_find_on_gives_the_volume_of_either_format_or_none(on_pool):
    h, make, records = on_pool
    make('volume-a.qcow2')
    make('volume-b.raw', fmt='raw')
    make('volume-b.json', fmt='raw')
    records['volume-b.json'] = {'name': 'b', 'project': 'demo'}
    a, b = volumes.find_on(h, 'a'), volumes.find_on(h, 'b')
    assert (a.name, a.format, a.record) == ('a', 'qcow2', {})
    assert (b.name, b.format, b.record) == ('b', 'raw', {'name': 'b', 'project': 'demo'})
    assert a.h is h and a.path == '/default-pool/volume-a.qcow2'
    assert volumes.find_on(h, 'c') is None


def test_find_on_needs_the_volumes_pool(hv1):
    # hv1's volumes pool is the default, kvmcloud-volumes, which the test driver lacks.
    with pytest.raises(KvmcloudError, match='volumes pool kvmcloud-volumes is missing or inactive on hypervisor hv1'):
        volumes.find_on(hv1, 'a')


def test_facts_name_the_hypervisor_the_record_and_the_servers_using_the_volume(on_pool, test_conn):
    h, make, records = on_pool
    make('volume-a.qcow2', mib=2)
    make('volume-a.json', fmt='raw')
    records['volume-a.json'] = {'project': 'demo', 'image': 'cirros', 'clone': 'linked',
                                'created_at': '2024-05-01T12:00:00Z'}
    dom = test_conn.defineXML(
        "<domain type='test'><name>unit-vm</name><memory unit='MiB'>16</memory><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'><source file='/default-pool/volume-a.qcow2'/>"
        "<target dev='vdb' bus='virtio'/></disk></devices></domain>")
    try:
        facts = volumes.find_on(h, 'a').facts()
    finally:
        dom.undefine()
    assert facts == {'name': 'a', 'hypervisor': 'hv1', 'pool': 'default-pool',
                     'path': '/default-pool/volume-a.qcow2', 'format': 'qcow2', 'size': 2 * MIB,
                     'size_gb': 0.002, 'allocation': 2 * MIB, 'backing_file': None, 'project': 'demo',
                     'image': 'cirros', 'clone': 'linked', 'created_at': '2024-05-01T12:00:00Z',
                     'attachments': [{'server': 'unit-vm', 'device': 'vdb', 'running': False}]}


def test_list_on_and_usage_on_count_data_volumes_only(on_pool):
    h, make, records = on_pool
    make('volume-b.raw', fmt='raw', mib=3)
    make('volume-a.qcow2')
    make('volume-a.json', fmt='raw')
    make('seed-x.iso', fmt='raw')
    make('sha256-abc.qcow2')
    records['volume-a.json'] = {'project': 'demo'}
    assert sorted(f.name for f in volumes.list_on(h)) == ['a', 'b']
    assert sorted(volumes.usage_on(h), key=lambda u: u['size']) == [{'project': 'demo', 'size': MIB},
                                                                    {'project': None, 'size': 3 * MIB}]


def test_delete_found_removes_the_volume_and_its_record(on_pool):
    h, make, _records = on_pool
    make('volume-a.qcow2')
    make('volume-a.json', fmt='raw')
    make('volume-b.qcow2')
    volumes.delete_found(volumes.find_on(h, 'a'))
    assert volumes.find_on(h, 'a') is None
    assert h.pool('default-pool').lookup('storageVolLookupByName', 'volume-a.json') is None
    # A volume without a record is deleted too.
    volumes.delete_found(volumes.find_on(h, 'b'))
    assert volumes.find_on(h, 'b') is None


def test_attachments_of_an_unused_path_are_none(hv1):
    assert volumes.attachments(hv1, '/default-pool/nothing.qcow2') == []


# -- locate and volume_info over several hypervisors ----------------------------------------------

def volume_module(test_conn, params=None, broken=()):
    """What locate() and run_volume_info need of a module: hv1 and hv3 on the test driver
    (hv3 without a volumes pool when it is in ``broken``), hv2 unreachable."""
    hypervisors = [definition('hv1', uri='test:///hv1', volumes_pool='default-pool'),
                   definition('hv2', uri='test:///hv2'),
                   definition('hv3', uri='test:///hv3',
                              volumes_pool='kvmcloud-volumes' if 'hv3' in broken else 'default-pool')]

    def opener(hv):
        if hv.name == 'hv2':
            raise LibvirtCallError('open', hv.uri, 38, 'connection refused', hypervisor=hv.name)
        return handle(test_conn, hv.name, volumes_pool=hv.volumes_pool)

    return SimpleNamespace(params=dict(dict(name=None, project=None, hypervisor=None), **(params or {})),
                           check_mode=False, cloud=CloudDefinition(hypervisors=hypervisors),
                           connections=Connections(hypervisors, opener=opener))


def test_volume_info_lists_the_reachable_hypervisors_and_names_the_unreachable(on_pool, test_conn):
    _h, make, records = on_pool
    make('volume-a.qcow2')
    make('volume-a.json', fmt='raw')
    records['volume-a.json'] = {'project': 'demo'}
    make('volume-b.qcow2')
    cm = volume_module(test_conn, broken=('hv3',))
    cm.cloud = CloudDefinition(hypervisors=cm.cloud.hypervisors[:2])
    result = run_volume_info(cm)
    assert result['changed'] is False
    assert [(v['name'], v['hypervisor'], v['project']) for v in result['volumes']] == [
        ('a', 'hv1', 'demo'), ('b', 'hv1', None)]
    assert result['unreachable_hypervisors'] == [
        'hv2: hypervisor hv2 (test:///hv2) is unreachable: connection refused']


def test_volume_info_filters_by_name_project_and_hypervisor(on_pool, test_conn):
    _h, make, records = on_pool
    make('volume-a.qcow2')
    make('volume-a.json', fmt='raw')
    records['volume-a.json'] = {'project': 'demo'}
    make('volume-b.qcow2')
    by_name = run_volume_info(volume_module(test_conn, {'name': 'b'}))
    # hv1 and hv3 are one test driver: each volume is listed on both, sorted by name then hypervisor.
    assert [(v['name'], v['hypervisor']) for v in by_name['volumes']] == [('b', 'hv1'), ('b', 'hv3')]
    by_project = run_volume_info(volume_module(test_conn, {'project': 'demo'}))
    assert [(v['name'], v['hypervisor']) for v in by_project['volumes']] == [('a', 'hv1'), ('a', 'hv3')]
    on_hv3 = run_volume_info(volume_module(test_conn, {'hypervisor': 'hv3'}))
    assert [(v['name'], v['hypervisor']) for v in on_hv3['volumes']] == [('a', 'hv3'), ('b', 'hv3')]
    assert on_hv3['unreachable_hypervisors'] == []


def test_volume_info_fails_on_an_error_of_a_reachable_hypervisor(on_pool, test_conn):
    # Changed on purpose: only unreachable hypervisors are listed in unreachable_hypervisors; a
    # reachable one that cannot be listed (here: no volumes pool) fails the task.
    with pytest.raises(KvmcloudError) as err:
        run_volume_info(volume_module(test_conn, broken=('hv3',)))
    assert err.value.details['failed_hypervisors'] == ['hv3']
    assert 'listing volumes failed on hypervisor hv3' in err.value.msg
    assert 'kvmcloud-volumes' in err.value.msg


def test_locate_finds_a_volume_and_names_the_hypervisors_it_could_not_reach(on_pool, test_conn):
    _h, make, _records = on_pool
    make('volume-a.qcow2')
    cm = volume_module(test_conn)
    cm.cloud = CloudDefinition(hypervisors=cm.cloud.hypervisors[:2])  # hv3 is the same test driver as hv1
    found, unreachable = volumes.locate(cm, 'a')
    assert found.h.name == 'hv1' and found.name == 'a'
    assert len(unreachable) == 1 and unreachable[0].startswith('hv2 (hypervisor hv2 (test:///hv2) is unreachable')
    assert volumes.locate(cm, 'nope')[0] is None


def test_locate_fails_on_a_reachable_hypervisor_it_cannot_look_on(on_pool, test_conn):
    _h, make, _records = on_pool
    make('volume-a.qcow2')
    with pytest.raises(KvmcloudError, match='looking for volume a failed on hypervisor hv3: the volumes pool '
                                            'kvmcloud-volumes is missing'):
        volumes.locate(volume_module(test_conn, broken=('hv3',)), 'a')


def test_locate_refuses_a_volume_on_several_hypervisors(on_pool, test_conn):
    _h, make, _records = on_pool
    make('volume-a.qcow2')
    with pytest.raises(KvmcloudError, match='volume a exists on several hypervisors: hv1, hv3'):
        volumes.locate(volume_module(test_conn), 'a')
