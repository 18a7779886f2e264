"""volume, volume_info and server_volume against a namespaced test hypervisor."""

import subprocess

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, remove_prefixed

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-test-'
SERVER = PREFIX + 'server'


def cloud(hv):
    return cloud_definition([hv], [{'name': 'demo'}, {'name': 'other'}])


def snapshot(uri):
    """Every pool's volumes and every domain's disks: what a refused change must leave alone."""
    with connected(uri) as conn:
        pools = {pool.name(): sorted((vol.name(), vol.info()[1]) for vol in pool.listAllVolumes())
                 for pool in conn.listAllStoragePools() if pool.isActive()}
        domains = {dom.name(): dom.XMLDesc(0) for dom in conn.listAllDomains()}
        return pools, domains


@pytest.fixture
def hv(test_hypervisors):
    hv = test_hypervisors[0]
    yield hv
    remove_prefixed(hv['uri'], PREFIX, volumes=['volume-' + PREFIX])


def define_server(hv, running):
    """A small diskless server; it needs no operating system to take a disk."""
    with connected(hv['uri']) as conn:
        xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
               "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
               "<devices><memballoon model='none'/></devices></domain>" % SERVER)
        dom = conn.defineXML(xml)
        if running:
            dom.create()


def domain_xml(hv, inactive=False):
    with connected(hv['uri']) as conn:
        dom = conn.lookupByName(SERVER)
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)


def test_check_mode_creates_nothing_apply_creates_the_volume_and_reruns_change_nothing(hv):
    args = {'cloud': cloud(hv), 'name': PREFIX + 'data', 'size': '64M', 'project': 'demo'}
    first = run_module('volume', args, check=True, diff=True)
    assert first['changed'] is True and not first['failed'], first
    assert not any(name.startswith('volume-' + PREFIX) for name, _size in snapshot(hv['uri'])[0]['kvmcloud-volumes'])

    second = run_module('volume', args, diff=True)
    assert second['changed'] is True, second
    vol = second['volume']
    assert vol['size'] == 64 * 1024 ** 2 and vol['format'] == 'qcow2' and vol['project'] == 'demo'
    assert vol['hypervisor'] == hv['name'] and vol['attachments'] == []
    info = subprocess.run(['qemu-img', 'info', '--output=json', '-U', vol['path']], capture_output=True, text=True,
                          check=True).stdout
    assert '"virtual-size": 67108864' in info

    assert unchanged(run_module('volume', args, check=True))
    assert unchanged(run_module('volume', args))

    listed = run_module('volume_info', {'cloud': cloud(hv), 'project': 'demo'})
    assert [v['name'] for v in listed['volumes']] == [PREFIX + 'data']
    assert run_module('volume_info', {'cloud': cloud(hv), 'project': 'other'})['volumes'] == []


def test_volume_grows_and_a_shrink_is_refused_without_a_change(hv):
    args = {'cloud': cloud(hv), 'name': PREFIX + 'grow', 'size': '64M'}
    run_module('volume', args)
    grown = run_module('volume', dict(args, size='128M'), diff=True)
    assert grown['changed'] is True
    assert grown['diff']['before'] == {'size': 64 * 1024 ** 2}
    assert grown['diff']['after'] == {'size': 128 * 1024 ** 2}
    assert grown['volume']['size'] == 128 * 1024 ** 2

    before = snapshot(hv['uri'])
    shrink = run_module('volume', dict(args, size='64M'))
    assert shrink['failed'] and 'shrinking' in shrink['msg']
    assert snapshot(hv['uri']) == before


def test_bad_size_and_unknown_project_fail_clearly(hv):
    before = snapshot(hv['uri'])
    bad = run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'bad', 'size': '12 parsecs'})
    assert bad['failed'] and 'not understood' in bad['msg']
    unknown = run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'bad', 'size': 1, 'project': 'nope'})
    assert unknown['failed'] and "unknown project 'nope'" in unknown['msg']
    assert snapshot(hv['uri']) == before


def test_attach_live_and_persistent_then_delete_refused(hv):
    define_server(hv, running=True)
    run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'att', 'size': '32M'})
    args = {'cloud': cloud(hv), 'server': SERVER, 'volume': PREFIX + 'att'}

    predicted = run_module('server_volume', args, check=True, diff=True)
    assert predicted['changed'] is True
    assert PREFIX + 'att' not in domain_xml(hv)

    attached = run_module('server_volume', args, diff=True)
    assert attached['changed'] is True, attached
    assert attached['attachment']['device'] == 'vdb'
    assert attached['attachment']['attached'] is True and attached['attachment']['live'] is True
    for inactive in (False, True):
        xml = domain_xml(hv, inactive)
        assert "volume-%satt.qcow2" % PREFIX in xml and '<serial>%satt</serial>' % PREFIX in xml

    assert unchanged(run_module('server_volume', args, check=True))
    assert unchanged(run_module('server_volume', args))

    listed = run_module('volume_info', {'cloud': cloud(hv), 'name': PREFIX + 'att'})['volumes'][0]
    assert listed['attachments'] == [{'server': SERVER, 'device': 'vdb', 'running': True}]

    before = snapshot(hv['uri'])
    refused = run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'att', 'state': 'absent'})
    assert refused['failed'] and 'attached to %s as vdb' % SERVER in refused['msg']
    assert snapshot(hv['uri']) == before


def test_grow_of_attached_running_volume_is_live(hv):
    define_server(hv, running=True)
    run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'live', 'size': '32M'})
    run_module('server_volume', {'cloud': cloud(hv), 'server': SERVER, 'volume': PREFIX + 'live'})
    grown = run_module('volume', {'cloud': cloud(hv), 'name': PREFIX + 'live', 'size': '48M'})
    assert grown['changed'] is True and grown['volume']['size'] == 48 * 1024 ** 2
    with connected(hv['uri']) as conn:
        # QEMU itself reports the new size of the disk it has open.
        assert conn.lookupByName(SERVER).blockInfo('vdb')[0] == 48 * 1024 ** 2


def test_volume_detaches_from_a_stopped_server_and_then_deletes(hv):
    define_server(hv, running=False)
    volume = {'cloud': cloud(hv), 'name': PREFIX + 'cold', 'size': '32M'}
    run_module('volume', volume)
    args = {'cloud': cloud(hv), 'server': SERVER, 'volume': PREFIX + 'cold', 'device': 'vdc'}
    attached = run_module('server_volume', args)
    assert attached['changed'] is True and attached['attachment']['live'] is None
    assert attached['attachment']['device'] == 'vdc'

    detached = run_module('server_volume', dict(args, state='absent'), diff=True)
    assert detached['changed'] is True
    assert PREFIX + 'cold' not in domain_xml(hv, inactive=True)
    assert unchanged(run_module('server_volume', dict(args, state='absent')))

    gone = run_module('volume', dict(volume, state='absent'))
    assert gone['changed'] is True
    assert run_module('volume_info', {'cloud': cloud(hv), 'name': PREFIX + 'cold'})['volumes'] == []
