# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The option every kvmcloud module shares; plugins/module_utils/core/cloud.py holds the
    # matching argument spec (CLOUD_ARGUMENT_SPEC).
    DOCUMENTATION = r'''
options:
  cloud:
    description:
      - The cloud definition, usually set once for all modules of the collection with
        C(module_defaults) and the action group C(group/kvmcloud.cloud.cloud).
    type: dict
    required: true
    suboptions:
      flavors:
        description:
          - Named server sizes.
        type: list
        elements: dict
        default: []
        suboptions:
          disk:
            description: Root disk size in GiB; V(0) keeps the image's size.
            type: int
            default: 0
          name:
            description: Name of the flavor.
            type: str
            required: true
          ram:
            description: Memory in MiB.
            type: int
            required: true
          vcpus:
            description: Number of virtual CPUs.
            type: int
            required: true
      hypervisors:
        description:
          - The hypervisors of the cloud, each reached through a libvirt connection URI.
        type: list
        elements: dict
        required: true
        suboptions:
          cpu_allocation_ratio:
            description: Virtual CPUs that may be allocated per physical CPU.
            type: float
            default: 4.0
          disk_allocation_ratio:
            description: Disk that may be allocated per byte of pool capacity.
            type: float
            default: 1.0
          enabled:
            description: Whether new servers may be placed on this hypervisor.
            type: bool
            default: true
          images_pool:
            description: The storage pool holding base images on this hypervisor.
            type: str
            default: kvmcloud-images
          name:
            description: Name of the hypervisor, unique in the cloud.
            type: str
            required: true
          ram_allocation_ratio:
            description: Memory that may be allocated per byte of physical memory.
            type: float
            default: 1.0
          reserved_host_cpus:
            description: CPUs kept for the host and never allocated to servers.
            type: int
            default: 0
          reserved_host_disk_gb:
            description: Disk in GiB kept for the host in each pool.
            type: int
            default: 0
          reserved_host_memory_mb:
            description: Memory in MiB kept for the host and never allocated to servers.
            type: int
            default: 512
          uri:
            description:
              - libvirt connection URI, for example V(qemu:///system) for this machine,
                V(qemu+ssh://root@hv1/system) for a remote hypervisor or
                V(qemu+unix:///system?socket=/path/libvirt-sock) for a local socket.
            type: str
            required: true
          virt_type:
            description:
              - Virtualisation type to use on this hypervisor, overriding the type the
                C(kvmcloud.cloud.hypervisor) role probed and recorded.
            type: str
            choices: [kvm, qemu]
          volumes_pool:
            description: The storage pool holding server disks and volumes on this hypervisor.
            type: str
            default: kvmcloud-volumes
          zone:
            description: Availability zone of the hypervisor.
            type: str
            default: nova
      keypairs:
        description:
          - SSH public keys that servers can be given by name.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Name of the keypair.
            type: str
            required: true
          public_key:
            description:
              - The OpenSSH public key, one line C(<type> <base64 key> [comment]) as in a C(.pub)
                file, of type C(ssh-ed25519), C(ecdsa-sha2-nistp256), C(ecdsa-sha2-nistp384),
                C(ecdsa-sha2-nistp521), C(sk-ssh-ed25519@openssh.com),
                C(sk-ecdsa-sha2-nistp256@openssh.com) or C(ssh-rsa). Anything else is refused.
              - A public key is not a secret, so it is not hidden from the output.
            type: str
            required: true
      projects:
        description:
          - Projects that own servers, volumes and ports, with their quotas.
        type: list
        elements: dict
        default: []
        suboptions:
          description:
            description: Free text describing the project.
            type: str
            default: ''
          mac_prefix:
            description:
              - First three bytes of the MAC addresses of the project's ports, for example
                V(02:4b:43). It must be unicast and locally administered.
              - Default three bytes derived from the project's name.
            type: str
          name:
            description: Name of the project.
            type: str
            required: true
          quotas:
            description:
              - Limits of the project; a missing limit or V(-1) means unlimited.
            type: dict
            default: {}
            suboptions:
              cores:
                description: Virtual CPUs of all servers.
                type: int
              gigabytes:
                description: GiB of all volumes.
                type: int
              instances:
                description: Number of servers.
                type: int
              ports:
                description: Number of ports.
                type: int
              ram:
                description: MiB of memory of all servers.
                type: int
              volumes:
                description: Number of volumes.
                type: int
requirements:
  - libvirt-python
'''
