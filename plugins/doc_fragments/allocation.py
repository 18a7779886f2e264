# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The option of the modules that hand out addresses or add to what quotas count; the
    # matching argument spec is ALLOCATION_ARGUMENT_SPEC in plugins/module_utils/core/cloud.py,
    # the rule fanout.allocation_check().
    DOCUMENTATION = r'''
options:
  allow_unreachable:
    description:
      - A new address, and anything that counts towards a quota, is allocated only while every
        hypervisor of the cloud can be read; otherwise the task fails before anything changes and
        names the unreachable hypervisors, since what they hold cannot be seen (an address could
        be handed out twice, a quota passed unseen).
      - With V(true), the task goes ahead anyway and warns.
      - Runs that allocate nothing (no change, a change of an existing resource, a deletion) are
        not affected.
    type: bool
    default: false
'''
