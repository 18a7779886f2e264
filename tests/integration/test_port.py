"""port (with network and network_info) on two namespaced test hypervisors: fixed addresses as
DHCP reservations live and in config, unique across both hypervisors, check -> apply -> check ->
apply, bad inputs that change nothing, refusals while a server uses a port or the network.

The network is isolated and no guest boots here (see test_port_guest.py for guests).
"""

from pathlib import Path

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, removing_prefixed

pytestmark = pytest.mark.integration

NET = 'kvmcloud-test-portnet'
OTHER = 'kvmcloud-test-portnet2'
SUBNET = {'cidr': '10.250.20.0/24', 'allocation_pools': [{'start': '10.250.20.100', 'end': '10.250.20.109'}]}
SERVER = 'kvmcloud-test-port-server'
PROJECT = {'name': 'demo', 'mac_prefix': '02:aa:bb', 'quotas': {'ports': 4}}


@pytest.fixture
def hvs(test_hypervisors):
    with removing_prefixed(test_hypervisors, 'kvmcloud-test-port', networks=[NET, OTHER],
                           nwfilters=['kvmcloud-port-kvmcloud-test']):
        yield test_hypervisors


def cloud(hvs):
    return cloud_definition(hvs, [PROJECT, {'name': 'other'}])


def make_network(hvs, name=NET, subnet=None, on=None):
    result = run_module('network', {'cloud': cloud(hvs), 'name': name, 'mode': 'isolated',
                                    'subnet': subnet or SUBNET,
                                    'hypervisors': [hv['name'] for hv in (on or hvs)]})
    assert not result['failed'], result


def port_args(hvs, name='kvmcloud-test-p1', **extra):
    args = {'cloud': cloud(hvs), 'name': name, 'network': NET, 'project': 'demo'}
    args.update(extra)
    return args


def network_xml(uri, flags=0, name=NET):
    with connected(uri) as conn:
        return conn.networkLookupByName(name).XMLDesc(flags)


def snapshot(hvs):
    """Live and persistent XML of the network on each hypervisor, and the port filters."""
    out = []
    for hv in hvs:
        with connected(hv['uri']) as conn:
            net = conn.networkLookupByName(NET)
            filters = sorted(f.name() for f in conn.listAllNWFilters() if f.name().startswith('kvmcloud-port-'))
            out.append((net.XMLDesc(0), net.XMLDesc(1), filters))
    return out


def host_entry(port):
    return "<host mac='%s' name='%s' ip='%s'/>" % (port['mac'], port['hostname'], port['ip'])


def test_port_is_reserved_on_both_only_when_applied_then_unchanged_and_removed_by_absent(hvs):
    make_network(hvs)
    before = snapshot(hvs)
    first = run_module('port', port_args(hvs), check=True, diff=True)
    assert first['changed'] is True and not first['failed'], first
    assert first['port']['ip'] == '10.250.20.100'
    assert snapshot(hvs) == before, 'check mode must not write anything'

    second = run_module('port', port_args(hvs), diff=True)
    assert second['changed'] is True and not second['failed'], second
    port = second['port']
    assert port['ip'] == '10.250.20.100' and port['mac'].startswith('02:aa:bb:')
    assert port['security_groups'] == ['default'] and port['project'] == 'demo'
    assert sorted(port['hypervisors']) == sorted(hv['name'] for hv in hvs)
    assert first['port']['mac'] == port['mac'], 'the MAC is derived, the same in check mode'
    for hv in hvs:
        assert host_entry(port) in network_xml(hv['uri']), 'live reservation'
        assert host_entry(port) in network_xml(hv['uri'], libvirt.VIR_NETWORK_XML_INACTIVE), 'persistent'
        with connected(hv['uri']) as conn:
            port_filter = conn.nwfilterLookupByName('kvmcloud-port-kvmcloud-test-p1').XMLDesc(0)
            assert "value='%s'" % port['ip'] in port_filter and "value='%s'" % port['mac'] in port_filter
            assert "filter='kvmcloud-sg-default'" in port_filter
            assert conn.nwfilterLookupByName('kvmcloud-sg-default')

        # dnsmasq serves the reservation: libvirt wrote it into the network's hosts file.
        hostsfile = Path(hv['dir']) / 'var/lib/libvirt/dnsmasq' / ('%s.hostsfile' % NET)
        assert '%s,%s,%s' % (port['mac'], port['ip'], port['hostname']) in hostsfile.read_text()

    third = run_module('port', port_args(hvs), check=True)
    assert unchanged(third), third
    fourth = run_module('port', port_args(hvs))
    assert unchanged(fourth), fourth
    assert fourth['port']['ip'] == port['ip'] and fourth['port']['mac'] == port['mac']

    info = run_module('network_info', {'cloud': cloud(hvs), 'name': NET})
    for net in info['networks']:
        assert [p['name'] for p in net['ports']] == ['kvmcloud-test-p1']
        assert net['ports'][0]['ip'] == port['ip']
        assert net['free_addresses'] == 9

    gone = run_module('port', dict(port_args(hvs), state='absent'), diff=True)
    assert gone['changed'] is True and gone['port'] is None
    for xml, persistent, filters in snapshot(hvs):
        assert port['mac'] not in xml and port['mac'] not in persistent
        assert filters == []
    again = run_module('port', dict(port_args(hvs), state='absent'))
    assert unchanged(again), again
    # Without the network the port is absent too: a second teardown changes nothing.
    assert unchanged(run_module('port', dict(port_args(hvs), state='absent', network='kvmcloud-test-nonet')))


def test_addresses_are_unique_across_hypervisors(hvs):
    make_network(hvs)
    # A port written only on the second hypervisor (as if the first had been unreachable).
    only_second = run_module('port', port_args(hvs, hypervisors=[hvs[1]['name']]))
    assert only_second['port']['ip'] == '10.250.20.100'
    assert only_second['port']['mac'] not in network_xml(hvs[0]['uri'])
    # The next port sees the address in use on the second hypervisor.
    other = run_module('port', port_args(hvs, name='kvmcloud-test-p2'))
    assert other['port']['ip'] == '10.250.20.101', other
    # A fixed address held on one hypervisor only is refused too.
    taken = run_module('port', port_args(hvs, name='kvmcloud-test-p3', fixed_ip='10.250.20.100'))
    assert taken['failed'] and 'already in use' in taken['msg'] and 'kvmcloud-test-p1' in taken['msg']
    # Reconciling the first port on both hypervisors writes it where it was missing.
    healed = run_module('port', port_args(hvs))
    assert healed['changed'] is True and healed['port']['ip'] == '10.250.20.100'
    assert host_entry(healed['port']) in network_xml(hvs[0]['uri'])


def test_fixed_ip_change_and_security_groups_apply_in_place(hvs):
    make_network(hvs)
    created = run_module('port', port_args(hvs, fixed_ip='10.250.20.105'))['port']
    assert created['ip'] == '10.250.20.105'
    moved = run_module('port', port_args(hvs, fixed_ip='10.250.20.106'), diff=True)
    assert moved['changed'] is True and moved['port']['ip'] == '10.250.20.106'
    assert moved['port']['mac'] == created['mac']
    for xml, persistent, _filters in snapshot(hvs):
        assert "ip='10.250.20.106'" in xml and "ip='10.250.20.105'" not in xml
        assert "ip='10.250.20.106'" in persistent
    no_groups = run_module('port', port_args(hvs, fixed_ip='10.250.20.106', security_groups=[]))
    assert no_groups['changed'] is True and no_groups['port']['security_groups'] == []
    with connected(hvs[0]['uri']) as conn:
        assert 'kvmcloud-sg-' not in conn.nwfilterLookupByName('kvmcloud-port-kvmcloud-test-p1').XMLDesc(0)


@pytest.mark.parametrize('extra, words', [
    ({'fixed_ip': '10.250.20.50'}, ['outside the allocation pools']),
    ({'fixed_ip': '10.250.21.5'}, ['outside the subnet']),
    ({'fixed_ip': '10.250.20.1'}, ['gateway']),
    ({'fixed_ip': 'ten'}, ['invalid']),
    ({'project': 'nobody'}, ['unknown project', 'nobody']),
    ({'security_groups': ['kvmcloud-test-missing']}, ['unknown security group', 'kvmcloud-test-missing']),
    ({'mac_address': '01:00:5e:00:00:01'}, ['multicast']),
    ({'mac_address': 'not-a-mac'}, ['invalid MAC']),
    ({'hostname': 'bad_name!'}, ['invalid hostname']),
    ({'name': 'bad name'}, ['invalid port name']),
    ({'network': 'kvmcloud-test-nonet'}, ['not defined on any reachable hypervisor']),
])
def test_bad_input_fails_and_changes_nothing(hvs, extra, words):
    make_network(hvs)
    before = snapshot(hvs)
    result = run_module('port', port_args(hvs, **extra))
    assert result['failed'], result
    for word in words:
        assert word in result['msg'], result['msg']
    assert snapshot(hvs) == before


def test_a_full_allocation_pool_the_port_quota_and_a_taken_name_refuse_a_new_port(hvs):
    make_network(hvs, subnet={'cidr': '10.250.20.0/24',
                              'allocation_pools': [{'start': '10.250.20.100', 'end': '10.250.20.101'}]})
    for name in ('kvmcloud-test-q1', 'kvmcloud-test-q2'):
        assert not run_module('port', port_args(hvs, name=name))['failed']
    full = run_module('port', port_args(hvs, name='kvmcloud-test-q3', project='other'))
    assert full['failed'] and 'no room' in full['msg'], full
    run_module('network', {'cloud': cloud(hvs), 'name': OTHER, 'mode': 'isolated',
                           'subnet': {'cidr': '10.250.30.0/24'}})
    for name in ('kvmcloud-test-q3', 'kvmcloud-test-q4'):
        assert not run_module('port', port_args(hvs, name=name, network=OTHER))['failed']
    over = run_module('port', port_args(hvs, name='kvmcloud-test-q5', network=OTHER))
    assert over['failed'] and "quota exceeded for project 'demo': ports limit 4, in use 4, requested 1" in over['msg']
    clash = run_module('port', port_args(hvs, name='kvmcloud-test-q1', network=OTHER))
    assert clash['failed'] and 'already exists on network' in clash['msg']


def define_server(uri, mac, network=NET):
    """A defined (not started) domain with an interface on the network: a server using the port."""
    with connected(uri) as conn:
        conn.defineXML(f"""<domain type='qemu'><name>{SERVER}</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><interface type='network'><source network='{network}'/><mac address='{mac}'/>
  <model type='virtio'/></interface></devices></domain>""")


def test_port_and_network_removal_are_refused_while_a_server_uses_the_port(hvs):
    make_network(hvs)
    port = run_module('port', port_args(hvs))['port']
    define_server(hvs[1]['uri'], port['mac'])
    before = snapshot(hvs)
    refused = run_module('port', dict(port_args(hvs), state='absent'))
    assert refused['failed'] and 'in use by server %s' % SERVER in refused['msg'], refused
    gone = run_module('network', {'cloud': cloud(hvs), 'name': NET, 'state': 'absent'})
    assert gone['failed'] and 'in use by server' in gone['msg'] and hvs[1]['name'] in gone['msg'], gone
    # The refusal on the second hypervisor came before any change on the first.
    assert snapshot(hvs) == before


def test_recreate_keeps_ports_and_refuses_when_they_do_not_fit(hvs):
    make_network(hvs)
    port = run_module('port', port_args(hvs))['port']
    moved = {'cloud': cloud(hvs), 'name': NET, 'mode': 'isolated', 'recreate': True,
             'subnet': dict(SUBNET, gateway='10.250.20.254')}
    assert run_module('network', moved)['changed'] is True
    for xml, persistent, filters in snapshot(hvs):
        assert host_entry(port) in xml and host_entry(port) in persistent
        assert "address='10.250.20.254'" in xml
        assert filters == ['kvmcloud-port-kvmcloud-test-p1']
    kept = run_module('port', port_args(hvs))
    assert unchanged(kept), kept
    before = snapshot(hvs)
    squeezed = dict(moved, subnet={'cidr': '10.250.20.0/24',
                                   'allocation_pools': [{'start': '10.250.20.200', 'end': '10.250.20.209'}]})
    refused = run_module('network', squeezed)
    assert refused['failed'] and 'kvmcloud-test-p1' in refused['msg'] and 'outside the allocation pools' in refused['msg']
    assert snapshot(hvs) == before
    # Removing the network (no server uses it) takes its ports and their filters along.
    assert run_module('network', {'cloud': cloud(hvs), 'name': NET, 'state': 'absent'})['changed'] is True
    for hv in hvs:
        with connected(hv['uri']) as conn:
            assert not [f for f in conn.listAllNWFilters() if f.name().startswith('kvmcloud-port-')]
