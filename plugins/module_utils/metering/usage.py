# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every server uses now, from libvirt's bulk domain stats: the ``usage_info`` module and
the exporter read the same.

One ``getAllDomainStats`` per hypervisor gives every domain's state, CPU time, balloon, block
and interface counters. What the counters do not carry — which server, project, flavor, image
and port they belong to — comes from the domains' descriptions (:func:`labels_of`), which the
exporter keeps by domain (its UUID and run id) and ``usage_info`` reads each time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import ROOT_DEVICE, power_state_of, server_facts
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import server_matches
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
    VIR_DOMAIN_STATS_BALLOON, VIR_DOMAIN_STATS_BLOCK, VIR_DOMAIN_STATS_CPU_TOTAL, VIR_DOMAIN_STATS_INTERFACE,
    VIR_DOMAIN_STATS_STATE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable, unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import list_on

USAGE_STATS = (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON
               | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)

# The labels of a server's series and of its entry in usage_info, in this order.
SERVER_LABELS = ('server', 'uuid', 'project', 'flavor', 'image', 'hypervisor', 'zone')


def indexed(values, group):
    """libvirt's numbered stats of ``group`` (``net``, ``block``) as a list of dicts:
    ``net.0.name``, ``net.0.rx.bytes`` ... -> ``[{'name': ..., 'rx.bytes': ...}]``."""
    items = []
    for i in range(int(values.get('%s.count' % group, 0))):
        prefix = '%s.%d.' % (group, i)
        items.append({key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)})
    return items


def labels_of(dom, hv, state, persistent=None):
    """What the counters of domain ``dom`` of hypervisor ``hv`` belong to, or None for a domain
    the collection did not make: ``{labels: {server, uuid, project, flavor, image, hypervisor,
    zone}, facts, ports: {tap device: port}}``. ``state`` is libvirt's state number, as the bulk
    stats gave it. A running domain's tap devices are named in its live description only: one
    more read then."""
    facts = server_facts(dom, hv.name, state=state, persistent=persistent)
    running = power_state_of(state) != 'stopped'
    if facts is None:
        return None
    flavor = facts.get('flavor') or {}
    labels = {'server': facts['name'], 'uuid': facts['uuid'], 'project': facts.get('project') or '',
              'flavor': flavor.get('name') or '', 'image': facts.get('image') or '', 'hypervisor': hv.name,
              'zone': hv.zone}
    by_mac = {port['mac'].lower(): port for port in facts.get('ports') or []}
    ports = {}
    if running:
        live = xmlutil.parse(dom.XMLDesc(0))
        for iface in live.findall('devices/interface'):
            mac = (xmlutil.attr(iface, 'mac', 'address') or '').lower()
            dev = xmlutil.attr(iface, 'target', 'dev')
            if dev and mac in by_mac:
                ports[dev] = by_mac[mac]
    return {'labels': labels, 'facts': facts, 'ports': ports}


def counters(values, known):
    """The counters of one domain's stats ``values``, named as the collection names them;
    ``known`` is :func:`labels_of`'s result for it. A stopped server has its disks' virtual
    sizes and no other counter."""
    state = power_state_of(values.get('state.state', 0))
    running = state != 'stopped'
    paths = {d['target']: d['path'] for d in known['facts'].get('disks') or []}
    disks = [{'device': disk.get('name'), 'path': disk.get('path') or paths.get(disk.get('name')),
              'capacity': int(disk.get('capacity', 0)),
              'read_bytes': int(disk.get('rd.bytes', 0)) if running else 0,
              'write_bytes': int(disk.get('wr.bytes', 0)) if running else 0}
             for disk in indexed(values, 'block')]
    return {
        'power_state': state,
        'cpu_time_ns': int(values.get('cpu.time', 0)) if running else 0,
        'memory_kib': int(values.get('balloon.current', 0)) if running else 0,
        'root_size': next((d['capacity'] for d in disks if d['device'] == ROOT_DEVICE), 0),
        'disks': disks,
        'interfaces': [_interface(iface, known['ports'].get(iface.get('name'))) for iface in indexed(values, 'net')]
        if running else [],
    }


def _interface(iface, port):
    port = port or {}
    return {'device': iface.get('name'), 'port': port.get('name'), 'network': port.get('network'),
            'mac': port.get('mac'), 'rx_bytes': int(iface.get('rx.bytes', 0)), 'tx_bytes': int(iface.get('tx.bytes', 0))}


def read_usage(h):
    """Every server of hypervisor ``h`` with what it uses now, by name, and its data volumes:
    ``(servers, volumes)``. One bulk stats call and one list of the transient domains, then one
    description per server (two for a running one), then one list of the volumes pool."""
    servers = {}
    transient = {dom.name() for dom in h.listAllDomains(VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
    for dom, values in h.getAllDomainStats(USAGE_STATS):
        known = labels_of(dom, h.hv, values.get('state.state', 0), persistent=dom.name() not in transient)
        if known is None:
            continue
        servers[known['labels']['server']] = server_usage(known, values)
    volumes = [{'name': found.name, 'project': found.record.get('project'), 'hypervisor': h.name,
                'path': found.vol.path(), 'size': found.vol.info()[1]} for found in list_on(h)]
    return servers, volumes


def server_usage(known, values):
    """One server's entry of ``usage_info``: its labels, allocation and counters."""
    facts = known['facts']
    entry = {key if key != 'server' else 'name': value for key, value in known['labels'].items()}
    entry.update(vcpus=facts['vcpus'], ram=facts['ram'], tags=facts.get('tags') or [])
    entry.update(counters(values, known))
    return entry


TOTALS = ('servers', 'running', 'vcpus', 'ram', 'cpu_time_ns', 'memory_kib', 'disk_read_bytes', 'disk_write_bytes',
          'rx_bytes', 'tx_bytes', 'volumes', 'volume_bytes')


def project_totals(servers, volumes):
    """Per project: servers and running ones, their vCPUs and RAM (MiB, allocated while
    running), CPU time, memory, disk and network bytes, volumes and their bytes."""
    totals = {}

    def of(project):
        return totals.setdefault(project or '', dict.fromkeys(TOTALS, 0))

    for server in servers:
        total = of(server['project'])
        total['servers'] += 1
        if server['power_state'] != 'stopped':
            total['running'] += 1
            total['vcpus'] += server['vcpus']
            total['ram'] += server['ram']
        total['cpu_time_ns'] += server['cpu_time_ns']
        total['memory_kib'] += server['memory_kib']
        total['disk_read_bytes'] += sum(d['read_bytes'] for d in server['disks'])
        total['disk_write_bytes'] += sum(d['write_bytes'] for d in server['disks'])
        total['rx_bytes'] += sum(i['rx_bytes'] for i in server['interfaces'])
        total['tx_bytes'] += sum(i['tx_bytes'] for i in server['interfaces'])
    for volume in volumes:
        total = of(volume['project'])
        total['volumes'] += 1
        total['volume_bytes'] += volume['size']
    return [dict(total, project=name) for name, total in sorted(totals.items())]


def run_usage_info(cm):
    """The ``usage_info`` module: what every server of the reachable hypervisors (or the one
    named) uses now, its volumes, and per-project totals of what was listed."""
    params = cm.params
    if params.get('project'):
        cm.cloud.project(params['project'])
    hypervisors = cm.cloud.select_hypervisors([params['hypervisor']] if params.get('hypervisor') else None)
    found, unreachable = map_reachable(cm, read_usage, hypervisors, 'reading the usage')
    servers = sorted((server for _hv, (on, _vols) in found for server in on.values() if server_matches(server, params)),
                     key=lambda server: server['name'])
    volumes = sorted((volume for _hv, (_on, vols) in found for volume in vols
                      if not params.get('project') or volume['project'] == params['project']),
                     key=lambda volume: volume['name'])
    if params.get('name') or params.get('power_state') or params.get('tags'):
        # Volumes are not servers: with a filter on servers, only the volumes they have attached.
        attached = {disk['path'] for server in servers for disk in server['disks']}
        volumes = [volume for volume in volumes if volume.get('path') in attached]
    return {'changed': False, 'servers': servers, 'volumes': volumes,
            'projects': project_totals(servers, volumes), 'unreachable_hypervisors': unreachable_list(unreachable)}
