# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way to wait: a named predicate polled on a monotonic clock."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import WaitTimeout


class Predicate:
    """A named condition. ``check()`` returns ``(done, state)``; ``state`` describes what was
    seen and ends up in the timeout error."""

    def __init__(self, name, check):
        self.name = name
        self.check = check

    def __repr__(self):
        return 'Predicate(%r)' % self.name


def wait_for(predicate, timeout, interval=0.5, max_interval=5.0, clock=time.monotonic, sleep=time.sleep):
    """Poll ``predicate`` until it holds; return its last state.

    The interval grows by half each round up to ``max_interval``. A timeout raises
    :class:`WaitTimeout` carrying the last state seen. ``timeout`` 0 checks exactly once.
    """
    deadline = clock() + timeout
    state = None
    while True:
        done, state = predicate.check()
        if done:
            return state
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(predicate.name, timeout, state)
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
