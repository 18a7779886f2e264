#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: usage_info
short_description: What every server and volume of the cloud uses now
version_added: 0.1.0
description:
  - Reads the live usage of every server of the reachable hypervisors (or one) with one bulk
    stats call per hypervisor, the hypervisors in parallel, like OpenStack Ceilometer's polling
    of the compute nodes - power state, vCPUs and RAM, CPU time, memory, each disk's read and
    written bytes and virtual size, each interface's received and sent bytes - labelled with the
    server's project, flavor, image, hypervisor and zone from its metadata.
  - Lists the data volumes with their project and size, and totals per project of what it
    lists.
  - The counters are libvirt's, as the guest sees them (C(rx_bytes) is what the server
    received). They start from zero when the server's QEMU starts, so a stop and start resets
    them.
  - Hypervisors that cannot be reached are listed in RV(unreachable_hypervisors). Never changes
    anything.
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
author:
  - kvmcloud developers (@kvmcloud)
options:
  hypervisor:
    description: Only the servers and volumes of this hypervisor.
    type: str
  name:
    description: Only the server of this name (and the volumes attached to it).
    type: str
  power_state:
    description: Only servers in this power state (and the volumes attached to them).
    type: str
    choices: [running, stopped, paused]
  project:
    description: Only the servers and volumes of this project of the cloud definition.
    type: str
  tags:
    description: Only servers that have all these tags (and the volumes attached to them).
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: What the demo project uses now
  kvmcloud.cloud.usage_info:
    cloud: "{{ kvmcloud_cloud }}"
    project: demo
  register: usage

- name: Show the project's network traffic
  ansible.builtin.debug:
    msg: "{{ usage.projects[0].rx_bytes }} bytes in, {{ usage.projects[0].tx_bytes }} out"
'''

RETURN = r'''
servers:
  description: The servers found, sorted by name, with their counters now.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
    uuid:
      description: The domain's UUID.
      type: str
    project:
      description: Project of the server.
      type: str
    flavor:
      description: Flavor name.
      type: str
    image:
      description: Image name.
      type: str
    hypervisor:
      description: The hypervisor the server is on.
      type: str
    zone:
      description: Availability zone of the hypervisor.
      type: str
    tags:
      description: Tags.
      type: list
      elements: str
    power_state:
      description: V(running), V(stopped) or V(paused).
      type: str
    vcpus:
      description: vCPUs of the server.
      type: int
    ram:
      description: RAM of the server in MiB.
      type: int
    cpu_time_ns:
      description: CPU time the server used since its QEMU started, in nanoseconds; 0 when stopped.
      type: int
    memory_kib:
      description: Memory the guest has now (the balloon), in KiB; 0 when stopped.
      type: int
    root_size:
      description: Virtual size of the root disk in bytes.
      type: int
    disks:
      description: Each disk as C(device), C(path), C(capacity) (virtual size, bytes), C(read_bytes) and C(write_bytes).
      type: list
      elements: dict
    interfaces:
      description:
        - Each interface of a server not stopped as C(device) (the tap device), C(port), C(network), C(mac),
          C(rx_bytes) (received by the server) and C(tx_bytes) (sent).
      type: list
      elements: dict
volumes:
  description: The data volumes, sorted by name, as C(name), C(project), C(hypervisor), C(path) and C(size) (bytes).
  returned: always
  type: list
  elements: dict
projects:
  description:
    - Totals of the servers and volumes listed, per project (C(project)), sorted by project -
      C(servers), C(running) (not stopped), C(vcpus) and C(ram) (MiB) of the running ones,
      C(cpu_time_ns), C(memory_kib), C(disk_read_bytes), C(disk_write_bytes), C(rx_bytes),
      C(tx_bytes), C(volumes) and C(volume_bytes).
  returned: always
  type: list
  elements: dict
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; they are skipped. Any other
      failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.metering.usage import run_usage_info


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
    ).run(run_usage_info)


if __name__ == '__main__':
    main()
