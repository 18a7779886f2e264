# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own records on a hypervisor: small JSON documents (a kind, a name, a
body) kept as volumes of its images pool, written and read through libvirt only, so every
controller sees the same ones. Runs' locks are records (:mod:`.locks`); so will be a
hypervisor's maintenance and an evacuation's progress.

A volume upload is not atomic, so a record is never rewritten in place. Each write makes a
new *generation*, the volume ``kvmcloud-<kind>.<name>.<seq>.json``, then removes the older
ones:

- the generation is created with ``createXML`` under a name derived from the generation it
  replaces (``seq`` + 1, or 1 for a new record). libvirt refuses to create a volume whose name
  exists, atomically, so of two writers that read the same generation only one gets to write
  the next (:class:`RecordConflict` for the other): a write is a compare-and-swap, and creating
  a record is an atomic "take";
- the volume is exactly as long as the document, so until its upload has finished it holds a
  document cut short or zeros: a *torn* generation, which readers ignore;
- the record is the newest complete generation. After writing, a writer checks that no newer
  generation appeared meanwhile (a record removed and created again by someone else while this
  writer looked); if one did, it takes its own back and loses.

Each generation carries the hypervisor's own time of its last write (the volume's mtime, which
libvirt reports for files), and :func:`hypervisor_now` reads the hypervisor's clock the same
way, so the age of a record never depends on the controller's clock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import best_effort
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.volume_io import raw_volume_xml, read_volume, send

PREFIX = 'kvmcloud-'
SUFFIX = '.json'
_WORD = r'[a-z][a-z0-9-]{0,30}'
_NAME = r'[A-Za-z0-9][A-Za-z0-9_-]{0,62}'
_VOLUME = re.compile(r'^kvmcloud-(%s)\.(%s)\.([1-9][0-9]{0,17})\.json$' % (_WORD, _NAME))
# A record is small; a larger volume of that name is not one.
MAX_BYTES = 64 * 1024
# The kind of the volumes that read the hypervisor's clock.
CLOCK_KIND = 'clock'


class RecordConflict(KvmcloudError):
    """Another writer wrote the generation this one meant to write (or a newer one)."""


@dataclass
class Generation:
    """One generation of a record: ``body`` is None when it is torn (not completely written)."""

    seq: int
    volume: str
    body: Optional[Dict[str, Any]]
    mtime: Optional[float]      # the hypervisor's time of its last write; None where libvirt gives none
    vol: Any = None

    @property
    def complete(self):
        return self.body is not None


@dataclass
class State:
    """Every generation of one record, oldest first."""

    generations: List[Generation]

    @property
    def current(self):
        """The record: its newest complete generation, or None."""
        complete = [g for g in self.generations if g.complete]
        return complete[-1] if complete else None

    @property
    def newest(self):
        """The newest generation, complete or torn, or None."""
        return self.generations[-1] if self.generations else None

    @property
    def torn(self):
        """Generations newer than the record that are not completely written."""
        current = self.current
        return [g for g in self.generations if not g.complete and (current is None or g.seq > current.seq)]


def check_word(what, value, pattern):
    if not isinstance(value, str) or not re.match('^%s$' % pattern, value):
        raise KvmcloudError('invalid record %s %r' % (what, value))
    return value


def volume_name(kind, name, seq):
    return '%s%s.%s.%d%s' % (PREFIX, kind, name, seq, SUFFIX)


def parse_volume_name(volume):
    """``(kind, name, seq)`` of a record's volume name, or None for any other volume."""
    match = _VOLUME.match(volume)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


def find_record_pool(h):
    """The pool records live in, the hypervisor's images pool; None when it is missing or
    inactive."""
    pool = h.pool(h.hv.images_pool)
    return pool if pool is not None and pool.isActive() else None


def record_pool(h):
    """The pool records live in: the hypervisor's images pool, which must exist and run."""
    pool = find_record_pool(h)
    if pool is None:
        raise KvmcloudError('the images pool %s is missing or inactive on hypervisor %s; create it first '
                            '(the kvmcloud.cloud.hypervisor role does)' % (h.hv.images_pool, h.name),
                            hypervisor=h.name)
    return pool


def volume_mtime(vol):
    """The hypervisor's time of the last write of a volume (seconds since the epoch), or None
    where libvirt reports no timestamps."""
    value = xmlutil.text(xmlutil.parse(vol.XMLDesc(0)), 'target/timestamps/mtime')
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def encode(kind, name, seq, body):
    return json.dumps({'kind': kind, 'name': name, 'seq': seq, 'written_at': now(), 'body': body},
                      sort_keys=True).encode('utf-8') + b'\n'


def decode(kind, name, seq, data):
    """The body of a generation's content, or None when it is torn or not a record of that
    kind, name and generation."""
    try:
        value = json.loads(data.decode('utf-8'))
    except ValueError:  # cut short, zeros, not UTF-8
        return None
    if not isinstance(value, dict) or (value.get('kind'), value.get('name'), value.get('seq')) != (kind, name, seq):
        return None
    body = value.get('body')
    return body if isinstance(body, dict) else None


class Record:
    """The record ``kind``/``name`` on hypervisor ``h``."""

    def __init__(self, h, kind, name):
        self.h = h
        self.kind = check_word('kind', kind, _WORD)
        self.name = check_word('name', name, _NAME)
        self._pool = None

    @property
    def pool(self):
        if self._pool is None:
            self._pool = record_pool(self.h)
        return self._pool

    def _volumes(self):
        """``{seq: volume}`` of this record's generations."""
        found = {}
        for vol in self.pool.listAllVolumes(0):
            parsed = parse_volume_name(vol.name())
            if parsed is not None and parsed[:2] == (self.kind, self.name):
                found[parsed[2]] = vol
        return found

    def _read(self, seq, vol):
        try:
            data = read_volume(self.h, vol, max_bytes=MAX_BYTES)
            mtime = volume_mtime(vol)
        except LibvirtCallError:
            if self.pool.lookup('storageVolLookupByName', vol.label) is None:
                return None  # removed while being read: superseded
            raise
        return Generation(seq, vol.label, decode(self.kind, self.name, seq, data), mtime, vol)

    def read(self):
        """The :class:`State` of the record: every generation, read."""
        generations = []
        for seq, vol in sorted(self._volumes().items()):
            generation = self._read(seq, vol)
            if generation is not None:
                generations.append(generation)
        return State(generations)

    def write(self, body, after=0):
        """Write ``body`` as the generation after ``after`` (the seq of the generation read, 0
        for a record that does not exist yet), then remove the older generations. Raises
        :class:`RecordConflict` when another writer got there first; nothing of this write is
        left then."""
        seq = after + 1
        name = volume_name(self.kind, self.name, seq)
        data = encode(self.kind, self.name, seq, body)
        try:
            vol = self.pool.about(name).createXML(raw_volume_xml(name, len(data)), 0)
        except LibvirtCallError:
            if self.pool.lookup('storageVolLookupByName', name) is not None:
                raise RecordConflict('record %s.%s on hypervisor %s: generation %d exists already'
                                     % (self.kind, self.name, self.h.name, seq), hypervisor=self.h.name)
            raise
        try:
            send(self.h, vol, io.BytesIO(data), len(data))
        except LibvirtCallError:
            if self.pool.lookup('storageVolLookupByName', name) is None:
                raise RecordConflict('record %s.%s on hypervisor %s: generation %d was removed while being '
                                     'written' % (self.kind, self.name, self.h.name, seq), hypervisor=self.h.name)
            best_effort(vol.delete, 0)
            raise
        except BaseException:
            best_effort(vol.delete, 0)
            raise
        volumes = self._volumes()
        if seq not in volumes or any(other > seq for other in volumes):
            best_effort(vol.discard, 'delete', 0)
            raise RecordConflict('record %s.%s on hypervisor %s: a newer generation was written meanwhile'
                                 % (self.kind, self.name, self.h.name), hypervisor=self.h.name)
        for other in sorted(volumes):
            if other < seq:
                volumes[other].discard('delete', 0)
        return Generation(seq, name, body, None, vol)

    def remove(self, generation):
        """Remove one generation: True when removed, False when it was gone."""
        vol = generation.vol or self.pool.lookup('storageVolLookupByName', generation.volume)
        return vol.discard('delete', 0) if vol is not None else False


def hypervisor_now(h, token):
    """The hypervisor's clock (seconds since the epoch), read as the mtime of a volume made for
    that and removed again; None where libvirt reports no timestamps. ``token`` makes its name
    unique to the caller."""
    pool = record_pool(h)
    name = volume_name(CLOCK_KIND, check_word('token', token, _NAME), 1)
    vol = pool.about(name).createXML(raw_volume_xml(name, 0), 0)
    try:
        return volume_mtime(vol)
    finally:
        best_effort(vol.discard, 'delete', 0)
