# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute engine: reconcile a list of servers in one call (the ``server`` and
``server_fleet`` modules).

survey (:mod:`.survey`) -> plan (:mod:`.plan`, pure) -> unless check mode, when the plan
changes anything: lock the hypervisors it writes to and survey and plan again (:mod:`...core.locks`)
-> apply (:mod:`.apply`) in the order and parallelism below -> wait -> describe. The ``server`` module
is this engine with a list of one.

Order: the ports of new servers first (one write per network and hypervisor), then every
hypervisor's servers in parallel (deletions and updates, then creations a few at a time, each
thread with a connection of its own), then the ports of deleted servers and of servers whose
creation failed. A server whose creation fails is rolled back; the run then reports the error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import apply
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import describe_server, server_facts
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.plan import (
    doomed, involved_networks, plan_fleet, random_uuid)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.power import (
    CONSOLE_POLL_MAX, after_cloud_init, pumping, running_with_leases, wait_for_cloud_init)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import (
    SERVER_SPEC, spec_from_params, validate_server_options)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.survey import (
    add_catalogs, add_networks, add_volume_usage, survey)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import check_wait_timeout
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import failed_on, unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import plan_under_lock
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import CREATE, DELETE, UPDATE
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.ports import write_ports

# New servers created at once on one hypervisor, each thread with its own connection (libvirtd
# serves one client's calls a few at a time). Guest start-up is what takes the time (the
# firmware and kernel load while the host is busy with the guests already booting), so a few
# at once keep a small host's cores busy without crowding libvirtd.
CREATE_THREADS = 4


class Fleet:
    """Applying one :class:`~.plan.FleetPlan`, waiting for it and describing the result."""

    def __init__(self, cm, found, fleet_plan, delete_volumes=False, wait_for_ready=False, wait_for_cloud_init=False):
        self.cm = cm
        self.found = found
        self.plan = fleet_plan
        self.delete_volumes = delete_volumes
        self.wait_for_ready = wait_for_ready
        self.wait_for_cloud_init = wait_for_cloud_init
        self.watch_consoles = wait_for_ready or wait_for_cloud_init
        self.consoles = {}
        self.cloud_init = {}  # server name -> what cloud-init reported, for those waited for
        self._lock = threading.Lock()
        self.status = {}     # server name -> 'started' or 'done'
        self.done = False    # whether the run changed something besides the servers' own steps

    def apply(self):
        """Apply the plan. On failure the error says what the run changed: ``changed`` is false
        only when nothing was done or everything done was verifiably undone, and ``left`` lists
        what a failure left behind."""
        todo = [p for p in self.plan.servers if p]
        repairs = {}
        for planned in todo:
            for hv, records in planned.repaired.items():
                repairs.setdefault(hv, []).extend(records)
        new_records = [r for p in todo if p.action == CREATE for r in p.port_records]
        kept_records = [r for p in todo if p.action == UPDATE for r in p.added_records]
        try:
            self.write_ports(new_records + kept_records, [], repairs)
        except KvmcloudError as err:
            # Written on some hypervisors and not on others: released again where they were.
            raise self._failed(err, todo, released=self._release(new_records + kept_records))
        self.done = bool(kept_records or repairs)
        by_hv = {}
        for planned in todo:
            by_hv.setdefault(planned.hypervisor, []).append(planned)

        def create(h, planned):
            self._mark(planned.name, 'started')
            watch = apply.create(h, planned, self.found.hosts[h.name].virt_type, self.watch_consoles)
            with self._lock:
                if watch is not None:
                    self.consoles[planned.name] = watch
            self._mark(planned.name, 'done')

        def run(h):
            for planned in by_hv[h.name]:
                if planned.action in (DELETE, UPDATE):
                    self._mark(planned.name, 'started')
                    if planned.action == DELETE:
                        apply.delete(h, planned, self.delete_volumes)
                    else:
                        apply.update(h, planned, self.cm.wait_timeout)
                    self._mark(planned.name, 'done')
            new = [p for p in by_hv[h.name] if p.action == CREATE]
            if len(new) <= 1:
                for planned in new:
                    create(h, planned)
            else:
                self._create_parallel(h.name, new, create)

        outcomes = self.cm.connections.map(run, [self.cm.cloud.hypervisor(name) for name in sorted(by_hv)])
        failures = [(hv, err) for hv, _ok, err in outcomes if err is not None]
        finished = {name for name, status in self.status.items() if status == 'done'}
        # The ports of deleted servers and removed interfaces go once that is done; a server
        # whose creation failed, or was never reached after a failure, has no use for its ports.
        gone = [r for p in todo if p.action == DELETE and p.name in finished for r in self._records_of(p.server)]
        gone += [r for p in todo if p.action == UPDATE and p.name in finished for r in p.removed_records]
        unused = [r for p in todo if p.action == CREATE and p.name not in finished for r in p.port_records]
        error = failed_on('the servers', failures) if failures else None
        try:
            self.write_ports([], gone + unused)
        except KvmcloudError as err:
            if error is None:
                raise
            # The creation's error is the one to report; the ports left over are named with it.
            error = KvmcloudError('%s; then releasing their ports failed too: %s' % (error.msg, err.msg),
                                  **error.details)
            raise self._failed(error, todo, released=False)
        if error is not None:
            raise self._failed(error, todo, released=True)

    def _mark(self, name, status):
        with self._lock:
            self.status[name] = status

    def _release(self, records):
        """Remove ``records`` again after a failed write; whether that worked."""
        try:
            self.write_ports([], records)
        except KvmcloudError:
            return False
        return True

    def _failed(self, error, todo, released):
        """``error`` with ``changed`` and ``left``: what the failed run did and did not undo."""
        left = []
        changed = self.done
        for planned in todo:
            status = self.status.get(planned.name)
            if status == 'done':
                changed = True
            elif status == 'started' and planned.action == CREATE:
                left += apply.leftovers(self.cm.connections, planned)
            elif status == 'started':
                left.append('server %s: its %s stopped part-way' % (planned.name, planned.action))
        if not released:
            left.append('port records of %s' % ', '.join(sorted(p.name for p in todo if p.action == CREATE)))
        error.details.update(changed=changed or bool(left), left=left)
        return error

    def _create_parallel(self, hvname, new, create):
        """``create(handle, planned)`` for each new server, a few at a time, each thread with a
        connection of its own. After a failure no further creation starts; the first error is
        raised once the ones under way have finished (or rolled back)."""
        local = threading.local()
        stop = threading.Event()

        def one(planned):
            if stop.is_set():
                return
            if getattr(local, 'handle', None) is None:
                local.handle = self.cm.connections.open_extra(hvname)
            try:
                create(local.handle, planned)
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
            view = self.found.networks.get(port['network'])
            record = view.records.get(port['name']) if view is not None else None
            if record is not None:
                out.append(record)
        return out

    def write_ports(self, add, remove, repairs=None):
        write_port_records(self.cm, self.found.networks, add, remove, repairs)

    def wait(self):
        """Servers this run created or started run, and each of their ports has its address
        leased; with console watches, each also printed its ready marker, or reported that
        cloud-init finished (its errors are warnings). (An interface hot-plugged into a running
        guest gets its address when the guest configures it; that is not waited for.)

        Every watched console is read at each check, whichever server is waited for: a console
        nobody reads fills up, and a guest that writes to it then stalls."""
        deadline = time.monotonic() + self.cm.wait_timeout
        consoles = list(self.consoles.values())
        interval = CONSOLE_POLL_MAX if consoles else 5.0

        def until(what, check):
            return wait_for(Predicate(what, pumping(consoles, check)), max(0, deadline - time.monotonic()),
                            max_interval=interval)

        for planned in [p for p in self.plan.servers if p.starts]:
            h = self.cm.connections.get(planned.hypervisor)
            until('server %s to run with its addresses' % planned.name,
                  lambda p=planned: running_with_leases(h, p.name, p.port_records))
            console = self.consoles.get(planned.name)
            if console is not None and self.wait_for_ready:
                marker = 'kvmcloud-ready %s' % planned.uuid
                until('server %s to print %s on its console' % (planned.name, marker),
                      lambda c=console, m=marker: c.seen(m))
            if console is not None and self.wait_for_cloud_init:
                result = wait_for_cloud_init(console, planned.name, planned.uuid, max(0, deadline - time.monotonic()),
                                             others=consoles)
                self.cloud_init[planned.name] = result
                after_cloud_init(self.cm.warn, h.about(planned.name).lookupByName(planned.name), planned.name, result)

    def close(self):
        for console in self.consoles.values():
            console.close()

    def describe(self):
        out = []
        for planned in self.plan.servers:
            if planned.action == DELETE:
                continue
            hv = self.cm.cloud.hypervisor(planned.hypervisor)
            if planned.action is None:
                # Unchanged: the survey already has it all.
                out.append(describe_server(planned.server, hv))
                continue
            dom = self.cm.connections.get(hv.name).domain(planned.name) if not self.cm.check_mode else None
            out.append(describe_server(server_facts(dom, hv.name), hv) if dom is not None else planned.summary())
            if planned.name in self.cloud_init:
                out[-1]['cloud_init'] = self.cloud_init[planned.name]
        return out


def write_port_records(cm, views, add, remove, repairs=None):
    """Add and remove port records, batched per network, on every hypervisor of each network
    (``views``: the survey's network views) concurrently, one thread per hypervisor;
    ``repairs`` (``{hypervisor: [record]}``) adds records on those hypervisors only."""
    repairs = repairs or {}
    if not add and not remove and not repairs:
        return
    networks = sorted({r['network'] for r in add + remove})
    targets = sorted({hv for net in networks for hv in views[net].hypervisors} | set(repairs))

    def write(h):
        mine = repairs.get(h.name, [])
        for net in sorted(set(networks) | {r['network'] for r in mine}):
            adding = [r for r in mine if r['network'] == net]
            if h.name in views[net].hypervisors:
                adding += [r for r in add if r['network'] == net]
                write_ports(h, net, adding, [r['name'] for r in remove if r['network'] == net])

    failures = [(hv, err) for hv, _ok, err in cm.connections.map(
        write, [cm.cloud.hypervisor(name) for name in targets]) if err is not None]
    if failures:
        raise failed_on('writing the ports', failures)


def needs_catalogs(spec, server):
    """Whether planning ``spec`` may need an image or security group that is not there yet: a new
    server, another image or other networks (a no-op reads no catalog)."""
    return server is None or spec['image'] != server.get('image') or (
        [n['network'] for n in spec['networks']] != [p['network'] for p in server.get('ports') or []])


def _plan(cm, specs, absent, exclusive_project):
    """survey -> plan: ``(survey, fleet plan)``."""
    params = cm.params
    found = survey(cm)
    gone = doomed(found.servers, [s['name'] for s in specs], absent, exclusive_project)
    add_networks(cm, found, involved_networks(specs, found.servers, gone))
    if any(s['boot_from_volume'] and s['name'] not in found.servers for s in specs):
        add_volume_usage(cm, found)
    if any(needs_catalogs(s, found.servers.get(s['name'])) for s in specs):
        add_catalogs(cm, found)
    fleet_plan = plan_fleet(cm.cloud, specs, found, absent=absent, exclusive_project=exclusive_project,
                            rebuild=bool(params.get('rebuild')), new_uuid=None if cm.check_mode else random_uuid,
                            allow_unreachable=cm.allow_unreachable)
    return found, fleet_plan


def written(found, fleet_plan):
    """The names of the hypervisors applying ``fleet_plan`` writes to: those of the servers it
    changes, and every hypervisor of the networks whose port records it writes."""
    todo = [p for p in fleet_plan.servers if p]
    networks = {r['network'] for p in todo for r in p.port_records + p.added_records + p.removed_records}
    networks.update(port['network'] for p in todo if p.action == DELETE for port in p.server.get('ports') or [])
    names = {p.hypervisor for p in todo}
    for net in networks:
        view = found.networks.get(net)
        names.update(view.hypervisors if view is not None else ())
    return names


def run_servers(cm, param_list, absent=(), exclusive_project=None):
    """Reconcile ``param_list`` (the options of one server each) and remove ``absent``; a run
    with something to do plans again under the locks of the hypervisors it writes to, so that
    of two runs of the same servers one creates them and the other finds them."""
    params = cm.params
    # Servers boot, get their addresses and power off in seconds, never at once.
    check_wait_timeout(cm.wait, cm.wait_timeout, zero_allowed=False)
    specs = [spec_from_params(cm.cloud, p) for p in param_list]
    found, fleet_plan = plan_under_lock(cm, lambda: _plan(cm, specs, absent, exclusive_project),
                                        lambda planned: written(*planned))
    for warning in fleet_plan.warnings:
        cm.warn(warning)
    fleet = Fleet(cm, found, fleet_plan, delete_volumes=bool(params.get('delete_volumes')),
                  wait_for_ready=bool(params.get('wait_for_ready')) and cm.wait,
                  wait_for_cloud_init=bool(params.get('wait_for_cloud_init')) and cm.wait)
    if not cm.check_mode:
        try:
            fleet.apply()
            # Waiting for guests writes nothing: other runs need not wait for it.
            cm.connections.locks.release()
            if cm.wait:
                fleet.wait()
        except KvmcloudError as err:
            # What was done is reported: Fleet.apply set changed and left; a failed wait comes
            # after every change.
            err.details.setdefault('changed', fleet_plan.changed)
            raise
        finally:
            fleet.close()
    result = {
        'changed': fleet_plan.changed,
        'diff': fleet_plan.diff(),
        'servers': fleet.describe(),
        'unreachable_hypervisors': unreachable_list(found.unreachable),
    }
    if fleet_plan.reboot_required:
        result['reboot_required'] = True
    return result


def run_server(cm):
    """The ``server`` module: one server, or its removal."""
    if cm.params['state'] == 'absent':
        return run_servers(cm, [], absent=[cm.params['name']])
    return run_servers(cm, [cm.params])


def run_server_fleet(cm):
    """The ``server_fleet`` module: a list of servers, the removals among them, and with
    ``exclusive`` the removal of the project's other servers."""
    project = cm.params.get('project')
    if cm.params['exclusive'] and not project:
        raise ValidationError('exclusive: true needs project, the project whose other servers are deleted')
    present, absent = [], []
    for index, item in enumerate(cm.params['servers']):
        # Each element was checked against SERVER_SPEC already, which set what it left out to None.
        item = {key: value for key, value in item.items() if value is not None}
        options = validate_server_options(index, dict({'project': project} if project else {}, **item))
        if options['state'] == 'absent':
            absent.append(options['name'])
        else:
            present.append(options)
    return run_servers(cm, present, absent=absent, exclusive_project=project if cm.params['exclusive'] else None)


# The module's options, here so that cloud_plan validates an item the way the module does.
FLEET_ARGUMENT_SPEC = dict(
    # Each element's options are declared, so that Ansible hides their secrets (user_data).
    servers=dict(type='list', elements='dict', required=True, options=SERVER_SPEC),
    project=dict(type='str'),
    exclusive=dict(type='bool', default=False),
    delete_volumes=dict(type='bool', default=False),
    rebuild=dict(type='bool', default=False),
    wait_for_ready=dict(type='bool', default=False),
    wait_for_cloud_init=dict(type='bool', default=False),
)
