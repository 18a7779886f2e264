# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pools as a reconciled resource (``dir`` pools), and the pools other services keep
their volumes in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import reconcile_on_hypervisors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import stop_and_undefine
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import DELETE, LIVE, REBUILD, Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import kept_volumes, pool_users

POOL_TYPES = ('dir',)
# How many volumes a refusal names before it only counts the rest.
NAMED_IN_MESSAGES = 10


def active_pool(h, pool_name, purpose):
    """The pool ``pool_name`` of hypervisor ``h``; it must exist and run."""
    pool = h.pool(pool_name)
    if pool is None or not pool.isActive():
        raise KvmcloudError('the %s pool %s is missing or inactive on hypervisor %s; create it first '
                            '(the kvmcloud.cloud.hypervisor role does)' % (purpose, pool_name, h.name),
                            hypervisor=h.name)
    return pool


def images_pool(h):
    """The hypervisor's images pool (base volumes and the image catalog); it must exist and run."""
    return active_pool(h, h.hv.images_pool, 'images')


def volumes_pool(h):
    """The hypervisor's volumes pool (servers' disks, data volumes); it must exist and run."""
    return active_pool(h, h.hv.volumes_pool, 'volumes')


def pool_facts(pool):
    """What ``hypervisor_info`` reports of a pool."""
    _state, capacity, allocation, available = pool.info()[:4]
    desc = xmlutil.parse(pool.XMLDesc(0))
    return {
        'name': pool.name(),
        'type': desc.get('type'),
        'path': xmlutil.text(desc, 'target/path'),
        'mode': normal_mode(xmlutil.text(desc, 'target/permissions/mode')),
        'active': bool(pool.isActive()),
        'autostart': bool(pool.autostart()),
        'capacity': capacity,
        'allocation': allocation,
        'available': available,
    }


def normal_mode(mode):
    """A permission mode as four octal digits ('0711'), from '711', '0o711' or 0o711."""
    if mode is None:
        return None
    try:
        value = mode if isinstance(mode, int) else int(str(mode).replace('0o', ''), 8)
    except ValueError:
        raise ValidationError('mode must be an octal number such as 0711, got %r' % (mode,))
    if not 0 <= value <= 0o7777:
        raise ValidationError('mode must be between 0000 and 7777, got %r' % (mode,))
    return '%04o' % value


def pool_xml(name, pool_type, path, mode=None, owner=None, group=None, uuid=None):
    pool = xmlutil.element('pool', type=pool_type)
    xmlutil.sub(pool, 'name', name)
    if uuid:
        # Redefining an existing pool must keep its UUID, or libvirt refuses the definition.
        xmlutil.sub(pool, 'uuid', uuid)
    target = xmlutil.sub(pool, 'target')
    xmlutil.sub(target, 'path', path)
    if mode is not None or owner is not None or group is not None:
        perms = xmlutil.sub(target, 'permissions')
        if mode is not None:
            xmlutil.sub(perms, 'mode', mode)
        if owner is not None:
            xmlutil.sub(perms, 'owner', owner)
        if group is not None:
            xmlutil.sub(perms, 'group', group)
    return xmlutil.tostring(pool)


def _int_or_none(value):
    return int(value) if value not in (None, '', '-1') else None


def _listed(items):
    shown = ', '.join(items[:NAMED_IN_MESSAGES])
    return shown + (' and %d more' % (len(items) - NAMED_IN_MESSAGES) if len(items) > NAMED_IN_MESSAGES else '')


def validate_params(params):
    """Refuse a relative path and negative ids before anything is read or written."""
    path = params.get('path')
    if path is not None and not str(path).startswith('/'):
        raise ValidationError('storage pool %s: path must be absolute, got %r; give the full path of the directory '
                              'on the hypervisor, such as /var/lib/kvmcloud/%s' % (params['name'], path, params['name']))
    for key, what in (('owner', 'user'), ('group', 'group')):
        if params.get(key) is not None and params[key] < 0:
            raise ValidationError('storage pool %s: %s must be a numeric %s id, 0 or more, got %s; leave it out to '
                                  'keep what the directory has' % (params['name'], key, what, params[key]))


class StoragePool(Resource):
    """One pool on one hypervisor."""

    set_fields = ()
    modes = dict(type=REBUILD, path=REBUILD, mode=LIVE, owner=LIVE, group=LIVE, active=LIVE, autostart=LIVE)

    def __init__(self, h, params):
        self.h = h
        self.params = params
        self.name = params['name']

    def allows_rebuild(self):
        return bool(self.params.get('recreate'))

    def check(self, the_plan):
        if the_plan.action == DELETE:
            self._check_delete(self.find(), self.params.get('delete_volumes'))
        elif the_plan.needs_rebuild and self.allows_rebuild():
            # Recreated elsewhere, the pool would no longer list the volumes it holds now.
            self._check_delete(self.find(), False, verb='recreated')

    def _check_delete(self, raw, delete_volumes, verb='deleted'):
        """Refuse to delete a pool whose volumes a server uses, or, without ``delete_volumes``, one
        that holds what the collection keeps (volumes and their records, images, the hypervisor
        record); check mode refuses alike."""
        where = 'storage pool %s on hypervisor %s' % (self.name, self.h.name)
        deleting = verb == 'deleted'
        users = pool_users(self.h, raw)
        if users:
            raise ValidationError('%s is in use, so it is not %s (check mode too): %s; detach or delete those first '
                                  '(kvmcloud.cloud.server_volume, kvmcloud.cloud.server)%s'
                                  % (where, verb, _listed(users), ', even with delete_volumes' if deleting else ''),
                                  in_use=users)
        ours = self.name in (self.h.hv.images_pool, self.h.hv.volumes_pool)
        if not raw.isActive():
            if ours or delete_volumes:
                raise ValidationError('%s is inactive, so the volumes in it cannot be checked and it is not %s '
                                      '(check mode too); start it (active: true) and run again' % (where, verb))
            return
        kept = kept_volumes(raw)
        if kept and not delete_volumes:
            raise ValidationError('%s holds volumes of the cloud, so it is not %s (check mode too): %s; delete them '
                                  'first (kvmcloud.cloud.volume, kvmcloud.cloud.image state: absent)%s'
                                  % (where, verb, _listed(kept), ', or set delete_volumes: true to delete the pool '
                                     'with every volume in it' if deleting else ''), kept=kept)

    def find(self):
        return self.h.pool(self.name)

    def normalise(self, raw):
        desc = xmlutil.parse(raw.XMLDesc(0))
        return {
            'type': desc.get('type'),
            'path': xmlutil.text(desc, 'target/path'),
            'mode': normal_mode(xmlutil.text(desc, 'target/permissions/mode')),
            'owner': _int_or_none(xmlutil.text(desc, 'target/permissions/owner')),
            'group': _int_or_none(xmlutil.text(desc, 'target/permissions/group')),
            'active': bool(raw.isActive()),
            'autostart': bool(raw.autostart()),
        }

    def desired(self):
        p = self.params
        validate_params(p)
        return {
            'type': p['type'],
            'path': p['path'],
            'mode': normal_mode(p['mode']),
            'owner': p['owner'],
            'group': p['group'],
            'active': p['active'],
            'autostart': p['autostart'],
        }

    def describe(self, raw):
        facts = self.normalise(raw)
        _state, capacity, allocation, available = raw.info()[:4]
        facts.update(name=self.name, hypervisor=self.h.name,
                     capacity=capacity, allocation=allocation, available=available)
        return facts

    def _define(self, desired, uuid=None):
        xml = pool_xml(self.name, desired['type'], desired['path'],
                       desired.get('mode'), desired.get('owner'), desired.get('group'), uuid=uuid)
        return self.h.about(self.name).storagePoolDefineXML(xml, 0)

    def _build_and_start(self, pool, active, autostart):
        # Building a dir pool creates its directory and applies the permissions.
        pool.build(0)
        if active:
            pool.create(0)
        pool.setAutostart(int(bool(autostart)))

    def create(self, desired):
        if not desired.get('path'):
            raise ValidationError('path is required to create storage pool %s' % self.name)
        pool = self._define(desired)
        # Nothing half-created: a pool that failed to build or start is removed again.
        with Undo('storage pool %s' % self.name) as undo:
            undo.add('remove the pool', stop_and_undefine, pool)
            self._build_and_start(pool, desired['active'] is not False, bool(desired['autostart']))

    def delete(self, raw):
        # Without delete_volumes the directory and the volumes in it are kept: deleting data is
        # never a side effect. With it, every volume goes, then the (empty) directory.
        if self.params.get('delete_volumes') and raw.isActive():
            for vol in raw.listAllVolumes(0):
                vol.discard('delete', 0)
            raw.destroy()
            raw.delete(0)
        stop_and_undefine(raw)

    def update(self, raw, the_plan):
        current = self.normalise(raw)
        wanted = dict(current, **{change.field: change.after for change in the_plan.changes})
        if the_plan.needs_rebuild:
            stop_and_undefine(raw)  # never delete_volumes' deletion: the volumes stay where they are
            self.create(wanted)
            return
        fields = set(the_plan.fields())
        if fields & {'mode', 'owner', 'group'}:
            pool = self._define(wanted, uuid=raw.UUIDString())
            if pool.isActive():
                pool.destroy()
            self._build_and_start(pool, wanted['active'], wanted['autostart'])
            return
        if 'active' in fields:
            if wanted['active']:
                raw.create(0)
            else:
                raw.destroy()
        if 'autostart' in fields:
            raw.setAutostart(int(bool(wanted['autostart'])))


def run_storage_pool(cm):
    """The ``storage_pool`` module: reconcile the pool on each selected hypervisor; a refusal on
    any of them comes before a change on any."""
    if cm.params['state'] == 'present':
        # Removal takes any name, so a pool made before the rule can still be removed.
        names.resource_name('storage pool', cm.params['name'])
    validate_params(cm.params)
    return reconcile_on_hypervisors(cm, lambda h: StoragePool(h, cm.params), result_key='pools')
