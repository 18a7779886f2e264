# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What allocating a port needs to know of its network across the whole cloud, read once.

Addresses are allocated once for the whole cloud: what is in use is read from every reachable
hypervisor the network is on (reservations, leases, records) before anything is planned. One
read of each hypervisor serves every network asked for (:func:`gather_networks`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable, unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.netxml import subnet_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import hosts_of, managed_networks, records_of


class NetworkView:
    """One network as every reachable hypervisor it is defined on holds it."""

    def __init__(self, name):
        self.name = name
        self.hypervisors = []      # names of the hypervisors the network is on
        self.facts = None          # parsed network of the first of them
        self.records = {}          # port name -> record (first hypervisor that has it wins)
        self.held = {}             # hypervisor -> {port name: record} of the records reserved there
        self.used = {}             # address -> (owner, MAC), over all hypervisors
        self.macs = set()          # MACs in use on the network, over all hypervisors
        self.other_ports = {}      # port name -> network, for ports of other networks
        self.project_ports = {}    # project -> set of port names, over all networks
        self.unreachable = []

    def subnet(self):
        subnet = subnet_of(self.name, self.facts) if self.facts else None
        if subnet is None or not subnet.allocation_pools:
            raise ValidationError("network '%s' has no subnet with allocation pools, so it cannot hold ports"
                                  % self.name)
        return subnet

    def add(self, record):
        """Count a record planned by this run as in use, so that no later port takes its
        address or MAC."""
        self.records[record['name']] = record
        self.macs.add(record['mac'])

    def missing_on(self, record):
        """The hypervisors of the network that lack ``record`` or its reservation (a run that
        failed half-way, or a hypervisor that was down when the port was written)."""
        def holds(hypervisor):
            if hypervisor not in self.held:
                return True     # not read from that hypervisor: nothing known to repair
            held = self.held[hypervisor].get(record['name'])
            return held is not None and (held['mac'], held['ip']) == (record['mac'], record['ip'])
        return [hv for hv in self.hypervisors if not holds(hv)]


class NetworkNotFound(ValidationError):
    """The network of a port exists on no reachable hypervisor."""


def _reader(wanted):
    """``read(h)``: ``({network: (facts, records, hosts, leases)}, [(network, records)])`` of one
    hypervisor: the networks in ``wanted`` in full, the ports of all others."""
    def read(h):
        found, elsewhere = {}, []
        for net, facts, xml in managed_networks(h):
            records = records_of(xml)
            if facts['name'] in wanted:
                leases = [lease for lease in net.DHCPLeases() if lease.get('type', 0) == 0] if net.isActive() else []
                found[facts['name']] = (facts, records, hosts_of(xml), leases)
            else:
                elsewhere.append((facts['name'], records))
        return found, elsewhere
    return read


def _fill(view, facts, records, hosts, leases, hypervisor):
    view.hypervisors.append(hypervisor)
    if view.facts is None:
        view.facts = facts
    reserved = {(host['mac'], host['ip']) for host in hosts}
    view.held[hypervisor] = {name: record for name, record in records.items()
                             if (record.get('mac'), record.get('ip')) in reserved}
    for name, record in records.items():
        view.records.setdefault(name, record)
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


def gather_networks(cm, networks, hypervisors):
    """``{network: NetworkView}`` of the networks named in ``networks``, from one read of each
    of ``hypervisors``; unreachable ones are listed in every view, other failures raised. The
    view of a network found on no reachable hypervisor has no ``hypervisors``."""
    wanted = set(networks)
    views = {name: NetworkView(name) for name in wanted}
    results, unreachable = map_reachable(cm, _reader(wanted), hypervisors, 'reading the networks')
    all_ports = {}
    for hv, (found, elsewhere) in results:
        for name, (facts, records, hosts, leases) in found.items():
            _fill(views[name], facts, records, hosts, leases, hv.name)
            for record in records.values():
                all_ports.setdefault(record['name'], (name, record.get('project')))
        for other, records in elsewhere:
            for record in records.values():
                all_ports.setdefault(record['name'], (other, record.get('project')))
    for view in views.values():
        view.unreachable = unreachable_list(unreachable)
        for port, (network, project) in all_ports.items():
            if network != view.name:
                view.other_ports.setdefault(port, network)
            view.project_ports.setdefault(project, set()).add(port)
    return views


def gather(cm, network, hypervisors):
    """The :class:`NetworkView` of ``network``; :class:`NetworkNotFound` when no reachable
    hypervisor of ``hypervisors`` has it."""
    view = gather_networks(cm, [network], hypervisors)[network]
    if not view.hypervisors:
        raise NetworkNotFound("network '%s' is not defined on any reachable hypervisor%s"
                              % (network, ' (unreachable: %s)' % '; '.join(view.unreachable)
                                 if view.unreachable else ''), unreachable=view.unreachable)
    return view
