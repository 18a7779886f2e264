#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cloud_plan
short_description: What bringing the cloud up would change, for all its images, networks, volumes and servers at once
version_added: 0.1.0
description:
  - Plans, in check mode and in one module run, every item a bring-up declares - images,
    networks, security groups, ports and volumes, each as its own module would plan it, and the
    servers as one M(kvmcloud.cloud.server_fleet) call - and reports which of them a real run
    would change. It changes nothing.
  - Each hypervisor is read through one connection for the whole plan, so a bring-up that
    runs a module only for the pending items (as C(playbooks/site.yml) does) costs one module
    run when nothing has to change, and still repairs whatever drifted.
  - An item whose plan cannot be made - its network or security group does not exist yet, a
    quota would be exceeded, an option is wrong, a hypervisor cannot be reached - is pending,
    with the reason in RV(reasons); its own module's run then reports the error, if any.
  - Each element of a list takes the options its role passes on to the module (for example
    C(kvmcloud_images) of the C(kvmcloud.cloud.image_service) role); other keys are ignored,
    as the roles ignore them, and C(state) is always V(present). The elements of O(servers) are
    the exception. They take the options of M(kvmcloud.cloud.server), checked before anything is
    planned as M(kvmcloud.cloud.server_fleet) checks them, so that their C(user_data) is never shown.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
  - kvmcloud.cloud.server.servers
options:
  exclusive:
    description: With O(servers), whether the servers of O(project) that O(servers) does not list would be deleted.
    type: bool
    default: false
  images:
    description: Images, each with the options of M(kvmcloud.cloud.image).
    type: list
    elements: dict
    default: []
  networks:
    description: Networks, each with the options of M(kvmcloud.cloud.network).
    type: list
    elements: dict
    default: []
  ports:
    description: Ports, each with the options of M(kvmcloud.cloud.port).
    type: list
    elements: dict
    default: []
  project:
    description: With O(servers), the project of M(kvmcloud.cloud.server_fleet).
    type: str
  security_groups:
    description: Security groups, each with the options of M(kvmcloud.cloud.security_group).
    type: list
    elements: dict
    default: []
  servers:
    description:
      - The servers of one M(kvmcloud.cloud.server_fleet) call; not planned when not given.
    type: list
    elements: dict
  volumes:
    description: Volumes, each with the options of M(kvmcloud.cloud.volume).
    type: list
    elements: dict
    default: []
'''

EXAMPLES = r'''
- name: Plan the demo cloud in one read
  kvmcloud.cloud.cloud_plan:
    cloud: "{{ kvmcloud_cloud }}"
    images: "{{ kvmcloud_images }}"
    networks: "{{ kvmcloud_networks }}"
    servers: "{{ kvmcloud_servers }}"
    project: demo
    exclusive: true
  register: plan

- name: Register only the images that need it
  kvmcloud.cloud.image:
    cloud: "{{ kvmcloud_cloud }}"
    name: "{{ item.name }}"
    filename: "{{ item.filename }}"
  loop: "{{ kvmcloud_images | selectattr('name', 'in', plan.pending.images) }}"
'''

RETURN = r'''
pending:
  description:
    - The items a real run would change, by kind - C(images), C(networks), C(security_groups),
      C(ports), C(volumes) (lists of names) - and C(servers), whether the server_fleet call would change anything.
  returned: always
  type: dict
  sample: {images: [], networks: [demo-net], security_groups: [], ports: [], volumes: [], servers: true}
plans:
  description: The diff each pending item's module would report, by kind and name (C(servers) is the fleet's diff).
  returned: always
  type: dict
reasons:
  description: Why the plan of an item could not be made, by kind and name (C(servers) a string).
  returned: always
  type: dict
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.cloud.plan import run_cloud_plan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import SERVER_SPEC
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(
        argument_spec=dict(
            images=dict(type='list', elements='dict', default=[]),
            networks=dict(type='list', elements='dict', default=[]),
            security_groups=dict(type='list', elements='dict', default=[]),
            ports=dict(type='list', elements='dict', default=[]),
            volumes=dict(type='list', elements='dict', default=[]),
            servers=dict(type='list', elements='dict', options=SERVER_SPEC),
            project=dict(type='str'),
            exclusive=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    ).run(run_cloud_plan)


if __name__ == '__main__':
    main()
