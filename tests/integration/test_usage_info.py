"""usage_info against a real libvirtd: on a namespaced test hypervisor of this file's own, two
running tiny servers of project demo (one with a data volume) and a stopped one of project ops.
What the module reports is what libvirt itself reads of each domain, counter by counter, the
interfaces named by their ports, the volumes by project, and the totals add up.
"""

import pytest

from ansible_run import run_module
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-use-'
NET = 'kvmcloud-test-usenet'
IMAGE = 'kvmcloud-test-use-tiny'
VOLUME = PREFIX + 'data'
SUBNET = {'cidr': '10.250.66.0/24', 'allocation_pools': [{'start': '10.250.66.100', 'end': '10.250.66.199'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])
WEB1, WEB2, JOB1 = PREFIX + 'web1', PREFIX + 'web2', PREFIX + 'job1'

use_hypervisors = hypervisors_fixture(count=1, prefix='use', scope='module', name='use_hypervisors')


@pytest.fixture(scope='module')
def cloud(use_hypervisors, tiny_image_file):
    hvs = use_hypervisors
    with removing_prefixed(hvs, PREFIX, **LEFTOVERS):
        definition = cloud_definition(hvs, [{'name': 'demo'}, {'name': 'ops'}])
        base = {'cloud': definition}
        for module, args in (('image', dict(name=IMAGE, filename=str(tiny_image_file))),
                             ('network', dict(name=NET, mode='isolated', subnet=SUBNET)),
                             ('volume', dict(name=VOLUME, size='16MiB', project='demo'))):
            result = run_module(module, dict(base, **args))
            assert not result['failed'], result
        common = {'flavor': 'm1.tiny', 'image': IMAGE, 'networks': [{'network': NET}]}
        fleet = run_module('server_fleet', dict(base, wait=True, servers=[
            dict(common, name=WEB1, project='demo', volumes=[VOLUME], tags=['web']),
            dict(common, name=WEB2, project='demo', tags=['web']),
            dict(common, name=JOB1, project='ops', power_state='stopped'),
        ]))
        assert not fleet['failed'], fleet
        yield definition


def direct(hv, name):
    """What libvirt itself reads of domain ``name`` now: CPU time and each disk's (read,
    written) bytes by target."""
    with connected(hv['uri']) as conn:
        dom = conn.lookupByName(name)
        _state, _max, _mem, _vcpus, cpu = dom.info()
        live = dom.XMLDesc(0)
        # blockStats: (read requests, read bytes, write requests, written bytes, errors)
        return {'cpu': cpu, 'disks': {disk: dom.blockStats(disk)[1:4:2] for disk in ('vda', 'vdb')
                                      if "dev='%s'" % disk in live}}


def interface_stats(hv, name, device):
    """libvirt's (received, sent) bytes of the domain's interface ``device`` now."""
    with connected(hv['uri']) as conn:
        stats = conn.lookupByName(name).interfaceStats(device)
        return stats[0], stats[4]


def test_each_counter_is_what_libvirt_reads_of_the_domain(use_hypervisors, cloud):
    hv = use_hypervisors[0]
    before = {name: direct(hv, name) for name in (WEB1, WEB2)}
    result = run_module('usage_info', {'cloud': cloud})
    assert not result['failed'] and result['changed'] is False, result
    assert result['unreachable_hypervisors'] == []
    servers = {server['name']: server for server in result['servers']}
    assert set(servers) == {WEB1, WEB2, JOB1}
    after = {name: direct(hv, name) for name in (WEB1, WEB2)}
    for name in (WEB1, WEB2):
        server = servers[name]
        assert server['power_state'] == 'running' and server['project'] == 'demo'
        assert server['flavor'] == 'm1.tiny' and server['image'] == IMAGE
        assert server['hypervisor'] == hv['name'] and server['zone'] == 'nova'
        # A counter read between two direct reads lies between them.
        assert before[name]['cpu'] <= server['cpu_time_ns'] <= after[name]['cpu']
        assert server['memory_kib'] > 0 and server['root_size'] > 0
        disks = {disk['device']: disk for disk in server['disks']}
        for target, (read_before, written_before) in before[name]['disks'].items():
            read_after, written_after = after[name]['disks'][target]
            assert read_before <= disks[target]['read_bytes'] <= read_after
            assert written_before <= disks[target]['write_bytes'] <= written_after
        assert disks['vda']['read_bytes'] > 0, 'the guest booted from its root disk'
        [iface] = server['interfaces']
        assert iface['port'] and iface['network'] == NET and iface['device']
        rx_now, tx_now = interface_stats(hv, name, iface['device'])
        assert iface['rx_bytes'] <= rx_now and iface['tx_bytes'] <= tx_now
        assert iface['tx_bytes'] > 0, 'the guest asked for its lease'
    assert 'vdb' in {disk['device'] for disk in servers[WEB1]['disks']}, 'the data volume is a disk of web1'
    job = servers[JOB1]
    assert job['power_state'] == 'stopped' and job['cpu_time_ns'] == 0 and job['interfaces'] == []
    assert job['root_size'] > 0, 'a stopped server keeps its root disk size'

    [volume] = result['volumes']
    assert volume['name'] == VOLUME and volume['project'] == 'demo' and volume['size'] == 16 * 1024 ** 2
    totals = {total['project']: total for total in result['projects']}
    demo = totals['demo']
    assert demo['servers'] == 2 and demo['running'] == 2 and demo['vcpus'] == 2 and demo['volumes'] == 1
    assert demo['cpu_time_ns'] == servers[WEB1]['cpu_time_ns'] + servers[WEB2]['cpu_time_ns']
    assert demo['tx_bytes'] == sum(i['tx_bytes'] for n in (WEB1, WEB2) for i in servers[n]['interfaces'])
    assert totals['ops']['servers'] == 1 and totals['ops']['running'] == 0 and totals['ops']['vcpus'] == 0


def test_filters_narrow_servers_volumes_and_totals(cloud):
    ops = run_module('usage_info', {'cloud': cloud, 'project': 'ops'}, check=True)
    assert not ops['failed'] and ops['changed'] is False, ops
    assert [s['name'] for s in ops['servers']] == [JOB1] and ops['volumes'] == []
    assert [t['project'] for t in ops['projects']] == ['ops']
    web2 = run_module('usage_info', {'cloud': cloud, 'name': WEB2})
    assert [s['name'] for s in web2['servers']] == [WEB2] and web2['volumes'] == [], 'web2 has no volume attached'
    web1 = run_module('usage_info', {'cloud': cloud, 'tags': ['web'], 'power_state': 'running'})
    assert [s['name'] for s in web1['servers']] == [WEB1, WEB2] and [v['name'] for v in web1['volumes']] == [VOLUME]


def test_an_unknown_project_is_an_error(cloud):
    result = run_module('usage_info', {'cloud': cloud, 'project': 'nobody'})
    assert result['failed'] and 'nobody' in result['msg'], result
