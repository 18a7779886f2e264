# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide the virtualisation type of a hypervisor with a real guest: the ``hypervisor_probe``
module.

``/dev/kvm`` existing, or libvirt offering the ``kvm`` domain type, does not mean guests boot
under KVM. The probe starts a transient guest whose init powers it off at once: if it is gone
within the timeout under KVM, KVM works; otherwise the same guest must boot under QEMU's
software emulation, which proves the probe itself is sound. The answer is recorded on the
hypervisor (:mod:`.record`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError, WaitTimeout)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import CREATE, UPDATE, Plan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.record import VIRT_TYPES, read_record, write_record

PROBE_MEMORY_MIB = 128
# Fields of the record whose change is a change; the time of the probe is not.
RECORD_FIELDS = ('virt_type', 'kvm_boots')


def probe_domain_xml(name, virt_type, kernel, initrd, console_log=None, arch='x86_64'):
    """A transient guest booting ``kernel``/``initrd`` directly; it is destroyed on power-off,
    and a panic or reboot keeps it alive, so only a clean power-off counts as a boot."""
    domain = xmlutil.element('domain', type=virt_type)
    xmlutil.sub(domain, 'name', name)
    xmlutil.sub(domain, 'memory', PROBE_MEMORY_MIB, unit='MiB')
    xmlutil.sub(domain, 'vcpu', 1)
    os_ = xmlutil.sub(domain, 'os')
    xmlutil.sub(os_, 'type', 'hvm', arch=arch)
    xmlutil.sub(os_, 'kernel', kernel)
    xmlutil.sub(os_, 'initrd', initrd)
    xmlutil.sub(os_, 'cmdline', 'console=ttyS0 quiet panic=0')
    xmlutil.sub(xmlutil.sub(domain, 'features'), 'acpi')
    xmlutil.sub(domain, 'on_poweroff', 'destroy')
    xmlutil.sub(domain, 'on_reboot', 'restart')
    xmlutil.sub(domain, 'on_crash', 'preserve')
    devices = xmlutil.sub(domain, 'devices')
    serial = xmlutil.sub(devices, 'serial', type='pty')
    if console_log:
        xmlutil.sub(serial, 'log', file=console_log, append='off')
    xmlutil.sub(devices, 'memballoon', model='none')
    return xmlutil.tostring(domain)


def boot(h, virt_type, kernel, initrd, timeout, console_log=None, arch='x86_64'):
    """Boot the probe guest on hypervisor ``h`` under ``virt_type``: ``(True, reason)`` if it
    powered itself off in time, ``(False, reason)`` otherwise. The guest never outlives the call."""
    name = 'kvmcloud-probe-%s' % uuid.uuid4().hex[:8]
    xml = probe_domain_xml(name, virt_type, kernel, initrd, console_log=console_log, arch=arch)
    try:
        h.about(name).createXML(xml, 0)
    except LibvirtCallError as err:
        return False, 'libvirt refused a %s guest: %s' % (virt_type, err.message)

    def gone():
        dom = h.domain(name)
        return dom is None, 'running' if dom is not None else 'gone'

    try:
        wait_for(Predicate('the %s probe guest to power off' % virt_type, gone), timeout)
    except WaitTimeout:
        return False, 'a %s guest did not finish booting within %ss' % (virt_type, timeout)
    finally:
        dom = h.domain(name)
        if dom is not None:
            dom.discard('destroy')
    return True, 'a %s guest booted' % virt_type


def probe(h, kernel, initrd, kvm_timeout, emulation_timeout, console_log=None, arch='x86_64'):
    """The virtualisation type guests boot under: ``('kvm'|'qemu', kvm_boots, reason)``."""
    kvm_ok, kvm_reason = boot(h, 'kvm', kernel, initrd, kvm_timeout, console_log, arch)
    if kvm_ok:
        return 'kvm', True, kvm_reason
    qemu_ok, qemu_reason = boot(h, 'qemu', kernel, initrd, emulation_timeout, console_log, arch)
    if not qemu_ok:
        raise KvmcloudError('the probe guest boots neither under KVM (%s) nor under software emulation (%s)'
                            % (kvm_reason, qemu_reason), console_log=console_log)
    return 'qemu', False, '%s; %s, so guests use software emulation' % (kvm_reason, qemu_reason)


def target_hypervisor(cm):
    """The hypervisor to probe: the one named, or the cloud's only one."""
    if cm.params['name']:
        return cm.cloud.hypervisor(cm.params['name'])
    if len(cm.cloud.hypervisors) != 1:
        raise ValidationError('name is required when the cloud has more than one hypervisor')
    return cm.cloud.hypervisors[0]


def new_record(cm, h):
    """Probe (or take the stated type): the record to keep, without its time; None in check
    mode, where no probe guest starts."""
    params = cm.params
    if params['virt_type'] != 'auto':
        return dict(virt_type=params['virt_type'], kvm_boots=None,
                    reason='set to %s without probing' % params['virt_type'])
    if cm.check_mode:
        return None
    if not params['kernel'] or not params['initrd']:
        raise ValidationError('kernel and initrd are required to probe (virt_type=auto)')
    virt_type, kvm_boots, reason = probe(h, params['kernel'], params['initrd'], params['timeout'],
                                         params['emulation_timeout'], console_log=params['console_log'],
                                         arch=h.getInfo()[0])
    return dict(virt_type=virt_type, kvm_boots=kvm_boots, reason=reason)


def run_probe(cm):
    """The ``hypervisor_probe`` module: probe unless a type is recorded (or forced), then
    record what was found."""
    h = cm.connections.get(target_hypervisor(cm).name)
    old = read_record(h)
    valid_old = old if old and old.get('virt_type') in VIRT_TYPES else None
    if valid_old and cm.params['virt_type'] == 'auto' and not cm.params['force']:
        return dict(changed=False, virt_type=valid_old['virt_type'], kvm_boots=valid_old.get('kvm_boots'),
                    reason='recorded earlier: %s' % valid_old.get('reason', ''), record=valid_old,
                    diff=Plan().diff())
    action = UPDATE if old else CREATE
    new = new_record(cm, h)
    if new is None:
        # Check mode, where a probe would run: what it would find is not known.
        the_plan = Plan(action, before=old or {}, after={}, steps=['probe'])
        return dict(changed=True, virt_type=None, kvm_boots=None, reason='a probe would run (check mode)',
                    record={}, diff=the_plan.diff())
    if valid_old is not None and all(valid_old.get(key) == new.get(key) for key in RECORD_FIELDS):
        return dict(changed=False, record=valid_old, diff=Plan().diff(), **new)
    record = dict(new, recorded_at=now(), source='kvmcloud.cloud.hypervisor_probe')
    the_plan = Plan(action, before=old or {}, after=record, steps=['record'])
    if not cm.check_mode:
        write_record(h, record)
    return dict(changed=True, record=record, diff=the_plan.diff(), **new)
