# -*- coding: utf-8 -*-
"""What the volume module checks before it writes anything, in check mode alike
(volume/limits.py and Volume.check): the project's ``volumes`` and ``gigabytes`` quotas over
every hypervisor, the pool's capacity times the disk allocation ratio, a volume kept in its
project, and a size no smaller than the image's.

On the test driver: its ``default-pool`` is the volumes (and images) pool, and records are
given by volume name (the test driver has no volume streams).
"""

from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition, Project
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image import catalog
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import volumes
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import _when_full, run_volume

from handles import definition, handle

MIB = 1024 ** 2
GIB = 1024 ** 3
POOL = 'default-pool'
BASE = catalog.base_volume_name('sha256:' + 'b' * 64, 'qcow2')


@pytest.fixture
def made(test_conn, monkeypatch):
    """A function making volumes in the test driver's default-pool (removed afterwards), and the
    records and catalog entries (by volume name) that reading one gives."""
    pool = handle(test_conn).pool(POOL)
    names = []
    records = {}

    def make(name, size=MIB, record=None):
        pool.about(name).createXML("<volume><name>%s</name><capacity unit='bytes'>%d</capacity>"
                                   "<target><format type='qcow2'/></target></volume>" % (name, size), 0)
        names.append(name)
        if record is not None:
            records[name] = record

    def read_json(_h, vol, max_bytes=None):
        return records.get(vol.name())

    monkeypatch.setattr(volumes, 'read_json', read_json)
    monkeypatch.setattr(catalog, 'read_json', read_json)
    yield make
    for name in names:
        vol = pool.lookup('storageVolLookupByName', name)
        if vol is not None:
            vol.delete(0)


def volume(made, name, size=MIB, project=None):
    """Volume ``name`` in the pool with its record."""
    made(volumes.data_name(name, 'qcow2'), size)
    made(volumes.record_name(name), 64, record={'name': name, 'project': project})


def module(test_conn, quotas=None, unreachable=False, check_mode=False, ratio=1.0, **params):
    """What run_volume needs of a module: hv1, and hv2 on the same test driver (so a volume of
    hv1 is found on both: tests give hv1 only unless they need two), hv3 unreachable."""
    hypervisors = [definition('hv1', uri='test:///hv1', volumes_pool=POOL, images_pool=POOL,
                              disk_allocation_ratio=ratio)]
    if unreachable:
        hypervisors.append(definition('hv3', uri='test:///hv3'))

    def opener(hv):
        if hv.name == 'hv3':
            raise LibvirtCallError('open', hv.uri, 38, 'connection refused', hypervisor=hv.name)
        return handle(test_conn, hv.name, volumes_pool=POOL, images_pool=POOL, disk_allocation_ratio=ratio)

    cloud = CloudDefinition(hypervisors=hypervisors,
                            projects=[Project('demo', quotas=quotas or {}), Project('other')])
    return SimpleNamespace(
        params=dict(dict(name='new', size=None, format=None, image=None, clone='overlay', project=None,
                         hypervisor=None, state='present'), **params),
        check_mode=check_mode, cloud=cloud, connections=Connections(hypervisors, opener=opener))


def refusal(cm):
    with pytest.raises(KvmcloudError) as err:
        run_volume(cm)
    return err.value


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_new_volume_over_the_gigabytes_quota_is_refused(test_conn, made, check_mode):
    volume(made, 'old', project='demo')   # 1 MiB counts as 1 GiB
    volume(made, 'elsewhere', size=GIB)   # no project: not counted
    err = refusal(module(test_conn, {'gigabytes': 2}, check_mode=check_mode, size='1025M', project='demo'))
    assert isinstance(err, ValidationError)
    assert err.msg.startswith("volume new: quota exceeded for project 'demo': gigabytes limit 2, in use 1, "
                              "requested 2; delete volumes of the project or raise its quota")
    assert err.details['exceeded'] == [{'quota': 'gigabytes', 'limit': 2, 'in_use': 1, 'requested': 2}]
    assert volumes.find_on(handle(test_conn, volumes_pool=POOL), 'new') is None


def test_a_new_volume_over_the_volumes_quota_is_refused(test_conn, made):
    volume(made, 'old', project='demo')
    err = refusal(module(test_conn, {'volumes': 1}, size='1M', project='demo'))
    assert "quota exceeded for project 'demo': volumes limit 1, in use 1, requested 1" in err.msg


def test_a_volume_within_the_quotas_passes_in_check_mode(test_conn, made):
    volume(made, 'old', project='demo')
    result = run_volume(module(test_conn, {'volumes': 2, 'gigabytes': 2}, check_mode=True, size='1G',
                               project='demo'))
    assert result['changed'] is True


def test_servers_root_disks_do_not_count_and_boot_volumes_do(test_conn, made):
    made('server-web1-root.qcow2', 5 * GIB)
    volume(made, 'web2-root', size=GIB, project='demo')   # a boot volume is a data volume
    run_volume(module(test_conn, {'gigabytes': 2}, check_mode=True, size='1G', project='demo'))
    err = refusal(module(test_conn, {'gigabytes': 2}, check_mode=True, size='2G', project='demo'))
    assert 'gigabytes limit 2, in use 1, requested 2' in err.msg


def test_growing_counts_only_what_is_added(test_conn, made):
    volume(made, 'old', size=GIB, project='demo')
    cm = module(test_conn, {'gigabytes': 2}, check_mode=True, name='old', size='2G')
    assert run_volume(cm)['changed'] is True
    err = refusal(module(test_conn, {'gigabytes': 2}, check_mode=True, name='old', size='3G'))
    assert 'gigabytes limit 2, in use 1, requested 2' in err.msg


def test_usage_cannot_be_counted_while_a_hypervisor_is_unreachable(test_conn, made):
    volume(made, 'old', project='demo')
    err = refusal(module(test_conn, {'gigabytes': 10}, unreachable=True, check_mode=True, name='old', size='3G'))
    assert ("volume old: the quotas of project 'demo' cannot be checked while a hypervisor of the cloud is "
            "unreachable, since the volumes there count too: hypervisor hv3 (test:///hv3) is unreachable: "
            "connection refused") in err.msg
    assert err.details['unreachable_hypervisors'] == ['hv3']


def test_unlimited_quotas_need_no_usage(test_conn, made):
    volume(made, 'old', project='demo')
    assert run_volume(module(test_conn, unreachable=True, check_mode=True, name='old', size='3G'))['changed']


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_volume_past_the_pools_capacity_is_refused(test_conn, made, check_mode):
    capacity = handle(test_conn).pool(POOL).info()[1]
    volume(made, 'old', size=GIB)
    err = refusal(module(test_conn, check_mode=check_mode, size='%dB' % capacity))
    assert ('volume new: the pool default-pool on hypervisor hv1 cannot take %d more bytes: its volumes already have '
            '%d bytes of virtual size and it allows %d (capacity %d x disk_allocation_ratio 1.0)'
            % (capacity, GIB + 64, capacity, capacity)) in err.msg
    # Twice the capacity fits with a disk allocation ratio of 2.
    assert run_volume(module(test_conn, check_mode=True, ratio=2.0, size='%dB' % capacity))['changed'] is True


def test_growing_past_the_pools_capacity_is_refused(test_conn, made):
    capacity = handle(test_conn).pool(POOL).info()[1]
    volume(made, 'old', size=GIB)
    err = refusal(module(test_conn, check_mode=True, name='old', size='%dB' % capacity))
    assert 'cannot take %d more bytes' % (capacity - GIB) in err.msg


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_volume_is_not_moved_to_another_project(test_conn, made, check_mode):
    volume(made, 'old', project='demo')
    err = refusal(module(test_conn, check_mode=check_mode, name='old', project='other'))
    assert err.msg == ("volume 'old': changing project needs the volume to be recreated; delete and create it "
                       "again (it belongs to project 'demo')")


def test_a_volume_of_no_project_is_given_to_one_within_its_quota(test_conn, made):
    volume(made, 'old', size=GIB)
    assert run_volume(module(test_conn, {'gigabytes': 1}, check_mode=True, name='old', project='demo'))['changed']
    volume(made, 'mine', size=GIB, project='demo')
    err = refusal(module(test_conn, {'gigabytes': 1}, check_mode=True, name='old', project='demo'))
    assert 'gigabytes limit 1, in use 1, requested 1' in err.msg


def image(made, size=64 * MIB):
    made(BASE, size)
    made(catalog.catalog_volume_name('img'), 64, record={'name': 'img', 'base_volume': BASE})


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_volume_smaller_than_its_image_is_refused(test_conn, made, check_mode):
    image(made)
    err = refusal(module(test_conn, check_mode=check_mode, image='img', size='32M'))
    assert err.msg == ("volume new: size %d bytes is smaller than the virtual size of image img, %d bytes (0.062 GiB); "
                       "leave size out to get the image's size, or give at least that" % (32 * MIB, 64 * MIB))


def test_a_volume_from_an_image_counts_the_images_size(test_conn, made):
    image(made, size=GIB + 1)
    err = refusal(module(test_conn, {'gigabytes': 1}, check_mode=True, image='img', project='demo'))
    assert 'gigabytes limit 1, in use 0, requested 2' in err.msg


def test_an_unknown_image_is_refused_in_check_mode_too(test_conn, made):
    err = refusal(module(test_conn, check_mode=True, image='nope'))
    assert 'image nope is not registered on hypervisor hv1' in err.msg


def test_a_full_pool_says_so_and_how_much_is_free(test_conn):
    h = handle(test_conn, volumes_pool=POOL)
    pool = h.pool(POOL)
    err = LibvirtCallError('create volume', 'volume-x.json', 38, "cannot allocate 200 bytes in file "
                           "'/default-pool/volume-x.json': No space left on device", hypervisor='hv1')
    assert _when_full(err, h, pool) is err
    assert err.msg.endswith("No space left on device (libvirt error code 38); the pool default-pool on hypervisor hv1 "
                            "is full (%d bytes available), and nothing of the volume was kept; free space in the pool "
                            "or use another hypervisor" % pool.info()[3])
    other = LibvirtCallError('create volume', 'volume-x.json', 1, 'permission denied', hypervisor='hv1')
    assert _when_full(other, h, pool).msg == other.msg and 'full' not in other.msg
