#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: network
short_description: Manage a virtual network with an IPv4 subnet on the hypervisors of the cloud
version_added: 0.1.0
description:
  - Defines, starts and autostarts a libvirt network on every hypervisor named (all enabled
    hypervisors by default), concurrently. libvirt runs dnsmasq for the subnet, which hands out
    addresses from the allocation pools by DHCP.
  - A subnet that overlaps another network of the collection on any of those hypervisors is
    refused before anything changes.
  - Any change of O(mode), O(bridge), O(mtu) or the O(subnet) needs O(recreate=true); the network
    is then stopped, undefined, defined and started again, keeping its ports (see
    M(kvmcloud.cloud.port)). That is refused while a server has an interface on the network, or
    when a port's address does not fit the new subnet.
  - O(dns_hosts) changes apply in place, live and to the config, without a restart.
  - Every refusal is decided on all the hypervisors before any of them changes.
  - O(state=absent) stops and undefines the network; refused while a server has an interface on it.
notes:
  - With O(mode=bridge) guests join an existing host bridge; libvirt manages no addresses there, so
    O(subnet) and O(mtu) are refused.
  - Only the options set are compared; removing O(mtu) or O(subnet.dns_domain) from the task does
    not change an existing network.
requirements:
  - netaddr (on the controller)
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  bridge:
    description:
      - With O(mode=bridge), the existing host bridge guests join; required then.
      - With the other modes, the name of the bridge libvirt creates, at most 15 characters.
        Default C(kc-) and a short hash of O(name).
    type: str
  dns_hosts:
    description:
      - Static DNS records the network's dnsmasq serves. They are applied in place, live and to
        the persistent config, with no restart; records not listed are removed.
      - Not set, the records of an existing network are left as they are.
      - Refused with O(mode=bridge).
    type: list
    elements: dict
    suboptions:
      hostnames:
        description: Names that resolve to O(dns_hosts[].ip).
        type: list
        elements: str
        required: true
      ip:
        description: The address.
        type: str
        required: true
  mode:
    description:
      - V(nat) forwards guests' traffic with NAT through the hypervisor's routes.
      - V(routed) forwards it without NAT.
      - V(isolated) forwards nothing; guests reach only each other and the hypervisor.
      - V(bridge) connects guests to the existing host bridge O(bridge).
    type: str
    choices: [bridge, isolated, nat, routed]
    default: nat
  mtu:
    description: MTU of the network's bridge. Left to libvirt when not set.
    type: int
  name:
    description:
      - Name of the network, 1 to 64 ASCII letters, digits, V(.), V(_) and V(-), starting with a
        letter or digit. A network whose name does not follow this rule can still be removed.
    type: str
    required: true
  recreate:
    description:
      - Allow a change of O(mode), O(bridge), O(mtu) or O(subnet) by stopping and undefining the
        network and defining it again. Refused while a server has an interface on the network.
    type: bool
    default: false
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  subnet:
    description:
      - The IPv4 subnet of the network. Required for O(mode=nat) and O(mode=routed), optional for
        O(mode=isolated), refused for O(mode=bridge).
    type: dict
    suboptions:
      allocation_pools:
        description:
          - Ranges dnsmasq hands out by DHCP. Default every host address but the gateway.
        type: list
        elements: dict
        suboptions:
          end:
            description: Last address of the range.
            type: str
            required: true
          start:
            description: First address of the range.
            type: str
            required: true
      cidr:
        description: The network address and prefix length, for example V(10.20.0.0/24).
        type: str
        required: true
      dns_domain:
        description: DNS domain dnsmasq serves for the guests.
        type: str
      dns_servers:
        description: Upstream DNS servers dnsmasq forwards queries to.
        type: list
        elements: str
      gateway:
        description: Address of the hypervisor on the network. Default the first host address.
        type: str
'''

EXAMPLES = r'''
- name: A NAT network on every hypervisor
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: private
    subnet:
      cidr: 10.20.0.0/24
      allocation_pools:
        - start: 10.20.0.100
          end: 10.20.0.199
      dns_domain: private.internal

- name: An isolated network on two hypervisors
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: backend
    mode: isolated
    hypervisors: [hv1, hv2]
    subnet:
      cidr: 10.30.0.0/24

- name: Guests on the host bridge br0
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: public
    mode: bridge
    bridge: br0

- name: Move a network to another gateway, recreating it
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: backend
    mode: isolated
    subnet:
      cidr: 10.30.0.0/24
      gateway: 10.30.0.254
    recreate: true

- name: Static DNS records, changed in place
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: private
    subnet:
      cidr: 10.20.0.0/24
    dns_hosts:
      - ip: 10.20.0.10
        hostnames: [db, db.private.internal]

- name: Remove a network
  kvmcloud.cloud.network:
    cloud: "{{ kvmcloud_cloud }}"
    name: backend
    state: absent
'''

RETURN = r'''
networks:
  description:
    - The network on each hypervisor after the run (predicted in check mode; only the hypervisor's name
      after O(state=absent)).
    - Each with the definition and state M(kvmcloud.cloud.network_info) reports (C(name), C(uuid), C(mode),
      C(bridge), C(mtu), C(cidr), C(gateway), C(allocation_pools), C(dns_servers), C(dns_domain), C(dns_hosts),
      C(active), C(autostart), C(hypervisor)); C(uuid) is missing in check mode before creation.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import NETWORK_ARGUMENT_SPEC, run_network


def main():
    CloudModule(
        argument_spec=NETWORK_ARGUMENT_SPEC,
        writes=True,
        supports_check_mode=True,
    ).run(run_network)


if __name__ == '__main__':
    main()
