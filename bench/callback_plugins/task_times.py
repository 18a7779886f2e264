# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write how long each task of a playbook run took, and whether it ran, to the JSON file named
by KVMCLOUD_TASK_TIMES (bench/rerun.py reads it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: task_times
type: aggregate
short_description: Each task's wall time, for bench/rerun.py
description: Writes [{name, action, seconds, skipped}] to the file named by KVMCLOUD_TASK_TIMES.
requirements:
  - enable in configuration
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.tasks = []
        self.current = None
        self.started = None

    def _close(self):
        if self.current is not None:
            self.current['seconds'] = time.monotonic() - self.started
            self.tasks.append(self.current)
        self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self.current = {'name': task.get_name(), 'action': task.action, 'skipped': True}
        self.started = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _ran(self, result):
        if self.current is not None:
            self.current['skipped'] = False

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_unreachable = _ran
    v2_runner_item_on_ok = v2_runner_item_on_failed = _ran

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get('KVMCLOUD_TASK_TIMES')
        if path:
            with open(path, 'w') as handle:
                json.dump(self.tasks, handle, indent=1)
