"""server_action against two namespaced test hypervisors, with booted tiny guests.

Every action runs check -> apply -> check -> apply; the guest's console shows that it really
stopped, came back, rebooted, got a new disk, or booted on the other hypervisor. A pattern
written into a root disk with qemu-io shows what a rebuild throws away and a migration keeps.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from guests import read_console, wait_for_console
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-act-'
NET = 'kvmcloud-test-actnet'
LONE_NET = 'kvmcloud-test-actnet-lone'
IMAGE = 'kvmcloud-test-act-tiny'
SAME_IMAGE = 'kvmcloud-test-act-tiny2'
LONE_IMAGE = 'kvmcloud-test-act-lone'
SUBNET = {'cidr': '10.250.60.0/24', 'allocation_pools': [{'start': '10.250.60.100', 'end': '10.250.60.199'}]}
LONE_SUBNET = {'cidr': '10.250.61.0/24', 'allocation_pools': [{'start': '10.250.61.100', 'end': '10.250.61.199'}]}
BOOT_TIMEOUT = 180
# A pattern written into a root disk, past the end of the image's own data.
PATTERN = ('0x5a', '512M', '64k')

two_hypervisors = hypervisors_fixture(count=2, prefix='act', scope='module', name='two_hypervisors')


def cloud(hvs):
    return cloud_definition(hvs, [{'name': 'demo'}])


@pytest.fixture(scope='module')
def hvs(two_hypervisors, tiny_image_file):
    """Two hypervisors with the tiny image (under two names) and an isolated network on each;
    one more image and one more network on the first only."""
    with removing_prefixed(two_hypervisors, PREFIX, **module_leftovers(PREFIX, networks=[NET, LONE_NET])):
        base = {'cloud': cloud(two_hypervisors)}
        for name in (IMAGE, SAME_IMAGE):
            assert not run_module('image', dict(base, name=name, filename=str(tiny_image_file)))['failed']
        only_first = [two_hypervisors[0]['name']]
        assert not run_module('image', dict(base, name=LONE_IMAGE, filename=str(tiny_image_file),
                                            hypervisors=only_first))['failed']
        for name, subnet, where in ((NET, SUBNET, None), (LONE_NET, LONE_SUBNET, only_first)):
            result = run_module('network', dict(base, name=name, mode='isolated', subnet=subnet, hypervisors=where))
            assert not result['failed'], result
        yield two_hypervisors


def create(hvs, name, **extra):
    args = dict({'cloud': cloud(hvs), 'name': PREFIX + name, 'project': 'demo', 'flavor': 'm1.tiny', 'image': IMAGE,
                 'networks': [{'network': NET}], 'hypervisor': hvs[0]['name']}, **extra)
    result = run_module('server', args)
    assert not result['failed'], result
    return result['servers'][0]


def remove(hvs, name):
    result = run_module('server', {'cloud': cloud(hvs), 'name': PREFIX + name, 'state': 'absent'})
    assert not result['failed'], result


def action(hvs, name, what, check=False, **extra):
    return run_module('server_action', dict({'cloud': cloud(hvs), 'name': PREFIX + name, 'action': what}, **extra),
                      check=check, diff=True)


def hv_of(hvs, name):
    return next(h for h in hvs if h['name'] == name)


def console_file(hvs, server):
    return Path(hv_of(hvs, server['hypervisor'])['dir']) / server['console'].lstrip('/')


def ready_count(hvs, server):
    return read_console(console_file(hvs, server)).count('kvmcloud-ready %s\n' % server['uuid'])


def wait_ready(hvs, server, count):
    """Until the console shows the ready marker ``count`` times."""
    pattern = r'^kvmcloud-ready %s$' % server['uuid']
    after = 0
    for _seen in range(count):
        after = wait_for_console(console_file(hvs, server), pattern, BOOT_TIMEOUT, after=after).end()


def power_state(hvs, server):
    with connected(hv_of(hvs, server['hypervisor'])['uri']) as conn:
        return {1: 'running', 3: 'paused', 5: 'stopped'}.get(conn.lookupByName(server['name']).state()[0])


def wait_until_stopped(hvs, server):
    with connected(hv_of(hvs, server['hypervisor'])['uri']) as conn:
        dom = conn.lookupByName(server['name'])
        wait_for_console(console_file(hvs, server), '^kvmcloud-poweroff$', 60)
        deadline = time.monotonic() + 60
        while dom.isActive():
            assert time.monotonic() < deadline, '%s did not power off' % server['name']
            time.sleep(0.25)


def inventory(hvs):
    """Per hypervisor: the test's domains and volumes."""
    out = {}
    for hv in hvs:
        with connected(hv['uri']) as conn:
            pool = conn.storagePoolLookupByName('kvmcloud-volumes')
            pool.refresh()
            out[hv['name']] = {
                'domains': sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)),
                'volumes': sorted(v.name() for v in pool.listAllVolumes() if PREFIX in v.name()),
            }
    return out


def root_path(hvs, server):
    return str(Path(hv_of(hvs, server['hypervisor'])['dir']) / 'pools' / 'volumes' /
               ('server-%s-root.qcow2' % server['name']))


def qemu_io(path, command, *options):
    return subprocess.run(['qemu-io', '-f', 'qcow2', *options, '-c', command, path], capture_output=True, text=True,
                          check=False)


def has_pattern(path):
    """Whether the pattern is in the disk; read shared, so a running guest's disk can be read too."""
    value, offset, length = PATTERN
    done = qemu_io(path, 'read -P %s %s %s' % (value, offset, length), '-r', '-U')
    return done.returncode == 0 and 'Pattern verification failed' not in done.stdout + done.stderr


def write_pattern(path):
    value, offset, length = PATTERN
    done = qemu_io(path, 'write -P %s %s %s' % (value, offset, length))
    assert done.returncode == 0, done.stdout + done.stderr
    assert has_pattern(path)


def disk_info(path):
    done = subprocess.run(['qemu-img', 'info', '-U', '--output=json', path], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_power_actions_apply_once_check_mode_changes_nothing_and_impossible_ones_are_refused(hvs):
    server = create(hvs, 'power')
    wait_ready(hvs, server, 1)
    for what, state, steps in (('stop', 'stopped', ['shutdown']), ('start', 'running', ['start']),
                               ('pause', 'paused', ['suspend']), ('resume', 'running', ['resume'])):
        before = power_state(hvs, server)
        planned = action(hvs, 'power', what, check=True)
        assert planned['changed'] and planned['steps'] == steps, planned
        assert planned['server']['power_state'] == state and power_state(hvs, server) == before, 'check changes nothing'
        assert planned['diff'] == {'before': {'power_state': before}, 'after': {'power_state': state}}
        done = action(hvs, 'power', what)
        assert done['changed'] and done['steps'] == steps and done['diff'] == planned['diff'], done
        assert done['server']['power_state'] == state == power_state(hvs, server)
        assert unchanged(action(hvs, 'power', what, check=True))
        again = action(hvs, 'power', what)
        assert unchanged(again) and again['steps'] == [] and again['server']['power_state'] == state
        if what == 'stop':
            assert 'kvmcloud-poweroff' in read_console(console_file(hvs, server)), 'a graceful ACPI shutdown'
        if what == 'start':
            wait_ready(hvs, server, 2)

    refused = action(hvs, 'power', 'start', image=IMAGE)
    assert refused['failed'] and refused['msg'] == 'image applies to action rebuild only, not start'
    action(hvs, 'power', 'stop')
    for what, message in (('pause', 'is stopped; start it before pausing it'),
                          ('reboot', 'is stopped, so its guest cannot reboot itself; use reboot_type: hard')):
        refused = action(hvs, 'power', what)
        assert refused['failed'] and ('server %spower %s' % (PREFIX, message)) in refused['msg'], refused
    remove(hvs, 'power')


def test_reboot_always_changes_and_the_guest_boots_again(hvs):
    server = create(hvs, 'reboot')
    wait_ready(hvs, server, 1)
    planned = action(hvs, 'reboot', 'reboot', check=True)
    assert planned['changed'] and planned['steps'] == ['reboot'], planned
    assert planned['diff'] == {'before': {'reboot': None}, 'after': {'reboot': 'soft'}}
    assert ready_count(hvs, server) == 1, 'check mode does not reboot'
    soft = action(hvs, 'reboot', 'reboot')
    assert soft['changed'] and soft['steps'] == ['reboot'] and soft['server']['power_state'] == 'running', soft
    wait_ready(hvs, server, 2)
    assert 'kvmcloud-poweroff' in read_console(console_file(hvs, server)), 'the soft reboot went through ACPI'
    hard = action(hvs, 'reboot', 'reboot', reboot_type='hard')
    assert hard['changed'] and hard['steps'] == ['reset'], hard
    wait_ready(hvs, server, 3)
    assert read_console(console_file(hvs, server)).count('kvmcloud-poweroff') == 1, 'a reset is no ACPI request'
    remove(hvs, 'reboot')


def test_stop_without_force_fails_clearly_and_force_powers_off(hvs):
    server = create(hvs, 'force')
    wait_ready(hvs, server, 1)
    # No guest powers off within 0 s of the request: the wait times out every time.
    timed_out = action(hvs, 'force', 'stop', wait_timeout=0)
    assert timed_out['failed'], timed_out
    assert timed_out['msg'] == ('server %sforce did not power off within 0s of the ACPI shutdown request (last '
                                'state: running); set force: true to power it off after the wait' % PREFIX)
    wait_until_stopped(hvs, server)  # it got the request and powers off by itself
    action(hvs, 'force', 'start')
    wait_ready(hvs, server, 2)
    forced = action(hvs, 'force', 'stop', wait_timeout=0, force=True)
    assert forced['changed'] and forced['steps'] == ['shutdown', 'power off (forced)'], forced
    assert forced['server']['power_state'] == 'stopped' == power_state(hvs, server)
    assert unchanged(action(hvs, 'force', 'stop', force=True))
    remove(hvs, 'force')


def test_rebuild_gives_a_new_root_disk_and_keeps_size_seed_and_state(hvs):
    server = create(hvs, 'rebuild', power_state='stopped')
    path = root_path(hvs, server)
    write_pattern(path)
    size = disk_info(path)['virtual-size']
    action(hvs, 'rebuild', 'start')
    wait_ready(hvs, server, 1)

    planned = action(hvs, 'rebuild', 'rebuild', check=True, image=SAME_IMAGE)
    assert planned['changed'] and planned['steps'][0] == 'power off' and planned['steps'][-1] == 'start', planned
    assert planned['diff']['before']['image'] == IMAGE and planned['diff']['after']['image'] == SAME_IMAGE
    assert has_pattern(path), 'check mode keeps the disk'
    done = action(hvs, 'rebuild', 'rebuild', image=SAME_IMAGE)
    assert done['changed'] and done['steps'] == planned['steps'] and done['diff'] == planned['diff'], done
    assert done['server']['image'] == SAME_IMAGE and done['server']['power_state'] == 'running'
    wait_ready(hvs, server, 2)
    action(hvs, 'rebuild', 'stop')
    assert not has_pattern(path), 'the old disk is gone'
    assert disk_info(path)['virtual-size'] == size, 'the size is kept'
    again = action(hvs, 'rebuild', 'rebuild')
    assert again['changed'] and again['steps'] == ['new root disk on image %s (%s)' % (
        SAME_IMAGE, Path(disk_info(path)['backing-filename']).name)], 'a rebuild always changes; stopped stays stopped'
    assert again['server']['power_state'] == 'stopped'

    missing = action(hvs, 'rebuild', 'rebuild', image='kvmcloud-test-no-such-image')
    assert missing['failed'] and 'image kvmcloud-test-no-such-image is not registered on hypervisor' in missing['msg']
    remove(hvs, 'rebuild')


def test_migrate_moves_the_server_with_its_disk_and_address(hvs):
    source, target = hvs[0]['name'], hvs[1]['name']
    server = create(hvs, 'mig', power_state='stopped', networks=[{'network': NET, 'fixed_ip': '10.250.60.150'}])
    write_pattern(root_path(hvs, server))
    action(hvs, 'mig', 'start')
    wait_ready(hvs, server, 1)
    before = inventory(hvs)

    planned = action(hvs, 'mig', 'migrate', check=True, target=target)
    assert planned['changed'] and planned['steps'] == [
        'shutdown', 'copy root disk to %s' % target, 'copy seed to %s' % target, 'define on %s' % target,
        'start on %s' % target, 'remove from %s' % source], planned
    assert planned['server']['hypervisor'] == target and planned['diff']['after']['hypervisor'] == target
    assert inventory(hvs) == before and power_state(hvs, server) == 'running', 'check mode changes nothing'

    moved = action(hvs, 'mig', 'migrate', target=target)
    assert moved['changed'] and moved['steps'] == planned['steps'] and moved['diff'] == planned['diff'], moved
    after = moved['server']
    assert after['hypervisor'] == target and after['uuid'] == server['uuid'] and after['power_state'] == 'running'
    assert after['addresses'] == {NET: '10.250.60.150'} and after['ports'] == server['ports']
    assert inventory(hvs)[source] == {'domains': [], 'volumes': []}, 'nothing is left on the source'
    assert inventory(hvs)[target]['domains'] == [server['name']]
    wait_ready(hvs, after, 1)
    mac = server['ports'][0]['mac']
    assert 'kvmcloud-iface eth0 %s 10.250.60.150/24' % mac in read_console(console_file(hvs, after))
    with connected(hv_of(hvs, target)['uri']) as conn:
        assert {lease['mac']: lease['ipaddr'] for lease in conn.networkLookupByName(NET).DHCPLeases()}[mac] == \
            '10.250.60.150'
        target_base = conn.storagePoolLookupByName('kvmcloud-images').storageVolLookupByName(
            Path(disk_info(root_path(hvs, after))['backing-filename']).name).path()

    assert unchanged(action(hvs, 'mig', 'migrate', check=True, target=target))
    assert unchanged(action(hvs, 'mig', 'migrate', target=target))
    action(hvs, 'mig', 'stop')
    path = root_path(hvs, after)
    info = disk_info(path)
    assert info['backing-filename'] == target_base and target_base.startswith(hv_of(hvs, target)['dir'])
    assert has_pattern(path), 'the data of the root disk came along'
    assert subprocess.run(['qemu-img', 'check', '-q', path], check=False).returncode == 0

    # Without a target the scheduler picks the only other hypervisor; a stopped server stays stopped.
    back = action(hvs, 'mig', 'migrate')
    assert back['changed'] and back['server']['hypervisor'] == source and back['server']['power_state'] == 'stopped'
    assert has_pattern(root_path(hvs, back['server']))
    remove(hvs, 'mig')


def test_migrate_refusals_change_nothing(hvs):
    target = hvs[1]['name']
    base = {'cloud': cloud(hvs)}
    create(hvs, 'lone-net', power_state='stopped', networks=[{'network': LONE_NET}])
    create(hvs, 'lone-image', power_state='stopped', image=LONE_IMAGE)
    volume = run_module('volume', dict(base, name=PREFIX + 'data', size='16MiB', project='demo',
                                       hypervisor=hvs[0]['name']))
    assert not volume['failed'], volume
    create(hvs, 'with-volume', power_state='stopped', volumes=[PREFIX + 'data'])
    before = inventory(hvs)
    for name, reason in (
            ('lone-net', 'network %s of port %slone-net-eth0 is not there' % (LONE_NET, PREFIX)),
            ('lone-image', 'image %s is not registered there' % LONE_IMAGE),
            ('with-volume', 'data volumes are attached (%sdata)' % PREFIX)):
        for check in (True, False):
            refused = action(hvs, name, 'migrate', check=check, target=target)
            assert refused['failed'], refused
            assert refused['msg'].startswith('server %s%s cannot migrate to hypervisor %s: %s' % (
                PREFIX, name, target, reason)), refused['msg']
    unknown = action(hvs, 'lone-net', 'migrate', target='nowhere')
    assert unknown['failed'] and "unknown hypervisor 'nowhere'" in unknown['msg']
    same = action(hvs, 'lone-net', 'migrate', target=hvs[0]['name'])
    assert unchanged(same) and same['steps'] == [] and same['server']['hypervisor'] == hvs[0]['name']
    assert inventory(hvs) == before
    for name in ('lone-net', 'lone-image', 'with-volume'):
        remove(hvs, name)
    run_module('volume', dict(base, name=PREFIX + 'data', state='absent'))


def test_a_failure_on_the_target_is_undone_there_and_the_server_runs_on_its_source_again(hvs):
    target = hvs[1]['name']
    server = create(hvs, 'undo')
    wait_ready(hvs, server, 1)
    before = inventory(hvs)
    with connected(hv_of(hvs, target)['uri']) as conn:
        # Everything checks out, but the network is down there: the start on the target fails.
        conn.networkLookupByName(NET).destroy()
        try:
            failed = action(hvs, 'undo', 'migrate', target=target)
        finally:
            conn.networkLookupByName(NET).create()
    assert failed['failed'] and 'libvirt start of %sundo failed on hypervisor %s' % (PREFIX, target) in failed['msg'], \
        failed
    assert inventory(hvs) == before, 'nothing is left on the target, nothing is gone from the source'
    assert power_state(hvs, server) == 'running'
    wait_ready(hvs, server, 2)
    assert read_console(console_file(hvs, server)).count('kvmcloud-poweroff') == 1
    remove(hvs, 'undo')
