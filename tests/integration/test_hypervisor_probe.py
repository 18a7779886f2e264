"""hypervisor_probe on a namespaced test hypervisor: the record is written through libvirt,
read back by hypervisor_info, and a second run changes nothing."""

import os

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

# A hypervisor of its own: these tests rewrite its record.
probe_hypervisors = hypervisors_fixture(count=1, prefix='probe', scope='module', name='probe_hypervisors')

# Built by the hypervisor role on this machine (make test converges it before these tests).
PROBE_DIR = '/var/lib/kvmcloud/probe'


@pytest.fixture
def hv(probe_hypervisors):
    hv = probe_hypervisors[0]
    yield hv
    # Each test starts from software emulation recorded, as the fixture made it.
    run_module('hypervisor_probe', {'cloud': cloud(hv), 'virt_type': 'qemu'})


def cloud(hv):
    return cloud_definition([hv], [])


def info(hv):
    return run_module('hypervisor_info', {'cloud': cloud(hv)})['hypervisors'][0]


def test_check_mode_records_nothing_apply_records_the_stated_type_and_reruns_change_nothing(hv):
    args = {'cloud': cloud(hv), 'virt_type': 'kvm'}
    predicted = run_module('hypervisor_probe', args, check=True, diff=True)
    assert predicted['changed'] is True and predicted['virt_type'] == 'kvm'
    assert info(hv)['virt_type'] == 'qemu', 'check mode must not write the record'

    applied = run_module('hypervisor_probe', args)
    assert applied['changed'] is True
    assert applied['record']['virt_type'] == 'kvm'
    entry = info(hv)
    assert (entry['virt_type'], entry['virt_type_source']) == ('kvm', 'recorded')

    assert unchanged(run_module('hypervisor_probe', args, check=True))
    assert unchanged(run_module('hypervisor_probe', args))


@pytest.mark.skipif(not os.path.exists(os.path.join(PROBE_DIR, 'initrd.img')),
                    reason='the hypervisor role has not built the probe guest on this machine')
def test_real_probe_boots_the_guest(hv):
    args = {'cloud': cloud(hv), 'kernel': os.path.join(PROBE_DIR, 'vmlinuz'),
            'initrd': os.path.join(PROBE_DIR, 'initrd.img'), 'timeout': 10, 'force': True}
    result = run_module('hypervisor_probe', args)
    assert not result['failed'], result
    # Either KVM boots the guest, or software emulation must: the probe proved one of them.
    assert result['virt_type'] in ('kvm', 'qemu')
    assert result['kvm_boots'] is (result['virt_type'] == 'kvm')
    assert 'guest booted' in result['reason']
    assert info(hv)['virt_type'] == result['virt_type']
    # A recorded result is kept: no second probe, no change.
    again = run_module('hypervisor_probe', dict(args, force=False))
    assert unchanged(again) and again['virt_type'] == result['virt_type']
