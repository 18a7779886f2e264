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

from ansible_collections.kvmcloud.cloud.plugins.module_utils import ipam, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    ValidationError, call, lookup, stop_and_undefine)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_or_fail, reconcile_on_hypervisors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import (
    DELETE, LIVE, REBUILD, UPDATE, Resource)

# The collection's mode -> libvirt's forward mode (None: no <forward>, an isolated network).
FORWARD_MODES = {'nat': 'nat', 'routed': 'route', 'isolated': None, 'bridge': 'bridge'}
MODES = tuple(sorted(FORWARD_MODES))

BRIDGE_PREFIX = 'kc-'
# Linux interface names are at most 15 characters (IFNAMSIZ - 1).
BRIDGE_NAME_MAX = 15

# libvirt's flag for the persistent definition of a domain (VIR_DOMAIN_XML_INACTIVE).
_DOMAIN_XML_INACTIVE = 2

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
    desired = dict(mode=mode, bridge=bridge, mtu=mtu, cidr=None, gateway=None, allocation_pools=None,
                   dns_servers=None, dns_domain=None, active=True, autostart=True)
    if subnet_params:
        subnet = ipam.subnet_from_params(
            name, subnet_params.get('cidr'), gateway=subnet_params.get('gateway'),
            allocation_pools=subnet_params.get('allocation_pools'), dns_servers=subnet_params.get('dns_servers'))
        desired.update(_subnet_fields(subnet), dns_domain=subnet_params.get('dns_domain'))
    return desired


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


def network_xml(name, facts, uuid=None):
    """The libvirt XML of a network described by the normalised dict ``facts``."""
    net = xmlutil.element('network')
    xmlutil.sub(net, 'name', name)
    if uuid:
        xmlutil.sub(net, 'uuid', uuid)
    metadata = xmlutil.sub(net, 'metadata')
    metadata.append(xmlutil.metadata_to_element('network', {
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
    if facts.get('dns_servers'):
        dns = xmlutil.sub(net, 'dns')
        for server in facts['dns_servers']:
            xmlutil.sub(dns, 'forwarder', addr=server)
    if facts.get('cidr'):
        prefix = facts['cidr'].split('/')[1]
        ip = xmlutil.sub(net, 'ip', address=facts['gateway'], prefix=prefix)
        dhcp = xmlutil.sub(ip, 'dhcp')
        for pool in facts.get('allocation_pools') or []:
            xmlutil.sub(dhcp, 'range', start=pool['start'], end=pool['end'])
    return xmlutil.tostring(net)


def _cidr(ip):
    ipam.require_netaddr()
    address = ip.get('address')
    prefix = ip.get('prefix') or ip.get('netmask')
    return str(ipam.netaddr.IPNetwork('%s/%s' % (address, prefix)).cidr)


def _ipv4(desc):
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
        'managed': desc.find('metadata/%s' % xmlutil.qname('network')) is not None,
        'mode': modes.get(forward, forward),
        'bridge': xmlutil.attr(desc, 'bridge', 'name'),
        'mtu': int(mtu) if mtu else None,
        'cidr': None, 'gateway': None, 'allocation_pools': None,
        'dns_servers': [f.get('addr') for f in desc.findall('dns/forwarder') if f.get('addr')] or None,
        'dns_domain': xmlutil.attr(desc, 'domain', 'name'),
        'reservations': [],
    }
    ip = _ipv4(desc)
    if ip is not None:
        facts.update(
            cidr=_cidr(ip), gateway=ip.get('address'),
            allocation_pools=[{'start': r.get('start'), 'end': r.get('end')} for r in ip.findall('dhcp/range')],
            reservations=[{'mac': h.get('mac'), 'ip': h.get('ip'), 'name': h.get('name')}
                          for h in ip.findall('dhcp/host')])
        # Normalised like desired_from_params(): a subnet always lists its DNS servers.
        facts['dns_servers'] = facts['dns_servers'] or []
    return facts


def domains_using(conn, network, hypervisor):
    """Names of the domains with an interface on ``network``, live or in their persistent config."""
    users = []
    for dom in call('list domains', hypervisor, conn.listAllDomains, 0, hypervisor=hypervisor):
        dom_name = dom.name()
        xmls = [call('XMLDesc', dom_name, dom.XMLDesc, 0, hypervisor=hypervisor)]
        if dom.isActive() and dom.isPersistent():
            xmls.append(call('XMLDesc', dom_name, dom.XMLDesc, _DOMAIN_XML_INACTIVE, hypervisor=hypervisor))
        for xml in xmls:
            desc = xmlutil.parse(xml)
            if any(xmlutil.attr(iface, 'source', 'network') == network
                   for iface in desc.findall("devices/interface[@type='network']")):
                users.append(dom_name)
                break
    return sorted(users)


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

    set_fields = ('allocation_pools',)
    modes = dict({key: REBUILD for key in DEFINITION_FIELDS}, active=LIVE, autostart=LIVE)

    def __init__(self, conn, hypervisor, name, desired, recreate=False):
        self.conn = conn
        self.hypervisor = hypervisor
        self.name = name
        self._desired = desired
        self.recreate = recreate

    def allows_rebuild(self):
        return self.recreate

    def find(self):
        return lookup(self.conn.networkLookupByName, self.name, hypervisor=self.hypervisor)

    def normalise(self, raw):
        facts = parse_network_xml(call('XMLDesc', self.name, raw.XMLDesc, 0, hypervisor=self.hypervisor))
        current = {key: facts[key] for key in DEFINITION_FIELDS}
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

    def create(self, desired):
        xml = network_xml(self.name, desired)
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
        stop_and_undefine(raw, self.name, hypervisor=self.hypervisor)

    def update(self, raw, the_plan):
        wanted = dict(self.normalise(raw), **{change.field: change.after for change in the_plan.changes})
        if the_plan.needs_rebuild:
            self.delete(raw)
            self.create(wanted)
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


def _selected(cm):
    names = cm.params.get('hypervisors')
    return cm.cloud.select_hypervisors(names, enabled_only=not names)


def run_network(cm):
    """The ``network`` module: validate, refuse overlaps on every hypervisor, then reconcile."""
    params = cm.params
    desired = desired_from_params(params) if params['state'] == 'present' else None
    subnet = subnet_of(params['name'], desired) if desired else None
    if subnet is not None:
        map_or_fail(cm, lambda hv, conn: check_no_overlap_on(subnet, conn, hv.name), _selected(cm),
                    "network '%s'" % params['name'])
    return reconcile_on_hypervisors(
        cm, lambda conn, hv: Network(conn, hv.name, params['name'], desired, bool(params['recreate'])),
        result_key='networks')


def network_facts(net, facts, hypervisor):
    """What ``network_info`` returns for one network on one hypervisor."""
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
                                       'dns_servers', 'dns_domain', 'reservations')}
    out.update(hypervisor=hypervisor, active=active, autostart=bool(net.autostart()),
               allocation_pools=facts['allocation_pools'] or [], leases=leases, free_addresses=free)
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
                unreachable=unreachable)
