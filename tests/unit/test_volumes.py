"""Pure parts of the volume service: sizes, names, serials, device names."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import attach, volumes, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError

MIB = 1024 ** 2
GIB = 1024 ** 3


@pytest.mark.parametrize('value, expected', [
    (1, GIB), (2.5, int(2.5 * GIB)), ('10G', 10 * GIB), ('10GiB', 10 * GIB), ('512M', 512 * MIB),
    ('512 MiB', 512 * MIB), ('1T', 1024 * GIB), ('1TB', 1000 ** 4), ('4096', 4096 * GIB), ('100k', 102400),
    ('7B', 7), ('1.5G', int(1.5 * GIB)),
])
def test_parse_size(value, expected):
    assert volumes.parse_size(value) == expected


@pytest.mark.parametrize('value', ['', 'G', '10 parsecs', '-1G', 0, '0M', True, '1.2.3G'])
def test_parse_size_refuses(value):
    with pytest.raises(ValidationError):
        volumes.parse_size(value)


def test_parse_size_none_is_unset():
    assert volumes.parse_size(None) is None


@pytest.mark.parametrize('name', ['data', 'a', 'db-01.vol_2', 'x' * 63])
def test_valid_names(name):
    assert volumes.validate_name(name) == name


@pytest.mark.parametrize('name', ['', '-x', '.x', 'a b', 'a/b', 'x' * 64, None, 'é'])
def test_invalid_names(name):
    with pytest.raises(ValidationError, match='invalid volume name'):
        volumes.validate_name(name)


def test_libvirt_names_round_trip():
    for fmt in volumes.FORMATS:
        assert volumes.volume_name_of(volumes.data_name('db.1', fmt)) == 'db.1'
    assert volumes.volume_name_of(volumes.record_name('db.1')) is None
    assert volumes.volume_name_of('seed-x.iso') is None
    assert volumes.volume_name_of('sha256-abc.qcow2') is None


def test_serial_is_the_name_up_to_twenty_characters():
    assert attach.serial_for('data1') == 'data1'
    assert attach.serial_for('x' * 20) == 'x' * 20
    long_one, other = attach.serial_for('x' * 30), attach.serial_for('x' * 29 + 'y')
    assert len(long_one) == attach.SERIAL_MAX and long_one != other
    assert long_one == attach.serial_for('x' * 30)


def _domain(*targets):
    return xmlutil.parse('<domain><devices>%s</devices></domain>' % ''.join(
        "<disk type='file'><source file='/p/%s'/><target dev='%s'/></disk>" % (t, t) for t in targets))


def test_next_device_skips_used_names_in_live_and_config():
    assert attach.next_device([_domain('vda')]) == 'vdb'
    assert attach.next_device([_domain('vda', 'vdc'), _domain('vda', 'vdb')]) == 'vdd'


def test_disk_element_matches_by_source_path():
    desc = _domain('vda', 'vdb')
    assert xmlutil.attr(attach.disk_element(desc, '/p/vdb'), 'target', 'dev') == 'vdb'
    assert attach.disk_element(desc, '/p/none') is None


def test_disk_xml_has_serial_and_virtio_target():
    disk = xmlutil.parse(attach.disk_xml('/v/volume-a.qcow2', 'qcow2', 'vdb', 'a'))
    assert disk.get('device') == 'disk'
    assert xmlutil.attr(disk, 'source', 'file') == '/v/volume-a.qcow2'
    assert xmlutil.attr(disk, 'target', 'bus') == 'virtio'
    assert xmlutil.attr(disk, 'driver', 'type') == 'qcow2'
    assert xmlutil.text(disk, 'serial') == 'a'
