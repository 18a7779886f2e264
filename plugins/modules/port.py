#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: port
short_description: Reserve a fixed address on a network of the cloud, with a MAC and security groups
version_added: 0.1.0
description:
  - A port is a server's interface on a network. It has a MAC address and a fixed IPv4 address,
    and can exist before its server does, to reserve the address.
  - The port is written on every reachable hypervisor of O(hypervisors) the network is defined on, as a DHCP host
    reservation (MAC, address, host name) applied live and to the persistent config, so the guest
    always gets the same address, also after the network restarts. The network's persistent
    definition keeps a record of the port (project, security groups, creation time) in its
    C(<metadata>).
  - The address is O(fixed_ip), or the lowest free address of the allocation pools. Free means
    free on every hypervisor of the cloud the network is on - not reserved, not leased, not
    recorded for another port.
  - The MAC is O(mac_address), or derived from the network and port names with the project's MAC
    prefix, and unique on the network.
  - Each port gets a nwfilter C(kvmcloud-port-<name>), which a server's interface references. It
    binds the MAC and address to the port (no MAC, IP or ARP spoofing) and adds the rules of the
    port's O(security_groups). Changing the groups applies to a running server at once.
notes:
  - Port names are unique in the cloud.
  - A hypervisor that cannot be reached is skipped and listed in RV(unreachable_hypervisors); the next run
    that reaches it writes the port there.
requirements:
  - netaddr (on the controller)
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.allocation
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  fixed_ip:
    description:
      - The IPv4 address of the port. It must lie in the allocation pools of the network's subnet
        and be free. Default the lowest free address when the port is created; an existing port
        keeps its address.
    type: str
  hostname:
    description:
      - Host name of the DHCP reservation, which dnsmasq also resolves. Default O(name) when it is
        a valid DNS label.
    type: str
  mac_address:
    description:
      - The MAC address of the port, unicast. Default derived from the network and port names with
        the project's MAC prefix (see the C(cloud) option's C(projects[].mac_prefix)).
    type: str
  name:
    description:
      - Name of the port, unique in the cloud.
      - 1 to 64 ASCII letters, digits, V(.), V(_) and V(-), starting with a letter or digit.
    type: str
    required: true
  network:
    description: Name of the network, which must have a subnet with allocation pools.
    type: str
    required: true
  project:
    description:
      - Project that owns the port, one of the cloud's projects. Required to create a port. The
        project's C(ports) quota is checked before a port is created.
    type: str
  port_security:
    description:
      - Whether the port is filtered - anti-spoofing (its MAC and address only) and the rules of
        its O(security_groups). V(false) gives the interface no filter at all, like a Neutron
        port with port security disabled; O(security_groups) must then be empty.
      - Default V(true) when the port is created, else unchanged.
      - Filtering costs time each time a guest starts (libvirt instantiates the rules then).
    type: bool
  security_groups:
    description:
      - Security groups whose rules apply to the port, by name (see M(kvmcloud.cloud.security_group)).
      - Default V([default]) when the port is created; the C(default) group is defined with its
        standard rules when missing. An empty list lets only DHCP through.
      - Unknown groups fail before anything changes.
    type: list
    elements: str
  state:
    description:
      - Whether the port should exist. O(state=absent) is refused while a server has an interface
        with the port's MAC on the network.
    type: str
    choices: [present, absent]
    default: present
'''

EXAMPLES = r'''
- name: Reserve the lowest free address of the network private for the future server web1
  kvmcloud.cloud.port:
    cloud: "{{ kvmcloud_cloud }}"
    name: web1-eth0
    network: private
    project: demo
    hostname: web1

- name: A port with a fixed address and two security groups
  kvmcloud.cloud.port:
    cloud: "{{ kvmcloud_cloud }}"
    name: db1-eth0
    network: private
    project: demo
    fixed_ip: 10.20.0.50
    security_groups: [default, database]

- name: Remove a port
  kvmcloud.cloud.port:
    cloud: "{{ kvmcloud_cloud }}"
    name: db1-eth0
    network: private
    state: absent
'''

RETURN = r'''
port:
  description: The port after the run (predicted in check mode); null after O(state=absent).
  returned: always
  type: dict
  contains:
    created:
      description: When the port was created, UTC, ISO 8601.
      type: str
    filter:
      description: Name of the port's nwfilter, which a server's interface references.
      type: str
      sample: kvmcloud-port-web1-eth0
    hostname:
      description: Host name of the reservation, or null.
      type: str
    hypervisors:
      description: Hypervisors the port is written on.
      type: list
      elements: str
    ip:
      description: The fixed IPv4 address.
      type: str
      sample: 10.20.0.100
    mac:
      description: The MAC address.
      type: str
    name:
      description: Port name.
      type: str
    network:
      description: Network name.
      type: str
    project:
      description: Project that owns the port.
      type: str
    security_groups:
      description: Security groups of the port.
      type: list
      elements: str
    server:
      description: Server the port belongs to, or null.
      type: str
unreachable_hypervisors:
  description: Hypervisors that could not be reached, with the reason.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.ports import PORT_ARGUMENT_SPEC, run_port


def main():
    CloudModule(
        argument_spec=PORT_ARGUMENT_SPEC,
        allocates=True,
        writes=True,
        supports_check_mode=True,
    ).run(run_port)


if __name__ == '__main__':
    main()
