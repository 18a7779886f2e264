# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume attached to a server, live on a running server and in its persistent config: the
``server_volume`` module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import LIVE, Resource, reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import disks
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import find_on, validate_name


def find_server(cm, name, hypervisor=None):
    """``(handle, domain)`` of the server named ``name``; it must exist exactly once."""
    candidates = [cm.cloud.hypervisor(hypervisor)] if hypervisor else cm.cloud.hypervisors
    hits = [(cm.connections.get(hv.name), dom) for hv, dom, err in cm.connections.map(
        lambda h: h.domain(name), candidates) if err is None and dom is not None]
    if not hits:
        raise ValidationError('server %s was not found on any reachable hypervisor' % name)
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
        self.found = found
        self.params = params

    def running(self):
        return bool(self.dom.isActive())

    def find(self):
        return disks.live_and_config(self.dom)

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
        if self.params['state'] == 'present' and self.params.get('device'):
            device = self.device(self.find())
            if device != self.params['device']:
                raise ValidationError('volume %s is attached to %s as %s, not %s; detach it first'
                                      % (self.params['volume'], self.dom.name(), device, self.params['device']))

    def update(self, raw, the_plan):
        wanted = {change.field: change.after for change in the_plan.changes}
        flags = disks.hotplug_flags(self.dom, live=wanted.get('live') is not None,
                                    config='attached' in wanted and raw[1] is not None)
        volume = self.params['volume']
        if self.params['state'] == 'present':
            disks.plug(self.dom, volume, self.found.path, self.found.format, self.device(raw), flags)
        else:
            disks.unplug(self.dom, volume, self.found.path, flags, self.cm.wait_timeout if self.cm.wait else 0)


def run_server_volume(cm):
    """The ``server_volume`` module: attach or detach one volume of one server."""
    params = cm.params
    validate_name(params['volume'])
    h, dom = find_server(cm, params['server'], params.get('hypervisor'))
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
