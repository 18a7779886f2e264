# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Block storage volumes (Cinder): data volumes in a hypervisor's volumes pool.

A volume ``NAME`` is the libvirt volume ``volume-NAME.<format>`` in the volumes pool of the
hypervisor it lives on, plus a small JSON record ``volume-NAME.json`` beside it (owner
project, source image, creation time), both written through libvirt only. Names are unique
across the cloud.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.recorded import VOLUME_PREFIX, VOLUME_RECORD_SUFFIX
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import read_json
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import disk_users

PREFIX = VOLUME_PREFIX
RECORD_SUFFIX = VOLUME_RECORD_SUFFIX
FORMATS = ('qcow2', 'raw')
GIB = 1024 ** 3
_UNITS = {
    'b': 1, 'k': 1024, 'kib': 1024, 'm': 1024 ** 2, 'mib': 1024 ** 2, 'g': GIB, 'gib': GIB,
    't': 1024 ** 4, 'tib': 1024 ** 4, 'kb': 1000, 'mb': 1000 ** 2, 'gb': 1000 ** 3, 'tb': 1000 ** 4,
}
_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$')


def parse_size(value):
    """Bytes from a size: a number of GiB, or a string with a unit ('10G', '512MiB', '1TB')."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError('size must be a number of GiB or a string such as 10G, got %r' % (value,))
    if isinstance(value, (int, float)):
        number, unit = value, 'g'
    else:
        match = _SIZE.match(str(value))
        if not match or match.group(2).lower() not in _UNITS and match.group(2):
            raise ValidationError('size %r is not understood: use a number of GiB or a number with a unit '
                                  '(B, K, M, G, T, KiB..TiB, KB..TB)' % (value,))
        number, unit = float(match.group(1)), (match.group(2) or 'g').lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValidationError('size must be greater than 0, got %r' % (value,))
    return size


def validate_name(name):
    return names.resource_name('volume', name)


def data_name(name, fmt):
    return '%s%s.%s' % (PREFIX, name, fmt)


def record_name(name):
    return '%s%s%s' % (PREFIX, name, RECORD_SUFFIX)


def volume_name_of(libvirt_name):
    """The volume's name for a libvirt volume name of a data volume, else None."""
    for fmt in FORMATS:
        suffix = '.' + fmt
        if libvirt_name.startswith(PREFIX) and libvirt_name.endswith(suffix):
            return libvirt_name[len(PREFIX):-len(suffix)]
    return None


def attachments(h, path):
    """``[{'server', 'device', 'running'}]`` for every domain of hypervisor ``h`` whose disk is
    the volume at ``path``."""
    found = [{'server': dom.name(), 'device': device, 'running': running}
             for dom, devices, running in disk_users(h, path) for device in devices]
    return sorted(found, key=lambda a: (a['server'], a['device']))


def attachments_elsewhere(h, path, server):
    """The :func:`attachments` of the volume at ``path`` by domains other than ``server``: a
    volume is attached to one server at a time, since two guests writing one qcow2 corrupt it."""
    return [a for a in attachments(h, path) if a['server'] != server]


class Found:
    """A data volume as found in a pool of hypervisor ``h``: the libvirt volume and its record."""

    def __init__(self, h, pool, vol, record):
        self.h = h
        self.pool = pool
        self.vol = vol
        self.record = record or {}

    @property
    def name(self):
        return volume_name_of(self.vol.name())

    @property
    def path(self):
        return self.vol.path()

    @property
    def format(self):
        return xmlutil.attr(xmlutil.parse(self.vol.XMLDesc(0)), 'target/format', 'type')

    def facts(self):
        desc = xmlutil.parse(self.vol.XMLDesc(0))
        capacity = int(xmlutil.text(desc, 'capacity', '0'))
        return {
            'name': self.name,
            'hypervisor': self.h.name,
            'pool': self.pool.name(),
            'path': self.path,
            'format': xmlutil.attr(desc, 'target/format', 'type'),
            'size': capacity,
            'size_gb': round(capacity / GIB, 3),
            'allocation': int(xmlutil.text(desc, 'allocation', '0')),
            'backing_file': xmlutil.text(desc, 'backingStore/path'),
            'project': self.record.get('project'),
            'image': self.record.get('image'),
            'clone': self.record.get('clone'),
            'created_at': self.record.get('created_at'),
            'attachments': attachments(self.h, self.path),
        }


def _pool_volume(pool, name):
    return pool.lookup('storageVolLookupByName', name)


def _read_record(h, pool, name):
    vol = _pool_volume(pool, record_name(name))
    return read_json(h, vol) if vol is not None else None


def find_on(h, name):
    """The volume ``name`` on hypervisor ``h``, or None."""
    pool = volumes_pool(h)
    for fmt in FORMATS:
        vol = _pool_volume(pool, data_name(name, fmt))
        if vol is not None:
            return Found(h, pool, vol, _read_record(h, pool, name))
    return None


def list_on(h):
    """Every data volume on hypervisor ``h``."""
    pool = volumes_pool(h)
    found = []
    for vol in pool.listAllVolumes(0):
        name = volume_name_of(vol.name())
        if name is not None:
            found.append(Found(h, pool, vol, _read_record(h, pool, name)))
    return found


def usage_on(h):
    """What quotas count of each data volume of hypervisor ``h``: ``[{project, size}]`` (bytes)."""
    return [{'project': found.record.get('project'), 'size': found.vol.info()[1]} for found in list_on(h)]


def locate(cm, name):
    """Find the volume on the cloud's hypervisors: ``(found or None, unreachable ones)``, these
    as ``'<name> (<reason>)'``. Any other failure is an error.

    A name on more than one hypervisor is an error: names are unique across the cloud.
    """
    results, unreachable = map_reachable(cm, lambda h: find_on(h, name), cm.cloud.hypervisors,
                                         'looking for volume %s' % name)
    hits = [found for _hv, found in results if found is not None]
    unreachable = ['%s (%s)' % item for item in sorted(unreachable.items())]
    if len(hits) > 1:
        raise KvmcloudError('volume %s exists on several hypervisors: %s' % (name, ', '.join(f.h.name for f in hits)))
    return (hits[0] if hits else None), unreachable


def delete_found(found):
    """Delete a data volume and its record."""
    found.vol.delete(0)
    record = _pool_volume(found.pool, record_name(found.name))
    if record is not None:
        record.delete(0)
