#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server_volume
short_description: Attach a volume to a server, or detach it
version_added: 0.1.0
description:
  - Attaches a volume to a server as a virtio disk, live when the server runs and in its
    persistent config, so it survives a restart; detaches it the same way.
  - The guest sees the disk with a stable serial (the volume name, shortened past 20
    characters), for example as C(/dev/disk/by-id/virtio-data1).
  - A live detach waits until the guest has released the disk, up to O(wait_timeout).
  - A volume is attached to one server at a time; attaching one that another server has is
    refused, naming that server.
  - Detaching from a server that no longer exists changes nothing.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.wait
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  device:
    description:
      - Disk name in the server, for example V(vdb); the first free one by default.
      - A virtio disk name, C(vd[a-z]+); one that another disk of the server has is refused.
    type: str
  hypervisor:
    description:
      - Hypervisor of the server; found by searching every hypervisor when left out.
    type: str
  server:
    description: Name of the server.
    type: str
    required: true
  state:
    description: Whether the volume should be attached.
    type: str
    choices: [present, absent]
    default: present
  volume:
    description: Name of the volume; it must be on the server's hypervisor.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Attach data1 to web1, live and persistently
  kvmcloud.cloud.server_volume:
    cloud: "{{ kvmcloud_cloud }}"
    server: web1
    volume: data1

- name: Detach it
  kvmcloud.cloud.server_volume:
    cloud: "{{ kvmcloud_cloud }}"
    server: web1
    volume: data1
    state: absent
'''

RETURN = r'''
attachment:
  description: The attachment after the run (predicted in check mode).
  returned: always
  type: dict
  contains:
    attached:
      description: Whether the volume is in the server's persistent config.
      type: bool
    device:
      description: Disk name in the server; null when detached.
      type: str
    hypervisor:
      description: Hypervisor of the server; null when the server does not exist (O(state=absent)).
      type: str
    live:
      description: Whether the running server has the disk; null when the server is not running.
      type: bool
    serial:
      description: Serial of the disk as the guest sees it.
      type: str
    server:
      description: Server name.
      type: str
    volume:
      description: Volume name.
      type: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.attach import run_server_volume


def main():
    CloudModule(
        argument_spec=dict(
            server=dict(type='str', required=True),
            volume=dict(type='str', required=True),
            device=dict(type='str'),
            hypervisor=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        waits=True,
        writes=True,
        supports_check_mode=True,
    ).run(run_server_volume)


if __name__ == '__main__':
    main()
