#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: quota_info
short_description: Report the projects' quotas, what they use and what remains
version_added: 0.1.0
description:
  - For each project of the cloud definition (or one), the limit of every quota, what the project
    uses and what remains.
  - Usage is counted from what exists on every reachable hypervisor, read through libvirt -
    servers (instances, their vCPUs and RAM), data volumes (number and GiB, each rounded up),
    ports (each once, though a port is on every hypervisor of its network).
  - Hypervisors that cannot be reached are listed in RV(unreachable_hypervisors); what is on
    them is not counted.
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
author:
  - kvmcloud developers (@kvmcloud)
options:
  project:
    description: Only this project; all the projects of the cloud definition by default.
    type: str
'''

EXAMPLES = r'''
- name: What the demo project has left
  kvmcloud.cloud.quota_info:
    cloud: "{{ kvmcloud_cloud }}"
    project: demo
  register: demo_quotas

- name: Say how many more servers fit
  ansible.builtin.debug:
    msg: "{{ demo_quotas.projects[0].quotas.instances.remaining }} more servers"
'''

RETURN = r'''
projects:
  description: The projects, in the order of the cloud definition.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Project name.
      type: str
    quotas:
      description:
        - One entry for each quota - V(instances), V(cores), V(ram) (MiB), V(volumes),
          V(gigabytes) and V(ports) - with C(limit) (V(-1) when unlimited), C(in_use), and
          C(remaining) (null when unlimited, V(0) when at or over the limit).
      type: dict
      sample:
        instances: {limit: 10, in_use: 2, remaining: 8}
        cores: {limit: -1, in_use: 3, remaining: null}
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; they are skipped. Any other
      failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import run_quota_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(argument_spec=dict(project=dict(type='str')), supports_check_mode=True).run(run_quota_info)


if __name__ == '__main__':
    main()
