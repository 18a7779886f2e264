#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: hypervisor_probe
short_description: Decide with a real guest whether a hypervisor runs servers under KVM or QEMU, and record it
version_added: 0.1.0
description:
  - Boots a transient probe guest under KVM acceleration; if it does not power itself off
    within O(timeout) seconds, the same guest must boot under QEMU software emulation, and
    the hypervisor is recorded as C(qemu). C(/dev/kvm) existing is not taken as proof.
  - The result is recorded on the hypervisor, through libvirt, as the volume
    C(kvmcloud-hypervisor.json) of its images pool, where every module and controller reads it.
  - A recorded type is kept until O(force=true) or O(virt_type) says otherwise, so a second
    run neither probes again nor reports a change.
  - The C(kvmcloud.cloud.hypervisor) role builds the probe guest and runs this module.
author:
  - kvmcloud developers (@kvmcloud)
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.attributes
attributes:
  check_mode:
    description: Reads the record and starts no probe guest.
    support: partial
    details:
      - When a probe would run (no valid record, or O(force=true) with O(virt_type=auto)), check
        mode cannot know what the probe would find; it reports a change with RV(virt_type) null.
      - With a record kept, or O(virt_type=kvm) or V(qemu), it predicts the real run exactly.
  diff_mode:
    description: Returns the record before and after.
    support: full
  idempotent:
    description: A recorded type is kept, so a second run neither probes again nor reports a change.
    support: full
options:
  console_log:
    description:
      - Path on the hypervisor where the probe guest's serial console is written, to see why a
        probe failed.
    type: path
  emulation_timeout:
    description:
      - Seconds the probe guest gets to boot under software emulation before the probe fails.
    type: int
    default: 120
  force:
    description:
      - Probe again and record the new result even when a type is recorded.
    type: bool
    default: false
  initrd:
    description:
      - Path on the hypervisor of the probe guest's initramfs, whose init powers the guest off.
      - Required when O(virt_type=auto) and a probe runs.
    type: path
  kernel:
    description:
      - Path on the hypervisor of the probe guest's kernel.
      - Required when O(virt_type=auto) and a probe runs.
    type: path
  name:
    description:
      - The hypervisor of the cloud definition to probe. May be left out when the cloud has
        only one hypervisor.
    type: str
  timeout:
    description:
      - Seconds the probe guest gets to boot under KVM.
    type: int
    default: 20
  virt_type:
    description:
      - V(auto) probes; V(kvm) or V(qemu) records that type without probing.
    type: str
    choices: [auto, kvm, qemu]
    default: auto
notes:
  - In check mode no probe guest is started; a missing record is reported as a change with
    RV(virt_type) unknown.
'''

EXAMPLES = r'''
- name: Probe this host and record the result
  kvmcloud.cloud.hypervisor_probe:
    cloud:
      hypervisors:
        - name: hv1
          uri: qemu:///system
    kernel: /var/lib/kvmcloud/probe/vmlinuz
    initrd: /var/lib/kvmcloud/probe/initrd.img

- name: Record software emulation without probing
  kvmcloud.cloud.hypervisor_probe:
    cloud: "{{ kvmcloud_cloud }}"
    name: hv2
    virt_type: qemu
'''

RETURN = r'''
kvm_boots:
  description: Whether the probe guest booted under KVM; null when no probe ran.
  returned: always
  type: bool
reason:
  description: What the probe saw, or why no probe ran.
  returned: always
  type: str
  sample: a kvm guest did not finish booting within 20s; a qemu guest booted, so guests use software emulation
record:
  description: The record on the hypervisor after the run (predicted in check mode).
  returned: always
  type: dict
virt_type:
  description: The virtualisation type servers use on the hypervisor; null in check mode when unknown.
  returned: always
  type: str
  sample: qemu
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.probe import run_probe


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str'),
            kernel=dict(type='path'),
            initrd=dict(type='path'),
            console_log=dict(type='path'),
            timeout=dict(type='int', default=20),
            emulation_timeout=dict(type='int', default=120),
            virt_type=dict(type='str', choices=['auto', 'kvm', 'qemu'], default='auto'),
            force=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    ).run(run_probe)


if __name__ == '__main__':
    main()
