# -*- coding: utf-8 -*-
"""network/records.py, network/ports.py: port records and reservations in the network XML, and
the planning of a port (address, MAC, groups, quota) from the view of the network across
hypervisors (network/view.py)."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_UPDATE_COMMAND_DELETE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import filters, ipam, records
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.netxml import desired_from_params, network_xml
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.ports import plan_record, validate_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import hosts_of, records_of, with_records
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.view import NetworkView

NET = 'unit-net'


def facts(pools=None):
    return desired_from_params(dict(name=NET, mode='isolated', bridge=None, mtu=None, subnet=dict(
        cidr='10.20.0.0/24', gateway=None, dns_servers=None, dns_domain=None,
        allocation_pools=pools or [{'start': '10.20.0.10', 'end': '10.20.0.14'}])))


def cloud(quota=None):
    return CloudDefinition.from_params({
        'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}],
        'projects': [{'name': 'demo', 'quotas': {'ports': quota} if quota is not None else {}},
                     {'name': 'blue', 'mac_prefix': '02:00:0B'}]})


def record(name, ip, mac, **extra):
    base = {'name': name, 'network': NET, 'project': 'demo', 'ip': ip, 'mac': mac, 'hostname': name,
            'security_groups': ['default'], 'server': None, 'created': '2026-01-01T00:00:00Z'}
    base.update(extra)
    return base


def view(records=(), used=None, macs=(), other_ports=None, pools=None):
    v = NetworkView(NET)
    v.hypervisors = ['hv1']
    v.facts = facts(pools)
    v.records = {r['name']: r for r in records}
    v.used = dict(used or {})
    v.macs = set(macs) | {r['mac'] for r in records}
    v.other_ports = dict(other_ports or {})
    for r in records:
        v.project_ports.setdefault(r['project'], set()).add(r['name'])
    return v


def params(name='p1', **extra):
    base = dict(name=name, network=NET, project='demo', fixed_ip=None, mac_address=None, hostname=None,
                security_groups=None, state='present')
    base.update(extra)
    return base


# -- records and reservations in the XML --------------------------------------------------------

def test_records_and_hosts_round_trip_through_the_network_xml():
    xml = network_xml(NET, facts())
    assert records_of(xml) == {} and hosts_of(xml) == []
    recs = {'p1': record('p1', '10.20.0.10', '02:00:00:00:00:01'),
            'p2': record('p2', '10.20.0.11', '02:00:00:00:00:02', hostname=None, security_groups=[])}
    written = with_records(xml, recs)
    assert records_of(written) == recs
    assert hosts_of(written) == [{'mac': '02:00:00:00:00:01', 'ip': '10.20.0.10', 'name': 'p1'},
                                 {'mac': '02:00:00:00:00:02', 'ip': '10.20.0.11', 'name': None}]
    # The subnet definition is untouched.
    assert '<range start="10.20.0.10" end="10.20.0.14" />' in written


def test_with_records_drops_removed_ports_and_keeps_hosts_added_by_hand():
    xml = network_xml(NET, facts()).replace(
        '<dhcp>', '<dhcp><host mac="52:54:00:aa:bb:cc" ip="10.20.0.200" name="manual" />')
    one = with_records(xml, {'p1': record('p1', '10.20.0.10', '02:00:00:00:00:01')})
    none = with_records(one, {})
    assert records_of(none) == {}
    assert hosts_of(none) == [{'mac': '52:54:00:aa:bb:cc', 'ip': '10.20.0.200', 'name': 'manual'}]


def test_with_records_puts_the_records_into_a_fresh_network_xml():
    recs = {'p1': record('p1', '10.20.0.12', '02:00:00:00:00:01')}
    xml = with_records(network_xml(NET, facts()), recs)
    assert records_of(xml) == recs and hosts_of(xml)[0]['ip'] == '10.20.0.12'


def test_a_network_without_subnet_cannot_hold_ports():
    isolated = desired_from_params(dict(name=NET, mode='isolated', bridge=None, mtu=None, subnet=None))
    with pytest.raises(ValidationError, match='no subnet'):
        with_records(network_xml(NET, isolated), {'p1': record('p1', '10.20.0.10', '02:00:00:00:00:01')})


# -- planning -----------------------------------------------------------------------------------

def test_lowest_free_address_skipping_reservations_leases_and_records_of_other_hypervisors():
    v = view(records=[record('p0', '10.20.0.10', '02:00:00:00:00:01')],
             used={'10.20.0.11': ('lease of 52:54:00:00:00:09', '52:54:00:00:00:09'),
                   '10.20.0.12': ('reservation manual', '52:54:00:00:00:08')})
    planned = plan_record(cloud(), v, params())
    assert planned['ip'] == '10.20.0.13'
    assert planned['security_groups'] == ['default'] and planned['hostname'] == 'p1'


def test_mac_is_derived_from_the_project_prefix_and_unique_on_the_network():
    planned = plan_record(cloud(), view(), params())
    prefix = cloud().project('demo').mac_prefix
    assert planned['mac'] == ipam.mac_address(prefix, '%s/p1' % NET)
    assert plan_record(cloud(), view(), params())['mac'] == planned['mac'], 'deterministic'
    taken = plan_record(cloud(), view(macs={planned['mac']}), params())
    assert taken['mac'] != planned['mac'] and taken['mac'].startswith(prefix)
    blue = plan_record(cloud(), view(), params(project='blue'))
    assert blue['mac'].startswith('02:00:0b:')


def test_existing_port_keeps_address_mac_and_creation_time():
    existing = record('p1', '10.20.0.14', '02:00:00:00:00:05', security_groups=['web'])
    v = view(records=[existing], used={'10.20.0.14': ('reservation p1', '02:00:00:00:00:05'),
                                       '10.20.0.13': ('lease of 02:00:00:00:00:05', '02:00:00:00:00:05')})
    planned = plan_record(cloud(), v, params())
    assert (planned['ip'], planned['mac'], planned['created']) == ('10.20.0.14', '02:00:00:00:00:05',
                                                                   existing['created'])
    assert planned['security_groups'] == ['web'], 'groups not given are kept'
    moved = plan_record(cloud(), v, params(fixed_ip='10.20.0.10'))
    assert moved['ip'] == '10.20.0.10'


@pytest.mark.parametrize('extra, message', [
    (dict(fixed_ip='10.20.0.50'), 'outside the allocation pools'),
    (dict(fixed_ip='10.20.1.5'), 'outside the subnet'),
    (dict(fixed_ip='10.20.0.10'), 'already in use by port p0'),
    (dict(mac_address='02:00:00:00:00:01'), 'already in use'),
    (dict(mac_address='zz'), 'invalid MAC'),
    (dict(hostname='no_underscores'), 'invalid hostname'),
    (dict(security_groups=['web', 'web']), 'listed twice'),
    (dict(project='nobody'), 'unknown project'),
    (dict(project=None), 'project is required'),
    (dict(name='p9'), "already exists on network 'elsewhere'"),
])
def test_bad_requests_are_refused(extra, message):
    v = view(records=[record('p0', '10.20.0.10', '02:00:00:00:00:01')], other_ports={'p9': 'elsewhere'})
    with pytest.raises(ValidationError, match=message):
        plan_record(cloud(), v, params(**extra))


def test_exhausted_pools_and_quota():
    recs = [record('p%d' % i, '10.20.0.1%d' % i, '02:00:00:00:00:0%d' % i) for i in range(5)]
    with pytest.raises(ValidationError, match='no room for 1 more address'):
        plan_record(cloud(), view(records=recs), params(name='p9'))
    with pytest.raises(ValidationError, match="ports limit 2, in use 2, requested 1"):
        plan_record(cloud(quota=2), view(records=recs[:2]), params(name='p9'))
    # An existing port is not counted against its own quota.
    assert plan_record(cloud(quota=2), view(records=recs[:2]), params(name='p1'))['ip'] == '10.20.0.11'


def test_port_without_port_security_has_no_groups_and_no_filter():
    planned = plan_record(cloud(), view(), params(port_security=False))
    assert planned['port_security'] is False and planned['security_groups'] == []
    assert filters.filter_name(planned) is None
    assert filters.desired_port_filters([planned], {}) == {}
    kept = plan_record(cloud(), view(records=[planned]), params())
    assert kept['port_security'] is False, 'not given: unchanged'
    with pytest.raises(ValidationError, match='security groups need port_security'):
        plan_record(cloud(), view(), params(port_security=False, security_groups=['default']))
    secured = plan_record(cloud(), view(), params())
    assert secured['port_security'] is True and secured['security_groups'] == ['default']
    assert filters.filter_name(secured) == 'kvmcloud-port-p1'
    # Records written before the option existed are filtered.
    old = record('p0', '10.20.0.10', '02:00:00:00:00:01')
    assert filters.secured(old) and list(filters.desired_port_filters([old], {'default': []})) == ['kvmcloud-port-p0']


def test_live_host_changes_and_connections():
    one = record('p1', '10.20.0.11', '02:00:00:00:00:01')
    two = record('p2', '10.20.0.12', '02:00:00:00:00:02')
    live = with_records(network_xml(NET, facts()), {'p1': one})
    changes = records._live_changes(live, {'p1': one}, {'p2': two})
    assert [(c, h['mac']) for c, h in changes] == [(VIR_NETWORK_UPDATE_COMMAND_DELETE, '02:00:00:00:00:01'),
                                                   (VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, '02:00:00:00:00:02')]
    assert records._live_changes(live, {'p1': one}, {'p1': one}) == []
    assert records._connections(live) == 0
    assert records._connections(live.replace('<network', "<network connections='3'", 1)) == 3


@pytest.mark.parametrize('name', ['', 'a b', '-x', 'x' * 65, 'a/b'])
def test_invalid_port_names(name):
    with pytest.raises(ValidationError, match='invalid port name'):
        validate_name(name)


def test_project_mac_prefix_is_unicast_locally_administered_and_validated():
    prefix = names.project_mac_prefix('demo')
    first = int(prefix[:2], 16)
    assert first & 0x02 and not first & 0x01
    with pytest.raises(ValidationError, match=r'cloud.projects\[x\].mac_prefix'):
        CloudDefinition.from_params({'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}],
                                     'projects': [{'name': 'x', 'mac_prefix': '00:11:22'}]})
