# -*- coding: utf-8 -*-
"""The image service's pure parts: format detection, checksums, names, planning, merging,
and the download against a fake server."""

import hashlib
import io
from http.client import IncompleteRead
from urllib.error import HTTPError

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import diff_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image import plan as image_plan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import (
    base_volume_name, catalog_volume_name, validate_name)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.download import DownloadError, download
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.files import (
    UnsupportedFormat, check_disk_format, detect_format, inspect_file, parse_checksum, virtual_size)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.plan import Host, plan_image
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import merge_images
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import backing_path, domain_users

from image_disk_headers import qcow2

SUM_A = 'sha256:' + 'a' * 64
SUM_B = 'sha256:' + 'b' * 64
BASE_A = 'sha256-' + 'a' * 64 + '.qcow2'
BASE_B = 'sha256-' + 'b' * 64 + '.qcow2'


def at(offset, magic, length=0x9100):
    data = bytearray(length)
    data[offset:offset + len(magic)] = magic
    return bytes(data)


# -- format detection ----------------------------------------------------------------------

def test_qcow2_is_detected():
    assert detect_format(qcow2()) == 'qcow2'
    assert detect_format(qcow2(version=2)) == 'qcow2'
    assert virtual_size('qcow2', qcow2(size=12345 * 512), 4096) == 12345 * 512


def test_raw_is_content_without_magic():
    assert detect_format(b'\0' * 0x9100) == 'raw'
    mbr = bytearray(0x9100)
    mbr[0:3] = b'\xeb\x63\x90'
    mbr[510:512] = b'\x55\xaa'
    assert detect_format(bytes(mbr)) == 'raw'
    assert detect_format(b'') == 'raw'
    assert detect_format(b'BZx' + b'\0' * 100) == 'raw'  # "BZh" needs a block size digit
    assert virtual_size('raw', b'', 1536) == 1536


@pytest.mark.parametrize('head, what', [
    (at(0, b'KDMV'), 'vmdk'),
    (at(0, b'# Disk DescriptorFile\nversion=1'), 'vmdk (descriptor)'),
    (at(0, b'<<< Oracle VM VirtualBox Disk Image >>>\n'), 'vdi'),
    (at(0x40, b'\x7f\x10\xda\xbe'), 'vdi'),
    (at(0, b'vhdxfile'), 'vhdx'),
    (at(0, b'conectix'), 'vhd'),
    (at(0, b'QED\x00'), 'qed'),
    (at(0, b'LUKS\xba\xbe'), 'luks'),
    (at(0x8001, b'CD001'), 'iso9660'),
    (at(0x8801, b'CD001'), 'iso9660'),
    (at(0x9001, b'CD001'), 'iso9660'),
    (at(0, b'\x1f\x8b\x08'), 'gzip-compressed'),
    (at(0, b'\xfd7zXZ\x00'), 'xz-compressed'),
    (at(0, b'PK\x03\x04'), 'zip archive'),
    (at(0, b'BZh9'), 'bzip2-compressed'),
    (at(0, b'\x28\xb5\x2f\xfd'), 'zstd-compressed'),
])
def test_known_other_formats_are_refused(head, what):
    with pytest.raises(UnsupportedFormat) as err:
        detect_format(head, source='disk.img')
    assert 'unknown/unsupported format' in err.value.msg
    assert what in err.value.msg and 'disk.img' in err.value.msg


def test_fixed_vhd_is_found_by_its_footer():
    tail = b'conectix' + b'\0' * 504
    with pytest.raises(UnsupportedFormat, match=r'vhd \(fixed\)'):
        detect_format(b'\0' * 4096, tail)
    assert detect_format(b'\0' * 4096, b'\0' * 512) == 'raw'


@pytest.mark.parametrize('header, words', [
    (qcow2(version=1), ['qcow version 1', 'unknown/unsupported format']),
    (qcow2(backing=512), ['backing file', 'self-contained']),
    (qcow2(incompatible=4), ['external data file']),
    (qcow2(crypt=1), ['encrypted']),
    (b'QFI\xfb\0\0\0\3', ['truncated', 'unknown/unsupported format']),
])
def test_qcow2_that_is_not_self_contained_is_refused(header, words):
    with pytest.raises(UnsupportedFormat) as err:
        detect_format(header)
    for word in words:
        assert word in err.value.msg


def test_other_incompatible_features_are_fine():
    assert detect_format(qcow2(incompatible=1)) == 'qcow2'  # dirty bit
    assert detect_format(qcow2(version=2, incompatible=4)) == 'qcow2'  # v2 has no feature field


def test_stated_format_must_match():
    check_disk_format(None, 'raw')
    check_disk_format('qcow2', 'qcow2')
    with pytest.raises(ValidationError, match='disk_format raw was given, but x.img is qcow2'):
        check_disk_format('raw', 'qcow2', 'x.img')


def test_inspect_file(tmp_path):
    path = tmp_path / 'disk.qcow2'
    data = qcow2(size=1 << 30) + b'\1' * (3 * 1024 * 1024)  # more than one read chunk
    path.write_bytes(data)
    checksum = 'sha256:' + hashlib.sha256(data).hexdigest()
    content = inspect_file(str(path))
    assert content.as_dict() == {'checksum': checksum, 'disk_format': 'qcow2',
                                 'size': len(data), 'virtual_size': 1 << 30}
    assert inspect_file(str(path), checksum, 'qcow2') == content


def test_inspect_file_checks_checksum_and_format(tmp_path):
    path = tmp_path / 'disk.raw'
    path.write_bytes(b'\0' * 1000)
    actual = 'sha256:' + hashlib.sha256(b'\0' * 1000).hexdigest()
    with pytest.raises(ValidationError) as err:
        inspect_file(str(path), SUM_A)
    assert 'checksum mismatch' in err.value.msg and SUM_A in err.value.msg and actual in err.value.msg
    with pytest.raises(ValidationError, match='disk_format qcow2 was given'):
        inspect_file(str(path), actual, 'qcow2')
    with pytest.raises(ValidationError, match='cannot read'):
        inspect_file(str(tmp_path / 'missing'))


def test_inspect_file_reads_the_tail(tmp_path):
    path = tmp_path / 'fixed.vhd'
    path.write_bytes(b'\0' * 100000 + b'conectix' + b'\0' * 504)
    with pytest.raises(UnsupportedFormat, match='vhd'):
        inspect_file(str(path))


# -- checksums and names -------------------------------------------------------------------

def test_parse_checksum():
    assert parse_checksum(SUM_A) == SUM_A
    assert parse_checksum('sha256:' + 'AB' * 32) == 'sha256:' + 'ab' * 32
    assert parse_checksum(' %s ' % SUM_B) == SUM_B
    assert parse_checksum(None) is None


@pytest.mark.parametrize('value, hint', [
    ('a' * 64, None),
    ('sha256:' + 'a' * 63, None),
    ('sha256:' + 'g' * 64, None),
    ('sha256:', None),
    ('md5:d41d8cd98f00b204e9800998ecf8427e', 'only sha256 is supported'),
    ('sha512:' + 'a' * 128, 'only sha256 is supported'),
])
def test_bad_checksums(value, hint):
    with pytest.raises(ValidationError) as err:
        parse_checksum(value)
    assert 'sha256:<64 hex digits>' in err.value.msg
    if hint:
        assert hint in err.value.msg


@pytest.mark.parametrize('name', ['a', 'tiny', 'debian-12.5_genericcloud', '9lives', 'A' * 63, 'x.y-z_1'])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize('name', ['', '-tiny', '.hidden', '_x', 'a' * 65, 'with space', 'slash/name',
                                  'colon:name', 'ünïcode', None, 42])
def test_invalid_names(name):
    with pytest.raises(ValidationError, match='invalid image name'):
        validate_name(name)


def test_volume_names():
    assert catalog_volume_name('tiny') == 'image-tiny.json'
    assert base_volume_name(SUM_A, 'qcow2') == BASE_A
    assert base_volume_name(SUM_B, 'raw') == 'sha256-' + 'b' * 64 + '.raw'


# -- planning ------------------------------------------------------------------------------

def entry(checksum=SUM_A, base=BASE_A, name='tiny', **extra):
    values = {'name': name, 'checksum': checksum, 'disk_format': 'qcow2', 'size': 1000,
              'virtual_size': 1 << 26, 'base_volume': base, 'min_disk': 0, 'min_ram': 0,
              'properties': {}, 'registered_at': '2024-01-01T00:00:00Z'}
    values.update(extra)
    return values


def desired(checksum=SUM_A, base=BASE_A, **metadata):
    values = {'name': 'tiny', 'checksum': checksum, 'disk_format': 'qcow2', 'size': 1000,
              'virtual_size': 1 << 26, 'base_volume': base, 'registered_at': '2024-06-01T00:00:00Z',
              'min_disk': None, 'min_ram': None, 'properties': None}
    values.update(metadata)
    return values


def test_new_image_is_uploaded_and_registered():
    plans = plan_image('tiny', desired(min_ram=64), {'hv1': Host(), 'hv2': Host()})
    for plan in plans.values():
        assert plan.upload == BASE_A and plan.remove_base is None and not plan.remove_entry
        assert plan.write == entry(min_ram=64, registered_at='2024-06-01T00:00:00Z')
        assert plan.before == {} and 'registered_at' not in plan.after
        assert plan.after == image_plan.shown(plan.write)


def test_new_name_for_content_already_there_is_not_uploaded():
    plans = plan_image('tiny', desired(), {'hv1': Host(volumes=frozenset([BASE_A]))})
    assert plans['hv1'].upload is None and plans['hv1'].write['base_volume'] == BASE_A


def test_same_content_and_metadata_is_no_change():
    hosts = {'hv1': Host(entry=entry(min_ram=64), volumes=frozenset([BASE_A]))}
    plans = plan_image('tiny', desired(), hosts)
    assert not plans['hv1']
    assert not plan_image('tiny', desired(min_ram=64, properties={}), hosts)['hv1']
    assert diff_of(plans) == {'before': {}, 'after': {}}


def test_metadata_change_rewrites_only_the_entry():
    hosts = {'hv1': Host(entry=entry(min_ram=64, properties={'a': '1'}), volumes=frozenset([BASE_A]))}
    plan = plan_image('tiny', desired(min_disk=2, min_ram=64, properties={'b': '2'}), hosts)['hv1']
    assert plan.upload is None and plan.remove_base is None
    assert plan.before == {'min_disk': 0, 'properties': {'a': '1'}}
    assert plan.after == {'min_disk': 2, 'properties': {'b': '2'}}
    assert plan.write == entry(min_disk=2, min_ram=64, properties={'b': '2'})  # registered_at kept


def test_missing_base_volume_is_restored():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset())}
    plan = plan_image('tiny', desired(), hosts)['hv1']
    assert plan.upload == BASE_A and plan.write is None
    assert (plan.before, plan.after) == ({'base_volume_present': False}, {'base_volume_present': True})


def test_other_content_needs_force():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A])),
             'hv2': Host(entry=entry(), volumes=frozenset([BASE_A])), 'hv3': Host()}
    with pytest.raises(ValidationError) as err:
        plan_image('tiny', desired(SUM_B, BASE_B), hosts)
    assert err.value.msg.startswith('on hypervisors hv1, hv2: ')
    assert SUM_A in err.value.msg and SUM_B in err.value.msg and 'force: true' in err.value.msg
    assert err.value.details['refused_hypervisors'] == ['hv1', 'hv2']


def test_force_replaces_and_removes_the_old_base():
    hosts = {'hv1': Host(entry=entry(min_ram=64), volumes=frozenset([BASE_A]))}
    plan = plan_image('tiny', desired(SUM_B, BASE_B), hosts, force=True)['hv1']
    assert plan.upload == BASE_B and plan.remove_base == BASE_A
    assert plan.write == entry(SUM_B, BASE_B, min_ram=64, registered_at='2024-06-01T00:00:00Z')
    assert plan.before == {'base_volume': BASE_A, 'checksum': SUM_A}
    assert plan.after == {'base_volume': BASE_B, 'checksum': SUM_B}


def test_force_keeps_an_old_base_another_image_uses():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A, BASE_B]), references={BASE_A: ('other',)})}
    plan = plan_image('tiny', desired(SUM_B, BASE_B), hosts, force=True)['hv1']
    assert plan.upload is None and plan.remove_base is None and plan.write['checksum'] == SUM_B


def test_force_refuses_while_the_old_base_is_in_use():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A]),
                         users={BASE_A: ('domain web (vda)', 'volume kvmcloud-volumes/x.qcow2')})}
    with pytest.raises(ValidationError) as err:
        plan_image('tiny', desired(SUM_B, BASE_B), hosts, force=True)
    assert err.value.msg == ('on hypervisor hv1: image tiny cannot be replaced: its base volume %s is in use '
                             'by domain web (vda), volume kvmcloud-volumes/x.qcow2' % BASE_A)


def test_absent():
    assert not plan_image('tiny', None, {'hv1': Host()})['hv1']
    plan = plan_image('tiny', None, {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A]))})['hv1']
    assert plan.remove_entry and plan.remove_base == BASE_A and plan.write is None and plan.upload is None
    assert plan.before == image_plan.shown(entry()) and plan.after == {}


def test_absent_keeps_a_base_another_image_uses_even_while_in_use():
    host = Host(entry=entry(), volumes=frozenset([BASE_A]), references={BASE_A: ('copy',)},
                users={BASE_A: ('domain web (vda)',)})
    plan = plan_image('tiny', None, {'hv1': host})['hv1']
    assert plan.remove_entry and plan.remove_base is None


def test_absent_refuses_while_in_use():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A]), users={BASE_A: ('domain web (vda)',)}),
             'hv2': Host(entry=entry(), volumes=frozenset([BASE_A]))}
    with pytest.raises(ValidationError) as err:
        plan_image('tiny', None, hosts)
    assert err.value.msg == ('on hypervisor hv1: image tiny cannot be removed: its base volume %s is in use '
                             'by domain web (vda)' % BASE_A)


def test_base_that_may_go():
    host = Host(entry=entry(), volumes=frozenset([BASE_A]))
    assert image_plan.base_that_may_go('tiny', None, host, False) == BASE_A
    assert image_plan.base_that_may_go('tiny', None, Host(), False) is None
    assert image_plan.base_that_may_go('tiny', desired(SUM_B, BASE_B), host, True) == BASE_A
    assert image_plan.base_that_may_go('tiny', desired(SUM_B, BASE_B), host, False) is None
    assert image_plan.base_that_may_go('tiny', desired(), host, True) is None
    shared = Host(entry=entry(), volumes=frozenset([BASE_A]), references={BASE_A: ('copy',)})
    assert image_plan.base_that_may_go('tiny', None, shared, False) is None


def test_needs_content():
    full = Host(entry=entry(), volumes=frozenset([BASE_A]))
    assert not image_plan.needs_content({'hv1': full, 'hv2': full}, SUM_A)
    assert not image_plan.needs_content({'hv1': full}, SUM_A, size=1000)
    assert image_plan.needs_content({'hv1': full}, SUM_A, size=1001)
    assert image_plan.needs_content({'hv1': full}, None)
    assert image_plan.needs_content({'hv1': full}, SUM_B)
    assert image_plan.needs_content({'hv1': full, 'hv2': Host()}, SUM_A)
    assert image_plan.needs_content({'hv1': Host(entry=entry())}, SUM_A)  # base volume missing


def test_content_and_registration_time_from_the_catalog():
    hosts = {'hv1': Host(), 'hv2': Host(entry=entry(registered_at='2024-03-01T00:00:00Z')),
             'hv3': Host(entry=entry(registered_at='2024-02-01T00:00:00Z')), 'hv4': Host(entry=entry(SUM_B))}
    assert image_plan.content_from_catalog(hosts, SUM_A) == {
        'checksum': SUM_A, 'disk_format': 'qcow2', 'size': 1000, 'virtual_size': 1 << 26, 'base_volume': BASE_A}
    assert image_plan.content_from_catalog({'hv1': Host()}, SUM_A) is None
    assert image_plan.registered_at(hosts, SUM_A, 'now') == '2024-02-01T00:00:00Z'
    assert image_plan.registered_at(hosts, 'sha256:' + 'c' * 64, 'now') == 'now'


def test_predicted_entries_and_diff():
    hosts = {'hv1': Host(entry=entry(), volumes=frozenset([BASE_A])), 'hv2': Host()}
    plans = plan_image('tiny', desired(), hosts)
    predicted = image_plan.predicted_entries(hosts, plans)
    assert predicted['hv1'] == entry() and predicted['hv2']['registered_at'] == '2024-06-01T00:00:00Z'
    assert list(diff_of(plans)['after']) == ['hv2']
    gone = plan_image('tiny', None, hosts)
    assert image_plan.predicted_entries(hosts, gone) == {'hv1': None, 'hv2': None}


def test_merge_images():
    listings = {'hv1': [entry(), entry(name='a')], 'hv2': [entry()], 'hv3': [entry(min_ram=1)]}
    merged = merge_images(listings, ['hv1', 'hv2', 'hv3'])
    assert [(image['name'], image['hypervisors']) for image in merged] == [
        ('a', ['hv1']), ('tiny', ['hv1', 'hv2']), ('tiny', ['hv3'])]
    assert merge_images({}, ['hv1']) == []


# -- who uses a base volume ----------------------------------------------------------------

DOMAIN = """<domain type='qemu'><name>web</name><devices>
  <disk type='file' device='disk'><source file='/pool/overlay.qcow2'/>
    <backingStore type='file'><format type='qcow2'/><source file='/images/base.qcow2'/><backingStore/></backingStore>
    <target dev='vda' bus='virtio'/></disk>
  <disk type='volume' device='disk'><source pool='images' volume='base.qcow2'/><target dev='vdb'/></disk>
  <disk type='file' device='cdrom'><source file='/seed.iso'/><target dev='sda'/></disk>
</devices></domain>"""


def test_domain_users_finds_disks_by_path_backing_chain_or_pool_volume():
    desc = xmlutil.parse(DOMAIN)
    assert domain_users(desc, '/images/base.qcow2') == ['vda']
    assert domain_users(desc, '/pool/overlay.qcow2') == ['vda']
    assert domain_users(desc, '/nowhere', pool='images', volume='base.qcow2') == ['vdb']
    assert domain_users(desc, '/images/other.qcow2', pool='images', volume='other.qcow2') == []


def test_backing_path():
    assert backing_path("<volume><name>o</name><backingStore><path>/images/base.qcow2</path>"
                        "<format type='qcow2'/></backingStore></volume>") == '/images/base.qcow2'
    assert backing_path('<volume><name>o</name></volume>') is None


# -- download ------------------------------------------------------------------------------

class FakeResponse:
    def __init__(self, body, status=200, headers=None, cut=None):
        self.body = io.BytesIO(body[:cut] if cut is not None else body)
        self.status = status
        self.headers = headers or {}
        self.dropped = cut is not None

    def getcode(self):
        return self.status

    def read(self, amount):
        data = self.body.read(amount)
        if not data and self.dropped:
            raise IncompleteRead(b'')
        return data

    def close(self):
        pass


class FakeServer:
    """Answers each request with the next of ``plan``: (status, cut) pairs."""

    def __init__(self, body, plan, ranges=True):
        self.body, self.plan, self.ranges = body, list(plan), ranges
        self.requests = []

    def __call__(self, url, headers=None, **kwargs):
        self.requests.append(dict(headers or {}))
        status, cut = self.plan.pop(0)
        start = 0
        if self.ranges and 'Range' in (headers or {}):
            start = int(headers['Range'][len('bytes='):-1])
            status = 206
        body = self.body[start:]
        if status == 206:
            headers_out = {'Content-Range': 'bytes %d-%d/%d' % (start, len(self.body) - 1, len(self.body)),
                           'Content-Length': str(len(body))}
        else:
            headers_out = {'Content-Length': str(len(body))}
        return FakeResponse(body, status, headers_out, cut)


BODY = bytes(range(256)) * 20000
BODY_SUM = 'sha256:' + hashlib.sha256(BODY).hexdigest()


def test_download(tmp_path):
    server = FakeServer(BODY, [(200, None)])
    assert download('http://x/i', str(tmp_path / 'f'), BODY_SUM, opener=server) == len(BODY)
    assert (tmp_path / 'f').read_bytes() == BODY
    assert server.requests[0]['Accept-Encoding'] == 'identity'


def test_download_resumes_a_dropped_connection(tmp_path):
    server = FakeServer(BODY, [(200, 100000), (206, None)])
    download('http://x/i', str(tmp_path / 'f'), BODY_SUM, opener=server)
    assert (tmp_path / 'f').read_bytes() == BODY
    assert server.requests[1]['Range'] == 'bytes=100000-'


def test_download_starts_over_without_range_support(tmp_path):
    server = FakeServer(BODY, [(200, 100000), (200, None)], ranges=False)
    download('http://x/i', str(tmp_path / 'f'), BODY_SUM, opener=server)
    assert (tmp_path / 'f').read_bytes() == BODY


def test_truncated_download_fails(tmp_path):
    server = FakeServer(BODY, [(200, 1000)] * 3, ranges=False)
    with pytest.raises(DownloadError) as err:
        download('http://x/i', str(tmp_path / 'f'), BODY_SUM, opener=server)
    assert 'truncated' in err.value.msg and 'received 1000 of %d bytes' % len(BODY) in err.value.msg
    assert BODY_SUM in err.value.msg
    assert 'sha256:' + hashlib.sha256(BODY[:1000]).hexdigest() in err.value.msg
    assert len(server.requests) == 3


def test_checksum_mismatch_names_both(tmp_path):
    with pytest.raises(DownloadError) as err:
        download('http://x/i', str(tmp_path / 'f'), SUM_A, opener=FakeServer(BODY, [(200, None)]))
    assert err.value.msg == 'checksum mismatch for http://x/i: expected %s, got %s' % (SUM_A, BODY_SUM)


def test_http_error(tmp_path):
    def opener(url, **kwargs):
        raise HTTPError(url, 404, 'Not Found', {}, None)
    with pytest.raises(DownloadError, match='HTTP 404 Not Found'):
        download('http://x/i', str(tmp_path / 'f'), SUM_A, opener=opener)
