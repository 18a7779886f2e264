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
  - Fails, naming it, when a hypervisor cannot be read. Never changes anything.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
options:
  hypervisors:
    description:
      - Hypervisors to read; all enabled hypervisors by default.
    type: list
    elements: str
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
  description: The images, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    base_volume:
      description: Name of the base volume in the images pool.
      type: str
      sample: sha256-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.qcow2
    checksum:
      description: The sha256 checksum of the content.
      type: str
      sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    disk_format:
      description: Format of the content.
      type: str
      sample: qcow2
    hypervisors:
      description: The hypervisors that hold the image as listed.
      type: list
      elements: str
      sample: [hv1, hv2]
    min_disk:
      description: Smallest root disk in GiB.
      type: int
    min_ram:
      description: Least memory in MiB.
      type: int
    name:
      description: Name of the image.
      type: str
    properties:
      description: Free-form properties.
      type: dict
    registered_at:
      description: When the content was registered under this name, UTC, ISO 8601.
      type: str
      sample: '2024-05-01T12:00:00Z'
    size:
      description: Size of the content in bytes.
      type: int
    virtual_size:
      description: Size of the disk the image holds, in bytes.
      type: int
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.image_service import run_image_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.module import CloudModule


def main():
    cm = CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            hypervisors=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    cm.run(run_image_info)


if __name__ == '__main__':
    main()
