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
  - kvmcloud.cloud.attributes.state_module
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

import datetime

from ansible_collections.kvmcloud.cloud.plugins.module_utils import hypervisor as hvmod
from ansible_collections.kvmcloud.cloud.plugins.module_utils import probe as probemod
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.module import CloudModule

# Fields of the record whose change is a change; the time of the probe is not.
RECORD_FIELDS = ('virt_type', 'kvm_boots')


def target_hypervisor(cm):
    if cm.params['name']:
        return cm.cloud.hypervisor(cm.params['name'])
    if len(cm.cloud.hypervisors) != 1:
        raise ValidationError('name is required when the cloud has more than one hypervisor')
    return cm.cloud.hypervisors[0]


def new_record(cm, conn, hv):
    """Probe (or take the stated type) and return the record to keep; None in check mode."""
    params = cm.params
    if params['virt_type'] != 'auto':
        return dict(virt_type=params['virt_type'], kvm_boots=None,
                    reason='set to %s without probing' % params['virt_type'])
    if cm.check_mode:
        return None
    if not params['kernel'] or not params['initrd']:
        raise ValidationError('kernel and initrd are required to probe (virt_type=auto)')
    arch = conn.getInfo()[0]
    virt_type, kvm_boots, reason = probemod.probe(
        conn, params['kernel'], params['initrd'], params['timeout'], params['emulation_timeout'],
        console_log=params['console_log'], hypervisor=hv.name, arch=arch)
    return dict(virt_type=virt_type, kvm_boots=kvm_boots, reason=reason)


def same(old, new):
    return old is not None and all(old.get(key) == new.get(key) for key in RECORD_FIELDS)


def run(cm):
    hv = target_hypervisor(cm)
    conn = cm.connections.get(hv.name)
    old = hvmod.read_record(conn, hv.images_pool, hypervisor=hv.name)
    valid_old = old if old and old.get('virt_type') in hvmod.VIRT_TYPES else None
    wants_probe = cm.params['virt_type'] == 'auto'
    if valid_old and wants_probe and not cm.params['force']:
        return dict(changed=False, virt_type=valid_old['virt_type'], kvm_boots=valid_old.get('kvm_boots'),
                    reason='recorded earlier: %s' % valid_old.get('reason', ''), record=valid_old)
    new = new_record(cm, conn, hv)
    if new is None:  # check mode, a probe would run
        return dict(changed=True, virt_type=None, kvm_boots=None,
                    reason='a probe would run (check mode)', record={},
                    diff=dict(before=old or {}, after={}))
    if same(valid_old, new):
        return dict(changed=False, record=valid_old, **new)
    record = dict(new, recorded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                  source='kvmcloud.cloud.hypervisor_probe')
    if not cm.check_mode:
        hvmod.write_record(conn, hv.images_pool, record, hypervisor=hv.name)
    return dict(changed=True, record=record, diff=dict(before=old or {}, after=record), **new)


def main():
    cm = CloudModule(
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
    )
    cm.run(run)


if __name__ == '__main__':
    main()
