# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volume content through libvirt streams: the only way the collection writes or
reads files on a hypervisor, so remote hypervisors work like the local one.

A volume that fails to upload is deleted again: nothing half-written is left behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import time

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import best_effort
# Moved down into the core, whose records are small volumes too; used here and by callers of this module.
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.volume_io import (  # noqa: F401
    DEFAULT_MAX_BYTES, raw_volume_xml, read_volume, send)

# How long upload_file waits for libvirt to recognise the format of the uploaded content.
FORMAT_PROBE_TIMEOUT = 30.0


def read_json(h, vol, max_bytes=DEFAULT_MAX_BYTES):
    """The JSON object a small volume holds (a dict), or None when it holds anything else."""
    try:
        value = json.loads(read_volume(h, vol, max_bytes=max_bytes).decode('utf-8'))
    except ValueError:  # not UTF-8, or not JSON
        return None
    return value if isinstance(value, dict) else None


def write_json(h, pool, name, value):
    """Create (or replace) the volume ``name`` of ``pool`` holding ``value`` as JSON."""
    data = json.dumps(value, sort_keys=True, indent=2).encode('utf-8') + b'\n'
    return write_volume(h, pool, name, data)


def write_volume(h, pool, name, data):
    """Create (or replace) a raw volume named ``name`` holding ``data``, through libvirt only."""
    old = pool.lookup('storageVolLookupByName', name, what='%s/%s' % (pool.label, name))
    if old is not None:
        old.delete(0)
    return upload_file(h, pool, name, io.BytesIO(data), len(data), 'raw')


def upload_file(h, pool, name, fileobj, size, fmt):
    """Create the volume ``name`` in ``pool`` with the ``size`` bytes read from ``fileobj``.

    The volume is created raw and exactly ``size`` bytes long, so it holds the uploaded bytes
    and nothing else (creating it as qcow2 would write a fresh qcow2 file whose tail survives
    a shorter upload); libvirt then recognises ``fmt`` from the content, which is checked. On
    any failure the stream is aborted and the half-written volume deleted.
    """
    vol = pool.about(name).createXML(raw_volume_xml(name, size), 0)
    try:
        send(h, vol, fileobj, size)
        if fmt != 'raw':
            _wait_for_format(h, pool, name, fmt)
    except BaseException:
        # Nothing half-written is left behind.
        best_effort(vol.delete, 0)
        raise
    return vol


def volume_format(vol):
    """The format libvirt reports for a volume ('raw', 'qcow2', ...), or None."""
    return xmlutil.attr(xmlutil.parse(vol.XMLDesc(0)), 'target/format', 'type')


def _wait_for_format(h, pool, name, fmt):
    # libvirt probes the uploaded content in a pool refresh that runs right after the stream
    # closes, in the background.
    deadline = time.monotonic() + FORMAT_PROBE_TIMEOUT
    seen = None
    while True:
        vol = pool.lookup('storageVolLookupByName', name)
        seen = volume_format(vol) if vol is not None else None
        if seen == fmt or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if seen != fmt:
        raise KvmcloudError('uploaded %s on hypervisor %s, but libvirt sees it as %s, not %s'
                            % (name, h.name, seen or 'missing', fmt), hypervisor=h.name)
