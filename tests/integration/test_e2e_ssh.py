"""End to end: servers brought up by the collection are Ansible hosts. On a namespaced test
hypervisor of this file's own, two servers from the Debian image (roles/debian_image) come up
with a keypair whose private half the test made, and server_fleet returns once cloud-init has
finished on both, their SSH host keys recorded. Then, inside that hypervisor's network
namespace (the only place where traffic to guest addresses is allowed), ``ansible-inventory``
lists them through the plugin and a play over SSH, with host key checking on against the
known_hosts file the plugin wrote, uses ordinary modules on both guests; what it did is read
back from the guests over SSH.
"""

import json
import os
import subprocess

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
GROUP = PREFIX + 'ssh'
SUBNET = {'cidr': '10.250.65.0/24', 'gateway': '10.250.65.1',
          'allocation_pools': [{'start': '10.250.65.100', 'end': '10.250.65.199'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])
BOOT_TIMEOUT = 420
SERVERS = (PREFIX + 'web1', PREFIX + 'web2')

e2e_hypervisors = hypervisors_fixture(count=1, prefix='e2e', scope='module', name='e2e_hypervisors')

PLAY = [{
    'name': 'Configure the servers over SSH',
    'hosts': 'project_demo',
    'gather_facts': False,
    'tasks': [
        {'name': 'Write a file', 'ansible.builtin.copy': {
            'content': 'configured {{ inventory_hostname }}\n', 'dest': '/tmp/kc-e2e-marker', 'mode': '0644'}},
        {'name': 'Read it back', 'ansible.builtin.command': 'cat /tmp/kc-e2e-marker', 'register': 'marker',
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
             'content': '{{ {"marker": marker.stdout, "hostname": hostname.stdout, "addresses": addresses.stdout,'
                        ' "uid": uid.stdout} | to_json }}'}},
    ],
}]


@pytest.fixture(scope='module')
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp('e2e-key') / 'id_ed25519'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(path)], check=True)
    return path


@pytest.fixture(scope='module')
def cloud(e2e_hypervisors, key, debian_image_file):
    hvs = e2e_hypervisors
    with removing_prefixed(hvs, PREFIX, **LEFTOVERS):
        definition = cloud_definition(hvs, [{'name': 'demo'}],
                                      keypairs=[{'name': 'tester', 'public_key': key.with_suffix('.pub').read_text().strip()}])
        image = run_module('image', {'cloud': definition, 'name': IMAGE, 'filename': str(debian_image_file),
                                     'properties': {'default_user': 'debian'}})
        assert not image['failed'], image
        network = run_module('network', {'cloud': definition, 'name': NET, 'mode': 'isolated', 'subnet': SUBNET})
        assert not network['failed'], network
        # SSH in from the network, as a user opens it; everything else inbound stays closed.
        group = run_module('security_group', {'cloud': definition, 'name': GROUP, 'rules': [
            {'direction': 'ingress', 'protocol': 'tcp', 'port_range_min': 22, 'remote_ip_prefix': SUBNET['cidr']},
            {'direction': 'egress', 'protocol': 'any', 'remote_ip_prefix': '0.0.0.0/0'}]})
        assert not group['failed'], group
        fleet = run_module('server_fleet', {
            'cloud': definition, 'wait_for_cloud_init': True, 'wait_timeout': BOOT_TIMEOUT,
            'servers': [{'name': name, 'vcpus': 1, 'ram': 768, 'image': IMAGE, 'project': 'demo',
                         'key_name': 'tester', 'networks': [{'network': NET, 'security_groups': [GROUP]}]}
                        for name in SERVERS]})
        assert not fleet['failed'], fleet
        yield definition, {server['name']: server for server in fleet['servers']}


def in_namespace(hv, argv, **kwargs):
    """``argv`` run inside the test hypervisor's mount and network namespaces."""
    return subprocess.run(namespace_command(hv) + [str(a) for a in argv], cwd=ROOT, capture_output=True, text=True,
                          check=False, **kwargs)


def test_a_play_over_ssh_configures_both_servers_with_host_keys_checked(tmp_path, e2e_hypervisors, cloud, key):
    definition, servers = cloud
    hv = e2e_hypervisors[0]
    for name in SERVERS:
        assert servers[name]['cloud_init']['status'] == 'done', servers[name]['cloud_init']
        assert servers[name]['host_keys'], 'the wait recorded the guest host keys'
    config = tmp_path / 'e2e.kvmcloud.yml'
    config.write_text(yaml.safe_dump({'plugin': 'kvmcloud.cloud.kvmcloud', 'cloud': definition,
                                      'known_hosts_file': 'known_hosts'}))
    # Host key checking on, whatever the project's configuration says.
    env = dict(ansible_env(), ANSIBLE_HOST_KEY_CHECKING='True',
               ANSIBLE_PRIVATE_KEY_FILE=str(key), ANSIBLE_TIMEOUT='60', HOME=os.environ.get('HOME', '/root'))

    graph = in_namespace(hv, [BIN / 'ansible-inventory', '-i', config, '--graph'], env=env, timeout=300)
    assert graph.returncode == 0, graph.stdout + graph.stderr
    assert '@project_demo:' in graph.stdout and all(name in graph.stdout for name in SERVERS), graph.stdout
    known = (tmp_path / 'known_hosts').read_text().splitlines()
    for name in SERVERS:
        address = servers[name]['addresses'][NET]
        assert {line.split(' ', 1)[1] for line in known if line.startswith(address + ' ')} == set(servers[name]['host_keys'])

    playbook = tmp_path / 'configure.yml'
    playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))
    reports = tmp_path / 'reports'
    reports.mkdir()
    play = in_namespace(hv, [BIN / 'ansible-playbook', '-i', config, playbook, '-e', 'report_dir=%s' % reports],
                        env=env, timeout=900)
    assert play.returncode == 0, play.stdout[-6000:] + play.stderr[-3000:]
    assert sorted(p.stem for p in reports.glob('*.json')) == sorted(SERVERS), play.stdout[-3000:]
    for name in SERVERS:
        seen = json.loads((reports / ('%s.json' % name)).read_text())
        assert seen['marker'] == 'configured %s' % name
        assert seen['hostname'] == name, 'cloud-init set the host name'
        assert '%s/24' % servers[name]['addresses'][NET] in seen['addresses'], 'the guest has its fixed address'
        assert seen['uid'] == '0', 'the default user may become root'
