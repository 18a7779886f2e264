#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: volume_info
short_description: List the block storage volumes of the cloud
version_added: 0.1.0
description:
  - Lists the data volumes on every hypervisor of the cloud, concurrently, with their size,
    format, owning project, source image and attachments.
  - Unreachable hypervisors are listed in RV(unreachable_hypervisors), not fatal.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
options:
  hypervisor:
    description: Only volumes on this hypervisor.
    type: str
  name:
    description: Only the volume of this name.
    type: str
  project:
    description: Only volumes owned by this project.
    type: str
'''

EXAMPLES = r'''
- name: Volumes of project demo
  kvmcloud.cloud.volume_info:
    cloud: "{{ kvmcloud_cloud }}"
    project: demo
  register: demo_volumes
'''

RETURN = r'''
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; they are skipped. Any other
      failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
volumes:
  description: The volumes, sorted by name; each as returned by M(kvmcloud.cloud.volume).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import run_volume_info


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            project=dict(type='str'),
            hypervisor=dict(type='str'),
        ),
        supports_check_mode=True,
    ).run(run_volume_info)


if __name__ == '__main__':
    main()
