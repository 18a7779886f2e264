#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: volume
short_description: Manage block storage volumes of the cloud
version_added: 0.1.0
description:
  - Creates a data volume in the volumes pool of a hypervisor, empty or from an image as a
    qcow2 overlay on the image's base volume (default) or as a full copy.
  - Grows a volume, live with C(blockResize) when it is attached to a running server. A
    volume never shrinks.
  - Records the owning project beside the volume, through libvirt, so
    M(kvmcloud.cloud.volume_info) can filter by project from any controller.
  - Before a volume is created or grown, in check mode too, the O(project)'s C(volumes) and
    C(gigabytes) quotas are checked, counted over every hypervisor of the cloud (a request that
    needs the count is refused while a hypervisor is unreachable), and so is the pool's
    capacity times the hypervisor's C(disk_allocation_ratio). As in Cinder, C(gigabytes)
    counts data volumes, boot volumes included, not servers' own root disks.
  - A volume stays in its project; another O(project) is refused. A volume of no project may
    be given to one, within its quotas.
  - O(state=absent) refuses while the volume is attached to a server.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  clone:
    description:
      - With O(image), V(overlay) makes a qcow2 overlay backed by the image's base volume;
        V(full) copies the image.
    type: str
    choices: [overlay, full]
    default: overlay
  format:
    description:
      - Disk format of a new volume; V(qcow2) by default.
    type: str
    choices: [qcow2, raw]
  hypervisor:
    description:
      - Hypervisor to create the volume on. Required when the cloud has more than one enabled
        hypervisor and the volume does not exist yet.
    type: str
  image:
    description:
      - Name of a registered image (M(kvmcloud.cloud.image)) the volume starts from.
    type: str
  name:
    description:
      - Name of the volume, unique across the cloud.
      - 1 to 64 ASCII letters, digits, V(.), V(_) and V(-), starting with a letter or digit.
    type: str
    required: true
  project:
    description:
      - Project owning the volume. Its quotas apply to the volume; it cannot change once set.
    type: str
  size:
    description:
      - Size as a number of GiB, or a string with a unit such as V(512M), V(10G) or V(1TiB).
      - Required for an empty volume; with O(image), at least the image's virtual size (a
        smaller one is refused), which is the size when left out.
      - A larger size grows the volume; a smaller one fails.
    type: raw
  state:
    description: Whether the volume should exist.
    type: str
    choices: [present, absent]
    default: present
'''

EXAMPLES = r'''
- name: An empty 10 GiB data volume of project demo
  kvmcloud.cloud.volume:
    cloud: "{{ kvmcloud_cloud }}"
    name: data1
    size: 10G
    project: demo

- name: A volume starting from an image, as an overlay on the image's base
  kvmcloud.cloud.volume:
    cloud: "{{ kvmcloud_cloud }}"
    name: root1
    image: tiny
    size: 1G

- name: Remove a volume
  kvmcloud.cloud.volume:
    cloud: "{{ kvmcloud_cloud }}"
    name: data1
    state: absent
'''

RETURN = r'''
volume:
  description: The volume after the run (predicted in check mode; empty after O(state=absent)).
  returned: always
  type: dict
  contains:
    allocation:
      description: Bytes allocated on disk.
      type: int
    attachments:
      description: Servers the volume is attached to, with the device name.
      type: list
      elements: dict
    backing_file:
      description: Path of the base volume an overlay is backed by.
      type: str
    clone:
      description: How the volume was made from its image.
      type: str
    created_at:
      description: Creation time, UTC.
      type: str
    format:
      description: Disk format.
      type: str
    hypervisor:
      description: Hypervisor the volume lives on.
      type: str
    image:
      description: Image the volume started from.
      type: str
    name:
      description: Volume name.
      type: str
    path:
      description: Path of the volume on the hypervisor.
      type: str
    pool:
      description: Storage pool of the volume.
      type: str
    project:
      description: Owning project.
      type: str
    size:
      description: Size in bytes.
      type: int
    size_gb:
      description: Size in GiB.
      type: float
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import VOLUME_ARGUMENT_SPEC, run_volume


def main():
    CloudModule(
        argument_spec=VOLUME_ARGUMENT_SPEC,
        writes=True,
        supports_check_mode=True,
    ).run(run_volume)


if __name__ == '__main__':
    main()
