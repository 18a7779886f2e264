"""Faults injected from outside the collection, on two namespaced test hypervisors: libvirtd
killed at points of a fleet creation and restarted, a hypervisor unreachable while servers and
ports would get addresses, and what check mode and a failed run report.

After each fault one re-run converges, and :func:`assert_consistent` reads every hypervisor
directly: each server on one hypervisor only, each of its ports recorded and reserved with the
same address on every hypervisor of the network, no address held twice, no root disk, seed,
record or port filter without its server.
"""

import threading
import time

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from testhv import VOLUMES_POOL, kill_libvirtd, restart_libvirtd
from testhv_fixture import hypervisors_fixture

from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import (  # noqa: E402
    hosts_of, records_of)

pytestmark = pytest.mark.integration

PREFIX = 'kc-flt-'
NET = PREFIX + 'net'
IMAGE = PREFIX + 'tiny'
SUBNET = {'cidr': '10.250.70.0/24', 'allocation_pools': [{'start': '10.250.70.100', 'end': '10.250.70.150'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])

fault_hypervisors = hypervisors_fixture(count=2, prefix='flt', scope='module', name='fault_hypervisors')


def cloud(hvs, extra_hypervisors=()):
    return cloud_definition(hvs, [{'name': 'demo'}, {'name': 'other'}], extra_hypervisors=extra_hypervisors)


@pytest.fixture(scope='module')
def hvs(fault_hypervisors, tiny_image_file):
    """Two hypervisors with the tiny image and one isolated network on both."""
    with removing_prefixed(fault_hypervisors, PREFIX, **LEFTOVERS):
        base = {'cloud': cloud(fault_hypervisors)}
        assert not run_module('image', dict(base, name=IMAGE, filename=str(tiny_image_file)))['failed']
        made = run_module('network', dict(base, name=NET, mode='isolated', subnet=SUBNET))
        assert not made['failed'], made
        yield fault_hypervisors


@pytest.fixture
def clean(hvs):
    """Every server of the test's project removed after the test."""
    yield
    gone = run_module('server_fleet', {'cloud': cloud(hvs), 'project': 'demo', 'servers': [], 'exclusive': True})
    assert not gone['failed'], gone
    assert_consistent(hvs)


def fleet(hvs, names, on=None, power_state='stopped', **extra):
    return dict({'cloud': cloud(hvs), 'project': 'demo', 'wait': False, 'servers': [
        dict({'name': PREFIX + n, 'flavor': 'm1.tiny', 'image': IMAGE, 'networks': [{'network': NET}],
              'power_state': power_state}, **({'hypervisor': on['name']} if on else {})) for n in names]}, **extra)


def read(hv):
    """What a hypervisor holds of the test, read through libvirt."""
    with connected(hv['uri']) as conn:
        pool = conn.storagePoolLookupByName(VOLUMES_POOL)
        pool.refresh(0)
        xml = conn.networkLookupByName(NET).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        domains = {}
        for dom in conn.listAllDomains():
            if dom.name().startswith(PREFIX):
                desc = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                domains[dom.name()] = [line.split("'")[1] for line in desc.split('<mac address=')[1:]]
        net = conn.networkLookupByName(NET)
        leases = net.DHCPLeases() if net.isActive() else []
        return {
            'domains': domains,
            'volumes': sorted(v.name() for v in pool.listAllVolumes() if PREFIX in v.name()),
            'records': {name: (r['ip'], r['mac'], r.get('server')) for name, r in records_of(xml).items()},
            'hosts': [(h['ip'], h['mac']) for h in hosts_of(xml)],
            'filters': sorted(f.name() for f in conn.listAllNWFilters() if f.name().startswith('kvmcloud-port-')),
            'leases': [(lease['ipaddr'], lease['mac']) for lease in leases],
        }


def assert_consistent(hvs):
    """Nothing half-built and every record right, on every hypervisor."""
    seen = {hv['name']: read(hv) for hv in hvs}
    servers = {}
    for name, held in seen.items():
        for server, macs in held['domains'].items():
            assert server not in servers, 'server %s is on %s and %s' % (server, servers[server][0], name)
            servers[server] = (name, macs)
    for name, held in seen.items():
        # Every record is a running or stopped server's, with its reservation; no address twice.
        owners = {record[2] for record in held['records'].values()} - {None}
        assert owners <= set(servers), '%s: records of servers that do not exist: %s' % (name, owners - set(servers))
        ips = [ip for ip, _mac in held['hosts']]
        assert len(ips) == len(set(ips)), '%s: an address reserved twice: %s' % (name, held['hosts'])
        for port, (ip, mac, _server) in held['records'].items():
            assert (ip, mac) in held['hosts'], '%s: port %s has no reservation' % (name, port)
        leased = {}
        for ip, mac in held['leases']:
            assert leased.setdefault(ip, mac) == mac, '%s: %s leased to two MACs' % (name, ip)
        # Root disks, seeds and port filters belong to servers and ports that exist here.
        mine = {s for s, (hv, _m) in servers.items() if hv == name}
        for volume in held['volumes']:
            owner = volume[len('server-'):].rsplit('-', 1)[0]
            assert owner in mine, '%s: volume %s has no server' % (name, volume)
        for nwfilter in held['filters']:
            assert nwfilter[len('kvmcloud-port-'):] in held['records'], '%s: filter %s has no port' % (name, nwfilter)
    # Each server's ports are recorded alike on every hypervisor of the network.
    for server, (_hv, macs) in servers.items():
        for mac in macs:
            found = [{p: r for p, r in held['records'].items() if r[1] == mac} for held in seen.values()]
            assert all(f == found[0] and len(f) == 1 for f in found), \
                'server %s, MAC %s: records differ between hypervisors: %s' % (server, mac, found)


class KillWhen(threading.Thread):
    """Kill a hypervisor's libvirtd the moment ``condition(conn)`` holds, watching it through a
    connection of the test's own (from outside the collection)."""

    def __init__(self, hv, condition, timeout=120):
        super().__init__(daemon=True)
        self.hv, self.condition, self.timeout = hv, condition, timeout
        self.killed = threading.Event()
        self.ready = threading.Event()

    def run(self):
        conn = libvirt.open(self.hv['uri'])
        self.ready.set()
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                if self.condition(conn):
                    kill_libvirtd(self.hv)
                    self.killed.set()
                    return
                time.sleep(0.005)
        finally:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass


def root_disk_appears(conn):
    pool = conn.storagePoolLookupByName(VOLUMES_POOL)
    return any(v.name().endswith('-root.qcow2') and PREFIX in v.name() for v in pool.listAllVolumes())


def domain_defined(conn):
    return any(d.name().startswith(PREFIX) for d in conn.listAllDomains())


def domain_started(conn):
    return any(d.name().startswith(PREFIX) and d.isActive() for d in conn.listAllDomains())


@pytest.mark.parametrize('condition', [root_disk_appears, domain_defined, domain_started],
                         ids=['before the seeds', 'after the domains are defined', 'during the starts'])
def test_libvirtd_killed_during_a_fleet_creation_then_one_rerun_converges(hvs, clean, condition):
    target, other = hvs
    args = fleet(hvs, ['a1', 'a2', 'a3'], on=target, power_state='running')
    killer = KillWhen(target, condition)
    killer.start()
    killer.ready.wait(10)
    first = run_module('server_fleet', args)
    killer.join(30)
    assert killer.killed.is_set(), 'the fault was not injected'
    restart_libvirtd(target)
    assert first['failed'] and 'module_stderr' not in first, first
    # libvirtd died under it: the rollback could not be verified, so the run says it changed
    # something and what it could not check.
    assert first['changed'] is True and first['left'], first
    # The killed run could not release its lock on the target: the re-run breaks it once it is
    # stale, with a warning (a short lock_stale_after, so that the test does not wait 120 s).
    second = run_module('server_fleet', dict(args, lock_stale_after=5))
    assert not second['failed'], second
    assert [w for w in second.get('warnings', []) if 'its lock is broken' in w], second
    assert unchanged(run_module('server_fleet', args))
    assert_consistent(hvs)
    # What the fault broke before: a server created through the other hypervisor of the
    # network took an address that was in use.
    more = run_module('server_fleet', fleet(hvs, ['b1'], on=other))
    assert not more['failed'], more
    assert_consistent(hvs)


def test_an_unreachable_hypervisor_stops_new_addresses_unless_allowed_and_is_repaired_when_back(hvs, clean):
    target, down = hvs
    args = fleet(hvs, ['u1'], on=target)
    before = read(target)
    kill_libvirtd(down)
    try:
        for check in (True, False):
            refused = run_module('server_fleet', args, check=check)
            assert refused['failed'] and refused['changed'] is False, refused
            assert 'hypervisor %s' % down['name'] in refused['msg'] and 'allow_unreachable: true' in refused['msg']
        port_args = {'cloud': cloud(hvs), 'name': PREFIX + 'p1', 'network': NET, 'project': 'demo'}
        port = run_module('port', port_args)
        assert port['failed'] and 'allow_unreachable' in port['msg'], port
        assert read(target) == before, 'a refusal changed nothing'
        allowed = run_module('server_fleet', dict(args, allow_unreachable=True))
        assert not allowed['failed'] and allowed['changed'], allowed
        assert len([w for w in allowed.get('warnings', []) if 'allow_unreachable' in w]) == 1, allowed
        # One warning, though the run plans twice (before and under the locks).
        port = run_module('port', dict(port_args, allow_unreachable=True))
        assert not port['failed'] and port['changed'], port
        assert len([w for w in port.get('warnings', []) if 'allow_unreachable' in w]) == 1, port
    finally:
        restart_libvirtd(down)
    # Back: the standalone port's record is written where it was missed, then the port goes.
    assert run_module('port', port_args)['changed']
    assert not run_module('port', dict(port_args, state='absent'))['failed']
    # Back: the port's record is written on the hypervisor that missed it.
    repaired = run_module('server_fleet', args, diff=True)
    assert repaired['changed'] and not repaired['failed'], repaired
    assert repaired['diff']['after'][PREFIX + 'u1'] == {'port_records': {PREFIX + 'u1-eth0': sorted(h['name'] for h in hvs)}}
    assert unchanged(run_module('server_fleet', args))
    assert_consistent(hvs)


def test_an_unknown_image_or_group_is_refused_in_check_mode_and_changes_nothing(hvs, clean):
    before = {hv['name']: read(hv) for hv in hvs}
    cases = [
        (fleet(hvs, ['x1']) | {'servers': [dict(fleet(hvs, ['x1'])['servers'][0], image=PREFIX + 'nope')]},
         'image %snope is not registered' % PREFIX),
        (fleet(hvs, ['x1']) | {'servers': [dict(fleet(hvs, ['x1'])['servers'][0],
                                                networks=[{'network': NET, 'security_groups': [PREFIX + 'sg']}])]},
         'unknown security group %ssg' % PREFIX),
    ]
    for args, words in cases:
        for check in (True, False):
            refused = run_module('server_fleet', args, check=check)
            assert refused['failed'] and refused['changed'] is False and words in refused['msg'], refused
    assert {hv['name']: read(hv) for hv in hvs} == before


def test_a_creation_rolled_back_verifiably_reports_no_change(hvs, clean):
    before = {hv['name']: read(hv) for hv in hvs}
    # A data volume that does not exist fails the creation after its ports, root disk and seed
    # were written: all of it is rolled back, verified, so the run changed nothing.
    missing = fleet(hvs, ['x2'], on=hvs[0])
    missing['servers'][0]['volumes'] = [PREFIX + 'novolume']
    failed = run_module('server_fleet', missing)
    assert failed['failed'] and 'volume %snovolume is not on hypervisor' % PREFIX in failed['msg'], failed
    assert failed['changed'] is False and failed['left'] == [], failed
    assert {hv['name']: read(hv) for hv in hvs} == before


def test_a_port_does_not_move_to_another_project(hvs):
    base = {'cloud': cloud(hvs), 'name': PREFIX + 'own', 'network': NET}
    try:
        assert not run_module('port', dict(base, project='demo'))['failed']
        before = {hv['name']: read(hv) for hv in hvs}
        moved = run_module('port', dict(base, project='other'))
        assert moved['failed'] and 'belongs to project demo' in moved['msg'] and 'delete it' in moved['msg'], moved
        assert {hv['name']: read(hv) for hv in hvs} == before
    finally:
        assert not run_module('port', dict(base, state='absent'))['failed']
