# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ``quota_info`` module reports: each project's limits and its usage, counted from
what exists on every reachable hypervisor."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils import ports, quotas, servers, volumes
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_reachable


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


def _read_usage(hv, conn):
    return {'servers': [{'project': s.get('project'), 'vcpus': s['vcpus'], 'ram': s['ram']}
                        for s in servers.read_servers(conn, hv.name).values()],
            'volumes': volumes.usage_on(conn, hv), 'ports': ports.read_ports(conn, hv.name)}


def report_quotas(cm):
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
        'unreachable_hypervisors': ['%s: %s' % item for item in unreachable.items()],
    }
