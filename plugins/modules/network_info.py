#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: network_info
short_description: List the virtual networks of the cloud with their DHCP leases
version_added: 0.1.0
description:
  - Lists the libvirt networks on every hypervisor of the cloud, concurrently, with their
    subnet, DHCP leases, DHCP reservations and the number of free addresses.
  - Unreachable hypervisors are listed in RV(unreachable_hypervisors), not fatal.
requirements:
  - netaddr (on the controller)
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.info_module
options:
  name:
    description: Only the network of this name.
    type: str
'''

EXAMPLES = r'''
- name: Networks of the cloud
  kvmcloud.cloud.network_info:
    cloud: "{{ kvmcloud_cloud }}"
  register: kvmcloud_networks

- name: DHCP leases of network private on hv1
  kvmcloud.cloud.network_info:
    cloud: "{{ kvmcloud_cloud }}"
    name: private
    hypervisors: [hv1]
  register: kvmcloud_private
'''

RETURN = r'''
networks:
  description: One entry per network and hypervisor, sorted by name, then hypervisor.
  returned: always
  type: list
  elements: dict
  contains:
    active:
      description: Whether the network runs.
      type: bool
    allocation_pools:
      description: The DHCP ranges, as C(start) and C(end).
      type: list
      elements: dict
    autostart:
      description: Whether the network starts with libvirt.
      type: bool
    bridge:
      description: The bridge of the network.
      type: str
    cidr:
      description: The IPv4 subnet, null without one.
      type: str
    dns_domain:
      description: DNS domain, if set.
      type: str
    dns_hosts:
      description: Static DNS records, as C(ip) and C(hostnames).
      type: list
      elements: dict
    dns_servers:
      description: Upstream DNS servers.
      type: list
      elements: str
    free_addresses:
      description:
        - Addresses of the allocation pools neither reserved nor leased; null without a subnet.
      type: int
    gateway:
      description: Address of the hypervisor on the network.
      type: str
    hypervisor:
      description: The hypervisor.
      type: str
    leases:
      description: Current IPv4 DHCP leases (empty while the network is stopped).
      type: list
      elements: dict
      contains:
        hostname:
          description: Host name the guest sent, if any.
          type: str
        ipaddr:
          description: Leased address.
          type: str
        mac:
          description: MAC address of the guest's interface.
          type: str
    managed:
      description: Whether the collection defined the network (it carries the collection's metadata).
      type: bool
    mode:
      description: V(nat), V(routed), V(isolated), V(bridge), or another libvirt forward mode.
      type: str
    mtu:
      description: MTU of the bridge, if set.
      type: int
    name:
      description: Network name.
      type: str
    ports:
      description:
        - The ports recorded in the network's persistent definition, each as M(kvmcloud.cloud.port) returns
          RV(kvmcloud.cloud.port#module:port) (without C(filter) and C(hypervisors)), with C(leased_ip), the
          address leased to the port's MAC right now, or null.
      type: list
      elements: dict
    reservations:
      description: DHCP reservations (C(<host>) entries) of the subnet.
      type: list
      elements: dict
      contains:
        ip:
          description: Reserved address.
          type: str
        mac:
          description: MAC address it is reserved for.
          type: str
        name:
          description: Host name of the reservation, if any.
          type: str
    uuid:
      description: The network's libvirt UUID.
      type: str
unreachable_hypervisors:
  description:
    - Hypervisors that could not be reached, each with the reason; they are skipped. Any other
      failure on a reachable hypervisor fails the task.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import run_network_info


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            hypervisors=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    ).run(run_network_info)


if __name__ == '__main__':
    main()
