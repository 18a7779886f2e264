# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute engine: reconcile a list of servers in one call.

One bulk read per hypervisor (its servers, capacity, virt type), then one plan for the whole
list: quotas checked for every project before anything is created, placement of every new
server (each consuming capacity before the next), addresses for every new port planned together
so two ports never get the same one. Then creation runs in parallel across hypervisors and, a
few servers at a time with a connection each, within each one. The
``server`` module is this engine with a list of one.

A server whose creation fails midway is rolled back: its domain, seed, root overlay and ports go
again, so nothing is left half-created.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import threading
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kvmcloud.cloud.plugins.module_utils import (
    images, placement, ports, quotas, seeds, servers, streams, volumes, xmlutil)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.domains import (
    ConsoleWatch, all_servers, create_overlay, describe_server, placement_hosts, running_with_leases,
    set_power_state, survey)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError, ValidationError, call, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import failed_on
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import CONFIG, LIVE, REBUILD, compare
from ansible_collections.kvmcloud.cloud.plugins.module_utils.waiter import Predicate, wait_for

GIB = servers.GIB

_DOMAIN_XML_INACTIVE = 2
_AFFECT_LIVE, _AFFECT_CONFIG = 1, 2
_START_PAUSED = 1

# New servers created at once on one hypervisor, each thread with its own connection (libvirtd
# serves one client's calls a few at a time). Guest start-up is what takes the time (the
# firmware and kernel load while the host is busy with the guests already booting), so a few
# at once keep a small host's cores busy without crowding libvirtd.
CREATE_THREADS = 4

# How a changed field of an existing server applies.
MODES = {'vcpus': CONFIG, 'ram': CONFIG, 'flavor': LIVE, 'disk': LIVE, 'image': REBUILD, 'seed_hash': CONFIG,
         'tags': LIVE, 'meta': LIVE, 'key_name': CONFIG, 'power_state': LIVE, 'project': REBUILD,
         'networks': LIVE, 'volumes': LIVE, 'server_group': REBUILD, 'boot_from_volume': REBUILD}
SET_FIELDS = ('tags', 'volumes')


# --- planning ------------------------------------------------------------------------------------


def root_volume(conn, hv, name, boot_volume=None):
    """The libvirt volume a server boots from: its boot volume, or its own root overlay."""
    if boot_volume:
        found = volumes.find_on(conn, hv, boot_volume)
        return found.vol if found is not None else None
    return lookup(volumes.volumes_pool(conn, hv).storageVolLookupByName, servers.root_volume_name(name),
                  hypervisor=hv.name)


def current_of(server, disk_gb):
    """The comparable state of an existing server."""
    return {
        'project': server.get('project'), 'flavor': (server.get('flavor') or {}).get('name'),
        'vcpus': server['vcpus'], 'ram': server['ram'], 'disk': disk_gb, 'image': server.get('image'),
        'networks': [p['network'] for p in server.get('ports') or []], 'volumes': list(server.get('volumes') or []),
        'key_name': server.get('key_name'), 'seed_hash': server.get('seed_hash'), 'tags': server.get('tags') or [],
        'meta': server.get('meta') or {}, 'server_group': (server.get('server_group') or {}).get('name'),
        'power_state': server['power_state'], 'boot_from_volume': bool(server.get('boot_volume')),
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


class Planned:
    """What the run does to one server."""

    def __init__(self, name, action, spec=None, server=None, changes=None, hypervisor=None):
        self.name = name
        self.action = action          # 'create', 'update', 'delete' or None
        self.spec = spec
        self.server = server          # the existing server's facts
        self.changes = changes or []
        self.hypervisor = hypervisor  # where it is or goes
        self.uuid = server['uuid'] if server else None
        self.port_records = []        # planned port records, in interface order
        self.added_records = []       # of an existing server: ports to add, and to remove
        self.removed_records = []
        self.seed = None              # the seed files

    @property
    def reboot_required(self):
        return any(c.mode == CONFIG for c in self.changes) and (self.server or {}).get('power_state') == 'running'

    def diff(self):
        if self.action == 'update':
            return ({c.field: c.before for c in self.changes}, {c.field: c.after for c in self.changes})
        if self.action == 'create':
            return ({}, summary(self))
        if self.action == 'delete':
            return (summary(self), {})
        return ({}, {})


def summary(planned):
    """What the module returns for a server (predicted for one not created yet)."""
    if planned.action == 'delete':
        server = planned.server
        return {'name': server['name'], 'hypervisor': server['hypervisor']}
    spec = planned.spec
    ports_out = [{'name': r['name'], 'network': r['network'], 'ip': r['ip'], 'mac': r['mac']}
                 for r in planned.port_records]
    return {
        'name': planned.name, 'uuid': planned.uuid, 'hypervisor': planned.hypervisor, 'project': spec['project'],
        'flavor': spec['flavor'], 'image': spec['image'], 'ports': ports_out,
        'addresses': {p['network']: p['ip'] for p in ports_out}, 'volumes': spec['volumes'],
        'power_state': spec['power_state'], 'tags': spec['tags'], 'meta': spec['meta'],
        'server_group': spec['server_group'], 'console': servers.console_path(planned.name),
    }


def _public_keys(cloud, spec):
    return [cloud.keypair(spec['key_name']).public_key] if spec['key_name'] else []


def _seed_files(cloud, spec, uuid, records, views):
    interfaces = []
    for record in records:
        facts = views[record['network']].facts
        interfaces.append({'mac': record['mac'], 'ip': record['ip'], 'prefix': int(facts['cidr'].split('/')[1]),
                           'gateway': facts.get('gateway'), 'dns_servers': facts.get('dns_servers') or [],
                           'dhcp': True})
    return seeds.seed_files(uuid, spec['name'], user_data=spec['user_data'], public_keys=_public_keys(cloud, spec),
                            interfaces=interfaces)


class Engine:
    """One run over a list of servers."""

    def __init__(self, cm, specs, absent=(), exclusive_project=None, delete_volumes=False, rebuild=False,
                 wait_for_ready=False):
        self.cm = cm
        # Watch the consoles of the servers started by this run for kvmcloud-ready <uuid>.
        self.wait_for_ready = wait_for_ready and cm.wait
        self.consoles = {}
        self.specs = specs
        self.absent = list(absent)
        self.exclusive_project = exclusive_project
        self.delete_volumes = delete_volumes
        self.rebuild = rebuild
        self.found, self.unreachable = survey(cm)
        self.servers = all_servers(self.found)
        self.views = {}
        self.pool_volumes = {}

    # -- planning --

    def view(self, network):
        if network not in self.views:
            self.views[network] = ports.gather(self.cm, network, self.cm.cloud.hypervisors)
        return self.views[network]

    def plan(self):
        names = [spec['name'] for spec in self.specs]
        duplicates = sorted(set(n for n in names if names.count(n) > 1))
        if duplicates:
            raise ValidationError('server %s is listed more than once' % ', '.join(duplicates))
        plans = []
        for spec in self.specs:
            existing = self.servers.get(spec['name'])
            plans.append(self._plan_existing(spec, existing) if existing else Planned(spec['name'], 'create', spec))
        gone = set(self.absent)
        if self.exclusive_project:
            gone |= {name for name, server in self.servers.items()
                     if server.get('project') == self.exclusive_project and name not in names}
        for name in sorted(gone):
            if name in self.servers:
                plans.append(Planned(name, 'delete', server=self.servers[name],
                                     hypervisor=self.servers[name]['hypervisor']))
        new = [p for p in plans if p.action == 'create']
        self._check_quotas(new)
        self._place(new)
        self._plan_ports(new)
        for planned in new:
            planned.uuid = str(uuidlib.uuid4()) if not self.cm.check_mode else None
            planned.seed = _seed_files(self.cm.cloud, planned.spec, planned.uuid or '<new>',
                                       planned.port_records, self.views)
        return plans

    def _root_gb(self, server):
        hv = self.cm.cloud.hypervisor(server['hypervisor'])
        if server.get('boot_volume'):
            vol = root_volume(self.cm.connections.get(hv.name), hv, server['name'], server['boot_volume'])
        else:
            vol = self._pool_volumes(hv).get(servers.root_volume_name(server['name']))
        if vol is None:
            return None
        return math.ceil(call('info', vol.name(), vol.info, hypervisor=hv.name)[1] / GIB)

    def _pool_volumes(self, hv):
        """``{name: volume}`` of the hypervisor's volumes pool, listed once per run."""
        if hv.name not in self.pool_volumes:
            pool = volumes.volumes_pool(self.cm.connections.get(hv.name), hv)
            self.pool_volumes[hv.name] = {vol.name(): vol for vol in call(
                'list volumes', pool.name(), pool.listAllVolumes, 0, hypervisor=hv.name)}
        return self.pool_volumes[hv.name]

    def _plan_interfaces(self, spec, server):
        """The port records an existing server should have, in interface order, and those of
        its ports to remove: an interface whose port is gone or on another network is new."""
        current = {p['name']: p for p in server.get('ports') or []}
        wanted = {iface['port']: iface['network'] for iface in spec['networks']}
        removed = [self.view(p['network']).records[name] for name, p in sorted(current.items())
                   if wanted.get(name) != p['network'] and name in self.view(p['network']).records]
        records, added = [], []
        for iface in spec['networks']:
            now = current.get(iface['port'])
            record = self.view(iface['network']).records.get(iface['port']) if now else None
            if now is None or now['network'] != iface['network'] or record is None:
                record = self._plan_port(spec, server['hypervisor'], iface, first=not records)
                added.append(record)
            records.append(record)
        return records, added, removed

    def _plan_existing(self, spec, server):
        records, added, removed = self._plan_interfaces(spec, server)
        seed = _seed_files(self.cm.cloud, spec, server['uuid'], records, self.views)
        current = current_of(server, self._root_gb(server))
        desired = desired_of(spec, seeds.seed_hash(seed))
        if desired['disk'] is not None and current['disk'] is not None and desired['disk'] <= current['disk']:
            desired['disk'] = current['disk']    # never shrink: a smaller flavor disk keeps the disk
        changes = compare(current, desired, set_fields=SET_FIELDS, modes=MODES)
        planned = Planned(spec['name'], 'update' if changes else None, spec, server, changes, server['hypervisor'])
        planned.port_records = records
        planned.added_records, planned.removed_records = added, removed
        planned.seed = seed
        rebuild = [c.field for c in changes if c.mode == REBUILD]
        if server.get('boot_volume') and 'image' in rebuild:
            raise ValidationError("server '%s' boots from volume %s, which holds its image; it cannot be rebuilt "
                                  "on another image" % (spec['name'], server['boot_volume']))
        if rebuild and not (self.rebuild and set(rebuild) <= {'image'}):
            how = 'set rebuild: true to allow it' if set(rebuild) <= {'image'} else 'delete and create it again'
            raise ValidationError("server '%s': changing %s needs the server to be rebuilt; %s"
                                  % (spec['name'], ', '.join(rebuild), how),
                                  diff={'before': {c.field: c.before for c in changes},
                                        'after': {c.field: c.after for c in changes}})
        return planned

    def _check_quotas(self, new):
        if not new:
            return
        existing = [{'project': s.get('project'), 'vcpus': s['vcpus'], 'ram': s['ram']} for s in self.servers.values()]
        for project_name in sorted({p.spec['project'] for p in new}):
            project = self.cm.cloud.project(project_name)
            mine = [p for p in new if p.spec['project'] == project_name]
            port_count = sum(len(p.spec['networks']) for p in mine)
            booting = [p for p in mine if p.spec['boot_from_volume']]
            used = quotas.usage(project_name, servers=existing, ports=self._project_ports(project_name, mine),
                                volumes=self._project_volumes() if booting else ())
            quotas.check(project, used, {'instances': len(mine), 'cores': sum(p.spec['flavor']['vcpus'] for p in mine),
                                         'ram': sum(p.spec['flavor']['ram'] for p in mine), 'ports': port_count,
                                         'volumes': len(booting),
                                         'gigabytes': sum(p.spec['flavor']['disk'] or 0 for p in booting)})

    def _project_volumes(self):
        """Every data volume (project, size) on the reachable hypervisors: read only when a new
        server boots from a volume, since it costs a read of each volume's record."""
        found = []
        for _hv, result, err in self.cm.connections.map(lambda hv, conn: volumes.usage_on(conn, hv),
                                                        [self.cm.cloud.hypervisor(n) for n in sorted(self.found)]):
            if err is not None:
                raise err
            found.extend(result)
        return found

    def _project_ports(self, project, new):
        """The project's ports on every network (each network view knows the ports of all of
        them), the ports of this run's new servers not counted twice."""
        names = set()
        for spec in [p.spec for p in new]:
            for iface in spec['networks']:
                self.view(iface['network'])
        for view in self.views.values():
            names |= view.project_ports.get(project, set())
        return [{'project': project, 'name': name} for name in sorted(names)]

    def _place(self, new):
        if not new:
            return
        hosts = placement_hosts(self.cm.cloud, self.found, self.unreachable)
        requests = [placement.Request(
            name=p.name, vcpus=p.spec['flavor']['vcpus'], ram_mb=p.spec['flavor']['ram'],
            disk_gb=p.spec['flavor']['disk'] or 0, zone=p.spec['availability_zone'], hypervisor=p.spec['hypervisor'],
            server_group=(p.spec['server_group'] or {}).get('name'),
            policy=(p.spec['server_group'] or {}).get('policy')) for p in new]
        result = placement.place(requests, hosts)
        for planned in new:
            planned.hypervisor = result.assignments[planned.name]

    def _plan_ports(self, new):
        for planned in new:
            records = []
            for iface in planned.spec['networks']:
                records.append(self._plan_port(planned.spec, planned.hypervisor, iface, first=not records))
            planned.port_records = records

    def _plan_port(self, spec, hypervisor, iface, first):
        """One port of a server, planned against what every hypervisor holds and what this run
        planned before it, so two ports never get the same address."""
        view = self.view(iface['network'])
        if hypervisor not in view.hypervisors:
            raise ValidationError("server '%s': network '%s' is not defined on hypervisor %s"
                                  % (spec['name'], iface['network'], hypervisor))
        record = ports.plan_record(self.cm.cloud, view, {
            'name': iface['port'], 'project': spec['project'], 'fixed_ip': iface['fixed_ip'],
            'mac_address': None, 'hostname': spec['name'] if first else None,
            'security_groups': iface['security_groups'], 'port_security': iface['port_security'],
            'server': spec['name']}, check_quota=False)
        view.records[record['name']] = record
        view.macs.add(record['mac'])
        return record

    # -- applying --

    def apply(self, plans):
        """Ports of the new servers first (one write per network and hypervisor), then every
        hypervisor's servers in parallel, then the ports of deleted servers and of servers whose
        creation failed. A network's definition is only ever written by one thread at a time."""
        todo = [p for p in plans if p.action]
        new_records = [r for p in todo if p.action == 'create' for r in p.port_records]
        new_records += [r for p in todo if p.action == 'update' for r in p.added_records]
        self._write_ports(new_records, [])
        by_hv = {}
        for planned in todo:
            by_hv.setdefault(planned.hypervisor, []).append(planned)
        hypervisors = [self.cm.cloud.hypervisor(name) for name in sorted(by_hv)]
        created = set()

        lock = threading.Lock()

        def create(hv, conn, planned):
            self._create(hv, conn, planned)
            with lock:
                created.add(planned.name)

        def run(hv, conn):
            for planned in by_hv[hv.name]:
                if planned.action == 'delete':
                    self._delete(hv, conn, planned)
                elif planned.action == 'update':
                    self._update(hv, conn, planned)
            new = [p for p in by_hv[hv.name] if p.action == 'create']
            if len(new) <= 1:
                for planned in new:
                    create(hv, conn, planned)
            else:
                self._create_parallel(hv, new, create)
            return True

        failures = [(hv, err) for hv, _ok, err in self.cm.connections.map(run, hypervisors) if err is not None]
        gone = [r for p in todo if p.action == 'delete' for r in self._records_of(p.server)]
        gone += [r for p in todo if p.action == 'update' for r in p.removed_records]
        # A server whose creation failed, or was never reached after a failure, has no use for its ports.
        gone += [r for p in todo if p.action == 'create' and p.name not in created for r in p.port_records]
        error = failed_on('the servers', failures) if failures else None
        try:
            self._write_ports([], gone)
        except KvmcloudError as err:
            if error is None:
                raise
            # The creation's error is the one to report; the ports left over are named with it.
            raise KvmcloudError('%s; then releasing their ports failed too: %s' % (error.msg, err.msg),
                                **error.details)
        if error is not None:
            raise error

    def _create_parallel(self, hv, new, create):
        """``create(hv, conn, planned)`` for each new server, a few at a time, each thread with a
        connection of its own. After a failure no further creation starts; the first error is
        raised once the ones under way have finished (or rolled back)."""
        local = threading.local()
        stop = threading.Event()

        def one(planned):
            if stop.is_set():
                return
            if getattr(local, 'conn', None) is None:
                local.conn = self.cm.connections.open_extra(hv.name)
            try:
                create(hv, local.conn, planned)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=min(len(new), CREATE_THREADS)) as pool:
            futures = [pool.submit(one, planned) for planned in new]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    def _records_of(self, server):
        out = []
        for port in server.get('ports') or []:
            record = self.view(port['network']).records.get(port['name'])
            if record is not None:
                out.append(record)
        return out

    def _write_ports(self, add, remove):
        """Add and remove port records, batched per network, on every hypervisor of each network
        concurrently (one thread per hypervisor)."""
        if not add and not remove:
            return
        networks = sorted({r['network'] for r in add + remove})
        targets = sorted({hv for net in networks for hv in self.view(net).hypervisors})

        def write(hv, conn):
            for net in networks:
                if hv.name in self.view(net).hypervisors:
                    ports.write_ports(conn, hv.name, net, [r for r in add if r['network'] == net],
                                      [r['name'] for r in remove if r['network'] == net])
            return True

        failures = [(hv, err) for hv, _ok, err in self.cm.connections.map(
            write, [self.cm.cloud.hypervisor(name) for name in targets]) if err is not None]
        if failures:
            raise failed_on('writing the ports', failures)

    def _create(self, hv, conn, planned):
        spec = planned.spec
        pool = volumes.volumes_pool(conn, hv)
        made = []
        try:
            base = images.find_image(conn, hv, spec['image'])
            if base is None:
                raise ValidationError("server '%s': image %s is not registered on hypervisor %s"
                                      % (planned.name, spec['image'], hv.name))
            if spec['boot_from_volume']:
                root = self._boot_volume(conn, hv, planned, made)
            else:
                base_path = images.base_volume_path(conn, hv, base)
                base_vol = call('lookup', base_path, conn.storageVolLookupByPath, base_path, hypervisor=hv.name)
                size = max(base_vol.info()[1], (spec['flavor']['disk'] or 0) * GIB)
                root = create_overlay(pool, servers.root_volume_name(planned.name), base_vol, size, hv.name)
                made.append(('volume', root))
            seed = streams.write_volume(conn, pool, servers.seed_volume_name(planned.name),
                                        seeds.build_iso(planned.seed), hypervisor=hv.name)
            made.append(('volume', seed))
            metadata = self._metadata(planned)
            interfaces = [{'network': r['network'], 'mac': r['mac'], 'filter': ports.filter_name(r)}
                          for r in planned.port_records]
            disks = [self._volume_disk(conn, hv, name, index) for index, name in enumerate(spec['volumes'])]
            xml = servers.domain_xml(spec, planned.uuid, self.found[hv.name]['virt_type'], root.path(), seed.path(),
                                     interfaces, metadata, volume_disks=disks)
            dom = call('define', planned.name, conn.defineXML, xml, hypervisor=hv.name)
            made.append(('domain', dom))
            if spec['power_state'] == 'running' and self.wait_for_ready:
                # Started paused, so that the console is watched from the first line.
                call('start', planned.name, dom.createWithFlags, _START_PAUSED, hypervisor=hv.name)
                self.consoles[planned.name] = ConsoleWatch(conn, dom, hv.name)
                call('resume', planned.name, dom.resume, hypervisor=hv.name)
            elif spec['power_state'] != 'stopped':
                call('start', planned.name, dom.create, hypervisor=hv.name)
            if spec['power_state'] == 'paused':
                call('pause', planned.name, dom.suspend, hypervisor=hv.name)
        except Exception:
            self._roll_back(hv, made)
            raise

    def _boot_volume(self, conn, hv, planned, made):
        """The server's boot volume: the one kept from an earlier server of the same name, or a
        new volume of the project from the image."""
        spec = planned.spec
        name = servers.boot_volume_name(planned.name)
        found = volumes.find_on(conn, hv, name)
        if found is not None:
            facts = found.facts()
            if facts['attachments'] or facts['image'] != spec['image'] or facts['project'] != spec['project']:
                raise ValidationError("server '%s': volume %s exists (image %s, project %s%s); it can only be "
                                      "booted from by a server of the same image and project"
                                      % (planned.name, name, facts['image'], facts['project'],
                                         ', attached' if facts['attachments'] else ''))
            return found.vol
        # size in GiB, as the volume module takes it; none: the image's size
        params = {'name': name, 'size': spec['flavor']['disk'] or None, 'format': 'qcow2',
                  'project': spec['project'], 'image': spec['image'], 'clone': 'overlay'}
        resource = volumes.Volume(self.cm, params, None, hv)
        resource.create(resource.desired())
        found = volumes.find_on(conn, hv, name)
        made.append(('data volume', found))
        return found.vol

    def _roll_back(self, hv, made):
        for kind, thing in reversed(made):
            try:
                if kind == 'domain':
                    if thing.isActive():
                        thing.destroy()
                    thing.undefine()
                elif kind == 'data volume':
                    volumes.delete_found(thing)
                else:
                    thing.delete(0)
            except Exception:  # pylint: disable=broad-except
                pass  # the error that caused the roll back is the one to report

    def _metadata(self, planned):
        spec = planned.spec
        return {
            'project': spec['project'], 'flavor': spec['flavor'], 'image': spec['image'],
            'ports': [{'name': r['name'], 'network': r['network'], 'ip': r['ip'], 'mac': r['mac']}
                      for r in planned.port_records],
            'volumes': spec['volumes'], 'key_name': spec['key_name'], 'server_group': spec['server_group'],
            'seed_hash': seeds.seed_hash(planned.seed), 'tags': spec['tags'], 'meta': spec['meta'],
            'boot_volume': servers.boot_volume_name(planned.name) if spec['boot_from_volume'] else None,
            'created': images.now() if not planned.server else planned.server.get('created'),
        }

    def _volume_disk(self, conn, hv, name, index):
        found = volumes.find_on(conn, hv, name)
        if found is None:
            raise ValidationError('volume %s is not on hypervisor %s' % (name, hv.name))
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import attach
        return xmlutil.parse(attach.disk_xml(found.path, found.facts()['format'], 'vd%s' % 'bcdefghijklmnop'[index],
                                             attach.serial_for(name)))

    def _delete(self, hv, conn, planned):
        dom = lookup(conn.lookupByName, planned.name, hypervisor=hv.name)
        if dom is not None:
            if dom.isActive():
                call('stop', planned.name, dom.destroy, hypervisor=hv.name)
            call('undefine', planned.name, dom.undefine, hypervisor=hv.name)
        pool = volumes.volumes_pool(conn, hv)
        for name in (servers.root_volume_name(planned.name), servers.seed_volume_name(planned.name)):
            vol = lookup(pool.storageVolLookupByName, name, hypervisor=hv.name)
            if vol is not None:
                call('delete', name, vol.delete, 0, hypervisor=hv.name)
        if self.delete_volumes:
            for name in (planned.server.get('volumes') or []) + [v for v in [planned.server.get('boot_volume')] if v]:
                found = volumes.find_on(conn, hv, name)
                if found is not None:
                    volumes.delete_found(found)

    def _update(self, hv, conn, planned):
        dom = call('lookup', planned.name, conn.lookupByName, planned.name, hypervisor=hv.name)
        fields = {c.field: c.after for c in planned.changes}
        if 'networks' in fields:
            self._replug_interfaces(hv, dom, planned)
        if 'volumes' in fields:
            self._replug_volumes(hv, conn, dom, planned)
        if {'vcpus', 'ram', 'flavor', 'seed_hash', 'tags', 'meta', 'key_name', 'volumes', 'networks'} & set(fields):
            self._redefine(hv, conn, dom, planned, fields)
        if 'disk' in fields:
            root = root_volume(conn, hv, planned.name, planned.server.get('boot_volume'))
            size = fields['disk'] * GIB
            if dom.isActive():
                call('grow disk', planned.name, dom.blockResize, 'vda', size, 1, hypervisor=hv.name)
            else:
                call('grow disk', planned.name, root.resize, size, 0, hypervisor=hv.name)
        if 'image' in fields:
            self._rebuild(hv, conn, dom, planned)
        if 'power_state' in fields:
            set_power_state(dom, planned.name, hv.name, fields['power_state'], self.cm.wait_timeout)

    def _hotplug_flags(self, dom):
        return _AFFECT_CONFIG | (_AFFECT_LIVE if dom.isActive() else 0)

    def _replug_interfaces(self, hv, dom, planned):
        """Interfaces of removed ports are unplugged, those of new ports plugged in: live when
        the server runs, and in its config."""
        flags = self._hotplug_flags(dom)
        desc = xmlutil.parse(call('XMLDesc', planned.name, dom.XMLDesc, _DOMAIN_XML_INACTIVE, hypervisor=hv.name))
        for record in planned.removed_records:
            for iface in desc.findall("devices/interface[@type='network']"):
                if (xmlutil.attr(iface, 'mac', 'address') or '').lower() == record['mac']:
                    call('detach interface', planned.name, dom.detachDeviceFlags, xmlutil.tostring(iface), flags,
                         hypervisor=hv.name)
        for record in planned.added_records:
            iface = servers.interface_element({'network': record['network'], 'mac': record['mac'],
                                               'filter': ports.filter_name(record)})
            call('attach interface', planned.name, dom.attachDeviceFlags, xmlutil.tostring(iface), flags,
                 hypervisor=hv.name)

    def _replug_volumes(self, hv, conn, dom, planned):
        """Data volumes no longer listed are detached, new ones attached (live and in config)."""
        from ansible_collections.kvmcloud.cloud.plugins.module_utils import attach
        flags = self._hotplug_flags(dom)
        before = set(planned.server.get('volumes') or [])
        after = set(planned.spec['volumes'])
        for name in sorted(before - after):
            found = volumes.find_on(conn, hv, name)
            desc = xmlutil.parse(call('XMLDesc', planned.name, dom.XMLDesc, _DOMAIN_XML_INACTIVE, hypervisor=hv.name))
            disk = attach.disk_element(desc, found.path) if found is not None else None
            if disk is not None:
                call('detach volume', name, dom.detachDeviceFlags, xmlutil.tostring(disk), flags, hypervisor=hv.name)
        for name in sorted(after - before):
            found = volumes.find_on(conn, hv, name)
            if found is None:
                raise ValidationError('volume %s is not on hypervisor %s, where server %s is' % (name, hv.name, planned.name))
            descs = [xmlutil.parse(call('XMLDesc', planned.name, dom.XMLDesc, f, hypervisor=hv.name))
                     for f in (0, _DOMAIN_XML_INACTIVE)]
            xml = attach.disk_xml(found.path, found.facts()['format'], attach.next_device(descs), attach.serial_for(name))
            call('attach volume', name, dom.attachDeviceFlags, xml, flags, hypervisor=hv.name)

    def _redefine(self, hv, conn, dom, planned, fields):
        """Config changes: write the persistent definition anew (vCPUs, RAM, metadata, seed)."""
        desc = xmlutil.parse(call('XMLDesc', planned.name, dom.XMLDesc, _DOMAIN_XML_INACTIVE, hypervisor=hv.name))
        flavor = planned.spec['flavor']
        desc.find('vcpu').text = str(flavor['vcpus'])
        for tag in ('memory', 'currentMemory'):
            node = desc.find(tag)
            node.text = str(flavor['ram'])
            node.set('unit', 'MiB')
        if 'seed_hash' in fields:
            pool = volumes.volumes_pool(conn, hv)
            streams.write_volume(conn, pool, servers.seed_volume_name(planned.name), seeds.build_iso(planned.seed),
                                 hypervisor=hv.name)
        servers.replace_metadata(desc, self._metadata(planned))
        call('define', planned.name, conn.defineXML, xmlutil.tostring(desc), hypervisor=hv.name)

    def _rebuild(self, hv, conn, dom, planned):
        """Another image: a new root overlay on it (the old one and the data on it go)."""
        running = dom.isActive()
        if running:
            call('stop', planned.name, dom.destroy, hypervisor=hv.name)
        pool = volumes.volumes_pool(conn, hv)
        old = lookup(pool.storageVolLookupByName, servers.root_volume_name(planned.name), hypervisor=hv.name)
        size = old.info()[1] if old is not None else 0
        if old is not None:
            call('delete', old.name(), old.delete, 0, hypervisor=hv.name)
        base = images.find_image(conn, hv, planned.spec['image'])
        base_path = images.base_volume_path(conn, hv, base)
        base_vol = call('lookup', base_path, conn.storageVolLookupByPath, base_path, hypervisor=hv.name)
        create_overlay(pool, servers.root_volume_name(planned.name), base_vol, max(size, base_vol.info()[1]), hv.name)
        self._redefine(hv, conn, dom, planned, {'image': planned.spec['image']})
        if running:
            call('start', planned.name, dom.create, hypervisor=hv.name)

    # -- waiting and the result --

    def wait(self, plans):
        """Servers this run created or started run, and each of their ports has its address
        leased. (An interface hot-plugged into a running guest gets its address when the guest
        configures it; that is not waited for.)"""
        started = [p for p in plans if p.spec and p.spec['power_state'] == 'running' and (
            p.action == 'create' or (p.action == 'update' and 'power_state' in [c.field for c in p.changes]))]
        deadline = time.monotonic() + self.cm.wait_timeout
        for planned in started:
            conn = self.cm.connections.get(planned.hypervisor)
            wait_for(Predicate('server %s to run with its addresses' % planned.name,
                               lambda p=planned, c=conn: running_with_leases(c, p.name, p.hypervisor, p.port_records)),
                     max(0, deadline - time.monotonic()))
            console = self.consoles.get(planned.name)
            if console is not None:
                marker = 'kvmcloud-ready %s' % planned.uuid
                wait_for(Predicate('server %s to print %s on its console' % (planned.name, marker),
                                   lambda c=console, m=marker: c.seen(m)), max(0, deadline - time.monotonic()))

    def close(self):
        for console in self.consoles.values():
            console.close()

    def describe(self, plans):
        out = []
        for planned in plans:
            if planned.action == 'delete':
                continue
            hv = self.cm.cloud.hypervisor(planned.hypervisor)
            if planned.action is None:
                # Unchanged: the bulk read already has it all.
                out.append(describe_server(planned.server, hv))
                continue
            conn = self.cm.connections.get(planned.hypervisor)
            dom = lookup(conn.lookupByName, planned.name, hypervisor=planned.hypervisor) if not self.cm.check_mode else None
            if dom is None:
                out.append(summary(planned))
                continue
            out.append(describe_server(servers.server_facts(dom, planned.hypervisor), hv))
        return out


def run_servers(cm, param_list, absent=(), exclusive_project=None):
    """Reconcile ``param_list`` (the options of one server each) and remove ``absent``."""
    params = cm.params
    specs = [servers.spec_from_params(cm.cloud, p) for p in param_list]
    engine = Engine(cm, specs, absent=absent, exclusive_project=exclusive_project,
                    delete_volumes=bool(params.get('delete_volumes')), rebuild=bool(params.get('rebuild')),
                    wait_for_ready=bool(params.get('wait_for_ready')))
    plans = engine.plan()
    if not cm.check_mode:
        try:
            engine.apply(plans)
            if cm.wait:
                engine.wait(plans)
        except KvmcloudError as err:
            # What was done is reported: the run changed something.
            err.details['changed'] = any(p.action for p in plans)
            raise
        finally:
            engine.close()
    before, after = {}, {}
    for planned in plans:
        if planned.action:
            before[planned.name], after[planned.name] = planned.diff()
    result = {
        'changed': any(p.action for p in plans),
        'diff': {'before': before, 'after': after},
        'servers': engine.describe(plans),
        'unreachable_hypervisors': ['%s: %s' % item for item in sorted(engine.unreachable.items())],
    }
    if any(p.reboot_required for p in plans):
        result['reboot_required'] = True
    return result
