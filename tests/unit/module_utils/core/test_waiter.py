# -*- coding: utf-8 -*-
"""core/waiter.py: polling on a fake clock, so nothing really sleeps."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, WaitTimeout
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for


class FakeTime:
    """A monotonic clock that only moves when slept on (or when a check takes time)."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0, 'slept %r' % seconds
        self.sleeps.append(seconds)
        self.now += seconds


def counting(states, check_cost=0.0, fake=None):
    """A predicate returning ``states`` one per check (the last repeats); a state is done when
    it is 'done'. ``check_cost`` seconds pass on the fake clock during each check."""
    seen = []

    def check():
        state = states[min(len(seen), len(states) - 1)]
        seen.append(state)
        if fake is not None:
            fake.now += check_cost
        return state == 'done', state

    return check, seen


def test_returns_state_when_predicate_holds_at_once():
    fake = FakeTime()
    check, seen = counting(['done'])
    assert wait_for(Predicate('x', check), 10, clock=fake.clock, sleep=fake.sleep) == 'done'
    assert seen == ['done']
    assert fake.sleeps == []


def test_returns_state_after_polling():
    fake = FakeTime()
    check, seen = counting(['starting', 'booting', 'done'])
    state = wait_for(Predicate('x', check), 60, interval=1, clock=fake.clock, sleep=fake.sleep)
    assert state == 'done'
    assert seen == ['starting', 'booting', 'done']
    assert fake.sleeps == [1, 1.5]


def test_returned_state_can_be_any_value():
    fake = FakeTime()
    result = {'ip': '10.0.0.5'}
    assert wait_for(Predicate('ip', lambda: (True, result)), 5, clock=fake.clock, sleep=fake.sleep) is result


def test_timeout_carries_last_state_and_predicate_name():
    fake = FakeTime()
    check, seen = counting(['pending', 'still pending', 'running'])
    with pytest.raises(WaitTimeout) as err:
        wait_for(Predicate('the guest to power off', check), 10, clock=fake.clock, sleep=fake.sleep)
    e = err.value
    assert isinstance(e, KvmcloudError)
    assert e.last_state == 'running'
    assert seen[-1] == 'running'
    assert 'the guest to power off' in e.msg
    assert 'running' in e.msg
    assert '10' in e.msg
    assert e.details == {'wait': {'what': 'the guest to power off', 'timeout': 10, 'last_state': 'running'}}


def test_intervals_grow_and_never_pass_the_deadline():
    fake = FakeTime()
    check, seen = counting(['no'])
    with pytest.raises(WaitTimeout):
        wait_for(Predicate('x', check), 30, interval=0.5, max_interval=5.0, clock=fake.clock, sleep=fake.sleep)
    sleeps = fake.sleeps
    # Growth by half each round up to the cap...
    assert sleeps[:6] == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875])
    assert all(s <= 5.0 for s in sleeps)
    assert 5.0 in sleeps
    assert all(b >= a for a, b in zip(sleeps[:-1], sleeps[1:-1]))  # the last may be cut short
    # ...and the waiting ends exactly at the deadline, never after it.
    assert sum(sleeps) == pytest.approx(30)
    assert fake.now == pytest.approx(1030)
    # One check per sleep, plus the first.
    assert len(seen) == len(sleeps) + 1


def test_last_sleep_is_cut_to_the_deadline():
    fake = FakeTime()
    check, _seen = counting(['no'])
    with pytest.raises(WaitTimeout):
        wait_for(Predicate('x', check), 2, interval=1.5, max_interval=10, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == pytest.approx([1.5, 0.5])


def test_time_spent_checking_counts():
    fake = FakeTime()
    check, seen = counting(['no'], check_cost=3.0, fake=fake)
    with pytest.raises(WaitTimeout):
        wait_for(Predicate('slow', check), 10, interval=1, max_interval=1, clock=fake.clock, sleep=fake.sleep)
    # t=0 check(3) sleep 1 -> t=4 check(7) sleep 1 -> t=8 check(11): past the deadline.
    assert fake.sleeps == [1, 1]
    assert len(seen) == 3
    assert fake.now - 1000 <= 10 + 3.0  # over only by the last check's own duration


def test_success_seen_after_the_deadline_still_counts():
    fake = FakeTime()
    check, seen = counting(['no', 'done'], check_cost=4.0, fake=fake)
    # t=0 check 'no' (t=4), sleep 1 (t=5, the deadline), check 'done' (t=9): done wins.
    state = wait_for(Predicate('x', check), 5, interval=1, clock=fake.clock, sleep=fake.sleep)
    assert state == 'done'
    assert seen == ['no', 'done']
    assert fake.sleeps == [1]


def test_timeout_zero_checks_once():
    fake = FakeTime()
    check, seen = counting(['no'])
    with pytest.raises(WaitTimeout) as err:
        wait_for(Predicate('once', check), 0, clock=fake.clock, sleep=fake.sleep)
    assert seen == ['no']
    assert fake.sleeps == []
    assert err.value.last_state == 'no'


def test_timeout_zero_returns_when_done():
    fake = FakeTime()
    check, seen = counting(['done'])
    assert wait_for(Predicate('once', check), 0, clock=fake.clock, sleep=fake.sleep) == 'done'
    assert seen == ['done'] and fake.sleeps == []


def test_predicate_exceptions_propagate():
    fake = FakeTime()

    def check():
        raise RuntimeError('lookup failed')

    with pytest.raises(RuntimeError, match='lookup failed'):
        wait_for(Predicate('x', check), 10, clock=fake.clock, sleep=fake.sleep)


def test_predicate_repr():
    assert repr(Predicate('the guest to stop', lambda: (True, None))) == "Predicate('the guest to stop')"


def test_real_clock_timeout_zero_is_fast():
    # Default clock and sleep: a zero timeout must not sleep at all.
    with pytest.raises(WaitTimeout):
        wait_for(Predicate('x', lambda: (False, 'state')), 0)
