# -*- coding: utf-8 -*-
"""probe.py: the probe guest's XML, and that the probe guest never outlives a boot."""

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.probe import PROBE_MEMORY_MIB, boot, probe, probe_domain_xml

KERNEL = '/var/lib/kvmcloud/probe/vmlinuz'
INITRD = '/var/lib/kvmcloud/probe/initrd.img'


@pytest.mark.parametrize('virt_type', ['kvm', 'qemu'])
def test_probe_domain_xml(virt_type):
    root = xmlutil.parse(probe_domain_xml('kvmcloud-probe-1', virt_type, KERNEL, INITRD))
    assert root.tag == 'domain'
    assert root.get('type') == virt_type
    assert root.findtext('name') == 'kvmcloud-probe-1'
    assert root.findtext('memory') == str(PROBE_MEMORY_MIB) and root.find('memory').get('unit') == 'MiB'
    assert root.findtext('vcpu') == '1'
    assert root.findtext('os/type') == 'hvm' and root.find('os/type').get('arch') == 'x86_64'
    assert root.findtext('os/kernel') == KERNEL
    assert root.findtext('os/initrd') == INITRD
    cmdline = root.findtext('os/cmdline').split()
    assert 'console=ttyS0' in cmdline and 'panic=0' in cmdline
    # Only a clean power-off ends the guest; a reboot or a crash keeps it around.
    assert root.findtext('on_poweroff') == 'destroy'
    assert root.findtext('on_reboot') == 'restart'
    assert root.findtext('on_crash') == 'preserve'
    assert root.find('features/acpi') is not None
    assert root.find('devices/serial').get('type') == 'pty'
    assert root.find('devices/memballoon').get('model') == 'none'
    assert root.find('devices/disk') is None and root.find('devices/interface') is None


def test_serial_log_only_when_asked():
    without = xmlutil.parse(probe_domain_xml('p', 'kvm', KERNEL, INITRD))
    assert without.find('devices/serial/log') is None
    assert without.find('.//log') is None
    with_log = xmlutil.parse(probe_domain_xml('p', 'kvm', KERNEL, INITRD, console_log='/var/log/kvmcloud/probe.log'))
    log = with_log.find('devices/serial/log')
    assert log is not None
    assert log.get('file') == '/var/log/kvmcloud/probe.log'
    assert log.get('append') == 'off'


def test_arch_and_escaping():
    root = xmlutil.parse(probe_domain_xml('p', 'qemu', '/k&k', '/i<i>', arch='aarch64'))
    assert root.find('os/type').get('arch') == 'aarch64'
    assert root.findtext('os/kernel') == '/k&k' and root.findtext('os/initrd') == '/i<i>'


def test_probe_xml_is_a_valid_transient_guest(test_conn):
    # The test driver accepts any domain type; what matters is that the XML parses into a
    # domain with the settings the probe relies on.
    dom = test_conn.createXML(probe_domain_xml('unit-probe', 'test', KERNEL, INITRD, console_log='/tmp/p.log'), 0)
    try:
        desc = xmlutil.parse(dom.XMLDesc(0))
        assert desc.findtext('os/kernel') == KERNEL
        assert desc.findtext('os/initrd') == INITRD
        assert desc.findtext('on_poweroff') == 'destroy'
        assert desc.find('devices/serial/log').get('file') == '/tmp/p.log'
        assert not dom.isPersistent()
    finally:
        dom.destroy()


def _probe_domains(conn):
    return [d.name() for d in conn.listAllDomains() if d.name().startswith('kvmcloud-probe-')]


def test_boot_that_never_powers_off_times_out_and_cleans_up(test_conn):
    # Test driver guests run until destroyed: the wait times out and the guest is removed.
    ok, reason = boot(test_conn, 'qemu', KERNEL, INITRD, 0, hypervisor='hv1')
    assert ok is False
    assert 'qemu' in reason and 'did not finish booting within 0s' in reason
    assert _probe_domains(test_conn) == []


def test_boot_refused_by_libvirt(test_conn):
    ok, reason = boot(test_conn, 'kvm', KERNEL, INITRD, 0, arch='no-such-arch')
    assert ok is False
    assert reason.startswith('libvirt refused a kvm guest: ')
    assert _probe_domains(test_conn) == []


def test_probe_fails_when_nothing_boots(test_conn):
    with pytest.raises(KvmcloudError) as err:
        probe(test_conn, KERNEL, INITRD, 0, 0, console_log='/tmp/probe.log', hypervisor='hv1')
    assert 'neither under KVM' in err.value.msg
    assert err.value.details == {'console_log': '/tmp/probe.log'}
    assert _probe_domains(test_conn) == []


class PoweringOff:
    """The test driver, except that guests of ``boots`` types power off at once (a transient
    guest is gone once it is destroyed) and other types are refused."""

    def __init__(self, conn, boots):
        self._conn = conn
        self.boots = boots
        self.created = []

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def createXML(self, xml, flags):
        virt_type = xmlutil.parse(xml).get('type')
        self.created.append(virt_type)
        if virt_type not in self.boots:
            err = libvirt.libvirtError('unsupported configuration: no %s' % virt_type)
            err.err = (libvirt.VIR_ERR_CONFIG_UNSUPPORTED, 0, err.args[0], 2, None, None, None, 0, 0)
            raise err
        dom = self._conn.createXML(xml.replace('type="%s"' % virt_type, 'type="test"', 1), flags)
        dom.destroy()
        return dom


def test_boot_that_powers_off_succeeds(test_conn):
    conn = PoweringOff(test_conn, boots={'kvm'})
    assert boot(conn, 'kvm', KERNEL, INITRD, 0) == (True, 'a kvm guest booted')
    assert _probe_domains(test_conn) == []


def test_probe_prefers_kvm(test_conn):
    conn = PoweringOff(test_conn, boots={'kvm', 'qemu'})
    assert probe(conn, KERNEL, INITRD, 0, 0) == ('kvm', True, 'a kvm guest booted')
    assert conn.created == ['kvm']


def test_probe_falls_back_to_emulation(test_conn):
    conn = PoweringOff(test_conn, boots={'qemu'})
    virt_type, kvm_boots, reason = probe(conn, KERNEL, INITRD, 0, 0)
    assert (virt_type, kvm_boots) == ('qemu', False)
    assert 'libvirt refused a kvm guest' in reason and 'a qemu guest booted' in reason
    assert conn.created == ['kvm', 'qemu']
    assert _probe_domains(test_conn) == []
