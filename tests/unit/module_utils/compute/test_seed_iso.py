# -*- coding: utf-8 -*-
"""compute/seed_iso.py: the seed's ISO 9660 image, built and read back in memory."""

import io

import pycdlib
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import seed_iso, seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError

UUID = '5c1f0e4e-7d51-4a8e-9a37-2f0b8f1f6a10'
SAMPLE = {'user_data': '#cloud-config\nruncmd:\n  - echo hello\n', 'public_keys': ['ssh-ed25519 AAAA alice'],
          'interfaces': [{'mac': '52:54:00:12:34:56', 'ip': '10.0.0.5', 'prefix': 24, 'gateway': '10.0.0.1'}]}


def files(**kwargs):
    kwargs.setdefault('instance_id', UUID)
    kwargs.setdefault('hostname', 'web-1')
    return seeds.seed_files(**kwargs)


def iso_of(data):
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    return iso


def names(iso, **path):
    return sorted(iso.full_path_from_dirrecord(child, rockridge='rr_path' in path)
                  for child in iso.list_children(**path) if not (child.is_dot() or child.is_dotdot()))


def test_iso_round_trip():
    seed = files(**SAMPLE)
    assert seed_iso.read_iso(seed_iso.build_iso(seed)) == seed


def test_iso_volume_id_is_cidata_where_the_guest_reads_it():
    data = seed_iso.build_iso(files())
    # The guest reads the primary volume descriptor itself: "CD001" at 32769, the id at 32808.
    assert data[32769:32774] == b'CD001'
    assert data[32808:32840].rstrip(b' ') == b'cidata'
    iso = iso_of(data)
    try:
        assert iso.pvd.volume_identifier.rstrip(b' ') == b'cidata'
    finally:
        iso.close()


def test_iso_has_rock_ridge_joliet_and_iso9660_names():
    iso = iso_of(seed_iso.build_iso(files()))
    try:
        assert iso.has_rock_ridge() and iso.has_joliet()
        assert names(iso, rr_path='/') == ['/meta-data', '/network-config', '/user-data']
        assert names(iso, joliet_path='/') == ['/meta-data', '/network-config', '/user-data']
        assert names(iso, iso_path='/') == ['/META_DATA.;1', '/NETWORK_CONFIG.;1', '/USER_DATA.;1']
    finally:
        iso.close()


def test_read_iso_without_rock_ridge_uses_joliet_or_iso9660_names():
    for joliet in (3, None):
        iso = pycdlib.PyCdlib()
        iso.new(interchange_level=3, joliet=joliet, vol_ident='cidata')
        for name, text in (('meta-data', 'a: 1\n'), ('user-data', '#cloud-config\n{}\n')):
            data = text.encode()
            iso.add_fp(io.BytesIO(data), len(data), '/%s.;1' % name.upper().replace('-', '_'),
                       joliet_path='/' + name if joliet else None)
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
        assert seed_iso.read_iso(out.getvalue()) == {'meta-data': 'a: 1\n', 'user-data': '#cloud-config\n{}\n'}


def test_read_iso_of_something_else_is_a_clear_error():
    with pytest.raises(KvmcloudError, match='not a readable ISO 9660 image'):
        seed_iso.read_iso(b'\0' * 65536)


def test_missing_pycdlib_is_named(monkeypatch):
    monkeypatch.setattr(seed_iso, 'pycdlib', None)
    with pytest.raises(KvmcloudError, match='pycdlib Python library is required'):
        seed_iso.build_iso(files())
    with pytest.raises(KvmcloudError, match='pycdlib Python library is required'):
        seed_iso.read_iso(b'')
