# -*- coding: utf-8 -*-
"""run_image and run_image_info on in-memory fake hypervisors: the whole flow, check mode,
and that a failure in any phase on one hypervisor is undone on all of them."""

import json
import struct
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import run_image, run_image_info

from image_disk_headers import qcow2


def _error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


class Stream:
    def __init__(self):
        self.vol, self.mode, self.length, self.sent = None, None, 0, []

    def sendAll(self, handler, opaque):
        while True:
            data = handler(self, 65536, opaque)
            if not data:
                return
            self.sent.append(data)

    def recvAll(self, handler, opaque):
        handler(self, self.vol.data[:self.length], opaque)

    def finish(self):
        if self.mode == 'upload':
            self.vol.data = b''.join(self.sent)
            self.vol.fmt = 'qcow2' if self.vol.data.startswith(b'QFI\xfb') else 'raw'

    def abort(self):
        pass


class Vol:
    def __init__(self, pool, name, backing=None):
        self.pool, self._name, self.data, self.fmt, self.backing = pool, name, b'', 'raw', backing

    def name(self):
        return self._name

    def path(self):
        return '/%s/%s' % (self.pool.name(), self._name)

    def XMLDesc(self, flags):
        backing = '<backingStore><path>%s</path></backingStore>' % self.backing if self.backing else ''
        return ("<volume><name>%s</name><target><path>%s</path><format type='%s'/></target>%s</volume>"
                % (self._name, self.path(), self.fmt, backing))

    def upload(self, stream, offset, length, flags):
        stream.vol, stream.mode = self, 'upload'

    def download(self, stream, offset, length, flags):
        stream.vol, stream.mode, stream.length = self, 'download', length

    def delete(self, flags):
        if self._name in self.pool.fail_delete:
            raise _error(libvirt.VIR_ERR_INTERNAL_ERROR, 'cannot delete %s' % self._name)
        del self.pool.vols[self._name]


class Pool:
    def __init__(self, name):
        self._name, self.vols = name, {}
        self.fail_create, self.fail_delete = set(), set()

    def name(self):
        return self._name

    def isActive(self):
        return 1

    def listAllVolumes(self, flags):
        return list(self.vols.values())

    def storageVolLookupByName(self, name):
        if name not in self.vols:
            raise _error(libvirt.VIR_ERR_NO_STORAGE_VOL, 'no vol %s' % name)
        return self.vols[name]

    def createXML(self, xml, flags):
        name = ET.fromstring(xml).findtext('name')
        if name in self.fail_create or name in self.vols:
            self.fail_create.discard(name)  # fails once
            raise _error(libvirt.VIR_ERR_INTERNAL_ERROR, 'cannot create %s' % name)
        self.vols[name] = Vol(self, name)
        return self.vols[name]


class Conn:
    def __init__(self):
        self.pools = {'kvmcloud-images': Pool('kvmcloud-images'), 'kvmcloud-volumes': Pool('kvmcloud-volumes')}

    def storagePoolLookupByName(self, name):
        if name not in self.pools:
            raise _error(libvirt.VIR_ERR_NO_STORAGE_POOL, 'no pool %s' % name)
        return self.pools[name]

    def listAllStoragePools(self, flags):
        return list(self.pools.values())

    def listAllDomains(self, flags):
        return []

    def newStream(self, flags):
        return Stream()

    def close(self):
        pass

    def images(self):
        return sorted(self.pools['kvmcloud-images'].vols)

    def entry(self, name='tiny'):
        vol = self.pools['kvmcloud-images'].vols.get('image-%s.json' % name)
        return json.loads(vol.data) if vol else None


def open_fake(conns, hv):
    """The handle of a fake hypervisor, as Connections opens it; a URI with no fake behind it
    cannot be opened, like a hypervisor that is down."""
    if hv.uri not in conns:
        raise LibvirtCallError('open', hv.uri, libvirt.VIR_ERR_SYSTEM_ERROR, 'cannot connect to %s' % hv.uri,
                               hypervisor=hv.name)
    return virt.Hypervisor(hv, conns[hv.uri])


@pytest.fixture
def conns():
    return {'fake://hv1': Conn(), 'fake://hv2': Conn()}


class WholeImages(SimpleNamespace):
    """The module wrapper's AnsibleModule, whose qemu-img finds every qcow2 file whole and of
    the virtual size its header says (test_image_check.py runs the real qemu-img)."""

    def __init__(self, tmp_path):
        super().__init__(tmpdir=str(tmp_path))

    def get_bin_path(self, name):
        return '/usr/bin/%s' % name

    def run_command(self, args):
        if args[1] == 'check':
            return 0, json.dumps({'check-errors': 0, 'format': 'qcow2'}), ''
        with open(args[-1], 'rb') as handle:
            size = struct.unpack('>Q', handle.read(32)[24:32])[0]
        return 0, json.dumps({'format': 'qcow2', 'virtual-size': size}), ''


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / 'tiny.qcow2'
    path.write_bytes(qcow2() + b'\1' * 5000)
    return str(path)


@pytest.fixture
def run(conns, tmp_path):
    """Run a module function against the fake hypervisors as the module wrapper would."""
    def run_with(func, check_mode=False, **params):
        base = {'name': 'tiny', 'state': 'present', 'filename': None, 'url': None, 'checksum': None,
                'disk_format': None, 'min_disk': None, 'min_ram': None, 'properties': None,
                'hypervisors': None, 'force': False, 'validate_certs': True, 'timeout': 10}
        base.update(params)
        cloud = CloudDefinition.from_params({'hypervisors': [{'name': 'hv1', 'uri': 'fake://hv1'},
                                                             {'name': 'hv2', 'uri': 'fake://hv2'}]})
        cm = SimpleNamespace(params=base, cloud=cloud, check_mode=check_mode,
                             connections=Connections(cloud.hypervisors, opener=lambda hv: open_fake(conns, hv)),
                             module=WholeImages(tmp_path))
        return func(cm)
    return run_with


def test_register_check_apply_check(run, conns, image_file):
    predicted = run(run_image, check_mode=True, filename=image_file)
    assert predicted['changed'] and predicted['hypervisors'] == ['hv1', 'hv2']
    assert all(conn.images() == [] for conn in conns.values())

    applied = run(run_image, filename=image_file)
    assert applied['changed'] and applied['diff'] == predicted['diff']
    base = applied['image']['base_volume']
    for conn in conns.values():
        assert conn.images() == sorted([base, 'image-tiny.json'])
        assert conn.entry() == applied['image']
    assert not run(run_image, check_mode=True, filename=image_file)['changed']
    info = run(run_image_info, name=None)
    assert info == {'changed': False, 'images': [dict(applied['image'], hypervisors=['hv1', 'hv2'])],
                    'unreachable_hypervisors': []}


def test_failed_catalog_write_is_undone_everywhere(run, conns, image_file):
    conns['fake://hv2'].pools['kvmcloud-images'].fail_create.add('image-tiny.json')
    with pytest.raises(KvmcloudError) as err:
        run(run_image, filename=image_file)
    assert err.value.msg.startswith('updating the catalog of image tiny (undone everywhere) failed on '
                                    'hypervisor hv2: ')
    assert err.value.details['failed_hypervisors'] == ['hv2'] and err.value.details['changed'] is False
    assert all(conn.images() == [] for conn in conns.values())


def test_failed_metadata_update_restores_the_old_entries(run, conns, image_file):
    old = run(run_image, filename=image_file, min_ram=64)['image']
    conns['fake://hv2'].pools['kvmcloud-images'].fail_create.add('image-tiny.json')
    with pytest.raises(KvmcloudError, match='undone everywhere'):
        run(run_image, filename=image_file, min_ram=128)
    # hv2's rewrite deleted the old entry before it failed: it is put back too.
    assert conns['fake://hv1'].entry() == old and conns['fake://hv2'].entry() == old


def test_failed_upload_is_undone(run, conns, image_file):
    checksum = run(run_image, check_mode=True, filename=image_file)['image']['base_volume']
    conns['fake://hv1'].pools['kvmcloud-images'].fail_create.add(checksum)
    with pytest.raises(KvmcloudError) as err:
        run(run_image, filename=image_file)
    assert 'uploading the base volume' in err.value.msg and 'failed on hypervisor hv1:' in err.value.msg
    assert all(conn.images() == [] for conn in conns.values())


def test_failed_removal_restores_the_entries(run, conns, image_file):
    old = run(run_image, filename=image_file)['image']
    conns['fake://hv2'].pools['kvmcloud-images'].fail_delete.add('image-tiny.json')
    with pytest.raises(KvmcloudError) as err:
        run(run_image, state='absent')
    assert 'undone everywhere)' in err.value.msg and err.value.details['undo_failures'] == []
    for conn in conns.values():
        assert conn.entry() == old and old['base_volume'] in conn.images()


def test_failed_removal_of_an_unused_base_is_reported_as_a_change(run, conns, image_file, tmp_path):
    run(run_image, filename=image_file)
    other = tmp_path / 'other.qcow2'
    other.write_bytes(qcow2(size=1 << 20))
    old_base = conns['fake://hv1'].entry()['base_volume']
    conns['fake://hv1'].pools['kvmcloud-images'].fail_delete.add(old_base)
    with pytest.raises(KvmcloudError) as err:
        run(run_image, filename=str(other), force=True)
    assert err.value.msg.startswith('removing the unused base volume of image tiny failed on hypervisor hv1')
    assert err.value.details['changed'] is True
    assert conns['fake://hv1'].entry()['virtual_size'] == 1 << 20


def test_backing_volume_in_any_pool_blocks_removal(run, conns, image_file):
    image = run(run_image, filename=image_file)['image']
    volumes = conns['fake://hv2'].pools['kvmcloud-volumes']
    volumes.vols['disk.qcow2'] = Vol(volumes, 'disk.qcow2', backing='/kvmcloud-images/' + image['base_volume'])
    with pytest.raises(ValidationError) as err:
        run(run_image, state='absent')
    assert err.value.msg == ('on hypervisor hv2: image tiny cannot be removed: its base volume %s is in use by '
                             'volume kvmcloud-volumes/disk.qcow2' % image['base_volume'])
    assert all(conn.entry() == image for conn in conns.values())


def test_missing_images_pool_is_named(run, conns, image_file):
    del conns['fake://hv2'].pools['kvmcloud-images']
    with pytest.raises(KvmcloudError) as err:
        run(run_image, filename=image_file)
    assert 'failed on hypervisor hv2' in err.value.msg and 'kvmcloud-images is missing' in err.value.msg
    assert conns['fake://hv1'].images() == []


def test_image_info_skips_an_unreachable_hypervisor_and_names_it(run, conns, image_file):
    image = run(run_image, filename=image_file)['image']
    del conns['fake://hv2']
    info = run(run_image_info, name=None)
    assert info['changed'] is False
    assert info['images'] == [dict(image, hypervisors=['hv1'])]
    assert len(info['unreachable_hypervisors']) == 1
    assert info['unreachable_hypervisors'][0].startswith('hv2: ')
    assert 'cannot connect to fake://hv2' in info['unreachable_hypervisors'][0]
    assert run(run_image_info, name='tiny')['images'] == [dict(image, hypervisors=['hv1'])]


def test_image_still_fails_on_an_unreachable_hypervisor(run, conns, image_file):
    del conns['fake://hv2']
    with pytest.raises(KvmcloudError) as err:
        run(run_image, filename=image_file)
    assert 'failed on hypervisor hv2' in err.value.msg and 'unreachable' in err.value.msg
    assert conns['fake://hv1'].images() == []
