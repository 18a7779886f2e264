# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs that write are serialised per hypervisor by a lock every controller sees.

The lock of a hypervisor is its record ``lock.writers`` (:mod:`.records`), naming the run that
holds it: the controller's host name, the process id, when it took it and a token of the run.
A run whose plan is not empty takes, before its first write, the lock of every hypervisor it
will write to, in name order (so two runs never wait for each other in a circle), and plans
again under the locks (:func:`plan_under_lock`): a second run that waited sees what the first
one did and has nothing left to do. Runs with nothing to do, and check mode, take no lock
and write nothing.

- Taking the lock is creating the record: libvirt creates a volume of a given name once only.
- A held lock is refreshed (a new generation) every third of ``lock_stale_after`` by a thread
  of the run, whatever the run is busy with (a long upload, a slow define, a shutdown): a
  refresh "at each step" would miss the long steps.
- A lock whose record was not written for ``lock_stale_after`` seconds, judged by the
  hypervisor's own clock, belongs to a run that is gone: the next run breaks it, with a
  warning. A run that waits longer than ``lock_timeout`` for a lock fails and names the holder.
- A hypervisor without an active images pool (one being set up) has nowhere to keep its lock
  and none of the cloud's records yet: a run writes there without one.
- The locks are released when the module ends (:meth:`RunLocks.release`, from the module
  wrapper), whether it succeeded or failed; a run that crashed leaves a lock that goes stale.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.records import (
    Record, RecordConflict, find_record_pool, hypervisor_now)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import best_effort

LOCK_KIND = 'lock'
LOCK_NAME = 'writers'
DEFAULT_TIMEOUT = 300
DEFAULT_STALE_AFTER = 120
# How often a waiting run looks again, at most.
MAX_POLL = 2.0


@dataclass
class LockSettings:
    """How long a run waits for a lock (``timeout``), when a lock not refreshed is broken
    (``stale_after``), both in seconds; ``warn`` is where warnings go (the module's)."""

    timeout: float = DEFAULT_TIMEOUT
    stale_after: float = DEFAULT_STALE_AFTER
    warn: Optional[Callable[[str], Any]] = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Any] = time.sleep
    holder: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.timeout is None or self.timeout < 0:
            raise ValidationError('lock_timeout must be 0 or more seconds, got %r' % (self.timeout,))
        if self.stale_after is None or self.stale_after <= 0:
            raise ValidationError('lock_stale_after must be more than 0 seconds, got %r' % (self.stale_after,))
        if not self.holder:
            self.holder = {'host': socket.gethostname(), 'pid': os.getpid(), 'since': now(),
                           'token': uuid.uuid4().hex}

    @classmethod
    def from_params(cls, params, warn=None):
        """The settings of a module run from its options (the defaults where it has none)."""
        timeout = params.get('lock_timeout')
        stale = params.get('lock_stale_after')
        return cls(timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                   stale_after=DEFAULT_STALE_AFTER if stale is None else stale, warn=warn)


def describe_holder(body):
    return 'since %s, from %s pid %s' % (body.get('since', '?'), body.get('host', '?'), body.get('pid', '?'))


class HypervisorLock:
    """The lock of one hypervisor, as one run takes, refreshes and releases it."""

    def __init__(self, h, settings):
        self.h = h
        self.settings = settings
        self.record = Record(h, LOCK_KIND, LOCK_NAME)
        self.seq = None       # the generation this run wrote last, while it holds the lock (0: held without one)
        self.lost = None      # who broke it, when another run did

    @property
    def token(self):
        return self.settings.holder['token']

    def _ours(self, generation):
        return generation is not None and generation.complete and generation.body.get('token') == self.token

    def _ages(self, state, first_seen):
        """``age(generation)``: how long ago it was last written, by the hypervisor's clock; where
        libvirt gives no timestamps, how long this run has seen it unchanged."""
        clock_now = [None]

        def age(generation):
            if generation.mtime is not None:
                if clock_now[0] is None:
                    clock_now[0] = hypervisor_now(self.h, self.token)
                if clock_now[0] is not None:
                    return clock_now[0] - generation.mtime
            return self.settings.clock() - first_seen.setdefault((generation.seq, generation.volume),
                                                                 self.settings.clock())
        return age

    def take(self):
        """Take the lock, waiting up to the timeout; break it when it is stale."""
        if find_record_pool(self.h) is None:
            # A hypervisor being set up (its images pool is made by this run, or later) has
            # nowhere to keep a lock, and none of the cloud's records to protect yet.
            self.seq = 0
            return
        s = self.settings
        deadline = s.clock() + s.timeout
        first_seen = {}
        interval = 0.1
        while True:
            state = self.record.read()
            age = self._ages(state, first_seen)
            newest, current = state.newest, state.current
            try:
                if newest is None:
                    self.seq = self.record.write(self.settings.holder).seq
                    return
                if self._ours(newest):
                    self.seq = newest.seq
                    return
                if not newest.complete:
                    if age(newest) > s.stale_after:
                        # A writer died half-way: what it left is no record.
                        self.record.remove(newest)
                        continue
                    blocker = current.body if current is not None else None
                elif age(newest) > s.stale_after:
                    self.warn('the lock on hypervisor %s, held %s, was not refreshed for %d seconds '
                              '(lock_stale_after: %s); that run is taken to be gone and its lock is broken'
                              % (self.h.name, describe_holder(newest.body), age(newest), s.stale_after))
                    self.seq = self.record.write(self.settings.holder, after=newest.seq).seq
                    return
                else:
                    blocker = newest.body
            except RecordConflict:
                continue  # another run got there first: look again
            remaining = deadline - s.clock()
            if remaining <= 0:
                raise self._timeout(blocker)
            s.sleep(min(interval, remaining))
            interval = min(interval * 1.5, MAX_POLL)

    def _timeout(self, blocker):
        held = describe_holder(blocker) if blocker else 'while it is being written'
        return KvmcloudError(
            'another run holds the lock on %s %s; waited %ss (lock_timeout). Let that run finish and run '
            'again, or raise lock_timeout; a lock whose run is gone is broken once it has not been refreshed '
            'for lock_stale_after (%ss)' % (self.h.name, held, self.settings.timeout, self.settings.stale_after),
            hypervisor=self.h.name, lock_holder=blocker or {})

    def refresh(self):
        """Write the lock again (a new generation), so it does not go stale; a lock another run
        broke is not taken back: it is recorded as lost."""
        if not self.seq or self.lost is not None:
            return
        state = self.record.read()
        current = state.current
        if not self._ours(current):
            self.lost = current.body if current is not None else {}
            self.seq = None
            return
        try:
            self.seq = self.record.write(self.settings.holder, after=current.seq).seq
        except RecordConflict:
            self.lost = {}
            self.seq = None

    def release(self):
        """Remove this run's generations of the lock."""
        if self.seq == 0:
            self.seq = None
            return
        state = self.record.read()
        for generation in state.generations:
            if self._ours(generation):
                self.record.remove(generation)
        current = state.current
        if current is not None and not self._ours(current) and self.lost is None:
            self.lost = current.body
        self.seq = None

    def warn(self, msg):
        if self.settings.warn is not None:
            self.settings.warn(msg)


class RunLocks:
    """The locks one module run holds: taken by :meth:`hold`, refreshed by a thread, released
    by :meth:`release`. ``get(name)`` gives a hypervisor's handle (the run's connections).
    Without ``settings`` nothing is locked (``enabled`` is false): for callers that only read."""

    def __init__(self, get, settings=None):
        self._get = get
        self.settings = settings
        self._locks = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    @property
    def enabled(self):
        return self.settings is not None

    def on(self, h):
        """What takes the lock of the hypervisor of handle ``h``, for :func:`~.reconcile.reconcile`
        (None when nothing is locked, or ``h`` is None: no hypervisor, nothing to write)."""
        if not self.enabled or h is None:
            return None
        return lambda: self.hold([h.name])

    @property
    def held(self):
        return frozenset(name for name, lock in self._locks.items() if lock.seq is not None)

    def hold(self, names):
        """Take the locks of the hypervisors ``names`` this run does not hold yet, in name order."""
        if not self.enabled:
            return
        for name in sorted(set(names) - set(self._locks)):
            lock = HypervisorLock(self._get(name), self.settings)
            lock.take()
            with self._mutex:
                self._locks[name] = lock
            self._start_refreshing()

    def _start_refreshing(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._refresh_loop, name='kvmcloud-lock-refresh', daemon=True)
            self._thread.start()

    def _refresh_loop(self):
        while not self._stop.wait(self.settings.stale_after / 3.0):
            with self._mutex:
                locks = list(self._locks.values())
            for lock in locks:
                best_effort(lock.refresh)

    def release(self):
        """Stop refreshing and release every lock held, best effort; warn of any lock another
        run broke while this run held it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._stop, self._thread = threading.Event(), None
        for name in sorted(self._locks):
            lock = self._locks[name]
            best_effort(lock.release)
            if lock.lost is not None:
                who = describe_holder(lock.lost) if lock.lost else 'unknown'
                lock.warn('the lock on hypervisor %s was broken by another run (%s) while this run held it; '
                          'run again to check what both did' % (name, who))
        self._locks = {}


def plan_under_lock(cm, plan, writes):
    """``plan()``, and when its result writes anything (``writes(planned)``: the names of the
    hypervisors it writes to) outside check mode, the same again under the locks of those
    hypervisors, until it writes only where this run holds the lock. Another run that held them
    meanwhile may have done the work: the plan made under the locks is the one to apply."""
    planned = plan()
    locks = cm.connections.locks
    if cm.check_mode or not locks.enabled:
        return planned
    while True:
        targets = set(writes(planned))
        if targets <= locks.held:
            return planned
        locks.hold(targets)
        planned = plan()
