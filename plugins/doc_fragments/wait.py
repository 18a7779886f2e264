# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The options of the modules that wait for a change to take effect; the matching argument
    # spec is WAIT_ARGUMENT_SPEC in plugins/module_utils/core/cloud.py.
    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Whether to wait until the change has taken effect.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, when O(wait=true). It must not be negative; M(kvmcloud.cloud.server)
        and M(kvmcloud.cloud.server_fleet) also refuse V(0) with O(wait=true), which no wait
        could meet.
    type: int
    default: 300
'''
