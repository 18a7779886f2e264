"""Waiting for cloud-init on a stock cloud image: the Debian image of the debian_image role,
booted on a namespaced test hypervisor of this file's own. server_fleet returns once cloud-init
has finished on each server it created, with cloud-init's own errors reported; server_action
does the same for a (hard) reboot; a guest without cloud-init (the tiny image) times out with the
console's last lines in the message. The guests are checked through their consoles only.
"""

import re
import subprocess
from pathlib import Path

import pytest

from ansible_run import run_module
from cloud_fixture import cloud_definition, module_leftovers, removing_prefixed
from guests import read_console
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-ci-'
NET = 'kvmcloud-test-cinet'
DEBIAN = 'kvmcloud-test-ci-debian'
TINY = 'kvmcloud-test-ci-tiny'
SUBNET = {'cidr': '10.250.62.0/24', 'allocation_pools': [{'start': '10.250.62.100', 'end': '10.250.62.199'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])
# Two Debian guests boot at once on two cores under software emulation: about 70 s each alone.
BOOT_TIMEOUT = 420

ci_hypervisors = hypervisors_fixture(count=1, prefix='ci', scope='module', name='ci_hypervisors')


@pytest.fixture(scope='module')
def keypair(tmp_path_factory):
    key = tmp_path_factory.mktemp('key') / 'id'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(key)], check=True)
    return {'name': 'tester', 'public_key': key.with_suffix('.pub').read_text().strip()}


@pytest.fixture(scope='module')
def cloud(ci_hypervisors, keypair, debian_image_file, tiny_image_file):
    """The cloud definition, with both images and a network registered."""
    hvs = ci_hypervisors
    with removing_prefixed(hvs, PREFIX, **LEFTOVERS):
        definition = cloud_definition(hvs, [{'name': 'demo'}], keypairs=[keypair])
        for name, path, user in ((DEBIAN, debian_image_file, 'debian'), (TINY, tiny_image_file, 'root')):
            image = run_module('image', {'cloud': definition, 'name': name, 'filename': str(path),
                                         'properties': {'default_user': user}})
            assert not image['failed'], image
        network = run_module('network', {'cloud': definition, 'name': NET, 'mode': 'isolated', 'subnet': SUBNET})
        assert not network['failed'], network
        yield definition


def console(hv, name):
    """The server's console log: the collection logs it in the host's QEMU log directory, the test
    hypervisor's own."""
    return Path(hv['dir']) / 'var' / 'log' / 'libvirt' / 'qemu' / ('%s.console.log' % name)


@pytest.fixture(scope='module')
def fleet(cloud, ci_hypervisors):
    """Two Debian servers created in one call that waits for cloud-init: one whose user data
    runs cleanly and prints what the guest sees, one whose user data fails."""
    report = ('echo "kc-guest host=$(hostname) addr=$(ip -4 -o addr show scope global | awk \'{print $4}\') '
              'key=$(cat /home/debian/.ssh/authorized_keys | wc -l)" > /dev/ttyS0')
    common = {'vcpus': 1, 'ram': 768, 'image': DEBIAN, 'project': 'demo', 'key_name': 'tester',
              'networks': [{'network': NET}]}
    result = run_module('server_fleet', {'cloud': cloud, 'wait_for_cloud_init': True, 'wait_timeout': BOOT_TIMEOUT,
                                         'servers': [
                                             dict(common, name=PREFIX + 'good', user_data={'runcmd': [report]}),
                                             dict(common, name=PREFIX + 'bad', user_data={'runcmd': ['exit 3']}),
                                         ]})
    # A failure shows what the guests printed.
    assert not result['failed'], '%s\n%s' % (result['msg'], '\n'.join(
        '--- %s:\n%s' % (name, read_console(console(ci_hypervisors[0], name))[-3000:])
        for name in (PREFIX + 'good', PREFIX + 'bad')))
    return result


def test_server_fleet_waits_until_cloud_init_finished_and_reports_its_errors(fleet, ci_hypervisors):
    hv = ci_hypervisors[0]
    servers = {server['name']: server for server in fleet['servers']}
    good, bad = servers[PREFIX + 'good'], servers[PREFIX + 'bad']
    assert good['cloud_init']['status'] == 'done' and good['cloud_init']['errors'] == [], good['cloud_init']
    assert 'NoCloud' in good['cloud_init']['datasource']
    assert bad['cloud_init']['status'] == 'error', bad['cloud_init']
    assert any('scripts_user' in error or 'runcmd' in error for error in bad['cloud_init']['errors']), bad
    assert [w for w in fleet.get('warnings', []) if PREFIX + 'bad' in w and 'cloud-init reported an error' in w], fleet
    assert not [w for w in fleet.get('warnings', []) if PREFIX + 'good' in w], fleet
    # The module returned after cloud-init's end: its runcmd had run by then, and the guest saw
    # its host name, its fixed address and the keypair's key.
    text = read_console(console(hv, PREFIX + 'good'))
    assert re.search(r'^kvmcloud-cloud-init %s \{' % good['uuid'], text, re.MULTILINE), text[-2000:]
    seen = re.search(r'^kc-guest host=(\S+) addr=(\S+) key=(\d+)', text, re.MULTILINE)
    assert seen, text[-3000:]
    assert seen.groups() == (PREFIX + 'good', '%s/24' % good['addresses'][NET], '1')


def test_server_action_reboot_waits_for_cloud_init_again(cloud, fleet, ci_hypervisors):
    name = PREFIX + 'good'
    before = read_console(console(ci_hypervisors[0], name)).count('kvmcloud-cloud-init ')
    # A hard reboot (a reset): the image has no D-Bus, so systemd-logind does not act on the ACPI
    # power button a soft reboot sends.
    result = run_module('server_action', {'cloud': cloud, 'name': name, 'action': 'reboot', 'reboot_type': 'hard',
                                          'wait_for_cloud_init': True, 'wait_timeout': BOOT_TIMEOUT})
    assert not result['failed'] and result['changed'], result
    assert result['cloud_init']['status'] == 'done', result['cloud_init']
    # The line it waited for is the new boot's, not the first boot's.
    assert read_console(console(ci_hypervisors[0], name)).count('kvmcloud-cloud-init ') == before + 1


def test_a_guest_without_cloud_init_times_out_quoting_its_console(cloud):
    result = run_module('server', {'cloud': cloud, 'name': PREFIX + 'tiny', 'flavor': 'm1.tiny', 'image': TINY,
                                   'project': 'demo', 'networks': [{'network': NET}],
                                   'wait_for_cloud_init': True, 'wait_timeout': 45})
    assert result['failed'], result
    message = result['msg']
    assert 'timed out after' in message and 'waiting for cloud-init to finish on server %s' % (PREFIX + 'tiny') in message
    # The tiny guest's own lines: it printed its ready marker, and never cloud-init's.
    assert "its console's last lines:" in message and 'kvmcloud-ready ' in message, message
