# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nwfilters of a hypervisor: the security groups there, the anti-spoofing filters, and the
filter of each port, kept in line with the ports and groups (libvirt re-applies a redefined
filter to running guests at once). Shared by networks, ports and security groups, which is why
it sits below all three."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filterxml import (
    base_filters, group_filter_xml, parse_group_filter, port_filter_xml, same_filter)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import read_ports
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import (
    DEFAULT_GROUP, DEFAULT_RULES, GROUP_PREFIX, PORT_PREFIX, port_filter_name)


def define_filter(h, xml, check_mode=False):
    """Define the filter ``xml`` on hypervisor ``h`` unless one with the same name and content
    exists; a filter redefined keeps its uuid (libvirt refuses the same name with another uuid).
    Returns whether it was (or in check mode would be) defined."""
    desc = xmlutil.parse(xml)
    name = desc.get('name')
    existing = h.nwfilter(name)
    if existing is not None:
        if same_filter(existing.XMLDesc(0), desc):
            return False
        for node in desc.findall('uuid'):
            desc.remove(node)
        desc.insert(0, xmlutil.element('uuid', existing.UUIDString()))
        xml = xmlutil.tostring(desc)
    if not check_mode:
        h.about(name).nwfilterDefineXML(xml)
    return True


def ensure_base_filters(h, check_mode=False):
    """Define every anti-spoofing filter that is missing or different; whether any was."""
    changed = False
    for _name, xml in base_filters():
        changed = define_filter(h, xml, check_mode=check_mode) or changed
    return changed


def read_groups(h):
    """``{group: rules}`` of every group filter on hypervisor ``h``."""
    groups = {}
    for nwfilter in h.listAllNWFilters(0):
        if nwfilter.name().startswith(GROUP_PREFIX):
            group, rules = parse_group_filter(nwfilter.XMLDesc(0))
            groups[group] = rules
    return groups


def group_names(h):
    """Names of the security groups defined on hypervisor ``h`` (from the filters' names only)."""
    return frozenset(f.name()[len(GROUP_PREFIX):] for f in h.listAllNWFilters(0) if f.name().startswith(GROUP_PREFIX))


def missing_groups_error(h_name, unknown):
    """The error for security groups ``unknown`` that hypervisor ``h_name`` does not define."""
    return ValidationError('unknown security group%s %s on hypervisor %s; define %s with the '
                           'security_group module first'
                           % ('s' if len(unknown) > 1 else '', ', '.join(unknown), h_name,
                              'them' if len(unknown) > 1 else 'it'))


def secured(record):
    """Whether a port has port security (anti-spoofing and its groups); records written before
    the option existed have it."""
    return record.get('port_security', True) is not False


def filter_name(record):
    """The nwfilter of a port, or None for a port without port security."""
    return port_filter_name(record['name']) if secured(record) else None


def desired_port_filters(ports, groups):
    """``{filter name: xml}`` every port needs, given all ``ports`` and ``{group: rules}``."""
    members = {}
    for port in ports:
        for group in port.get('security_groups') or []:
            members.setdefault(group, []).append(port['ip'])
    return {port_filter_name(p['name']): port_filter_xml(
        p['name'], p['ip'], p['mac'], p.get('security_groups') or [], groups, members) for p in ports if secured(p)}


def sync_port_filters(h, groups=None, ports=None):
    """Make every ``kvmcloud-port-*`` filter of hypervisor ``h`` match its port: define the
    missing or different ones and undefine those of ports that no longer exist. ``groups`` is
    ``{group: rules}`` as it will be after the caller's change (default: as it is now).
    Returns the names of the filters changed."""
    ports = read_ports(h) if ports is None else ports
    groups = read_groups(h) if groups is None else groups
    wanted = desired_port_filters(ports, groups)
    changed = [name for name in sorted(wanted) if define_filter(h, wanted[name])]
    for nwfilter in h.listAllNWFilters(0):
        name = nwfilter.name()
        if name.startswith(PORT_PREFIX) and name not in wanted:
            nwfilter.undefine()
            changed.append(name)
    return changed


def filter_matches(h, port, groups, ports):
    """Whether the port's filter is what :func:`sync_port_filters` would make it (none at all
    for a port without port security)."""
    name = port_filter_name(port['name'])
    existing = h.nwfilter(name)
    wanted = desired_port_filters(ports, groups).get(name) if secured(port) else None
    if existing is None or wanted is None:
        return existing is None and wanted is None
    return same_filter(existing.XMLDesc(0), wanted)


def ensure_groups(h, names, check_mode=False):
    """``{group: rules}`` of hypervisor ``h`` after making sure every group in ``names`` exists:
    ``default`` is created with its standard rules when missing (not in check mode); any other
    missing group is an error."""
    groups = read_groups(h)
    missing = sorted(set(names) - set(groups))
    unknown = [g for g in missing if g != DEFAULT_GROUP]
    if unknown:
        raise missing_groups_error(h.name, unknown)
    if missing:
        groups[DEFAULT_GROUP] = list(DEFAULT_RULES)
        if not check_mode:
            ensure_base_filters(h)
            define_filter(h, group_filter_xml(DEFAULT_GROUP, DEFAULT_RULES))
    return groups
