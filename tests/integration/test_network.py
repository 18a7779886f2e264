"""network and network_info on two namespaced test hypervisors: check -> apply -> check -> apply,
refused changes leave libvirt as it was, absent removes the network everywhere.

The networks are isolated except the one NAT test; nothing sends traffic anywhere.
"""

import subprocess
from pathlib import Path

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, remove_prefixed, removing_prefixed
from testhv import namespace_command

pytestmark = pytest.mark.integration

NET = 'kvmcloud-test-net'
OTHER = 'kvmcloud-test-net-other'
SUBNET = {'cidr': '10.250.10.0/24', 'allocation_pools': [{'start': '10.250.10.100', 'end': '10.250.10.149'}]}


@pytest.fixture
def hvs(test_hypervisors):
    # The tests make no domains; NET is the prefix only because remove_prefixed needs one.
    with removing_prefixed(test_hypervisors, NET, networks=[NET, OTHER]):
        yield test_hypervisors


def cloud(hvs):
    return cloud_definition(hvs, [])


def args_for(hvs, **extra):
    args = {'cloud': cloud(hvs), 'name': NET, 'mode': 'isolated', 'subnet': dict(SUBNET)}
    args.update(extra)
    return args


def net_state(uri, name=NET):
    with connected(uri) as conn:
        try:
            net = conn.networkLookupByName(name)
        except libvirt.libvirtError:
            return None
        return {'active': bool(net.isActive()), 'autostart': bool(net.autostart()), 'xml': net.XMLDesc(0)}


def states(hvs, name=NET):
    return [net_state(hv['uri'], name) for hv in hvs]


def dnsmasq_runs_for(name):
    """Whether a dnsmasq process runs with the network's config (its name is in the cmdline)."""
    import glob
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as handle:
                cmdline = handle.read().decode('utf-8', 'replace')
        except OSError:
            continue
        if 'dnsmasq' in cmdline and '%s.conf' % name in cmdline:
            return True
    return False


@pytest.mark.parametrize('mode', ['isolated', 'nat', 'routed'])
def test_check_mode_defines_nothing_apply_starts_the_network_on_both_and_reruns_change_nothing(hvs, mode):
    args = args_for(hvs, mode=mode)
    first = run_module('network', args, check=True, diff=True)
    assert first['changed'] is True and not first['failed'], first
    assert states(hvs) == [None, None], 'check mode must not define the network'

    second = run_module('network', args, diff=True)
    assert second['changed'] is True and not second['failed'], second
    for state in states(hvs):
        assert state['active'] and state['autostart']
        assert "<range start='10.250.10.100' end='10.250.10.149'" in state['xml']
        assert ("<forward mode='nat'" in state['xml']) == (mode == 'nat')
        assert ("<forward mode='route'" in state['xml']) == (mode == 'routed')
    assert sorted(n['hypervisor'] for n in second['networks']) == sorted(hv['name'] for hv in hvs)
    assert second['networks'][0]['gateway'] == '10.250.10.1'
    assert dnsmasq_runs_for(NET)

    third = run_module('network', args, check=True)
    assert unchanged(third), third
    fourth = run_module('network', args)
    assert unchanged(fourth), fourth

    info = run_module('network_info', {'cloud': cloud(hvs), 'name': NET})
    assert unchanged(info)
    assert len(info['networks']) == 2
    for net in info['networks']:
        assert net['mode'] == mode and net['cidr'] == '10.250.10.0/24' and net['active'] and net['managed']
        assert net['leases'] == [] and net['reservations'] == []
        assert net['free_addresses'] == 50


def test_gateway_change_is_refused_without_recreate(hvs):
    run_module('network', args_for(hvs))
    before = states(hvs)
    moved = args_for(hvs, subnet=dict(SUBNET, gateway='10.250.10.254'))
    refused = run_module('network', moved)
    assert refused['failed']
    assert 'gateway' in refused['msg'] and 'recreate: true' in refused['msg']
    assert states(hvs) == before

    moved['recreate'] = True
    assert run_module('network', moved)['changed'] is True
    for state in states(hvs):
        assert "address='10.250.10.254'" in state['xml'] and state['active']
    again = run_module('network', moved)
    assert unchanged(again), again


@pytest.mark.parametrize('extra, words', [
    ({'subnet': {'cidr': '10.250.10.0/24', 'gateway': '10.250.99.1'}}, ['gateway 10.250.99.1 lies outside']),
    ({'mode': 'warp'}, ['mode', 'warp']),
    ({'mode': 'bridge', 'bridge': 'br0'}, ['remove subnet']),
])
def test_invalid_options_fail_and_change_nothing(hvs, extra, words):
    result = run_module('network', args_for(hvs, **extra))
    assert result['failed']
    for word in words:
        assert word in result['msg']
    assert states(hvs) == [None, None]


def test_overlapping_subnet_fails_and_changes_nothing(hvs):
    # The first network only on the second hypervisor: the refusal covers every selected one.
    run_module('network', args_for(hvs[1:]))
    overlapping = dict(args_for(hvs), name=OTHER, subnet={'cidr': '10.250.10.128/25'})
    result = run_module('network', overlapping)
    assert result['failed']
    assert NET in result['msg'] and OTHER in result['msg'] and 'overlap' in result['msg']
    assert states(hvs, OTHER) == [None, None]


def test_absent_removes_from_both(hvs):
    run_module('network', args_for(hvs))
    gone = run_module('network', dict(args_for(hvs), state='absent'), diff=True)
    assert gone['changed'] is True
    assert states(hvs) == [None, None]
    again = run_module('network', dict(args_for(hvs), state='absent'))
    assert unchanged(again), again


def test_bridge_mode_joins_an_existing_bridge(hvs):
    """A host bridge made inside the first test hypervisor's network namespace."""
    bridge = 'kctestbr0'
    enter = namespace_command(hvs[0])
    subprocess.run(enter + ['sh', '-ec', 'ip link add %s type bridge; ip link set %s up' % (bridge, bridge)],
                   check=True, capture_output=True)
    try:
        args = {'cloud': cloud(hvs), 'name': NET, 'mode': 'bridge', 'bridge': bridge,
                'hypervisors': [hvs[0]['name']]}
        created = run_module('network', args)
        assert created['changed'] is True and not created['failed'], created
        state = net_state(hvs[0]['uri'])
        assert state['active'] and "<forward mode='bridge'/>" in state['xml']
        assert "<bridge name='%s'/>" % bridge in state['xml']
        again = run_module('network', args)
        assert unchanged(again), again
        assert states(hvs)[1] is None
    finally:
        remove_prefixed(hvs[0]['uri'], NET, networks=[NET])
        subprocess.run(enter + ['ip', 'link', 'del', bridge], check=False, capture_output=True)


def test_dns_hosts_change_live_and_in_config_without_recreate(hvs):
    first = [{'ip': '10.250.10.5', 'hostnames': ['db']}]
    assert not run_module('network', args_for(hvs, dns_hosts=first))['failed']
    uuids = [xmlutil_uuid(state['xml']) for state in states(hvs)]
    second = [{'ip': '10.250.10.5', 'hostnames': ['db', 'db.internal']}, {'ip': '10.250.10.6', 'hostnames': ['cache']}]
    planned = run_module('network', args_for(hvs, dns_hosts=second), check=True, diff=True)
    assert planned['changed'] and not planned['failed'], planned
    changed = run_module('network', args_for(hvs, dns_hosts=second), diff=True)
    assert changed['changed'] and changed['diff'] == planned['diff'], changed
    for hv, state, uuid in zip(hvs, states(hvs), uuids):
        assert state['active'] and xmlutil_uuid(state['xml']) == uuid, 'changed in place'
        with connected(hv['uri']) as conn:
            persistent = conn.networkLookupByName(NET).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        for xml in (state['xml'], persistent):
            assert "<host ip='10.250.10.6'>" in xml and '<hostname>db.internal</hostname>' in xml
        # dnsmasq serves them: libvirt rewrote its additional hosts file.
        addnhosts = Path(hv['dir']) / 'var/lib/libvirt/dnsmasq' / ('%s.addnhosts' % NET)
        assert '10.250.10.6\tcache' in addnhosts.read_text()
    assert unchanged(run_module('network', args_for(hvs, dns_hosts=second), check=True))
    assert unchanged(run_module('network', args_for(hvs)))


def xmlutil_uuid(xml):
    return xml.split('<uuid>')[1].split('</uuid>')[0]
