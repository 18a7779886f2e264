#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: image
short_description: Register or remove an image on the hypervisors of the cloud
version_added: 0.1.0
description:
  - Registers a qcow2 or raw image under a name on every hypervisor named (all enabled
    hypervisors by default), uploading it to the hypervisors that need it concurrently,
    through libvirt only.
  - Each hypervisor keeps the content once, content-addressed, as the base volume
    C(sha256-<hex>.qcow2) or C(sha256-<hex>.raw) in its images pool, and a catalog entry
    C(image-<name>.json) next to it.
  - The format is detected from the content. Other formats (vmdk, vdi, vhd, vhdx, qed, ISO
    9660, compressed files and archives) are refused, and so are qcow2 images with a backing
    file, an external data file or encryption.
  - A qcow2 image is checked whole with C(qemu-img check) and C(qemu-img info) on the controller
    before anything is uploaded; a truncated or damaged image is refused with what qemu-img said.
  - If the upload or the catalog update fails on any hypervisor, what the run created on the
    others is removed again and the task fails naming the hypervisors that failed.
  - Registering other content under a registered name needs O(force=true), and is refused
    while a server or volume uses the old base volume. A change of O(min_disk), O(min_ram)
    or O(properties) only rewrites the catalog entry.
  - O(state=absent) removes the catalog entry, and the base volume unless another image
    uses the same content. It is refused while a domain (a disk or its backing chain) or a
    volume in any pool (as its backing store) uses the base volume that would be removed.
  - The content is read (or downloaded) only when a hypervisor needs it. In check mode it is
    read too, so that the prediction is exact.
author:
  - kvmcloud developers (@kvmcloud)
requirements:
  - qemu-img on the controller, to check qcow2 images (Debian package qemu-utils)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.hypervisors
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
options:
  checksum:
    description:
      - The sha256 checksum of the content, as C(sha256:<64 hex digits>).
      - Required with O(url). With O(filename) the file is checked against it, and when every
        hypervisor already holds an image of this name with this checksum and the file's
        size, the file is not read at all.
    type: str
  disk_format:
    description:
      - The format of the content. It is detected from the content; when given, it must be
        the detected format.
    type: str
    choices: [qcow2, raw]
  filename:
    description:
      - The image file, on the controller (where the module runs).
      - One of O(filename) and O(url) is required with O(state=present).
    type: path
  force:
    description:
      - Allow replacing an image registered under O(name) with different content. The old
        base volume is deleted unless another image uses it, and the replacement is refused
        while a server or volume uses it.
    type: bool
    default: false
  min_disk:
    description:
      - Smallest root disk, in GiB, a server booting the image needs. V(0) when a new image
        is registered without it; unchanged otherwise.
    type: int
  min_ram:
    description:
      - Least memory, in MiB, a server booting the image needs. V(0) when a new image is
        registered without it; unchanged otherwise.
    type: int
  name:
    description:
      - Name of the image, 1 to 64 letters, digits, dots, dashes and underscores, starting
        with a letter or digit.
    type: str
    required: true
  properties:
    description:
      - Free-form properties of the image, for example C(os_distro). When given, they replace
        the properties the image has; V({}) when a new image is registered without them.
    type: dict
  state:
    description: Whether the image should be registered.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Timeout in seconds of each network operation of the download from O(url).
    type: int
    default: 60
  url:
    description:
      - An C(http://) or C(https://) URL to download the image from. The controller downloads
        it to a temporary file, resuming a dropped connection when the server supports ranges,
        verifies its length and O(checksum), then uploads it.
      - Other schemes, C(file://) among them, are refused; give a file on the controller as
        O(filename).
      - A truncated download or a checksum mismatch fails the task before any hypervisor
        is touched.
    type: str
  validate_certs:
    description: Whether to verify the TLS certificate of O(url).
    type: bool
    default: true
notes:
  - O(filename) and O(url) are mutually exclusive.
'''

EXAMPLES = r'''
- name: Register an image built on the controller on every enabled hypervisor
  kvmcloud.cloud.image:
    cloud: "{{ kvmcloud_cloud }}"
    name: tiny
    filename: /var/lib/kvmcloud/build/tiny.qcow2
    min_disk: 1
    min_ram: 64
    properties:
      os_distro: debian

- name: Register a cloud image from the web
  kvmcloud.cloud.image:
    cloud: "{{ kvmcloud_cloud }}"
    name: debian-12
    url: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
    checksum: "sha256:{{ debian_12_sha256 }}"

- name: Replace the content of an image
  kvmcloud.cloud.image:
    cloud: "{{ kvmcloud_cloud }}"
    name: tiny
    filename: /var/lib/kvmcloud/build/tiny-v2.qcow2
    force: true

- name: Remove an image from one hypervisor
  kvmcloud.cloud.image:
    cloud: "{{ kvmcloud_cloud }}"
    name: tiny
    hypervisors: [hv2]
    state: absent
'''

RETURN = r'''
hypervisors:
  description:
    - The hypervisors, of those managed by the task, that hold the image after the run
      (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: [hv1, hv2]
image:
  description:
    - The image's catalog entry after the run (predicted in check mode); empty when the
      image is not registered.
  returned: always
  type: dict
  contains:
    base_volume:
      description: Name of the base volume in the images pool.
      type: str
      sample: sha256-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.qcow2
    checksum:
      description: The sha256 checksum of the content.
      type: str
      sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    disk_format:
      description: Format of the content.
      type: str
      sample: qcow2
    min_disk:
      description: Smallest root disk in GiB.
      type: int
    min_ram:
      description: Least memory in MiB.
      type: int
    name:
      description: Name of the image.
      type: str
    properties:
      description: Free-form properties.
      type: dict
    registered_at:
      description: When the content was registered under this name, UTC, ISO 8601.
      type: str
      sample: '2024-05-01T12:00:00Z'
    size:
      description: Size of the content in bytes.
      type: int
    virtual_size:
      description: Size of the disk the image holds, in bytes.
      type: int
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import IMAGE_ARGUMENT_SPEC, IMAGE_MODULE_OPTIONS, run_image


def main():
    CloudModule(
        argument_spec=IMAGE_ARGUMENT_SPEC,
        writes=True,
        supports_check_mode=True,
        **IMAGE_MODULE_OPTIONS
    ).run(run_image)


if __name__ == '__main__':
    main()
