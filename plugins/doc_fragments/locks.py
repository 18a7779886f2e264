# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The options of the modules that write; the matching argument spec is LOCK_ARGUMENT_SPEC in
    # plugins/module_utils/core/cloud.py, the lock itself plugins/module_utils/core/locks.py.
    DOCUMENTATION = r'''
options:
  lock_timeout:
    description:
      - How long to wait, in seconds, for another run's lock on a hypervisor this run writes to.
      - A run with something to do takes, before its first change, a lock on every hypervisor
        it changes (in name order), and plans again once it holds them, so that of two runs
        doing the same at once one does it and the other finds nothing left to do. A run with
        nothing to do, and a run in check mode, take no lock.
      - Past this time the run fails with C(another run holds the lock on <hypervisor> since
        <time>, from <host> pid <pid>), having changed nothing.
    type: int
    default: 300
  lock_stale_after:
    description:
      - When a lock is taken to belong to a run that is gone, in seconds.
      - A run refreshes its locks every third of this time while it works. A lock not refreshed
        for this long, judged by the hypervisor's own clock, is broken by the next run that
        needs it, with a warning that names its holder.
    type: int
    default: 120
'''
