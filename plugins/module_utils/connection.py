# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt connections: one per hypervisor per module run, opened lazily, closed at exit; more
for the threads that work on one hypervisor in parallel."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError, LibvirtCallError, call

try:
    import libvirt
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None

# At most this many hypervisors are talked to at the same time.
MAX_PARALLEL_HYPERVISORS = 16


def _silence_libvirt_stderr():
    """libvirt prints every error to stderr by default; errors are raised and reported instead."""
    if libvirt is not None:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class HypervisorUnreachable(KvmcloudError):
    """A hypervisor's libvirt could not be opened."""

    def __init__(self, hypervisor, uri, reason):
        super(HypervisorUnreachable, self).__init__(
            'hypervisor %s (%s) is unreachable: %s' % (hypervisor, uri, reason),
            hypervisor=hypervisor, uri=uri, reason=reason)
        self.hypervisor = hypervisor
        self.reason = reason


class Connections:
    """The connections of one module run, keyed by hypervisor name.

    ``get()`` opens a connection the first time it is asked for, from any thread; a
    hypervisor that cannot be reached raises :class:`HypervisorUnreachable` every time it is
    asked for again, without retrying within the same run.
    """

    def __init__(self, hypervisors, opener=None):
        self._hypervisors = {hv.name: hv for hv in hypervisors}
        self._opener = opener or _open
        self._conns = {}
        self._extra = []
        self._failures = {}
        self._locks = {name: threading.Lock() for name in self._hypervisors}
        _silence_libvirt_stderr()

    def get(self, name):
        hv = self._hypervisors[name]
        with self._locks[name]:
            if name in self._failures:
                raise self._failures[name]
            if name not in self._conns:
                try:
                    self._conns[name] = self._opener(hv.uri)
                except LibvirtCallError as err:
                    self._failures[name] = HypervisorUnreachable(name, hv.uri, err.message)
                    raise self._failures[name]
            return self._conns[name]

    def open_extra(self, name):
        """A further connection to the hypervisor ``name``, for a thread of its own: libvirtd
        serves a client's calls a few at a time ("max requests"), so threads that work on one
        hypervisor at once each need their own. It is closed with the others."""
        hv = self._hypervisors[name]
        conn = self._opener(hv.uri)
        with self._locks[name]:
            self._extra.append(conn)
        return conn

    def unreachable(self, name):
        """The reason a hypervisor could not be reached in this run, or None."""
        failure = self._failures.get(name)
        return failure.reason if failure else None

    def map(self, func, hypervisors):
        """Run ``func(hypervisor, conn)`` for each hypervisor concurrently.

        Returns ``[(hypervisor, result, error)]`` in the order given; ``error`` is the
        :class:`KvmcloudError` raised (unreachable included), the result then ``None``.
        """
        hypervisors = list(hypervisors)

        def one(hv):
            try:
                return hv, func(hv, self.get(hv.name)), None
            except KvmcloudError as err:
                return hv, None, err

        if len(hypervisors) <= 1:
            return [one(hv) for hv in hypervisors]
        with ThreadPoolExecutor(max_workers=min(len(hypervisors), MAX_PARALLEL_HYPERVISORS)) as pool:
            return list(pool.map(one, hypervisors))

    def close(self):
        for conn in self._extra + list(self._conns.values()):
            try:
                conn.close()
            except Exception:  # closing is best effort: the process exits next
                pass
        self._extra, self._conns = [], {}


def _open(uri):
    return call('open', uri, libvirt.open, uri)
