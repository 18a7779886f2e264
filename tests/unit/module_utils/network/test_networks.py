# -*- coding: utf-8 -*-
"""network/netxml.py and network/networks.py: option validation, network XML for each mode
and its parse back, and the Network resource and network_info on libvirt's in-memory test
driver."""

from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import (
    Network, check_no_overlap_on, domains_using, run_network_info)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.netxml import (
    DEFINITION_FIELDS, default_bridge_name, desired_from_params, network_xml, parse_network_xml, subnet_of)

from handles import handle

NAME = 'unit-net'


def params(**extra):
    base = dict(name=NAME, mode='nat', bridge=None, mtu=None,
                subnet=dict(cidr='10.20.0.0/24', gateway=None, allocation_pools=None,
                            dns_servers=None, dns_domain=None),
                state='present', recreate=False, hypervisors=None)
    base.update(extra)
    return base


def definition(desired):
    return {key: desired[key] for key in DEFINITION_FIELDS}


def parsed_definition(xml):
    facts = parse_network_xml(xml)
    return {key: facts[key] for key in DEFINITION_FIELDS}


# -- validation -----------------------------------------------------------------------------

def test_defaults_fill_gateway_pools_and_bridge():
    desired = desired_from_params(params())
    assert desired['gateway'] == '10.20.0.1'
    assert desired['allocation_pools'] == [{'start': '10.20.0.2', 'end': '10.20.0.254'}]
    assert desired['dns_servers'] == []
    assert desired['bridge'] == default_bridge_name(NAME)
    assert desired['active'] is True and desired['autostart'] is True


def test_default_bridge_name_is_short_stable_and_distinct():
    assert default_bridge_name('a') == default_bridge_name('a')
    assert default_bridge_name('a') != default_bridge_name('b')
    assert default_bridge_name('x' * 200).startswith('kc-')
    assert len(default_bridge_name('x' * 200)) <= 15


@pytest.mark.parametrize('extra, words', [
    (dict(mode='bridge', subnet=None), ['bridge', 'host bridge']),
    (dict(mode='bridge', bridge='br0'), ['remove subnet']),
    (dict(mode='bridge', bridge='br0', subnet=None, mtu=1400), ['remove mtu']),
    (dict(mode='nat', subnet=None), ['needs a subnet']),
    (dict(mode='routed', subnet=None), ['needs a subnet']),
    (dict(mode='bogus'), ['unknown mode', 'bogus']),
    (dict(bridge='a-very-long-bridge-name'), ['invalid bridge name']),
    (dict(mtu=20), ['mtu']),
    (dict(subnet=dict(cidr='10.20.0.0/24', gateway='10.99.0.1')), ['gateway 10.99.0.1 lies outside']),
])
def test_invalid_options_are_refused(extra, words):
    with pytest.raises(ValidationError) as err:
        desired_from_params(params(**extra))
    for word in words:
        assert word in err.value.msg


def test_isolated_network_may_go_without_subnet():
    desired = desired_from_params(params(mode='isolated', subnet=None))
    assert desired['cidr'] is None and subnet_of(NAME, desired) is None


# -- XML ------------------------------------------------------------------------------------

SUBNET = dict(cidr='10.20.0.0/24', gateway='10.20.0.254',
              allocation_pools=[{'start': '10.20.0.10', 'end': '10.20.0.19'},
                                {'start': '10.20.0.100', 'end': '10.20.0.199'}],
              dns_servers=['192.0.2.53', '192.0.2.54'], dns_domain='unit.internal')


@pytest.mark.parametrize('mode, forward', [('nat', 'nat'), ('routed', 'route'), ('isolated', None)])
def test_xml_with_subnet_for_each_mode(mode, forward):
    desired = desired_from_params(params(mode=mode, mtu=1400, subnet=dict(SUBNET)))
    xml = network_xml(NAME, desired)
    desc = xmlutil.parse(xml)
    assert xmlutil.text(desc, 'name') == NAME
    assert xmlutil.attr(desc, 'forward', 'mode') == forward
    assert xmlutil.attr(desc, 'bridge', 'name') == default_bridge_name(NAME)
    assert xmlutil.attr(desc, 'mtu', 'size') == '1400'
    assert xmlutil.attr(desc, 'domain', 'name') == 'unit.internal'
    assert [f.get('addr') for f in desc.findall('dns/forwarder')] == ['192.0.2.53', '192.0.2.54']
    assert xmlutil.attr(desc, 'ip', 'address') == '10.20.0.254'
    assert xmlutil.attr(desc, 'ip', 'prefix') == '24'
    assert [(r.get('start'), r.get('end')) for r in desc.findall('ip/dhcp/range')] == [
        ('10.20.0.10', '10.20.0.19'), ('10.20.0.100', '10.20.0.199')]
    metadata = desc.find('metadata/%s' % xmlutil.qname('network'))
    assert xmlutil.element_to_metadata(metadata)['cidr'] == '10.20.0.0/24'
    assert parsed_definition(xml) == definition(desired)
    assert parse_network_xml(xml)['managed'] is True


def test_xml_for_bridge_mode():
    desired = desired_from_params(params(mode='bridge', bridge='br0', subnet=None))
    xml = network_xml(NAME, desired)
    desc = xmlutil.parse(xml)
    assert xmlutil.attr(desc, 'forward', 'mode') == 'bridge'
    assert xmlutil.attr(desc, 'bridge', 'name') == 'br0'
    assert desc.find('ip') is None and desc.find('mtu') is None
    assert parsed_definition(xml) == definition(desired)


def test_isolated_without_subnet_round_trips():
    desired = desired_from_params(params(mode='isolated', subnet=None))
    xml = network_xml(NAME, desired)
    assert xmlutil.parse(xml).find('forward') is None
    assert parsed_definition(xml) == definition(desired)


def test_parse_reads_netmask_reservations_and_foreign_networks():
    xml = ("<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>"
           "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
           "<range start='192.168.122.2' end='192.168.122.254'/>"
           "<host mac='52:54:00:00:00:01' ip='192.168.122.5' name='web'/></dhcp></ip>"
           "<ip family='ipv6' address='fd00::1' prefix='64'/></network>")
    facts = parse_network_xml(xml)
    assert facts['managed'] is False
    assert facts['cidr'] == '192.168.122.0/24' and facts['gateway'] == '192.168.122.1'
    assert facts['reservations'] == [{'mac': '52:54:00:00:00:01', 'ip': '192.168.122.5', 'name': 'web'}]


# -- the resource on the test driver ----------------------------------------------------------

@pytest.fixture
def conn(test_conn):
    """``test_conn``, whose ``unit-*`` networks are removed after the test (before ``test_conn``
    checks that nothing is left behind): the driver's state outlives this connection while any
    other one, or an object of it, is alive."""
    yield test_conn
    for net in test_conn.listAllNetworks():
        if net.name().startswith('unit-'):
            if net.isActive():
                net.destroy()
            net.undefine()


@pytest.fixture
def hv(conn, hv1):
    """The handle of hypervisor hv1 over ``conn``."""
    return hv1


def make(h, recreate=False, **extra):
    return Network(h, NAME, desired_from_params(params(mode='isolated', **extra)), recreate)


def test_reconcile_creates_then_is_idempotent_and_refuses_rebuild(conn, hv):
    created = reconcile(make(hv), 'present', check_mode=False)
    assert created.changed is True
    net = conn.networkLookupByName(NAME)
    assert net.isActive() and net.autostart()
    assert reconcile(make(hv), 'present', check_mode=True).changed is False

    moved = dict(cidr='10.20.0.0/24', gateway='10.20.0.254')
    xml = net.XMLDesc(0)
    with pytest.raises(ValidationError) as err:
        reconcile(make(hv, subnet=moved), 'present', check_mode=False)
    assert 'gateway' in err.value.msg and 'recreate: true' in err.value.msg
    assert conn.networkLookupByName(NAME).XMLDesc(0) == xml

    rebuilt = reconcile(make(hv, recreate=True, subnet=moved), 'present', check_mode=False)
    assert rebuilt.changed and rebuilt.resource['gateway'] == '10.20.0.254'

    gone = reconcile(make(hv), 'absent', check_mode=False)
    assert gone.changed is True
    assert NAME not in conn.listNetworks() + conn.listDefinedNetworks()


def test_overlap_with_another_kvmcloud_network_is_refused(hv):
    reconcile(make(hv), 'present', check_mode=False)
    other = subnet_of('unit-other', desired_from_params(params(name='unit-other', subnet=dict(cidr='10.20.0.128/25'))))
    try:
        with pytest.raises(ValidationError) as err:
            check_no_overlap_on(other, hv)
        assert NAME in err.value.msg and 'unit-other' in err.value.msg and 'on hypervisor hv1' in err.value.msg
        apart = subnet_of('unit-other', desired_from_params(params(name='unit-other', subnet=dict(cidr='10.21.0.0/24'))))
        check_no_overlap_on(apart, hv)
    finally:
        reconcile(make(hv), 'absent', check_mode=False)


def test_domains_using_finds_interfaces_and_blocks_delete(conn, hv):
    reconcile(make(hv), 'present', check_mode=False)
    dom_xml = ("<domain type='test'><name>unit-net-user</name><memory>1024</memory><os><type>hvm</type></os>"
               "<devices><interface type='network'><source network='%s'/></interface></devices></domain>" % NAME)
    dom = conn.defineXML(dom_xml)
    try:
        assert domains_using(hv, NAME) == ['unit-net-user']
        with pytest.raises(ValidationError) as err:
            reconcile(make(hv), 'absent', check_mode=True)
        assert 'unit-net-user' in err.value.msg
    finally:
        dom.undefine()
        reconcile(make(hv), 'absent', check_mode=False)


# -- DNS host records, changed in place ----------------------------------------------------------

def test_dns_hosts_are_validated_merged_and_sorted():
    desired = desired_from_params(params(dns_hosts=[
        {'ip': '10.20.0.20', 'hostnames': ['b']}, {'ip': '10.20.0.5', 'hostnames': ['a', 'a.unit']},
        {'ip': '10.20.0.20', 'hostnames': ['c']}]))
    assert desired['dns_hosts'] == [{'ip': '10.20.0.5', 'hostnames': ['a', 'a.unit']},
                                    {'ip': '10.20.0.20', 'hostnames': ['b', 'c']}]
    assert desired_from_params(params())['dns_hosts'] is None


@pytest.mark.parametrize('entry, words', [
    ({'ip': 'ten', 'hostnames': ['a']}, 'invalid address'),
    ({'ip': '10.20.0.5', 'hostnames': []}, 'at least one name'),
    ({'ip': '10.20.0.5', 'hostnames': ['bad_name']}, 'invalid host name'),
    ({'ip': '10.20.0.5', 'hostnames': ['-a']}, 'invalid host name'),
])
def test_bad_dns_hosts_are_refused(entry, words):
    with pytest.raises(ValidationError, match=words):
        desired_from_params(params(dns_hosts=[entry]))


def test_dns_hosts_refused_in_bridge_mode():
    with pytest.raises(ValidationError, match='remove dns_hosts'):
        desired_from_params(params(mode='bridge', bridge='br0', subnet=None,
                                   dns_hosts=[{'ip': '10.20.0.5', 'hostnames': ['a']}]))


def test_dns_hosts_round_trip_through_the_xml():
    desired = desired_from_params(params(dns_hosts=[{'ip': '10.20.0.5', 'hostnames': ['a', 'b']}],
                                         subnet=dict(cidr='10.20.0.0/24', dns_servers=['192.0.2.53'])))
    parsed = parse_network_xml(network_xml(NAME, desired))
    assert parsed['dns_hosts'] == desired['dns_hosts'] and parsed['dns_servers'] == ['192.0.2.53']


def test_dns_hosts_change_in_place_without_recreate(conn, hv):
    one = [{'ip': '10.20.0.5', 'hostnames': ['a']}]
    reconcile(make(hv, dns_hosts=one), 'present', check_mode=False)
    uuid = conn.networkLookupByName(NAME).UUIDString()
    two = [{'ip': '10.20.0.5', 'hostnames': ['a', 'b']}, {'ip': '10.20.0.6', 'hostnames': ['c']}]
    planned = reconcile(make(hv, dns_hosts=two), 'present', check_mode=True)
    assert planned.changed and planned.diff['after'] == {'dns_hosts': make(hv, dns_hosts=two).desired()['dns_hosts']}
    changed = reconcile(make(hv, dns_hosts=two), 'present', check_mode=False)
    assert changed.changed and changed.resource['dns_hosts'] == planned.resource['dns_hosts']
    net = conn.networkLookupByName(NAME)
    assert net.UUIDString() == uuid and net.isActive(), 'changed in place, not recreated'
    assert parse_network_xml(net.XMLDesc(0))['dns_hosts'] == [
        {'ip': '10.20.0.5', 'hostnames': ['a', 'b']}, {'ip': '10.20.0.6', 'hostnames': ['c']}]
    assert reconcile(make(hv, dns_hosts=two), 'present', check_mode=True).changed is False
    # Not set: left alone. An empty list removes them all.
    assert reconcile(make(hv), 'present', check_mode=True).changed is False
    reconcile(make(hv, dns_hosts=[]), 'present', check_mode=False)
    assert parse_network_xml(conn.networkLookupByName(NAME).XMLDesc(0))['dns_hosts'] == []


# -- network_info ---------------------------------------------------------------------------------

class BrokenConn:
    """A reachable hypervisor whose libvirt fails to list its networks."""

    def listAllNetworks(self, flags):
        err = libvirt.libvirtError('internal error: the network driver is not running')
        err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, 0, 'the network driver is not running', 2, None, None, None, 0, 0)
        raise err


def network_info(conn, broken=(), **params):
    """run_network_info for a cloud of hv1 and hv2 (disabled), both over ``conn``, and hv3,
    which cannot be reached; the hypervisors in ``broken`` answer, but fail to list their
    networks."""
    cloud = CloudDefinition.from_params({'hypervisors': [
        {'name': 'hv1', 'uri': 'test:///default'},
        {'name': 'hv2', 'uri': 'qemu+ssh://hv2/system', 'enabled': False},
        {'name': 'hv3', 'uri': 'qemu+ssh://hv3/system'}]})

    def opener(hv):
        if hv.name == 'hv3':
            raise LibvirtCallError('open', hv.uri, libvirt.VIR_ERR_SYSTEM_ERROR, 'no route to host',
                                   hypervisor=hv.name)
        return handle(BrokenConn() if hv.name in broken else conn, hv.name)

    cm = SimpleNamespace(params=dict(dict(name=NAME, hypervisors=None), **params), cloud=cloud,
                         check_mode=False, connections=Connections(cloud.hypervisors, opener=opener))
    return run_network_info(cm)


def test_network_info_reads_the_enabled_hypervisors_unless_named_and_reports_the_unreachable(conn, hv):
    # Without a subnet: the test driver has no DHCP leases to report.
    reconcile(make(hv, subnet=None), 'present', check_mode=False)
    try:
        found = network_info(conn)
        assert found['changed'] is False
        assert [(n['name'], n['hypervisor']) for n in found['networks']] == [(NAME, 'hv1')]
        assert found['networks'][0]['managed'] is True and found['networks'][0]['ports'] == []
        assert len(found['unreachable_hypervisors']) == 1
        assert found['unreachable_hypervisors'][0].startswith('hv3: ')
        assert 'no route to host' in found['unreachable_hypervisors'][0]
        named = network_info(conn, hypervisors=['hv2'])
        assert [(n['name'], n['hypervisor']) for n in named['networks']] == [(NAME, 'hv2')]
        assert named['unreachable_hypervisors'] == []
    finally:
        reconcile(make(hv, subnet=None), 'absent', check_mode=False)


def test_network_info_fails_on_a_reachable_hypervisor_that_fails(conn):
    with pytest.raises(KvmcloudError) as err:
        network_info(conn, broken=('hv1',))
    assert err.value.msg.startswith('listing networks failed on hypervisor hv1: ')
    assert 'the network driver is not running' in err.value.msg
    assert err.value.details['failed_hypervisors'] == ['hv1']
