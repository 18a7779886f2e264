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

import datetime
import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, ValidationError, call, delete, lookup)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image_files import DISK_FORMATS
from ansible_collections.kvmcloud.cloud.plugins.module_utils.pools import active_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.streams import read_json, write_json

NAME_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
CATALOG_PREFIX = 'image-'
CATALOG_SUFFIX = '.json'
# A catalog entry larger than this is not ours.
CATALOG_MAX_BYTES = 1024 * 1024
BASE_PATTERN = re.compile(r'^sha256-[0-9a-f]{64}\.(%s)$' % '|'.join(DISK_FORMATS))

CATALOG_FIELDS = ('name', 'checksum', 'disk_format', 'size', 'virtual_size', 'min_disk', 'min_ram',
                  'properties', 'base_volume', 'registered_at')


def validate_name(name):
    """Image names: a letter or digit, then up to 62 letters, digits, dots, dashes, underscores."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError('invalid image name %r: use 1 to 63 letters, digits, dots, dashes and '
                              'underscores, starting with a letter or digit' % (name,))
    return name


def catalog_volume_name(name):
    return '%s%s%s' % (CATALOG_PREFIX, name, CATALOG_SUFFIX)


def base_volume_name(checksum, disk_format):
    """The content-addressed name of a base volume, from ``sha256:<hex>`` and the format."""
    return '%s.%s' % (checksum.replace(':', '-', 1), disk_format)


def now():
    """The time the collection records (image registration, volume creation): UTC, to the
    second, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def images_pool(conn, hypervisor):
    """The hypervisor's images pool; it must exist and run."""
    return active_pool(conn, hypervisor.name, hypervisor.images_pool, 'images')


def _volume(pool, name, hvname):
    return lookup(pool.storageVolLookupByName, name, what='%s/%s' % (pool.name(), name), hypervisor=hvname)


def read_entry(conn, pool, vol, hvname):
    """A catalog entry from its volume; an unreadable one is an error that names it."""
    entry = read_json(conn, vol, hypervisor=hvname, max_bytes=CATALOG_MAX_BYTES)
    if entry is None or not isinstance(entry.get('name'), str):
        raise KvmcloudError('the catalog entry %s/%s on hypervisor %s is unreadable (not a JSON object '
                            'with a name); remove that volume or register the image again with force'
                            % (pool.name(), vol.name(), hvname), hypervisor=hvname)
    return entry


def catalog(conn, hypervisor, pool=None):
    """Every catalog entry of the hypervisor, by image name."""
    pool = pool or images_pool(conn, hypervisor)
    entries = {}
    for vol in call('listAllVolumes', pool.name(), pool.listAllVolumes, 0, hypervisor=hypervisor.name):
        name = vol.name()
        if name.startswith(CATALOG_PREFIX) and name.endswith(CATALOG_SUFFIX):
            # Keyed like find_image() looks entries up: by the volume's name.
            entries[name[len(CATALOG_PREFIX):-len(CATALOG_SUFFIX)]] = read_entry(conn, pool, vol, hypervisor.name)
    return entries


def volume_names(conn, hypervisor, pool=None):
    """Names of all volumes in the hypervisor's images pool."""
    pool = pool or images_pool(conn, hypervisor)
    return frozenset(vol.name() for vol in
                     call('listAllVolumes', pool.name(), pool.listAllVolumes, 0, hypervisor=hypervisor.name))


def find_image(conn, hypervisor, name):
    """The catalog entry (a dict) of the image ``name`` on ``hypervisor``, or None."""
    validate_name(name)
    pool = images_pool(conn, hypervisor)
    vol = _volume(pool, catalog_volume_name(name), hypervisor.name)
    return read_entry(conn, pool, vol, hypervisor.name) if vol is not None else None


def list_images(conn, hypervisor):
    """The catalog entries of ``hypervisor``, sorted by name."""
    entries = catalog(conn, hypervisor)
    return [entries[name] for name in sorted(entries)]


def base_volume_path(conn, hypervisor, image):
    """The path of the base volume of ``image`` (a catalog entry, or an image name) on
    ``hypervisor``, for use as a backing store; a missing image or base volume is an error."""
    entry = find_image(conn, hypervisor, image) if isinstance(image, str) else image
    if entry is None:
        raise KvmcloudError('image %s is not registered on hypervisor %s' % (image, hypervisor.name),
                            hypervisor=hypervisor.name)
    pool = images_pool(conn, hypervisor)
    vol = _volume(pool, entry['base_volume'], hypervisor.name)
    if vol is None:
        raise KvmcloudError('the base volume %s of image %s is missing on hypervisor %s; register the '
                            'image again to restore it' % (entry['base_volume'], entry['name'], hypervisor.name),
                            hypervisor=hypervisor.name)
    return call('path', entry['base_volume'], vol.path, hypervisor=hypervisor.name)


def write_entry(conn, pool, entry, hvname):
    """Write (or replace) a catalog entry."""
    write_json(conn, pool, catalog_volume_name(entry['name']), {key: entry.get(key) for key in CATALOG_FIELDS},
               hypervisor=hvname)


def remove_volume(pool, name, hvname):
    """Delete a volume of the images pool: True when deleted, False when it was gone."""
    vol = _volume(pool, name, hvname)
    if vol is None:
        return False
    return delete(vol.delete, 0, what='%s/%s' % (pool.name(), name), hypervisor=hvname)
