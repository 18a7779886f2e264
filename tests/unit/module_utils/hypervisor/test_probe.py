# -*- coding: utf-8 -*-
"""hypervisor/probe.py: the probe guest's XML, that the probe guest never outlives a boot, and the
hypervisor_probe module's logic."""

from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor import probe as probe_module
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.probe import (
    PROBE_MEMORY_MIB, boot, probe, probe_domain_xml, run_probe)

from handles import definition, handle

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


def test_probe_xml_is_a_valid_transient_guest(hv1):
    # The test driver accepts any domain type; what matters is that the XML parses into a
    # domain with the settings the probe relies on.
    xml = probe_domain_xml('unit-probe', 'test', KERNEL, INITRD, console_log='/tmp/p.log')
    dom = hv1.about('unit-probe').createXML(xml, 0)
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


def test_boot_that_never_powers_off_times_out_and_cleans_up(test_conn, hv1):
    # Test driver guests run until destroyed: the wait times out and the guest is removed.
    ok, reason = boot(hv1, 'qemu', KERNEL, INITRD, 0)
    assert ok is False
    assert 'qemu' in reason and 'did not finish booting within 0s' in reason
    assert _probe_domains(test_conn) == []


def test_boot_refused_by_libvirt(test_conn, hv1):
    ok, reason = boot(hv1, 'kvm', KERNEL, INITRD, 0, arch='no-such-arch')
    assert ok is False
    assert reason.startswith('libvirt refused a kvm guest: ')
    assert _probe_domains(test_conn) == []


def test_probe_fails_when_nothing_boots(test_conn, hv1):
    with pytest.raises(KvmcloudError) as err:
        probe(hv1, KERNEL, INITRD, 0, 0, console_log='/tmp/probe.log')
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
    assert boot(handle(conn), 'kvm', KERNEL, INITRD, 0) == (True, 'a kvm guest booted')
    assert _probe_domains(test_conn) == []


def test_probe_prefers_kvm(test_conn):
    conn = PoweringOff(test_conn, boots={'kvm', 'qemu'})
    assert probe(handle(conn), KERNEL, INITRD, 0, 0) == ('kvm', True, 'a kvm guest booted')
    assert conn.created == ['kvm']


def test_probe_falls_back_to_emulation(test_conn):
    conn = PoweringOff(test_conn, boots={'qemu'})
    virt_type, kvm_boots, reason = probe(handle(conn), KERNEL, INITRD, 0, 0)
    assert (virt_type, kvm_boots) == ('qemu', False)
    assert 'libvirt refused a kvm guest' in reason and 'a qemu guest booted' in reason
    assert conn.created == ['kvm', 'qemu']
    assert _probe_domains(test_conn) == []


# -- run_probe: the hypervisor_probe module ------------------------------------------------------

PARAMS = dict(name=None, kernel=KERNEL, initrd=INITRD, console_log=None, timeout=0, emulation_timeout=0,
              virt_type='auto', force=False)


class Records:
    """The record volume of each hypervisor, in memory (the test driver has no volume streams)."""

    def __init__(self, monkeypatch, **records):
        self.records = dict(records)
        self.writes = []
        monkeypatch.setattr(probe_module, 'read_record', lambda h: self.records.get(h.name))
        monkeypatch.setattr(probe_module, 'write_record', self.write)
        monkeypatch.setattr(probe_module, 'now', lambda: '2024-05-01T12:00:00Z')

    def write(self, h, record):
        self.writes.append((h.name, record))
        self.records[h.name] = record


def probe_module_run(conn, check_mode=False, hypervisors=('hv1',), **params):
    cloud = CloudDefinition(hypervisors=[definition(name, uri='test:///%s' % name) for name in hypervisors])
    cm = SimpleNamespace(params=dict(PARAMS, **params), check_mode=check_mode, cloud=cloud,
                         connections=Connections(cloud.hypervisors, opener=lambda hv: handle(conn, hv.name)))
    return run_probe(cm)


def test_run_probe_keeps_a_recorded_type_without_probing(test_conn, monkeypatch):
    old = {'virt_type': 'kvm', 'kvm_boots': True, 'reason': 'a kvm guest booted'}
    records = Records(monkeypatch, hv1=old)
    conn = PoweringOff(test_conn, boots=set())
    result = probe_module_run(conn)
    assert result == {'changed': False, 'virt_type': 'kvm', 'kvm_boots': True,
                      'reason': 'recorded earlier: a kvm guest booted', 'record': old,
                      'diff': {'before': {}, 'after': {}}}
    assert conn.created == [] and records.writes == []


def test_run_probe_probes_and_records_what_boots(test_conn, monkeypatch):
    records = Records(monkeypatch)
    conn = PoweringOff(test_conn, boots={'qemu'})
    result = probe_module_run(conn)
    assert conn.created == ['kvm', 'qemu']
    assert result['changed'] is True
    assert (result['virt_type'], result['kvm_boots']) == ('qemu', False)
    record = result['record']
    assert record == dict(virt_type='qemu', kvm_boots=False, reason=result['reason'],
                          recorded_at='2024-05-01T12:00:00Z', source='kvmcloud.cloud.hypervisor_probe')
    assert records.writes == [('hv1', record)]
    assert result['diff'] == {'before': {}, 'after': record}
    assert _probe_domains(test_conn) == []


def test_run_probe_with_force_and_the_same_result_is_no_change(test_conn, monkeypatch):
    old = {'virt_type': 'kvm', 'kvm_boots': True, 'reason': 'earlier', 'recorded_at': '2020-01-01T00:00:00Z'}
    records = Records(monkeypatch, hv1=old)
    result = probe_module_run(PoweringOff(test_conn, boots={'kvm'}), force=True)
    assert result['changed'] is False
    assert result['record'] == old  # the time of a probe is no change
    assert result['diff'] == {'before': {}, 'after': {}}
    assert records.writes == []


def test_run_probe_with_a_stated_type_records_it_without_probing(test_conn, monkeypatch):
    old = {'virt_type': 'kvm', 'kvm_boots': True}
    records = Records(monkeypatch, hv1=old)
    conn = PoweringOff(test_conn, boots={'kvm'})
    result = probe_module_run(conn, virt_type='qemu', kernel=None, initrd=None)
    assert conn.created == []
    assert result['changed'] is True
    assert (result['virt_type'], result['kvm_boots'], result['reason']) == ('qemu', None, 'set to qemu without probing')
    assert result['diff'] == {'before': old, 'after': result['record']}
    assert records.writes == [('hv1', result['record'])]


def test_run_probe_in_check_mode_starts_no_guest_and_writes_nothing(test_conn, monkeypatch):
    records = Records(monkeypatch)
    conn = PoweringOff(test_conn, boots={'kvm'})
    result = probe_module_run(conn, check_mode=True)
    assert result == {'changed': True, 'virt_type': None, 'kvm_boots': None,
                      'reason': 'a probe would run (check mode)', 'record': {},
                      'diff': {'before': {}, 'after': {}}}
    assert conn.created == [] and records.writes == []
    # A stated type is predicted exactly, still without a write.
    stated = probe_module_run(conn, check_mode=True, virt_type='kvm')
    assert stated['changed'] is True and stated['record']['virt_type'] == 'kvm'
    assert records.writes == []


def test_run_probe_an_invalid_record_is_probed_again(test_conn, monkeypatch):
    Records(monkeypatch, hv1={'virt_type': 'xen'})
    result = probe_module_run(PoweringOff(test_conn, boots={'kvm'}))
    assert result['changed'] is True and result['virt_type'] == 'kvm'
    assert result['diff']['before'] == {'virt_type': 'xen'}


def test_run_probe_needs_kernel_and_initrd_to_probe(test_conn, monkeypatch):
    Records(monkeypatch)
    with pytest.raises(ValidationError, match='kernel and initrd are required'):
        probe_module_run(PoweringOff(test_conn, boots={'kvm'}), initrd=None)


def test_run_probe_needs_a_name_when_the_cloud_has_several_hypervisors(test_conn, monkeypatch):
    Records(monkeypatch)
    with pytest.raises(ValidationError, match='name is required'):
        probe_module_run(test_conn, hypervisors=('hv1', 'hv2'))
    with pytest.raises(ValidationError, match="unknown hypervisor 'hv9'"):
        probe_module_run(test_conn, hypervisors=('hv1', 'hv2'), name='hv9')
    result = probe_module_run(test_conn, hypervisors=('hv1', 'hv2'), name='hv2', virt_type='qemu')
    assert result['changed'] is True
