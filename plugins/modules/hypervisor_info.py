#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: hypervisor_info
short_description: Report the hypervisors of the cloud, their capacity and storage pools
version_added: 0.1.0
description:
  - Connects to every hypervisor of the cloud definition (or those named), concurrently, and
    reports whether it is reachable, its libvirt and QEMU versions, the virtualisation type
    servers use there, CPUs, memory and storage pools.
  - An unreachable hypervisor is reported with the reason; it does not fail the task.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
options:
  name:
    description:
      - Report only these hypervisors. Unknown names fail the task.
    type: list
    elements: str
    aliases: [names]
'''

EXAMPLES = r'''
- name: Report every hypervisor of the cloud
  kvmcloud.cloud.hypervisor_info:
    cloud:
      hypervisors:
        - name: hv1
          uri: qemu:///system
  register: cloud_hypervisors

- name: Report one hypervisor, with the cloud set once for the whole play
  module_defaults:
    group/kvmcloud.cloud.cloud:
      cloud: "{{ kvmcloud_cloud }}"
  kvmcloud.cloud.hypervisor_info:
    name: [hv2]
'''

RETURN = r'''
hypervisors:
  description: One entry per hypervisor, in the order of the cloud definition.
  returned: always
  type: list
  elements: dict
  contains:
    arch:
      description: CPU architecture of the host.
      type: str
      sample: x86_64
    cpus:
      description: Number of active CPUs of the host.
      type: int
      sample: 8
    driver:
      description: libvirt driver behind the URI.
      type: str
      sample: QEMU
    enabled:
      description: Whether new servers may be placed there, from the cloud definition.
      type: bool
    free_memory_mb:
      description: Free memory of the host in MiB.
      type: int
    hostname:
      description: Host name of the hypervisor host.
      type: str
    kvm_offered:
      description:
        - Whether libvirt offers KVM acceleration at all. It can be offered and still
          unusable; RV(hypervisors[].virt_type) is what servers use.
      type: bool
    libvirt_version:
      description: Version of the libvirt daemon.
      type: str
      sample: 9.0.0
    memory_mb:
      description: Memory of the host in MiB.
      type: int
    name:
      description: Name of the hypervisor.
      type: str
      returned: always
      sample: hv1
    pools:
      description:
        - Every storage pool of the hypervisor, sorted by name, each as M(kvmcloud.cloud.storage_pool) returns
          RV(kvmcloud.cloud.storage_pool#module:pools) (without C(owner), C(group) and C(hypervisor)).
      type: list
      elements: dict
    qemu_version:
      description: Version of QEMU, for QEMU hypervisors.
      type: str
      sample: 7.2.0
    reachable:
      description: Whether the hypervisor's libvirt could be reached.
      type: bool
      returned: always
    reason:
      description: Why the hypervisor is unreachable; null when it is reachable.
      type: str
      returned: always
    record:
      description: The facts the C(kvmcloud.cloud.hypervisor) role recorded on the hypervisor, if any.
      type: dict
    uri:
      description: libvirt connection URI.
      type: str
      returned: always
    virt_type:
      description: Virtualisation type servers use on this hypervisor.
      type: str
      sample: qemu
    virt_type_source:
      description: Where RV(hypervisors[].virt_type) comes from.
      type: str
      sample: recorded
    zone:
      description: Availability zone.
      type: str
      returned: always
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.facts import run_hypervisor_info


def main():
    CloudModule(
        argument_spec=dict(name=dict(type='list', elements='str', aliases=['names'])),
        supports_check_mode=True,
    ).run(run_hypervisor_info)


if __name__ == '__main__':
    main()
