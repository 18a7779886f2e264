# -*- coding: utf-8 -*-
"""server_volume's refusals (volume/attach.py, volume/disks.py): a volume attached to another
server, a device that is not a virtio name or is taken, and a server deleted under the module.

On the test driver: domains are defined with their disks, and the refusals come before any
device is plugged, so the test driver's lack of hot plug does not matter.
"""

from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import disks
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.attach import Attachment, run_server_volume
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import find_on

from handles import definition, handle

POOL = 'default-pool'


@pytest.fixture
def pool_volumes(test_conn):
    """volume-a and volume-b in the test driver's default-pool, removed afterwards."""
    pool = test_conn.storagePoolLookupByName(POOL)
    made = [pool.createXML("<volume><name>volume-%s.qcow2</name><capacity unit='MiB'>1</capacity>"
                           "<target><format type='qcow2'/></target></volume>" % name, 0) for name in ('a', 'b')]
    yield
    for vol in made:
        vol.delete(0)


@pytest.fixture
def servers(test_conn):
    """A function defining a server with disks ``{target: path}``; all undefined afterwards."""
    made = []

    def define(name, disks_by_target=None):
        devices = ''.join("<disk type='file' device='disk'><source file='%s'/><target dev='%s' bus='virtio'/></disk>"
                          % (path, target) for target, path in sorted((disks_by_target or {}).items()))
        dom = test_conn.defineXML("<domain type='test'><name>%s</name><memory unit='MiB'>16</memory>"
                                  "<os><type>hvm</type></os><devices>%s</devices></domain>" % (name, devices))
        made.append(name)
        return dom

    yield define
    for name in made:
        for dom in test_conn.listAllDomains():
            if dom.name() == name:
                dom.undefine()


def module(test_conn, check_mode=False, **params):
    hypervisors = [definition('hv1', volumes_pool=POOL)]
    return SimpleNamespace(
        params=dict(dict(server='unit-b', volume='a', device=None, hypervisor=None, state='present', wait=True,
                         wait_timeout=1), **params),
        check_mode=check_mode, wait=True, wait_timeout=1, cloud=CloudDefinition(hypervisors=hypervisors),
        connections=Connections(hypervisors, opener=lambda hv: handle(test_conn, hv.name, volumes_pool=POOL)))


@pytest.mark.parametrize('device', ['vdb', 'vdz', 'vdaa'])
def test_virtio_device_names_are_accepted(device):
    assert disks.validate_device(device) == device


@pytest.mark.parametrize('device', ['sdz', 'hda', 'vd1', 'VDB', 'vdb ', 'xvda', ''])
def test_other_device_names_are_refused_with_the_pattern(device):
    with pytest.raises(ValidationError) as err:
        disks.validate_device(device)
    assert err.value.msg == ("device %r is not a virtio disk name: volumes are attached on the virtio bus, as "
                             "vd[a-z]+ (vdb, vdc ...); use such a name, or leave device out for the first free one"
                             % device)


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_volume_attached_to_another_server_is_refused(test_conn, pool_volumes, servers, check_mode):
    servers('unit-a', {'vdb': '/default-pool/volume-a.qcow2'})
    other = servers('unit-b')
    with pytest.raises(ValidationError) as err:
        run_server_volume(module(test_conn, check_mode))
    assert err.value.msg == ('volume a is attached to server unit-a (as vdb); detach it from there first '
                             '(kvmcloud.cloud.server_volume state: absent) before attaching it to unit-b')
    assert err.value.details['attached_to'] == ['unit-a']
    assert '/default-pool/volume-a.qcow2' not in other.XMLDesc(0)


def test_a_volume_already_on_the_server_is_no_change(test_conn, pool_volumes, servers):
    servers('unit-b', {'vdb': '/default-pool/volume-a.qcow2'})
    result = run_server_volume(module(test_conn))
    assert result['changed'] is False and result['attachment']['device'] == 'vdb'


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_device_taken_by_another_disk_is_refused_naming_it(test_conn, pool_volumes, servers, check_mode):
    servers('unit-b', {'vdb': '/default-pool/volume-b.qcow2'})
    with pytest.raises(ValidationError) as err:
        run_server_volume(module(test_conn, check_mode, device='vdb'))
    assert err.value.msg == ('device vdb of server unit-b is taken by another disk, /default-pool/volume-b.qcow2; '
                             'choose another device, or leave device out for the first free one')


def test_a_bad_device_is_refused_before_the_server_is_looked_for(test_conn):
    with pytest.raises(ValidationError, match="device 'sdz' is not a virtio disk name"):
        run_server_volume(module(test_conn, device='sdz', server='nowhere'))


def test_detaching_from_a_server_that_is_gone_is_no_change(test_conn, pool_volumes):
    result = run_server_volume(module(test_conn, state='absent', server='unit-gone'))
    assert result['changed'] is False
    assert result['attachment'] == {'server': 'unit-gone', 'volume': 'a', 'hypervisor': None, 'attached': False,
                                    'live': None, 'device': None, 'serial': 'a'}


def test_attaching_to_a_server_that_is_gone_still_fails(test_conn, pool_volumes):
    with pytest.raises(ValidationError, match='server unit-gone was not found on any reachable hypervisor'):
        run_server_volume(module(test_conn, server='unit-gone'))


def test_a_server_deleted_under_the_module_is_a_clear_error(test_conn, pool_volumes, servers):
    dom = servers('unit-b', {'vdb': '/default-pool/volume-a.qcow2'})
    cm = module(test_conn, state='absent')
    h = cm.connections.get('hv1')
    attachment = Attachment(cm, h, h.domain('unit-b'), find_on(h, 'a'), cm.params)
    dom.undefine()
    with pytest.raises(KvmcloudError) as err:
        attachment.find()
    assert err.value.msg.startswith('server unit-b was deleted on hypervisor hv1, by something other than this run, '
                                    'while volume a was being detached from it; the volume and its record are kept')
    assert err.value.details['changed'] is True
