# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names the collection gives the volumes it keeps in pools, in one place below the
services that write them, so that the storage layer knows them too (``storage_pool`` refuses
to delete a pool that holds them):

- data volumes ``volume-<name>.<format>`` and their records ``volume-<name>.json`` (volume/);
- image catalog entries ``image-<name>.json`` and content-addressed base volumes
  ``sha256-<hex>.<format>`` (image/);
- the hypervisor record ``kvmcloud-hypervisor.json`` and any other ``kvmcloud-*`` record;
- servers' root disks and seeds ``server-<name>-...`` (compute/spec.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

VOLUME_PREFIX = 'volume-'
VOLUME_RECORD_SUFFIX = '.json'
CATALOG_PREFIX = 'image-'
CATALOG_SUFFIX = '.json'
BASE_VOLUME = re.compile(r'^sha256-[0-9a-f]{64}\.[a-z0-9]+$')
RECORD_PREFIX = 'kvmcloud-'
HYPERVISOR_RECORD = RECORD_PREFIX + 'hypervisor.json'
SERVER_PREFIX = 'server-'


def kind_of(volume_name):
    """What a volume of that name is to the collection, for messages, or None when the
    collection does not know it."""
    if volume_name.startswith(VOLUME_PREFIX):
        return 'record of a volume' if volume_name.endswith(VOLUME_RECORD_SUFFIX) else 'data volume'
    if volume_name.startswith(CATALOG_PREFIX) and volume_name.endswith(CATALOG_SUFFIX):
        return 'image catalog entry'
    if BASE_VOLUME.match(volume_name):
        return 'image base volume'
    if volume_name == HYPERVISOR_RECORD:
        return 'hypervisor record'
    if volume_name.startswith(RECORD_PREFIX):
        return 'kvmcloud record'
    if volume_name.startswith(SERVER_PREFIX):
        return 'server disk'
    return None
