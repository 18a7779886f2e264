# -*- coding: utf-8 -*-
"""core/records.py on libvirt's test driver (with streams and timestamps, tests/unit/streaming.py):
creating a record is atomic, every write is a new generation that replaces the older ones,
torn generations are ignored, and the hypervisor's clock is read from a volume's mtime."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import records
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.records import (
    Record, RecordConflict, hypervisor_now, parse_volume_name, volume_name)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.volume_io import raw_volume_xml

from handles import handle


def names(sc):
    return sorted(v.name() for v in sc.storagePoolLookupByName('default-pool').listAllVolumes(0)
                  if v.name().startswith('kvmcloud-'))


def test_volume_names_of_records_and_of_nothing_else():
    assert volume_name('lock', 'writers', 3) == 'kvmcloud-lock.writers.3.json'
    assert parse_volume_name('kvmcloud-lock.writers.3.json') == ('lock', 'writers', 3)
    for other in ('kvmcloud-hypervisor.json', 'image-web.json', 'kvmcloud-lock.writers.0.json',
                  'kvmcloud-lock.writers.x.json', 'volume-a.qcow2', 'kvmcloud-lock..1.json'):
        assert parse_volume_name(other) is None


def test_kind_and_name_are_plain_words(h):
    for kind, name in (('Lock', 'a'), ('lock', 'a.b'), ('lock', ''), ('', 'a'), ('lock', 'a/b')):
        with pytest.raises(KvmcloudError, match='invalid record'):
            Record(h, kind, name)


def test_a_new_record_is_generation_one_and_reads_back(sc, h):
    record = Record(h, 'maintenance', 'hv1')
    assert record.read().current is None
    written = record.write({'reason': 'disk swap'})
    assert written.seq == 1 and names(sc) == ['kvmcloud-maintenance.hv1.1.json']
    current = record.read().current
    assert (current.seq, current.body, current.mtime) == (1, {'reason': 'disk swap'}, sc.now)


def test_creating_a_record_that_exists_is_a_conflict_and_leaves_it_alone(sc, h):
    record = Record(h, 'lock', 'writers')
    record.write({'holder': 'a'})
    with pytest.raises(RecordConflict, match='generation 1 exists already'):
        record.write({'holder': 'b'})
    assert names(sc) == ['kvmcloud-lock.writers.1.json']
    assert record.read().current.body == {'holder': 'a'}


def test_a_write_is_a_new_generation_then_the_old_one_goes(sc, h):
    record = Record(h, 'lock', 'writers')
    record.write({'n': 1})
    sc.calls[:] = []
    assert record.write({'n': 2}, after=1).seq == 2
    # The new generation is complete before the old one is removed.
    assert sc.writes() == [('create', 'kvmcloud-lock.writers.2.json'), ('upload', 'kvmcloud-lock.writers.2.json'),
                           ('delete', 'kvmcloud-lock.writers.1.json')]
    assert names(sc) == ['kvmcloud-lock.writers.2.json']
    assert record.read().current.body == {'n': 2}


def test_two_writers_of_the_same_generation_one_wins(sc, h):
    record = Record(h, 'lock', 'writers')
    record.write({'n': 1})
    record.write({'n': 'first'}, after=1)
    with pytest.raises(RecordConflict):
        record.write({'n': 'second'}, after=1)
    assert record.read().current.body == {'n': 'first'}


def _torn(sc, name, data=b''):
    """A generation whose writer died half-way: created, content cut short (zeros after)."""
    pool = sc.storagePoolLookupByName('default-pool')
    vol = pool.createXML(raw_volume_xml(name, 40), 0)
    sc.content[vol.key()] = data.ljust(40, b'\0')
    return vol


def test_a_torn_generation_is_ignored_the_older_complete_one_is_the_record(sc, h):
    record = Record(h, 'lock', 'writers')
    record.write({'n': 1})
    _torn(sc, 'kvmcloud-lock.writers.2.json', b'{"body": {"n": 2}, "kind": "lo')
    state = record.read()
    assert state.current.body == {'n': 1}
    assert [g.seq for g in state.torn] == [2] and state.newest.seq == 2 and not state.newest.complete
    # A document of another record, or of another generation, is not this one either.
    _torn(sc, 'kvmcloud-lock.writers.3.json', records.encode('lock', 'writers', 7, {'n': 3}))
    assert record.read().current.body == {'n': 1}
    assert record.remove(record.read().newest) is True


def test_a_write_that_finds_a_newer_generation_takes_its_own_back(sc, h):
    # Another writer removed the record and wrote it anew meanwhile: gen 5 appeared while this
    # writer (which read no record) created gen 1.
    other = Record(h, 'lock', 'writers')
    _torn(sc, 'kvmcloud-lock.writers.5.json')
    with pytest.raises(RecordConflict, match='newer generation'):
        other.write({'n': 1})
    assert names(sc) == ['kvmcloud-lock.writers.5.json']


def test_a_failed_upload_leaves_nothing(sc, h):
    sc.fail_upload = 'kvmcloud-lock.writers.1.json'
    with pytest.raises(LibvirtCallError) as err:
        Record(h, 'lock', 'writers').write({'n': 1})
    assert err.value.operation == 'upload'
    assert names(sc) == []


def test_the_record_is_in_the_images_pool_which_must_be_there(test_conn):
    with pytest.raises(KvmcloudError, match='the images pool nope is missing or inactive on hypervisor hv1'):
        Record(handle(test_conn, images_pool='nope'), 'lock', 'writers').read()


def test_the_hypervisors_clock_is_a_new_volumes_mtime_and_leaves_nothing(sc, h):
    sc.now = 1800000000.5
    assert hypervisor_now(h, 'tok') == 1800000000.5
    assert names(sc) == []
    sc.timestamps = False
    assert hypervisor_now(h, 'tok') is None
