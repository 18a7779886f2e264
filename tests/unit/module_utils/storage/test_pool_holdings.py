# -*- coding: utf-8 -*-
"""A pool in use, or holding what the cloud keeps, is not deleted (storage/usage.py,
storage/recorded.py and StoragePool.check), with ``delete_volumes`` as the deliberate way;
and the pool's own input: an absolute path, ids that are not negative.

On the test driver, which keeps pools and volumes in memory.
"""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import root_volume_name, seed_volume_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import reconcile
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.record import RECORD_VOLUME
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import base_volume_name, catalog_volume_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage import recorded
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import StoragePool, validate_params
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import kept_volumes, pool_users
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import data_name, record_name

from handles import handle

NAME = 'unit-held'
PATH = '/unit-held'
CHECKSUM = 'sha256:' + 'a' * 64


@pytest.fixture
def pool(hv1):
    """An active dir pool of hv1 at /unit-held, removed afterwards with whatever it holds."""
    made = hv1.about(NAME).storagePoolDefineXML(
        "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (NAME, PATH), 0)
    made.create(0)
    yield made
    found = hv1.pool(NAME)
    if found is not None:
        if found.isActive():
            for vol in found.listAllVolumes(0):
                vol.delete(0)
            found.destroy()
        found.undefine()


def add_volume(pool, name):
    return pool.about(name).createXML("<volume><name>%s</name><capacity unit='KiB'>64</capacity>"
                                      "<target><format type='raw'/></target></volume>" % name, 0)


def params(**changes):
    return dict(dict(name=NAME, type='dir', path=PATH, mode=None, owner=None, group=None, active=True,
                     autostart=False, state='absent', recreate=False, delete_volumes=False, hypervisors=None),
                **changes)


def absent(h, check_mode=False, **changes):
    return reconcile(StoragePool(h, params(**changes)), 'absent', check_mode)


@pytest.mark.parametrize('name, kind', [
    (data_name('db', 'qcow2'), 'data volume'), (record_name('db'), 'record of a volume'),
    (catalog_volume_name('tiny'), 'image catalog entry'), (base_volume_name(CHECKSUM, 'qcow2'), 'image base volume'),
    (RECORD_VOLUME, 'hypervisor record'), ('kvmcloud-lock.1', 'kvmcloud record'),
    (root_volume_name('web1'), 'server disk'), (seed_volume_name('web1'), 'server disk'),
    ('junk.raw', None), ('image-x.qcow2', None), ('sha256-short.qcow2', None),
])
def test_the_collection_knows_the_names_its_services_give_volumes(name, kind):
    assert recorded.kind_of(name) == kind


def test_kept_volumes_are_the_collections_only(pool):
    for name in (record_name('db'), data_name('db', 'qcow2'), RECORD_VOLUME, 'junk.raw'):
        add_volume(pool, name)
    assert kept_volumes(pool) == ['kvmcloud-hypervisor.json (hypervisor record)', 'volume-db.json (record of a volume)',
                                  'volume-db.qcow2 (data volume)']


def test_pool_users_are_found_by_path_in_live_and_persistent_descriptions(hv1, pool, test_conn):
    add_volume(pool, 'disk.raw')
    dom = test_conn.defineXML(
        "<domain type='test'><name>unit-user</name><memory unit='MiB'>16</memory><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'><source file='%s/disk.raw'/><target dev='vdb'/></disk>"
        "</devices></domain>" % PATH)
    try:
        assert pool_users(hv1, pool) == ['disk.raw (server unit-user as vdb)']
        pool.destroy()  # found by path: an inactive pool is checked too
        assert pool_users(hv1, pool) == ['disk.raw (server unit-user as vdb)']
        pool.create(0)
    finally:
        dom.undefine()
    assert pool_users(hv1, pool) == []


@pytest.mark.parametrize('check_mode', [True, False])
@pytest.mark.parametrize('delete_volumes', [False, True])
def test_a_pool_a_server_uses_is_not_deleted_even_with_delete_volumes(hv1, pool, test_conn, check_mode,
                                                                      delete_volumes):
    add_volume(pool, 'anything.raw')
    dom = test_conn.defineXML(
        "<domain type='test'><name>unit-user</name><memory unit='MiB'>16</memory><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'><source file='%s/anything.raw'/><target dev='vdc'/></disk>"
        "</devices></domain>" % PATH)
    try:
        with pytest.raises(ValidationError) as err:
            absent(hv1, check_mode, delete_volumes=delete_volumes)
    finally:
        dom.undefine()
    assert 'storage pool %s on hypervisor hv1 is in use, so it is not deleted (check mode too)' % NAME in err.value.msg
    assert 'anything.raw (server unit-user as vdc)' in err.value.msg
    assert err.value.details['in_use'] == ['anything.raw (server unit-user as vdc)']
    assert hv1.pool(NAME) is not None and [v.name() for v in pool.listAllVolumes(0)] == ['anything.raw']


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_pool_holding_the_clouds_volumes_is_not_deleted_without_delete_volumes(hv1, pool, check_mode):
    add_volume(pool, record_name('db'))
    with pytest.raises(ValidationError) as err:
        absent(hv1, check_mode)
    assert 'holds volumes of the cloud, so it is not deleted (check mode too): volume-db.json' in err.value.msg
    assert 'set delete_volumes: true' in err.value.msg
    assert hv1.pool(NAME).isActive()


def test_delete_volumes_deletes_the_pool_with_its_volumes(hv1, pool):
    add_volume(pool, record_name('db'))
    add_volume(pool, 'junk.raw')
    predicted = absent(hv1, True, delete_volumes=True)
    assert predicted.changed and hv1.pool(NAME) is not None
    assert absent(hv1, delete_volumes=True).changed
    assert hv1.pool(NAME) is None


def test_a_pool_without_the_clouds_volumes_is_undefined_and_its_files_kept(hv1, pool):
    add_volume(pool, 'junk.raw')
    assert absent(hv1).changed
    assert hv1.pool(NAME) is None


@pytest.mark.parametrize('delete_volumes', [False, True])
def test_an_inactive_pool_of_the_cloud_is_not_deleted_unseen(test_conn, pool, delete_volumes):
    h = handle(test_conn, volumes_pool=NAME)
    pool.destroy()
    with pytest.raises(ValidationError, match='is inactive, so the volumes in it cannot be checked'):
        absent(h, delete_volumes=delete_volumes)
    assert h.pool(NAME) is not None


def test_recreating_a_pool_elsewhere_is_refused_while_it_holds_the_clouds_volumes(hv1, pool):
    add_volume(pool, data_name('db', 'raw'))
    with pytest.raises(ValidationError, match='holds volumes of the cloud, so it is not recreated'):
        reconcile(StoragePool(hv1, params(state='present', path='/elsewhere', recreate=True)), 'present', False)
    assert hv1.pool(NAME).isActive()


@pytest.mark.parametrize('changes, message', [
    (dict(path='relative/dir'), "storage pool unit-held: path must be absolute, got 'relative/dir'"),
    (dict(path='~nobody'), 'path must be absolute'),
    (dict(owner=-1), 'owner must be a numeric user id, 0 or more, got -1'),
    (dict(group=-7), 'group must be a numeric group id, 0 or more, got -7'),
])
def test_bad_pool_input_is_refused_before_anything(hv1, changes, message):
    with pytest.raises(ValidationError) as err:
        validate_params(params(state='present', **changes))
    assert message in err.value.msg
    for check_mode in (True, False):
        with pytest.raises(ValidationError):
            reconcile(StoragePool(hv1, params(state='present', **changes)), 'present', check_mode)
    assert hv1.pool(NAME) is None


def test_good_pool_input_passes():
    validate_params(params(state='present', owner=0, group=0))
    validate_params(params(state='present', path=None))
