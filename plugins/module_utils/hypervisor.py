# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about a hypervisor, read through its libvirt connection only.

The ``hypervisor`` role records the virtualisation type it probed as a small JSON volume,
:data:`RECORD_VOLUME`, in the hypervisor's images pool, so any controller reads it back
through libvirt, remote hypervisors included.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import call, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.pools import active_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.streams import read_json, write_json

RECORD_VOLUME = 'kvmcloud-hypervisor.json'
# A record larger than this is not ours.
RECORD_MAX_BYTES = 64 * 1024
VIRT_TYPES = ('kvm', 'qemu')


def version_string(number):
    """libvirt's packed version (major * 1000000 + minor * 1000 + release) as 'major.minor.release'."""
    return '%d.%d.%d' % (number // 1000000, (number // 1000) % 1000, number % 1000)


def read_record(conn, pool_name, hypervisor=None):
    """The recorded hypervisor facts (a dict), or None when there is no record."""
    pool = lookup(conn.storagePoolLookupByName, pool_name, hypervisor=hypervisor)
    if pool is None or not pool.isActive():
        return None
    vol = lookup(pool.storageVolLookupByName, RECORD_VOLUME, what='%s/%s' % (pool_name, RECORD_VOLUME),
                 hypervisor=hypervisor)
    if vol is None:
        return None
    return read_json(conn, vol, hypervisor=hypervisor, max_bytes=RECORD_MAX_BYTES)


def kvm_offered(conn):
    """Whether libvirt offers the ``kvm`` domain type at all (not whether guests boot under it)."""
    caps = xmlutil.parse(call('getCapabilities', 'host', conn.getCapabilities))
    return any(domain.get('type') == 'kvm' for domain in caps.iter('domain'))


def resolve_virt_type(spec_virt_type, record, offered):
    """Which virtualisation type modules use, and where that answer comes from."""
    if spec_virt_type:
        return spec_virt_type, 'cloud definition'
    if record and record.get('virt_type') in VIRT_TYPES:
        return record['virt_type'], 'recorded'
    if not offered:
        return 'qemu', 'capabilities: kvm is not offered'
    return 'qemu', 'default: not probed yet (run the kvmcloud.cloud.hypervisor role)'


def pool_facts(pool):
    state, capacity, allocation, available = pool.info()[:4]
    desc = xmlutil.parse(pool.XMLDesc(0))
    return {
        'name': pool.name(),
        'type': desc.get('type'),
        'path': xmlutil.text(desc, 'target/path'),
        'active': bool(pool.isActive()),
        'autostart': bool(pool.autostart()),
        'capacity': capacity,
        'allocation': allocation,
        'available': available,
    }


def gather(hv, conn):
    """Everything ``hypervisor_info`` reports about one reachable hypervisor."""
    name = hv.name
    model, memory_mb, cpus = call('getInfo', 'host', conn.getInfo, hypervisor=name)[:3]
    record = read_record(conn, hv.images_pool, hypervisor=name)
    offered = kvm_offered(conn)
    virt_type, source = resolve_virt_type(hv.virt_type, record, offered)
    pools = [pool_facts(p) for p in call('listAllStoragePools', 'host', conn.listAllStoragePools, 0, hypervisor=name)]
    driver = call('getType', 'host', conn.getType, hypervisor=name)
    return {
        'hostname': call('getHostname', 'host', conn.getHostname, hypervisor=name),
        'driver': driver,
        'libvirt_version': version_string(call('getLibVersion', 'host', conn.getLibVersion, hypervisor=name)),
        'qemu_version': (version_string(call('getVersion', 'host', conn.getVersion, hypervisor=name))
                         if driver == 'QEMU' else None),
        'arch': model,
        'cpus': cpus,
        'memory_mb': memory_mb,
        'free_memory_mb': call('getFreeMemory', 'host', conn.getFreeMemory, hypervisor=name) // (1024 * 1024),
        'kvm_offered': offered,
        'virt_type': virt_type,
        'virt_type_source': source,
        'record': record,
        'pools': sorted(pools, key=lambda p: p['name']),
    }


def describe(hv, facts=None, reason=None):
    """The entry for one hypervisor: its definition, reachability and facts."""
    entry = {
        'name': hv.name,
        'uri': hv.uri,
        'zone': hv.zone,
        'enabled': hv.enabled,
        'reachable': reason is None,
        'reason': reason,
    }
    entry.update(facts or {})
    return entry


def write_record(conn, pool_name, record, hypervisor=None):
    """Record the hypervisor's facts in its images pool (see :data:`RECORD_VOLUME`)."""
    pool = active_pool(conn, hypervisor, pool_name, 'images')
    write_json(conn, pool, RECORD_VOLUME, record, hypervisor=hypervisor)
