# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Block storage volumes (Cinder): the ``volume`` and ``volume_info`` modules, and creating a
volume, which the compute engine does for a server that boots from one.

A volume ``NAME`` is the libvirt volume ``volume-NAME.<format>`` in the volumes pool of the
hypervisor it lives on, plus a small JSON record ``volume-NAME.json`` beside it (owner
project, source image, creation time), both written through libvirt only. Names are unique
across the cloud.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import VIR_DOMAIN_BLOCK_RESIZE_BYTES
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable, unreachable_list
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import CREATE, DELETE, LIVE, Resource, reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo, best_effort
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import base_volume, find_image
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.overlays import create_overlay, volume_spec
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import write_json
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import limits
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import (
    FORMATS, GIB, attachments, data_name, delete_found, find_on, list_on, locate, parse_size, record_name,
    validate_name)


# How the hypervisor's C library says ENOSPC, in libvirt's messages.
NO_SPACE = 'No space left on device'


def write_record(h, pool, name, values, created_at):
    """Write the record of volume ``name``: its project, image and clone mode."""
    record = {'name': name, 'project': values.get('project'), 'image': values.get('image'),
              'clone': values.get('clone'), 'created_at': created_at}
    write_json(h, pool, record_name(name), record)


def _base(h, image_name):
    image = find_image(h, image_name)
    if image is None:
        raise ValidationError('image %s is not registered on hypervisor %s' % (image_name, h.name))
    try:
        return base_volume(h, image)
    except KvmcloudError:
        raise KvmcloudError('image %s has no base volume %s on hypervisor %s; register it again'
                            % (image_name, image['base_volume'], h.name))


def create_volume(h, name, values):
    """Create volume ``name`` on hypervisor ``h`` from ``values`` (``size`` in bytes, ``format``,
    ``project``, ``image``, ``clone``) with its record; nothing is left when any step fails."""
    pool = volumes_pool(h)
    base = _base(h, values['image']) if values.get('image') else None
    fmt = values.get('format') or 'qcow2'
    size = values.get('size') or 0
    if base is not None and values.get('clone') != 'full' and fmt != 'qcow2':
        raise ValidationError('a volume backed by an image must be qcow2; set clone: full for %s' % fmt)
    try:
        if base is not None and values.get('clone') != 'full':
            vol = create_overlay(pool, data_name(name, fmt), base, size)
        elif base is not None:
            vol = pool.about(name).createXMLFrom(volume_spec(data_name(name, fmt), max(size, base.info()[1]), fmt),
                                                 base, 0)
        else:
            vol = pool.about(name).createXML(volume_spec(data_name(name, fmt), size, fmt), 0)
        # Nothing half-created: the data volume goes when its record cannot be written.
        with Undo('volume %s' % name) as undo:
            undo.add('delete the volume', vol.delete, 0)
            write_record(h, pool, name, values, created_at=now())
    except LibvirtCallError as err:
        raise _when_full(err, h, pool)
    return find_on(h, name)


def _when_full(err, h, pool):
    """``err``, saying so when the pool's file system is full (the pool's own figures are of its
    last refresh, so it is refreshed first)."""
    if NO_SPACE not in (err.message or ''):
        return err
    best_effort(pool.refresh, 0)
    available = best_effort(lambda: pool.info()[3])
    err.msg = ('%s; the pool %s on hypervisor %s is full (%s bytes available)%s; free space in the pool or use '
               'another hypervisor' % (err.msg, pool.name(), h.name, 'unknown' if available is None else available,
                                       '' if err.details.get('undo_failures') else ', and nothing of the volume was kept'))
    err.args = (err.msg,)
    return err


def grow(found, size):
    """Grow a volume to ``size`` bytes: through QEMU when a running server has it open (so the
    guest sees the new size), else the file itself."""
    for attachment in attachments(found.h, found.path):
        if attachment['running']:
            dom = found.h.about(attachment['server']).lookupByName(attachment['server'])
            dom.about(found.name).blockResize(attachment['device'], size, VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            return
    found.vol.resize(size, 0)


class Volume(Resource):
    """One data volume; ``found`` is where it is (or None) and ``h`` the hypervisor it is or
    would go on."""

    modes = dict(size=LIVE, project=LIVE, format=LIVE, image=LIVE, clone=LIVE)

    def __init__(self, cm, params, found, h):
        self.cm = cm
        self.params = params
        self.name = params['name']
        self.found = found
        self.h = found.h if found else h

    def find(self):
        return find_on(self.h, self.name) if self.h is not None else None

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
        if the_plan.action == CREATE:
            if not the_plan.after.get('size') and not self.params['image']:
                raise ValidationError('size or image is required to create volume %s' % self.name)
            self._check_new(the_plan.after.get('size'))
            return
        if the_plan.action == DELETE:
            users = attachments(self.h, self.found.path)
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
            if change.field == 'project' and change.before is not None:
                # As for servers: another project's quota would be passed unseen.
                raise ValidationError("volume '%s': changing project needs the volume to be recreated; delete and "
                                      "create it again (it belongs to project '%s')" % (self.name, change.before),
                                      diff=the_plan.diff())
        if the_plan:
            self._check_update(the_plan)

    def _check_new(self, size):
        """The quotas and the pool's capacity for a new volume of ``size`` bytes (or, from an
        image, at least the image's virtual size)."""
        what = 'volume %s' % self.name
        if self.params['image']:
            image_size = _base(self.h, self.params['image']).info()[1]
            if size and size < image_size:
                raise ValidationError('%s: size %d bytes is smaller than the virtual size of image %s, %d bytes '
                                      '(%.3f GiB); leave size out to get the image\'s size, or give at least that'
                                      % (what, size, self.params['image'], image_size, image_size / GIB))
            size = max(size or 0, image_size)
        limits.check_quotas(self.cm, self.params['project'], what, volumes=1, gigabytes=quotas.gigabytes(size))
        limits.check_capacity(self.h, volumes_pool(self.h), what, size)

    def _check_update(self, the_plan):
        """The quotas and the pool's capacity for growing a volume, or for giving a volume of no
        project to one (counted as a new volume of that project)."""
        what = 'volume %s' % self.name
        fields = {change.field: change for change in the_plan.changes}
        before = the_plan.before['size']
        after = fields['size'].after if 'size' in fields else before
        if 'project' in fields:
            limits.check_quotas(self.cm, fields['project'].after, what, volumes=1,
                                gigabytes=quotas.gigabytes(after))
        else:
            limits.check_quotas(self.cm, the_plan.before.get('project'), what,
                                gigabytes=quotas.gigabytes(after) - quotas.gigabytes(before))
        if after > before:
            limits.check_capacity(self.h, self.found.pool, what, after - before)

    def create(self, desired):
        create_volume(self.h, self.name, desired)

    def update(self, raw, the_plan):
        fields = {change.field: change.after for change in the_plan.changes}
        if 'size' in fields:
            grow(raw, fields['size'])
        if 'project' in fields:
            write_record(raw.h, raw.pool, self.name, dict(raw.record, project=fields['project']),
                         created_at=raw.record.get('created_at') or now())

    def delete(self, raw):
        delete_found(raw)


def target_hypervisor(cm, wanted):
    """Where a new volume goes: the one asked for, or the only enabled hypervisor."""
    if wanted:
        return cm.cloud.hypervisor(wanted)
    enabled = cm.cloud.select_hypervisors(enabled_only=True)
    if len(enabled) != 1:
        raise ValidationError('hypervisor is required to create a volume when the cloud has %d enabled hypervisors'
                              % len(enabled))
    return enabled[0]


def run_volume(cm):
    """The ``volume`` module: find the volume anywhere in the cloud, then reconcile it where it
    is (or, new, where it goes)."""
    params = cm.params
    validate_name(params['name'])
    if params['project']:
        cm.cloud.project(params['project'])
    found, unreachable = locate(cm, params['name'])
    target = None
    if found is None and params['state'] == 'present':
        if unreachable:
            raise KvmcloudError('volume %s was not found, and it cannot be ruled out that it exists on '
                                'unreachable hypervisors: %s' % (params['name'], '; '.join(unreachable)))
        target = cm.connections.get(target_hypervisor(cm, params['hypervisor']).name)
    volume = Volume(cm, params, found, target)
    return reconcile(volume, params['state'], cm.check_mode, lock=cm.connections.locks.on(volume.h)).result('volume')


def run_volume_info(cm):
    """The ``volume_info`` module: the volumes of every reachable hypervisor (or the one named),
    filtered by name and project."""
    params = cm.params
    selected = cm.cloud.select_hypervisors([params['hypervisor']] if params['hypervisor'] else None)
    found, unreachable = map_reachable(cm, lambda h: [f.facts() for f in list_on(h)], selected, 'listing volumes')
    listed = [v for _hv, facts in found for v in facts
              if (not params['name'] or v['name'] == params['name'])
              and (not params['project'] or v['project'] == params['project'])]
    return dict(changed=False, volumes=sorted(listed, key=lambda v: (v['name'], v['hypervisor'])),
                unreachable_hypervisors=unreachable_list(unreachable))


# The module's options, here so that cloud_plan validates an item the way the module does.
VOLUME_ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    size=dict(type='raw'),
    format=dict(type='str', choices=list(FORMATS)),
    image=dict(type='str'),
    clone=dict(type='str', choices=['overlay', 'full'], default='overlay'),
    project=dict(type='str'),
    hypervisor=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)
