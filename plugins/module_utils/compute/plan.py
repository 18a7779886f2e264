# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute engine's plan: a pure function from the survey (:mod:`.survey`) and the servers
asked for to what the run does to each server.

Quotas are checked for every project before anything is created, every new server is placed
(each consuming capacity before the next), the addresses of all new ports are planned together
so two ports never get the same one, each server's seed is built, and the drift of each existing
server is classified: applied live, in its config (``reboot_required``), or only by a rebuild,
which needs ``rebuild: true`` and is refused otherwise before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import math
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import placement, seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import boot_volume_name, console_path
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.survey import placement_hosts
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import allocation_check
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import (
    CONFIG, CREATE, DELETE, LIVE, REBUILD, UPDATE, Change, Plan, compare, diff_of, refuse_rebuild)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import missing_groups_error
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.ports import plan_record
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import DEFAULT_GROUP

GIB = 1024 ** 3

# How a changed field of an existing server applies.
MODES = {'vcpus': CONFIG, 'ram': CONFIG, 'flavor': LIVE, 'disk': LIVE, 'image': REBUILD, 'seed_hash': CONFIG,
         'tags': LIVE, 'meta': LIVE, 'key_name': CONFIG, 'power_state': LIVE, 'project': REBUILD,
         'networks': LIVE, 'volumes': LIVE, 'server_group': REBUILD, 'boot_from_volume': REBUILD}
SET_FIELDS = ('tags', 'volumes')
# Rebuild-only changes that rebuild: true allows; the others need the server deleted first.
REBUILDABLE = {'image'}


@dataclass
class ServerPlan(Plan):
    """What the run does to one server (a :class:`Plan`): ``spec`` is what was asked for,
    ``server`` the existing server's facts, ``hypervisor`` where it is or goes."""

    name: str = ''
    spec: Optional[Dict[str, Any]] = None
    server: Optional[Dict[str, Any]] = None
    hypervisor: Optional[str] = None
    uuid: Optional[str] = None
    port_records: List[Dict[str, Any]] = field(default_factory=list)     # in interface order
    added_records: List[Dict[str, Any]] = field(default_factory=list)    # ports an existing server gets
    removed_records: List[Dict[str, Any]] = field(default_factory=list)  # and loses
    repaired: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)  # hypervisor -> records it lacks
    seed: Optional[Dict[str, Any]] = None                                # the seed's files

    @property
    def reboot_required(self):
        return any(c.mode == CONFIG for c in self.changes) and (self.server or {}).get('power_state') == 'running'

    @property
    def starts(self):
        """Whether the run brings the server up: created running, or started from another state."""
        return bool(self.spec) and self.spec['power_state'] == 'running' and (
            self.action == CREATE or (self.action == UPDATE and 'power_state' in self.fields()))

    def summary(self):
        """What the module returns for the server (predicted for one not created yet)."""
        if self.action == DELETE:
            return {'name': self.server['name'], 'hypervisor': self.server['hypervisor']}
        spec = self.spec
        ports = [{'name': r['name'], 'network': r['network'], 'ip': r['ip'], 'mac': r['mac']}
                 for r in self.port_records]
        return {
            'name': self.name, 'uuid': self.uuid, 'hypervisor': self.hypervisor, 'project': spec['project'],
            'flavor': spec['flavor'], 'image': spec['image'], 'ports': ports,
            'addresses': {p['network']: p['ip'] for p in ports}, 'volumes': spec['volumes'],
            'power_state': spec['power_state'], 'tags': spec['tags'], 'meta': spec['meta'],
            'server_group': spec['server_group'], 'console': console_path(self.name),
        }

    def metadata(self, created):
        """The metadata the server's domain keeps."""
        spec = self.spec
        return {
            'project': spec['project'], 'flavor': spec['flavor'], 'image': spec['image'],
            'ports': [{'name': r['name'], 'network': r['network'], 'ip': r['ip'], 'mac': r['mac']}
                      for r in self.port_records],
            'volumes': spec['volumes'], 'key_name': spec['key_name'], 'server_group': spec['server_group'],
            'seed_hash': seeds.seed_hash(self.seed), 'tags': spec['tags'], 'meta': spec['meta'],
            'boot_volume': boot_volume_name(self.name) if spec['boot_from_volume'] else None,
            'created': self.server.get('created') if self.server else created,
        }


@dataclass
class FleetPlan:
    """What the run does to every server involved, in the order asked (deletions last)."""

    servers: List[ServerPlan]
    warnings: List[str] = field(default_factory=list)

    @property
    def changed(self):
        return any(self.servers)

    @property
    def reboot_required(self):
        return any(p.reboot_required for p in self.servers)

    def diff(self):
        return diff_of({p.name: p for p in self.servers})

    def of(self, action):
        return [p for p in self.servers if p.action == action]


def current_of(server):
    """The comparable state of an existing server."""
    size = server.get('root_size')
    return {
        'project': server.get('project'), 'flavor': (server.get('flavor') or {}).get('name'),
        'vcpus': server['vcpus'], 'ram': server['ram'], 'disk': math.ceil(size / GIB) if size else None,
        'image': server.get('image'), 'networks': [p['network'] for p in server.get('ports') or []],
        'volumes': list(server.get('volumes') or []), 'key_name': server.get('key_name'),
        'seed_hash': server.get('seed_hash'), 'tags': server.get('tags') or [], 'meta': server.get('meta') or {},
        'server_group': (server.get('server_group') or {}).get('name'), 'power_state': server['power_state'],
        'boot_from_volume': bool(server.get('boot_volume')),
    }


def desired_of(spec, seed_hash):
    flavor = spec['flavor']
    return {
        'project': spec['project'], 'flavor': flavor['name'], 'vcpus': flavor['vcpus'], 'ram': flavor['ram'],
        'disk': flavor['disk'] or None, 'image': spec['image'], 'networks': [n['network'] for n in spec['networks']],
        'volumes': spec['volumes'], 'key_name': spec['key_name'], 'seed_hash': seed_hash, 'tags': spec['tags'],
        'meta': spec['meta'], 'server_group': (spec['server_group'] or {}).get('name'),
        'power_state': spec['power_state'], 'boot_from_volume': spec['boot_from_volume'],
    }


def doomed(servers, names, absent=(), exclusive_project=None):
    """The existing servers the run deletes: those named in ``absent``, and with
    ``exclusive_project`` that project's servers not in ``names``."""
    gone = set(absent)
    if exclusive_project:
        gone |= {name for name, server in servers.items()
                 if server.get('project') == exclusive_project and name not in names}
    return sorted(name for name in gone if name in servers)


def involved_networks(specs, servers, gone):
    """The networks planning reads: those the servers asked for use, and those of the existing
    servers the run may change or delete."""
    touched = [servers[s['name']] for s in specs if s['name'] in servers] + [servers[n] for n in gone]
    return sorted({iface['network'] for spec in specs for iface in spec['networks']}
                  | {port['network'] for server in touched for port in server.get('ports') or []})


def seed_files(cloud, spec, uuid, records, views):
    """The files of a server's NoCloud seed."""
    interfaces = []
    for record in records:
        facts = views[record['network']].facts
        interfaces.append({'mac': record['mac'], 'ip': record['ip'], 'prefix': int(facts['cidr'].split('/')[1]),
                           'gateway': facts.get('gateway'), 'dns_servers': facts.get('dns_servers') or [],
                           'dhcp': True})
    keys = [cloud.keypair(spec['key_name']).public_key] if spec['key_name'] else []
    return seeds.seed_files(uuid, spec['name'], user_data=spec['user_data'], public_keys=keys, interfaces=interfaces)


class _Planner:
    """One planning run; it keeps the network views it allocates from."""

    def __init__(self, cloud, found, rebuild):
        self.cloud = cloud
        self.found = found
        self.rebuild = rebuild
        # Allocation marks what it takes in the views: work on copies, the survey stays as read.
        self.views = copy.deepcopy(found.networks)

    def view(self, network, server):
        view = self.views.get(network)
        if view is None or not view.hypervisors:
            raise ValidationError("server '%s': network '%s' is not defined on any reachable hypervisor"
                                  % (server, network))
        return view

    def port(self, spec, hypervisor, iface, first):
        """One port of a server, planned against what every hypervisor holds and what this run
        planned before it, so two ports never get the same address."""
        view = self.view(iface['network'], spec['name'])
        if hypervisor not in view.hypervisors:
            raise ValidationError("server '%s': network '%s' is not defined on hypervisor %s"
                                  % (spec['name'], iface['network'], hypervisor))
        record = plan_record(self.cloud, view, {
            'name': iface['port'], 'project': spec['project'], 'fixed_ip': iface['fixed_ip'],
            'mac_address': None, 'hostname': spec['name'] if first else None,
            'security_groups': iface['security_groups'], 'port_security': iface['port_security'],
            'server': spec['name']}, check_quota=False)
        view.add(record)
        return record

    def interfaces(self, spec, server):
        """The port records an existing server should have, in interface order, and those of
        its ports to remove: an interface whose port is gone or on another network is new."""
        current = {p['name']: p for p in server.get('ports') or []}
        wanted = {iface['port']: iface['network'] for iface in spec['networks']}
        removed = [self.views[p['network']].records[name] for name, p in sorted(current.items())
                   if wanted.get(name) != p['network'] and p['network'] in self.views
                   and name in self.views[p['network']].records]
        records, added = [], []
        for iface in spec['networks']:
            now = current.get(iface['port'])
            record = self.view(iface['network'], spec['name']).records.get(iface['port']) if now else None
            if now is None or now['network'] != iface['network'] or record is None:
                record = self.port(spec, server['hypervisor'], iface, first=not records)
                added.append(record)
            records.append(record)
        return records, added, removed

    def repairs(self, records, added):
        """``{hypervisor: [record]}``: the kept port records of a server that hypervisors of their
        networks lack."""
        out = {}
        for record in records:
            if any(record is new for new in added):
                continue
            for hv in self.views[record['network']].missing_on(record):
                out.setdefault(hv, []).append(record)
        return out

    def existing(self, spec, server):
        records, added, removed = self.interfaces(spec, server)
        seed = seed_files(self.cloud, spec, server['uuid'], records, self.views)
        current = current_of(server)
        desired = desired_of(spec, seeds.seed_hash(seed))
        if desired['disk'] is not None and current['disk'] is not None and desired['disk'] <= current['disk']:
            desired['disk'] = current['disk']    # never shrink: a smaller flavor disk keeps the disk
        changes = compare(current, desired, set_fields=SET_FIELDS, modes=MODES)
        repaired = self.repairs(records, added)
        if repaired:
            # Records a failed or partial run left out on some hypervisors of their networks are
            # written back there, so that no address is handed out twice.
            before, after = {}, {}
            for record in records:
                lacking = {hv for hv, held in repaired.items() if any(r is record for r in held)}
                if lacking:
                    everywhere = self.views[record['network']].hypervisors
                    before[record['name']] = sorted(set(everywhere) - lacking)
                    after[record['name']] = sorted(everywhere)
            changes.append(Change('port_records', before, after, LIVE))
        planned = ServerPlan(UPDATE if changes else None, changes=changes, name=spec['name'], spec=spec,
                             server=server, hypervisor=server['hypervisor'], uuid=server['uuid'],
                             port_records=records, added_records=added, removed_records=removed, seed=seed,
                             repaired=repaired)
        rebuild = planned.fields(REBUILD)
        if server.get('boot_volume') and 'image' in rebuild:
            raise ValidationError("server '%s' boots from volume %s, which holds its image; it cannot be rebuilt "
                                  "on another image" % (spec['name'], server['boot_volume']))
        if rebuild and not (self.rebuild and set(rebuild) <= REBUILDABLE):
            if set(rebuild) <= REBUILDABLE:
                raise refuse_rebuild(rebuild, 'rebuild', planned.diff(), what="server '%s'" % spec['name'],
                                     verb='rebuilt')
            raise ValidationError("server '%s': changing %s needs the server to be rebuilt; delete and create it "
                                  "again" % (spec['name'], ', '.join(rebuild)), diff=planned.diff())
        return planned

    def check_quotas(self, new):
        existing = [{'project': s.get('project'), 'vcpus': s['vcpus'], 'ram': s['ram']}
                    for s in self.found.servers.values()]
        for project_name in sorted({p.spec['project'] for p in new}):
            project = self.cloud.project(project_name)
            mine = [p for p in new if p.spec['project'] == project_name]
            booting = [p for p in mine if p.spec['boot_from_volume']]
            ports = set()
            for view in self.views.values():
                ports |= view.project_ports.get(project_name, set())
            used = quotas.usage(project_name, servers=existing,
                                ports=[{'project': project_name, 'name': name} for name in sorted(ports)],
                                volumes=self.found.volumes or ())
            quotas.check(project, used, {
                'instances': len(mine), 'cores': sum(p.spec['flavor']['vcpus'] for p in mine),
                'ram': sum(p.spec['flavor']['ram'] for p in mine),
                'ports': sum(len(p.spec['networks']) for p in mine), 'volumes': len(booting),
                'gigabytes': sum(p.spec['flavor']['disk'] or 0 for p in booting)})

    def place(self, new):
        requests = [placement.Request(
            name=p.name, vcpus=p.spec['flavor']['vcpus'], ram_mb=p.spec['flavor']['ram'],
            disk_gb=p.spec['flavor']['disk'] or 0, zone=p.spec['availability_zone'], hypervisor=p.spec['hypervisor'],
            server_group=(p.spec['server_group'] or {}).get('name'),
            policy=(p.spec['server_group'] or {}).get('policy')) for p in new]
        result = placement.place(requests, placement_hosts(self.cloud, self.found))
        for planned in new:
            planned.hypervisor = result.assignments[planned.name]


def check_catalogs(found, views, plans):
    """Every image a new or rebuilt server boots and every security group a new port names is
    on the hypervisors it is needed on (when the survey read them, see survey.add_catalogs), so
    that check mode refuses what the real run would fail on after writing ports."""
    if found.images is None:
        return
    for planned in plans:
        if planned.action == CREATE or 'image' in planned.fields():
            if planned.spec['image'] not in found.images.get(planned.hypervisor, ()):
                raise ValidationError("server '%s': image %s is not registered on hypervisor %s; register it "
                                      "there first (kvmcloud.cloud.image)"
                                      % (planned.name, planned.spec['image'], planned.hypervisor))
        for record in planned.port_records if planned.action == CREATE else planned.added_records:
            for hv in views[record['network']].hypervisors:
                unknown = sorted(set(record['security_groups']) - found.groups.get(hv, frozenset()) - {DEFAULT_GROUP})
                if unknown:
                    error = missing_groups_error(hv, unknown)
                    raise ValidationError("server '%s', port %s: %s" % (planned.name, record['name'], error.msg))


def check_volumes(found, plans):
    """A data volume goes to one server at a time: a server that gets a volume another server
    of its hypervisor has (or another server of the run gets too) is refused before anything
    is written, since two guests writing one qcow2 corrupt it. Detaching it from the other
    server is a step of its own, so the refusal does not depend on the order the run would
    apply its servers in."""
    holders = {}
    for name, server in found.servers.items():
        for volume in server.get('volumes') or ():
            holders.setdefault((server['hypervisor'], volume), set()).add(name)
    wanted = {}
    for planned in plans:
        if planned.action == DELETE:
            continue
        for volume in set(planned.spec['volumes']) - set((planned.server or {}).get('volumes') or ()):
            wanted.setdefault((planned.hypervisor, volume), []).append(planned.name)
    for (hypervisor, volume), servers in sorted(wanted.items()):
        for name in servers:
            attached = sorted(holders.get((hypervisor, volume), set()) - {name})
            rivals = sorted(set(servers) - {name})
            if attached or rivals:
                raise ValidationError("server '%s': volume %s is %s; a volume is attached to one server at a "
                                      "time: detach it there first, or give this server a volume of its own"
                                      % (name, volume, 'attached to server %s' % ', '.join(attached) if attached
                                         else 'also asked for by server %s' % ', '.join(rivals)))


def plan_fleet(cloud, specs, found, absent=(), exclusive_project=None, rebuild=False, new_uuid=None,
               allow_unreachable=False):
    """The :class:`FleetPlan` for the servers ``specs`` (validated by :mod:`.spec`) and the
    deletions asked for, from the survey ``found``. ``new_uuid`` gives each new server its UUID
    (None: no UUID yet, as in check mode). New servers and new ports are refused while a
    hypervisor of the cloud is unreachable, unless ``allow_unreachable`` (then the plan warns).
    Nothing here reads or changes a hypervisor."""
    names = [spec['name'] for spec in specs]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        raise ValidationError('server %s is listed more than once' % ', '.join(duplicates))
    planner = _Planner(cloud, found, rebuild)
    plans = [planner.existing(spec, found.servers[spec['name']]) if spec['name'] in found.servers
             else ServerPlan(CREATE, name=spec['name'], spec=spec) for spec in specs]
    for name in doomed(found.servers, names, absent, exclusive_project):
        server = found.servers[name]
        plans.append(ServerPlan(DELETE, name=name, server=server, hypervisor=server['hypervisor'],
                                uuid=server['uuid']))
    new = [p for p in plans if p.action == CREATE]
    allocating = sorted(p.name for p in plans if p.action == CREATE or p.added_records)
    warning = allocation_check('allocating the ports of server%s %s' % (
        's' if len(allocating) > 1 else '', ', '.join(allocating)), found.unreachable,
        allow_unreachable) if allocating else None
    if new:
        planner.check_quotas(new)
        planner.place(new)
    for planned in new:
        records = []
        for iface in planned.spec['networks']:
            records.append(planner.port(planned.spec, planned.hypervisor, iface, first=not records))
        planned.port_records = records
        planned.uuid = new_uuid() if new_uuid else None
        planned.seed = seed_files(cloud, planned.spec, planned.uuid or '<new>', records, planner.views)
    check_catalogs(found, planner.views, plans)
    check_volumes(found, plans)
    for planned in plans:
        if planned.action == CREATE:
            planned.before, planned.after = {}, planned.summary()
        elif planned.action == DELETE:
            planned.before, planned.after = planned.summary(), {}
    return FleetPlan(plans, warnings=[warning] if warning else [])


def random_uuid():
    return str(uuidlib.uuid4())
