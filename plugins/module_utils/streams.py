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

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError, call, lookup

# Files are sent in chunks of this size.
UPLOAD_CHUNK = 1024 * 1024
# read_volume reads at most this much unless told otherwise.
DEFAULT_MAX_BYTES = 64 * 1024
# How long upload_file waits for libvirt to recognise the format of the uploaded content.
FORMAT_PROBE_TIMEOUT = 30.0


def read_volume(conn, vol, hypervisor=None, max_bytes=DEFAULT_MAX_BYTES):
    """The content of a storage volume (at most ``max_bytes``), downloaded through a libvirt stream."""
    name = vol.name()
    stream = call('newStream', name, conn.newStream, 0, hypervisor=hypervisor)
    chunks = []
    try:
        call('download', name, vol.download, stream, 0, max_bytes, 0, hypervisor=hypervisor)
        call('download', name, stream.recvAll, lambda _s, data, _o: chunks.append(data), None, hypervisor=hypervisor)
        call('download', name, stream.finish, hypervisor=hypervisor)
    except Exception:
        _quietly(stream.abort)  # recvAll already aborts on failure
        raise
    return b''.join(chunks)


def read_json(conn, vol, hypervisor=None, max_bytes=DEFAULT_MAX_BYTES):
    """The JSON object a small volume holds (a dict), or None when it holds anything else."""
    try:
        value = json.loads(read_volume(conn, vol, hypervisor=hypervisor, max_bytes=max_bytes).decode('utf-8'))
    except ValueError:  # not UTF-8, or not JSON
        return None
    return value if isinstance(value, dict) else None


def write_json(conn, pool, name, value, hypervisor=None):
    """Create (or replace) the volume ``name`` holding ``value`` as JSON."""
    data = json.dumps(value, sort_keys=True, indent=2).encode('utf-8') + b'\n'
    return write_volume(conn, pool, name, data, hypervisor=hypervisor)


def write_volume(conn, pool, name, data, hypervisor=None):
    """Create (or replace) a raw volume named ``name`` holding ``data``, through libvirt only."""
    old = lookup(pool.storageVolLookupByName, name, what='%s/%s' % (pool.name(), name), hypervisor=hypervisor)
    if old is not None:
        call('delete', name, old.delete, 0, hypervisor=hypervisor)
    return upload_file(conn, pool, name, io.BytesIO(data), len(data), 'raw', hypervisor=hypervisor)


def upload_file(conn, pool, name, fileobj, size, fmt, hypervisor=None):
    """Create the volume ``name`` in ``pool`` with the ``size`` bytes read from ``fileobj``.

    The volume is created raw and exactly ``size`` bytes long, so it holds the uploaded bytes
    and nothing else (creating it as qcow2 would write a fresh qcow2 file whose tail survives
    a shorter upload); libvirt then recognises ``fmt`` from the content, which is checked. On
    any failure the stream is aborted and the half-written volume deleted.
    """
    spec = xmlutil.element('volume', type='file')
    xmlutil.sub(spec, 'name', name)
    xmlutil.sub(spec, 'capacity', size, unit='bytes')
    xmlutil.sub(xmlutil.sub(spec, 'target'), 'format', type='raw')
    vol = call('create volume', name, pool.createXML, xmlutil.tostring(spec), 0, hypervisor=hypervisor)
    stream = None
    try:
        stream = call('newStream', name, conn.newStream, 0, hypervisor=hypervisor)
        call('upload', name, vol.upload, stream, 0, size, 0, hypervisor=hypervisor)
        sent = [0]

        def next_chunk(_stream, _nbytes, _opaque):
            data = fileobj.read(min(UPLOAD_CHUNK, size - sent[0]))
            sent[0] += len(data)
            return data

        call('upload', name, stream.sendAll, next_chunk, None, hypervisor=hypervisor)
        if sent[0] != size:
            raise KvmcloudError('uploading %s%s failed: the source ended after %d of %d bytes'
                                % (name, _on(hypervisor), sent[0], size), hypervisor=hypervisor)
        call('upload', name, stream.finish, hypervisor=hypervisor)
        if fmt != 'raw':
            _wait_for_format(pool, name, fmt, hypervisor)
    except BaseException:
        # Nothing half-written is left behind.
        if stream is not None:
            _quietly(stream.abort)
        _quietly(vol.delete, 0)
        raise
    return vol


def volume_format(vol):
    """The format libvirt reports for a volume ('raw', 'qcow2', ...), or None."""
    desc = xmlutil.parse(call('XMLDesc', vol.name(), vol.XMLDesc, 0))
    return xmlutil.attr(desc, 'target/format', 'type')


def _wait_for_format(pool, name, fmt, hypervisor):
    # libvirt probes the uploaded content in a pool refresh that runs right after the stream
    # closes, in the background.
    deadline = time.monotonic() + FORMAT_PROBE_TIMEOUT
    seen = None
    while True:
        vol = lookup(pool.storageVolLookupByName, name, what=name, hypervisor=hypervisor)
        seen = volume_format(vol) if vol is not None else None
        if seen == fmt or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if seen != fmt:
        raise KvmcloudError('uploaded %s%s, but libvirt sees it as %s, not %s'
                            % (name, _on(hypervisor), seen or 'missing', fmt),
                            hypervisor=hypervisor)


def _on(hypervisor):
    return ' on hypervisor %s' % hypervisor if hypervisor else ''


def _quietly(func, *args):
    """Best-effort clean-up that must not hide the error being handled."""
    try:
        func(*args)
    except Exception:  # pylint: disable=broad-except
        pass
