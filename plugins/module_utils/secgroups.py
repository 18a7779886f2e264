# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups on libvirt's nwfilter, like Neutron's.

A group is the filter ``kvmcloud-sg-<group>`` on each hypervisor: one ``accept`` rule per
group rule (:func:`group_filter_xml`, read back by :func:`parse_group_filter`). Every port has
its own filter ``kvmcloud-port-<port>`` (:func:`port_filter_xml`): the collection's
anti-spoofing filter with the port's IP and MAC, DHCP, a reference to each of the port's groups,
and a final drop. A rule whose remote is a group H matches the member variable of H
(:func:`member_variable`), a list of the IPs of H's members that the port filter passes to the
group filter; nwfilter instantiates the rule once per value. A group without members gets the
one value :data:`NO_MEMBERS`, an address no packet comes from, since libvirt refuses to start a
guest whose filter uses an undefined variable.

The anti-spoofing filters are the collection's own (:func:`base_filters`): libvirt's stock
filters may be missing on a host. nwfilter XML has no place for free text, so groups have no
description.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils import ipam, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError, call, delete, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_or_fail, reconcile_on_hypervisors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import Resource

FILTER_PREFIX = 'kvmcloud-'
GROUP_PREFIX = FILTER_PREFIX + 'sg-'
PORT_PREFIX = FILTER_PREFIX + 'port-'
CLEAN_TRAFFIC = FILTER_PREFIX + 'clean-traffic'

DEFAULT_GROUP = 'default'
# The member list of a group without members: a source address no packet can have.
NO_MEMBERS = '255.255.255.255'
MEMBER_VARIABLE_PREFIX = 'KVMCLOUD_SG_'

DIRECTIONS = ('egress', 'ingress')
ETHERTYPES = ('IPv4', 'IPv6')
PROTOCOLS = ('any', 'icmp', 'tcp', 'udp')
RULE_KEYS = ('direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max',
             'remote_ip_prefix', 'remote_group')

# Egress to anywhere, ingress from the group's own members: Neutron's default group.
DEFAULT_RULES = [
    dict(direction='egress', ethertype='IPv4', protocol='any', port_range_min=None, port_range_max=None,
         remote_ip_prefix=None, remote_group=None),
    dict(direction='ingress', ethertype='IPv4', protocol='any', port_range_min=None, port_range_max=None,
         remote_ip_prefix=None, remote_group=DEFAULT_GROUP),
]

GROUP_NAME_MAX = 64
_GROUP_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')

# Priorities of the rules in the filters the collection writes: lower runs first.
DHCP_PRIORITY = 100
RULE_PRIORITY = 500
DROP_PRIORITY = 1000

_NWFILTER_DIRECTION = {'ingress': 'in', 'egress': 'out'}
_NWFILTER_PROTOCOL = {'any': 'all', 'icmp': 'icmp', 'tcp': 'tcp', 'udp': 'udp'}
_PORT_PROTOCOLS = ('tcp', 'udp')
_IPV4_ONLY = ('networks are IPv4-only and the anti-spoofing filter of every port drops IPv6 traffic, '
              'so IPv6 rules are not supported')


# --- names ---------------------------------------------------------------------------------------

def validate_group_name(name):
    """Refuse a name that cannot be part of a libvirt nwfilter name (and its file name)."""
    if not isinstance(name, str) or not name or len(name) > GROUP_NAME_MAX or not _GROUP_NAME_RE.match(name):
        raise ValidationError(
            'invalid security group name %r: use 1 to %d characters, ASCII letters, digits, ".", "_" and "-", '
            'starting with a letter or digit (the name becomes part of a libvirt nwfilter name, %s<name>)'
            % (name, GROUP_NAME_MAX, GROUP_PREFIX))
    return name


def group_filter_name(group):
    return GROUP_PREFIX + group


def port_filter_name(port):
    return PORT_PREFIX + port


def member_variable(group):
    """The nwfilter variable holding the member IPs of ``group``: reversible, since variable
    names allow only letters, digits and ``_``."""
    return MEMBER_VARIABLE_PREFIX + group.encode('utf-8').hex()


def group_of_variable(variable):
    """The group whose member variable is ``variable``, or None for any other variable."""
    if not variable.startswith(MEMBER_VARIABLE_PREFIX):
        return None
    try:
        return bytes.fromhex(variable[len(MEMBER_VARIABLE_PREFIX):]).decode('utf-8')
    except ValueError:
        return None


# --- rules ---------------------------------------------------------------------------------------

def _rule_error(group, index, msg):
    return ValidationError("security group '%s', rules[%d]: %s" % (group, index, msg))


def _choice(group, index, rule, key, default, choices):
    value = rule.get(key)
    if value is None:
        return default
    if value not in choices:
        raise _rule_error(group, index, 'unknown %s %r; use one of %s' % (key, value, ', '.join(choices)))
    return value


def _port(group, index, rule, key):
    value = rule.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _rule_error(group, index, '%s must be a port number from 1 to 65535, got %r' % (key, rule.get(key)))
    return value


def _remote_ip_prefix(group, index, value):
    if value is None:
        return None
    ipam.require_netaddr()
    try:
        network = ipam.netaddr.IPNetwork(str(value).strip())
    except (ipam.netaddr.AddrFormatError, ValueError, TypeError):
        raise _rule_error(group, index, 'remote_ip_prefix %r is not an IPv4 address or CIDR' % (value,))
    if network.version != 4:
        raise _rule_error(group, index, 'remote_ip_prefix %s is IPv6: %s' % (value, _IPV4_ONLY))
    cidr = str(network.cidr)
    # Every address: the same as no prefix at all.
    return None if cidr == '0.0.0.0/0' else cidr


def _normal_rule(group, index, rule):
    if not isinstance(rule, dict):
        raise _rule_error(group, index, 'a rule is a dict, got %r' % (rule,))
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise _rule_error(group, index, 'unknown key%s %s; a rule has %s' % (
            's' if len(unknown) > 1 else '', ', '.join(map(str, unknown)), ', '.join(RULE_KEYS)))
    direction = _choice(group, index, rule, 'direction', 'ingress', DIRECTIONS)
    ethertype = _choice(group, index, rule, 'ethertype', 'IPv4', ETHERTYPES)
    if ethertype != 'IPv4':
        raise _rule_error(group, index, 'ethertype %s: %s' % (ethertype, _IPV4_ONLY))
    protocol = _choice(group, index, rule, 'protocol', 'any', PROTOCOLS)
    port_min = _port(group, index, rule, 'port_range_min')
    port_max = _port(group, index, rule, 'port_range_max')
    if port_min is not None or port_max is not None:
        if protocol not in _PORT_PROTOCOLS:
            raise _rule_error(group, index, 'port_range_min and port_range_max apply to protocols tcp and udp '
                                            'only, not %s' % protocol)
        if port_min is None:
            raise _rule_error(group, index, 'port_range_max needs port_range_min')
        if port_max is None:
            port_max = port_min
        if port_min > port_max:
            raise _rule_error(group, index, 'port_range_min %d is greater than port_range_max %d'
                              % (port_min, port_max))
    remote_ip_prefix = rule.get('remote_ip_prefix')
    remote_group = rule.get('remote_group')
    if remote_ip_prefix is not None and remote_group is not None:
        raise _rule_error(group, index, 'remote_ip_prefix and remote_group are mutually exclusive')
    if remote_group is not None:
        try:
            validate_group_name(remote_group)
        except ValidationError as err:
            raise _rule_error(group, index, 'remote_group: %s' % err.msg)
    return dict(direction=direction, ethertype=ethertype, protocol=protocol, port_range_min=port_min,
                port_range_max=port_max, remote_ip_prefix=_remote_ip_prefix(group, index, remote_ip_prefix),
                remote_group=remote_group)


def _rule_key(rule):
    # None sorts first in every field.
    return tuple((rule[key] is not None, rule[key]) for key in RULE_KEYS)


def sorted_rules(rules):
    """Rules without duplicates, in a stable order."""
    unique = {_rule_key(rule): rule for rule in rules}
    return [dict(unique[key]) for key in sorted(unique)]


def rules_from_params(group, rules):
    """Validate a group's rules as the module takes them; return them normalised (every key
    of :data:`RULE_KEYS` set), without duplicates and sorted."""
    validate_group_name(group)
    if rules is None:
        return []
    if not isinstance(rules, (list, tuple)):
        raise ValidationError("security group '%s': rules must be a list, got %r" % (group, rules))
    return sorted_rules(_normal_rule(group, index, rule) for index, rule in enumerate(rules))


def remote_groups(rules):
    """The sorted names of the groups that ``rules`` use as remote."""
    return sorted({rule['remote_group'] for rule in rules if rule.get('remote_group')})


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


def define_filter(conn, hypervisor, xml, check_mode=False):
    """Define the filter ``xml`` unless one with the same name and content exists; a filter
    redefined keeps its uuid (libvirt refuses the same name with another uuid). Returns whether
    it was (or in check mode would be) defined."""
    desc = xmlutil.parse(xml)
    name = desc.get('name')
    existing = lookup(conn.nwfilterLookupByName, name, hypervisor=hypervisor)
    if existing is not None:
        if same_filter(call('XMLDesc', name, existing.XMLDesc, 0, hypervisor=hypervisor), desc):
            return False
        for node in desc.findall('uuid'):
            desc.remove(node)
        desc.insert(0, xmlutil.element('uuid', existing.UUIDString()))
        xml = xmlutil.tostring(desc)
    if not check_mode:
        call('define nwfilter', name, conn.nwfilterDefineXML, xml, hypervisor=hypervisor)
    return True


def ensure_base_filters(conn, hypervisor, check_mode=False):
    """Define every anti-spoofing filter that is missing or different; whether any was."""
    changed = False
    for _name, xml in base_filters():
        changed = define_filter(conn, hypervisor, xml, check_mode=check_mode) or changed
    return changed


# --- groups on a hypervisor ----------------------------------------------------------------------

def _group_filters(conn, hypervisor):
    filters = call('list nwfilters', hypervisor, conn.listAllNWFilters, 0, hypervisor=hypervisor)
    return [f for f in filters if f.name().startswith(GROUP_PREFIX)]


def read_groups(conn, hypervisor):
    """``{group: rules}`` of every group filter on a hypervisor."""
    groups = {}
    for nwfilter in _group_filters(conn, hypervisor):
        group, rules = parse_group_filter(call('XMLDesc', nwfilter.name(), nwfilter.XMLDesc, 0,
                                               hypervisor=hypervisor))
        groups[group] = rules
    return groups


def _plural(items, one, many):
    return one if len(items) == 1 else many


def check_remote_groups(group, rules, existing, hypervisor):
    """Refuse rules whose remote group is not the group itself, ``default`` or a group of
    ``existing`` (the groups of a hypervisor)."""
    unknown = [name for name in remote_groups(rules) if name not in (group, DEFAULT_GROUP) and name not in existing]
    if unknown:
        raise ValidationError(
            "security group '%s': unknown remote group%s %s on hypervisor %s; define %s first"
            % (group, _plural(unknown, '', 's'), ', '.join(unknown), hypervisor, _plural(unknown, 'it', 'them')))


def check_unused(group, groups, ports, hypervisor):
    """Refuse removing ``group`` while a port uses it or another group's rule references it."""
    users = ['port %s%s' % (port['name'], ' (server %s)' % port['server'] if port.get('server') else '')
             for port in ports if group in (port.get('security_groups') or [])]
    users += ["security group '%s'" % name for name, rules in sorted(groups.items())
              if name != group and group in remote_groups(rules)]
    if users:
        raise ValidationError("security group '%s' is in use on hypervisor %s by %s; remove it from %s first"
                              % (group, hypervisor, ', '.join(users), _plural(users, 'it', 'them')))


class SecurityGroup(Resource):
    """One security group on one hypervisor."""

    set_fields = ('rules', 'unmanaged')

    def __init__(self, conn, hypervisor, name, rules):
        self.conn = conn
        self.hypervisor = hypervisor
        self.name = name
        # None: keep the rules of an existing group; a new one gets none.
        self.rules = rules
        self._exists = None

    def find(self):
        raw = lookup(self.conn.nwfilterLookupByName, group_filter_name(self.name), hypervisor=self.hypervisor)
        if self._exists is None:
            self._exists = raw is not None
        return raw

    def _xml(self, raw):
        return call('XMLDesc', group_filter_name(self.name), raw.XMLDesc, 0, hypervisor=self.hypervisor)

    def normalise(self, raw):
        _group, rules, unmanaged = read_group_filter(self._xml(raw))
        return dict(name=self.name, rules=rules, unmanaged=unmanaged)

    def desired(self):
        rules = self.rules if self.rules is not None or self._exists else []
        return dict(name=self.name, rules=rules, unmanaged=[])

    def describe(self, raw):
        return dict(self.normalise(raw), uuid=raw.UUIDString())

    def create(self, desired):
        self._define(None, [], desired.get('rules') or [])

    def update(self, raw, the_plan):
        old = parse_group_filter(self._xml(raw))[1]
        self._define(raw.UUIDString(), old, self.rules if self.rules is not None else old)

    def _define(self, uuid, old, rules):
        """Base filters first, then the port filters with the member variables the group's new
        rules need, then the group: libvirt applies each define to running guests at once and
        refuses a filter that uses a variable its port filter does not pass."""
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports

        ensure_base_filters(self.conn, self.hypervisor)
        groups = read_groups(self.conn, self.hypervisor)
        groups[self.name] = rules
        if set(remote_groups(old)) - set(remote_groups(rules)):
            # The old filter stays in place until it is redefined: keep its variables until then.
            ports.sync_port_filters(self.conn, self.hypervisor, dict(groups, **{self.name: sorted_rules(old + rules)}))
            self._define_group(uuid, rules)
            ports.sync_port_filters(self.conn, self.hypervisor, groups)
            return
        ports.sync_port_filters(self.conn, self.hypervisor, groups)
        self._define_group(uuid, rules)

    def _define_group(self, uuid, rules):
        call('define nwfilter', group_filter_name(self.name), self.conn.nwfilterDefineXML,
             group_filter_xml(self.name, rules, uuid), hypervisor=self.hypervisor)

    def delete(self, raw):
        delete(raw.undefine, what=group_filter_name(self.name), operation='undefine', hypervisor=self.hypervisor)


def _selected(cm):
    names = cm.params.get('hypervisors')
    return cm.cloud.select_hypervisors(names, enabled_only=not names)


def _check_before_change(cm, name, rules):
    """On every selected hypervisor, before any change: remote groups exist (present), or no
    port or other group uses the group (absent)."""
    from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports

    def check(hv, conn):
        groups = read_groups(conn, hv.name)
        if cm.params['state'] == 'absent':
            if name in groups:
                check_unused(name, groups, ports.read_ports(conn, hv.name), hv.name)
        elif rules:
            check_remote_groups(name, rules, groups, hv.name)

    map_or_fail(cm, check, _selected(cm), "security group '%s'" % name)


def run_security_group(cm):
    """The ``security_group`` module: validate, refuse unknown remote groups or removing a group
    in use on any hypervisor, then reconcile the group on each."""
    params = cm.params
    name = validate_group_name(params['name'])
    rules = None
    if params['state'] == 'present' and params.get('rules') is not None:
        rules = rules_from_params(name, params['rules'])
    _check_before_change(cm, name, rules)
    return reconcile_on_hypervisors(cm, lambda conn, hv: SecurityGroup(conn, hv.name, name, rules),
                                    result_key='security_groups')
