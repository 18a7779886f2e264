"""server, server_fleet and server_info against namespaced test hypervisors.

A booted tiny guest proves the whole path (overlay on the image, seed, port with a fixed
address, console marker and lease); the rest - placement, quotas, roll back, deletion - uses
servers that are defined but not started, which is all those features touch.
"""

import re
import time
from pathlib import Path

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, handle, module_leftovers, remove_prefixed, removing_prefixed
from guests import read_console, wait_for_console
from testhv_fixture import hypervisors_fixture

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.power import ConsoleWatch  # noqa: E402

pytestmark = pytest.mark.integration

PREFIX = 'kc-test-'
NET = 'kvmcloud-test-srvnet'
IMAGE = 'kvmcloud-test-tiny'
SUBNET = {'cidr': '10.250.50.0/24', 'allocation_pools': [{'start': '10.250.50.100', 'end': '10.250.50.199'}]}
BOOT_TIMEOUT = 180

LEFTOVERS = module_leftovers(PREFIX, networks=[NET])
KEYPAIR = {'name': 'admin', 'public_key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmcloudtestkey admin@test'}

three_hypervisors = hypervisors_fixture(count=3, prefix='cmp', scope='module', name='three_hypervisors')


def cloud(hvs, quotas=None, extra_hypervisors=(), **hv_extra):
    return cloud_definition(hvs, [{'name': 'demo', 'quotas': quotas or {}}], extra_hypervisors=extra_hypervisors,
                            hypervisor_options=hv_extra, keypairs=[KEYPAIR])


@pytest.fixture(scope='module')
def hvs(three_hypervisors, tiny_image_file):
    """Three hypervisors with the tiny image and an isolated network on each."""
    with removing_prefixed(three_hypervisors, PREFIX, **LEFTOVERS):
        base = {'cloud': cloud(three_hypervisors)}
        assert not run_module('image', dict(base, name=IMAGE, filename=str(tiny_image_file)))['failed']
        yield three_hypervisors


@pytest.fixture
def net(hvs):
    result = run_module('network', {'cloud': cloud(hvs), 'name': NET, 'mode': 'isolated', 'subnet': SUBNET})
    assert not result['failed'], result
    yield NET
    for hv in hvs:
        remove_prefixed(hv['uri'], PREFIX, **LEFTOVERS)


def server_args(hvs, name, **extra):
    args = {'cloud': cloud(hvs), 'name': PREFIX + name, 'project': 'demo', 'flavor': 'm1.tiny', 'image': IMAGE,
            'networks': [{'network': NET}]}
    args.update(extra)
    return args


def inventory(hvs):
    """Per hypervisor: the test's domains and the volumes of their servers."""
    out = {}
    for hv in hvs:
        with connected(hv['uri']) as conn:
            pool = conn.storagePoolLookupByName('kvmcloud-volumes')
            pool.refresh()
            out[hv['name']] = {
                'domains': sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)),
                'volumes': sorted(v.name() for v in pool.listAllVolumes() if PREFIX in v.name()),
                'reservations': conn.networkLookupByName(NET).XMLDesc(0).count('<host '),
                'filters': sorted(f.name() for f in conn.listAllNWFilters() if PREFIX in f.name()),
            }
    return out


def domain_xml(hv, name):
    with connected(hv['uri']) as conn:
        return conn.lookupByName(name).XMLDesc(0)


def console_file(hvs, server):
    hv = next(h for h in hvs if h['name'] == server['hypervisor'])
    return Path(hv['dir']) / server['console'].lstrip('/')


def test_server_boots_with_its_fixed_address_and_is_idempotent(hvs, net):
    args = server_args(hvs, 'web1', key_name='admin', hypervisor=hvs[0]['name'],
                       user_data='#cloud-config\nruncmd:\n  - echo web1 says hello\n')
    empty = inventory(hvs)
    planned = run_module('server', args, check=True, diff=True)
    assert planned['changed'] and not planned['failed'], planned
    assert inventory(hvs) == empty, 'check mode creates nothing'

    created = run_module('server', dict(args, wait_for_ready=True), diff=True)
    assert created['changed'] and not created['failed'], created
    server = created['servers'][0]
    assert server['hypervisor'] == hvs[0]['name'] and server['power_state'] == 'running'
    ip = server['addresses'][NET]
    assert ip == planned['servers'][0]['addresses'][NET] == '10.250.50.100'
    console = console_file(hvs, server)
    # The module waited for the marker on the console: it is in the log already.
    text = read_console(console)
    assert re.search(r'^kvmcloud-ready %s$' % server['uuid'], text, re.MULTILINE), text[-2000:]
    mac = server['ports'][0]['mac']
    assert 'kvmcloud-iface eth0 %s %s/24' % (mac, ip) in text
    assert 'kvmcloud-hostname %s' % server['name'] in text
    assert 'kvmcloud-runcmd 0 | web1 says hello' in text
    with connected(hvs[0]['uri']) as conn:
        leases = {l['mac']: l['ipaddr'] for l in conn.networkLookupByName(NET).DHCPLeases()}
        assert leases.get(mac) == ip

    assert unchanged(run_module('server', args, check=True))
    assert unchanged(run_module('server', args))

    info = run_module('server_info', {'cloud': cloud(hvs), 'project': 'demo'})
    listed = [s for s in info['servers'] if s['name'] == server['name']]
    assert listed and listed[0]['addresses'] == {NET: ip} and listed[0]['ports'][0]['leased_ip'] == ip
    assert listed[0]['flavor']['name'] == 'm1.tiny' and listed[0]['image'] == IMAGE

    # A flavor edit: the diff says exactly what changes, and the real run does that.
    bigger = dict(args, flavor='m1.small')
    preview = run_module('server', bigger, check=True, diff=True)
    name = server['name']
    assert preview['diff']['before'][name] == {'flavor': 'm1.tiny', 'ram': 128, 'vcpus': 1}
    assert preview['diff']['after'][name] == {'flavor': 'm1.small', 'ram': 192, 'vcpus': 2}
    applied = run_module('server', bigger, diff=True)
    assert applied['diff'] == preview['diff'] and applied['reboot_required'] is True
    assert applied['servers'][0]['vcpus'] == 2 and applied['servers'][0]['ram'] == 192
    assert unchanged(run_module('server', bigger))

    # A second interface and a data volume are plugged into the running server, then out again.
    volume = run_module('volume', {'cloud': cloud(hvs), 'name': PREFIX + 'data', 'size': '16MiB', 'project': 'demo',
                                   'hypervisor': hvs[0]['name']})
    assert not volume['failed'], volume
    mark = len(read_console(console))
    plugged = run_module('server', dict(bigger, networks=[{'network': NET}, {'network': NET}],
                                        volumes=[PREFIX + 'data']), diff=True)
    assert plugged['changed'] and not plugged['failed'], plugged
    assert [p['name'] for p in plugged['servers'][0]['ports']] == [name + '-eth0', name + '-eth1']
    assert plugged['servers'][0]['ports'][1]['ip'] == '10.250.50.101'
    wait_for_console(console, r'^kvmcloud-disk-added vdb serial=%sdata ' % PREFIX, 60, after=mark)
    live = domain_xml(hvs[0], name)
    assert live.count("<interface type='network'>") == 2 and "filter='kvmcloud-port-%s-eth1'" % name in live
    assert unchanged(run_module('server', dict(bigger, networks=[{'network': NET}, {'network': NET}],
                                               volumes=[PREFIX + 'data']), check=True))
    mark = len(read_console(console))
    unplugged = run_module('server', bigger)
    assert unplugged['changed'] and not unplugged['failed'], unplugged
    wait_for_console(console, r'^kvmcloud-disk-removed vdb serial=%sdata' % PREFIX, 60, after=mark)
    live = domain_xml(hvs[0], name)
    assert live.count("<interface type='network'>") == 1 and inventory(hvs)[hvs[0]['name']]['reservations'] == 1
    assert unchanged(run_module('server', bigger))
    run_module('volume', {'cloud': cloud(hvs), 'name': PREFIX + 'data', 'state': 'absent'})

    gone = run_module('server', dict(args, state='absent'))
    assert gone['changed'] and not gone['failed'], gone
    assert inventory(hvs) == empty


def test_quota_exceeded_fails_before_anything_is_created(hvs, net):
    base = cloud(hvs, quotas={'instances': 2, 'cores': 8, 'ram': 4096})
    empty = inventory(hvs)
    fleet = {'cloud': base, 'project': 'demo', 'servers': [
        {'name': PREFIX + 'q%d' % i, 'flavor': 'm1.tiny', 'image': IMAGE, 'networks': [{'network': NET}],
         'power_state': 'stopped'} for i in range(3)]}
    refused = run_module('server_fleet', fleet)
    assert refused['failed'] and "quota exceeded for project 'demo': instances limit 2, in use 0, requested 3" in refused['msg']
    assert inventory(hvs) == empty
    for quota, flavor_limit in (('cores', {'cores': 1}), ('ram', {'ram': 200})):
        one = dict(fleet, cloud=cloud(hvs, quotas=flavor_limit), servers=fleet['servers'][:2])
        refused = run_module('server_fleet', one)
        assert refused['failed'] and "quota exceeded for project 'demo': %s limit" % quota in refused['msg'], refused
        assert inventory(hvs) == empty


def test_a_failure_midway_leaves_nothing_behind(hvs, net):
    empty = inventory(hvs)
    failed = run_module('server', server_args(hvs, 'broken', hypervisor=hvs[0]['name'], power_state='stopped',
                                              volumes=['kvmcloud-test-no-such-volume']))
    assert failed['failed'] and 'kvmcloud-test-no-such-volume' in failed['msg'], failed
    assert inventory(hvs) == empty, 'ports, overlay and seed are rolled back'


def test_deleting_a_server_keeps_its_data_volume_unless_asked(hvs, net):
    base = {'cloud': cloud(hvs)}
    for name in ('keep', 'drop'):
        volume = run_module('volume', dict(base, name=PREFIX + name, size='16MiB', project='demo',
                                           hypervisor=hvs[1]['name']))
        assert not volume['failed'], volume
        server = run_module('server', server_args(hvs, name, hypervisor=hvs[1]['name'], power_state='stopped',
                                                  volumes=[PREFIX + name]))
        assert not server['failed'] and server['servers'][0]['volumes'] == [PREFIX + name], server
    run_module('server', server_args(hvs, 'keep', state='absent'))
    run_module('server', server_args(hvs, 'drop', state='absent', delete_volumes=True))
    volumes = inventory(hvs)[hvs[1]['name']]['volumes']
    assert 'volume-%skeep.qcow2' % PREFIX in volumes
    assert not [v for v in volumes if 'drop' in v] and not [v for v in volumes if v.startswith('server-')]
    run_module('volume', dict(base, name=PREFIX + 'keep', state='absent'))


def test_placement_spreads_and_honours_groups_disabled_and_unreachable(hvs, net):
    def fleet(names, **extra):
        return {'cloud': extra.pop('cloud', cloud(hvs)), 'project': 'demo', 'servers': [
            dict({'name': PREFIX + n, 'flavor': 'm1.tiny', 'image': IMAGE, 'networks': [{'network': NET}],
                  'power_state': 'stopped'}, **extra) for n in names]}

    empty = inventory(hvs)
    planned = run_module('server_fleet', fleet(['s%d' % i for i in range(10)]), check=True)
    assert planned['changed'] and not planned['failed'] and inventory(hvs) == empty, planned
    ten = run_module('server_fleet', fleet(['s%d' % i for i in range(10)]))
    assert not ten['failed'], ten
    assert [s['hypervisor'] for s in ten['servers']] == [s['hypervisor'] for s in planned['servers']], \
        'check mode predicted the placement'
    assert unchanged(run_module('server_fleet', fleet(['s%d' % i for i in range(10)]), check=True))
    counts = {hv['name']: 0 for hv in hvs}
    for server in ten['servers']:
        counts[server['hypervisor']] += 1
    # Equal hypervisors, spread by free RAM: 4/3/3, the first by name taking the odd one.
    assert sorted(counts.values()) == [3, 3, 4] and counts[hvs[0]['name']] == 4, counts
    assert unchanged(run_module('server_fleet', fleet(['s%d' % i for i in range(10)])))
    removed = run_module('server_fleet', dict(fleet([]), exclusive=True))
    assert removed['changed'] and inventory(hvs)[hvs[0]['name']]['domains'] == []

    group = {'name': 'web', 'policy': 'anti-affinity'}
    three = run_module('server_fleet', fleet(['g1', 'g2', 'g3'], server_group=group))
    assert sorted(s['hypervisor'] for s in three['servers']) == sorted(hv['name'] for hv in hvs)
    fourth = run_module('server_fleet', fleet(['g4'], server_group=group))
    assert fourth['failed'], fourth
    for hv in hvs:
        assert hv['name'] in fourth['msg']
    assert 'anti-affinity' in fourth['msg']
    run_module('server_fleet', dict(fleet([]), exclusive=True))

    disabled = cloud(hvs, **{hvs[0]['name']: {'enabled': False}})
    spread = run_module('server_fleet', fleet(['d%d' % i for i in range(4)], cloud=disabled))
    assert not spread['failed'] and hvs[0]['name'] not in {s['hypervisor'] for s in spread['servers']}
    run_module('server_fleet', dict(fleet([]), exclusive=True))

    ghost = cloud(hvs, extra_hypervisors=[
        {'name': 'ghost', 'uri': 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'}])
    # A new server gets an address and counts towards quotas: refused while ghost cannot be
    # read, unless allowed.
    refused = run_module('server_fleet', fleet(['u1'], cloud=ghost))
    assert refused['failed'] and 'hypervisor ghost' in refused['msg'] and not refused['changed'], refused
    skipped = run_module('server_fleet', dict(fleet(['u1'], cloud=ghost), allow_unreachable=True))
    assert not skipped['failed'], skipped
    assert any('allow_unreachable' in warning for warning in skipped['warnings'])
    assert skipped['servers'][0]['hypervisor'] != 'ghost'
    assert any(re.match(r'^ghost: ', line) for line in skipped['unreachable_hypervisors'])
    run_module('server_fleet', dict(fleet([]), exclusive=True))


def test_boot_from_volume_keeps_the_volume_across_servers(hvs, net):
    args = server_args(hvs, 'bfv', hypervisor=hvs[2]['name'], boot_from_volume=True, wait_for_ready=True)
    first = run_module('server', args)
    assert first['changed'] and not first['failed'], first
    server = first['servers'][0]
    assert server['boot_volume'] == PREFIX + 'bfv-root'
    assert re.search(r'^kvmcloud-ready %s$' % server['uuid'], read_console(console_file(hvs, server)), re.MULTILINE)
    listed = run_module('volume_info', {'cloud': cloud(hvs), 'name': PREFIX + 'bfv-root'})['volumes']
    assert listed and listed[0]['project'] == 'demo' and listed[0]['image'] == IMAGE
    assert listed[0]['attachments'] and listed[0]['attachments'][0]['server'] == PREFIX + 'bfv'
    assert 'server-%sbfv-root.qcow2' % PREFIX not in inventory(hvs)[hvs[2]['name']]['volumes']
    assert unchanged(run_module('server', args))

    assert not run_module('server', dict(args, state='absent'))['failed']
    kept = run_module('volume_info', {'cloud': cloud(hvs), 'name': PREFIX + 'bfv-root'})['volumes']
    assert kept and not kept[0]['attachments'], 'the boot volume outlives its server'
    again = run_module('server', args)
    assert not again['failed'] and again['servers'][0]['uuid'] != server['uuid'], again
    assert re.search(r'^kvmcloud-ready %s$' % again['servers'][0]['uuid'],
                     read_console(console_file(hvs, again['servers'][0])), re.MULTILINE)
    gone = run_module('server', dict(args, state='absent', delete_volumes=True))
    assert not gone['failed']
    assert run_module('volume_info', {'cloud': cloud(hvs), 'name': PREFIX + 'bfv-root'})['volumes'] == []


def test_console_watch_sees_output_with_nothing_else_on_the_connection(hvs, net):
    """The waiter's console reader gets what a guest prints while no other call is in flight
    on the connection (all leases seen already, only the marker still to come)."""
    args = server_args(hvs, 'watch', hypervisor=hvs[1]['name'])
    assert not run_module('server', args)['failed']
    with connected(hvs[1]['uri']) as conn:
        dom = conn.lookupByName(PREFIX + 'watch')
        hv = handle(hvs[1], conn)
        watch = ConsoleWatch(hv, hv.domain(PREFIX + 'watch'))
        dom.reset(0)
        marker = 'kvmcloud-ready %s' % dom.UUIDString()
        deadline = time.monotonic() + BOOT_TIMEOUT
        found, last = False, ''
        while not found and time.monotonic() < deadline:
            found, last = watch.seen(marker)
            time.sleep(0.5)
        watch.close()
        assert found, last


def test_interface_without_port_security_has_no_filter(hvs, net):
    hv = hvs[1]
    bad = server_args(hvs, 'nosec', hypervisor=hv['name'], power_state='stopped',
                      networks=[{'network': NET, 'port_security': False, 'security_groups': ['default']}])
    empty = inventory(hvs)
    refused = run_module('server', bad)
    assert refused['failed'] and 'security groups need port_security' in refused['msg'], refused
    assert inventory(hvs) == empty

    args = dict(bad, networks=[{'network': NET, 'port_security': False}])
    created = run_module('server', args)
    assert created['changed'] and not created['failed'], created
    xml = domain_xml(hv, PREFIX + 'nosec')
    assert '<interface type="network">' in xml.replace("'", '"') and 'filterref' not in xml
    after = inventory(hvs)[hv['name']]
    assert after['reservations'] == 1 and after['filters'] == [], after
    assert unchanged(run_module('server', args))
    secured = run_module('server', server_args(hvs, 'sec', hypervisor=hv['name'], power_state='stopped'))
    assert not secured['failed'], secured
    assert 'filterref' in domain_xml(hv, PREFIX + 'sec')
    assert inventory(hvs)[hv['name']]['filters'] == ['kvmcloud-port-%ssec-eth0' % PREFIX]
