# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a storage volume on a hypervisor: domains whose disks (or their backing chains)
point at it, and volumes in any pool that have it as their backing store."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import call, lookup

try:
    import libvirt
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None


def disk_refers_to(disk, path, pool=None, volume=None):
    """Whether a domain ``<disk>`` element, or any image in its backing chain, is ``path``
    (or the volume ``volume`` of ``pool``)."""
    for source in disk.iter('source'):
        if path and (source.get('file') == path or source.get('dev') == path):
            return True
        if pool and volume and source.get('pool') == pool and source.get('volume') == volume:
            return True
    return False


def domain_users(domain_xml, path, pool=None, volume=None):
    """The targets (``vda``...) of the disks of a domain's XML that use the volume."""
    desc = xmlutil.parse(domain_xml)
    return [xmlutil.attr(disk, 'target', 'dev') or '?' for disk in desc.findall('devices/disk')
            if disk_refers_to(disk, path, pool, volume)]


def backing_path(volume_xml):
    """The path of a volume's backing store, from the volume's XML, or None."""
    return xmlutil.text(xmlutil.parse(volume_xml), 'backingStore/path')


def volume_users(conn, path, pool=None, volume=None, hypervisor=None):
    """Sorted descriptions of everything on the hypervisor that uses the volume at ``path``:
    ``domain NAME (vda)`` and ``volume POOL/NAME``."""
    users = set()
    for dom in call('listAllDomains', 'domains', conn.listAllDomains, 0, hypervisor=hypervisor):
        name = dom.name()
        descs = [lookup(dom.XMLDesc, 0, what='domain %s' % name, hypervisor=hypervisor)]
        if dom.isActive() and dom.isPersistent():
            # The next boot's definition may differ from the running one.
            descs.append(lookup(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE, what='domain %s' % name,
                                hypervisor=hypervisor))
        targets = sorted({target for desc in descs if desc for target in domain_users(desc, path, pool, volume)})
        if targets:
            users.add('domain %s (%s)' % (name, ', '.join(targets)))
    for other_pool in call('listAllStoragePools', 'pools', conn.listAllStoragePools, 0, hypervisor=hypervisor):
        if not other_pool.isActive():
            continue  # an inactive pool cannot list its volumes
        pool_name = other_pool.name()
        vols = call('listAllVolumes', pool_name, other_pool.listAllVolumes, 0, hypervisor=hypervisor)
        for vol in vols:
            desc = lookup(vol.XMLDesc, 0, what='%s/%s' % (pool_name, vol.name()), hypervisor=hypervisor)
            if desc and backing_path(desc) == path:
                users.add('volume %s/%s' % (pool_name, vol.name()))
    return sorted(users)
