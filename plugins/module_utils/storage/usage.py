# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a storage volume on a hypervisor: domains whose disks (or their backing chains)
point at it, and volumes in any pool that have it as their backing store; and what a whole
pool holds that must not go with it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import descriptions
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.recorded import kind_of


def disk_refers_to(disk, path, pool=None, volume=None):
    """Whether a domain ``<disk>`` element, or any image in its backing chain, is ``path``
    (or the volume ``volume`` of ``pool``)."""
    for source in disk.iter('source'):
        if path and (source.get('file') == path or source.get('dev') == path):
            return True
        if pool and volume and source.get('pool') == pool and source.get('volume') == volume:
            return True
    return False


def domain_users(desc, path, pool=None, volume=None):
    """The targets (``vda``...) of the disks of a parsed domain description that use the volume."""
    return [xmlutil.attr(disk, 'target', 'dev') or '?' for disk in desc.findall('devices/disk')
            if disk_refers_to(disk, path, pool, volume)]


def disk_users(h, path, pool=None, volume=None):
    """``[(domain, [targets], running)]`` of every domain of hypervisor ``h`` with a disk that
    uses the volume at ``path``, live or in its persistent config."""
    found = []
    for dom in h.listAllDomains(0):
        descs = descriptions(dom)
        targets = sorted({target for desc in descs for target in domain_users(desc, path, pool, volume)})
        if targets:
            found.append((dom, targets, bool(dom.isActive())))
    return found


def backing_path(volume_xml):
    """The path of a volume's backing store, from the volume's XML, or None."""
    return xmlutil.text(xmlutil.parse(volume_xml), 'backingStore/path')


def volume_users(h, path, pool=None, volume=None):
    """Sorted descriptions of everything on hypervisor ``h`` that uses the volume at ``path``:
    ``domain NAME (vda)`` and ``volume POOL/NAME``."""
    users = {'domain %s (%s)' % (dom.name(), ', '.join(targets))
             for dom, targets, _running in disk_users(h, path, pool, volume)}
    for other_pool in h.listAllStoragePools(0):
        if not other_pool.isActive():
            continue  # an inactive pool cannot list its volumes
        for vol in other_pool.listAllVolumes(0):
            desc = vol.lookup('XMLDesc', 0, what='%s/%s' % (other_pool.label, vol.label))
            if desc and backing_path(desc) == path:
                users.add('volume %s/%s' % (other_pool.name(), vol.name()))
    return sorted(users)


def _under(path, directory):
    return bool(path) and path.startswith(directory.rstrip('/') + '/')


def _pool_path(pool):
    return xmlutil.text(xmlutil.parse(pool.XMLDesc(0)), 'target/path') or ''


def pool_users(h, pool):
    """What uses the volumes of ``pool`` on hypervisor ``h``: sorted ``'<volume> (<user>)'`` for
    every disk of a domain (live or in its persistent config, backing chains included) whose
    file is in the pool's directory, and every volume of another pool backed by one. Found by
    path, so an inactive pool is checked too (for its domains)."""
    directory, name = _pool_path(pool), pool.name()
    found = set()
    for dom in h.listAllDomains(0):
        for desc in descriptions(dom):
            for disk in desc.findall('devices/disk'):
                target = xmlutil.attr(disk, 'target', 'dev') or '?'
                for source in disk.iter('source'):
                    path = source.get('file') or source.get('dev')
                    if _under(path, directory):
                        found.add('%s (server %s as %s)' % (path[len(directory.rstrip('/')) + 1:], dom.name(), target))
                    elif source.get('pool') == name and source.get('volume'):
                        found.add('%s (server %s as %s)' % (source.get('volume'), dom.name(), target))
    for other in h.listAllStoragePools(0):
        if other.name() == name or not other.isActive():
            continue  # an inactive pool cannot list its volumes
        for vol in other.listAllVolumes(0):
            desc = vol.lookup('XMLDesc', 0, what='%s/%s' % (other.label, vol.label))
            backing = backing_path(desc) if desc else None
            if _under(backing, directory):
                found.add('%s (the backing file of volume %s/%s)' % (backing[len(directory.rstrip('/')) + 1:],
                                                                     other.name(), vol.name()))
    return sorted(found)


def kept_volumes(pool):
    """Sorted ``'<volume> (<what it is>)'`` for the volumes of an active ``pool`` that the
    collection keeps there: data volumes and records, image catalog entries and base volumes,
    the hypervisor record, servers' disks (see :mod:`.recorded`)."""
    kept = []
    for vol in pool.listAllVolumes(0):
        kind = kind_of(vol.name())
        if kind:
            kept.append('%s (%s)' % (vol.name(), kind))
    return sorted(kept)
