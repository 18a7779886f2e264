# -*- coding: utf-8 -*-
"""pools.py: mode normalisation, pool XML and the StoragePool resource on the test driver.

libvirt's test driver keeps pools in memory: defining, building and starting a ``dir`` pool
never touches the disk (checked below), so the pool paths need not exist.
"""

import os

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import LibvirtCallError, ValidationError, lookup
from ansible_collections.kvmcloud.cloud.plugins.module_utils.pools import StoragePool, normal_mode, pool_xml
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import reconcile

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


def test_pool_xml_is_accepted_by_libvirt(test_conn):
    pool = test_conn.storagePoolDefineXML(pool_xml(NAME, 'dir', '/unit', mode='0750', owner=0, group=0), 0)
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
def params(test_conn, pool_path):
    """Module parameters as the argument spec fills them in; the pool is removed afterwards."""
    yield dict(name=NAME, type='dir', path=pool_path, mode=None, owner=None, group=None,
               active=True, autostart=True, state='present', recreate=False, hypervisors=None)
    pool = lookup(test_conn.storagePoolLookupByName, NAME)
    if pool is not None:
        if pool.isActive():
            pool.destroy()
        pool.undefine()


def run(conn, params, check_mode=False, **changes):
    p = dict(params, **changes)
    return reconcile(StoragePool(conn, 'hv1', p), p['state'], check_mode)


def state_of(conn):
    pool = lookup(conn.storagePoolLookupByName, NAME)
    if pool is None:
        return None
    desc = xmlutil.parse(pool.XMLDesc(0))
    return {'active': bool(pool.isActive()), 'autostart': bool(pool.autostart()),
            'path': xmlutil.text(desc, 'target/path'),
            'mode': xmlutil.text(desc, 'target/permissions/mode')}


def test_create_check_mode_defines_nothing(test_conn, params):
    result = run(test_conn, params, check_mode=True)
    assert result['changed'] is True
    assert result['diff'] == {'before': {}, 'after': {'type': 'dir', 'path': params['path'],
                                                      'active': True, 'autostart': True}}
    assert state_of(test_conn) is None


def test_create_real_run(test_conn, params, pool_path):
    predicted = run(test_conn, params, check_mode=True)
    result = run(test_conn, params)
    assert result['changed'] is True
    assert result['diff'] == predicted['diff']
    assert state_of(test_conn) == {'active': True, 'autostart': True, 'path': pool_path, 'mode': None}
    resource = result['resource']
    assert resource['name'] == NAME and resource['hypervisor'] == 'hv1'
    assert resource['active'] is True and resource['autostart'] is True and resource['type'] == 'dir'
    assert resource['capacity'] >= resource['available'] >= 0
    # The test driver builds and starts pools in memory only.
    assert not os.path.exists(pool_path)


def test_rerun_is_no_change(test_conn, params):
    run(test_conn, params)
    again = run(test_conn, params)
    assert again['changed'] is False
    assert again['diff'] == {'before': {}, 'after': {}}
    assert again['resource']['path'] == params['path']
    assert run(test_conn, params, check_mode=True)['changed'] is False


def test_create_with_permissions_then_no_change(test_conn, params):
    result = run(test_conn, params, mode='711', owner=0, group=0)
    assert result['resource']['mode'] == '0711'
    assert (result['resource']['owner'], result['resource']['group']) == (0, 0)
    # '0o711' and '0711' are the same mode as the '711' that was created.
    assert run(test_conn, params, mode='0o711', owner=0, group=0)['changed'] is False
    # Permissions left unset are not managed.
    assert run(test_conn, params)['changed'] is False


def test_create_inactive_without_autostart(test_conn, params):
    run(test_conn, params, active=False, autostart=False)
    assert state_of(test_conn)['active'] is False and state_of(test_conn)['autostart'] is False
    assert run(test_conn, params, active=False, autostart=False)['changed'] is False


def test_change_autostart_only(test_conn, params):
    run(test_conn, params)
    predicted = run(test_conn, params, check_mode=True, autostart=False)
    assert state_of(test_conn)['autostart'] is True
    result = run(test_conn, params, autostart=False)
    expected_diff = {'before': {'autostart': True}, 'after': {'autostart': False}}
    assert predicted['changed'] is result['changed'] is True
    assert predicted['diff'] == result['diff'] == expected_diff
    assert state_of(test_conn) == {'active': True, 'autostart': False, 'path': params['path'], 'mode': None}
    assert run(test_conn, params, autostart=False)['changed'] is False


def test_stop_and_start(test_conn, params):
    run(test_conn, params)
    result = run(test_conn, params, active=False)
    assert result['diff'] == {'before': {'active': True}, 'after': {'active': False}}
    assert state_of(test_conn)['active'] is False
    assert state_of(test_conn)['autostart'] is True
    result = run(test_conn, params, active=True)
    assert result['changed'] is True and state_of(test_conn)['active'] is True


def test_path_change_is_refused_without_recreate(test_conn, params):
    run(test_conn, params)
    with pytest.raises(ValidationError) as err:
        run(test_conn, params, path='/elsewhere')
    assert 'path' in err.value.msg and 'recreate' in err.value.msg
    assert state_of(test_conn)['path'] == params['path']


def test_path_change_with_recreate(test_conn, params):
    run(test_conn, params)
    result = run(test_conn, params, path='/elsewhere', recreate=True)
    assert result['changed'] is True
    assert result['diff'] == {'before': {'path': params['path']}, 'after': {'path': '/elsewhere'}}
    assert state_of(test_conn) == {'active': True, 'autostart': True, 'path': '/elsewhere', 'mode': None}


def test_mode_change_redefines_the_pool(test_conn, params):
    # An inactive pool: for an active one, libvirt keeps the new definition aside until the
    # pool is stopped; the storage driver then switches to it, the test driver does not.
    run(test_conn, params, mode='0711', active=False)
    uuid = test_conn.storagePoolLookupByName(NAME).UUIDString()
    result = run(test_conn, params, mode='0755', active=False)
    assert test_conn.storagePoolLookupByName(NAME).UUIDString() == uuid
    assert result['diff'] == {'before': {'mode': '0711'}, 'after': {'mode': '0755'}}
    assert state_of(test_conn)['mode'] == '0755'
    assert run(test_conn, params, mode='0755', active=False)['changed'] is False


def test_owner_change_keeps_state(test_conn, params):
    run(test_conn, params, owner=0, group=0, active=False, autostart=True)
    result = run(test_conn, params, owner=107, group=0, active=False, autostart=True)
    assert result['diff'] == {'before': {'owner': 0}, 'after': {'owner': 107}}
    assert result['resource']['owner'] == 107
    assert state_of(test_conn)['active'] is False and state_of(test_conn)['autostart'] is True


def test_create_without_path_fails_before_defining(test_conn, params):
    with pytest.raises(ValidationError, match='path is required'):
        run(test_conn, params, path=None)
    assert state_of(test_conn) is None


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


def test_failed_create_leaves_nothing_behind(test_conn, params):
    with pytest.raises(LibvirtCallError) as err:
        run(ConnWithFailingStart(test_conn), params)
    assert err.value.operation == 'start' and err.value.obj == NAME and err.value.hypervisor == 'hv1'
    assert state_of(test_conn) is None


def test_absent_removes_the_pool(test_conn, params):
    run(test_conn, params)
    predicted = run(test_conn, params, check_mode=True, state='absent')
    assert state_of(test_conn) is not None
    result = run(test_conn, params, state='absent')
    assert predicted['changed'] is result['changed'] is True
    assert predicted['diff'] == result['diff']
    assert result['diff']['after'] == {}
    assert result['diff']['before']['path'] == params['path']
    assert result['resource'] == {}
    assert state_of(test_conn) is None


def test_absent_removes_an_inactive_pool(test_conn, params):
    run(test_conn, params, active=False)
    assert run(test_conn, params, state='absent')['changed'] is True
    assert state_of(test_conn) is None


def test_absent_when_missing_is_no_change(test_conn, params):
    for check_mode in (True, False):
        result = run(test_conn, params, check_mode=check_mode, state='absent')
        assert result == {'changed': False, 'diff': {'before': {}, 'after': {}}, 'resource': {}}


def test_existing_default_pool_is_read(test_conn):
    pool = StoragePool(test_conn, 'hv1', {'name': 'default-pool'})
    current = pool.normalise(pool.find())
    assert current == {'type': 'dir', 'path': '/default-pool', 'mode': None, 'owner': None, 'group': None,
                       'active': True, 'autostart': False}
