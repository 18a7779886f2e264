# -*- coding: utf-8 -*-
"""storage/pools.py: mode normalisation, pool XML, the pools other services use and the
StoragePool resource on the test driver.

libvirt's test driver keeps pools in memory: defining, building and starting a ``dir`` pool
never touches the disk (checked below), so the pool paths need not exist.
"""

import os
from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import (
    StoragePool, active_pool, images_pool, normal_mode, pool_facts, pool_xml, run_storage_pool, volumes_pool)

from handles import definition, handle

NAME = 'unit-pool'


# -- normal_mode ----------------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['711', '0711', '0o711', 0o711, '00711'])
def test_normal_mode_accepts(mode):
    assert normal_mode(mode) == '0711'


@pytest.mark.parametrize('mode, expected', [
    ('0', '0000'), (0, '0000'), ('7777', '7777'), (0o7777, '7777'), ('755', '0755'), ('2775', '2775'),
    ('0o0755', '0755'),
])
def test_normal_mode_values(mode, expected):
    assert normal_mode(mode) == expected


def test_normal_mode_none():
    assert normal_mode(None) is None


@pytest.mark.parametrize('mode', ['abc', '99999', '8', '0o8', '', '7.5', 'rwx'])
def test_normal_mode_rejects_non_octal(mode):
    with pytest.raises(ValidationError) as err:
        normal_mode(mode)
    assert 'octal' in err.value.msg and repr(mode) in err.value.msg


@pytest.mark.parametrize('mode', ['17777', 0o10000, -1, '-1'])
def test_normal_mode_rejects_out_of_range(mode):
    with pytest.raises(ValidationError) as err:
        normal_mode(mode)
    assert 'between 0000 and 7777' in err.value.msg


# -- pool_xml -------------------------------------------------------------------------------

def test_pool_xml_without_permissions():
    root = xmlutil.parse(pool_xml('images', 'dir', '/var/lib/kvmcloud/images'))
    assert root.tag == 'pool' and root.get('type') == 'dir'
    assert root.findtext('name') == 'images'
    assert root.findtext('target/path') == '/var/lib/kvmcloud/images'
    assert root.find('target/permissions') is None


def test_pool_xml_with_all_permissions():
    root = xmlutil.parse(pool_xml('images', 'dir', '/p', mode='0711', owner=107, group=0))
    perms = root.find('target/permissions')
    assert [(child.tag, child.text) for child in perms] == [('mode', '0711'), ('owner', '107'), ('group', '0')]


@pytest.mark.parametrize('kwargs, present', [
    (dict(mode='0700'), ['mode']),
    (dict(owner=0), ['owner']),       # 0 is root, not "unset"
    (dict(group=0), ['group']),
    (dict(owner=1, group=2), ['owner', 'group']),
])
def test_pool_xml_only_given_permissions(kwargs, present):
    perms = xmlutil.parse(pool_xml('p', 'dir', '/p', **kwargs)).find('target/permissions')
    assert [child.tag for child in perms] == present


def test_pool_xml_uuid_only_when_given():
    assert xmlutil.parse(pool_xml('p', 'dir', '/p')).find('uuid') is None
    root = xmlutil.parse(pool_xml('p', 'dir', '/p', uuid='6aec0991-9bec-4b73-8a5f-8359ffcc20ec'))
    assert root.findtext('uuid') == '6aec0991-9bec-4b73-8a5f-8359ffcc20ec'


def test_pool_xml_escapes():
    root = xmlutil.parse(pool_xml('a&b', 'dir', '/x/<y>'))
    assert root.findtext('name') == 'a&b' and root.findtext('target/path') == '/x/<y>'


def test_pool_xml_is_accepted_by_libvirt(hv1):
    pool = hv1.about(NAME).storagePoolDefineXML(pool_xml(NAME, 'dir', '/unit', mode='0750', owner=0, group=0), 0)
    try:
        desc = xmlutil.parse(pool.XMLDesc(0))
        assert xmlutil.text(desc, 'target/path') == '/unit'
        assert normal_mode(xmlutil.text(desc, 'target/permissions/mode')) == '0750'
    finally:
        pool.undefine()


# -- StoragePool against the test driver ------------------------------------------------------

@pytest.fixture
def pool_path(tmp_path):
    return str(tmp_path / 'pool-dir')


@pytest.fixture
def params(hv1, pool_path):
    """Module parameters as the argument spec fills them in; the pool is removed afterwards."""
    yield dict(name=NAME, type='dir', path=pool_path, mode=None, owner=None, group=None,
               active=True, autostart=True, state='present', recreate=False, hypervisors=None)
    pool = hv1.pool(NAME)
    if pool is not None:
        if pool.isActive():
            pool.destroy()
        pool.undefine()


def run(h, params, check_mode=False, **changes):
    """The reconcile engine's outcome for the pool, as the module result of one hypervisor."""
    p = dict(params, **changes)
    return reconcile(StoragePool(h, p), p['state'], check_mode).result('resource')


def state_of(h):
    pool = h.pool(NAME)
    if pool is None:
        return None
    desc = xmlutil.parse(pool.XMLDesc(0))
    return {'active': bool(pool.isActive()), 'autostart': bool(pool.autostart()),
            'path': xmlutil.text(desc, 'target/path'),
            'mode': xmlutil.text(desc, 'target/permissions/mode')}


def test_create_check_mode_defines_nothing(hv1, params):
    result = run(hv1, params, check_mode=True)
    assert result['changed'] is True
    assert result['diff'] == {'before': {}, 'after': {'type': 'dir', 'path': params['path'],
                                                      'active': True, 'autostart': True}}
    assert state_of(hv1) is None


def test_create_real_run(hv1, params, pool_path):
    predicted = run(hv1, params, check_mode=True)
    result = run(hv1, params)
    assert result['changed'] is True
    assert result['diff'] == predicted['diff']
    assert state_of(hv1) == {'active': True, 'autostart': True, 'path': pool_path, 'mode': None}
    resource = result['resource']
    assert resource['name'] == NAME and resource['hypervisor'] == 'hv1'
    assert resource['active'] is True and resource['autostart'] is True and resource['type'] == 'dir'
    assert resource['capacity'] >= resource['available'] >= 0
    # The test driver builds and starts pools in memory only.
    assert not os.path.exists(pool_path)


def test_rerun_is_no_change(hv1, params):
    run(hv1, params)
    again = run(hv1, params)
    assert again['changed'] is False
    assert again['diff'] == {'before': {}, 'after': {}}
    assert again['resource']['path'] == params['path']
    assert run(hv1, params, check_mode=True)['changed'] is False


def test_create_with_permissions_then_no_change(hv1, params):
    result = run(hv1, params, mode='711', owner=0, group=0)
    assert result['resource']['mode'] == '0711'
    assert (result['resource']['owner'], result['resource']['group']) == (0, 0)
    # '0o711' and '0711' are the same mode as the '711' that was created.
    assert run(hv1, params, mode='0o711', owner=0, group=0)['changed'] is False
    # Permissions left unset are not managed.
    assert run(hv1, params)['changed'] is False


def test_create_inactive_without_autostart(hv1, params):
    run(hv1, params, active=False, autostart=False)
    assert state_of(hv1)['active'] is False and state_of(hv1)['autostart'] is False
    assert run(hv1, params, active=False, autostart=False)['changed'] is False


def test_change_autostart_only(hv1, params):
    run(hv1, params)
    predicted = run(hv1, params, check_mode=True, autostart=False)
    assert state_of(hv1)['autostart'] is True
    result = run(hv1, params, autostart=False)
    expected_diff = {'before': {'autostart': True}, 'after': {'autostart': False}}
    assert predicted['changed'] is result['changed'] is True
    assert predicted['diff'] == result['diff'] == expected_diff
    assert state_of(hv1) == {'active': True, 'autostart': False, 'path': params['path'], 'mode': None}
    assert run(hv1, params, autostart=False)['changed'] is False


def test_stop_and_start(hv1, params):
    run(hv1, params)
    result = run(hv1, params, active=False)
    assert result['diff'] == {'before': {'active': True}, 'after': {'active': False}}
    assert state_of(hv1)['active'] is False
    assert state_of(hv1)['autostart'] is True
    result = run(hv1, params, active=True)
    assert result['changed'] is True and state_of(hv1)['active'] is True


def test_path_change_is_refused_without_recreate(hv1, params):
    run(hv1, params)
    with pytest.raises(ValidationError) as err:
        run(hv1, params, path='/elsewhere')
    assert 'path' in err.value.msg and 'recreate' in err.value.msg
    assert state_of(hv1)['path'] == params['path']


def test_path_change_with_recreate(hv1, params):
    run(hv1, params)
    result = run(hv1, params, path='/elsewhere', recreate=True)
    assert result['changed'] is True
    assert result['diff'] == {'before': {'path': params['path']}, 'after': {'path': '/elsewhere'}}
    assert state_of(hv1) == {'active': True, 'autostart': True, 'path': '/elsewhere', 'mode': None}


def test_mode_change_redefines_the_pool(hv1, params):
    # An inactive pool: for an active one, libvirt keeps the new definition aside until the
    # pool is stopped; the storage driver then switches to it, the test driver does not.
    run(hv1, params, mode='0711', active=False)
    uuid = hv1.pool(NAME).UUIDString()
    result = run(hv1, params, mode='0755', active=False)
    assert hv1.pool(NAME).UUIDString() == uuid
    assert result['diff'] == {'before': {'mode': '0711'}, 'after': {'mode': '0755'}}
    assert state_of(hv1)['mode'] == '0755'
    assert run(hv1, params, mode='0755', active=False)['changed'] is False


def test_owner_change_keeps_state(hv1, params):
    run(hv1, params, owner=0, group=0, active=False, autostart=True)
    result = run(hv1, params, owner=107, group=0, active=False, autostart=True)
    assert result['diff'] == {'before': {'owner': 0}, 'after': {'owner': 107}}
    assert result['resource']['owner'] == 107
    assert state_of(hv1)['active'] is False and state_of(hv1)['autostart'] is True


def test_create_without_path_fails_before_defining(hv1, params):
    with pytest.raises(ValidationError, match='path is required'):
        run(hv1, params, path=None)
    assert state_of(hv1) is None


class FailingStart:
    """The test driver's pool, except that starting it fails."""

    def __init__(self, pool):
        self._pool = pool

    def __getattr__(self, name):
        return getattr(self._pool, name)

    def create(self, flags):
        err = libvirt.libvirtError('cannot start')
        err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, 0, 'cannot start', 2, None, None, None, 0, 0)
        raise err


class ConnWithFailingStart:
    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def storagePoolDefineXML(self, xml, flags):
        return FailingStart(self._conn.storagePoolDefineXML(xml, flags))


def test_failed_create_leaves_nothing_behind(test_conn, hv1, params):
    with pytest.raises(LibvirtCallError) as err:
        run(handle(ConnWithFailingStart(test_conn)), params)
    assert err.value.operation == 'start' and err.value.obj == NAME and err.value.hypervisor == 'hv1'
    assert state_of(hv1) is None


def test_absent_removes_the_pool(hv1, params):
    run(hv1, params)
    predicted = run(hv1, params, check_mode=True, state='absent')
    assert state_of(hv1) is not None
    result = run(hv1, params, state='absent')
    assert predicted['changed'] is result['changed'] is True
    assert predicted['diff'] == result['diff']
    assert result['diff']['after'] == {}
    assert result['diff']['before']['path'] == params['path']
    assert result['resource'] == {}
    assert state_of(hv1) is None


def test_absent_removes_an_inactive_pool(hv1, params):
    run(hv1, params, active=False)
    assert run(hv1, params, state='absent')['changed'] is True
    assert state_of(hv1) is None


def test_absent_when_missing_is_no_change(hv1, params):
    for check_mode in (True, False):
        result = run(hv1, params, check_mode=check_mode, state='absent')
        assert result == {'changed': False, 'diff': {'before': {}, 'after': {}}, 'resource': {}}


def test_existing_default_pool_is_read(hv1):
    pool = StoragePool(hv1, {'name': 'default-pool'})
    current = pool.normalise(pool.find())
    assert current == {'type': 'dir', 'path': '/default-pool', 'mode': None, 'owner': None, 'group': None,
                       'active': True, 'autostart': False}


# -- the pools other services use --------------------------------------------------------------

def test_images_and_volumes_pool_are_the_hypervisors_own(test_conn):
    h = handle(test_conn, images_pool='default-pool', volumes_pool='default-pool')
    assert images_pool(h).name() == 'default-pool'
    assert volumes_pool(h).name() == 'default-pool'
    assert active_pool(h, 'default-pool', 'any').name() == 'default-pool'


@pytest.mark.parametrize('get, purpose, name', [
    (images_pool, 'images', 'kvmcloud-images'), (volumes_pool, 'volumes', 'kvmcloud-volumes'),
])
def test_a_missing_pool_is_an_error_naming_it_and_the_hypervisor(hv1, get, purpose, name):
    with pytest.raises(KvmcloudError) as err:
        get(hv1)
    assert err.value.msg == ('the %s pool %s is missing or inactive on hypervisor hv1; create it first '
                             '(the kvmcloud.cloud.hypervisor role does)' % (purpose, name))
    assert err.value.details == {'hypervisor': 'hv1'}


def test_an_inactive_pool_is_an_error(hv1, params):
    run(hv1, params, active=False)
    with pytest.raises(KvmcloudError, match='the volumes pool %s is missing or inactive' % NAME):
        active_pool(hv1, NAME, 'volumes')


def test_pool_facts_of_the_default_pool(hv1):
    facts = pool_facts(hv1.pool('default-pool'))
    assert {k: facts[k] for k in ('name', 'type', 'path', 'mode', 'active', 'autostart')} == {
        'name': 'default-pool', 'type': 'dir', 'path': '/default-pool', 'mode': None, 'active': True,
        'autostart': False}
    assert facts['capacity'] > 0 and facts['allocation'] + facts['available'] <= facts['capacity']


def test_pool_facts_report_the_mode(hv1, params):
    run(hv1, params, mode='750', active=False, autostart=False)
    facts = pool_facts(hv1.pool(NAME))
    assert (facts['mode'], facts['active'], facts['autostart']) == ('0750', False, False)


# -- run_storage_pool: the module over several hypervisors ---------------------------------------

def pool_module(test_conn, params, check_mode=False):
    """What run_storage_pool needs of a module: one hypervisor, hv1, on the test driver."""
    cloud = CloudDefinition(hypervisors=[definition('hv1')])
    return SimpleNamespace(params=params, check_mode=check_mode, cloud=cloud,
                           connections=Connections(cloud.hypervisors, opener=lambda hv: handle(test_conn, hv.name)))


def test_run_storage_pool_reports_the_pool_per_hypervisor(test_conn, hv1, params):
    predicted = run_storage_pool(pool_module(test_conn, params, check_mode=True))
    assert state_of(hv1) is None
    result = run_storage_pool(pool_module(test_conn, params))
    assert predicted['changed'] is result['changed'] is True
    assert predicted['diff'] == result['diff']
    assert result['diff']['before'] == {'hv1': {}}
    assert result['diff']['after']['hv1']['path'] == params['path']
    [pool] = result['pools']
    assert (pool['name'], pool['hypervisor'], pool['active']) == (NAME, 'hv1', True)
    again = run_storage_pool(pool_module(test_conn, params))
    assert again['changed'] is False and again['diff'] == {'before': {}, 'after': {}}
