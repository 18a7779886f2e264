# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume attached to a server: live on a running server and in its persistent config."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import string

from ansible_collections.kvmcloud.cloud.plugins.module_utils import usage, volumes, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError, ValidationError, call, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import LIVE, Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.waiter import Predicate, wait_for

try:
    import libvirt
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None

# virtio-blk serials longer than this are cut by QEMU.
SERIAL_MAX = 20


def serial_for(volume_name):
    """The disk serial the guest sees (/sys/block/vdX/serial, /dev/disk/by-id/virtio-SERIAL)."""
    if len(volume_name) <= SERIAL_MAX:
        return volume_name
    return '%s-%s' % (volume_name[:SERIAL_MAX - 9], hashlib.sha256(volume_name.encode('utf-8')).hexdigest()[:8])


def disk_targets(desc):
    return {xmlutil.attr(disk, 'target', 'dev') for disk in desc.findall('devices/disk')}


def next_device(descs):
    used = set().union(*(disk_targets(desc) for desc in descs))
    for letter in string.ascii_lowercase[1:]:
        if 'vd' + letter not in used:
            return 'vd' + letter
    raise ValidationError('the server has no free virtio disk name left')


def disk_element(desc, path):
    """The ``<disk>`` of a domain description whose source is ``path``, or None."""
    for disk in desc.findall('devices/disk'):
        if usage.disk_refers_to(disk, path):
            return disk
    return None


def disk_xml(path, fmt, device, serial):
    disk = xmlutil.element('disk', type='file', device='disk')
    xmlutil.sub(disk, 'driver', name='qemu', type=fmt)
    xmlutil.sub(disk, 'source', file=path)
    xmlutil.sub(disk, 'target', dev=device, bus='virtio')
    xmlutil.sub(disk, 'serial', serial)
    return xmlutil.tostring(disk)


def find_server(cm, name, hypervisor=None):
    """``(hypervisor, domain)`` of the server named ``name``; it must exist exactly once."""
    candidates = [cm.cloud.hypervisor(hypervisor)] if hypervisor else cm.cloud.hypervisors
    hits = [(hv, dom) for hv, dom, err in cm.connections.map(
        lambda hv, conn: lookup(conn.lookupByName, name, hypervisor=hv.name), candidates)
        if err is None and dom is not None]
    if not hits:
        raise ValidationError('server %s was not found on any reachable hypervisor' % name)
    if len(hits) > 1:
        raise KvmcloudError('server %s exists on several hypervisors: %s' % (name, ', '.join(hit[0].name for hit in hits)))
    return hits[0]


class Attachment(Resource):
    """The attachment of one volume to one server."""

    modes = dict(attached=LIVE, live=LIVE)

    def __init__(self, cm, hypervisor, dom, found, params):
        self.cm = cm
        self.hypervisor = hypervisor
        self.dom = dom
        self.found = found
        self.params = params
        self.conn = cm.connections.get(hypervisor.name)

    def _descs(self):
        hv = self.hypervisor.name
        live = xmlutil.parse(call('XMLDesc', self.dom.name(), self.dom.XMLDesc, 0, hypervisor=hv))
        if not self.dom.isPersistent():
            return live, None
        config = xmlutil.parse(call('XMLDesc', self.dom.name(), self.dom.XMLDesc,
                                    libvirt.VIR_DOMAIN_XML_INACTIVE, hypervisor=hv))
        return live, config

    def running(self):
        return bool(self.dom.isActive())

    def find(self):
        return self._descs()

    def normalise(self, raw):
        live, config = raw
        path = self.found.path
        return {
            'attached': disk_element(config if config is not None else live, path) is not None,
            'live': disk_element(live, path) is not None if self.running() else None,
        }

    def desired(self):
        present = self.params['state'] == 'present'
        return {'attached': present, 'live': present if self.running() else None}

    def device(self, raw):
        live, config = raw
        for desc in (config, live):
            disk = disk_element(desc, self.found.path) if desc is not None else None
            if disk is not None:
                return xmlutil.attr(disk, 'target', 'dev')
        if self.params.get('device'):
            return self.params['device']
        return next_device([d for d in raw if d is not None])

    def describe(self, raw):
        facts = self.normalise(raw)
        facts.update(server=self.dom.name(), volume=self.found.facts()['name'], hypervisor=self.hypervisor.name,
                     device=self.device(raw) if facts['attached'] or facts['live'] else None,
                     serial=serial_for(self.params['volume']))
        return facts

    def check(self, the_plan):
        if self.params['state'] == 'present' and self.params.get('device'):
            device = self.device(self.find())
            if device != self.params['device']:
                raise ValidationError('volume %s is attached to %s as %s, not %s; detach it first'
                                      % (self.params['volume'], self.dom.name(), device, self.params['device']))

    def update(self, raw, the_plan):
        wanted = {change.field: change.after for change in the_plan.changes}
        live, config = raw
        flags = 0
        if 'attached' in wanted and config is not None:
            flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if wanted.get('live') is not None:
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        if self.params['state'] == 'present':
            xml = disk_xml(self.found.path, self.found.facts()['format'], self.device(raw),
                           serial_for(self.params['volume']))
            call('attach', self.params['volume'], self.dom.attachDeviceFlags, xml, flags,
                 hypervisor=self.hypervisor.name)
            return
        disk = disk_element(config if config is not None and flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG else live,
                            self.found.path)
        call('detach', self.params['volume'], self.dom.detachDeviceFlags, xmlutil.tostring(disk), flags,
             hypervisor=self.hypervisor.name)
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            self._wait_released()

    def _wait_released(self):
        """A live detach completes when the guest releases the disk."""
        def released():
            live = xmlutil.parse(call('XMLDesc', self.dom.name(), self.dom.XMLDesc, 0, hypervisor=self.hypervisor.name))
            gone = disk_element(live, self.found.path) is None
            return gone, 'released' if gone else 'still attached to the running server'
        wait_for(Predicate('%s to release volume %s' % (self.dom.name(), self.params['volume']), released),
                 self.cm.wait_timeout if self.cm.wait else 0)


def attachment_for(cm, params):
    volumes.validate_name(params['volume'])
    hypervisor, dom = find_server(cm, params['server'], params.get('hypervisor'))
    found = volumes.find_on(cm.connections.get(hypervisor.name), hypervisor, params['volume'])
    if found is None:
        raise ValidationError('volume %s is not on hypervisor %s, where server %s runs'
                              % (params['volume'], hypervisor.name, params['server']))
    return Attachment(cm, hypervisor, dom, found, params)
