# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume as a server's disk: its device name and serial, its ``<disk>`` XML, and plugging it
into a domain or out of it, live on a running server and in its persistent config. Written
once, for ``server_volume`` and for the compute engine's ``volumes`` of a server."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
import string

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_DOMAIN_AFFECT_CONFIG, VIR_DOMAIN_AFFECT_LIVE, VIR_DOMAIN_XML_INACTIVE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import disk_refers_to

# virtio-blk serials longer than this are cut by QEMU.
SERIAL_MAX = 20
# Devices the collection gives data volumes: vdb, vdc ... (vda is a server's root disk).
DATA_DEVICES = tuple('vd' + letter for letter in string.ascii_lowercase[1:])
# The names of disks on the virtio bus, the only bus the collection attaches volumes on.
DEVICE_PATTERN = re.compile(r'^vd[a-z]+$')


def validate_device(device):
    """Refuse a ``device`` that is not a virtio disk name (None is fine: the first free one)."""
    if device is not None and not DEVICE_PATTERN.match(device):
        raise ValidationError('device %r is not a virtio disk name: volumes are attached on the virtio bus, as '
                              'vd[a-z]+ (vdb, vdc ...); use such a name, or leave device out for the first free one'
                              % (device,))
    return device


def serial_for(volume_name):
    """The disk serial the guest sees (/sys/block/vdX/serial, /dev/disk/by-id/virtio-SERIAL)."""
    if len(volume_name) <= SERIAL_MAX:
        return volume_name
    return '%s-%s' % (volume_name[:SERIAL_MAX - 9], hashlib.sha256(volume_name.encode('utf-8')).hexdigest()[:8])


def disk_targets(desc):
    return {xmlutil.attr(disk, 'target', 'dev') for disk in desc.findall('devices/disk')}


def next_device(descs, taken=()):
    """The first data device free in every description of ``descs`` and not in ``taken``."""
    used = set(taken).union(*(disk_targets(desc) for desc in descs))
    for device in DATA_DEVICES:
        if device not in used:
            return device
    raise ValidationError('the server has no free virtio disk name left')


def disk_element(desc, path):
    """The ``<disk>`` of a domain description whose source is ``path``, or None."""
    for disk in desc.findall('devices/disk'):
        if disk_refers_to(disk, path):
            return disk
    return None


def disk_with_target(desc, device):
    """The ``<disk>`` of a domain description that the guest sees as ``device``, or None."""
    for disk in desc.findall('devices/disk'):
        if xmlutil.attr(disk, 'target', 'dev') == device:
            return disk
    return None


def disk_source(disk):
    """What a ``<disk>`` element reads: its file or device path, or ``pool/volume``."""
    source = disk.find('source')
    if source is None:
        return 'no source'
    if source.get('pool'):
        return '%s/%s' % (source.get('pool'), source.get('volume'))
    return source.get('file') or source.get('dev') or 'no source'


def disk_node(path, fmt, device, serial):
    """The ``<disk>`` element of a data volume."""
    disk = xmlutil.element('disk', type='file', device='disk')
    xmlutil.sub(disk, 'driver', name='qemu', type=fmt)
    xmlutil.sub(disk, 'source', file=path)
    xmlutil.sub(disk, 'target', dev=device, bus='virtio')
    xmlutil.sub(disk, 'serial', serial)
    return disk


def live_and_config(dom):
    """``(live, config)``: the parsed live description of a domain, and its persistent one (None
    for a transient domain)."""
    live = xmlutil.parse(dom.XMLDesc(0))
    if not dom.isPersistent():
        return live, None
    return live, xmlutil.parse(dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE))


def hotplug_flags(dom, live=None, config=True):
    """Where a device change applies: the persistent config, and live when the domain runs
    (``live``: None to follow the domain's state, or as given)."""
    running = bool(dom.isActive()) if live is None else live
    return (VIR_DOMAIN_AFFECT_CONFIG if config else 0) | (VIR_DOMAIN_AFFECT_LIVE if running else 0)


def plug(dom, volume, path, fmt, device, flags):
    """Attach the volume named ``volume`` (at ``path``) as ``device``, with its serial (see
    :func:`hotplug_flags` for ``flags``)."""
    dom.about(volume).attachDeviceFlags(xmlutil.tostring(disk_node(path, fmt, device, serial_for(volume))), flags)


def unplug(dom, volume, path, flags, timeout):
    """Detach the volume named ``volume`` (at ``path``); a live detach completes only when the
    guest releases the disk, which is waited for up to ``timeout`` seconds (0: checked once).
    Returns whether the domain had the disk."""
    live, config = live_and_config(dom)
    disk = disk_element(config if config is not None and flags & VIR_DOMAIN_AFFECT_CONFIG else live, path)
    if disk is None:
        return False
    dom.about(volume).detachDeviceFlags(xmlutil.tostring(disk), flags)
    if flags & VIR_DOMAIN_AFFECT_LIVE:
        def released():
            xml = dom.lookup('XMLDesc', 0, what=dom.label)
            if xml is None:
                return True, 'the server is gone'  # deleted meanwhile: the caller finds out
            gone = disk_element(xmlutil.parse(xml), path) is None
            return gone, 'released' if gone else 'still attached to the running server'
        wait_for(Predicate('%s to release volume %s' % (dom.name(), volume), released), timeout)
    return True
