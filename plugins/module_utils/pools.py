# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pools as a reconciled resource (``dir`` pools)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, ValidationError, call, delete, lookup, stop_and_undefine)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import LIVE, REBUILD, Resource

POOL_TYPES = ('dir',)


def active_pool(conn, hypervisor, pool_name, purpose):
    """The pool ``pool_name`` of ``hypervisor`` (a name); it must exist and run."""
    pool = lookup(conn.storagePoolLookupByName, pool_name, hypervisor=hypervisor)
    if pool is None or not pool.isActive():
        raise KvmcloudError('the %s pool %s is missing or inactive on hypervisor %s; create it first '
                            '(the kvmcloud.cloud.hypervisor role does)' % (purpose, pool_name, hypervisor),
                            hypervisor=hypervisor)
    return pool


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


class StoragePool(Resource):
    """One pool on one hypervisor."""

    set_fields = ()
    modes = dict(type=REBUILD, path=REBUILD, mode=LIVE, owner=LIVE, group=LIVE, active=LIVE, autostart=LIVE)

    def __init__(self, conn, hypervisor, params):
        self.conn = conn
        self.hypervisor = hypervisor
        self.params = params
        self.name = params['name']

    def allows_rebuild(self):
        return bool(self.params.get('recreate'))

    def find(self):
        return lookup(self.conn.storagePoolLookupByName, self.name, hypervisor=self.hypervisor)

    def normalise(self, raw):
        desc = xmlutil.parse(call('XMLDesc', self.name, raw.XMLDesc, 0, hypervisor=self.hypervisor))
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
        state, capacity, allocation, available = raw.info()[:4]
        facts.update(name=self.name, hypervisor=self.hypervisor,
                     capacity=capacity, allocation=allocation, available=available)
        return facts

    def _define(self, desired, uuid=None):
        xml = pool_xml(self.name, desired['type'], desired['path'],
                       desired.get('mode'), desired.get('owner'), desired.get('group'), uuid=uuid)
        return call('define', self.name, self.conn.storagePoolDefineXML, xml, 0, hypervisor=self.hypervisor)

    def _build_and_start(self, pool, active, autostart):
        # Building a dir pool creates its directory and applies the permissions.
        call('build', self.name, pool.build, 0, hypervisor=self.hypervisor)
        if active:
            call('start', self.name, pool.create, 0, hypervisor=self.hypervisor)
        call('set autostart', self.name, pool.setAutostart, int(bool(autostart)), hypervisor=self.hypervisor)

    def create(self, desired):
        if not desired.get('path'):
            raise ValidationError('path is required to create storage pool %s' % self.name)
        pool = self._define(desired)
        try:
            self._build_and_start(pool, desired['active'] is not False, bool(desired['autostart']))
        except Exception:
            # Nothing half-created: a pool that failed to build or start is removed again.
            if pool.isActive():
                pool.destroy()
            delete(pool.undefine, what=self.name, hypervisor=self.hypervisor)
            raise

    def delete(self, raw):
        # The directory and the volumes in it are kept: deleting data is never a side effect.
        stop_and_undefine(raw, self.name, hypervisor=self.hypervisor)

    def update(self, raw, the_plan):
        current = self.normalise(raw)
        wanted = dict(current, **{change.field: change.after for change in the_plan.changes})
        if the_plan.needs_rebuild:
            self.delete(raw)
            self.create(wanted)
            return
        fields = set(the_plan.fields())
        if fields & {'mode', 'owner', 'group'}:
            pool = self._define(wanted, uuid=raw.UUIDString())
            if pool.isActive():
                call('stop', self.name, pool.destroy, hypervisor=self.hypervisor)
            self._build_and_start(pool, wanted['active'], wanted['autostart'])
            return
        if 'active' in fields:
            if wanted['active']:
                call('start', self.name, raw.create, 0, hypervisor=self.hypervisor)
            else:
                call('stop', self.name, raw.destroy, hypervisor=self.hypervisor)
        if 'autostart' in fields:
            call('set autostart', self.name, raw.setAutostart, int(bool(wanted['autostart'])),
                 hypervisor=self.hypervisor)
