# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ports: a server's interface on a network, with a MAC address and a fixed IPv4 address (the
``port`` module, and the records the compute engine plans for its servers).

A port exists in its network on every hypervisor that network is defined on: a DHCP
reservation and a record (:mod:`.records`) and a nwfilter (:mod:`.filters`). Its record is
planned once for the whole cloud (:func:`plan_record`), against what every reachable hypervisor
holds (:mod:`.view`), then written on each.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names, quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import (
    allocation_check, apply_on_hypervisors, map_reachable, plan_on_hypervisors, selected, written)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import plan_under_lock
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import DELETE, LIVE, Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import (
    ensure_base_filters, ensure_groups, filter_matches, filter_name, read_groups, secured, sync_port_filters)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import interfaces_on
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import (
    host_of, hosts_of, network_records, persistent_xml, read_ports, write_records)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import DEFAULT_GROUP, validate_group_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.view import NetworkNotFound, gather

# What the port module compares; the rest of a record is set once at creation.
FIELDS = ('mac', 'ip', 'hostname', 'project', 'security_groups', 'port_security', 'server', 'reserved', 'filtered')


def validate_name(name):
    """Port names: they name a nwfilter and may be a DNS host name, so they are kept plain."""
    return names.resource_name('port', name)


def validate_hostname(port, hostname):
    if hostname is not None and not names.is_host_label(hostname):
        raise ValidationError("port '%s': invalid hostname %r: a DNS label of 1 to 63 letters, digits "
                              "and '-', not starting or ending with '-'" % (port, hostname))
    return hostname


def default_hostname(name):
    """The port's name when it is a valid DNS label, else none."""
    return name if names.is_host_label(name) else None


def servers_using(h, network, mac):
    """Names of the domains with an interface on ``network`` with ``mac``, live or in config."""
    return sorted(dom for dom, iface_mac, _filter in interfaces_on(h, network) if iface_mac == mac)


def _owner(record):
    return 'port %s' % record['name']


def plan_record(cloud, view, params, check_quota=True):
    """The record the port should have on every hypervisor of its network (``params`` are the
    module's options). Allocation and MAC choice happen here, once for the whole cloud. The
    compute engine checks the quota of all its ports at once (``check_quota=False``)."""
    name = validate_name(params['name'])
    existing = view.records.get(name)
    other = view.other_ports.get(name)
    if other and other != view.name:
        raise ValidationError("port '%s' already exists on network '%s'; port names are unique in the cloud"
                              % (name, other))
    project = params.get('project') or (existing or {}).get('project')
    if existing and existing.get('project') and project != existing['project']:
        raise ValidationError("port '%s' belongs to project %s; it cannot move to project %s (delete it and "
                              "create it again in %s)" % (name, existing['project'], project, project))
    if not project:
        raise ValidationError("port '%s': project is required to create a port" % name)
    project_def = cloud.project(project)
    subnet = view.subnet()
    own_mac = existing['mac'] if existing else None
    # What is in use, except by this port itself (its reservation, its lease, its record).
    used = {ip: owner for ip, (owner, mac) in view.used.items() if mac is None or mac != own_mac}
    for record in view.records.values():
        if record['name'] != name:
            used[record['ip']] = _owner(record)
    requested = params.get('fixed_ip')
    if requested is not None or existing is None:
        ip = ipam.allocate(subnet, used, requested)
    else:
        ip = existing['ip']
    macs = view.macs - ({existing['mac']} if existing else set())
    mac = params.get('mac_address')
    if mac is not None:
        mac = names.mac(mac)
        holders = [r['name'] for r in view.records.values() if r['mac'] == mac and r['name'] != name]
        if holders or mac in macs:
            raise ValidationError("port '%s': MAC address %s is already in use on network '%s'%s"
                                  % (name, mac, view.name, ' by port %s' % holders[0] if holders else ''))
    elif existing:
        mac = existing['mac']
    else:
        mac = ipam.unique_mac(project_def.mac_prefix, '%s/%s' % (view.name, name), macs)
    hostname = params.get('hostname')
    if hostname is None:
        hostname = existing.get('hostname') if existing else default_hostname(name)
    validate_hostname(name, hostname)
    security = params.get('port_security')
    if security is None:
        security = secured(existing) if existing else True
    groups = params.get('security_groups')
    if not security:
        if groups:
            raise ValidationError("port '%s': security groups need port_security; a port without it has no "
                                  "filtering at all" % name)
        groups = []
    elif groups is None:
        groups = existing.get('security_groups') if existing else [DEFAULT_GROUP]
    groups = _unique_list(name, groups)
    server = params.get('server') if params.get('server') is not None else (existing or {}).get('server')
    if not existing and check_quota:
        in_use = len(view.project_ports.get(project, set()) - {name})
        quotas.check(project_def, {'ports': in_use}, {'ports': 1})
    return {
        'name': name, 'network': view.name, 'project': project, 'mac': mac, 'ip': ip,
        'hostname': hostname, 'security_groups': groups, 'port_security': security, 'server': server or None,
        'created': existing['created'] if existing and existing.get('created') else now(),
    }


def _unique_list(port, groups):
    seen = []
    for group in groups:
        validate_group_name(group)
        if group in seen:
            raise ValidationError("port '%s': security group %s is listed twice" % (port, group))
        seen.append(group)
    return seen


class Port(Resource):
    """One port in its network on one hypervisor."""

    set_fields = ()
    modes = {key: LIVE for key in FIELDS}

    def __init__(self, h, network, name, record):
        self.h = h
        self.network = network
        self.name = name
        self.record = record
        self._net = None

    def net(self):
        if self._net is None:
            self._net = self.h.network(self.network)
            if self._net is None:
                raise ValidationError("network '%s' disappeared from hypervisor %s" % (self.network, self.h.name))
        return self._net

    def find(self):
        return network_records(self.net()).get(self.name)

    def _reserved(self, record):
        net = self.net()
        host = host_of(record)
        if host not in hosts_of(persistent_xml(net)):
            return False
        if net.isActive():
            return host in hosts_of(net.XMLDesc(0))
        return True

    def normalise(self, raw):
        current = {key: raw.get(key) for key in FIELDS if key not in ('reserved', 'filtered')}
        current['reserved'] = self._reserved(raw)
        current['filtered'] = filter_matches(self.h, raw, read_groups(self.h), read_ports(self.h))
        return current

    def desired(self):
        wanted = {key: self.record.get(key) for key in FIELDS if key not in ('reserved', 'filtered')}
        wanted.update(reserved=True, filtered=True)
        return wanted

    def describe(self, raw):
        out = dict(raw, hypervisor=self.h.name)
        out['filter'] = filter_name(raw)
        return out

    def check(self, the_plan):
        if the_plan.action == DELETE or 'mac' in the_plan.fields():
            current = the_plan.before or {}
            users = servers_using(self.h, self.network, current.get('mac'))
            if users:
                raise ValidationError("port '%s' is in use by server %s on hypervisor %s; remove it from "
                                      "the server first" % (self.name, ', '.join(users), self.h.name))
        if the_plan and the_plan.action != DELETE:
            ensure_groups(self.h, self.record['security_groups'], check_mode=True)

    def _records(self):
        return network_records(self.net())

    def create(self, desired):
        self._write(dict(self._records(), **{self.name: dict(self.record)}))

    def update(self, raw, the_plan):
        record = dict(raw, **{k: v for k, v in self.record.items() if k not in ('created',)})
        self._write(dict(self._records(), **{self.name: record}))

    def delete(self, raw):
        records = self._records()
        records.pop(self.name, None)
        write_records(self.h, self.net(), records)
        sync_port_filters(self.h)

    def _write(self, records):
        groups = ensure_groups(self.h, self.record['security_groups'])
        ensure_base_filters(self.h)
        write_records(self.h, self.net(), records)
        # The port is not left half-made: its reservation and record go again.
        with Undo("port '%s'" % self.name) as undo:
            undo.add('remove its reservation and record', self._forget_new)
            sync_port_filters(self.h, groups=groups)

    def _forget_new(self):
        """Remove the record this run wrote, if it is still the one this run made."""
        old = self._records()
        if self.name in old and self.record.get('created') == old[self.name].get('created'):
            old.pop(self.name)
            write_records(self.h, self.net(), old)


def write_ports(h, network, add, remove):
    """Add the records ``add`` and remove the ports named in ``remove`` on one hypervisor's
    network in one write, then bring the port filters in line. For the compute engine, which
    planned the records for the whole cloud and checked them before."""
    net = h.network(network)
    if net is None:
        return
    groups = ensure_groups(h, sorted({g for r in add for g in r.get('security_groups') or []}))
    ensure_base_filters(h)
    records = network_records(net)
    for name in remove:
        records.pop(name, None)
    for record in add:
        records[record['name']] = dict(record)
    write_records(h, net, records)
    sync_port_filters(h, groups=groups)


def _plan_port(cm, hypervisors):
    """``(view, record, hypervisors the network is on, planned, warning)`` of the port module's
    run, or None when neither the network nor so the port exists anywhere."""
    params = cm.params
    name = validate_name(params['name'])
    network = params['network']
    try:
        view = gather(cm, network, hypervisors)
    except NetworkNotFound as err:
        if params['state'] == 'present' or err.details['unreachable']:
            raise
        return None
    warning = None
    if params['state'] == 'present':
        existing = view.records.get(name)
        record = plan_record(cm.cloud, view, params)
        if existing is None or existing['ip'] != record['ip']:
            # A new address, and for a new port one more towards the quota: every hypervisor of
            # the cloud must be readable.
            _reached, unreachable = map_reachable(cm, lambda h: None, cm.cloud.hypervisors, 'connecting')
            warning = allocation_check("allocating port '%s'" % name, unreachable, cm.allow_unreachable)
    else:
        record = view.records.get(name)
    on = [hv for hv in hypervisors if hv.name in view.hypervisors]
    planned = plan_on_hypervisors(cm, lambda h: Port(h, network, name, record or {'name': name}), on,
                                  'the port module')
    return view, record, on, planned, warning


def run_port(cm):
    """The ``port`` module: gather the network on every hypervisor, plan the record once, plan
    it on each hypervisor the network is on (again under their locks when that changes
    anything: the address is allocated from what they hold then), then reconcile it there."""
    params = cm.params
    hypervisors = selected(cm)
    found = plan_under_lock(cm, lambda: _plan_port(cm, hypervisors), lambda f: written(f[3]) if f else [])
    if found is None:
        # No network anywhere, so no port either: absent already.
        return {'changed': False, 'diff': {'before': {}, 'after': {}}, 'port': None, 'unreachable_hypervisors': []}
    view, record, on, planned, warning = found
    if warning:
        # once, though the run planned twice (again under the locks)
        cm.warn(warning)
    out = apply_on_hypervisors(cm, planned, 'ports', 'the port module')
    out.pop('ports')
    out['port'] = None
    if params['state'] == 'present':
        out['port'] = dict(record, hypervisors=[hv.name for hv in on], filter=filter_name(record))
    out['unreachable_hypervisors'] = view.unreachable
    return out


# The module's options, here so that cloud_plan validates an item the way the module does.
PORT_ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    network=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    project=dict(type='str'),
    fixed_ip=dict(type='str'),
    mac_address=dict(type='str'),
    hostname=dict(type='str'),
    security_groups=dict(type='list', elements='str'),
    port_security=dict(type='bool'),
    hypervisors=dict(type='list', elements='str'),
)
