# -*- coding: utf-8 -*-
"""Security groups: rule validation (network/rules.py), group and port filter XML and their
parse back and the anti-spoofing filters (network/filterxml.py), defining and reading filters
(network/filters.py), and the security_group module's run (network/secgroups.py) on fake
hypervisors.

libvirt's test driver has no nwfilter support, so a small fake stands in for the hypervisors'
nwfilter API, wrapped in a hypervisor handle like a real connection. Like libvirt with a running
guest, it refuses a filter whose rules use a variable the port filter does not pass, a filter name
redefined with another uuid, and removing a filter another filter references. What the security
group module uses of the port service (reading the ports, syncing their filters) is replaced by a
stand-in too.
"""

import types
import uuid as uuidlib
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition, Hypervisor
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import secgroups
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import (
    define_filter, ensure_base_filters, read_groups)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filterxml import (
    base_filters, group_filter_xml, parse_group_filter, parse_port_filter, port_filter_xml, read_group_filter,
    same_filter)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import (
    DEFAULT_GROUP, DEFAULT_RULES, FILTER_PREFIX, NO_MEMBERS, group_filter_name, group_of_variable,
    member_variable, port_filter_name, remote_groups, rules_from_params, validate_group_name)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.secgroups import run_security_group

from handles import handle


def rule(**fields):
    """A normalised rule: the defaults of the module's options and ``fields``."""
    base = dict(direction='ingress', ethertype='IPv4', protocol='any', port_range_min=None, port_range_max=None,
                remote_ip_prefix=None, remote_group=None)
    base.update(fields)
    return base


def entries(xml):
    """The children of a filter other than its uuid."""
    return [node for node in ET.fromstring(xml) if node.tag != 'uuid']


# -- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['web', 'default', 'a', 'Web-1.prod_x', '9lives', 'x' * 64])
def test_valid_group_names(name):
    assert validate_group_name(name) == name


@pytest.mark.parametrize('name', ['', 'a b', 'a/b', "x'y", 'x"y', 'a<b', 'a&b', '-web', '.web', '_web',
                                  'x' * 65, 'grüne', 'a$b', None, 5])
def test_invalid_group_names_are_refused_with_the_rule(name):
    with pytest.raises(ValidationError) as err:
        validate_group_name(name)
    assert 'invalid security group name' in err.value.msg
    assert 'letters, digits' in err.value.msg and 'nwfilter' in err.value.msg


def test_filter_names_and_variables():
    assert group_filter_name('web') == 'kvmcloud-sg-web'
    assert port_filter_name('p1') == 'kvmcloud-port-p1'
    assert FILTER_PREFIX == 'kvmcloud-'
    assert member_variable('web') == 'KVMCLOUD_SG_776562'
    assert member_variable('default') == 'KVMCLOUD_SG_' + 'default'.encode('utf-8').hex()


@pytest.mark.parametrize('group', ['web', 'default', 'Web-1.prod_x', 'grüne', 'x' * 64])
def test_member_variable_is_reversible_and_a_valid_nwfilter_variable(group):
    variable = member_variable(group)
    assert group_of_variable(variable) == group
    assert all(c.isalnum() and c.isascii() or c == '_' for c in variable)


@pytest.mark.parametrize('variable', ['IP', 'MAC', 'KVMCLOUD_SG_7', 'KVMCLOUD_SG_zz', 'KVMCLOUD_SG_ff'])
def test_other_variables_name_no_group(variable):
    assert group_of_variable(variable) is None


# -- rules ----------------------------------------------------------------------------------------

def test_a_rule_gets_the_defaults():
    assert rules_from_params('web', [{}]) == [rule()]
    assert rules_from_params('web', [dict(direction=None, ethertype=None, protocol=None)]) == [rule()]


def test_no_rules():
    assert rules_from_params('web', None) == []
    assert rules_from_params('web', []) == []


def test_rules_are_normalised():
    got = rules_from_params('web', [
        dict(protocol='tcp', port_range_min=22),
        dict(protocol='udp', port_range_min='53', port_range_max='54'),
        dict(remote_ip_prefix='10.0.0.7'),
        dict(remote_ip_prefix='10.1.2.3/24'),
        dict(direction='egress', remote_ip_prefix='0.0.0.0/0'),
        dict(remote_group='web'),
    ])
    assert rule(protocol='tcp', port_range_min=22, port_range_max=22) in got
    assert rule(protocol='udp', port_range_min=53, port_range_max=54) in got
    assert rule(remote_ip_prefix='10.0.0.7/32') in got
    assert rule(remote_ip_prefix='10.1.2.0/24') in got
    assert rule(direction='egress') in got
    assert rule(remote_group='web') in got
    assert len(got) == 6
    for item in got:
        assert list(item) == list(rule())


def test_rules_are_deduplicated_and_sorted_whatever_the_order():
    given = [dict(protocol='tcp', port_range_min=80), dict(direction='egress'), dict(remote_group='a'),
             dict(protocol='tcp', port_range_min=80, port_range_max=80), dict(remote_ip_prefix='10.0.0.0/8'),
             dict(protocol='icmp')]
    first = rules_from_params('web', given)
    assert first == rules_from_params('web', list(reversed(given)))
    assert len(first) == 5
    assert first[0]['direction'] == 'egress'


def test_remote_groups():
    rules = rules_from_params('web', [dict(remote_group='b'), dict(remote_group='a', protocol='icmp'),
                                      dict(remote_group='b', protocol='tcp'), dict()])
    assert remote_groups(rules) == ['a', 'b']
    assert remote_groups([]) == []


def test_default_rules():
    assert DEFAULT_GROUP == 'default'
    assert DEFAULT_RULES == rules_from_params(DEFAULT_GROUP, [dict(direction='egress'), dict(remote_group='default')])
    assert remote_groups(DEFAULT_RULES) == ['default']


@pytest.mark.parametrize('bad, index, words', [
    ('nope', 0, ['a rule is a dict']),
    (dict(port=22), 0, ['unknown key port']),
    (dict(direction='in'), 0, ['unknown direction', 'egress, ingress']),
    (dict(ethertype='IPv6'), 0, ['IPv6', 'IPv4-only', 'drops IPv6']),
    (dict(ethertype='ipx'), 0, ['unknown ethertype']),
    (dict(protocol='sctp'), 0, ['unknown protocol', 'any, icmp, tcp, udp']),
    (dict(protocol='icmp', port_range_min=8), 0, ['tcp and udp only', 'icmp']),
    (dict(port_range_min=80), 0, ['tcp and udp only', 'any']),
    (dict(protocol='tcp', port_range_max=80), 0, ['port_range_max needs port_range_min']),
    (dict(protocol='tcp', port_range_min=90, port_range_max=80), 0, ['90 is greater than port_range_max 80']),
    (dict(protocol='tcp', port_range_min=0), 0, ['port_range_min', '1 to 65535']),
    (dict(protocol='tcp', port_range_min=1, port_range_max=65536), 0, ['port_range_max', '1 to 65535']),
    (dict(protocol='udp', port_range_min=True), 0, ['port_range_min', '1 to 65535']),
    (dict(protocol='udp', port_range_min='http'), 0, ['port_range_min', '1 to 65535']),
    (dict(remote_ip_prefix='10.0.0'), 0, ['remote_ip_prefix', 'not an IPv4 address']),
    (dict(remote_ip_prefix='10.0.0.0/33'), 0, ['remote_ip_prefix', 'not an IPv4 address']),
    (dict(remote_ip_prefix='fd00::/64'), 0, ['IPv6', 'IPv4-only']),
    (dict(remote_ip_prefix='10.0.0.0/8', remote_group='web'), 0, ['mutually exclusive']),
    (dict(remote_group='no such'), 0, ['remote_group', 'invalid security group name']),
])
def test_bad_rules_name_the_group_and_the_rule(bad, index, words):
    rules = [dict(direction='egress'), bad] if index else [bad]
    with pytest.raises(ValidationError) as err:
        rules_from_params('web', rules)
    assert "security group 'web', rules[%d]" % index in err.value.msg
    for word in words:
        assert word in err.value.msg


def test_the_index_is_that_of_the_bad_rule():
    with pytest.raises(ValidationError) as err:
        rules_from_params('web', [dict(direction='egress'), dict(protocol='tcp'), dict(ethertype='IPv6')])
    assert 'rules[2]' in err.value.msg


def test_rules_must_be_a_list_and_the_group_name_valid():
    with pytest.raises(ValidationError, match="security group 'web': rules must be a list"):
        rules_from_params('web', {'protocol': 'tcp'})
    with pytest.raises(ValidationError, match='invalid security group name'):
        rules_from_params('bad name', [])


# -- group filter XML -----------------------------------------------------------------------------

RULES = [
    dict(protocol='tcp', port_range_min=22, remote_group='bastion'),
    dict(protocol='tcp', port_range_min=80, port_range_max=81, remote_ip_prefix='10.1.2.0/24'),
    dict(direction='egress'),
    dict(protocol='icmp', remote_group='web'),
    dict(direction='egress', protocol='udp', port_range_min=53, remote_ip_prefix='192.0.2.53'),
    dict(direction='egress', protocol='tcp', remote_group='db'),
]


def test_group_filter_xml_renders_each_rule():
    rules = rules_from_params('web', RULES)
    desc = ET.fromstring(group_filter_xml('web', rules, uuid='7a8b4b52-0d7c-4f2f-a0a4-2d0d2b1f1d11'))
    assert desc.tag == 'filter' and desc.get('name') == 'kvmcloud-sg-web' and desc.get('chain') == 'root'
    assert desc.get('priority') is None
    assert desc.find('uuid').text == '7a8b4b52-0d7c-4f2f-a0a4-2d0d2b1f1d11'
    nodes = desc.findall('rule')
    assert len(nodes) == len(rules)
    for node in nodes:
        assert node.get('action') == 'accept' and node.get('priority') == '500'
        assert len(node) == 1
        assert not set(node.attrib) & {'statematch', 'state'}
        assert not set(node[0].attrib) & {'statematch', 'state'}
    found = {(n.get('direction'), n[0].tag, tuple(sorted(n[0].attrib.items()))) for n in nodes}
    assert found == {
        ('in', 'tcp', (('dstportend', '22'), ('dstportstart', '22'), ('srcipaddr', '$KVMCLOUD_SG_62617374696f6e'))),
        ('in', 'tcp', (('dstportend', '81'), ('dstportstart', '80'), ('srcipaddr', '10.1.2.0'), ('srcipmask', '24'))),
        ('out', 'all', ()),
        ('in', 'icmp', (('srcipaddr', '$KVMCLOUD_SG_776562'),)),
        ('out', 'udp', (('dstipaddr', '192.0.2.53'), ('dstipmask', '32'), ('dstportend', '53'),
                        ('dstportstart', '53'))),
        ('out', 'tcp', (('dstipaddr', '$KVMCLOUD_SG_6462'),)),
    }


def test_group_filter_round_trip():
    rules = rules_from_params('web', RULES)
    assert parse_group_filter(group_filter_xml('web', rules)) == ('web', rules)
    assert parse_group_filter(group_filter_xml('web', rules, uuid=str(uuidlib.uuid4()))) == ('web', rules)
    assert parse_group_filter(group_filter_xml('empty', [])) == ('empty', [])
    assert parse_group_filter(group_filter_xml(DEFAULT_GROUP, DEFAULT_RULES)) == (DEFAULT_GROUP, DEFAULT_RULES)


def test_default_group_filter():
    nodes = entries(group_filter_xml(DEFAULT_GROUP, DEFAULT_RULES))
    assert [(n.get('direction'), n[0].tag, dict(n[0].attrib)) for n in nodes] == [
        ('out', 'all', {}), ('in', 'all', {'srcipaddr': '$' + member_variable('default')})]


# What libvirt 9.0 gives back for a group filter (nwfilter XMLDesc).
LIBVIRT_GROUP_XML = """<filter name='kvmcloud-sg-web' chain='root'>
  <uuid>a25c9242-1086-4942-8865-9bf37cf0ff3a</uuid>
  <rule action='accept' direction='out' priority='500'>
    <all/>
  </rule>
  <rule action='accept' direction='in' priority='500'>
    <icmp srcipaddr='$KVMCLOUD_SG_64656661756c74'/>
  </rule>
  <rule action='accept' direction='in' priority='500'>
    <tcp srcipaddr='10.1.2.0' srcipmask='24' dstportstart='80' dstportend='81'/>
  </rule>
</filter>
"""


def test_parse_libvirts_form_of_a_group_filter():
    group, rules, unmanaged = read_group_filter(LIBVIRT_GROUP_XML)
    assert group == 'web' and unmanaged == []
    assert rules == rules_from_params('web', [dict(direction='egress'), dict(protocol='icmp', remote_group='default'),
                                              dict(protocol='tcp', port_range_min=80, port_range_max=81,
                                                   remote_ip_prefix='10.1.2.0/24')])
    assert same_filter(LIBVIRT_GROUP_XML, group_filter_xml('web', rules))


def test_entries_the_collection_does_not_write_are_unmanaged():
    xml = LIBVIRT_GROUP_XML.replace('</filter>', """
  <rule action='drop' direction='in' priority='500'><tcp dstportstart='25'/></rule>
  <rule action='accept' direction='in' priority='500' statematch='false'><udp/></rule>
  <rule action='accept' direction='in' priority='400'><udp/></rule>
  <rule action='accept' direction='in' priority='500'><tcp srcipaddr='10.0.0.0' srcipmask='255.0.0.0'/></rule>
  <rule action='accept' direction='in' priority='500'><tcp-ipv6/></rule>
  <rule action='accept' direction='in' priority='500'><tcp srcipaddr='$OTHER'/></rule>
  <filterref filter='allow-arp'/>
</filter>""")
    group, rules, unmanaged = read_group_filter(xml)
    assert len(rules) == 3
    assert len(unmanaged) == 7
    assert any('allow-arp' in entry for entry in unmanaged)
    assert parse_group_filter(xml) == (group, rules)
    _group, _rules, chain = read_group_filter("<filter name='kvmcloud-sg-x' chain='ipv4'/>")
    assert chain == ['<filter chain="ipv4" />']


# -- port filter XML ------------------------------------------------------------------------------

GROUP_RULES = {
    'web': rules_from_params('web', [dict(protocol='tcp', port_range_min=80),
                                     dict(protocol='tcp', port_range_min=22, remote_group='bastion'),
                                     dict(protocol='icmp', remote_group='web'),
                                     dict(direction='egress')]),
    'default': DEFAULT_RULES,
    'plain': rules_from_params('plain', [dict(direction='egress')]),
}
MEMBERS = {'web': ['10.0.0.9', '10.0.0.10', '10.0.0.5', '10.0.0.9'], 'default': ['10.0.0.5']}


def port_xml(groups=('web', 'default'), **extra):
    return port_filter_xml('p1', '10.0.0.5', '52:54:00:aa:bb:cc', list(groups), GROUP_RULES, MEMBERS, **extra)


def test_port_filter_layout():
    desc = ET.fromstring(port_xml(uuid='1b0f2b0e-1c3d-4b6a-9a55-6f0e8b6f2f10'))
    assert desc.get('name') == 'kvmcloud-port-p1' and desc.get('chain') == 'root'
    assert desc.find('uuid').text == '1b0f2b0e-1c3d-4b6a-9a55-6f0e8b6f2f10'
    nodes = entries(port_xml())
    assert [(n.tag, n.get('filter') or n.get('action')) for n in nodes] == [
        ('filterref', 'kvmcloud-clean-traffic'), ('rule', 'accept'), ('rule', 'accept'), ('rule', 'drop'),
        ('filterref', 'kvmcloud-sg-web'), ('filterref', 'kvmcloud-sg-default'), ('rule', 'drop')]
    assert [(p.get('name'), p.get('value')) for p in nodes[0]] == [('IP', '10.0.0.5'), ('MAC', '52:54:00:aa:bb:cc')]
    client = dict(srcportstart='68', srcportend='68', dstportstart='67', dstportend='67')
    server = dict(srcportstart='67', srcportend='67', dstportstart='68', dstportend='68')
    assert [(n.get('action'), n.get('direction'), n.get('priority'), n[0].tag, dict(n[0].attrib))
            for n in nodes[1:4]] == [('accept', 'out', '100', 'udp', client), ('accept', 'in', '100', 'udp', server),
                                     ('drop', 'out', '100', 'udp', server)]
    drop = nodes[6]
    assert (drop.get('direction'), drop.get('priority'), drop[0].tag, dict(drop[0].attrib)) == (
        'inout', '1000', 'all', {})


def test_port_filter_passes_the_member_variables_of_each_groups_remote_groups():
    nodes = entries(port_xml())
    web = [(p.get('name'), p.get('value')) for p in nodes[4]]
    # Sorted by variable name (bastion before web), members sorted as addresses, no duplicates;
    # bastion has no members: the placeholder.
    assert web == [(member_variable('bastion'), NO_MEMBERS),
                   (member_variable('web'), '10.0.0.5'), (member_variable('web'), '10.0.0.9'),
                   (member_variable('web'), '10.0.0.10')]
    default = [(p.get('name'), p.get('value')) for p in nodes[5]]
    assert default == [(member_variable('default'), '10.0.0.5')]
    assert NO_MEMBERS == '255.255.255.255'


def test_a_group_without_remote_groups_gets_no_parameters():
    ref = entries(port_xml(groups=['plain']))[4]
    assert ref.get('filter') == 'kvmcloud-sg-plain' and list(ref) == []


def test_an_empty_member_list_gets_the_placeholder():
    xml = port_filter_xml('p1', '10.0.0.5', '52:54:00:aa:bb:cc', ['default'], GROUP_RULES, {'default': []})
    ref = entries(xml)[4]
    assert [(p.get('name'), p.get('value')) for p in ref] == [(member_variable('default'), NO_MEMBERS)]


def test_port_filter_groups_keep_their_order_once_each():
    names = [n.get('filter') for n in entries(port_xml(groups=['default', 'plain', 'default', 'web']))
             if n.tag == 'filterref']
    assert names == ['kvmcloud-clean-traffic', 'kvmcloud-sg-default', 'kvmcloud-sg-plain', 'kvmcloud-sg-web']


def test_port_filter_without_groups_lets_only_dhcp_through():
    nodes = entries(port_xml(groups=[]))
    assert [n.get('filter') for n in nodes if n.tag == 'filterref'] == ['kvmcloud-clean-traffic']
    assert nodes[-1].get('action') == 'drop'


def test_port_filter_of_an_unknown_group_fails():
    with pytest.raises(ValidationError, match="port 'p1': security group 'nope' is not defined"):
        port_xml(groups=['web', 'nope'])


def test_port_filter_round_trip():
    parsed = parse_port_filter(port_xml())
    assert parsed == {
        'name': 'p1', 'ip': '10.0.0.5', 'mac': '52:54:00:aa:bb:cc', 'groups': ['web', 'default'],
        'parameters': {'web': {'bastion': [NO_MEMBERS], 'web': ['10.0.0.5', '10.0.0.9', '10.0.0.10']},
                       'default': {'default': ['10.0.0.5']}},
        'unmanaged': []}
    assert parse_port_filter(port_xml(uuid=str(uuidlib.uuid4()))) == parsed
    assert parse_port_filter(port_xml(groups=[]))['groups'] == []


# What libvirt 9.0 gives back for a port filter.
LIBVIRT_PORT_XML = """<filter name='kvmcloud-port-p1' chain='root'>
  <uuid>44c0d580-fa80-4d9d-92cd-4b258e6e5927</uuid>
  <filterref filter='kvmcloud-clean-traffic'>
    <parameter name='IP' value='10.0.0.5'/>
    <parameter name='MAC' value='52:54:00:00:00:05'/>
  </filterref>
  <rule action='accept' direction='out' priority='100'>
    <udp srcportstart='68' srcportend='68' dstportstart='67' dstportend='67'/>
  </rule>
  <rule action='accept' direction='in' priority='100'>
    <udp srcportstart='67' srcportend='67' dstportstart='68' dstportend='68'/>
  </rule>
  <rule action='drop' direction='out' priority='100'>
    <udp srcportstart='67' srcportend='67' dstportstart='68' dstportend='68'/>
  </rule>
  <filterref filter='kvmcloud-sg-default'>
    <parameter name='KVMCLOUD_SG_64656661756c74' value='10.0.0.5'/>
    <parameter name='KVMCLOUD_SG_64656661756c74' value='10.0.0.10'/>
  </filterref>
  <rule action='drop' direction='inout' priority='1000'>
    <all/>
  </rule>
</filter>
"""


def test_parse_libvirts_form_of_a_port_filter():
    parsed = parse_port_filter(LIBVIRT_PORT_XML)
    assert parsed['groups'] == ['default'] and parsed['unmanaged'] == []
    assert parsed['parameters'] == {'default': {'default': ['10.0.0.5', '10.0.0.10']}}
    ours = port_filter_xml('p1', '10.0.0.5', '52:54:00:00:00:05', ['default'], GROUP_RULES,
                           {'default': ['10.0.0.10', '10.0.0.5']})
    assert same_filter(LIBVIRT_PORT_XML, ours)
    assert parse_port_filter(ours) == parsed


def test_port_filter_with_foreign_entries():
    xml = LIBVIRT_PORT_XML.replace("<rule action='drop' direction='inout' priority='1000'>",
                                   "<rule action='accept' direction='inout' priority='1000'>")
    parsed = parse_port_filter(xml)
    assert len(parsed['unmanaged']) == 1 and 'accept' in parsed['unmanaged'][0]
    assert parsed != parse_port_filter(LIBVIRT_PORT_XML)


def test_same_filter_ignores_the_uuid_and_layout_only():
    plain = group_filter_xml('web', DEFAULT_RULES)
    assert same_filter(plain, group_filter_xml('web', DEFAULT_RULES, uuid=str(uuidlib.uuid4())))
    assert not same_filter(plain, group_filter_xml('web', DEFAULT_RULES[:1]))
    assert not same_filter(plain, group_filter_xml('other', DEFAULT_RULES))
    assert not same_filter(plain, plain.replace("priority=\"500\"", "priority=\"400\"", 1))


# -- anti-spoofing filters -------------------------------------------------------------------------

def test_base_filters_are_the_collections_own_with_dependencies_first():
    filters = base_filters()
    names = [name for name, _xml in filters]
    assert names[-1] == 'kvmcloud-clean-traffic'
    assert set(names) == {'kvmcloud-no-mac-spoofing', 'kvmcloud-no-ip-spoofing', 'kvmcloud-no-arp-mac-spoofing',
                          'kvmcloud-no-arp-ip-spoofing', 'kvmcloud-allow-incoming-ipv4', 'kvmcloud-clean-traffic'}
    for index, (name, xml) in enumerate(filters):
        desc = ET.fromstring(xml)
        assert desc.get('name') == name
        for ref in desc.iter('filterref'):
            assert ref.get('filter') in names[:index], 'references only filters defined before it'


def base(name):
    return ET.fromstring(dict(base_filters())[name])


def rules_of(desc):
    return [(r.get('action'), r.get('direction'), r.get('priority'), r[0].tag if len(r) else None,
             dict(r[0].attrib) if len(r) else {}) for r in desc.findall('rule')]


def test_base_filter_contents():
    mac = base('kvmcloud-no-mac-spoofing')
    assert (mac.get('chain'), mac.get('priority')) == ('mac', '-800')
    assert rules_of(mac) == [('return', 'out', '500', 'mac', {'srcmacaddr': '$MAC'}), ('drop', 'out', '500', 'mac', {})]
    ip = base('kvmcloud-no-ip-spoofing')
    assert (ip.get('chain'), ip.get('priority')) == ('ipv4-ip', '-710')
    assert rules_of(ip) == [('return', 'out', '100', 'ip', {'srcipaddr': '0.0.0.0', 'protocol': 'udp'}),
                            ('return', 'out', '500', 'ip', {'srcipaddr': '$IP'}), ('drop', 'out', '1000', None, {})]
    arp_mac = base('kvmcloud-no-arp-mac-spoofing')
    assert (arp_mac.get('chain'), arp_mac.get('priority')) == ('arp-mac', '-520')
    assert rules_of(arp_mac) == [('return', 'out', '350', 'arp', {'arpsrcmacaddr': '$MAC'}),
                                 ('drop', 'out', '1000', None, {})]
    arp_ip = base('kvmcloud-no-arp-ip-spoofing')
    assert (arp_ip.get('chain'), arp_ip.get('priority')) == ('arp-ip', '-510')
    assert rules_of(arp_ip) == [('return', 'out', '400', 'arp', {'arpsrcipaddr': '$IP'}),
                                ('drop', 'out', '1000', None, {})]
    incoming = base('kvmcloud-allow-incoming-ipv4')
    assert incoming.get('chain') == 'ipv4'
    assert rules_of(incoming) == [('accept', 'in', '500', None, {})]
    clean = base('kvmcloud-clean-traffic')
    assert clean.get('chain') == 'root'
    assert [r.get('filter') for r in clean.findall('filterref')] == [
        'kvmcloud-no-mac-spoofing', 'kvmcloud-no-ip-spoofing', 'kvmcloud-allow-incoming-ipv4',
        'kvmcloud-no-arp-mac-spoofing', 'kvmcloud-no-arp-ip-spoofing']
    assert rules_of(clean) == [('accept', 'out', '-650', 'mac', {'protocolid': 'ipv4'}),
                               ('accept', 'inout', '-500', 'mac', {'protocolid': 'arp'}),
                               ('drop', 'inout', '1000', None, {})]


# -- a fake of libvirt's nwfilter API -------------------------------------------------------------

def libvirt_error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_NWFILTER, message, 2, None, None, None, 0, 0)
    return err


class FakeFilter:
    def __init__(self, conn, name):
        self.conn = conn
        self._name = name

    def name(self):
        return self._name

    def UUIDString(self):
        return self.conn.filters[self._name][0]

    def XMLDesc(self, flags=0):
        uuid, xml = self.conn.filters[self._name]
        desc = ET.fromstring(xml)
        for node in desc.findall('uuid'):
            desc.remove(node)
        node = ET.Element('uuid')
        node.text = uuid
        desc.insert(0, node)
        return ET.tostring(desc, encoding='unicode')

    def undefine(self):
        self.conn.undefine(self._name)


class FakeConn:
    """nwfilter definitions of one hypervisor, every port filter treated as in use by a guest."""

    def __init__(self, ports=()):
        self.filters = {}
        self.ports = list(ports)
        self.defines = []
        self.sync_calls = []

    def nwfilterLookupByName(self, name):
        if name not in self.filters:
            raise libvirt_error(libvirt.VIR_ERR_NO_NWFILTER, 'Network filter not found: %s' % name)
        return FakeFilter(self, name)

    def listAllNWFilters(self, flags=0):
        return [FakeFilter(self, name) for name in sorted(self.filters)]

    def nwfilterDefineXML(self, xml):
        desc = ET.fromstring(xml)
        name = desc.get('name')
        uuid = desc.findtext('uuid')
        if name in self.filters and uuid != self.filters[name][0]:
            raise libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, "filter '%s' already exists with uuid %s"
                                % (name, self.filters[name][0]))
        before = dict(self.filters)
        self.filters[name] = (uuid or str(uuidlib.uuid4()), xml)
        problem = self.unresolvable()
        if problem:
            self.filters = before
            raise libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'Cannot instantiate filter due to unresolvable '
                                'variables or unavailable list elements: %s' % problem)
        self.defines.append(name)
        return FakeFilter(self, name)

    def undefine(self, name):
        for other, (_uuid, xml) in self.filters.items():
            if any(ref.get('filter') == name for ref in ET.fromstring(xml).iter('filterref')):
                raise libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, 'nwfilter is in use (by %s)' % other)
        del self.filters[name]
        self.defines.append('-' + name)

    def unresolvable(self):
        """A variable a group filter uses that a port filter referencing it does not pass."""
        for name, (_uuid, xml) in self.filters.items():
            if not name.startswith('kvmcloud-port-'):
                continue
            for ref in ET.fromstring(xml).iter('filterref'):
                if ref.get('filter') not in self.filters or not ref.get('filter').startswith('kvmcloud-sg-'):
                    continue
                passed = {p.get('name') for p in ref}
                used = {a[1:] for node in ET.fromstring(self.filters[ref.get('filter')][1]).iter()
                        for a in node.attrib.values() if a.startswith('$')}
                if used - passed:
                    return ', '.join(sorted(used - passed))
        return None

    def close(self):
        pass


def on(conn, name='hv1'):
    """The handle of hypervisor ``name`` over a :class:`FakeConn`."""
    return handle(conn, name)


def fake_of(h):
    """The :class:`FakeConn` behind a handle."""
    return h._raw  # pylint: disable=protected-access


def stand_in_ports():
    """What the port service offers the security group module, over the handle of a
    :class:`FakeConn`."""

    def read_ports(h):
        return [dict(port) for port in fake_of(h).ports]

    def sync_port_filters(h, groups=None, ports=None):
        conn = fake_of(h)
        conn.sync_calls.append({name: list(rules) for name, rules in groups.items()})
        members = {}
        for port in conn.ports:
            for group in port['security_groups']:
                members.setdefault(group, []).append(port['ip'])
        for port in conn.ports:
            define_filter(h, port_filter_xml(port['name'], port['ip'], port['mac'],
                                             port['security_groups'], groups, members))

    return types.SimpleNamespace(read_ports=read_ports, sync_port_filters=sync_port_filters)


@pytest.fixture
def fake_ports(monkeypatch):
    """The stand-in, where the security group module looks the port service's functions up."""
    fake = stand_in_ports()
    monkeypatch.setattr(secgroups, 'read_ports', fake.read_ports)
    monkeypatch.setattr(secgroups, 'sync_port_filters', fake.sync_port_filters)
    return fake


def port(name, ip, groups, server=None):
    return dict(name=name, network='net', project='demo', ip=ip, mac='52:54:00:00:00:%02x' % int(ip.split('.')[-1]),
                hostname=name, security_groups=list(groups), server=server)


# -- defining filters ------------------------------------------------------------------------------

def test_ensure_base_filters_defines_the_missing_or_different_ones_only():
    conn = FakeConn()
    h = on(conn)
    assert ensure_base_filters(h) is True
    assert sorted(conn.filters) == sorted(name for name, _xml in base_filters())
    uuids = {name: entry[0] for name, entry in conn.filters.items()}
    assert ensure_base_filters(h) is False
    name = 'kvmcloud-no-ip-spoofing'
    conn.filters[name] = (uuids[name], conn.filters[name][1].replace("priority=\"1000\"", "priority=\"900\""))
    conn.defines = []
    assert ensure_base_filters(h, check_mode=True) is True
    assert conn.defines == []
    assert ensure_base_filters(h) is True
    assert conn.defines == [name]
    assert {n: entry[0] for n, entry in conn.filters.items()} == uuids, 'redefined filters keep their uuid'
    assert same_filter(conn.nwfilterLookupByName(name).XMLDesc(), dict(base_filters())[name])


def test_read_groups_reads_every_group_filter():
    h = on(FakeConn())
    ensure_base_filters(h)
    web = rules_from_params('web', RULES)
    define_filter(h, group_filter_xml('web', web))
    define_filter(h, group_filter_xml(DEFAULT_GROUP, DEFAULT_RULES))
    assert read_groups(h) == {'web': web, DEFAULT_GROUP: DEFAULT_RULES}


# -- the module's run --------------------------------------------------------------------------------

class FakeModule:
    """What run_security_group uses of CloudModule, over fake hypervisors."""

    def __init__(self, conns, check_mode=False, **params):
        self.params = dict(name='web', state='present', rules=None, hypervisors=None)
        self.params.update(params)
        self.check_mode = check_mode
        self.cloud = CloudDefinition(hypervisors=[Hypervisor(name=name, uri='fake://%s' % name) for name in conns])
        by_uri = {'fake://%s' % name: conn for name, conn in conns.items()}
        self.connections = Connections(self.cloud.hypervisors, opener=lambda hv: virt.Hypervisor(hv, by_uri[hv.uri]))


def run(conns, check_mode=False, **params):
    return run_security_group(FakeModule(conns, check_mode=check_mode, **params))


def snapshot(conns):
    return {name: dict(conn.filters) for name, conn in conns.items()}


WEB = [dict(protocol='tcp', port_range_min=80), dict(protocol='icmp', remote_group='web'), dict(direction='egress')]


@pytest.fixture
def conns(fake_ports):
    return {'hv1': FakeConn(), 'hv2': FakeConn()}


def test_check_apply_check_apply(conns):
    first = run(conns, check_mode=True, rules=WEB)
    assert first['changed'] is True
    assert snapshot(conns) == {'hv1': {}, 'hv2': {}}, 'check mode changes nothing'
    want = rules_from_params('web', WEB)
    assert [g['rules'] for g in first['security_groups']] == [want, want]
    assert first['diff']['after']['hv1']['rules'] == want and first['diff']['before']['hv1'] == {}

    second = run(conns, rules=WEB)
    assert second['changed'] is True
    for conn in conns.values():
        assert parse_group_filter(conn.nwfilterLookupByName('kvmcloud-sg-web').XMLDesc()) == ('web', want)
        assert set(name for name, _xml in base_filters()) < set(conn.filters)
        assert conn.sync_calls == [{'web': want}]
    assert sorted(g['hypervisor'] for g in second['security_groups']) == ['hv1', 'hv2']
    for group in second['security_groups']:
        assert group['name'] == 'web' and group['rules'] == want and group['unmanaged'] == []
        assert group['uuid'] == conns[group['hypervisor']].filters['kvmcloud-sg-web'][0]
    assert {key for group in second['security_groups'] for key in group} == {
        'hypervisor', 'name', 'rules', 'unmanaged', 'uuid'}

    third = run(conns, check_mode=True, rules=list(reversed(WEB)))
    assert third['changed'] is False
    before = snapshot(conns)
    fourth = run(conns, rules=WEB)
    assert fourth['changed'] is False
    assert snapshot(conns) == before


def test_rules_are_replaced_declaratively(conns):
    run(conns, rules=WEB)
    uuids = {name: conn.filters['kvmcloud-sg-web'][0] for name, conn in conns.items()}
    new = [dict(protocol='tcp', port_range_min=443), dict(direction='egress')]
    predicted = run(conns, check_mode=True, rules=new)
    changed = run(conns, rules=new)
    assert predicted['changed'] is changed['changed'] is True
    assert predicted['diff'] == changed['diff']
    assert changed['diff']['before']['hv1'] == {'rules': rules_from_params('web', WEB)}
    assert changed['diff']['after']['hv1'] == {'rules': rules_from_params('web', new)}
    for name, conn in conns.items():
        assert read_groups(on(conn, name)) == {'web': rules_from_params('web', new)}
        assert conn.filters['kvmcloud-sg-web'][0] == uuids[name]
    assert run(conns, rules=new)['changed'] is False


def test_rules_not_set_keep_an_existing_group_and_create_an_empty_one(conns):
    created = run(conns, check_mode=True)
    assert created['changed'] is True and created['security_groups'][0]['rules'] == []
    run(conns)
    assert read_groups(on(conns['hv1'])) == {'web': []}
    run(conns, rules=WEB)
    assert run(conns)['changed'] is False
    assert read_groups(on(conns['hv1'])) == {'web': rules_from_params('web', WEB)}
    assert run(conns, rules=[])['changed'] is True
    assert read_groups(on(conns['hv1'])) == {'web': []}


def test_a_hand_edit_is_reported_and_removed(conns):
    run(conns, rules=WEB)
    uuid, xml = conns['hv1'].filters['kvmcloud-sg-web']
    conns['hv1'].filters['kvmcloud-sg-web'] = (uuid, xml.replace(
        '</filter>', '<rule action="accept" direction="in" priority="500"><tcp dstportstart="25" /></rule></filter>'))
    check = run(conns, check_mode=True, rules=WEB)
    assert check['changed'] is True and list(check['diff']['before']) == ['hv1']
    assert len(check['diff']['before']['hv1']['unmanaged']) == 1
    assert run(conns, rules=WEB)['changed'] is True
    assert read_group_filter(conns['hv1'].filters['kvmcloud-sg-web'][1])[2] == []
    assert run(conns)['changed'] is False


def test_unknown_remote_group_fails_and_changes_nothing(conns):
    run(conns, name='bastion', rules=[dict(direction='egress')], hypervisors=['hv2'])
    before = snapshot(conns)
    with pytest.raises(KvmcloudError) as err:
        run(conns, rules=[dict(protocol='tcp', port_range_min=22, remote_group='bastion')])
    assert 'unknown remote group bastion on hypervisor hv1' in err.value.msg
    assert err.value.details['failed_hypervisors'] == ['hv1']
    assert snapshot(conns) == before
    with pytest.raises(KvmcloudError) as err:
        run(conns, check_mode=True, rules=[dict(remote_group='nope'), dict(remote_group='also-not')])
    assert 'also-not, nope' in err.value.msg and 'hv1' in err.value.msg and 'hv2' in err.value.msg
    assert snapshot(conns) == before


def test_the_group_itself_and_default_are_known_remote_groups(conns):
    result = run(conns, rules=[dict(remote_group='web'), dict(remote_group='default')])
    assert result['changed'] is True
    assert 'kvmcloud-sg-default' not in conns['hv1'].filters


def test_invalid_rules_fail_before_any_hypervisor_is_reached(fake_ports):
    conns = {'hv1': FakeConn()}
    with pytest.raises(ValidationError, match=r"rules\[1\]: ethertype IPv6"):
        run(conns, rules=[dict(), dict(ethertype='IPv6')])
    with pytest.raises(ValidationError, match='invalid security group name'):
        run(conns, name='no good', rules=[])
    assert conns['hv1'].filters == {}


def test_members_exist_before_the_group_uses_them_and_stay_until_it_no_longer_does(fake_ports):
    conn = FakeConn()
    conns = {'hv1': conn}
    run(conns, name='bastion', rules=[dict(direction='egress')])
    run(conns, rules=[dict(direction='egress')])
    conn.ports = [port('a', '10.0.0.11', ['web']), port('b', '10.0.0.12', ['bastion'])]
    fake_ports.sync_port_filters(on(conn), read_groups(on(conn)))
    # A new remote group: the port filters pass its members before the group filter uses them
    # (the fake refuses the other order, like libvirt with a running guest).
    run(conns, rules=[dict(protocol='tcp', port_range_min=22, remote_group='bastion')])
    port_a = parse_port_filter(conn.filters['kvmcloud-port-a'][1])
    assert port_a['parameters'] == {'web': {'bastion': ['10.0.0.12']}}
    # Dropping it: the group filter changes before the members leave the port filters.
    run(conns, rules=[dict(direction='egress')])
    assert parse_port_filter(conn.filters['kvmcloud-port-a'][1])['parameters'] == {'web': {}}
    assert conn.sync_calls[-1]['web'] == rules_from_params('web', [dict(direction='egress')])
    # Both at once.
    run(conns, rules=[dict(remote_group='bastion')])
    run(conns, rules=[dict(remote_group='web')])
    assert parse_port_filter(conn.filters['kvmcloud-port-a'][1])['parameters'] == {'web': {'web': ['10.0.0.11']}}


def test_absent_is_refused_while_a_port_uses_the_group(conns):
    run(conns, rules=WEB)
    conns['hv2'].ports = [port('p1', '10.0.0.5', ['web'], server='vm1'), port('p2', '10.0.0.6', ['web'])]
    before = snapshot(conns)
    with pytest.raises(KvmcloudError) as err:
        run(conns, state='absent')
    assert "security group 'web' is in use on hypervisor hv2 by port p1 (server vm1), port p2" in err.value.msg
    assert snapshot(conns) == before, 'refused on hv2, so not removed on hv1 either'
    with pytest.raises(KvmcloudError):
        run(conns, check_mode=True, state='absent')


def test_absent_is_refused_while_another_group_references_it(conns):
    run(conns, rules=WEB)
    run(conns, name='db', rules=[dict(protocol='tcp', port_range_min=5432, remote_group='web')], hypervisors=['hv1'])
    before = snapshot(conns)
    with pytest.raises(KvmcloudError) as err:
        run(conns, state='absent')
    assert "in use on hypervisor hv1 by security group 'db'" in err.value.msg
    assert snapshot(conns) == before
    # Referencing itself does not count.
    run(conns, name='db', state='absent')
    assert run(conns, state='absent')['changed'] is True


def test_absent_removes_everywhere(conns):
    run(conns, rules=WEB)
    predicted = run(conns, check_mode=True, state='absent')
    assert predicted['changed'] is True and 'kvmcloud-sg-web' in conns['hv1'].filters
    gone = run(conns, state='absent')
    assert gone['changed'] is True
    assert gone['diff']['before']['hv1']['rules'] == rules_from_params('web', WEB)
    assert gone['security_groups'] == [{'hypervisor': 'hv1'}, {'hypervisor': 'hv2'}]
    for conn in conns.values():
        assert 'kvmcloud-sg-web' not in conn.filters
    assert run(conns, state='absent')['changed'] is False


def test_only_the_named_hypervisors(conns):
    result = run(conns, rules=WEB, hypervisors=['hv2'])
    assert [g['hypervisor'] for g in result['security_groups']] == ['hv2']
    assert conns['hv1'].filters == {}
