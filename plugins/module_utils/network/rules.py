# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups' names and rules, like Neutron's: pure functions.

A group is the nwfilter ``kvmcloud-sg-<group>`` on each hypervisor and every port has its own
filter ``kvmcloud-port-<port>`` (see :mod:`.filterxml`). A rule whose remote is a group H
matches the member variable of H (:func:`member_variable`), a list of the IPs of H's members
that the port filter passes to the group filter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam

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

# Priorities of the rules in the filters the collection writes: lower runs first.
DHCP_PRIORITY = 100
RULE_PRIORITY = 500
DROP_PRIORITY = 1000

_PORT_PROTOCOLS = ('tcp', 'udp')
_IPV4_ONLY = ('networks are IPv4-only and the anti-spoofing filter of every port drops IPv6 traffic, '
              'so IPv6 rules are not supported')


# --- names ---------------------------------------------------------------------------------------

def validate_group_name(name):
    """Refuse a name that cannot be part of a libvirt nwfilter name (and its file name): the
    collection's one rule for resource names."""
    try:
        return names.resource_name('security group', name)
    except ValidationError as err:
        raise ValidationError('%s; the name becomes part of a libvirt nwfilter name, %s<name>' % (err.msg, GROUP_PREFIX))


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
