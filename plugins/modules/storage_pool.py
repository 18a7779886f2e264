#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_pool
short_description: Manage a storage pool on the hypervisors of the cloud
version_added: 0.1.0
description:
  - Defines, builds, starts and autostarts a libvirt storage pool of type C(dir) on every
    hypervisor named (all enabled hypervisors by default), concurrently.
  - A change of mode, owner or group is applied by redefining and rebuilding the pool. A
    change of path or type needs O(recreate=true).
  - O(state=absent) stops and undefines the pool; its directory and the volumes in it are
    kept. It is refused, in check mode too, while a server's disk (or a volume of another
    pool backed by one) is in the pool, and while the pool holds volumes of the cloud (data
    volumes and their records, images and their catalog entries, the hypervisor record,
    servers' disks) unless O(delete_volumes=true).
  - O(path) must be absolute; O(owner) and O(group) must not be negative.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  active:
    description: Whether the pool runs.
    type: bool
    default: true
  autostart:
    description: Whether the pool starts with libvirt.
    type: bool
    default: true
  delete_volumes:
    description:
      - With O(state=absent), delete every volume in the pool and then its directory, instead
        of keeping them. The volumes' data is lost.
      - Still refused while a server uses a volume in the pool.
    type: bool
    default: false
  group:
    description: Numeric group id of the pool's directory.
    type: int
  mode:
    description:
      - Permission mode of the pool's directory, in octal, for example V('0711').
      - Quote it in YAML; an unquoted number is taken as the mode's value, as
        M(ansible.builtin.file) does.
    type: raw
  name:
    description:
      - Name of the pool, 1 to 64 ASCII letters, digits, V(.), V(_) and V(-), starting with a
        letter or digit. A pool whose name does not follow this rule can still be removed.
    type: str
    required: true
  owner:
    description: Numeric user id of the pool's directory.
    type: int
  path:
    description:
      - Directory of the pool on the hypervisor, an absolute path. Required to create the pool.
    type: path
  recreate:
    description:
      - Allow a change of O(path) or O(type) by undefining the pool and defining it again.
        Volumes stay in the old directory, so this is refused while the pool holds volumes a
        server uses or volumes of the cloud.
    type: bool
    default: false
  state:
    description: Whether the pool should exist.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Pool type.
    type: str
    choices: [dir]
    default: dir
'''

EXAMPLES = r'''
- name: A pool for server disks on every hypervisor
  kvmcloud.cloud.storage_pool:
    cloud: "{{ kvmcloud_cloud }}"
    name: kvmcloud-volumes
    path: /var/lib/kvmcloud/volumes
    mode: "0711"

- name: Remove a pool from one hypervisor, keeping its files
  kvmcloud.cloud.storage_pool:
    cloud: "{{ kvmcloud_cloud }}"
    name: scratch
    hypervisors: [hv2]
    state: absent

- name: Delete a scratch pool together with every volume in it
  kvmcloud.cloud.storage_pool:
    cloud: "{{ kvmcloud_cloud }}"
    name: scratch
    state: absent
    delete_volumes: true
'''

RETURN = r'''
pools:
  description: The pool on each hypervisor after the run (predicted in check mode; empty after O(state=absent)).
  returned: always
  type: list
  elements: dict
  contains:
    active:
      description: Whether the pool runs.
      type: bool
    allocation:
      description: Bytes allocated in the pool.
      type: int
    autostart:
      description: Whether the pool starts with libvirt.
      type: bool
    available:
      description: Bytes still available in the pool.
      type: int
    capacity:
      description: Size of the pool in bytes.
      type: int
    group:
      description: Numeric group id of the directory, if set.
      type: int
    hypervisor:
      description: The hypervisor.
      type: str
    mode:
      description: Permission mode of the directory, if set.
      type: str
    name:
      description: Pool name.
      type: str
    owner:
      description: Numeric user id of the directory, if set.
      type: int
    path:
      description: Directory of the pool.
      type: str
    type:
      description: Pool type.
      type: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import POOL_TYPES, run_storage_pool


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', choices=list(POOL_TYPES), default='dir'),
            path=dict(type='path'),
            mode=dict(type='raw'),
            owner=dict(type='int'),
            group=dict(type='int'),
            active=dict(type='bool', default=True),
            autostart=dict(type='bool', default=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            recreate=dict(type='bool', default=False),
            delete_volumes=dict(type='bool', default=False),
            hypervisors=dict(type='list', elements='str'),
        ),
        writes=True,
        supports_check_mode=True,
    ).run(run_storage_pool)


if __name__ == '__main__':
    main()
