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

from ansible_collections.kvmcloud.cloud.plugins.module_utils import images, placement, servers, volumes, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.domains import (
    all_servers, create_overlay, describe_server, placement_hosts, running_with_leases, shut_down, survey)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError, call, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.migration import Migration, backing_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.waiter import Predicate, wait_for

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


def action_diff(before, after, marks=None):
    """``{'before', 'after'}`` of the fields that differ; ``marks`` are ``{field: (before, after)}``
    for what an action changes that no field shows (a reboot, a new disk)."""
    fields = sorted(key for key in after if before.get(key) != after[key])
    out = {'before': {key: before.get(key) for key in fields}, 'after': {key: after[key] for key in fields}}
    for key, (was, becomes) in sorted((marks or {}).items()):
        out['before'][key] = was
        out['after'][key] = becomes
    return out


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
        self.name = servers.validate_name(self.params['name'])
        self.found, self.unreachable = survey(cm)
        self.server = all_servers(self.found).get(self.name)
        if self.server is None:
            gone = ' (unreachable: %s)' % '; '.join('%s: %s' % item for item in sorted(self.unreachable.items())) \
                if self.unreachable else ''
            raise ValidationError('server %s was not found on any reachable hypervisor%s' % (self.name, gone))
        self.hv = cm.cloud.hypervisor(self.server['hypervisor'])
        self.conn = cm.connections.get(self.hv.name)
        self.steps = []
        self.after = {}
        self.marks = {}
        self.migration = None
        self.rebuild = None

    # -- planning --

    def plan(self):
        action, state = self.params['action'], self.server['power_state']
        for option, applies in (('image', 'rebuild'), ('target', 'migrate')):
            if self.params[option] is not None and action != applies:
                raise ValidationError('%s applies to action %s only, not %s' % (option, applies, action))
        self.after = {'power_state': state, 'hypervisor': self.hv.name, 'image': self.server.get('image'),
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
        entry = images.find_image(self.conn, self.hv, image)
        if entry is None:
            raise ValidationError('server %s: image %s is not registered on hypervisor %s; register it there first '
                                  '(kvmcloud.cloud.image)' % (self.name, image, self.hv.name))
        base_path = images.base_volume_path(self.conn, self.hv, entry)
        root = lookup(volumes.volumes_pool(self.conn, self.hv).storageVolLookupByName,
                      servers.root_volume_name(self.name), hypervisor=self.hv.name)
        self.rebuild = {'image': image, 'base_path': base_path, 'root': root}
        self.steps = rebuild_steps(self.server['power_state'], image, entry['base_volume'])
        self.after['image'] = image
        old = backing_of(root, self.hv.name) if root is not None else None
        self.marks['root_disk'] = (posixpath.basename(old) if old else None,
                                   'new overlay on %s' % entry['base_volume'])

    def _plan_migrate(self):
        target = self.params['target']
        if target == self.hv.name:
            return
        if target is not None:
            self.cm.cloud.hypervisor(target)
            if target in self.unreachable:
                raise ValidationError('server %s cannot migrate to hypervisor %s: %s'
                                      % (self.name, target, self.unreachable[target]))
        hosts = placement_hosts(self.cm.cloud, self.found, self.unreachable, leave_out=self.server)
        chosen = placement.place([placement_request(self.server, target)], hosts).assignments[self.name]
        self.migration = Migration(self.cm, self.server, self.hv, self.cm.cloud.hypervisor(chosen),
                                   self.found[chosen]['virt_type'])
        self.migration.check()
        self.steps = migrate_steps(self.server['power_state'], self.hv.name, chosen)
        self.after.update(hypervisor=chosen, virt_type=self.migration.virt_type)

    # -- running --

    def apply(self):
        action = self.params['action']
        if not self.steps:
            return
        if action == 'migrate':
            self.steps = self.migration.run(self.params['force'], self.cm.wait_timeout)
            self.hv, self.conn = self.migration.target, self.migration.tconn
        elif action == 'rebuild':
            self._run_rebuild()
        else:
            self._run_power_steps()
        if self.cm.wait and self.after['power_state'] != 'stopped':
            wait_for(Predicate('server %s to be %s' % (self.name, self.after['power_state']),
                               lambda: _settled(self.conn, self.server, self.hv.name, self.after['power_state'])),
                     self.cm.wait_timeout)

    def _dom(self):
        return call('lookup', self.name, self.conn.lookupByName, self.name, hypervisor=self.hv.name)

    def _run_power_steps(self):
        dom = self._dom()
        done = []
        for step in self.steps:
            if step == 'shutdown':
                done.extend(shut_down(dom, self.name, self.hv.name, self.cm.wait_timeout, self.params['force'],
                                      self.cm.wait))
            else:
                _power_call(dom, self.name, self.hv.name, step)
                done.append(step)
        self.steps = done

    def _run_rebuild(self):
        dom = self._dom()
        hvname = self.hv.name
        was = self.server['power_state']
        if was != 'stopped':
            call('power off', self.name, dom.destroy, hypervisor=hvname)
        pool = volumes.volumes_pool(self.conn, self.hv)
        base_vol = call('lookup', self.rebuild['base_path'], self.conn.storageVolLookupByPath,
                        self.rebuild['base_path'], hypervisor=hvname)
        old = self.rebuild['root']
        size = call('info', old.name(), old.info, hypervisor=hvname)[1] if old is not None else 0
        if old is not None:
            call('delete', old.name(), old.delete, 0, hypervisor=hvname)
        size = max(size, call('info', base_vol.name(), base_vol.info, hypervisor=hvname)[1])
        create_overlay(pool, servers.root_volume_name(self.name), base_vol, size, hvname)
        if self.rebuild['image'] != self.server.get('image'):
            _set_metadata(self.conn, dom, self.name, hvname, image=self.rebuild['image'])
        if was != 'stopped':
            call('start', self.name, dom.create, hypervisor=hvname)
        if was == 'paused':
            call('suspend', self.name, dom.suspend, hypervisor=hvname)

    # -- the result --

    def result(self):
        before = {key: self.server.get(key) for key in self.after}
        changed = bool(self.steps)
        if self.cm.check_mode or not changed:
            facts = dict(self.server, **self.after)
            hv = self.cm.cloud.hypervisor(self.after['hypervisor'])
        else:
            facts = servers.server_facts(self._dom(), self.hv.name)
            hv = self.hv
        return {
            'changed': changed,
            'action': self.params['action'],
            'steps': self.steps,
            'diff': action_diff(before, self.after, self.marks) if changed else {'before': {}, 'after': {}},
            'server': describe_server(facts, hv),
            'unreachable_hypervisors': ['%s: %s' % item for item in sorted(self.unreachable.items())],
        }


def run_action(cm):
    """The ``server_action`` module."""
    action = Action(cm)
    action.plan()
    if not cm.check_mode:
        action.apply()
    return action.result()


def _power_call(dom, name, hvname, step):
    how = {'start': (dom.create,), 'resume': (dom.resume,), 'suspend': (dom.suspend,),
           'reboot': (dom.reboot, 0), 'reset': (dom.reset, 0)}[step]
    call(step, name, *how, hypervisor=hvname)


def _settled(conn, server, hvname, wanted):
    """Whether the server is in power state ``wanted``; running means with its addresses leased."""
    if wanted == 'running':
        return running_with_leases(conn, server['name'], hvname, server.get('ports') or [])
    dom = lookup(conn.lookupByName, server['name'], hypervisor=hvname)
    if dom is None:
        return False, 'no domain'
    state = servers.power_state(dom, hvname)
    return state == wanted, state


def _set_metadata(conn, dom, name, hvname, **changes):
    """Write changed metadata fields into the persistent definition."""
    desc = xmlutil.parse(call('XMLDesc', name, dom.XMLDesc, 2, hypervisor=hvname))
    servers.replace_metadata(desc, dict(servers.metadata_of(desc) or {}, **changes))
    call('define', name, conn.defineXML, xmlutil.tostring(desc), hypervisor=hvname)
