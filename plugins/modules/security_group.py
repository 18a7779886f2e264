#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: security_group
short_description: Manage a security group of the cloud on libvirt's network filters
version_added: 0.1.0
description:
  - Defines a security group, like Neutron's, on every hypervisor named (all enabled hypervisors
    by default), concurrently. A group is the libvirt network filter C(kvmcloud-sg-<name>) with one
    rule per group rule; a port (M(kvmcloud.cloud.port)) lets in and out the traffic that one of
    its groups' rules allows, and drops all other IP traffic.
  - Rules are stateful, as in Neutron; the replies to a connection a rule allows are let through
    in the other direction.
  - The rules are declarative; rules not listed in O(rules) are removed. libvirt applies a
    changed group to the running servers at once.
  - A rule with a O(rules[].remote_group) matches the addresses of that group's ports. Such a group
    must be the group itself, V(default), or exist on every hypervisor named; otherwise the task
    fails before anything changes.
  - O(state=absent) removes the group; refused, before anything changes, while a port or another
    group's rule uses it on any of the hypervisors.
  - Every port also gets the collection's anti-spoofing filters (its own MAC and IP only; ARP and
    IPv4 only) and DHCP; this module defines those filters on a hypervisor when they are missing.
notes:
  - The group V(default), which ports without groups get, allows all egress traffic and all
    ingress traffic from its own members; it is created with those rules when a port needs it
    and may be redefined with this module.
  - libvirt's network filters have no place for a description, so a group has none.
  - Networks are IPv4-only and the anti-spoofing filters drop IPv6, so IPv6 rules are refused.
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
  name:
    description:
      - Name of the group, 1 to 64 characters, ASCII letters, digits, V(.), V(_) and V(-), starting
        with a letter or digit.
    type: str
    required: true
  rules:
    description:
      - The rules of the group, in any order; duplicates count once.
      - When not set, an existing group keeps its rules and a new one gets none. V([]) removes
        every rule, so the group lets nothing through.
    type: list
    elements: dict
    suboptions:
      direction:
        description:
          - V(ingress) allows traffic to the group's ports, V(egress) traffic from them.
        type: str
        choices: [egress, ingress]
        default: ingress
      ethertype:
        description:
          - Only V(IPv4); V(IPv6) is refused.
        type: str
        choices: [IPv4, IPv6]
        default: IPv4
      port_range_max:
        description:
          - Last port of the range, 1 to 65535. Default O(rules[].port_range_min).
        type: int
      port_range_min:
        description:
          - First destination port of the range, 1 to 65535, with O(rules[].protocol=tcp) or
            O(rules[].protocol=udp) only. Every port when not set.
        type: int
      protocol:
        description:
          - The IP protocol; V(any) matches every protocol.
        type: str
        choices: [any, icmp, tcp, udp]
        default: any
      remote_group:
        description:
          - Match only the addresses of this group's ports (the source for O(rules[].direction=ingress),
            the destination for O(rules[].direction=egress)). Mutually exclusive with
            O(rules[].remote_ip_prefix).
        type: str
      remote_ip_prefix:
        description:
          - Match only this IPv4 address or CIDR, for example V(10.20.0.0/24); an address means a
            V(/32). V(0.0.0.0/0) is the same as not setting it. Mutually exclusive with
            O(rules[].remote_group).
        type: str
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
'''

EXAMPLES = r'''
- name: A bastion group that takes SSH from the office
  kvmcloud.cloud.security_group:
    cloud: "{{ kvmcloud_cloud }}"
    name: bastion
    rules:
      - protocol: tcp
        port_range_min: 22
        remote_ip_prefix: 192.0.2.0/24
      - direction: egress

- name: Web servers take HTTP and HTTPS from anywhere and SSH from the bastion
  kvmcloud.cloud.security_group:
    cloud: "{{ kvmcloud_cloud }}"
    name: web
    rules:
      - protocol: tcp
        port_range_min: 80
      - protocol: tcp
        port_range_min: 443
      - protocol: tcp
        port_range_min: 22
        remote_group: bastion
      - protocol: icmp
        remote_group: web
      - direction: egress

- name: Redefine the default group without egress
  kvmcloud.cloud.security_group:
    cloud: "{{ kvmcloud_cloud }}"
    name: default
    rules:
      - remote_group: default

- name: Remove a group
  kvmcloud.cloud.security_group:
    cloud: "{{ kvmcloud_cloud }}"
    name: web
    state: absent
'''

RETURN = r'''
security_groups:
  description:
    - The group on each hypervisor after the run (predicted in check mode; only
      RV(security_groups[].hypervisor) after O(state=absent)).
  returned: always
  type: list
  elements: dict
  contains:
    hypervisor:
      description: The hypervisor.
      type: str
    name:
      description: Name of the group.
      type: str
    rules:
      description:
        - The rules, sorted, each with every key of O(rules) set; V(0.0.0.0/0) and addresses as
          CIDRs normalised (V(10.0.0.7) is V(10.0.0.7/32)).
      type: list
      elements: dict
    unmanaged:
      description:
        - Entries of the group's filter, as XML, that the collection does not write (made outside
          it); a run removes them. Empty normally.
      type: list
      elements: str
    uuid:
      description: The libvirt UUID of the group's filter (not in check mode before creation).
      type: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.secgroups import SECURITY_GROUP_ARGUMENT_SPEC, run_security_group


def main():
    CloudModule(
        argument_spec=SECURITY_GROUP_ARGUMENT_SPEC,
        writes=True,
        supports_check_mode=True,
    ).run(run_security_group)


if __name__ == '__main__':
    main()
