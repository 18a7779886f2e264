"""End to end: servers brought up by the collection are Ansible hosts. On a namespaced test
hypervisor of this file's own, the worked example of docs/inventory.md,
``playbooks/debian_servers.yml``, runs as a user runs it, inside that hypervisor's network
namespace (the only place where traffic to guest addresses is allowed): its first play brings up
two servers from the Debian image (roles/debian_image) with a keypair whose private half the
test made and returns once cloud-init has finished on both, their SSH host keys recorded; its
second play, over SSH to the hosts the inventory plugin lists, with host key checking on against
the known_hosts file the plugin wrote, checks from the guests that they have their names and
fixed addresses and writes /etc/motd. A second run changes nothing, and a play of the test's own
reads back from the guests what the first did.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_run import BIN, ROOT, ansible_env, run_module
from cloud_fixture import cloud_definition, module_leftovers, removing_prefixed
from testhv import namespace_command
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-e2e-'
NET = 'kvmcloud-test-e2enet'
IMAGE = 'kvmcloud-test-e2e-debian'
SUBNET = {'cidr': '10.250.65.0/24', 'gateway': '10.250.65.1',
          'allocation_pools': [{'start': '10.250.65.100', 'end': '10.250.65.199'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])
BOOT_TIMEOUT = 420
SERVERS = (PREFIX + 'web1', PREFIX + 'web2')

e2e_hypervisors = hypervisors_fixture(count=1, prefix='e2e', scope='module', name='e2e_hypervisors')

EXAMPLE = ROOT / 'playbooks' / 'debian_servers.yml'
MOTD = '%s: configured by kvmcloud\'s worked example'

# Reads back from the guests what the example did, and reports it through files on the controller.
PLAY = [{
    'name': 'Read back what the example did',
    'hosts': 'tag_debian_servers',
    'gather_facts': False,
    'tasks': [
        {'name': 'Read the message of the day', 'ansible.builtin.command': 'cat /etc/motd', 'register': 'motd',
         'changed_when': False},
        {'name': 'Read the host name', 'ansible.builtin.command': 'hostname', 'register': 'hostname',
         'changed_when': False},
        {'name': 'Read the addresses', 'ansible.builtin.command': 'ip -4 -o addr show scope global',
         'register': 'addresses', 'changed_when': False},
        {'name': 'Become root', 'ansible.builtin.command': 'id -u', 'become': True, 'register': 'uid',
         'changed_when': False},
        {'name': 'Report what the guest said, on the controller', 'delegate_to': 'localhost',
         'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
         'ansible.builtin.copy': {
             'dest': '{{ report_dir }}/{{ inventory_hostname }}.json', 'mode': '0644',
             'content': '{{ {"motd": motd.stdout, "hostname": hostname.stdout, "addresses": addresses.stdout,'
                        ' "uid": uid.stdout} | to_json }}'}},
    ],
}]


@pytest.fixture(scope='module')
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp('e2e-key') / 'id_ed25519'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(path)], check=True)
    return path


@pytest.fixture(scope='module')
def cloud(e2e_hypervisors, key):
    """The cloud definition, with the test's keypair and the network the example's servers use."""
    hvs = e2e_hypervisors
    with removing_prefixed(hvs, PREFIX, **LEFTOVERS):
        definition = cloud_definition(hvs, [{'name': 'demo'}],
                                      keypairs=[{'name': 'tester', 'public_key': key.with_suffix('.pub').read_text().strip()}])
        network = run_module('network', {'cloud': definition, 'name': NET, 'mode': 'isolated', 'subnet': SUBNET})
        assert not network['failed'], network
        yield definition


@pytest.fixture(scope='module')
def inventory(tmp_path_factory, cloud, key, debian_image_file):
    """An inventory as a user has one: the controller, and the plugin's configuration with a
    known_hosts file; the example's variables for this cloud; and ansible's environment."""
    inventory = tmp_path_factory.mktemp('e2e-inventory')
    (inventory / 'hosts.yml').write_text(yaml.safe_dump({'all': {'children': {'controller': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}}}))
    (inventory / 'servers.kvmcloud.yml').write_text(yaml.safe_dump({
        'plugin': 'kvmcloud.cloud.kvmcloud', 'cloud': cloud, 'known_hosts_file': 'known_hosts'}))
    extra = inventory.parent / 'e2e-vars.json'
    extra.write_text(json.dumps({
        'kvmcloud_cloud': cloud, 'debian_servers_key_name': 'tester', 'debian_servers_image': IMAGE,
        'debian_servers_image_file': str(debian_image_file), 'debian_servers_network': NET,
        'debian_servers': [{'name': name} for name in SERVERS], 'debian_servers_wait_timeout': BOOT_TIMEOUT}))
    # The project's ansible.cfg keeps host key checking on; ANSIBLE_PRIVATE_KEY_FILE is the
    # keypair's private half, as a user's ~/.ssh key would be.
    env = dict(ansible_env(), ANSIBLE_PRIVATE_KEY_FILE=str(key), ANSIBLE_TIMEOUT='60',
               HOME=os.environ.get('HOME', '/root'))
    return inventory, extra, env


def in_namespace(hv, argv, **kwargs):
    """``argv`` run inside the test hypervisor's mount and network namespaces."""
    return subprocess.run(namespace_command(hv) + [str(a) for a in argv], cwd=ROOT, capture_output=True, text=True,
                          check=False, **kwargs)


def recap(stdout):
    """The PLAY RECAP of an ansible-playbook run: ``{host: {ok: n, changed: n, failed: n, ...}}``."""
    return {m.group(1): {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
            for m in re.finditer(r'^(\S+)\s+:\s+(ok=.*)$', stdout.split('PLAY RECAP', 1)[-1], re.M)}


def run_example(hv, inventory):
    directory, extra, env = inventory
    # The default callback, as a user sees it: its PLAY RECAP has each host's counts.
    return in_namespace(hv, [BIN / 'ansible-playbook', '-i', directory, EXAMPLE, '-e', '@%s' % extra],
                        env=dict(env, ANSIBLE_STDOUT_CALLBACK='default'), timeout=1200)


@pytest.fixture(scope='module')
def first_run(e2e_hypervisors, inventory):
    return run_example(e2e_hypervisors[0], inventory)


def test_the_worked_example_brings_up_the_servers_and_configures_them_over_ssh(first_run, cloud, inventory):
    out = first_run.stdout[-6000:] + first_run.stderr[-3000:]
    assert first_run.returncode == 0, out
    hosts = recap(first_run.stdout)
    assert set(hosts) == {'localhost', *SERVERS}, out
    for name in SERVERS:
        # gather facts, the check from the guest, and /etc/motd, which it wrote
        assert hosts[name]['ok'] == 3 and hosts[name]['changed'] == 1 and hosts[name]['failed'] == 0, out
    servers = {s['name']: s for s in run_module('server_info', {'cloud': cloud, 'project': 'demo'})['servers']}
    known = (inventory[0] / 'known_hosts').read_text().splitlines()
    for name in SERVERS:
        assert servers[name]['host_keys'], 'the wait recorded the guest host keys'
        address = servers[name]['addresses'][NET]
        assert {line.split(' ', 1)[1] for line in known if line.startswith(address + ' ')} == set(servers[name]['host_keys'])


def test_a_second_run_of_the_worked_example_changes_nothing(e2e_hypervisors, first_run, inventory):
    assert first_run.returncode == 0, 'the first run failed'
    again = run_example(e2e_hypervisors[0], inventory)
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-3000:]
    hosts = recap(again.stdout)
    assert set(hosts) == {'localhost', *SERVERS}, again.stdout[-6000:]
    assert all(counts['changed'] == 0 for counts in hosts.values()), again.stdout[-6000:]


def test_the_guests_show_what_the_example_did(tmp_path, e2e_hypervisors, first_run, cloud, inventory):
    assert first_run.returncode == 0, 'the first run failed'
    directory, _extra, env = inventory
    playbook = tmp_path / 'read_back.yml'
    playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))
    reports = tmp_path / 'reports'
    reports.mkdir()
    play = in_namespace(e2e_hypervisors[0], [BIN / 'ansible-playbook', '-i', directory / 'servers.kvmcloud.yml',
                                             playbook, '-e', 'report_dir=%s' % reports], env=env, timeout=600)
    assert play.returncode == 0, play.stdout[-6000:] + play.stderr[-3000:]
    assert sorted(p.stem for p in reports.glob('*.json')) == sorted(SERVERS), play.stdout[-3000:]
    servers = {s['name']: s for s in run_module('server_info', {'cloud': cloud, 'project': 'demo'})['servers']}
    for name in SERVERS:
        seen = json.loads((reports / ('%s.json' % name)).read_text())
        assert seen['motd'] == MOTD % name
        assert seen['hostname'] == name, 'cloud-init set the host name'
        assert '%s/24' % servers[name]['addresses'][NET] in seen['addresses'], 'the guest has its fixed address'
        assert seen['uid'] == '0', 'the default user may become root'
