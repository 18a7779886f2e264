#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image_info
short_description: List the images registered on the hypervisors of the cloud
version_added: 0.1.0
description:
  - Reads the image catalog of every hypervisor named (all enabled hypervisors by default)
    through libvirt, concurrently, and merges it.
  - An image registered identically on several hypervisors is listed once, with the
    hypervisors that hold it. Copies that differ (other content or metadata) are listed
    separately.
  - An unreachable hypervisor is listed in RV(unreachable_hypervisors), not fatal; any other
    failure to read a hypervisor fails the task and names it. Never changes anything.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
options:
  name:
    description: Only the image of this name.
    type: str
'''

EXAMPLES = r'''
- name: All images of the cloud
  kvmcloud.cloud.image_info:
    cloud: "{{ kvmcloud_cloud }}"
  register: images

- name: Where the image tiny is stored
  kvmcloud.cloud.image_info:
    cloud: "{{ kvmcloud_cloud }}"
    name: tiny
  register: tiny

- name: Show it
  ansible.builtin.debug:
    msg: "{{ tiny.images | map(attribute='hypervisors') | flatten }}"
'''

RETURN = r'''
images:
  description:
    - The images, sorted by name; each the catalog entry M(kvmcloud.cloud.image) returns as RV(kvmcloud.cloud.image#module:image),
      with C(hypervisors).
  returned: always
  type: list
  elements: dict
  contains:
    hypervisors:
      description: The hypervisors that hold the image as listed.
      type: list
      elements: str
      sample: [hv1, hv2]
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; their images are not listed.
      Any other failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import run_image_info


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            hypervisors=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    ).run(run_image_info)


if __name__ == '__main__':
    main()
