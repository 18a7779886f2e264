# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt virtual networks with an IPv4 subnet, as a reconciled resource and as facts.

A network is described by one normalised dict (see :func:`desired_from_params`) that
:func:`network_xml` renders and :func:`parse_network_xml` reads back. Networks the collection
defines carry their subnet parameters in ``<metadata>`` in the collection's namespace; that
marker is how other kvmcloud networks are recognised for the overlap check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils import ipam, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    ValidationError, call, lookup, stop_and_undefine)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_or_fail, reconcile_on_hypervisors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import (
    DELETE, LIVE, REBUILD, UPDATE, Resource)

# The collection's mode -> libvirt's forward mode (None: no <forward>, an isolated network).
FORWARD_MODES = {'nat': 'nat', 'routed': 'route', 'isolated': None, 'bridge': 'bridge'}
MODES = tuple(sorted(FORWARD_MODES))

# The collection's element in a network's <metadata>: its definition, and its ports (see ports.py).
METADATA_TAG = 'network'

BRIDGE_PREFIX = 'kc-'
# Linux interface names are at most 15 characters (IFNAMSIZ - 1).
BRIDGE_NAME_MAX = 15

# libvirt's flag for the persistent definition of a domain (VIR_DOMAIN_XML_INACTIVE).
_DOMAIN_XML_INACTIVE = 2
# virNetworkUpdate: commands, the DNS host section, and where the change applies.
_UPDATE_DELETE, _UPDATE_ADD_LAST = 2, 3
_SECTION_DNS_HOST = 10
_AFFECT_LIVE, _AFFECT_CONFIG = 1, 2

# Fields of the normalised dict that describe the network itself; changing any of them
# means defining the network anew.
DEFINITION_FIELDS = ('mode', 'bridge', 'mtu', 'cidr', 'gateway', 'allocation_pools',
                     'dns_servers', 'dns_domain')


def default_bridge_name(name):
    """``kc-`` and a short hash of the network name: stable, and within 15 characters."""
    return BRIDGE_PREFIX + hashlib.sha256(name.encode('utf-8')).hexdigest()[:BRIDGE_NAME_MAX - len(BRIDGE_PREFIX) - 2]


def _check_bridge_name(name, bridge):
    if not bridge or len(bridge) > BRIDGE_NAME_MAX or '/' in bridge or any(c.isspace() for c in bridge):
        raise ValidationError("network '%s': invalid bridge name %r: it must be 1 to %d characters, "
                              "without spaces or slashes" % (name, bridge, BRIDGE_NAME_MAX))


def desired_from_params(params):
    """Validate the module's options and return the desired network as a normalised dict."""
    name = params['name']
    mode = params.get('mode') or 'nat'
    if mode not in FORWARD_MODES:
        raise ValidationError("network '%s': unknown mode %r; use one of %s" % (name, mode, ', '.join(MODES)))
    subnet_params = params.get('subnet')
    bridge = params.get('bridge')
    mtu = params.get('mtu')
    if mode == 'bridge':
        if not bridge:
            raise ValidationError("network '%s': mode bridge needs bridge, the name of an existing host bridge"
                                  % name)
        if subnet_params:
            raise ValidationError("network '%s': mode bridge connects guests to the host bridge %s, whose "
                                  "addresses libvirt does not manage; remove subnet or use another mode"
                                  % (name, bridge))
        if mtu is not None:
            raise ValidationError("network '%s': mode bridge uses the MTU of the host bridge %s; remove mtu"
                                  % (name, bridge))
    elif not subnet_params and mode != 'isolated':
        raise ValidationError("network '%s': mode %s needs a subnet" % (name, mode))
    bridge = bridge or default_bridge_name(name)
    _check_bridge_name(name, bridge)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise ValidationError("network '%s': mtu must be between 68 and 65535, got %s" % (name, mtu))
    dns_hosts = params.get('dns_hosts')
    if dns_hosts is not None and mode == 'bridge':
        raise ValidationError("network '%s': mode bridge has no DNS server of its own; remove dns_hosts" % name)
    desired = dict(mode=mode, bridge=bridge, mtu=mtu, cidr=None, gateway=None, allocation_pools=None,
                   dns_servers=None, dns_domain=None, active=True, autostart=True,
                   dns_hosts=dns_hosts_from_params(name, dns_hosts))
    if subnet_params:
        subnet = ipam.subnet_from_params(
            name, subnet_params.get('cidr'), gateway=subnet_params.get('gateway'),
            allocation_pools=subnet_params.get('allocation_pools'), dns_servers=subnet_params.get('dns_servers'))
        desired.update(_subnet_fields(subnet), dns_domain=subnet_params.get('dns_domain'))
    return desired


_DNS_NAME_RE = re.compile(r'^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')


def dns_hosts_from_params(name, dns_hosts):
    """Static DNS records as ``[{ip, hostnames}]``, sorted; None when not managed."""
    if dns_hosts is None:
        return None
    ipam.require_netaddr()
    merged = {}
    for index, entry in enumerate(dns_hosts):
        try:
            address = ipam.netaddr.IPAddress(str(entry.get('ip')).strip())
        except (ipam.netaddr.AddrFormatError, ValueError, TypeError):
            raise ValidationError("network '%s': dns_hosts[%d]: invalid address %r" % (name, index, entry.get('ip')))
        hostnames = entry.get('hostnames') or []
        if not hostnames:
            raise ValidationError("network '%s': dns_hosts[%d]: hostnames must list at least one name" % (name, index))
        for hostname in hostnames:
            if not isinstance(hostname, str) or not _DNS_NAME_RE.match(hostname):
                raise ValidationError("network '%s': dns_hosts[%d]: invalid host name %r" % (name, index, hostname))
        merged.setdefault(str(address), set()).update(hostnames)
    return [{'ip': ip, 'hostnames': sorted(names)} for ip, names in sorted(merged.items(), key=lambda i: _ip_key(i[0]))]


def _ip_key(ip):
    address = ipam.netaddr.IPAddress(ip)
    return (address.version, int(address))


def dns_host_xml(host):
    node = xmlutil.element('host', ip=host['ip'])
    for hostname in host['hostnames']:
        xmlutil.sub(node, 'hostname', hostname)
    return node


def _subnet_fields(subnet):
    facts = subnet.to_dict()
    return {key: facts[key] for key in ('cidr', 'gateway', 'allocation_pools', 'dns_servers')}


def subnet_of(name, facts):
    """The :class:`ipam.Subnet` of a normalised network, or None when it has no subnet."""
    if not facts.get('cidr'):
        return None
    return ipam.subnet_from_params(name, facts['cidr'], gateway=facts.get('gateway'),
                                   allocation_pools=facts.get('allocation_pools') or None,
                                   dns_servers=facts.get('dns_servers'))


def network_xml(name, facts, uuid=None, records=None):
    """The libvirt XML of a network described by the normalised dict ``facts``, holding the
    port ``records`` (``{name: record}``, see ``ports``) as metadata and DHCP reservations."""
    net = xmlutil.element('network')
    xmlutil.sub(net, 'name', name)
    if uuid:
        xmlutil.sub(net, 'uuid', uuid)
    metadata = xmlutil.sub(net, 'metadata')
    metadata.append(xmlutil.metadata_to_element(METADATA_TAG, {
        key: facts.get(key) for key in DEFINITION_FIELDS}))
    forward = FORWARD_MODES[facts['mode']]
    if forward:
        xmlutil.sub(net, 'forward', mode=forward)
    if facts['mode'] == 'bridge':
        xmlutil.sub(net, 'bridge', name=facts['bridge'])
    else:
        xmlutil.sub(net, 'bridge', name=facts['bridge'], stp='on', delay='0')
    if facts.get('mtu') is not None:
        xmlutil.sub(net, 'mtu', size=facts['mtu'])
    if facts.get('dns_domain'):
        xmlutil.sub(net, 'domain', name=facts['dns_domain'])
    if facts.get('dns_servers') or facts.get('dns_hosts'):
        dns = xmlutil.sub(net, 'dns')
        for server in facts.get('dns_servers') or []:
            xmlutil.sub(dns, 'forwarder', addr=server)
        for host in facts.get('dns_hosts') or []:
            dns.append(dns_host_xml(host))
    if facts.get('cidr'):
        prefix = facts['cidr'].split('/')[1]
        ip = xmlutil.sub(net, 'ip', address=facts['gateway'], prefix=prefix)
        dhcp = xmlutil.sub(ip, 'dhcp')
        for pool in facts.get('allocation_pools') or []:
            xmlutil.sub(dhcp, 'range', start=pool['start'], end=pool['end'])
    xml = xmlutil.tostring(net)
    if records:
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports
        xml = ports.with_records(xml, records)
    return xml


def _cidr(ip):
    ipam.require_netaddr()
    address = ip.get('address')
    prefix = ip.get('prefix') or ip.get('netmask')
    return str(ipam.netaddr.IPNetwork('%s/%s' % (address, prefix)).cidr)


def ipv4_element(desc):
    """The IPv4 ``<ip>`` element of a network's XML, or None."""
    for ip in desc.findall('ip'):
        if ip.get('family', 'ipv4') == 'ipv4':
            return ip
    return None


def parse_network_xml(xml):
    """The normalised dict of a network's XML (the shape of :func:`desired_from_params`, without
    ``active`` and ``autostart``), plus ``name``, ``uuid``, ``managed`` and ``reservations``."""
    desc = xmlutil.parse(xml)
    forward = xmlutil.attr(desc, 'forward', 'mode')
    modes = {libvirt_mode: mode for mode, libvirt_mode in FORWARD_MODES.items()}
    mtu = xmlutil.attr(desc, 'mtu', 'size')
    facts = {
        'name': xmlutil.text(desc, 'name'),
        'uuid': xmlutil.text(desc, 'uuid'),
        'managed': desc.find('metadata/%s' % xmlutil.qname(METADATA_TAG)) is not None,
        'mode': modes.get(forward, forward),
        'bridge': xmlutil.attr(desc, 'bridge', 'name'),
        'mtu': int(mtu) if mtu else None,
        'cidr': None, 'gateway': None, 'allocation_pools': None,
        'dns_servers': [f.get('addr') for f in desc.findall('dns/forwarder') if f.get('addr')] or None,
        'dns_domain': xmlutil.attr(desc, 'domain', 'name'),
        'dns_hosts': [{'ip': h.get('ip'), 'hostnames': sorted(n.text for n in h.findall('hostname') if n.text)}
                      for h in desc.findall('dns/host')],
        'reservations': [],
    }
    ip = ipv4_element(desc)
    if ip is not None:
        facts.update(
            cidr=_cidr(ip), gateway=ip.get('address'),
            allocation_pools=[{'start': r.get('start'), 'end': r.get('end')} for r in ip.findall('dhcp/range')],
            reservations=[{'mac': h.get('mac'), 'ip': h.get('ip'), 'name': h.get('name')}
                          for h in ip.findall('dhcp/host')])
        # Normalised like desired_from_params(): a subnet always lists its DNS servers.
        facts['dns_servers'] = facts['dns_servers'] or []
    return facts


def interfaces_on(conn, network, hypervisor):
    """``[(domain name, MAC, filter name or None)]`` of the interfaces on ``network``, from each
    domain's live XML and, for a running persistent domain, its persistent config too."""
    found = set()
    for dom in call('list domains', hypervisor, conn.listAllDomains, 0, hypervisor=hypervisor):
        dom_name = dom.name()
        xmls = [call('XMLDesc', dom_name, dom.XMLDesc, 0, hypervisor=hypervisor)]
        if dom.isActive() and dom.isPersistent():
            xmls.append(call('XMLDesc', dom_name, dom.XMLDesc, _DOMAIN_XML_INACTIVE, hypervisor=hypervisor))
        for xml in xmls:
            for iface in xmlutil.parse(xml).findall("devices/interface[@type='network']"):
                if xmlutil.attr(iface, 'source', 'network') == network:
                    mac = xmlutil.attr(iface, 'mac', 'address')
                    found.add((dom_name, mac.lower() if mac else None, xmlutil.attr(iface, 'filterref', 'filter')))
    return sorted(found, key=lambda item: tuple(value or '' for value in item))


def domains_using(conn, network, hypervisor):
    """Names of the domains with an interface on ``network``, live or in their persistent config."""
    return sorted(set(dom for dom, _mac, _filter in interfaces_on(conn, network, hypervisor)))


def list_networks(conn, hypervisor):
    """``[(network object, parsed facts)]`` for every network of a hypervisor."""
    nets = call('list networks', hypervisor, conn.listAllNetworks, 0, hypervisor=hypervisor)
    return [(net, parse_network_xml(call('XMLDesc', net.name(), net.XMLDesc, 0, hypervisor=hypervisor)))
            for net in nets]


def check_no_overlap_on(subnet, conn, hypervisor):
    """Refuse ``subnet`` when it overlaps another kvmcloud network of the hypervisor."""
    for _net, facts in list_networks(conn, hypervisor):
        if not facts['managed'] or facts['name'] == subnet.name or not facts['cidr']:
            continue
        other = ipam.Subnet(name=facts['name'], cidr=facts['cidr'], gateway=facts['gateway'], allocation_pools=())
        try:
            ipam.check_no_overlap([subnet, other])
        except ValidationError as err:
            raise ValidationError('%s on hypervisor %s' % (err.msg, hypervisor))


class Network(Resource):
    """One network on one hypervisor."""

    set_fields = ('allocation_pools', 'dns_hosts')
    modes = dict({key: REBUILD for key in DEFINITION_FIELDS}, active=LIVE, autostart=LIVE, dns_hosts=LIVE)

    def __init__(self, conn, hypervisor, name, desired, recreate=False, records=None):
        self.conn = conn
        self.hypervisor = hypervisor
        self.name = name
        self._desired = desired
        self.recreate = recreate
        # Ports of the network known from its other hypervisors: a new definition holds them too.
        self.records = records or {}

    def allows_rebuild(self):
        return self.recreate

    def find(self):
        return lookup(self.conn.networkLookupByName, self.name, hypervisor=self.hypervisor)

    def normalise(self, raw):
        facts = parse_network_xml(call('XMLDesc', self.name, raw.XMLDesc, 0, hypervisor=self.hypervisor))
        current = {key: facts[key] for key in DEFINITION_FIELDS + ('dns_hosts',)}
        current.update(active=bool(raw.isActive()), autostart=bool(raw.autostart()))
        return current

    def desired(self):
        return dict(self._desired)

    def describe(self, raw):
        return dict(self.normalise(raw), name=self.name, uuid=raw.UUIDString())

    def check(self, the_plan):
        removes = the_plan.action == DELETE or (
            the_plan.action == UPDATE and the_plan.needs_rebuild and self.allows_rebuild())
        if not removes:
            return
        users = domains_using(self.conn, self.name, self.hypervisor)
        if users:
            raise ValidationError("network '%s' is in use by server%s %s on hypervisor %s; detach %s first"
                                  % (self.name, 's' if len(users) > 1 else '', ', '.join(users),
                                     self.hypervisor, 'them' if len(users) > 1 else 'it'))
        if the_plan.action == UPDATE:
            self._check_ports_fit(dict(the_plan.before, **the_plan.after))

    def _check_ports_fit(self, wanted):
        """Refuse a recreate whose subnet has no room for the network's ports at their addresses."""
        records = self._current_records()
        if not records:
            return
        subnet = subnet_of(self.name, wanted)
        if subnet is None or not subnet.allocation_pools:
            raise ValidationError("network '%s' holds port%s %s, which need a subnet with allocation pools"
                                  % (self.name, 's' if len(records) > 1 else '', ', '.join(sorted(records))))
        used = {}
        for port_name, record in sorted(records.items()):
            try:
                used[ipam.allocate(subnet, used, record['ip'])] = 'port %s' % port_name
            except ValidationError as err:
                raise ValidationError("network '%s' cannot be recreated with port %s at its address: %s"
                                      % (self.name, port_name, err.msg))

    def _current_records(self):
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports
        raw = self.find()
        return ports.records_of(ports.persistent_xml(raw, self.hypervisor)) if raw is not None else {}

    def create(self, desired, records=None):
        xml = network_xml(self.name, desired, records=self.records if records is None else records)
        net = call('define', self.name, self.conn.networkDefineXML, xml, hypervisor=self.hypervisor)
        try:
            if desired.get('active') is not False:
                call('start', self.name, net.create, hypervisor=self.hypervisor)
            call('set autostart', self.name, net.setAutostart, int(bool(desired.get('autostart'))),
                 hypervisor=self.hypervisor)
        except Exception:
            # Nothing half-created: a network that failed to start is removed again.
            self.delete(net)
            raise

    def delete(self, raw):
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports
        had_ports = bool(ports.records_of(ports.persistent_xml(raw, self.hypervisor)))
        stop_and_undefine(raw, self.name, hypervisor=self.hypervisor)
        if had_ports:
            # The filters of the network's ports go with it.
            ports.sync_port_filters(self.conn, self.hypervisor)

    def update(self, raw, the_plan):
        wanted = dict(self.normalise(raw), **{change.field: change.after for change in the_plan.changes})
        if the_plan.needs_rebuild:
            records = self._current_records()
            stop_and_undefine(raw, self.name, hypervisor=self.hypervisor)
            self.create(wanted, records=records)
            return
        fields = set(the_plan.fields())
        if 'active' in fields:
            if wanted['active']:
                call('start', self.name, raw.create, hypervisor=self.hypervisor)
            else:
                call('stop', self.name, raw.destroy, hypervisor=self.hypervisor)
        if 'autostart' in fields:
            call('set autostart', self.name, raw.setAutostart, int(bool(wanted['autostart'])),
                 hypervisor=self.hypervisor)
        if 'dns_hosts' in fields:
            self._update_dns_hosts(raw, the_plan.before.get('dns_hosts') or [], wanted['dns_hosts'] or [])

    def _update_dns_hosts(self, raw, before, after):
        """DNS host records changed in place with ``virNetworkUpdate``: live (when the network
        runs) and in the persistent config."""
        flags = _AFFECT_CONFIG | (_AFFECT_LIVE if raw.isActive() else 0)
        old = {host['ip']: host for host in before}
        new = {host['ip']: host for host in after}
        for ip in sorted(old):
            if old[ip] != new.get(ip):
                call('update DNS host %s' % ip, self.name, raw.update, _UPDATE_DELETE, _SECTION_DNS_HOST, -1,
                     xmlutil.tostring(dns_host_xml(old[ip])), flags, hypervisor=self.hypervisor)
        for ip in sorted(new):
            if old.get(ip) != new[ip]:
                call('update DNS host %s' % ip, self.name, raw.update, _UPDATE_ADD_LAST, _SECTION_DNS_HOST, -1,
                     xmlutil.tostring(dns_host_xml(new[ip])), flags, hypervisor=self.hypervisor)


def _selected(cm):
    names = cm.params.get('hypervisors')
    return cm.cloud.select_hypervisors(names, enabled_only=not names)


def run_network(cm):
    """The ``network`` module: validate, refuse overlaps on every hypervisor, plan on all of them
    (so any refusal comes before any change), then reconcile."""
    from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports
    params = cm.params
    name = params['name']
    desired = desired_from_params(params) if params['state'] == 'present' else None
    subnet = subnet_of(name, desired) if desired else None
    selected = _selected(cm)

    def survey(hv, conn):
        if subnet is not None:
            check_no_overlap_on(subnet, conn, hv.name)
        net = lookup(conn.networkLookupByName, name, hypervisor=hv.name)
        return ports.records_of(ports.persistent_xml(net, hv.name)) if net is not None else {}

    records = {}
    for found in map_or_fail(cm, survey, selected, "network '%s'" % name).values():
        for port_name, record in found.items():
            records.setdefault(port_name, record)
    return reconcile_on_hypervisors(
        cm, lambda conn, hv: Network(conn, hv.name, name, desired, bool(params['recreate']), records),
        result_key='networks', precheck=True)


def network_facts(net, facts, hypervisor):
    """What ``network_info`` returns for one network on one hypervisor."""
    from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports
    active = bool(net.isActive())
    leases = []
    if active and facts['cidr']:
        leases = [{'mac': lease.get('mac'), 'ipaddr': lease.get('ipaddr'), 'hostname': lease.get('hostname')}
                  for lease in call('DHCP leases', facts['name'], net.DHCPLeases, hypervisor=hypervisor)
                  if lease.get('type', 0) == 0]  # IPv4 leases only
    free = None
    subnet = subnet_of(facts['name'], facts) if facts['cidr'] and facts['allocation_pools'] else None
    if subnet is not None:
        used = {r['ip']: 'reservation %s' % (r['name'] or r['mac']) for r in facts['reservations'] if r['ip']}
        used.update((lease['ipaddr'], 'lease %s' % lease['mac']) for lease in leases if lease['ipaddr'])
        free = ipam.free_count(subnet, used)
    out = {key: facts[key] for key in ('name', 'uuid', 'managed', 'mode', 'bridge', 'mtu', 'cidr', 'gateway',
                                       'dns_servers', 'dns_domain', 'dns_hosts', 'reservations')}
    leased = {lease['mac']: lease['ipaddr'] for lease in leases if lease.get('mac')}
    records = ports.records_of(ports.persistent_xml(net, hypervisor)) if facts['managed'] else {}
    out.update(hypervisor=hypervisor, active=active, autostart=bool(net.autostart()),
               allocation_pools=facts['allocation_pools'] or [], leases=leases, free_addresses=free,
               ports=[dict(records[name], leased_ip=leased.get(records[name]['mac'])) for name in sorted(records)])
    return out


def report_networks(cm):
    """The ``network_info`` module: every network (or the one named) on each selected hypervisor."""
    name = cm.params.get('name')
    listed, unreachable = [], []

    def read(hv, conn):
        return [network_facts(net, facts, hv.name) for net, facts in list_networks(conn, hv.name)
                if not name or facts['name'] == name]

    for hv, found, err in cm.connections.map(read, cm.cloud.select_hypervisors(cm.params.get('hypervisors'))):
        if err is not None:
            unreachable.append('%s: %s' % (hv.name, err.msg))
            continue
        listed.extend(found)
    return dict(changed=False, networks=sorted(listed, key=lambda n: (n['name'], n['hypervisor'])),
                unreachable_hypervisors=unreachable)
