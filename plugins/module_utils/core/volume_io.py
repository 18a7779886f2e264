# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes in and out of a storage volume through libvirt streams: the one way the collection
moves content to or from a hypervisor, so remote hypervisors work like the local one.

It is in the core because the core's own records (:mod:`.records`) are small volumes;
:mod:`...storage.streams` builds uploads of files and JSON volumes on it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import best_effort

# Content is sent in chunks of this size.
UPLOAD_CHUNK = 1024 * 1024
# read_volume reads at most this much unless told otherwise.
DEFAULT_MAX_BYTES = 64 * 1024


def raw_volume_xml(name, size):
    """The definition of a raw volume exactly ``size`` bytes long: after an upload of ``size``
    bytes it holds those and nothing else (until then, zeros)."""
    spec = xmlutil.element('volume', type='file')
    xmlutil.sub(spec, 'name', name)
    xmlutil.sub(spec, 'capacity', size, unit='bytes')
    xmlutil.sub(xmlutil.sub(spec, 'target'), 'format', type='raw')
    return xmlutil.tostring(spec)


def read_volume(h, vol, max_bytes=DEFAULT_MAX_BYTES):
    """The content of a storage volume of hypervisor ``h`` (at most ``max_bytes``), downloaded
    through a libvirt stream."""
    stream = h.stream(vol.label, 'download')
    chunks = []
    try:
        vol.download(stream, 0, max_bytes, 0)
        stream.recvAll(lambda _s, data, _o: chunks.append(data), None)
        stream.finish()
    except Exception:
        best_effort(stream.abort)  # recvAll already aborts on failure
        raise
    return b''.join(chunks)


def send(h, vol, fileobj, size):
    """Upload the ``size`` bytes read from ``fileobj`` into the volume ``vol`` of hypervisor
    ``h``, from its start. On failure the stream is aborted (the caller deals with the volume)."""
    stream = None
    try:
        stream = h.stream(vol.label, 'upload')
        vol.upload(stream, 0, size, 0)
        sent = [0]

        def next_chunk(_stream, _nbytes, _opaque):
            data = fileobj.read(min(UPLOAD_CHUNK, size - sent[0]))
            sent[0] += len(data)
            return data

        stream.sendAll(next_chunk, None)
        if sent[0] != size:
            raise KvmcloudError('uploading %s on hypervisor %s failed: the source ended after %d of %d bytes'
                                % (vol.label, h.name, sent[0], size), hypervisor=h.name)
        stream.finish()
    except BaseException:
        if stream is not None:
            best_effort(stream.abort)
        raise
