# -*- coding: utf-8 -*-
"""compute/actions.py, migration.py, power.py, survey.py and info.py: the plan of each server
action, the qcow2 backing rewrite of a migration, the scheduler's view for a migration, the
graceful-then-forced shutdown and the quota counting."""

import shutil
import struct
import subprocess

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import actions, migration, placement, power
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import info as quota_usage
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.survey import Host, Survey, placement_hosts
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas, virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import Hypervisor
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import Plan

OLD = '/srv/hv1/pools/images/sha256-%s.qcow2' % ('a' * 64)
NEW = '/var/lib/libvirt/images/kvmcloud/sha256-%s.qcow2' % ('a' * 64)


# Power actions: steps and the state they lead to

@pytest.mark.parametrize('action,state,steps,after', [
    ('start', 'stopped', ['start'], 'running'),
    ('start', 'running', [], 'running'),
    ('start', 'paused', ['resume'], 'running'),
    ('stop', 'running', ['shutdown'], 'stopped'),
    ('stop', 'paused', ['resume', 'shutdown'], 'stopped'),
    ('stop', 'stopped', [], 'stopped'),
    ('pause', 'running', ['suspend'], 'paused'),
    ('pause', 'paused', [], 'paused'),
    ('resume', 'paused', ['resume'], 'running'),
    ('resume', 'running', [], 'running'),
])
def test_power_actions_are_idempotent_against_their_state(action, state, steps, after):
    assert actions.power_steps(action, state) == (steps, after)


def test_soft_reboot_needs_a_running_guest_and_always_changes():
    assert actions.power_steps('reboot', 'running') == (['reboot'], 'running')
    for state, hint in (('stopped', 'action start'), ('paused', 'action resume')):
        with pytest.raises(ValidationError) as err:
            actions.power_steps('reboot', state, name='server web1')
        assert err.value.msg.startswith('server web1 is %s' % state)
        assert 'reboot_type: hard' in err.value.msg and hint in err.value.msg


@pytest.mark.parametrize('state,steps', [
    ('running', ['reset']), ('paused', ['reset', 'resume']), ('stopped', ['start'])])
def test_hard_reboot_works_from_any_state(state, steps):
    assert actions.power_steps('reboot', state, 'hard') == (steps, 'running')


@pytest.mark.parametrize('action,message', [
    ('pause', 'server web1 is stopped; start it before pausing it'),
    ('resume', 'server web1 is stopped, not paused; use action start'),
])
def test_pause_and_resume_refuse_a_stopped_server(action, message):
    with pytest.raises(ValidationError) as err:
        actions.power_steps(action, 'stopped', name='server web1')
    assert err.value.msg == message


def test_rebuild_steps_keep_the_power_state():
    assert actions.rebuild_steps('stopped', 'tiny', 'sha256-x.qcow2') == ['new root disk on image tiny (sha256-x.qcow2)']
    assert actions.rebuild_steps('running', 'tiny', 'b') == ['power off', 'new root disk on image tiny (b)', 'start']
    assert actions.rebuild_steps('paused', 'tiny', 'b')[-2:] == ['start', 'suspend']


def test_migrate_steps():
    assert actions.migrate_steps('stopped', 'hv1', 'hv2') == [
        'copy root disk to hv2', 'copy seed to hv2', 'define on hv2', 'remove from hv1']
    assert actions.migrate_steps('running', 'hv1', 'hv2') == [
        'shutdown', 'copy root disk to hv2', 'copy seed to hv2', 'define on hv2', 'start on hv2', 'remove from hv1']
    paused = actions.migrate_steps('paused', 'hv1', 'hv2')
    assert paused[:2] == ['resume', 'shutdown'] and paused[-3:] == ['start on hv2', 'suspend on hv2', 'remove from hv1']


def test_diff_has_the_fields_that_change_and_the_marks():
    before = {'power_state': 'running', 'hypervisor': 'hv1', 'image': 'tiny'}
    assert actions.action_plan('migrate', ['copy'], before, dict(before, hypervisor='hv2')).diff() == {
        'before': {'hypervisor': 'hv1'}, 'after': {'hypervisor': 'hv2'}}
    assert actions.action_plan('reboot', ['reboot'], before, dict(before), {'reboot': (None, 'soft')}).diff() == {
        'before': {'reboot': None}, 'after': {'reboot': 'soft'}}


def test_an_action_without_steps_is_an_empty_plan():
    before = {'power_state': 'running'}
    the_plan = actions.action_plan('start', [], before, dict(before))
    assert isinstance(the_plan, Plan) and not the_plan and the_plan.diff() == {'before': {}, 'after': {}}
    assert actions.action_plan('stop', ['shutdown'], before, {'power_state': 'stopped'}).steps == ['shutdown']


# The qcow2 backing file name

def qcow2_head(backing, cluster_bits=16, version=3, tail=b''):
    """The first cluster of a qcow2 overlay as qemu writes it: header, extensions, backing name."""
    header_length = 112
    extensions = struct.pack('>II', 0xe2792aca, 5) + b'qcow2\0\0\0' + struct.pack('>II', 0, 0)
    offset = header_length + len(extensions)
    name = backing.encode()
    head = struct.pack('>4sIQII', b'QFI\xfb', version, offset, len(name), cluster_bits)
    head += b'\0' * (100 - len(head)) + struct.pack('>I', header_length)
    head = head.ljust(header_length, b'\0') + extensions + name + tail
    return head.ljust(1 << cluster_bits, b'\0')


def backing_of(head):
    offset, length = struct.unpack('>QI', head[8:20])
    return head[offset:offset + length].decode()


@pytest.mark.parametrize('new', [NEW, '/b/' + 'sha256-%s.qcow2' % ('a' * 64), OLD])
def test_rebase_rewrites_only_the_backing_name(new):
    head = qcow2_head(OLD)
    out = migration.rebase_header(head, OLD, new)
    assert backing_of(out) == new and len(out) == len(head)
    offset = struct.unpack('>Q', head[8:16])[0]
    assert out[:16] == head[:16] and out[20:offset] == head[20:offset], 'the rest of the header is untouched'
    assert not any(out[offset + len(new):]), 'a shorter name leaves no trace of the old one'


def test_rebase_refuses_what_it_does_not_expect():
    head = qcow2_head(OLD)
    cases = [
        (b'\0' * 4 + head[4:], OLD, NEW, 'not a qcow2 file'),
        (head, '/other/base.qcow2', NEW, 'backing file is %s, not /other/base.qcow2' % OLD),
        (head, OLD, '/' + 'x' * 1100, 'longer than qcow2 allows'),
        (qcow2_head(OLD, tail=b'\1'), OLD, NEW, 'bytes after the qcow2 backing file name are in use'),
        (qcow2_head(OLD, cluster_bits=9), OLD, '/' + 'x' * 600, 'does not fit in the first qcow2 cluster'),
        (head[:240], OLD, NEW, 'does not fit'),  # the new name runs past what was read
    ]
    for data, old, new, message in cases:
        with pytest.raises(KvmcloudError) as err:
            migration.rebase_header(data, old, new)
        assert message in err.value.msg, (message, err.value.msg)
    no_backing = bytearray(head)
    no_backing[8:20] = b'\0' * 12
    with pytest.raises(KvmcloudError, match='has no backing file'):
        migration.rebase_header(bytes(no_backing), OLD, NEW)


@pytest.mark.skipif(not shutil.which('qemu-img'), reason='qemu-img is not installed')
def test_rebased_overlay_is_what_qemu_img_rebase_unsafe_makes(tmp_path):
    old_base, new_base = tmp_path / 'a' / 'base.qcow2', tmp_path / 'a-much-longer-directory-name' / 'base.qcow2'
    for base in (old_base, new_base):
        base.parent.mkdir()
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(base), '16M'], check=True)
    overlay = tmp_path / 'overlay.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', str(old_base), str(overlay), '32M'],
                   check=True)
    data = overlay.read_bytes()
    rebased = tmp_path / 'rebased.qcow2'
    rebased.write_bytes(migration.rebase_header(data[:migration.HEAD_BYTES], str(old_base), str(new_base))
                        + data[migration.HEAD_BYTES:])
    subprocess.run(['qemu-img', 'rebase', '-u', '-F', 'qcow2', '-b', str(new_base), str(overlay)], check=True)
    assert rebased.read_bytes() == overlay.read_bytes()
    check = subprocess.run(['qemu-img', 'check', str(rebased)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


class Stream:
    """A download stream that hands out its data in small, uneven pieces."""

    def __init__(self, data, piece=1000):
        self.data = data
        self.piece = piece

    def recv(self, size):
        data, self.data = self.data[:min(size, self.piece)], self.data[min(size, self.piece):]
        return data


def read_all(reader, size, chunk):
    out = b''
    while len(out) < size:
        data = reader.read(min(chunk, size - len(out)))
        if not data:
            break
        out += data
    return out


@pytest.mark.parametrize('chunk', [7, 4096, 1024 * 1024])
def test_reader_streams_the_volume_with_its_header_rewritten(chunk):
    head = qcow2_head(OLD)
    body = bytes(range(256)) * 1000
    reader = migration._Reader(Stream(head + body), (OLD, NEW))  # pylint: disable=protected-access
    out = read_all(reader, len(head) + len(body), chunk)
    assert out == migration.rebase_header(head, OLD, NEW) + body


def test_reader_without_backing_copies_bytes_as_they_are():
    data = b'seed' * 100
    reader = migration._Reader(Stream(data, piece=33), None)  # pylint: disable=protected-access
    assert read_all(reader, len(data), 50) == data


# Where a migrating server may go

def hv(name, **extra):
    return Hypervisor(name=name, uri='test:///%s' % name, **extra)


class Cloud:
    def __init__(self, *hypervisors):
        self.hypervisors = list(hypervisors)


def facts(*hosted):
    return Host(servers={s['name']: s for s in hosted}, cpus=4, memory_mb=4096, disk_gb=100, virt_type='qemu')


def survey_of(unreachable=None, **hosts):
    return Survey(hosts=hosts, unreachable=unreachable or {}, servers={})


def server(name, hypervisor, ram=1024, group=None):
    return {'name': name, 'hypervisor': hypervisor, 'vcpus': 1, 'ram': ram, 'flavor': {'disk': 10},
            'server_group': group}


def test_the_source_is_left_out_and_the_server_does_not_count():
    web = server('web', 'hv1', group={'name': 'g', 'policy': 'anti-affinity'})
    other = server('other', 'hv2', ram=2048, group={'name': 'g', 'policy': 'anti-affinity'})
    found = survey_of({'hv4': 'connection refused'}, hv1=facts(web), hv2=facts(other), hv3=facts())
    hosts = placement_hosts(Cloud(hv('hv1'), hv('hv2'), hv('hv3'), hv('hv4')), found, web)
    assert [h.name for h in hosts] == ['hv2', 'hv3', 'hv4']
    assert hosts[0].used_ram_mb == 2048 and hosts[0].groups == {'g': {'other'}} and hosts[1].used_ram_mb == 0
    assert not hosts[2].reachable and hosts[2].unreachable_reason == 'connection refused'
    request = actions.placement_request(web, None)
    assert (request.vcpus, request.ram_mb, request.disk_gb, request.server_group, request.policy) == (
        1, 1024, 10, 'g', 'anti-affinity')
    # Anti-affinity keeps it off hv2, where the other member is.
    assert placement.place([request], hosts).assignments == {'web': 'hv3'}


def test_a_target_that_is_full_is_refused_with_the_reason():
    web = server('web', 'hv1', ram=3000)
    found = survey_of(hv1=facts(web), hv2=facts(server('big', 'hv2', ram=2048)))
    hosts = placement_hosts(Cloud(hv('hv1'), hv('hv2')), found, web)
    with pytest.raises(ValidationError) as err:
        placement.place([actions.placement_request(web, 'hv2')], hosts)
    assert 'hv2: free RAM 1536 MiB < 3000 MiB requested' in err.value.msg


# Stopping: graceful, then as force says

class Domain:
    def __init__(self, powers_off=False):
        self.active = True
        self.powers_off = powers_off
        self.calls = []

    def name(self):
        return 'web'

    def shutdown(self):
        self.calls.append('shutdown')
        if self.powers_off:
            self.active = False

    def destroy(self):
        self.calls.append('destroy')
        self.active = False

    def isActive(self):
        return self.active

    def state(self):
        return [1 if self.active else 5, 0]


def wrapped(dom):
    """The fake domain as the collection sees every libvirt object: through the wrapper."""
    return virt.LibvirtObject(dom, 'hv1')


def test_a_guest_that_powers_off_is_not_forced():
    dom = Domain(powers_off=True)
    assert power.shut_down(wrapped(dom), 0, force=True) == ['shutdown']
    assert dom.calls == ['shutdown']


def test_a_guest_that_ignores_acpi_fails_without_force_and_names_timeout_and_state():
    dom = Domain()
    with pytest.raises(KvmcloudError) as err:
        power.shut_down(wrapped(dom), 0, force=False)
    assert err.value.msg == ('server web did not power off within 0s of the ACPI shutdown request (last state: '
                             'running); set force: true to power it off after the wait')
    assert dom.calls == ['shutdown'] and dom.active


def test_a_guest_that_ignores_acpi_is_powered_off_with_force():
    dom = Domain()
    assert power.shut_down(wrapped(dom), 0, force=True) == ['shutdown', 'power off (forced)']
    assert dom.calls == ['shutdown', 'destroy']


def test_without_wait_the_request_is_only_sent():
    dom = Domain()
    assert power.shut_down(wrapped(dom), 300, force=False, wait=False) == ['shutdown']
    assert dom.active


# Quota usage

def test_ports_count_once_though_every_hypervisor_of_their_network_has_them():
    port = {'name': 'web-eth0', 'project': 'demo'}
    readings = [
        {'servers': [{'project': 'demo', 'vcpus': 1, 'ram': 128}], 'volumes': [{'project': 'demo', 'size': 1}],
         'ports': [port, {'name': 'db-eth0', 'project': 'demo'}]},
        {'servers': [{'project': 'other', 'vcpus': 2, 'ram': 256}], 'volumes': [], 'ports': [dict(port)]},
    ]
    found_servers, found_volumes, found_ports = quota_usage.count_usage(readings)
    assert len(found_servers) == 2 and len(found_volumes) == 1
    assert [p['name'] for p in found_ports] == ['db-eth0', 'web-eth0']
    usage = quotas.usage('demo', found_servers, found_volumes, found_ports)
    assert usage == {'instances': 1, 'cores': 1, 'ram': 128, 'volumes': 1, 'gigabytes': 1, 'ports': 2}
