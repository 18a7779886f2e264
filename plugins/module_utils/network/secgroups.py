# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups on libvirt's nwfilter, like Neutron's: the ``security_group`` module.

A group is the same filter on every selected hypervisor (see :mod:`.filterxml`); changing its
rules redefines the port filters that pass it member variables first, so running guests never
see a filter that uses a variable they are not given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import (
    map_or_fail, reconcile_on_hypervisors, selected)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import (
    ensure_base_filters, read_groups, sync_port_filters)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filterxml import (
    group_filter_xml, parse_group_filter, read_group_filter)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import read_ports
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import (
    DEFAULT_GROUP, DIRECTIONS, ETHERTYPES, PROTOCOLS, group_filter_name, remote_groups, rules_from_params, sorted_rules, validate_group_name)


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

    def __init__(self, h, name, rules):
        self.h = h
        self.name = name
        # None: keep the rules of an existing group; a new one gets none.
        self.rules = rules
        self._exists = None

    def find(self):
        raw = self.h.nwfilter(group_filter_name(self.name))
        if self._exists is None:
            self._exists = raw is not None
        return raw

    def normalise(self, raw):
        _group, rules, unmanaged = read_group_filter(raw.XMLDesc(0))
        return dict(name=self.name, rules=rules, unmanaged=unmanaged)

    def desired(self):
        rules = self.rules if self.rules is not None or self._exists else []
        return dict(name=self.name, rules=rules, unmanaged=[])

    def describe(self, raw):
        return dict(self.normalise(raw), uuid=raw.UUIDString())

    def create(self, desired):
        self._define(None, [], desired.get('rules') or [])

    def update(self, raw, the_plan):
        old = parse_group_filter(raw.XMLDesc(0))[1]
        self._define(raw.UUIDString(), old, self.rules if self.rules is not None else old)

    def _define(self, uuid, old, rules):
        """Base filters first, then the port filters with the member variables the group's new
        rules need, then the group: libvirt applies each define to running guests at once and
        refuses a filter that uses a variable its port filter does not pass."""
        ensure_base_filters(self.h)
        groups = read_groups(self.h)
        groups[self.name] = rules
        if set(remote_groups(old)) - set(remote_groups(rules)):
            # The old filter stays in place until it is redefined: keep its variables until then.
            sync_port_filters(self.h, dict(groups, **{self.name: sorted_rules(old + rules)}))
            self._define_group(uuid, rules)
            sync_port_filters(self.h, groups)
            return
        sync_port_filters(self.h, groups)
        self._define_group(uuid, rules)

    def _define_group(self, uuid, rules):
        self.h.about(group_filter_name(self.name)).nwfilterDefineXML(group_filter_xml(self.name, rules, uuid))

    def delete(self, raw):
        raw.discard('undefine')


def _check_before_change(cm, name, rules):
    """On every selected hypervisor, before any change: remote groups exist (present), or no
    port or other group uses the group (absent)."""
    def check(h):
        groups = read_groups(h)
        if cm.params['state'] == 'absent':
            if name in groups:
                check_unused(name, groups, read_ports(h), h.name)
        elif rules:
            check_remote_groups(name, rules, groups, h.name)

    map_or_fail(cm, check, selected(cm), "security group '%s'" % name)


def run_security_group(cm):
    """The ``security_group`` module: validate, refuse unknown remote groups or removing a group
    in use on any hypervisor, then reconcile the group on each."""
    params = cm.params
    name = validate_group_name(params['name'])
    rules = None
    if params['state'] == 'present' and params.get('rules') is not None:
        rules = rules_from_params(name, params['rules'])
    _check_before_change(cm, name, rules)
    return reconcile_on_hypervisors(cm, lambda h: SecurityGroup(h, name, rules), result_key='security_groups')


# The module's options, here so that cloud_plan validates an item the way the module does.
SECURITY_GROUP_ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    rules=dict(type='list', elements='dict', options=dict(
        direction=dict(type='str', choices=list(DIRECTIONS), default='ingress'),
        ethertype=dict(type='str', choices=list(ETHERTYPES), default='IPv4'),
        protocol=dict(type='str', choices=list(PROTOCOLS), default='any'),
        port_range_min=dict(type='int'),
        port_range_max=dict(type='int'),
        remote_ip_prefix=dict(type='str'),
        remote_group=dict(type='str'),
    )),
    hypervisors=dict(type='list', elements='str'),
)
