# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume attached to a server, live on a running server and in its persistent config: the
``server_volume`` module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import LIVE, Resource, reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import disks
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import attachments_elsewhere, find_on, validate_name


def find_server(cm, name, hypervisor=None, missing_ok=False):
    """``(handle, domain)`` of the server named ``name``; it must exist exactly once. With
    ``missing_ok``, ``(None, None)`` when every hypervisor was searched and none has it."""
    candidates = [cm.cloud.hypervisor(hypervisor)] if hypervisor else cm.cloud.hypervisors
    outcomes = cm.connections.map(lambda h: h.domain(name), candidates)
    hits = [(cm.connections.get(hv.name), dom) for hv, dom, err in outcomes if err is None and dom is not None]
    if not hits:
        failed = ['%s (%s)' % (hv.name, err.msg) for hv, _dom, err in outcomes if err is not None]
        if missing_ok and not failed:
            return None, None
        raise ValidationError('server %s was not found on any reachable hypervisor%s'
                              % (name, '; not searched: %s' % '; '.join(failed) if failed else ''))
    if len(hits) > 1:
        raise KvmcloudError('server %s exists on several hypervisors: %s' % (name, ', '.join(h.name for h, _d in hits)))
    return hits[0]


class Attachment(Resource):
    """The attachment of one volume to one server."""

    modes = dict(attached=LIVE, live=LIVE)

    def __init__(self, cm, h, dom, found, params):
        self.cm = cm
        self.h = h
        self.dom = dom
        self.uuid = dom.UUIDString()
        self.found = found
        self.params = params

    def running(self):
        return bool(self.dom.isActive())

    def deleted(self, err):
        """The error to raise for ``err``, a failed call on the server: a clear one when the
        server was deleted meanwhile (by something else), else ``err`` itself."""
        if self.h.domain_by_uuid(self.uuid) is not None:
            return err
        doing = 'attached to' if self.params['state'] == 'present' else 'detached from'
        return KvmcloudError('server %s was deleted on hypervisor %s, by something other than this run, while '
                             'volume %s was being %s it; the volume and its record are kept, and a run again '
                             'reports where it is attached' % (self.dom.name(), self.h.name, self.params['volume'], doing),
                             changed=True, hypervisor=self.h.name)

    def find(self):
        try:
            return disks.live_and_config(self.dom)
        except LibvirtCallError as err:
            raise self.deleted(err)

    def normalise(self, raw):
        live, config = raw
        path = self.found.path
        return {
            'attached': disks.disk_element(config if config is not None else live, path) is not None,
            'live': disks.disk_element(live, path) is not None if self.running() else None,
        }

    def desired(self):
        present = self.params['state'] == 'present'
        return {'attached': present, 'live': present if self.running() else None}

    def device(self, raw):
        for desc in reversed(raw):
            disk = disks.disk_element(desc, self.found.path) if desc is not None else None
            if disk is not None:
                return disk.find('target').get('dev')
        if self.params.get('device'):
            return self.params['device']
        return disks.next_device([d for d in raw if d is not None])

    def describe(self, raw):
        facts = self.normalise(raw)
        facts.update(server=self.dom.name(), volume=self.found.name, hypervisor=self.h.name,
                     device=self.device(raw) if facts['attached'] or facts['live'] else None,
                     serial=disks.serial_for(self.params['volume']))
        return facts

    def check(self, the_plan):
        if self.params['state'] != 'present':
            return
        raw = self.find()
        device = self.device(raw)
        volume = self.params['volume']
        if self.params.get('device') and device != self.params['device']:
            raise ValidationError('volume %s is attached to %s as %s, not %s; detach it first'
                                  % (volume, self.dom.name(), device, self.params['device']))
        if not the_plan:
            return
        others = attachments_elsewhere(self.h, self.found.path, self.dom.name())
        if others:
            raise ValidationError('volume %s is attached to server %s; detach it from there first '
                                  '(kvmcloud.cloud.server_volume state: absent) before attaching it to %s'
                                  % (volume, ', '.join('%(server)s (as %(device)s)' % a for a in others),
                                     self.dom.name()), attached_to=sorted({a['server'] for a in others}))
        for desc in raw:
            disk = disks.disk_with_target(desc, device) if desc is not None else None
            if disk is not None and disks.disk_element(desc, self.found.path) is not disk:
                raise ValidationError('device %s of server %s is taken by another disk, %s; choose another device, '
                                      'or leave device out for the first free one'
                                      % (device, self.dom.name(), disks.disk_source(disk)))

    def update(self, raw, the_plan):
        wanted = {change.field: change.after for change in the_plan.changes}
        volume = self.params['volume']
        try:
            flags = disks.hotplug_flags(self.dom, live=wanted.get('live') is not None,
                                        config='attached' in wanted and raw[1] is not None)
            if self.params['state'] == 'present':
                disks.plug(self.dom, volume, self.found.path, self.found.format, self.device(raw), flags)
            else:
                disks.unplug(self.dom, volume, self.found.path, flags, self.cm.wait_timeout if self.cm.wait else 0)
        except LibvirtCallError as err:
            raise self.deleted(err)


def run_server_volume(cm):
    """The ``server_volume`` module: attach or detach one volume of one server."""
    params = cm.params
    validate_name(params['volume'])
    disks.validate_device(params.get('device'))
    h, dom = find_server(cm, params['server'], params.get('hypervisor'), missing_ok=params['state'] == 'absent')
    if dom is None:
        # Detaching from a server that is gone (every hypervisor answered): nothing to do.
        return dict(changed=False, diff={'before': {}, 'after': {}},
                    attachment=dict(server=params['server'], volume=params['volume'], hypervisor=None,
                                    attached=False, live=None, device=None, serial=disks.serial_for(params['volume'])))
    found = find_on(h, params['volume'])
    if found is None:
        raise ValidationError('volume %s is not on hypervisor %s, where server %s runs'
                              % (params['volume'], h.name, params['server']))
    attachment = Attachment(cm, h, dom, found, params)
    outcome = reconcile(attachment, 'present', cm.check_mode, lock=cm.connections.locks.on(h))
    resource = dict(outcome.resource)
    if cm.check_mode or not resource.get('server'):
        resource.update(server=params['server'], volume=params['volume'], hypervisor=h.name)
    return dict(changed=outcome.changed, diff=outcome.diff, attachment=resource)
