#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server_info
short_description: List the servers of the cloud
version_added: 0.1.0
description:
  - Reads the servers of every reachable hypervisor (or one) from their domains' metadata, with
    project, flavor, image, ports and addresses, volumes, power state, console log and usage.
  - Hypervisors that cannot be reached are listed in RV(unreachable_hypervisors).
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
author:
  - kvmcloud developers (@kvmcloud)
options:
  hypervisor:
    description: Only the servers of this hypervisor.
    type: str
  name:
    description: Only the server of this name.
    type: str
  power_state:
    description: Only servers in this power state.
    type: str
    choices: [running, stopped, paused]
  project:
    description: Only the servers of this project.
    type: str
  tags:
    description: Only servers that have all these tags.
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: The running servers of the demo project
  kvmcloud.cloud.server_info:
    cloud: "{{ kvmcloud_cloud }}"
    project: demo
    power_state: running
  register: demo
'''

RETURN = r'''
servers:
  description: The servers found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    addresses:
      description: Fixed address of the server on each network, by network name.
      type: dict
    console:
      description: Path of the serial console log on the hypervisor.
      type: str
    created:
      description: When the server was created, UTC, ISO 8601.
      type: str
    flavor:
      description: The flavor, as C(name), C(vcpus), C(ram) (MiB) and C(disk) (GiB).
      type: dict
    host_keys:
      description:
        - The guest's SSH host keys (C(<type> <base64>)), as the last wait for cloud-init on it
          recorded them (see O(kvmcloud.cloud.server#module:wait_for_cloud_init)); empty before.
      type: list
      elements: str
    hypervisor:
      description: The hypervisor the server is on.
      type: str
    image:
      description: Image name.
      type: str
    meta:
      description: Free key/value metadata.
      type: dict
    name:
      description: Server name.
      type: str
    ports:
      description: The server's ports, as C(name), C(network), C(ip), C(mac), and C(leased_ip), the address leased now.
      type: list
      elements: dict
    power_state:
      description: V(running), V(stopped) or V(paused).
      type: str
    project:
      description: Project of the server.
      type: str
    ram:
      description: RAM in MiB of the server's config.
      type: int
    tags:
      description: Tags.
      type: list
      elements: str
    usage:
      description: C(cpu_time_ns) and C(memory_kib) of the running server (zero when stopped).
      type: dict
    uuid:
      description: The domain's UUID.
      type: str
    vcpus:
      description: vCPUs of the server's config.
      type: int
    volumes:
      description: Names of the attached data volumes.
      type: list
      elements: str
    zone:
      description: Availability zone of the hypervisor.
      type: str
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; they are skipped. Any other
      failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import run_server_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            project=dict(type='str'),
            hypervisor=dict(type='str'),
            power_state=dict(type='str', choices=['running', 'stopped', 'paused']),
            tags=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    ).run(run_server_info)


if __name__ == '__main__':
    main()
