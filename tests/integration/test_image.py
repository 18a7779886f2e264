"""image and image_info against two namespaced test hypervisors: check -> apply -> check ->
apply, URLs from a local HTTP server, and failures that leave libvirt exactly as it was."""

import hashlib
import http.server
import json
import os
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected

pytestmark = pytest.mark.integration

NAME = 'kvmcloud-test-image'
IMAGES_POOL = 'kvmcloud-images'
VOLUMES_POOL = 'kvmcloud-volumes'
RECORD_VOLUME = 'kvmcloud-hypervisor.json'
OVERLAY = 'kvmcloud-test-overlay.qcow2'
MIB = 1024 * 1024


# -- helpers -------------------------------------------------------------------------------

def sha256_of(path):
    with open(path, 'rb') as handle:
        return 'sha256:' + hashlib.sha256(handle.read()).hexdigest()


def base_name(checksum, fmt):
    return '%s.%s' % (checksum.replace(':', '-'), fmt)


def qcow2_file(path, virtual='64M'):
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), virtual], check=True)
    return str(path)


def raw_file(path, size=MIB, fill=b'\0'):
    with open(path, 'wb') as handle:
        handle.write(fill * size)
    return str(path)


def qemu_img_info(path):
    out = subprocess.run(['qemu-img', 'info', '--output', 'json', '-U', path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class Cloud:
    """The two test hypervisors, the module arguments for them, and short-lived libvirt
    connections to look at what the modules did."""

    def __init__(self, hypervisors):
        self.hypervisors = hypervisors
        self.names = [hv['name'] for hv in hypervisors]
        self.definition = cloud_definition(hypervisors, [])

    def args(self, **extra):
        return dict({'cloud': self.definition, 'name': NAME}, **extra)

    def each(self, func, names=None):
        result = {}
        for hv in self.hypervisors:
            if names is not None and hv['name'] not in names:
                continue
            with connected(hv['uri']) as conn:
                result[hv['name']] = func(conn)
        return result

    def volumes(self):
        """Every volume of every active pool with its capacity, and the files in the pool
        directories: what a failed run must leave exactly as it was."""
        def snapshot(conn):
            pools = {}
            for pool in conn.listAllStoragePools(0):
                if pool.isActive():
                    path = ET.fromstring(pool.XMLDesc(0)).findtext('target/path')
                    pools[pool.name()] = {
                        'volumes': sorted((vol.name(), vol.info()[1]) for vol in pool.listAllVolumes(0)),
                        'files': sorted(os.listdir(path)),
                    }
            return pools
        return self.each(snapshot)

    def images_pool_volumes(self):
        return self.each(lambda conn: sorted(
            vol.name() for vol in conn.storagePoolLookupByName(IMAGES_POOL).listAllVolumes(0)
            if vol.name() != RECORD_VOLUME))

    def pool_dir(self, hv_name, pool=IMAGES_POOL):
        return self.each(lambda conn: ET.fromstring(
            conn.storagePoolLookupByName(pool).XMLDesc(0)).findtext('target/path'), [hv_name])[hv_name]

    def catalog(self, hv_name, name=NAME):
        path = os.path.join(self.pool_dir(hv_name), 'image-%s.json' % name)
        with open(path) as handle:
            return json.load(handle)


@pytest.fixture
def cl(test_hypervisors):
    """The test hypervisors; afterwards every volume the test added is removed again."""
    view = Cloud(test_hypervisors)

    def names(conn):
        return {pool.name(): {vol.name() for vol in pool.listAllVolumes(0)}
                for pool in conn.listAllStoragePools(0) if pool.isActive()}

    before = view.each(names)
    yield view

    def clean(conn, hv_name):
        # Overlays first: they use the base volumes.
        for pool_name in (VOLUMES_POOL, IMAGES_POOL):
            pool = conn.storagePoolLookupByName(pool_name)
            for vol in pool.listAllVolumes(0):
                if vol.name() not in before[hv_name][pool_name]:
                    vol.delete(0)

    for hv in test_hypervisors:
        with connected(hv['uri']) as conn:
            clean(conn, hv['name'])


class Server:
    """A small HTTP server on 127.0.0.1 serving ``files`` (path -> bytes). Below /truncated/
    it announces the full Content-Length and sends half of the body."""

    def __init__(self):
        self.files = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.0'

            def do_GET(self):  # noqa: N802 (the name http.server calls)
                outer.requests.append(self.path)
                truncated = self.path.startswith('/truncated/')
                body = outer.files.get(self.path.replace('/truncated/', '/', 1))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if truncated else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


DOMAIN = 'kvmcloud-test-image-user'


@pytest.fixture
def domain(cl):
    """Define (never start) a domain whose disk is a given file; undefined afterwards."""
    made = []

    def define(hv_name, disk_path):
        xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory>"
               "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
               "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
               "</disk></devices></domain>" % (DOMAIN, disk_path))
        cl.each(lambda conn: conn.defineXML(xml), [hv_name])
        made.append(hv_name)

    yield define
    cl.each(lambda conn: conn.lookupByName(DOMAIN).undefine(), made)


def make_overlay(cl, hv_name, base_path):
    """A qcow2 volume in the volumes pool backed by ``base_path``, made through libvirt."""
    xml = ("<volume><name>%s</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target>"
           "<backingStore><path>%s</path><format type='qcow2'/></backingStore></volume>" % (OVERLAY, base_path))
    cl.each(lambda conn: conn.storagePoolLookupByName(VOLUMES_POOL).createXML(xml, 0), [hv_name])


def assert_failed_without_trace(cl, result, before, *words):
    assert result['failed'], result
    assert result.get('changed') is False
    for word in words:
        assert word in result['msg'], result['msg']
    assert cl.volumes() == before


# -- registering ---------------------------------------------------------------------------

def test_qcow2_check_mode_stores_nothing_apply_stores_it_everywhere_and_reruns_change_nothing(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    checksum = sha256_of(path)
    base = base_name(checksum, 'qcow2')
    args = cl.args(filename=path, min_disk=1, min_ram=64, properties={'os_distro': 'busybox'})
    before = cl.volumes()

    first = run_module('image', args, check=True, diff=True)
    assert first['changed'] is True and not first['failed'], first
    assert cl.volumes() == before, 'check mode must not touch libvirt'
    assert first['hypervisors'] == cl.names
    assert set(first['diff']['after']) == set(cl.names)
    assert first['diff']['after'][cl.names[0]]['checksum'] == checksum

    second = run_module('image', args, diff=True)
    assert second['changed'] is True and not second['failed'], second
    assert second['diff'] == first['diff']
    image = second['image']
    assert image['checksum'] == checksum and image['base_volume'] == base
    assert (image['disk_format'], image['size'], image['virtual_size']) == ('qcow2', os.path.getsize(path), 64 * MIB)
    assert (image['min_disk'], image['min_ram'], image['properties']) == (1, 64, {'os_distro': 'busybox'})
    assert second['hypervisors'] == cl.names
    for hv_name, names in cl.images_pool_volumes().items():
        assert names == sorted([base, 'image-%s.json' % NAME])
        stored = os.path.join(cl.pool_dir(hv_name), base)
        info = qemu_img_info(stored)
        assert (info['format'], info['virtual-size']) == ('qcow2', 64 * MIB)
        assert sha256_of(stored) == checksum, 'the base volume holds exactly the uploaded bytes'
        assert cl.catalog(hv_name) == image

    third = run_module('image', args, check=True, diff=True)
    assert unchanged(third) and third['diff'] == {'before': {}, 'after': {}}
    assert third['image'] == image
    fourth = run_module('image', args)
    assert unchanged(fourth) and fourth['image'] == image

    info = run_module('image_info', {'cloud': cl.definition})
    assert unchanged(info)
    assert [dict(image, hypervisors=cl.names)] == [i for i in info['images'] if i['name'] == NAME]
    named = run_module('image_info', {'cloud': cl.definition, 'name': NAME, 'hypervisors': [cl.names[1]]})
    assert named['images'] == [dict(image, hypervisors=[cl.names[1]])]
    assert run_module('image_info', {'cloud': cl.definition, 'name': 'kvmcloud-test-none'})['images'] == []


def test_raw_image_is_stored_raw_and_a_rerun_without_its_format_changes_nothing(cl, tmp_path):
    path = raw_file(tmp_path / 'disk.img', size=2 * MIB)
    result = run_module('image', cl.args(filename=path, disk_format='raw'))
    assert result['changed'] and not result['failed'], result
    image = result['image']
    assert (image['disk_format'], image['size'], image['virtual_size']) == ('raw', 2 * MIB, 2 * MIB)
    assert image['base_volume'].endswith('.raw')
    for hv_name in cl.names:
        assert qemu_img_info(os.path.join(cl.pool_dir(hv_name), image['base_volume']))['format'] == 'raw'
    assert unchanged(run_module('image', cl.args(filename=path)))


def test_metadata_change_updates_only_the_catalog(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    run_module('image', cl.args(filename=path, min_ram=64))
    base = run_module('image_info', {'cloud': cl.definition, 'name': NAME})['images'][0]['base_volume']
    base_files = {hv: os.stat(os.path.join(cl.pool_dir(hv), base)).st_mtime_ns for hv in cl.names}

    args = cl.args(filename=path, min_ram=128, properties={'hw_rng': 'true'})
    predicted = run_module('image', args, check=True, diff=True)
    expected = {'before': {hv: {'min_ram': 64, 'properties': {}} for hv in cl.names},
                'after': {hv: {'min_ram': 128, 'properties': {'hw_rng': 'true'}} for hv in cl.names}}
    assert predicted['changed'] is True and predicted['diff'] == expected
    applied = run_module('image', args, diff=True)
    assert applied['diff'] == expected
    assert applied['image']['min_ram'] == 128 and applied['image']['properties'] == {'hw_rng': 'true'}
    assert {hv: os.stat(os.path.join(cl.pool_dir(hv), base)).st_mtime_ns for hv in cl.names} == base_files
    assert unchanged(run_module('image', args, check=True))


def test_known_checksum_and_size_skip_reading_the_file(cl, tmp_path):
    path = raw_file(tmp_path / 'disk.img')
    checksum = sha256_of(path)
    run_module('image', cl.args(filename=path, checksum=checksum))
    # Same size, other bytes: a run that read the file would fail on the checksum.
    raw_file(path, fill=b'\1')
    assert unchanged(run_module('image', cl.args(filename=path, checksum=checksum)))
    mismatch = run_module('image', cl.args(filename=path, checksum=checksum, min_ram=1))
    assert mismatch['changed'] is True, 'metadata changes need no content either'


def test_second_hypervisor_gets_the_image_later(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    first = run_module('image', cl.args(filename=path, hypervisors=[cl.names[0]]))
    assert first['hypervisors'] == [cl.names[0]]
    assert cl.images_pool_volumes()[cl.names[1]] == []
    both = run_module('image', cl.args(filename=path), diff=True)
    assert both['changed'] and list(both['diff']['after']) == [cl.names[1]]
    assert both['hypervisors'] == cl.names
    assert cl.catalog(cl.names[1])['registered_at'] == first['image']['registered_at']


# -- URLs ----------------------------------------------------------------------------------

def test_url_image_is_stored_everywhere_and_not_downloaded_again(cl, tmp_path, server):
    path = qcow2_file(tmp_path / 'tiny.qcow2', '32M')
    with open(path, 'rb') as handle:
        server.files['/tiny.qcow2'] = handle.read()
    checksum = sha256_of(path)
    args = cl.args(url=server.url('/tiny.qcow2'), checksum=checksum)

    predicted = run_module('image', args, check=True)
    assert predicted['changed'] is True and predicted['image']['virtual_size'] == 32 * MIB
    applied = run_module('image', args)
    assert applied['changed'] is True and not applied['failed'], applied
    assert applied['image']['checksum'] == checksum
    for hv_name in cl.names:
        assert sha256_of(os.path.join(cl.pool_dir(hv_name), applied['image']['base_volume'])) == checksum

    server.requests.clear()
    assert unchanged(run_module('image', args))
    assert unchanged(run_module('image', args, check=True))
    assert server.requests == [], 'a registered checksum is not downloaded again'


def test_url_with_bad_checksum_leaves_nothing(cl, server):
    server.files['/disk.img'] = b'\0' * MIB
    actual = 'sha256:' + hashlib.sha256(b'\0' * MIB).hexdigest()
    wrong = 'sha256:' + '0' * 64
    before = cl.volumes()
    result = run_module('image', cl.args(url=server.url('/disk.img'), checksum=wrong))
    assert_failed_without_trace(cl, result, before, 'checksum mismatch', wrong, actual)


def test_truncated_download_leaves_nothing(cl, server):
    body = b'\0' * MIB
    server.files['/disk.img'] = body
    checksum = 'sha256:' + hashlib.sha256(body).hexdigest()
    before = cl.volumes()
    result = run_module('image', cl.args(url=server.url('/truncated/disk.img'), checksum=checksum))
    assert_failed_without_trace(cl, result, before, 'truncated', 'received %d of %d bytes' % (MIB // 2, MIB),
                                checksum, 'sha256:' + hashlib.sha256(body[:MIB // 2]).hexdigest())


def test_url_needs_a_checksum(cl, server):
    result = run_module('image', cl.args(url=server.url('/disk.img')))
    assert result['failed'] and 'checksum' in result['msg']
    assert server.requests == []


# -- refusals that leave libvirt as it was -------------------------------------------------

def test_unknown_format_leaves_nothing(cl, tmp_path):
    path = tmp_path / 'disk.vmdk'
    path.write_bytes(b'KDMV' + b'\0' * 4092)
    before = cl.volumes()
    result = run_module('image', cl.args(filename=str(path)))
    assert_failed_without_trace(cl, result, before, 'unknown/unsupported format', 'vmdk')


def test_bad_checksum_for_a_file_leaves_nothing(cl, tmp_path):
    path = raw_file(tmp_path / 'disk.img')
    wrong = 'sha256:' + 'f' * 64
    before = cl.volumes()
    result = run_module('image', cl.args(filename=path, checksum=wrong))
    assert_failed_without_trace(cl, result, before, 'checksum mismatch', wrong, sha256_of(path))


def test_stated_format_must_match(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    before = cl.volumes()
    result = run_module('image', cl.args(filename=path, disk_format='raw'))
    assert_failed_without_trace(cl, result, before, 'disk_format raw was given', 'qcow2')


def test_invalid_name_fails(cl, tmp_path):
    result = run_module('image', cl.args(name='-bad name', filename=raw_file(tmp_path / 'disk.img')))
    assert result['failed'] and 'invalid image name' in result['msg']


def test_other_content_needs_force_and_replaces(cl, tmp_path):
    old = qcow2_file(tmp_path / 'old.qcow2', '64M')
    new = qcow2_file(tmp_path / 'new.qcow2', '128M')
    old_sum, new_sum = sha256_of(old), sha256_of(new)
    run_module('image', cl.args(filename=old, min_ram=64))
    before = cl.volumes()

    refused = run_module('image', cl.args(filename=new))
    assert_failed_without_trace(cl, refused, before, old_sum, new_sum, 'force: true')

    args = cl.args(filename=new, force=True)
    predicted = run_module('image', args, check=True, diff=True)
    assert predicted['changed'] is True
    assert predicted['diff']['after'][cl.names[0]] == {
        'base_volume': base_name(new_sum, 'qcow2'), 'checksum': new_sum, 'virtual_size': 128 * MIB}
    assert cl.volumes() == before
    replaced = run_module('image', args, diff=True)
    assert replaced['diff'] == predicted['diff']
    assert replaced['image']['checksum'] == new_sum and replaced['image']['min_ram'] == 64
    for names in cl.images_pool_volumes().values():
        assert names == sorted([base_name(new_sum, 'qcow2'), 'image-%s.json' % NAME])
    assert unchanged(run_module('image', args))


def test_in_use_image_is_not_removed_or_replaced(cl, tmp_path, domain):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    image = run_module('image', cl.args(filename=path))['image']
    make_overlay(cl, cl.names[1], os.path.join(cl.pool_dir(cl.names[1]), image['base_volume']))
    before = cl.volumes()

    removal = run_module('image', cl.args(state='absent'))
    assert_failed_without_trace(cl, removal, before, 'on hypervisor %s:' % cl.names[1], 'in use',
                                'volume %s/%s' % (VOLUMES_POOL, OVERLAY))
    assert cl.names[0] not in removal['msg']

    # A domain's disk uses it on the other hypervisor.
    domain(cl.names[0], os.path.join(cl.pool_dir(cl.names[0]), image['base_volume']))
    removal = run_module('image', cl.args(state='absent'))
    assert_failed_without_trace(cl, removal, before, 'on hypervisor %s:' % cl.names[0],
                                'domain %s (vda)' % DOMAIN, 'on hypervisor %s:' % cl.names[1])

    other = qcow2_file(tmp_path / 'other.qcow2', '16M')
    replacement = run_module('image', cl.args(filename=other, force=True))
    assert_failed_without_trace(cl, replacement, before, 'cannot be replaced', OVERLAY, DOMAIN)


# -- removing ------------------------------------------------------------------------------

def test_absent_removes_base_and_catalog(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    run_module('image', cl.args(filename=path))
    copy = run_module('image', cl.args(name=NAME + '-copy', filename=path))
    assert copy['changed']

    predicted = run_module('image', cl.args(state='absent'), check=True, diff=True)
    assert predicted['changed'] is True and predicted['hypervisors'] == [] and predicted['image'] == {}
    assert predicted['diff']['after'] == {hv: {} for hv in cl.names}
    gone = run_module('image', cl.args(state='absent'), diff=True)
    assert gone['changed'] is True and gone['diff'] == predicted['diff']
    base = copy['image']['base_volume']
    for names in cl.images_pool_volumes().values():
        assert names == sorted([base, 'image-%s-copy.json' % NAME]), 'the copy keeps the base volume'

    assert unchanged(run_module('image', cl.args(state='absent')))
    assert run_module('image', cl.args(name=NAME + '-copy', state='absent'))['changed'] is True
    assert cl.images_pool_volumes() == {hv: [] for hv in cl.names}
    assert [i for i in run_module('image_info', {'cloud': cl.definition})['images']
            if i['name'].startswith(NAME)] == []


# -- a failure on one hypervisor is undone on all ------------------------------------------

def test_failure_on_one_hypervisor_is_undone_everywhere(cl, tmp_path):
    path = qcow2_file(tmp_path / 'tiny.qcow2')
    # A dangling symlink where libvirt wants to create the base volume: creating it fails there,
    # and a pool refresh (libvirt runs one after every upload, a run's lock record's too) does
    # not list it as a volume, as it would a directory.
    blocker = os.path.join(cl.pool_dir(cl.names[1]), base_name(sha256_of(path), 'qcow2'))
    os.symlink('/nonexistent/kvmcloud-test-blocker', blocker)
    try:
        before = cl.volumes()
        result = run_module('image', cl.args(filename=path))
        assert_failed_without_trace(cl, result, before, 'failed on hypervisor %s:' % cl.names[1],
                                    'undone everywhere')
        assert result['failed_hypervisors'] == [cl.names[1]]
    finally:
        os.unlink(blocker)
    assert run_module('image', cl.args(filename=path))['changed'] is True
