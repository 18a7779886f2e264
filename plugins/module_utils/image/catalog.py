# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image catalog of a hypervisor, kept in its images pool and read through libvirt only.

Two kinds of volumes live there:

- base volumes, content-addressed: ``sha256-<hex>.qcow2`` or ``sha256-<hex>.raw``;
- catalog entries: a small raw volume ``image-<name>.json`` per image, holding the JSON
  dict that :func:`find_image` returns (name, checksum, disk_format, size, virtual_size,
  min_disk, min_ram, properties, base_volume, registered_at).

Other modules use :func:`find_image`, :func:`list_images` and :func:`base_volume_path`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.files import DISK_FORMATS
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import images_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.recorded import CATALOG_PREFIX, CATALOG_SUFFIX
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import read_json, write_json

# A catalog entry larger than this is not ours.
CATALOG_MAX_BYTES = 1024 * 1024
BASE_PATTERN = re.compile(r'^sha256-[0-9a-f]{64}\.(%s)$' % '|'.join(DISK_FORMATS))

CATALOG_FIELDS = ('name', 'checksum', 'disk_format', 'size', 'virtual_size', 'min_disk', 'min_ram',
                  'properties', 'base_volume', 'registered_at')


def validate_name(name):
    """Image names: a letter or digit, then up to 62 letters, digits, dots, dashes, underscores."""
    return names.resource_name('image', name)


def catalog_volume_name(name):
    return '%s%s%s' % (CATALOG_PREFIX, name, CATALOG_SUFFIX)


def base_volume_name(checksum, disk_format):
    """The content-addressed name of a base volume, from ``sha256:<hex>`` and the format."""
    return '%s.%s' % (checksum.replace(':', '-', 1), disk_format)


def pool_volume(pool, name):
    """The volume ``name`` of ``pool``, or None."""
    return pool.lookup('storageVolLookupByName', name, what='%s/%s' % (pool.label, name))


def read_entry(h, pool, vol):
    """A catalog entry from its volume; an unreadable one is an error that names it."""
    entry = read_json(h, vol, max_bytes=CATALOG_MAX_BYTES)
    if entry is None or not isinstance(entry.get('name'), str):
        raise KvmcloudError('the catalog entry %s/%s on hypervisor %s is unreadable (not a JSON object '
                            'with a name); remove that volume or register the image again with force'
                            % (pool.label, vol.label, h.name), hypervisor=h.name)
    return entry


def catalog(h, pool=None):
    """Every catalog entry of hypervisor ``h``, by image name."""
    pool = pool or images_pool(h)
    entries = {}
    for vol in pool.listAllVolumes(0):
        name = vol.name()
        if name.startswith(CATALOG_PREFIX) and name.endswith(CATALOG_SUFFIX):
            # Keyed like find_image() looks entries up: by the volume's name.
            entries[name[len(CATALOG_PREFIX):-len(CATALOG_SUFFIX)]] = read_entry(h, pool, vol)
    return entries


def image_names(h):
    """Names of the images registered on hypervisor ``h`` (from the catalog volumes' names only)."""
    return frozenset(name[len(CATALOG_PREFIX):-len(CATALOG_SUFFIX)] for name in volume_names(h)
                     if name.startswith(CATALOG_PREFIX) and name.endswith(CATALOG_SUFFIX))


def volume_names(h, pool=None):
    """Names of all volumes in the images pool of hypervisor ``h``."""
    pool = pool or images_pool(h)
    return frozenset(vol.name() for vol in pool.listAllVolumes(0))


def find_image(h, name):
    """The catalog entry (a dict) of the image ``name`` on hypervisor ``h``, or None."""
    validate_name(name)
    pool = images_pool(h)
    vol = pool_volume(pool, catalog_volume_name(name))
    return read_entry(h, pool, vol) if vol is not None else None


def list_images(h):
    """The catalog entries of hypervisor ``h``, sorted by name."""
    entries = catalog(h)
    return [entries[name] for name in sorted(entries)]


def base_volume(h, image):
    """The base volume of ``image`` (a catalog entry, or an image name) on hypervisor ``h``, for
    use as a backing store; a missing image or base volume is an error."""
    entry = find_image(h, image) if isinstance(image, str) else image
    if entry is None:
        raise KvmcloudError('image %s is not registered on hypervisor %s' % (image, h.name), hypervisor=h.name)
    vol = pool_volume(images_pool(h), entry['base_volume'])
    if vol is None:
        raise KvmcloudError('the base volume %s of image %s is missing on hypervisor %s; register the '
                            'image again to restore it' % (entry['base_volume'], entry['name'], h.name),
                            hypervisor=h.name)
    return vol


def base_volume_path(h, image):
    """The path of the base volume of ``image`` on hypervisor ``h`` (see :func:`base_volume`)."""
    return base_volume(h, image).path()


def write_entry(h, pool, entry):
    """Write (or replace) a catalog entry."""
    write_json(h, pool, catalog_volume_name(entry['name']), {key: entry.get(key) for key in CATALOG_FIELDS})


def remove_volume(pool, name):
    """Delete a volume of the images pool: True when deleted, False when it was gone."""
    vol = pool_volume(pool, name)
    return vol.discard('delete', 0) if vol is not None else False
