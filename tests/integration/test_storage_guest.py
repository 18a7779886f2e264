"""Images and volumes end to end, with a running tiny guest, on a namespaced test hypervisor
and on this machine's own libvirt (qemu:///system): the tiny image registered, two overlays
sharing its base, a guest booted from one of them printing kvmcloud-ready, and a data volume
hot-plugged, grown, unplugged and kept across a restart, as the guest's console reports."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from ansible_run import run_module
from cloud_fixture import cloud_definition, connected, remove_prefixed
from guests import read_console, seed_iso, tiny_guest_xml, upload_volume, wait_for_console
from testhv import IMAGES_POOL

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-test-'
IMAGE = PREFIX + 'tiny'
SERVER = PREFIX + 'guest'
DATA = PREFIX + 'data'
SEED = PREFIX + 'seed.iso'
BOOT_TIMEOUT = 120
MIB = 1024 ** 2
# Volumes named after the test's things, removed from the pools afterwards.
SWEPT_VOLUMES = ('volume-' + PREFIX, PREFIX, 'image-' + PREFIX)


@pytest.fixture(params=['namespaced', 'system'])
def target(request, test_hypervisors, tiny_image_file):
    """A hypervisor to work on, and where its guest's console log goes."""
    if request.param == 'namespaced':
        hv = test_hypervisors[0]
        chosen = {'name': hv['name'], 'uri': hv['uri'], 'console': Path(hv['dir']) / (SERVER + '.console.log')}
    else:
        if not os.path.exists('/run/libvirt/libvirt-sock'):
            pytest.skip("this machine's libvirtd does not run (make test converges the hypervisor role first)")
        chosen = {'name': 'local', 'uri': 'qemu:///system',
                  'console': Path('/var/log/libvirt/qemu') / (SERVER + '.console.log')}
    yield chosen
    clean_up(chosen)


def clean_up(target):
    remove_prefixed(target['uri'], PREFIX, volumes=SWEPT_VOLUMES)
    # The image module removes the base volume once nothing uses it.
    removed = run_module('image', {'cloud': cloud(target), 'name': IMAGE, 'state': 'absent'})
    assert not removed['failed'], removed
    remove_prefixed(target['uri'], PREFIX, volumes=SWEPT_VOLUMES, pools=[IMAGES_POOL])


def cloud(target):
    return cloud_definition([target], [])


def backing_file(path):
    info = subprocess.run(['qemu-img', 'info', '--output=json', '-U', path], capture_output=True, text=True, check=True)
    return json.loads(info.stdout).get('backing-filename')


def boot_guest(target, root_path):
    """Define and start a guest on the overlay with a NoCloud seed; its console log path."""
    with connected(target['uri']) as conn:
        pool = conn.storagePoolLookupByName('kvmcloud-volumes')
        seed = upload_volume(conn, pool, SEED, seed_iso({
            'meta-data': 'instance-id: iid-storage-guest\nlocal-hostname: storage-guest\n',
            'user-data': '#cloud-config\nruncmd:\n  - echo storage guest up\n'}))
        target['console'].unlink(missing_ok=True)
        xml = tiny_guest_xml(SERVER, root_path, target['console'], seed=seed.path())
        conn.defineXML(xml).create()


def restart(target):
    with connected(target['uri']) as conn:
        dom = conn.lookupByName(SERVER)
        dom.shutdown()
        deadline = time.monotonic() + 60
        while dom.isActive():
            assert time.monotonic() < deadline, 'the guest did not power off'
            time.sleep(0.25)
        dom.create()


def test_a_guest_on_an_image_overlay_sees_its_volume_hot_plugged_grown_and_unplugged(target, tiny_image_file):
    c = cloud(target)
    image = run_module('image', {'cloud': c, 'name': IMAGE, 'filename': str(tiny_image_file)})
    assert not image['failed'], image

    roots = [run_module('volume', {'cloud': c, 'name': PREFIX + 'root%d' % n, 'image': IMAGE, 'size': '64M'})
             for n in (1, 2)]
    for root in roots:
        assert not root['failed'], root
    base_paths = {root['volume']['backing_file'] for root in roots}
    assert len(base_paths) == 1, 'both overlays must share one base volume'
    base_path = base_paths.pop()
    assert os.path.basename(base_path) == image['image']['base_volume']
    for root in roots:
        # qemu-img itself shows the base behind each overlay: the image was not copied.
        assert backing_file(root['volume']['path']) == base_path
        assert root['volume']['allocation'] < 4 * MIB

    full = run_module('volume', {'cloud': c, 'name': PREFIX + 'full', 'image': IMAGE, 'clone': 'full'})
    assert not full['failed'], full
    assert full['volume']['backing_file'] is None and backing_file(full['volume']['path']) is None
    assert full['volume']['clone'] == 'full' and full['volume']['image'] == IMAGE

    refused = run_module('image', {'cloud': c, 'name': IMAGE, 'state': 'absent'})
    assert refused['failed'] and 'root1' in refused['msg']

    boot_guest(target, roots[0]['volume']['path'])
    console = target['console']
    wait_for_console(console, r'^kvmcloud-ready iid-storage-guest$', BOOT_TIMEOUT)
    assert 'kvmcloud-hostname storage-guest' in read_console(console)

    run_module('volume', {'cloud': c, 'name': DATA, 'size': '32M'})
    mark = len(read_console(console))
    attached = run_module('server_volume', {'cloud': c, 'server': SERVER, 'volume': DATA})
    assert attached['changed'] and attached['attachment']['device'] == 'vdb', attached
    wait_for_console(console, r'^kvmcloud-disk-added vdb serial=%s sectors=65536$' % DATA, 30, after=mark)

    mark = len(read_console(console))
    grown = run_module('volume', {'cloud': c, 'name': DATA, 'size': '48M'})
    assert grown['changed'] and grown['volume']['size'] == 48 * MIB
    wait_for_console(console, r'^kvmcloud-disk-added vdb serial=%s sectors=98304$' % DATA, 30, after=mark)

    mark = len(read_console(console))
    detached = run_module('server_volume', {'cloud': c, 'server': SERVER, 'volume': DATA, 'state': 'absent'})
    assert detached['changed'] and not detached['failed'], detached
    wait_for_console(console, r'^kvmcloud-disk-removed vdb serial=%s' % DATA, 30, after=mark)

    # Attached again, the disk is in the persistent config and comes back after a restart.
    run_module('server_volume', {'cloud': c, 'server': SERVER, 'volume': DATA})
    mark = len(read_console(console))
    restart(target)
    wait_for_console(console, r'^kvmcloud-disk vdb serial=%s sectors=98304$' % DATA, BOOT_TIMEOUT, after=mark)
    wait_for_console(console, r'^kvmcloud-ready iid-storage-guest$', BOOT_TIMEOUT, after=mark)

    # Detached again, it stays away after the next restart.
    detached = run_module('server_volume', {'cloud': c, 'server': SERVER, 'volume': DATA, 'state': 'absent'})
    assert detached['changed'] and not detached['failed'], detached
    mark = len(read_console(console))
    restart(target)
    ready = wait_for_console(console, r'^kvmcloud-ready iid-storage-guest$', BOOT_TIMEOUT, after=mark)
    assert 'serial=%s' % DATA not in read_console(console)[mark:ready.start()]
    assert re.search(r'^kvmcloud-disk vda ', read_console(console)[mark:], re.MULTILINE)
