# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The options of one server: the server module's.
    DOCUMENTATION = r'''
options:
  boot_from_volume:
    description:
      - Boot from a data volume C(<name>-root) made from O(image) (a qcow2 overlay on its base, of
        the flavor's disk size) instead of a root disk that belongs to the server. The volume is
        a volume of the project, like those of M(kvmcloud.cloud.volume). It is kept when the server
        is deleted, unless C(delete_volumes), and a server created again with the same name boots
        from it.
      - Fixed at creation.
    type: bool
    default: false
  availability_zone:
    description: Place the server on a hypervisor of this zone only.
    type: str
  disk:
    description: Root disk size in GiB, instead of O(flavor). V(0) keeps the image's size.
    type: int
  flavor:
    description:
      - Name of a flavor of the cloud definition (vCPUs, RAM, disk). Required to create a server
        unless O(vcpus) and O(ram) are given inline.
    type: str
  hypervisor:
    description: Pin the server to this hypervisor (placement filters still apply and say why it does not fit).
    type: str
  image:
    description: Name of the image the root disk is an overlay on. Required to create a server.
    type: str
  key_name:
    description: Name of a keypair of the cloud definition, whose public key goes into the seed.
    type: str
  meta:
    description: Free key/value metadata kept with the server.
    type: dict
    default: {}
  name:
    description: Name of the server, unique in the cloud; also its host name.
    type: str
    required: true
  networks:
    description:
      - The server's interfaces, in order (eth0, eth1...). Each gets a port C(<name>-eth<n>) with
        a fixed address (see M(kvmcloud.cloud.port)).
    type: list
    elements: dict
    default: []
    suboptions:
      fixed_ip:
        description: The address; default the lowest free address of the network's pools.
        type: str
      network:
        description: Network name.
        type: str
        required: true
      security_groups:
        description: Security groups of the port; default V([default]).
        type: list
        elements: str
      port_security:
        description:
          - V(false) for an interface without any filtering (no anti-spoofing, no security
            groups), as O(kvmcloud.cloud.port#module:port_security) describes. Default V(true).
          - Applies when the interface's port is created.
        type: bool
  power_state:
    description: Whether the server runs, is stopped (shut down gracefully, then forced) or paused.
    type: str
    choices: [running, stopped, paused]
    default: running
  project:
    description: Project that owns the server, one of the cloud's projects. Required to create a server.
    type: str
  ram:
    description: RAM in MiB, instead of O(flavor).
    type: int
  server_group:
    description: A server group with a placement policy.
    type: dict
    suboptions:
      name:
        description: Group name.
        type: str
        required: true
      policy:
        description: V(anti-affinity) puts every member on another hypervisor, V(affinity) all on one.
        type: str
        choices: [affinity, anti-affinity]
        default: anti-affinity
  state:
    description: Whether the server should exist.
    type: str
    choices: [present, absent]
    default: present
  tags:
    description: Tags of the server.
    type: list
    elements: str
    default: []
  user_data:
    description:
      - Cloud-init user data, a C(#cloud-config) document (text or a dict) or a C(#!) script. The
        keypair's key is merged into it.
      - It may hold secrets, so it is never shown (C(no_log)) - not in the invocation at C(-vvv),
        not in the result, not in error messages; the diff and the result show only the hash of
        the seed (C(seed_hash)), by which a change is still seen.
      - Ansible hides a value by masking every occurrence of it in the output. Given as text, the
        whole text is masked; given as a dict, each of its values is, wherever it appears (so a
        short value such as V(true) or V(UTC) would be masked in other fields too). Prefer text.
    type: raw
  vcpus:
    description: Virtual CPUs, instead of O(flavor).
    type: int
  volumes:
    description: Names of data volumes attached to the server (on its hypervisor).
    type: list
    elements: str
    default: []
'''

    # The same options as the suboptions of a list of servers (server_fleet's and cloud_plan's
    # servers); the module's own entry for servers gives its description, type and whether it is
    # required. tests/unit/test_doc_fragments.py checks that the two say the same.
    SERVERS = r'''
options:
  servers:
    suboptions:
      boot_from_volume:
        description:
          - Boot from a data volume C(<name>-root) made from O(servers[].image) (a qcow2 overlay on its base, of
            the flavor's disk size) instead of a root disk that belongs to the server. The volume is
            a volume of the project, like those of M(kvmcloud.cloud.volume). It is kept when the server
            is deleted, unless C(delete_volumes), and a server created again with the same name boots
            from it.
          - Fixed at creation.
        type: bool
        default: false
      availability_zone:
        description: Place the server on a hypervisor of this zone only.
        type: str
      disk:
        description: Root disk size in GiB, instead of O(servers[].flavor). V(0) keeps the image's size.
        type: int
      flavor:
        description:
          - Name of a flavor of the cloud definition (vCPUs, RAM, disk). Required to create a server
            unless O(servers[].vcpus) and O(servers[].ram) are given inline.
        type: str
      hypervisor:
        description: Pin the server to this hypervisor (placement filters still apply and say why it does not fit).
        type: str
      image:
        description: Name of the image the root disk is an overlay on. Required to create a server.
        type: str
      key_name:
        description: Name of a keypair of the cloud definition, whose public key goes into the seed.
        type: str
      meta:
        description: Free key/value metadata kept with the server.
        type: dict
        default: {}
      name:
        description: Name of the server, unique in the cloud; also its host name.
        type: str
        required: true
      networks:
        description:
          - The server's interfaces, in order (eth0, eth1...). Each gets a port C(<name>-eth<n>) with
            a fixed address (see M(kvmcloud.cloud.port)).
        type: list
        elements: dict
        default: []
        suboptions:
          fixed_ip:
            description: The address; default the lowest free address of the network's pools.
            type: str
          network:
            description: Network name.
            type: str
            required: true
          security_groups:
            description: Security groups of the port; default V([default]).
            type: list
            elements: str
          port_security:
            description:
              - V(false) for an interface without any filtering (no anti-spoofing, no security
                groups), as O(kvmcloud.cloud.port#module:port_security) describes. Default V(true).
              - Applies when the interface's port is created.
            type: bool
      power_state:
        description: Whether the server runs, is stopped (shut down gracefully, then forced) or paused.
        type: str
        choices: [running, stopped, paused]
        default: running
      project:
        description: Project that owns the server, one of the cloud's projects. Required to create a server.
        type: str
      ram:
        description: RAM in MiB, instead of O(servers[].flavor).
        type: int
      server_group:
        description: A server group with a placement policy.
        type: dict
        suboptions:
          name:
            description: Group name.
            type: str
            required: true
          policy:
            description: V(anti-affinity) puts every member on another hypervisor, V(affinity) all on one.
            type: str
            choices: [affinity, anti-affinity]
            default: anti-affinity
      state:
        description: Whether the server should exist.
        type: str
        choices: [present, absent]
        default: present
      tags:
        description: Tags of the server.
        type: list
        elements: str
        default: []
      user_data:
        description:
          - Cloud-init user data, a C(#cloud-config) document (text or a dict) or a C(#!) script. The
            keypair's key is merged into it.
          - It may hold secrets, so it is never shown (C(no_log)) - not in the invocation at C(-vvv),
            not in the result, not in error messages; the diff and the result show only the hash of
            the seed (C(seed_hash)), by which a change is still seen.
          - Ansible hides a value by masking every occurrence of it in the output. Given as text, the
            whole text is masked; given as a dict, each of its values is, wherever it appears (so a
            short value such as V(true) or V(UTC) would be masked in other fields too). Prefer text.
        type: raw
      vcpus:
        description: Virtual CPUs, instead of O(servers[].flavor).
        type: int
      volumes:
        description: Names of data volumes attached to the server (on its hypervisor).
        type: list
        elements: str
        default: []
'''
