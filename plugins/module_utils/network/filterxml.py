# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nwfilter XML of security groups and ports: pure functions.

A group is the filter ``kvmcloud-sg-<group>``: one ``accept`` rule per group rule
(:func:`group_filter_xml`, read back by :func:`parse_group_filter`). Every port has its own
filter ``kvmcloud-port-<port>`` (:func:`port_filter_xml`): the collection's anti-spoofing filter
with the port's IP and MAC, DHCP, a reference to each of the port's groups, and a final drop.
nwfilter instantiates a rule with a remote group once per value of that group's member variable;
a group without members gets the one value :data:`~.rules.NO_MEMBERS`, an address no packet
comes from, since libvirt refuses to start a guest whose filter uses an undefined variable.

The anti-spoofing filters are the collection's own (:func:`base_filters`): libvirt's stock
filters may be missing on a host. nwfilter XML has no place for free text, so groups have no
description.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import (
    CLEAN_TRAFFIC, DHCP_PRIORITY, DROP_PRIORITY, FILTER_PREFIX, GROUP_PREFIX, NO_MEMBERS, PORT_PREFIX, RULE_PRIORITY,
    group_filter_name, group_of_variable, member_variable, port_filter_name, remote_groups, sorted_rules)

_NWFILTER_DIRECTION = {'ingress': 'in', 'egress': 'out'}
_NWFILTER_PROTOCOL = {'any': 'all', 'icmp': 'icmp', 'tcp': 'tcp', 'udp': 'udp'}


# --- XML -----------------------------------------------------------------------------------------

def _filter_element(name, uuid=None, chain='root', priority=None):
    desc = xmlutil.element('filter', name=name, chain=chain, priority=priority)
    if uuid:
        xmlutil.sub(desc, 'uuid', uuid)
    return desc


def _rule(parent, action, direction, priority, match=None, attrs=None):
    """A ``<rule>`` with the match element ``match`` (a protocol: ``tcp``, ``mac``...) and its
    ``attrs``; without ``match`` the rule matches every frame of its filter's chain."""
    node = xmlutil.sub(parent, 'rule', action=action, direction=direction, priority=priority)
    if match is not None:
        xmlutil.sub(node, match, **(attrs or {}))
    return node


def _filterref(parent, name, parameters=()):
    ref = xmlutil.sub(parent, 'filterref', filter=name)
    for key, value in parameters:
        xmlutil.sub(ref, 'parameter', name=key, value=value)
    return ref


def _rule_attributes(rule):
    side = 'src' if rule['direction'] == 'ingress' else 'dst'
    attrs = {}
    if rule['remote_group']:
        attrs[side + 'ipaddr'] = '$' + member_variable(rule['remote_group'])
    elif rule['remote_ip_prefix']:
        address, prefix = rule['remote_ip_prefix'].split('/')
        attrs.update({side + 'ipaddr': address, side + 'ipmask': prefix})
    if rule['port_range_min'] is not None:
        attrs.update(dstportstart=rule['port_range_min'], dstportend=rule['port_range_max'])
    return attrs


def _rule_element(parent, rule):
    return _rule(parent, 'accept', _NWFILTER_DIRECTION[rule['direction']], RULE_PRIORITY,
                 _NWFILTER_PROTOCOL[rule['protocol']], _rule_attributes(rule))


def group_filter_xml(group, rules, uuid=None):
    """The nwfilter XML of a group with the normalised ``rules``."""
    desc = _filter_element(group_filter_name(group), uuid)
    for rule in sorted_rules(rules):
        _rule_element(desc, rule)
    return xmlutil.tostring(desc)


def _content(node):
    """A comparable form of an element: tag, attributes, text and children, in order."""
    return (node.tag, tuple(sorted(node.attrib.items())), (node.text or '').strip(),
            tuple(_content(child) for child in node))


def filter_content(xml):
    """A comparable form of a filter's XML without its uuid: two filters with the same
    content do the same."""
    desc = xmlutil.parse(xml) if isinstance(xml, (str, bytes)) else xml
    return (desc.tag, tuple(sorted(desc.attrib.items())),
            tuple(_content(child) for child in desc if child.tag != 'uuid'))


def same_filter(xml, other):
    """Whether two filters' XML have the same content (their uuids aside)."""
    return filter_content(xml) == filter_content(other)


def _rule_from_element(node):
    """The normalised rule that an entry of a group filter is, or None when the entry is not
    one the collection writes."""
    directions = {v: k for k, v in _NWFILTER_DIRECTION.items()}
    protocols = {v: k for k, v in _NWFILTER_PROTOCOL.items()}
    children = list(node)
    if node.tag != 'rule' or node.get('direction') not in directions or len(children) != 1 \
            or children[0].tag not in protocols:
        return None
    direction, proto = directions[node.get('direction')], children[0]
    side = 'src' if direction == 'ingress' else 'dst'
    address, mask = proto.get(side + 'ipaddr'), proto.get(side + 'ipmask')
    rule = dict(direction=direction, ethertype='IPv4', protocol=protocols[proto.tag], port_range_min=None,
                port_range_max=None, remote_ip_prefix=None, remote_group=None)
    try:
        if address and address.startswith('$'):
            rule['remote_group'] = group_of_variable(address[1:])
        elif address:
            ipam.require_netaddr()
            rule['remote_ip_prefix'] = str(ipam.netaddr.IPNetwork('%s/%s' % (address, mask or 32)).cidr)
        if proto.get('dstportstart') is not None:
            rule['port_range_min'] = int(proto.get('dstportstart'))
            rule['port_range_max'] = int(proto.get('dstportend', proto.get('dstportstart')))
    except (ipam.netaddr.AddrFormatError, ValueError, TypeError):
        return None
    # It is one of the collection's rules when rendering it gives the entry back exactly.
    probe = xmlutil.element('filter')
    _rule_element(probe, rule)
    return rule if _content(probe[0]) == _content(node) else None


def read_group_filter(xml):
    """``(group, rules, unmanaged)`` of a group filter's XML; ``unmanaged`` lists, as XML, the
    entries that are not rules the collection writes (hand edits a run removes)."""
    desc = xmlutil.parse(xml)
    name = desc.get('name', '')
    group = name[len(GROUP_PREFIX):] if name.startswith(GROUP_PREFIX) else name
    rules, unmanaged = [], []
    if desc.get('chain', 'root') != 'root' or desc.get('priority') is not None:
        unmanaged.append(xmlutil.tostring(xmlutil.element('filter', chain=desc.get('chain'),
                                                          priority=desc.get('priority'))))
    for node in desc:
        if node.tag == 'uuid':
            continue
        rule = _rule_from_element(node)
        if rule is None:
            unmanaged.append(xmlutil.tostring(node).strip())
        else:
            rules.append(rule)
    return group, sorted_rules(rules), unmanaged


def parse_group_filter(xml):
    """``(group, rules)`` of a group filter's XML (see :func:`group_filter_xml`)."""
    group, rules, _unmanaged = read_group_filter(xml)
    return group, rules


def _ip_key(ip):
    try:
        return (0, int(ipam.netaddr.IPAddress(ip))) if ipam.netaddr is not None else (1, ip)
    except (ipam.netaddr.AddrFormatError, ValueError, TypeError):
        return (1, ip)


def member_values(ips):
    """The values of a member variable for a group with members ``ips``: sorted, without
    duplicates, and :data:`NO_MEMBERS` when there are none."""
    return sorted({ip for ip in ips or () if ip}, key=_ip_key) or [NO_MEMBERS]


def _dhcp_rules(parent):
    # DHCP between the port's client (port 68) and libvirt's dnsmasq (port 67), which is not
    # behind a port. A port never answers as a DHCP server, whatever its groups allow: else
    # another port's guest would take its answers through the second rule.
    _rule(parent, 'accept', 'out', DHCP_PRIORITY, 'udp',
          dict(srcportstart=68, srcportend=68, dstportstart=67, dstportend=67))
    _rule(parent, 'accept', 'in', DHCP_PRIORITY, 'udp',
          dict(srcportstart=67, srcportend=67, dstportstart=68, dstportend=68))
    _rule(parent, 'drop', 'out', DHCP_PRIORITY, 'udp',
          dict(srcportstart=67, srcportend=67, dstportstart=68, dstportend=68))


def _drop_rule(parent):
    return _rule(parent, 'drop', 'inout', DROP_PRIORITY, 'all')


def port_filter_xml(port_name, ip, mac, groups, group_rules, members, uuid=None):
    """The filter of a port: anti-spoofing for ``ip`` and ``mac``, DHCP as a client only, the
    port's ``groups`` in order, and a drop of all other IP traffic.

    ``group_rules`` is ``{group: rules}`` for at least the port's groups, ``members``
    ``{group: [ip, ...]}``: each group filter gets the member variables of the remote groups
    its rules use. An empty ``groups`` lets no traffic but DHCP through.
    """
    desc = _filter_element(port_filter_name(port_name), uuid)
    _filterref(desc, CLEAN_TRAFFIC, [('IP', ip), ('MAC', mac)])
    _dhcp_rules(desc)
    seen = set()
    for group in groups:
        if group in seen:
            continue
        seen.add(group)
        if group not in group_rules:
            raise ValidationError("port '%s': security group '%s' is not defined" % (port_name, group))
        # Sorted by variable name, as libvirt writes them back; the byte order of the UTF-8
        # names, so their hex, sorts the same.
        parameters = [(member_variable(remote), value) for remote in remote_groups(group_rules[group])
                      for value in member_values(members.get(remote))]
        _filterref(desc, group_filter_name(group), parameters)
    _drop_rule(desc)
    return xmlutil.tostring(desc)


def parse_port_filter(xml):
    """What a port filter's XML holds: ``name`` (the port), ``ip``, ``mac``, ``groups`` in
    order, ``parameters`` (``{group: {remote group: [values]}}``) and ``unmanaged`` (the entries,
    as XML, that :func:`port_filter_xml` does not write)."""
    desc = xmlutil.parse(xml)
    name = desc.get('name', '')
    expected = xmlutil.element('filter')
    _dhcp_rules(expected)
    _drop_rule(expected)
    ours = [_content(node) for node in expected]
    out = dict(name=name[len(PORT_PREFIX):] if name.startswith(PORT_PREFIX) else name, ip=None, mac=None,
               groups=[], parameters={}, unmanaged=[])
    for node in desc:
        if node.tag == 'uuid':
            continue
        ref = node.get('filter', '') if node.tag == 'filterref' else ''
        params = [(p.get('name'), p.get('value')) for p in node if p.tag == 'parameter']
        if ref == CLEAN_TRAFFIC and out['ip'] is None:
            values = dict(params)
            out.update(ip=values.get('IP'), mac=values.get('MAC'))
        elif ref.startswith(GROUP_PREFIX):
            group = ref[len(GROUP_PREFIX):]
            out['groups'].append(group)
            passed = out['parameters'].setdefault(group, {})
            for key, value in params:
                passed.setdefault(group_of_variable(key) or key, []).append(value)
        elif _content(node) in ours:
            ours.remove(_content(node))
        else:
            out['unmanaged'].append(xmlutil.tostring(node).strip())
    return out


# --- anti-spoofing -------------------------------------------------------------------------------

def base_filters():
    """``[(name, xml)]`` of the collection's anti-spoofing filters, each after the filters it
    references. :data:`CLEAN_TRAFFIC`, last, takes the variables ``IP`` and ``MAC``.

    They are written as libvirt writes them back (``<arp>`` without its default ``match='yes'``,
    the ``ipv4`` chain's default priority spelled out), so that an unchanged filter compares equal.
    """
    out = []

    def add(name, chain, priority, rules, refs=()):
        desc = _filter_element(name, chain=chain, priority=priority)
        for ref in refs:
            _filterref(desc, ref)
        for args in rules:
            _rule(desc, *args)
        out.append((name, xmlutil.tostring(desc)))

    mac, ip = FILTER_PREFIX + 'no-mac-spoofing', FILTER_PREFIX + 'no-ip-spoofing'
    arp_mac, arp_ip = FILTER_PREFIX + 'no-arp-mac-spoofing', FILTER_PREFIX + 'no-arp-ip-spoofing'
    incoming = FILTER_PREFIX + 'allow-incoming-ipv4'
    add(mac, 'mac', -800, [('return', 'out', 500, 'mac', {'srcmacaddr': '$MAC'}),
                           ('drop', 'out', 500, 'mac')])
    add(ip, 'ipv4-ip', -710, [('return', 'out', 100, 'ip', {'srcipaddr': '0.0.0.0', 'protocol': 'udp'}),
                              ('return', 'out', 500, 'ip', {'srcipaddr': '$IP'}),
                              ('drop', 'out', 1000)])
    add(arp_mac, 'arp-mac', -520, [('return', 'out', 350, 'arp', {'arpsrcmacaddr': '$MAC'}),
                                   ('drop', 'out', 1000)])
    add(arp_ip, 'arp-ip', -510, [('return', 'out', 400, 'arp', {'arpsrcipaddr': '$IP'}),
                                 ('drop', 'out', 1000)])
    add(incoming, 'ipv4', -700, [('accept', 'in', 500)])
    add(CLEAN_TRAFFIC, 'root', None,
        [('accept', 'out', -650, 'mac', {'protocolid': 'ipv4'}),
         ('accept', 'inout', -500, 'mac', {'protocolid': 'arp'}),
         ('drop', 'inout', 1000)],
        refs=(mac, ip, incoming, arp_mac, arp_ip))
    return out
