# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about the cloud's hypervisors, read through their libvirt connections only: the
``hypervisor_info`` module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.record import (
    kvm_offered, read_record, resolve_virt_type)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import pool_facts


def version_string(number):
    """libvirt's packed version (major * 1000000 + minor * 1000 + release) as 'major.minor.release'."""
    return '%d.%d.%d' % (number // 1000000, (number // 1000) % 1000, number % 1000)


def gather(h):
    """Everything ``hypervisor_info`` reports about one reachable hypervisor."""
    model, memory_mb, cpus = h.getInfo()[:3]
    record = read_record(h)
    offered = kvm_offered(h)
    virt_type, source = resolve_virt_type(h.hv.virt_type, record, offered)
    driver = h.getType()
    return {
        'hostname': h.getHostname(),
        'driver': driver,
        'libvirt_version': version_string(h.getLibVersion()),
        'qemu_version': version_string(h.getVersion()) if driver == 'QEMU' else None,
        'arch': model,
        'cpus': cpus,
        'memory_mb': memory_mb,
        'free_memory_mb': h.getFreeMemory() // (1024 * 1024),
        'kvm_offered': offered,
        'virt_type': virt_type,
        'virt_type_source': source,
        'record': record,
        'pools': sorted((pool_facts(p) for p in h.listAllStoragePools(0)), key=lambda p: p['name']),
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


def run_hypervisor_info(cm):
    """The ``hypervisor_info`` module: every hypervisor named (all by default), reachable or not."""
    selected = cm.cloud.select_hypervisors(cm.params['name'])
    found, _unreachable = map_reachable(cm, gather, selected, 'reading the hypervisor')
    facts = {hv.name: result for hv, result in found}
    return dict(changed=False, hypervisors=[describe(hv, facts.get(hv.name), cm.connections.unreachable(hv.name))
                                            for hv in selected])
