# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Attributes every kvmcloud module has.
    DOCUMENTATION = r'''
attributes:
  action_group:
    description: Use C(group/kvmcloud.cloud.cloud) in C(module_defaults) to set the shared options once.
    support: full
    membership:
      - kvmcloud.cloud.cloud
  platform:
    description: Runs on the controller and reaches hypervisors through libvirt connection URIs.
    support: full
    platforms: posix
'''

    # State modules: reconcile with check and diff mode that predict the real run.
    STATE_MODULE = r'''
attributes:
  check_mode:
    description: Runs the same plan as a real run and skips only the changes.
    support: full
  diff_mode:
    description: Returns the fields that differ, before and after, built from the plan.
    support: full
  idempotent:
    description: A second run with the same options reports no change.
    support: full
'''

    # Read-only modules.
    INFO_MODULE = r'''
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: N/A
  idempotent:
    description: Never changes anything.
    support: full
'''
