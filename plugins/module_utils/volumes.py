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

from ansible_collections.kvmcloud.cloud.plugins.module_utils import images as imagemod
from ansible_collections.kvmcloud.cloud.plugins.module_utils import streams, usage, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, ValidationError, call, lookup)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.pools import active_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import LIVE, Resource

try:
    import libvirt
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None

PREFIX = 'volume-'
RECORD_SUFFIX = '.json'
FORMATS = ('qcow2', 'raw')
NAME_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
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
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError('invalid volume name %r: use 1 to 63 letters, digits, dots, dashes and '
                              'underscores, starting with a letter or digit' % (name,))
    return name


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


def volumes_pool(conn, hypervisor):
    """The hypervisor's volumes pool; it must exist and run."""
    return active_pool(conn, hypervisor.name, hypervisor.volumes_pool, 'volumes')


def attachments(conn, path, hypervisor):
    """``[{'server', 'device', 'running'}]`` for every domain whose disk is the volume."""
    found = []
    for dom in call('listAllDomains', 'domains', conn.listAllDomains, 0, hypervisor=hypervisor):
        descs = [call('XMLDesc', dom.name(), dom.XMLDesc, 0, hypervisor=hypervisor)]
        if dom.isActive() and dom.isPersistent():
            descs.append(call('XMLDesc', dom.name(), dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE,
                              hypervisor=hypervisor))
        devices = sorted({dev for desc in descs for dev in usage.domain_users(desc, path)})
        for device in devices:
            found.append({'server': dom.name(), 'device': device, 'running': bool(dom.isActive())})
    return sorted(found, key=lambda a: (a['server'], a['device']))


class Found:
    """A data volume as found in a pool: the libvirt volume and its record."""

    def __init__(self, conn, hypervisor, pool, vol, record):
        self.conn = conn
        self.hypervisor = hypervisor
        self.pool = pool
        self.vol = vol
        self.record = record or {}

    @property
    def path(self):
        return self.vol.path()

    def facts(self):
        desc = xmlutil.parse(call('XMLDesc', self.vol.name(), self.vol.XMLDesc, 0, hypervisor=self.hypervisor.name))
        capacity = int(xmlutil.text(desc, 'capacity', '0'))
        return {
            'name': volume_name_of(self.vol.name()),
            'hypervisor': self.hypervisor.name,
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
            'attachments': attachments(self.conn, self.path, self.hypervisor.name),
        }


def _read_record(conn, pool, name, hvname):
    vol = lookup(pool.storageVolLookupByName, record_name(name), what=record_name(name), hypervisor=hvname)
    if vol is None:
        return None
    return streams.read_json(conn, vol, hypervisor=hvname)


def find_on(conn, hypervisor, name):
    """The volume on one hypervisor, or None."""
    pool = volumes_pool(conn, hypervisor)
    for fmt in FORMATS:
        vol = lookup(pool.storageVolLookupByName, data_name(name, fmt), what=data_name(name, fmt),
                     hypervisor=hypervisor.name)
        if vol is not None:
            return Found(conn, hypervisor, pool, vol, _read_record(conn, pool, name, hypervisor.name))
    return None


def list_on(conn, hypervisor):
    """Every data volume on one hypervisor."""
    pool = volumes_pool(conn, hypervisor)
    found = []
    for vol in call('listAllVolumes', pool.name(), pool.listAllVolumes, 0, hypervisor=hypervisor.name):
        name = volume_name_of(vol.name())
        if name is not None:
            found.append(Found(conn, hypervisor, pool, vol, _read_record(conn, pool, name, hypervisor.name)))
    return found


def usage_on(conn, hypervisor):
    """What quotas count of each data volume of a hypervisor: ``[{project, size}]`` (bytes)."""
    return [{'project': found.record.get('project'),
             'size': call('info', found.vol.name(), found.vol.info, hypervisor=hypervisor.name)[1]}
            for found in list_on(conn, hypervisor)]


def locate(cm, name):
    """Find the volume on the cloud's hypervisors: ``(found or None, unreachable names)``.

    A name on more than one hypervisor is an error: names are unique across the cloud.
    """
    hits, unreachable = [], []
    for hv, found, err in cm.connections.map(lambda hv, conn: find_on(conn, hv, name), cm.cloud.hypervisors):
        if err is not None:
            unreachable.append('%s (%s)' % (hv.name, err.msg))
        elif found is not None:
            hits.append(found)
    if len(hits) > 1:
        raise KvmcloudError('volume %s exists on several hypervisors: %s' % (name, ', '.join(f.hypervisor.name for f in hits)))
    return (hits[0] if hits else None), unreachable


def target_hypervisor(cm, wanted):
    """Where a new volume goes: the one asked for, or the only enabled hypervisor."""
    if wanted:
        return cm.cloud.hypervisor(wanted)
    enabled = cm.cloud.select_hypervisors(enabled_only=True)
    if len(enabled) != 1:
        raise ValidationError('hypervisor is required to create a volume when the cloud has %d enabled hypervisors'
                              % len(enabled))
    return enabled[0]


class Volume(Resource):
    """One data volume; ``found`` is where it is (or None) and ``hypervisor`` where it would go."""

    modes = dict(size=LIVE, project=LIVE, format=LIVE, image=LIVE, clone=LIVE)

    def __init__(self, cm, params, found, hypervisor):
        self.cm = cm
        self.params = params
        self.name = params['name']
        self.found = found
        self.hypervisor = found.hypervisor if found else hypervisor

    def find(self):
        if self.hypervisor is None:
            return None
        return find_on(self.cm.connections.get(self.hypervisor.name), self.hypervisor, self.name)

    def normalise(self, raw):
        facts = raw.facts()
        return {key: facts[key] for key in ('size', 'format', 'project', 'image', 'clone')}

    def desired(self):
        p = self.params
        return {
            'size': parse_size(p['size']),
            'format': p['format'],
            'project': p['project'],
            'image': p['image'],
            'clone': p['clone'] if p['image'] else None,
        }

    def describe(self, raw):
        return raw.facts()

    def check(self, the_plan):
        if the_plan.action == 'create':
            if not the_plan.after.get('size') and not self.params['image']:
                raise ValidationError('size or image is required to create volume %s' % self.name)
            return
        if the_plan.action == 'delete':
            users = attachments(self.cm.connections.get(self.hypervisor.name), self.found.path, self.hypervisor.name)
            if users:
                raise ValidationError('volume %s is attached to %s; detach it first (kvmcloud.cloud.server_volume)'
                                      % (self.name, ', '.join('%(server)s as %(device)s' % u for u in users)))
            return
        for change in the_plan.changes:
            if change.field == 'size' and change.after < change.before:
                raise ValidationError('volume %s is %s bytes; shrinking it to %s bytes would lose data and is '
                                      'not supported' % (self.name, change.before, change.after))
            if change.field in ('format', 'image', 'clone'):
                raise ValidationError('volume %s has %s %r; it cannot change to %r (create a new volume)'
                                      % (self.name, change.field, change.before, change.after))

    def create(self, desired):
        conn = self.cm.connections.get(self.hypervisor.name)
        pool = volumes_pool(conn, self.hypervisor)
        hvname = self.hypervisor.name
        base = None
        if desired.get('image'):
            base = self._base(conn, desired['image'])
        fmt = desired['format'] or 'qcow2'
        size = desired.get('size') or 0
        spec = xmlutil.element('volume', type='file')
        xmlutil.sub(spec, 'name', data_name(self.name, fmt))
        if base is not None:
            size = max(size, base.info()[1])
        xmlutil.sub(spec, 'capacity', size, unit='bytes')
        xmlutil.sub(xmlutil.sub(spec, 'target'), 'format', type=fmt)
        if base is not None and desired.get('clone') != 'full':
            if fmt != 'qcow2':
                raise ValidationError('a volume backed by an image must be qcow2; set clone: full for %s' % fmt)
            backing = xmlutil.sub(spec, 'backingStore')
            xmlutil.sub(backing, 'path', base.path())
            xmlutil.sub(backing, 'format', type=streams.volume_format(base))
            vol = call('create volume', self.name, pool.createXML, xmlutil.tostring(spec), 0, hypervisor=hvname)
        elif base is not None:
            vol = call('clone volume', self.name, pool.createXMLFrom, xmlutil.tostring(spec), base, 0, hypervisor=hvname)
        else:
            vol = call('create volume', self.name, pool.createXML, xmlutil.tostring(spec), 0, hypervisor=hvname)
        try:
            self._write_record(conn, pool, desired, created_at=imagemod.now())
        except Exception:
            # Nothing half-created: the data volume goes when its record cannot be written.
            try:
                vol.delete(0)
            except Exception:  # pylint: disable=broad-except
                pass  # the first error is the one to report
            raise

    def _base(self, conn, image_name):
        image = imagemod.find_image(conn, self.hypervisor, image_name)
        if image is None:
            raise ValidationError('image %s is not registered on hypervisor %s' % (image_name, self.hypervisor.name))
        pool = imagemod.images_pool(conn, self.hypervisor)
        base = lookup(pool.storageVolLookupByName, image['base_volume'], what=image['base_volume'],
                      hypervisor=self.hypervisor.name)
        if base is None:
            raise KvmcloudError('image %s has no base volume %s on hypervisor %s; register it again'
                                % (image_name, image['base_volume'], self.hypervisor.name))
        return base

    def _write_record(self, conn, pool, values, created_at):
        record = {'name': self.name, 'project': values.get('project'), 'image': values.get('image'),
                  'clone': values.get('clone'), 'created_at': created_at}
        streams.write_json(conn, pool, record_name(self.name), record, hypervisor=self.hypervisor.name)

    def update(self, raw, the_plan):
        fields = {change.field: change.after for change in the_plan.changes}
        if 'size' in fields:
            self._grow(raw, fields['size'])
        if 'project' in fields:
            values = dict(raw.record, project=fields['project'])
            self._write_record(raw.conn, raw.pool, values, created_at=raw.record.get('created_at') or imagemod.now())

    def _grow(self, raw, size):
        hvname = self.hypervisor.name
        for attachment in attachments(raw.conn, raw.path, hvname):
            if attachment['running']:
                # QEMU has the image open: it must grow it, and the guest sees the new size.
                dom = call('lookup', attachment['server'], raw.conn.lookupByName, attachment['server'], hypervisor=hvname)
                call('blockResize', self.name, dom.blockResize, attachment['device'], size,
                     libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES, hypervisor=hvname)
                return
        call('resize', self.name, raw.vol.resize, size, 0, hypervisor=hvname)

    def delete(self, raw):
        delete_found(raw)


def delete_found(found):
    """Delete a data volume and its record."""
    name = volume_name_of(found.vol.name())
    hvname = found.hypervisor.name
    call('delete', name, found.vol.delete, 0, hypervisor=hvname)
    record = lookup(found.pool.storageVolLookupByName, record_name(name), what=record_name(name), hypervisor=hvname)
    if record is not None:
        call('delete', record_name(name), record.delete, 0, hypervisor=hvname)
