# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Actions on one server (the ``server_action`` module).

An action is planned first, as a list of steps from the server's power state; check mode stops
there, and a real run executes the same steps. Power actions are idempotent against the state
they lead to; ``reboot`` and ``rebuild`` always change. Cold migration is in ``migration``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import time

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import placement
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.apply import replace_root_disk
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import (
    describe_server, power_state, server_facts, set_metadata)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.migration import Migration, backing_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.power import (
    CONSOLE_POLL_MAX, ConsoleWatch, after_cloud_init, pumping, running_with_leases, shut_down, start_watched,
    wait_for_cloud_init)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import root_volume_name, validate_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.survey import placement_hosts, survey
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import plan_under_lock
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import Plan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import base_volume, find_image
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool

ACTIONS = ('start', 'stop', 'reboot', 'pause', 'resume', 'rebuild', 'migrate')
REBOOT_TYPES = ('soft', 'hard')


def power_steps(action, state, reboot_type='soft', name='the server'):
    """``(steps, state after)`` of a power action on a server in power ``state``.

    No steps means the server is already where the action leads. Actions that cannot apply in
    a state (pausing a stopped server, a soft reboot of a guest that does not run) are refused.
    """
    if action == 'start':
        return {'running': [], 'paused': ['resume'], 'stopped': ['start']}[state], 'running'
    if action == 'stop':
        return {'running': ['shutdown'], 'paused': ['resume', 'shutdown'], 'stopped': []}[state], 'stopped'
    if action == 'pause':
        if state == 'stopped':
            raise ValidationError('%s is stopped; start it before pausing it' % name)
        return ([] if state == 'paused' else ['suspend']), 'paused'
    if action == 'resume':
        if state == 'stopped':
            raise ValidationError('%s is stopped, not paused; use action start' % name)
        return (['resume'] if state == 'paused' else []), 'running'
    if action == 'reboot':
        if reboot_type == 'hard':
            return {'running': ['reset'], 'paused': ['reset', 'resume'], 'stopped': ['start']}[state], 'running'
        if state != 'running':
            raise ValidationError('%s is %s, so its guest cannot reboot itself; use reboot_type: hard (or action %s)'
                                  % (name, state, 'resume' if state == 'paused' else 'start'))
        return ['reboot'], 'running'
    raise ValidationError('unknown power action %r' % (action,))


def rebuild_steps(state, image, base_volume):
    """Steps of a rebuild: the server is powered off at once (its disk is replaced), gets a new
    root overlay and comes back in the state it had."""
    steps = [] if state == 'stopped' else ['power off']
    steps.append('new root disk on image %s (%s)' % (image, base_volume))
    if state != 'stopped':
        steps.append('start')
    if state == 'paused':
        steps.append('suspend')
    return steps


def migrate_steps(state, source, target):
    """Steps of a cold migration from ``source`` to ``target``."""
    steps = {'running': ['shutdown'], 'paused': ['resume', 'shutdown'], 'stopped': []}[state]
    steps += ['copy root disk to %s' % target, 'copy seed to %s' % target, 'define on %s' % target]
    if state != 'stopped':
        steps.append('start on %s' % target)
    if state == 'paused':
        steps.append('suspend on %s' % target)
    steps.append('remove from %s' % source)
    return steps


def action_plan(action, steps, before, after, marks=None):
    """The :class:`Plan` of an action: its ``steps``, and in ``before``/``after`` the fields that
    differ; ``marks`` are ``{field: (before, after)}`` for what an action changes that no field
    shows (a reboot, a new disk). An action without steps changes nothing."""
    if not steps:
        return Plan()
    fields = sorted(key for key in after if before.get(key) != after[key])
    old, new = {key: before.get(key) for key in fields}, {key: after[key] for key in fields}
    for key, (was, becomes) in sorted((marks or {}).items()):
        old[key] = was
        new[key] = becomes
    return Plan(action, before=old, after=new, steps=list(steps))


def placement_request(server, target):
    group = server.get('server_group') or {}
    return placement.Request(
        name=server['name'], vcpus=server['vcpus'], ram_mb=server['ram'],
        disk_gb=(server.get('flavor') or {}).get('disk') or 0, hypervisor=target,
        server_group=group.get('name'), policy=group.get('policy') if group.get('name') else None)


# --- the server_action module --------------------------------------------------------------------


class Action:
    """One action on one server: found, planned, then run unless check mode."""

    def __init__(self, cm):
        self.cm = cm
        self.params = cm.params
        self.name = validate_name(self.params['name'])
        self.found = survey(cm)
        self.unreachable = self.found.unreachable
        self.server = self.found.servers.get(self.name)
        if self.server is None:
            gone = ' (unreachable: %s)' % '; '.join(unreachable_list(self.unreachable)) if self.unreachable else ''
            raise ValidationError('server %s was not found on any reachable hypervisor%s' % (self.name, gone))
        self.h = cm.connections.get(self.server['hypervisor'])
        self.steps = []
        self.after = {}
        self.marks = {}
        self.migration = None
        self.rebuild = None
        self.watch = None       # the console, opened before the guest boots, with wait_for_cloud_init
        self.cloud_init = None  # what cloud-init reported

    # -- planning --

    def plan(self):
        action, state = self.params['action'], self.server['power_state']
        for option, applies in (('image', 'rebuild'), ('target', 'migrate')):
            if self.params[option] is not None and action != applies:
                raise ValidationError('%s applies to action %s only, not %s' % (option, applies, action))
        self.after = {'power_state': state, 'hypervisor': self.h.name, 'image': self.server.get('image'),
                      'virt_type': self.server['virt_type']}
        if action == 'rebuild':
            self._plan_rebuild()
        elif action == 'migrate':
            self._plan_migrate()
        else:
            self.steps, self.after['power_state'] = power_steps(action, state, self.params['reboot_type'],
                                                                name='server %s' % self.name)
        if action == 'reboot':
            self.marks['reboot'] = (None, self.params['reboot_type'])

    def _plan_rebuild(self):
        image = self.params['image'] or self.server.get('image')
        entry = find_image(self.h, image)
        if entry is None:
            raise ValidationError('server %s: image %s is not registered on hypervisor %s; register it there first '
                                  '(kvmcloud.cloud.image)' % (self.name, image, self.h.name))
        root = volumes_pool(self.h).lookup('storageVolLookupByName', root_volume_name(self.name))
        self.rebuild = {'image': image, 'base': base_volume(self.h, entry)}
        self.steps = rebuild_steps(self.server['power_state'], image, entry['base_volume'])
        self.after['image'] = image
        old = backing_of(root) if root is not None else None
        self.marks['root_disk'] = (posixpath.basename(old) if old else None,
                                   'new overlay on %s' % entry['base_volume'])

    def _plan_migrate(self):
        target = self.params['target']
        if target == self.h.name:
            return
        if target is not None:
            self.cm.cloud.hypervisor(target)
            if target in self.unreachable:
                raise ValidationError('server %s cannot migrate to hypervisor %s: %s'
                                      % (self.name, target, self.unreachable[target]))
        hosts = placement_hosts(self.cm.cloud, self.found, leave_out=self.server)
        chosen = placement.place([placement_request(self.server, target)], hosts).assignments[self.name]
        self.migration = Migration(self.server, self.h, self.cm.connections.get(chosen),
                                   self.found.hosts[chosen].virt_type)
        self.migration.check()
        self.steps = migrate_steps(self.server['power_state'], self.h.name, chosen)
        self.after.update(hypervisor=chosen, virt_type=self.migration.virt_type)

    # -- running --

    def apply(self):
        action = self.params['action']
        if not self.steps:
            return
        deadline = time.monotonic() + self.cm.wait_timeout
        try:
            if action == 'migrate':
                self.steps = self.migration.run(self.params['force'], self.cm.wait_timeout)
                self.h = self.migration.target
            elif action == 'rebuild':
                self._run_rebuild()
            else:
                self._run_power_steps()
            if self.cm.wait and self.after['power_state'] != 'stopped':
                # A watched console is read meanwhile: one nobody reads fills up and stalls the guest.
                consoles = [self.watch] if self.watch is not None else []
                wait_for(Predicate('server %s to be %s' % (self.name, self.after['power_state']),
                                   pumping(consoles, lambda: _settled(self.h, self.server, self.after['power_state']))),
                         self.cm.wait_timeout, max_interval=CONSOLE_POLL_MAX if consoles else 5.0)
            if self.watch is not None:
                self.cloud_init = wait_for_cloud_init(self.watch, self.name, self.server['uuid'],
                                                      max(0, deadline - time.monotonic()))
                after_cloud_init(self.cm.warn, self._dom(), self.name, self.cloud_init)
        finally:
            if self.watch is not None:
                self.watch.close()

    def _watching(self):
        """Whether to watch the console of the guest this action boots, for cloud-init's end."""
        return bool(self.cm.wait and self.params.get('wait_for_cloud_init') and self.after['power_state'] == 'running')

    def _boot(self, dom):
        """Start ``dom``; with wait_for_cloud_init paused first, so that its console is watched
        from the first line."""
        if not self._watching():
            dom.create()
            return
        self.watch = start_watched(self.h, dom)

    def _dom(self):
        return self.h.about(self.name).lookupByName(self.name)

    def _run_power_steps(self):
        dom = self._dom()
        done = []
        for step in self.steps:
            if step == 'shutdown':
                done.extend(shut_down(dom, self.cm.wait_timeout, self.params['force'], self.cm.wait))
                continue
            if step == 'start':
                self._boot(dom)
            else:
                if step in ('reboot', 'reset') and self._watching():
                    self.watch = ConsoleWatch(self.h, dom)
                _power_call(dom, step)
            done.append(step)
        self.steps = done

    def _run_rebuild(self):
        dom = self._dom()
        was = self.server['power_state']
        if was != 'stopped':
            dom.destroy()
        replace_root_disk(self.h, dom, self.name, self.rebuild['base'])
        if self.rebuild['image'] != self.server.get('image'):
            set_metadata(self.h, dom, image=self.rebuild['image'])
        if was != 'stopped':
            self._boot(dom)
        if was == 'paused':
            dom.suspend()

    # -- the result --

    def result(self):
        before = {key: self.server.get(key) for key in self.after}
        the_plan = action_plan(self.params['action'], self.steps, before, self.after, self.marks)
        if self.cm.check_mode or not the_plan:
            facts = dict(self.server, **self.after)
            hv = self.cm.cloud.hypervisor(self.after['hypervisor'])
        else:
            facts = server_facts(self._dom(), self.h.name)
            hv = self.h.hv
        out = {
            'changed': bool(the_plan),
            'action': self.params['action'],
            'steps': self.steps,
            'diff': the_plan.diff(),
            'server': describe_server(facts, hv),
            'unreachable_hypervisors': unreachable_list(self.unreachable),
        }
        if self.cloud_init is not None:
            out['cloud_init'] = self.cloud_init
        return out


def _planned(cm):
    action = Action(cm)
    action.plan()
    return action


def _written(action):
    """The names of the hypervisors the action writes to: the server's, and a migration's target."""
    return {action.h.name, action.after['hypervisor']} if action.steps else set()


def run_action(cm):
    """The ``server_action`` module; an action with steps is planned again under the locks of
    the hypervisors it writes to."""
    action = plan_under_lock(cm, lambda: _planned(cm), _written)
    if not cm.check_mode:
        action.apply()
    return action.result()


def _power_call(dom, step):
    how = {'resume': (dom.resume,), 'suspend': (dom.suspend,),
           'reboot': (dom.reboot, 0), 'reset': (dom.reset, 0)}[step]
    how[0](*how[1:])


def _settled(h, server, wanted):
    """Whether the server is in power state ``wanted``; running means with its addresses leased."""
    if wanted == 'running':
        return running_with_leases(h, server['name'], server.get('ports') or [])
    dom = h.domain(server['name'])
    if dom is None:
        return False, 'no domain'
    state = power_state(dom)
    return state == wanted, state
