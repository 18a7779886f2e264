# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a hypervisor records about itself, and the virtualisation type servers use there.

The ``hypervisor`` role probes the virtualisation type and records it as a small JSON volume,
:data:`RECORD_VOLUME`, in the hypervisor's images pool, so any controller reads it back through
libvirt, remote hypervisors included. A ``virt_type`` in the cloud definition overrides it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import images_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.recorded import HYPERVISOR_RECORD
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import read_json, write_json

RECORD_VOLUME = HYPERVISOR_RECORD
# A record larger than this is not ours.
RECORD_MAX_BYTES = 64 * 1024
VIRT_TYPES = ('kvm', 'qemu')


def read_record(h):
    """The recorded hypervisor facts (a dict), or None when there is no record (or no images
    pool to hold one)."""
    pool = h.pool(h.hv.images_pool)
    if pool is None or not pool.isActive():
        return None
    vol = pool.lookup('storageVolLookupByName', RECORD_VOLUME, what='%s/%s' % (pool.label, RECORD_VOLUME))
    if vol is None:
        return None
    return read_json(h, vol, max_bytes=RECORD_MAX_BYTES)


def write_record(h, record):
    """Record the hypervisor's facts in its images pool (see :data:`RECORD_VOLUME`)."""
    write_json(h, images_pool(h), RECORD_VOLUME, record)


def kvm_offered(h):
    """Whether libvirt offers the ``kvm`` domain type at all (not whether guests boot under it)."""
    caps = xmlutil.parse(h.getCapabilities())
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


def virt_type(h):
    """``(virt type, source)`` of hypervisor ``h``, read the way every module reads it; the
    capabilities (a large document) only when neither the cloud definition nor a record says."""
    if h.hv.virt_type:
        return resolve_virt_type(h.hv.virt_type, None, None)
    record = read_record(h)
    return resolve_virt_type(None, record, None if record and record.get('virt_type') in VIRT_TYPES else kvm_offered(h))
