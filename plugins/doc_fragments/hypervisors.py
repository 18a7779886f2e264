# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The one rule of which hypervisors a module works on (plugins/module_utils/core/fanout.py,
    # selected()).
    DOCUMENTATION = r'''
options:
  hypervisors:
    description:
      - The hypervisors of the cloud definition to work on, by name; every enabled hypervisor
        when not given. An unknown name fails before anything is read.
    type: list
    elements: str
'''
