# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt connections of one module run: one per hypervisor, opened lazily, closed at
exit; more for the threads that work on one hypervisor in parallel; and the locks the run
holds on hypervisors (:mod:`.locks`), released before the connections close."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    HypervisorUnreachable, KvmcloudError, LibvirtCallError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import RunLocks

# At most this many hypervisors are talked to at the same time.
MAX_PARALLEL_HYPERVISORS = 16


class Connections:
    """The connections of one module run, keyed by hypervisor name.

    ``get()`` gives the :class:`~.virt.Hypervisor` handle of a hypervisor, opening it the first
    time it is asked for, from any thread; ``locks`` are the run's locks (:class:`~.locks.RunLocks`,
    with ``lock_settings``; none are taken without them). A hypervisor that cannot be reached raises
    :class:`HypervisorUnreachable` every time it is asked for again, without retrying within the
    same run.
    """

    def __init__(self, hypervisors, opener=None, lock_settings=None):
        self._hypervisors = {hv.name: hv for hv in hypervisors}
        self._opener = opener or virt.open_connection
        self._handles = {}
        self._extra = []
        self._failures = {}
        self._locks = {name: threading.Lock() for name in self._hypervisors}
        # Without settings (a caller that only reads) the run takes no locks.
        self.locks = RunLocks(self.get, lock_settings)
        virt.silence_stderr()

    def get(self, name):
        hv = self._hypervisors[name]
        with self._locks[name]:
            if name in self._failures:
                raise self._failures[name]
            if name not in self._handles:
                try:
                    self._handles[name] = self._opener(hv)
                except LibvirtCallError as err:
                    self._failures[name] = HypervisorUnreachable(name, hv.uri, err.message)
                    raise self._failures[name]
            return self._handles[name]

    def open_extra(self, name):
        """A further connection to the hypervisor ``name``, for a thread of its own: libvirtd
        serves a client's calls a few at a time ("max requests"), so threads that work on one
        hypervisor at once each need their own. It is closed with the others."""
        handle = self._opener(self._hypervisors[name])
        with self._locks[name]:
            self._extra.append(handle)
        return handle

    def unreachable(self, name):
        """The reason a hypervisor could not be reached in this run, or None."""
        failure = self._failures.get(name)
        return failure.reason if failure else None

    def map(self, func, hypervisors):
        """Run ``func(handle)`` for each hypervisor (a definition) concurrently.

        Returns ``[(hypervisor, result, error)]`` in the order given; ``error`` is the
        :class:`KvmcloudError` raised (unreachable included), the result then ``None``.
        """
        hypervisors = list(hypervisors)

        def one(hv):
            try:
                return hv, func(self.get(hv.name)), None
            except KvmcloudError as err:
                return hv, None, err

        if len(hypervisors) <= 1:
            return [one(hv) for hv in hypervisors]
        with ThreadPoolExecutor(max_workers=min(len(hypervisors), MAX_PARALLEL_HYPERVISORS)) as pool:
            return list(pool.map(one, hypervisors))

    def close(self):
        self.locks.release()
        for handle in self._extra + list(self._handles.values()):
            virt.close_connection(handle)
        self._extra, self._handles = [], {}
