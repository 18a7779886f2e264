# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cold migration of a stopped server to another hypervisor, through libvirt only.

The root
disk is a qcow2 overlay whose header names its backing file by path; the base volume is
content-addressed (``sha256-<hex>.<format>``), so the target holds the same bytes under the
same name, possibly in a pool at another path. The overlay's bytes are streamed from the source
(``virStorageVolDownload``) to the target (``virStorageVolUpload``) unchanged except the backing
file name in the first cluster, which is rewritten to the target's path of that base volume:
what ``qemu-img rebase -u`` does, safe because the base content is identical. Only the
overlay's own clusters travel; the base is never copied.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import struct

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import domain_xml, metadata_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.power import shut_down
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import root_volume_name, seed_volume_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_DOMAIN_XML_INACTIVE, VIR_STORAGE_VOL_GET_PHYSICAL)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import stop_and_undefine
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo, best_effort
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import base_volume_path, find_image
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import filter_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.records import network_records
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage import streams
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool

QCOW2_MAGIC = b'QFI\xfb'
# qcow2 limits a backing file name to this many bytes.
BACKING_NAME_MAX = 1023
# The part of an overlay read to rewrite its header: qemu writes the header, its extensions and
# the backing file name at the start of the first cluster, well within this.
HEAD_BYTES = 64 * 1024


def rebase_header(head, old_backing, new_backing):
    """The start of a qcow2 file (``head``) with its backing file name changed from
    ``old_backing`` to ``new_backing``, as ``qemu-img rebase -u`` writes it.

    The name stays where it is, at the end of the header in the first cluster; a longer name
    must fit there in bytes that are free (zero). Anything unexpected is refused.
    """
    if head[:4] != QCOW2_MAGIC or len(head) < 24:
        raise KvmcloudError('not a qcow2 file: the header does not start with the qcow2 magic')
    offset, length, cluster_bits = struct.unpack('>QII', head[8:24])
    if offset == 0:
        raise KvmcloudError('the qcow2 file has no backing file')
    current = head[offset:offset + length].decode('utf-8', 'replace')
    if current != old_backing:
        raise KvmcloudError('the qcow2 backing file is %s, not %s as libvirt reports' % (current, old_backing))
    new = new_backing.encode('utf-8')
    if len(new) > BACKING_NAME_MAX:
        raise KvmcloudError('the backing file name %s is longer than qcow2 allows (%d bytes)'
                            % (new_backing, BACKING_NAME_MAX))
    span = max(length, len(new))
    if offset + len(new) > (1 << cluster_bits) or offset + span > len(head):
        raise KvmcloudError('the backing file name %s does not fit in the first qcow2 cluster' % new_backing)
    if any(head[offset + length:offset + span]):
        raise KvmcloudError('the bytes after the qcow2 backing file name are in use, so %s does not fit'
                            % new_backing)
    out = bytearray(head)
    out[offset:offset + span] = new.ljust(span, b'\0')
    out[16:20] = struct.pack('>I', len(new))
    return bytes(out)


def backing_of(vol):
    return xmlutil.text(xmlutil.parse(vol.XMLDesc(0)), 'backingStore/path')


class Migration:
    """A stopped server copied from hypervisor ``source`` to hypervisor ``target`` (handles)
    and removed from its source."""

    def __init__(self, server, source, target, virt_type):
        self.server = server
        self.name = server['name']
        self.source = source
        self.target = target
        self.virt_type = virt_type
        self.spool = volumes_pool(source)
        self.tpool = volumes_pool(target)
        self.root = None
        self.seed = None
        self.metadata = None
        self.backing = None  # (source path, target path) of the root overlay's base volume

    def _refuse(self, why):
        raise ValidationError('server %s cannot migrate to hypervisor %s: %s' % (self.name, self.target.name, why))

    def check(self):
        """Everything that could refuse the migration, before anything changes."""
        extra = [d['target'] for d in self.server.get('disks') or [] if d['target'] not in ('vda', 'hdc')]
        if self.server.get('volumes') or extra:
            self._refuse('data volumes are attached (%s); detach them first (kvmcloud.cloud.server_volume), '
                         'migrating volumes is not supported' % ', '.join(self.server.get('volumes') or extra))
        if self.target.domain(self.name) is not None or self.target.domain_by_uuid(self.server['uuid']) is not None:
            self._refuse('a domain of that name or UUID is already there')
        for name in (root_volume_name(self.name), seed_volume_name(self.name)):
            if self.tpool.lookup('storageVolLookupByName', name) is not None:
                self._refuse('volume %s is already in its pool %s; remove it first' % (name, self.tpool.name()))
        self.root = self._source_volume(root_volume_name(self.name))
        self.seed = self._source_volume(seed_volume_name(self.name))
        sdom = self.source.about(self.name).lookupByName(self.name)
        self.metadata = metadata_of(xmlutil.parse(sdom.XMLDesc(VIR_DOMAIN_XML_INACTIVE)))
        self._check_image()
        self._check_ports()

    def _source_volume(self, name):
        vol = self.spool.lookup('storageVolLookupByName', name)
        if vol is None:
            raise ValidationError('server %s: its volume %s is missing on hypervisor %s'
                                  % (self.name, name, self.source.name))
        return vol

    def _check_image(self):
        image = self.server.get('image')
        old = backing_of(self.root)
        if old is None:
            return  # a standalone root disk travels as it is
        base = posixpath.basename(old)
        entry = find_image(self.target, image)
        if entry is None:
            self._refuse('image %s is not registered there; register it first (kvmcloud.cloud.image)' % image)
        if entry['base_volume'] != base:
            self._refuse('image %s there is %s, but the server\'s disk is an overlay on %s; register the same '
                         'content there' % (image, entry['base_volume'], base))
        self.backing = (old, base_volume_path(self.target, entry))
        head = streams.read_volume(self.source, self.root, max_bytes=HEAD_BYTES)
        try:
            rebase_header(head, *self.backing)
        except KvmcloudError as err:
            self._refuse('its root disk cannot be rebased: %s' % err.msg)

    def _check_ports(self):
        for port in self.server.get('ports') or []:
            net = self.target.network(port['network'])
            if net is None:
                self._refuse('network %s of port %s is not there; add the hypervisor to the network first '
                             '(kvmcloud.cloud.network)' % (port['network'], port['name']))
            record = network_records(net).get(port['name'])
            if record is None:
                self._refuse('port %s is not on its network %s there; put it there first (kvmcloud.cloud.port)'
                             % (port['name'], port['network']))
            name = filter_name(record)
            if name and self.target.nwfilter(name) is None:
                self._refuse('the filter of port %s is missing there; reconcile the port first (kvmcloud.cloud.port)'
                             % port['name'])

    def run(self, force, timeout):
        """Stop, copy, define and start on the target, then remove from the source. A failure on
        the target is undone there and the source restarted as it was. Returns the steps taken."""
        was = self.server['power_state']
        tname, sname = self.target.name, self.source.name
        sdom = self.source.about(self.name).lookupByName(self.name)
        steps = []
        if was == 'paused':
            sdom.resume()
            steps.append('resume')
        if was != 'stopped':
            steps.extend(shut_down(sdom, timeout, force))
        # A failure on the target is undone there, and the source started again as it was.
        with Undo('the migration of server %s' % self.name) as undo:
            if was != 'stopped':
                undo.add('start it again on %s' % sname, sdom.create)
            root = self._copy(self.root, 'qcow2', self.backing)
            undo.add('delete its root disk on %s' % tname, root.delete, 0)
            steps.append('copy root disk to %s' % tname)
            seed = self._copy(self.seed, 'raw', None)
            undo.add('delete its seed on %s' % tname, seed.delete, 0)
            steps.append('copy seed to %s' % tname)
            dom = self.target.about(self.name).defineXML(self._domain_xml(root, seed))
            undo.add('remove its domain on %s' % tname, stop_and_undefine, dom)
            steps.append('define on %s' % tname)
            if was != 'stopped':
                dom.create()
                steps.append('start on %s' % tname)
            if was == 'paused':
                dom.suspend()
                steps.append('suspend on %s' % tname)
        try:
            sdom.undefine()
            for vol in (self.root, self.seed):
                vol.delete(0)
        except KvmcloudError as err:
            raise KvmcloudError('server %s is now on hypervisor %s, but removing it from hypervisor %s failed: %s; '
                                'remove its domain and volumes %s, %s there' % (
                                    self.name, tname, sname, err.msg, self.root.name(), self.seed.name()),
                                changed=True, **err.details)
        steps.append('remove from %s' % sname)
        return steps

    def _copy(self, vol, fmt, backing):
        """Stream a volume's bytes from the source into a new volume of the target's pool."""
        size = vol.infoFlags(VIR_STORAGE_VOL_GET_PHYSICAL)[2]
        stream = self.source.stream(vol.name(), 'download')
        try:
            vol.download(stream, 0, size, 0)
            copied = streams.upload_file(self.target, self.tpool, vol.name(), _Reader(stream, backing), size, fmt)
        except BaseException:
            best_effort(stream.abort)
            raise
        with Undo() as undo:
            undo.add('delete the copy', copied.delete, 0)
            stream.finish()
            if backing is not None and backing_of(copied) != backing[1]:
                raise KvmcloudError('the copied root disk of server %s on hypervisor %s is not backed by %s'
                                    % (self.name, self.target.name, backing[1]))
        return copied

    def _domain_xml(self, root, seed):
        spec = {'name': self.name, 'flavor': {'vcpus': self.server['vcpus'], 'ram': self.server['ram']}}
        interfaces = [dict(i) for i in self.server.get('interfaces') or []]
        return domain_xml(spec, self.server['uuid'], self.virt_type, root.path(), seed.path(), interfaces,
                          self.metadata)


class _Reader:
    """A file-like reader of a libvirt download stream for ``streams.upload_file``, with the
    qcow2 backing file name rewritten in the first bytes when ``backing`` is given."""

    def __init__(self, stream, backing):
        self.stream = stream
        self.backing = backing
        self.head = None

    def _recv(self, size):
        data = self.stream.recv(size)
        return data if isinstance(data, bytes) else b''

    def read(self, size):
        if self.head is None:
            chunks, got = [], 0
            while got < HEAD_BYTES:
                data = self._recv(HEAD_BYTES - got)
                if not data:
                    break
                chunks.append(data)
                got += len(data)
            head = b''.join(chunks)
            self.head = rebase_header(head, *self.backing) if self.backing else head
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self._recv(size)
