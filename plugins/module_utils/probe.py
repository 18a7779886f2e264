# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide the virtualisation type of a hypervisor with a real guest.

``/dev/kvm`` existing, or libvirt offering the ``kvm`` domain type, does not mean guests boot
under KVM. The probe starts a transient guest whose init powers it off at once: if it is gone
within the timeout under KVM, KVM works; otherwise the same guest must boot under QEMU's
software emulation, which proves the probe itself is sound.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, LibvirtCallError, WaitTimeout, call, delete, lookup)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.waiter import Predicate, wait_for

PROBE_MEMORY_MIB = 128


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


def boot(conn, virt_type, kernel, initrd, timeout, console_log=None, hypervisor=None, arch='x86_64'):
    """Boot the probe guest under ``virt_type``: ``(True, reason)`` if it powered itself off in
    time, ``(False, reason)`` otherwise. The guest never outlives the call."""
    name = 'kvmcloud-probe-%s' % uuid.uuid4().hex[:8]
    xml = probe_domain_xml(name, virt_type, kernel, initrd, console_log=console_log, arch=arch)
    try:
        call('create', name, conn.createXML, xml, 0, hypervisor=hypervisor)
    except LibvirtCallError as err:
        return False, 'libvirt refused a %s guest: %s' % (virt_type, err.message)

    def gone():
        dom = lookup(conn.lookupByName, name, hypervisor=hypervisor)
        return dom is None, 'running' if dom is not None else 'gone'

    try:
        wait_for(Predicate('the %s probe guest to power off' % virt_type, gone), timeout)
    except WaitTimeout:
        return False, 'a %s guest did not finish booting within %ss' % (virt_type, timeout)
    finally:
        dom = lookup(conn.lookupByName, name, hypervisor=hypervisor)
        if dom is not None:
            delete(dom.destroy, what=name, operation='destroy', hypervisor=hypervisor)
    return True, 'a %s guest booted' % virt_type


def probe(conn, kernel, initrd, kvm_timeout, emulation_timeout, console_log=None, hypervisor=None, arch='x86_64'):
    """The virtualisation type guests boot under: ``('kvm'|'qemu', kvm_boots, reason)``."""
    kvm_ok, kvm_reason = boot(conn, 'kvm', kernel, initrd, kvm_timeout, console_log, hypervisor, arch)
    if kvm_ok:
        return 'kvm', True, kvm_reason
    qemu_ok, qemu_reason = boot(conn, 'qemu', kernel, initrd, emulation_timeout, console_log, hypervisor, arch)
    if not qemu_ok:
        raise KvmcloudError('the probe guest boots neither under KVM (%s) nor under software emulation (%s)'
                            % (kvm_reason, qemu_reason), console_log=console_log)
    return 'qemu', False, '%s; %s, so guests use software emulation' % (kvm_reason, qemu_reason)
