# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ports: a server's interface on a network, with a MAC address and a fixed IPv4 address.

A port exists in its network on every hypervisor that network is defined on, three times over:

- a DHCP host reservation (MAC -> IP, hostname) in the network, live and in its persistent
  config, so dnsmasq always hands the port its address, also across a network restart;
- a record in the network's persistent ``<metadata>`` (key ``ports`` of the collection's
  element; libvirt keeps one element per namespace): project, security groups, server, creation time. libvirt 9.0 cannot change a
  running network's metadata, so records are read from the persistent definition
  (``VIR_NETWORK_XML_INACTIVE``), which is where they are written;
- a nwfilter ``kvmcloud-port-<name>``: anti-spoofing bound to its MAC and IP plus its security
  groups (see ``secgroups``). A server's interface references it.

Addresses are allocated once for the whole cloud: what is in use is read from every reachable
hypervisor the network is on (reservations, leases, records) before anything is planned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils import ipam, networks, quotas, secgroups, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, LibvirtCallError, ValidationError, call, lookup)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.images import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_reachable, reconcile_on_hypervisors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import DELETE, LIVE, Resource

# libvirt's flags and enums, by value: module_utils do not import libvirt for constants.
_NETWORK_XML_INACTIVE = 1
_UPDATE_MODIFY, _UPDATE_DELETE, _UPDATE_ADD_LAST = 1, 2, 3
_SECTION_IP_DHCP_HOST = 4
_AFFECT_LIVE, _AFFECT_CONFIG = 1, 2

# The key of the port records in the network's metadata.
RECORDS_KEY = 'ports'

# Port names: they name a nwfilter and may be a DNS host name, so keep them plain.
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')
_HOSTNAME_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')

# What the port module compares; the rest of a record is set once at creation.
# From this many DHCP host changes on a running network that nothing is plugged into, the
# network is restarted from its config instead (each live update restarts dnsmasq).
RESTART_AT = 3

FIELDS = ('mac', 'ip', 'hostname', 'project', 'security_groups', 'port_security', 'server', 'reserved', 'filtered')


def validate_name(name):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError("invalid port name %r: use 1 to 63 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit" % (name,))
    return name


def validate_hostname(port, hostname):
    if hostname is not None and not _HOSTNAME_RE.match(hostname):
        raise ValidationError("port '%s': invalid hostname %r: a DNS label of 1 to 63 letters, digits "
                              "and '-', not starting or ending with '-'" % (port, hostname))
    return hostname


def default_hostname(name):
    """The port's name when it is a valid DNS label, else none."""
    return name if _HOSTNAME_RE.match(name) else None


# --- records and reservations in the network XML ---------------------------------------------

def persistent_xml(net, hypervisor):
    """The persistent definition of a network: where port records are written."""
    if not net.isActive():
        return call('XMLDesc', net.name(), net.XMLDesc, 0, hypervisor=hypervisor)
    try:
        return call('XMLDesc', net.name(), net.XMLDesc, _NETWORK_XML_INACTIVE, hypervisor=hypervisor)
    except LibvirtCallError as err:
        # libvirt's test driver has no persistent/live split and refuses the flag.
        if 'unsupported flags' not in err.message:
            raise
        return call('XMLDesc', net.name(), net.XMLDesc, 0, hypervisor=hypervisor)


def _metadata_element(desc):
    return desc.find('metadata/%s' % xmlutil.qname(networks.METADATA_TAG))


def records_of(xml):
    """``{port name: record}`` stored in a network's XML."""
    node = _metadata_element(xmlutil.parse(xml))
    if node is None:
        return {}
    return (xmlutil.element_to_metadata(node) or {}).get(RECORDS_KEY) or {}


def _dhcp(desc):
    ip = networks.ipv4_element(desc)
    return ip.find('dhcp') if ip is not None else None


def hosts_of(xml):
    """The DHCP host entries of a network's XML: ``[{mac, ip, name}]``."""
    dhcp = _dhcp(xmlutil.parse(xml))
    if dhcp is None:
        return []
    return [{'mac': (h.get('mac') or '').lower() or None, 'ip': h.get('ip'), 'name': h.get('name')}
            for h in dhcp.findall('host')]


def host_of(record):
    return {'mac': record['mac'], 'ip': record['ip'], 'name': record.get('hostname')}


def _host_attrs(host):
    return {key: host[key] for key in ('mac', 'ip', 'name') if host.get(key)}


def host_xml(host):
    return xmlutil.tostring(xmlutil.element('host', **_host_attrs(host)))


def with_records(xml, records):
    """A network XML whose port records and port reservations are ``records``.

    Host entries of MACs that are not ports (added by hand) are kept; those of ports no longer
    in ``records`` are dropped. Raises when the network has no DHCP subnet.
    """
    desc = xmlutil.parse(xml)
    node = _metadata_element(desc)
    if node is None:
        raise ValidationError("network '%s' was not defined by kvmcloud, so it cannot hold ports"
                              % xmlutil.text(desc, 'name'))
    # libvirt keeps one metadata element per namespace: the records go inside the network's.
    data = dict(xmlutil.element_to_metadata(node) or {})
    data.pop(RECORDS_KEY, None)
    if records:
        data[RECORDS_KEY] = records
    metadata = desc.find('metadata')
    index = list(metadata).index(node)
    metadata.remove(node)
    metadata.insert(index, xmlutil.metadata_to_element(networks.METADATA_TAG, data))
    dhcp = _dhcp(desc)
    if dhcp is None:
        if records:
            raise ValidationError("network '%s' has no subnet with DHCP, so it cannot hold ports"
                                  % xmlutil.text(desc, 'name'))
        return xmlutil.tostring(desc)
    previous = records_of(xml)
    port_macs = {r['mac'] for r in previous.values()} | {r['mac'] for r in records.values()}
    for host in dhcp.findall('host'):
        if (host.get('mac') or '').lower() in port_macs:
            dhcp.remove(host)
    for name in sorted(records):
        xmlutil.sub(dhcp, 'host', **_host_attrs(host_of(records[name])))
    return xmlutil.tostring(desc)


def write_records(net, hypervisor, records):
    """Make the network's port records and reservations ``records``: the persistent config by
    defining it anew, the running network by ``virNetworkUpdate`` of the changed host entries."""
    conn = net.connect()
    name = net.name()
    before = persistent_xml(net, hypervisor)
    call('define', name, conn.networkDefineXML, with_records(before, records), hypervisor=hypervisor)
    if not net.isActive():
        return
    try:
        live = call('XMLDesc', name, net.XMLDesc, 0, hypervisor=hypervisor)
        changes = _live_changes(live, records_of(before), records)
        if len(changes) >= RESTART_AT and not _connections(live):
            # Nothing is plugged in: starting the network again from its new config applies
            # every entry at once, where each update restarts dnsmasq.
            call('stop network', name, net.destroy, hypervisor=hypervisor)
            call('start network', name, net.create, hypervisor=hypervisor)
            return
        for command, host in changes:
            _net_update(net, hypervisor, command, host)
    except KvmcloudError:
        # The persistent config goes back to what it was: nothing half-written.
        call('define', name, conn.networkDefineXML, before, hypervisor=hypervisor)
        raise


def _live_changes(live_xml, old_records, records):
    """``[(command, host)]`` that make the running network's DHCP hosts match ``records``."""
    live = {h['mac']: h for h in hosts_of(live_xml)}
    wanted = {r['mac']: host_of(r) for r in records.values()}
    stale = set(r['mac'] for r in old_records.values()) - set(wanted)
    changes = [(_UPDATE_DELETE, live.pop(mac)) for mac in sorted(stale) if mac in live]
    for mac in sorted(wanted):
        host = wanted[mac]
        if mac not in live:
            changes.append((_UPDATE_ADD_LAST, host))
        elif live[mac] != host:
            changes.append((_UPDATE_MODIFY, host))
    return changes


def _connections(live_xml):
    """How many interfaces are plugged into the running network."""
    return int(xmlutil.parse(live_xml).get('connections') or 0)


def _net_update(net, hypervisor, command, host):
    call('update DHCP host %s' % host['mac'], net.name(), net.update, command, _SECTION_IP_DHCP_HOST, -1,
         host_xml(host), _AFFECT_LIVE, hypervisor=hypervisor)


def managed_networks(conn, hypervisor):
    """``[(network, parsed facts, persistent XML)]`` of the collection's networks."""
    out = []
    for net, facts in networks.list_networks(conn, hypervisor):
        if facts['managed']:
            out.append((net, facts, persistent_xml(net, hypervisor)))
    return out


def read_ports(conn, hypervisor):
    """Every port recorded on a hypervisor: ``[{name, network, project, ip, mac, hostname,
    security_groups, server, created}]``, sorted by name."""
    ports = []
    for _net, _facts, xml in managed_networks(conn, hypervisor):
        ports.extend(records_of(xml).values())
    return sorted(ports, key=lambda p: p['name'])


# --- port filters ------------------------------------------------------------------------------

def _filters(conn, hypervisor):
    return call('list nwfilters', hypervisor, conn.listAllNWFilters, 0, hypervisor=hypervisor)


def desired_port_filters(ports, groups):
    """``{filter name: xml}`` every port needs, given all ``ports`` and ``{group: rules}``."""
    members = {}
    for port in ports:
        for group in port.get('security_groups') or []:
            members.setdefault(group, []).append(port['ip'])
    return {secgroups.port_filter_name(p['name']): secgroups.port_filter_xml(
        p['name'], p['ip'], p['mac'], p.get('security_groups') or [], groups, members) for p in ports if secured(p)}


def sync_port_filters(conn, hypervisor, groups=None, ports=None):
    """Make every ``kvmcloud-port-*`` filter of a hypervisor match its port: define the missing
    or different ones (libvirt re-applies a redefined filter to running guests at once) and
    undefine those of ports that no longer exist. ``groups`` is ``{group: rules}`` as it will be
    after the caller's change (default: as it is now). Returns the names of the filters changed."""
    ports = read_ports(conn, hypervisor) if ports is None else ports
    groups = secgroups.read_groups(conn, hypervisor) if groups is None else groups
    wanted = desired_port_filters(ports, groups)
    changed = [name for name in sorted(wanted) if secgroups.define_filter(conn, hypervisor, wanted[name])]
    prefix = secgroups.port_filter_name('')
    for nwfilter in _filters(conn, hypervisor):
        name = nwfilter.name()
        if name.startswith(prefix) and name not in wanted:
            call('undefine nwfilter', name, nwfilter.undefine, hypervisor=hypervisor)
            changed.append(name)
    return changed


def filter_matches(conn, hypervisor, port, groups, ports):
    """Whether the port's filter is what :func:`sync_port_filters` would make it (none at all
    for a port without port security)."""
    name = secgroups.port_filter_name(port['name'])
    existing = lookup(conn.nwfilterLookupByName, name, hypervisor=hypervisor)
    wanted = desired_port_filters(ports, groups).get(name) if secured(port) else None
    if existing is None or wanted is None:
        return existing is None and wanted is None
    return secgroups.same_filter(call('XMLDesc', name, existing.XMLDesc, 0, hypervisor=hypervisor), wanted)


def ensure_groups(conn, hypervisor, names, check_mode=False):
    """``{group: rules}`` of the hypervisor after making sure every group in ``names`` exists:
    ``default`` is created with its standard rules when missing (not in check mode); any other
    missing group is an error."""
    groups = secgroups.read_groups(conn, hypervisor)
    missing = sorted(set(names) - set(groups))
    unknown = [g for g in missing if g != secgroups.DEFAULT_GROUP]
    if unknown:
        raise ValidationError('unknown security group%s %s on hypervisor %s; define %s with the '
                              'security_group module first'
                              % ('s' if len(unknown) > 1 else '', ', '.join(unknown), hypervisor,
                                 'them' if len(unknown) > 1 else 'it'))
    if missing:
        groups[secgroups.DEFAULT_GROUP] = list(secgroups.DEFAULT_RULES)
        if not check_mode:
            secgroups.ensure_base_filters(conn, hypervisor)
            secgroups.define_filter(conn, hypervisor, secgroups.group_filter_xml(
                secgroups.DEFAULT_GROUP, secgroups.DEFAULT_RULES))
    return groups


# --- who uses a port -------------------------------------------------------------------------

def servers_using(conn, hypervisor, network, mac):
    """Names of the domains with an interface on ``network`` with ``mac``, live or in config."""
    return sorted(dom for dom, iface_mac, _filter in networks.interfaces_on(conn, network, hypervisor)
                  if iface_mac == mac)


# --- the view of one network across the cloud ------------------------------------------------

class NetworkView:
    """What a port allocation needs to know of one network, gathered from every reachable
    hypervisor it is defined on."""

    def __init__(self, name):
        self.name = name
        self.hypervisors = []      # names of the hypervisors the network is on
        self.facts = None          # parsed network of the first of them
        self.records = {}          # port name -> record (first hypervisor that has it wins)
        self.used = {}             # address -> (owner, MAC), over all hypervisors
        self.macs = set()          # MACs in use on the network, over all hypervisors
        self.other_ports = {}      # port name -> network, for ports of other networks
        self.project_ports = {}    # project -> set of port names, over all networks
        self.unreachable = []

    def subnet(self):
        subnet = networks.subnet_of(self.name, self.facts) if self.facts else None
        if subnet is None or not subnet.allocation_pools:
            raise ValidationError("network '%s' has no subnet with allocation pools, so it cannot hold ports"
                                  % self.name)
        return subnet


class NetworkNotFound(ValidationError):
    """The network of a port exists on no reachable hypervisor."""


def _read_hypervisor(network):
    def read(hv, conn):
        found = None
        elsewhere = []
        for net, facts, xml in managed_networks(conn, hv.name):
            records = records_of(xml)
            if facts['name'] == network:
                leases = []
                if net.isActive():
                    leases = [lease for lease in call('DHCP leases', network, net.DHCPLeases, hypervisor=hv.name)
                              if lease.get('type', 0) == 0]
                found = (facts, records, hosts_of(xml), leases)
            else:
                elsewhere.append((facts['name'], records))
        return found, elsewhere
    return read


def gather(cm, network, hypervisors):
    """A :class:`NetworkView` of ``network`` from ``hypervisors``; unreachable ones are
    listed in it, other failures raised."""
    view = NetworkView(network)
    results, unreachable = map_reachable(cm, _read_hypervisor(network), hypervisors, "reading network '%s'" % network)
    view.unreachable = ['%s: %s' % item for item in unreachable.items()]
    for hv, result in results:
        found, elsewhere = result
        for other, records in elsewhere:
            for record in records.values():
                view.other_ports.setdefault(record['name'], other)
                view.project_ports.setdefault(record.get('project'), set()).add(record['name'])
        if found is None:
            continue
        facts, records, hosts, leases = found
        view.hypervisors.append(hv.name)
        if view.facts is None:
            view.facts = facts
        for name, record in records.items():
            view.records.setdefault(name, record)
            view.project_ports.setdefault(record.get('project'), set()).add(name)
        for host in hosts:
            if host['ip']:
                view.used.setdefault(host['ip'], ('reservation %s' % (host['name'] or host['mac']), host['mac']))
            if host['mac']:
                view.macs.add(host['mac'])
        for lease in leases:
            mac = (lease.get('mac') or '').lower() or None
            if lease.get('ipaddr'):
                view.used.setdefault(lease['ipaddr'], ('lease of %s' % mac, mac))
            if mac:
                view.macs.add(mac)
    if not view.hypervisors:
        raise NetworkNotFound("network '%s' is not defined on any reachable hypervisor%s"
                              % (network, ' (unreachable: %s)' % '; '.join(view.unreachable)
                                 if view.unreachable else ''), unreachable=view.unreachable)
    return view


# --- planning ----------------------------------------------------------------------------------

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
        mac = ipam.normalize_mac(mac)
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
        groups = existing.get('security_groups') if existing else [secgroups.DEFAULT_GROUP]
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


def secured(record):
    """Whether a port has port security (anti-spoofing and its groups); records written before
    the option existed have it."""
    return record.get('port_security', True) is not False


def filter_name(record):
    """The nwfilter of a port, or None for a port without port security."""
    return secgroups.port_filter_name(record['name']) if secured(record) else None


def _unique_list(port, groups):
    seen = []
    for group in groups:
        secgroups.validate_group_name(group)
        if group in seen:
            raise ValidationError("port '%s': security group %s is listed twice" % (port, group))
        seen.append(group)
    return seen


# --- the port on one hypervisor ----------------------------------------------------------------

class Port(Resource):
    """One port in its network on one hypervisor."""

    set_fields = ()
    modes = {key: LIVE for key in FIELDS}

    def __init__(self, conn, hypervisor, network, name, record):
        self.conn = conn
        self.hypervisor = hypervisor
        self.network = network
        self.name = name
        self.record = record
        self._net = None

    def net(self):
        if self._net is None:
            self._net = lookup(self.conn.networkLookupByName, self.network, hypervisor=self.hypervisor)
            if self._net is None:
                raise ValidationError("network '%s' disappeared from hypervisor %s"
                                      % (self.network, self.hypervisor))
        return self._net

    def find(self):
        xml = persistent_xml(self.net(), self.hypervisor)
        return records_of(xml).get(self.name)

    def _reserved(self, record):
        net = self.net()
        host = host_of(record)
        if host not in hosts_of(persistent_xml(net, self.hypervisor)):
            return False
        if net.isActive():
            live = call('XMLDesc', self.network, net.XMLDesc, 0, hypervisor=self.hypervisor)
            return host in hosts_of(live)
        return True

    def normalise(self, raw):
        current = {key: raw.get(key) for key in FIELDS if key not in ('reserved', 'filtered')}
        current['reserved'] = self._reserved(raw)
        groups = secgroups.read_groups(self.conn, self.hypervisor)
        current['filtered'] = filter_matches(self.conn, self.hypervisor, raw, groups,
                                             read_ports(self.conn, self.hypervisor))
        return current

    def desired(self):
        wanted = {key: self.record.get(key) for key in FIELDS if key not in ('reserved', 'filtered')}
        wanted.update(reserved=True, filtered=True)
        return wanted

    def describe(self, raw):
        out = dict(raw, hypervisor=self.hypervisor)
        out['filter'] = filter_name(raw)
        return out

    def check(self, the_plan):
        if the_plan.action == DELETE or 'mac' in the_plan.fields():
            current = the_plan.before or {}
            users = servers_using(self.conn, self.hypervisor, self.network, current.get('mac'))
            if users:
                raise ValidationError("port '%s' is in use by server %s on hypervisor %s; remove it from "
                                      "the server first" % (self.name, ', '.join(users), self.hypervisor))
        if the_plan and the_plan.action != DELETE:
            ensure_groups(self.conn, self.hypervisor, self.record['security_groups'], check_mode=True)

    def _records(self):
        return records_of(persistent_xml(self.net(), self.hypervisor))

    def create(self, desired):
        self._write(dict(self._records(), **{self.name: dict(self.record)}))

    def update(self, raw, the_plan):
        record = dict(raw, **{k: v for k, v in self.record.items() if k not in ('created',)})
        self._write(dict(self._records(), **{self.name: record}))

    def delete(self, raw):
        records = self._records()
        records.pop(self.name, None)
        write_records(self.net(), self.hypervisor, records)
        sync_port_filters(self.conn, self.hypervisor)

    def _write(self, records):
        groups = ensure_groups(self.conn, self.hypervisor, self.record['security_groups'])
        secgroups.ensure_base_filters(self.conn, self.hypervisor)
        write_records(self.net(), self.hypervisor, records)
        try:
            sync_port_filters(self.conn, self.hypervisor, groups=groups)
        except KvmcloudError:
            # The port is not left half-made: its reservation and record go again.
            old = self._records()
            if self.name in old and self.record.get('created') == old[self.name].get('created'):
                old.pop(self.name)
                write_records(self.net(), self.hypervisor, old)
            raise


def write_ports(conn, hypervisor, network, add, remove):
    """Add the records ``add`` and remove the ports named in ``remove`` on one hypervisor's
    network in one write, then bring the port filters in line. For the compute engine, which
    planned the records for the whole cloud and checked them before."""
    net = lookup(conn.networkLookupByName, network, hypervisor=hypervisor)
    if net is None:
        return
    groups = ensure_groups(conn, hypervisor, sorted({g for r in add for g in r.get('security_groups') or []}))
    secgroups.ensure_base_filters(conn, hypervisor)
    records = records_of(persistent_xml(net, hypervisor))
    for name in remove:
        records.pop(name, None)
    for record in add:
        records[record['name']] = dict(record)
    write_records(net, hypervisor, records)
    sync_port_filters(conn, hypervisor, groups=groups)


def run_port(cm):
    """The ``port`` module: gather the network on every hypervisor, plan the record once,
    then reconcile it on each hypervisor the network is on."""
    params = cm.params
    name = validate_name(params['name'])
    network = params['network']
    hypervisors = cm.cloud.select_hypervisors(params.get('hypervisors'))
    try:
        view = gather(cm, network, hypervisors)
    except NetworkNotFound as err:
        if params['state'] == 'present' or err.details['unreachable']:
            raise
        # No network anywhere, so no port either: absent already.
        return {'changed': False, 'diff': {'before': {}, 'after': {}}, 'port': None, 'unreachable_hypervisors': []}
    if params['state'] == 'present':
        record = plan_record(cm.cloud, view, params)
    else:
        record = view.records.get(name)
    on = [hv for hv in hypervisors if hv.name in view.hypervisors]
    out = reconcile_on_hypervisors(
        cm, lambda conn, hv: Port(conn, hv.name, network, name, record or {'name': name}),
        result_key='ports', precheck=True, hypervisors=on)
    out.pop('ports')
    out['port'] = None
    if params['state'] == 'present':
        out['port'] = dict(record, hypervisors=[hv.name for hv in on], filter=filter_name(record))
    out['unreachable_hypervisors'] = view.unreachable
    return out
