# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute engine's survey: everything planning needs, read in bulk and returned as plain
data, so that the plan (:mod:`.plan`) is a pure function of it.

One bulk read per hypervisor, hypervisors in parallel: its servers (their states in one call,
then one description each, and the size of each one's root disk from one list of the volumes
pool), its capacity and virtualisation type. Then, as the
request needs them, one read of each hypervisor's networks for all the networks involved, and
the volumes' usage for quotas when a new server boots from a volume.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import placement
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import read_servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import root_volume_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_or_fail, map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.record import virt_type
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import image_names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import group_names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.view import gather_networks
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import FORMATS, data_name, usage_on

GIB = 1024 ** 3


@dataclass
class Host:
    """One reachable hypervisor as the survey read it."""

    servers: Dict[str, Dict[str, Any]]
    cpus: int
    memory_mb: int
    disk_gb: float
    virt_type: str


@dataclass
class Survey:
    """What the cloud holds, as far as planning servers goes."""

    hosts: Dict[str, Host]                   # reachable hypervisors, by name
    unreachable: Dict[str, str]              # hypervisor name -> reason
    servers: Dict[str, Dict[str, Any]]       # every server, by name
    networks: Dict[str, Any] = field(default_factory=dict)   # network name -> NetworkView
    volumes: Optional[List[Dict[str, Any]]] = None            # [{project, size}], when read
    images: Optional[Dict[str, frozenset]] = None             # hypervisor -> registered images, when read
    groups: Optional[Dict[str, frozenset]] = None             # hypervisor -> security groups, when read


def root_sizes(pool, servers):
    """Set each server's ``root_size``: the size in bytes of the volume it boots from (its root
    overlay, or its boot volume), None when that is missing; one list of the pool, then one
    size per server's volume."""
    volumes = {vol.name(): vol for vol in pool.listAllVolumes(0)}
    for server in servers.values():
        if server.get('boot_volume'):
            names = [data_name(server['boot_volume'], fmt) for fmt in FORMATS]
        else:
            names = [root_volume_name(server['name'])]
        vol = next((volumes[name] for name in names if name in volumes), None)
        server['root_size'] = vol.info()[1] if vol is not None else None


def read_host(h):
    """The survey of one hypervisor."""
    _model, memory_mb, cpus = h.getInfo()[:3]
    pool = volumes_pool(h)
    servers = read_servers(h)
    root_sizes(pool, servers)
    return Host(servers=servers, cpus=cpus, memory_mb=memory_mb, disk_gb=pool.info()[1] / GIB,
                virt_type=virt_type(h)[0] or 'qemu')


def all_servers(hosts):
    """``{server name: facts}`` over every hypervisor; a name on two hypervisors is an error."""
    out = {}
    for hv_name in sorted(hosts):
        for name, server in hosts[hv_name].servers.items():
            if name in out:
                raise KvmcloudError('server %s exists on hypervisors %s and %s; remove one of them'
                                    % (name, out[name]['hypervisor'], hv_name))
            out[name] = server
    return out


def survey(cm):
    """The servers, capacity and virt type of every reachable hypervisor of the cloud."""
    results, unreachable = map_reachable(cm, read_host, cm.cloud.hypervisors, 'reading the servers')
    hosts = {hv.name: host for hv, host in results}
    return Survey(hosts=hosts, unreachable=unreachable, servers=all_servers(hosts))


def add_networks(cm, found, names):
    """Read the networks ``names`` (and the ports of all networks) into the survey ``found``."""
    wanted = sorted(set(names) - set(found.networks))
    if wanted:
        found.networks.update(gather_networks(cm, wanted, [cm.cloud.hypervisor(n) for n in sorted(found.hosts)]))


def add_volume_usage(cm, found):
    """Read what every data volume counts towards quotas into the survey ``found``."""
    if found.volumes is None:
        usage = map_or_fail(cm, usage_on, [cm.cloud.hypervisor(n) for n in sorted(found.hosts)], 'reading the volumes')
        found.volumes = [entry for name in sorted(usage) for entry in usage[name]]


def add_catalogs(cm, found):
    """Read which images and security groups every reachable hypervisor has into the survey
    ``found``: what planning new servers and new ports checks before anything is written."""
    if found.images is None:
        hvs = [cm.cloud.hypervisor(n) for n in sorted(found.hosts)]
        found.images = map_or_fail(cm, image_names, hvs, 'reading the image catalogs')
        found.groups = map_or_fail(cm, group_names, hvs, 'reading the security groups')


def placement_hosts(cloud, found, leave_out=None):
    """The scheduler's view of every hypervisor: capacity, what its servers use, their server
    groups. ``leave_out`` (a server) is not counted, and its own hypervisor is not offered (a
    migration looks for another one)."""
    hosts = []
    for hv in cloud.hypervisors:
        if leave_out is not None and hv.name == leave_out['hypervisor']:
            continue
        host = found.hosts.get(hv.name)
        if host is None:
            hosts.append(placement.host_from(hv, reachable=False, reason=found.unreachable.get(hv.name, '')))
            continue
        hosted = [s for s in host.servers.values() if leave_out is None or s['name'] != leave_out['name']]
        groups = {}
        for server in hosted:
            group = (server.get('server_group') or {}).get('name')
            if group:
                groups.setdefault(group, set()).add(server['name'])
        hosts.append(placement.host_from(
            hv, vcpus=host.cpus, ram_mb=host.memory_mb, disk_gb=host.disk_gb,
            used_vcpus=sum(s['vcpus'] for s in hosted), used_ram_mb=sum(s['ram'] for s in hosted),
            used_disk_gb=sum((s.get('flavor') or {}).get('disk') or 0 for s in hosted), groups=groups))
    return hosts
