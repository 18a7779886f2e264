# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The options of one server: the server module's, and each element of server_fleet's servers.
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
