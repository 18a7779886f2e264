# -*- coding: utf-8 -*-
"""core/locks.py on libvirt's test driver (with streams and timestamps, tests/unit/streaming.py):
take, refuse while held (the timeout's message), break a stale lock with a warning (by the
hypervisor's clock, or by watching it where there is none), torn records, refresh, release,
and plan_under_lock: a no-op or check run takes no lock and writes nothing."""

import threading
import time
from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import (
    HypervisorLock, LockSettings, RunLocks, plan_under_lock)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.records import Record, volume_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import Hypervisor
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.volume_io import raw_volume_xml

from handles import definition, handle

LOCK = 'kvmcloud-lock.writers.%d.json'


class FakeTime:
    """A monotonic clock that moves only when the lock sleeps; the hypervisor's clock with it."""

    def __init__(self, sc):
        self.sc, self.t, self.slept = sc, 100.0, 0.0

    def clock(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds
        self.slept += seconds
        self.sc.now += seconds


@pytest.fixture
def fake(sc):
    return FakeTime(sc)


def settings(fake, run='a', timeout=300, stale_after=120, warnings=None):
    return LockSettings(timeout=timeout, stale_after=stale_after,
                        warn=(warnings.append if warnings is not None else None), clock=fake.clock, sleep=fake.sleep,
                        holder={'host': 'ctl-%s' % run, 'pid': 1000 + ord(run), 'since': '2026-12-03T06:00:00Z',
                                'token': 'run%s' % run})


def names(sc):
    return sorted(v.name() for v in sc.storagePoolLookupByName('default-pool').listAllVolumes(0)
                  if v.name().startswith('kvmcloud-'))


def holder(h):
    current = Record(h, 'lock', 'writers').read().current
    return current.body['token'] if current else None


def test_settings_are_checked():
    with pytest.raises(ValidationError, match='lock_timeout must be 0 or more seconds, got -1'):
        LockSettings(timeout=-1)
    with pytest.raises(ValidationError, match='lock_stale_after must be more than 0 seconds, got 0'):
        LockSettings(stale_after=0)
    defaults = LockSettings.from_params({})
    assert (defaults.timeout, defaults.stale_after) == (300, 120)
    assert set(defaults.holder) == {'host', 'pid', 'since', 'token'}


def test_take_writes_a_record_naming_the_holder_and_release_removes_it(sc, h, fake):
    lock = HypervisorLock(h, settings(fake))
    lock.take()
    assert names(sc) == [LOCK % 1]
    body = Record(h, 'lock', 'writers').read().current.body
    assert body == {'host': 'ctl-a', 'pid': 1097, 'since': '2026-12-03T06:00:00Z', 'token': 'runa'}
    assert fake.slept == 0
    lock.release()
    assert names(sc) == []


def test_a_held_lock_makes_another_run_wait_then_fail_naming_the_holder(sc, h, fake):
    HypervisorLock(h, settings(fake, 'a')).take()
    sc.calls[:] = []
    with pytest.raises(KvmcloudError) as err:
        HypervisorLock(h, settings(fake, 'b', timeout=30, stale_after=120)).take()
    assert err.value.msg.startswith('another run holds the lock on hv1 since 2026-12-03T06:00:00Z, '
                                    'from ctl-a pid 1097; ')
    assert 'raise lock_timeout' in err.value.msg and 'lock_stale_after (120s)' in err.value.msg
    assert err.value.details['lock_holder']['token'] == 'runa'
    assert 30 <= fake.slept < 33
    # The waiting run read the hypervisor's clock (a volume made and removed) and wrote no lock.
    assert {name for _op, name in sc.writes()} == {volume_name('clock', 'runb', 1)}
    assert holder(h) == 'runa' and names(sc) == [LOCK % 1]


def test_a_lock_released_while_waiting_is_taken(sc, h, fake):
    first = HypervisorLock(h, settings(fake, 'a'))
    first.take()
    sleep = fake.sleep

    def release_soon(seconds):
        sleep(seconds)
        if fake.slept > 5 and first.seq is not None:
            first.release()

    fake.sleep = release_soon
    second = HypervisorLock(h, settings(fake, 'b'))
    second.settings.sleep = release_soon
    second.take()
    assert holder(h) == 'runb' and 5 < fake.slept < 10


def test_a_stale_lock_is_broken_with_a_warning_judged_by_the_hypervisors_clock(sc, h, fake):
    HypervisorLock(h, settings(fake, 'a')).take()
    # Written 121 s ago by the hypervisor's clock (whatever the controller's clock says).
    sc.set_mtime(LOCK % 1, sc.now - 121)
    warnings = []
    lock = HypervisorLock(h, settings(fake, 'b', stale_after=120, warnings=warnings))
    lock.take()
    assert fake.slept == 0
    assert holder(h) == 'runb' and names(sc) == [LOCK % 2]
    assert len(warnings) == 1
    assert warnings[0].startswith('the lock on hypervisor hv1, held since 2026-12-03T06:00:00Z, from ctl-a '
                                  'pid 1097, was not refreshed for 121 seconds (lock_stale_after: 120)')


def test_a_fresh_lock_by_the_hypervisors_clock_is_not_broken(sc, h, fake):
    HypervisorLock(h, settings(fake, 'a')).take()
    sc.set_mtime(LOCK % 1, sc.now - 100)
    with pytest.raises(KvmcloudError, match='another run holds the lock on hv1'):
        HypervisorLock(h, settings(fake, 'b', timeout=10, stale_after=120)).take()


def test_without_timestamps_a_lock_is_stale_once_seen_unchanged_for_stale_after(sc, h, fake):
    sc.timestamps = False
    HypervisorLock(h, settings(fake, 'a')).take()
    warnings = []
    HypervisorLock(h, settings(fake, 'b', stale_after=20, warnings=warnings)).take()
    assert holder(h) == 'runb' and 20 <= fake.slept < 23 and len(warnings) == 1


def _torn_lock(sc, seq):
    vol = sc.storagePoolLookupByName('default-pool').createXML(raw_volume_xml(LOCK % seq, 64), 0)
    sc.content[vol.key()] = b'{"body": {"token": "runa"'.ljust(64, b'\0')


def test_a_lock_being_written_is_waited_for_and_a_torn_one_left_by_a_crash_is_cleaned(sc, h, fake):
    _torn_lock(sc, 1)
    with pytest.raises(KvmcloudError, match='another run holds the lock on hv1 while it is being written'):
        HypervisorLock(h, settings(fake, 'b', timeout=5)).take()
    sc.set_mtime(LOCK % 1, sc.now - 500)
    HypervisorLock(h, settings(fake, 'b')).take()
    assert holder(h) == 'runb' and names(sc) == [LOCK % 1]


def test_refresh_writes_a_new_generation_and_a_broken_lock_is_lost_not_taken_back(sc, h, fake):
    lock = HypervisorLock(h, settings(fake, 'a'))
    lock.take()
    lock.refresh()
    assert names(sc) == [LOCK % 2] and holder(h) == 'runa' and lock.seq == 2
    sc.set_mtime(LOCK % 2, sc.now - 1000)
    HypervisorLock(h, settings(fake, 'b', warnings=[])).take()
    lock.refresh()
    assert lock.lost['token'] == 'runb' and lock.seq is None
    lock.release()
    assert holder(h) == 'runb'  # the other run's lock stays


def _run_locks(sc, fake, names_=('hv1', 'hv2'), **kwargs):
    hvs = {name: Hypervisor(definition(name, images_pool='default-pool'), sc) for name in names_}
    return RunLocks(hvs.__getitem__, settings(fake, **kwargs) if fake else None)


def test_run_locks_are_taken_in_name_order_once_and_released_with_a_warning_when_lost(sc, h, fake):
    warnings = []
    locks = _run_locks(sc, fake, warnings=warnings)
    sc.calls[:] = []
    # hv1 and hv2 share the test driver's pool here: the second take finds the lock its own.
    locks.hold(['hv2', 'hv1'])
    assert locks.held == {'hv1', 'hv2'}
    assert sc.writes()[0] == ('create', LOCK % 1)
    locks.hold(['hv1'])
    assert len([w for w in sc.writes() if w[0] == 'create']) == 1
    Record(h, 'lock', 'writers').write({'token': 'other', 'since': 'then', 'host': 'x', 'pid': 7}, after=1)
    locks.release()
    assert len(warnings) == 2 and 'was broken by another run (since then, from x pid 7)' in warnings[0]


def test_held_locks_are_refreshed_by_a_thread(sc, h):
    locks = RunLocks(lambda _name: h, LockSettings(timeout=5, stale_after=0.3))
    locks.hold(['hv1'])
    try:
        deadline = time.monotonic() + 5
        while Record(h, 'lock', 'writers').read().current.seq < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Record(h, 'lock', 'writers').read().current.seq >= 3
    finally:
        locks.release()
    assert names(sc) == []
    assert not [t for t in threading.enumerate() if t.name == 'kvmcloud-lock-refresh']


def module(sc, fake, check_mode=False):
    hvs = [definition(name, images_pool='default-pool') for name in ('hv1', 'hv2')]
    connections = Connections(hvs, opener=lambda hv: Hypervisor(hv, sc), lock_settings=settings(fake))
    return SimpleNamespace(check_mode=check_mode, cloud=CloudDefinition(hypervisors=hvs), connections=connections)


def test_plan_under_lock_with_nothing_to_do_plans_once_and_writes_nothing(sc, fake):
    plans = []
    cm = module(sc, fake)
    assert plan_under_lock(cm, lambda: plans.append(1) or 'nothing', lambda planned: []) == 'nothing'
    assert plans == [1] and sc.writes() == [] and cm.connections.locks.held == frozenset()


def test_plan_under_lock_in_check_mode_takes_no_lock(sc, fake):
    cm = module(sc, fake, check_mode=True)
    assert plan_under_lock(cm, lambda: 'plan', lambda planned: ['hv1']) == 'plan'
    assert sc.writes() == []


def test_plan_under_lock_locks_what_the_plan_writes_and_plans_again(sc, fake):
    cm = module(sc, fake)
    plans = iter([['hv1'], ['hv1'], ['hv9']])
    seen = []

    def plan():
        seen.append(sorted(cm.connections.locks.held))
        return next(plans)

    assert plan_under_lock(cm, plan, lambda planned: planned) == ['hv1']
    # The first plan before any lock; the second under it, and it writes only where it is held.
    assert seen == [[], ['hv1']]
    cm.connections.locks.release()  # what closing the connections does first
    assert names(sc) == []


def test_connections_without_lock_settings_lock_nothing(sc):
    connections = Connections([definition('hv1', images_pool='default-pool')], opener=lambda hv: Hypervisor(hv, sc))
    connections.locks.hold(['hv1'])
    assert connections.locks.on(None) is None and connections.locks.held == frozenset()
    assert sc.writes() == []


def test_a_hypervisor_without_its_images_pool_is_written_without_a_lock(sc, fake):
    # One being set up: the storage_pool module is making the images pool this very run.
    locks = RunLocks(lambda name: handle(sc, name, images_pool='not-yet'), settings(fake))
    locks.hold(['hv1'])
    assert locks.held == {'hv1'} and sc.writes() == []
    locks.release()
    assert sc.writes() == [] and locks.held == frozenset()
