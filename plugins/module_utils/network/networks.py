# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt virtual networks with an IPv4 subnet: the ``network`` and ``network_info`` modules.

A network is defined on every selected hypervisor from one normalised description (see
:mod:`.netxml`); a new definition carries the network's ports, known from any of its
hypervisors, so a recreate or a new hypervisor keeps them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_NETWORK_SECTION_DNS_HOST, VIR_NETWORK_UPDATE_AFFECT_CONFIG, VIR_NETWORK_UPDATE_AFFECT_LIVE,
    VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_UPDATE_COMMAND_DELETE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import descriptions, stop_and_undefine
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import (
    map_or_fail, map_reachable, reconcile_on_hypervisors, selected, unreachable_list)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import DELETE, LIVE, REBUILD, UPDATE, Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import sync_port_filters
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.netxml import (
    DEFINITION_FIELDS, MODES, desired_from_params, dns_host_xml, network_xml, parse_network_xml, subnet_of)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import (
    list_networks, network_records, with_records)


def interfaces_on(h, network):
    """``[(domain name, MAC, filter name or None)]`` of the interfaces on ``network`` of
    hypervisor ``h``, from each domain's live XML and, for a running persistent domain, its
    persistent config too."""
    found = set()
    for dom in h.listAllDomains(0):
        dom_name = dom.name()
        for desc in descriptions(dom):
            for iface in desc.findall("devices/interface[@type='network']"):
                if xmlutil.attr(iface, 'source', 'network') == network:
                    mac = xmlutil.attr(iface, 'mac', 'address')
                    found.add((dom_name, mac.lower() if mac else None, xmlutil.attr(iface, 'filterref', 'filter')))
    return sorted(found, key=lambda item: tuple(value or '' for value in item))


def domains_using(h, network):
    """Names of the domains with an interface on ``network``, live or in their persistent config."""
    return sorted(set(dom for dom, _mac, _filter in interfaces_on(h, network)))


def check_no_overlap_on(subnet, h):
    """Refuse ``subnet`` when it overlaps another kvmcloud network of hypervisor ``h``."""
    for _net, facts in list_networks(h):
        if not facts['managed'] or facts['name'] == subnet.name or not facts['cidr']:
            continue
        other = ipam.Subnet(name=facts['name'], cidr=facts['cidr'], gateway=facts['gateway'], allocation_pools=())
        try:
            ipam.check_no_overlap([subnet, other])
        except ValidationError as err:
            raise ValidationError('%s on hypervisor %s' % (err.msg, h.name))


class Network(Resource):
    """One network on one hypervisor."""

    set_fields = ('allocation_pools', 'dns_hosts')
    modes = dict({key: REBUILD for key in DEFINITION_FIELDS}, active=LIVE, autostart=LIVE, dns_hosts=LIVE)

    def __init__(self, h, name, desired, recreate=False, records=None):
        self.h = h
        self.name = name
        self._desired = desired
        self.recreate = recreate
        # Ports of the network known from its other hypervisors: a new definition holds them too.
        self.records = records or {}

    def allows_rebuild(self):
        return self.recreate

    def find(self):
        return self.h.network(self.name)

    def normalise(self, raw):
        facts = parse_network_xml(raw.XMLDesc(0))
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
        users = domains_using(self.h, self.name)
        if users:
            raise ValidationError("network '%s' is in use by server%s %s on hypervisor %s; detach %s first"
                                  % (self.name, 's' if len(users) > 1 else '', ', '.join(users),
                                     self.h.name, 'them' if len(users) > 1 else 'it'))
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
        return network_records(self.find())

    def create(self, desired, records=None):
        records = self.records if records is None else records
        xml = network_xml(self.name, desired)
        if records:
            xml = with_records(xml, records)
        net = self.h.about(self.name).networkDefineXML(xml)
        # Nothing half-created: a network that failed to start is removed again.
        with Undo("network '%s'" % self.name) as undo:
            undo.add('remove the network', self.delete, net)
            if desired.get('active') is not False:
                net.create()
            net.setAutostart(int(bool(desired.get('autostart'))))

    def delete(self, raw):
        had_ports = bool(network_records(raw))
        stop_and_undefine(raw)
        if had_ports:
            # The filters of the network's ports go with it.
            sync_port_filters(self.h)

    def update(self, raw, the_plan):
        wanted = dict(self.normalise(raw), **{change.field: change.after for change in the_plan.changes})
        if the_plan.needs_rebuild:
            records = self._current_records()
            stop_and_undefine(raw)
            self.create(wanted, records=records)
            return
        fields = set(the_plan.fields())
        if 'active' in fields:
            if wanted['active']:
                raw.create()
            else:
                raw.destroy()
        if 'autostart' in fields:
            raw.setAutostart(int(bool(wanted['autostart'])))
        if 'dns_hosts' in fields:
            self._update_dns_hosts(raw, the_plan.before.get('dns_hosts') or [], wanted['dns_hosts'] or [])

    def _update_dns_hosts(self, raw, before, after):
        """DNS host records changed in place with ``virNetworkUpdate``: live (when the network
        runs) and in the persistent config."""
        flags = VIR_NETWORK_UPDATE_AFFECT_CONFIG | (VIR_NETWORK_UPDATE_AFFECT_LIVE if raw.isActive() else 0)
        old = {host['ip']: host for host in before}
        new = {host['ip']: host for host in after}
        for ip in sorted(old):
            if old[ip] != new.get(ip):
                raw.about('DNS host %s of %s' % (ip, self.name)).update(
                    VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_SECTION_DNS_HOST, -1,
                    xmlutil.tostring(dns_host_xml(old[ip])), flags)
        for ip in sorted(new):
            if old.get(ip) != new[ip]:
                raw.about('DNS host %s of %s' % (ip, self.name)).update(
                    VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, VIR_NETWORK_SECTION_DNS_HOST, -1,
                    xmlutil.tostring(dns_host_xml(new[ip])), flags)


def run_network(cm):
    """The ``network`` module: validate, refuse overlaps on every hypervisor, plan on all of them
    (so any refusal comes before any change), then reconcile."""
    params = cm.params
    name = params['name']
    if params['state'] == 'present':
        # Removal takes any name, so a network made before the rule can still be removed.
        names.resource_name('network', name)
    desired = desired_from_params(params) if params['state'] == 'present' else None
    subnet = subnet_of(name, desired) if desired else None

    def survey(h):
        if subnet is not None:
            check_no_overlap_on(subnet, h)
        return network_records(h.network(name))

    records = {}
    for found in map_or_fail(cm, survey, selected(cm), "network '%s'" % name).values():
        for port_name, record in found.items():
            records.setdefault(port_name, record)
    return reconcile_on_hypervisors(
        cm, lambda h: Network(h, name, desired, bool(params['recreate']), records),
        result_key='networks')


def leases_of(net):
    """The IPv4 DHCP leases of a running network: ``[{mac, ipaddr, hostname}]``."""
    return [{'mac': lease.get('mac'), 'ipaddr': lease.get('ipaddr'), 'hostname': lease.get('hostname')}
            for lease in net.DHCPLeases() if lease.get('type', 0) == 0]


def network_facts(net, facts, hypervisor):
    """What ``network_info`` returns for one network on one hypervisor."""
    active = bool(net.isActive())
    leases = leases_of(net) if active and facts['cidr'] else []
    free = None
    subnet = subnet_of(facts['name'], facts) if facts['cidr'] and facts['allocation_pools'] else None
    if subnet is not None:
        used = {r['ip']: 'reservation %s' % (r['name'] or r['mac']) for r in facts['reservations'] if r['ip']}
        used.update((lease['ipaddr'], 'lease %s' % lease['mac']) for lease in leases if lease['ipaddr'])
        free = ipam.free_count(subnet, used)
    out = {key: facts[key] for key in ('name', 'uuid', 'managed', 'mode', 'bridge', 'mtu', 'cidr', 'gateway',
                                       'dns_servers', 'dns_domain', 'dns_hosts', 'reservations')}
    leased = {lease['mac']: lease['ipaddr'] for lease in leases if lease.get('mac')}
    records = network_records(net) if facts['managed'] else {}
    out.update(hypervisor=hypervisor, active=active, autostart=bool(net.autostart()),
               allocation_pools=facts['allocation_pools'] or [], leases=leases, free_addresses=free,
               ports=[dict(records[name], leased_ip=leased.get(records[name]['mac'])) for name in sorted(records)])
    return out


def run_network_info(cm):
    """The ``network_info`` module: every network (or the one named) on each selected hypervisor."""
    name = cm.params.get('name')

    def read(h):
        return [network_facts(net, facts, h.name) for net, facts in list_networks(h)
                if not name or facts['name'] == name]

    found, unreachable = map_reachable(cm, read, selected(cm), 'listing networks')
    listed = [network for _hv, networks in found for network in networks]
    return dict(changed=False, networks=sorted(listed, key=lambda n: (n['name'], n['hypervisor'])),
                unreachable_hypervisors=unreachable_list(unreachable))


# The module's options, here so that cloud_plan validates an item the way the module does.
NETWORK_ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    mode=dict(type='str', choices=list(MODES), default='nat'),
    bridge=dict(type='str'),
    mtu=dict(type='int'),
    subnet=dict(type='dict', options=dict(
        cidr=dict(type='str', required=True),
        gateway=dict(type='str'),
        allocation_pools=dict(type='list', elements='dict', options=dict(
            start=dict(type='str', required=True),
            end=dict(type='str', required=True),
        )),
        dns_servers=dict(type='list', elements='str'),
        dns_domain=dict(type='str'),
    )),
    dns_hosts=dict(type='list', elements='dict', options=dict(
        ip=dict(type='str', required=True),
        hostnames=dict(type='list', elements='str', required=True),
    )),
    hypervisors=dict(type='list', elements='str'),
    recreate=dict(type='bool', default=False),
)
