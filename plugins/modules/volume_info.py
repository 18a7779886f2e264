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
  description: Hypervisors that could not be read, with the reason.
  returned: always
  type: list
  elements: str
volumes:
  description: The volumes, sorted by name; each as returned by M(kvmcloud.cloud.volume).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils import volumes
from ansible_collections.kvmcloud.cloud.plugins.module_utils.module import CloudModule


def report(cm):
    params = cm.params
    selected = cm.cloud.select_hypervisors([params['hypervisor']] if params['hypervisor'] else None)
    listed, unreachable = [], []
    for hv, found, err in cm.connections.map(lambda hv, conn: [f.facts() for f in volumes.list_on(conn, hv)], selected):
        if err is not None:
            unreachable.append('%s: %s' % (hv.name, err.msg))
            continue
        listed.extend(v for v in found
                      if (not params['name'] or v['name'] == params['name'])
                      and (not params['project'] or v['project'] == params['project']))
    return dict(changed=False, volumes=sorted(listed, key=lambda v: (v['name'], v['hypervisor'])),
                unreachable_hypervisors=unreachable)


def main():
    cm = CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            project=dict(type='str'),
            hypervisor=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    cm.run(report)


if __name__ == '__main__':
    main()
