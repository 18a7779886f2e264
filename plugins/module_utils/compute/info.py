# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cloud's servers are and what each project uses: the ``server_info`` and
``quota_info`` modules, counted from what exists on every reachable hypervisor."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import describe_server, read_servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable, unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import read_ports
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import usage_on


def server_matches(facts, params):
    """Whether server ``facts`` (or an entry with the same keys) passes the filters the info
    modules take: ``name``, ``project``, ``power_state``, ``tags``."""
    if params.get('name') and facts['name'] != params['name']:
        return False
    if params.get('project') and facts.get('project') != params['project']:
        return False
    if params.get('power_state') and facts['power_state'] != params['power_state']:
        return False
    return set(params.get('tags') or []) <= set(facts.get('tags') or [])


def listed_servers(h, match=None):
    """The servers of hypervisor ``h`` as ``server_info`` returns them (those ``match(facts)``
    accepts, when given), sorted by name: the survey's bulk read (:func:`~.domain.read_servers`,
    with usage), then one read of the DHCP leases of each network their ports are on. The
    inventory plugin lists the same."""
    listed = []
    leases = {}
    servers = read_servers(h, usage=True)
    for name in sorted(servers):
        facts = servers[name]
        if match is not None and not match(facts):
            continue
        entry = describe_server(facts, h.hv)
        for port in entry['ports']:
            if port['network'] not in leases:
                net = h.network(port['network'])
                leases[port['network']] = ({lease['mac'].lower(): lease['ipaddr'] for lease in net.DHCPLeases()
                                            if lease.get('mac')} if net is not None and net.isActive() else {})
            port['leased_ip'] = leases[port['network']].get(port['mac'])
        entry['usage'] = facts['usage']
        listed.append(entry)
    return listed


def run_server_info(cm):
    """The ``server_info`` module: the servers of every reachable hypervisor (or the one
    named), filtered."""
    params = cm.params
    hypervisors = cm.cloud.select_hypervisors([params['hypervisor']] if params.get('hypervisor') else None)
    found, unreachable = map_reachable(cm, lambda h: listed_servers(h, lambda facts: server_matches(facts, params)),
                                       hypervisors, 'reading the servers')
    servers = [server for _hv, listed in found for server in listed]
    return {'changed': False, 'servers': sorted(servers, key=lambda s: s['name']),
            'unreachable_hypervisors': unreachable_list(unreachable)}


def count_usage(readings):
    """``(servers, volumes, ports)`` over the hypervisors' ``readings`` (``{servers, volumes,
    ports}`` each): servers and volumes as found, ports once each, since a port is on every
    hypervisor of its network."""
    found_servers, found_volumes, found_ports = [], [], {}
    for reading in readings:
        found_servers.extend(reading['servers'])
        found_volumes.extend(reading['volumes'])
        for port in reading['ports']:
            found_ports.setdefault(port['name'], port)
    return found_servers, found_volumes, [found_ports[name] for name in sorted(found_ports)]


def _read_usage(h):
    return {'servers': [{'project': s.get('project'), 'vcpus': s['vcpus'], 'ram': s['ram']}
                        for s in read_servers(h).values()],
            'volumes': usage_on(h), 'ports': read_ports(h)}


def run_quota_info(cm):
    """The ``quota_info`` module: each project's limits, what it uses on the reachable
    hypervisors and what remains."""
    wanted = cm.params.get('project')
    projects = [cm.cloud.project(wanted)] if wanted else list(cm.cloud.projects)
    results, unreachable = map_reachable(cm, _read_usage, cm.cloud.hypervisors, 'reading the usage')
    found_servers, found_volumes, found_ports = count_usage(reading for _hv, reading in results)
    return {
        'changed': False,
        'projects': [{'name': project.name, 'quotas': quotas.report(
            project, quotas.usage(project, servers=found_servers, volumes=found_volumes, ports=found_ports))}
            for project in projects],
        'unreachable_hypervisors': unreachable_list(unreachable),
    }
