# -*- coding: utf-8 -*-
"""The inventory plugin kvmcloud.cloud.kvmcloud, loaded by Ansible's plugin loader and parsing
configuration files, over hypervisors that are libvirt test drivers read from node files
(``test:///<file>``: each connection gets the servers the file describes, in the states it
gives them, and a removed file is a hypervisor that cannot be reached)."""

import dataclasses
import json
import os

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.plugins.loader import inventory_loader
from ansible.utils.display import Display

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import domain
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import run_server_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.session import ControllerSession
from ansible_collections.kvmcloud.cloud.plugins.module_utils.inventory import read

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
STATES = {'running': 1, 'paused': 3, 'stopped': 5, 'crashed': 6, 'pmsuspended': 7}
FLAVORS = {'m1.tiny': {'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}}


def plugin():
    """A fresh instance of the plugin, as ansible-inventory loads it."""
    return inventory_loader.get('kvmcloud.cloud.kvmcloud')


def server_xml(name, index, project='demo', image='tiny', ports=(), state='running', tags=(), meta=None,
               server_group=None, host_keys=()):
    """A server's domain as the compute engine writes it, in the test driver's node format."""
    spec = {'name': name, 'flavor': FLAVORS['m1.tiny']}
    ports = [{'name': '%s-eth%d' % (name, i), 'network': net, 'ip': ip, 'mac': '02:00:00:00:%02x:%02x' % (index, i)}
             for i, (net, ip) in enumerate(ports)]
    metadata = {'project': project, 'flavor': FLAVORS['m1.tiny'], 'image': image, 'ports': ports, 'volumes': [],
                'key_name': None, 'server_group': server_group, 'seed_hash': 'x', 'tags': list(tags),
                'meta': meta or {}, 'boot_volume': None, 'created': '2026-12-03T10:00:00Z'}
    xml = domain.domain_xml(spec, '6f0c4a34-8a58-4d54-9d59-3a1d2a2d%04d' % index, 'qemu', '/p/%s.qcow2' % name,
                            '/p/%s-seed.iso' % name,
                            [{'network': p['network'], 'mac': p['mac'], 'filter': None} for p in ports], metadata)
    if host_keys:
        # As record_host_keys leaves them: an element of their own in the domain's metadata.
        xml = xml.replace('</metadata>', '<k:hostkeys xmlns:k="%s">%s</k:hostkeys></metadata>' % (
            domain.HOST_KEYS_NAMESPACE, ''.join('<k:key>%s</k:key>' % key for key in host_keys)), 1)
    return xml.replace('<domain ', '<domain xmlns:test="http://libvirt.org/schemas/domain/test/1.0" ', 1).replace(
        '</domain>', '<test:runstate>%d</test:runstate></domain>' % STATES[state])


def node_file(path, servers):
    """A test driver node file holding ``servers`` (``{name: options}``) and the two pools."""
    pools = ''.join("<pool type='dir'><name>%s</name><target><path>/p/%s</path></target></pool>" % (name, name)
                    for name in ('kvmcloud-images', 'kvmcloud-volumes'))
    doms = ''.join(server_xml(name, i, **opts) for i, (name, opts) in enumerate(sorted(servers.items()), 1))
    path.write_text('<node>%s%s</node>' % (doms, pools))
    return 'test://%s' % path


HV1 = {
    'web1': {'ports': [('front', '10.0.0.5'), ('back', '10.1.0.5')], 'tags': ['web', 'blue'],
             'meta': {'tier': 'front'}, 'server_group': {'name': 'webs', 'policy': 'anti-affinity'},
             'host_keys': ['ssh-ed25519 AAAAC3NzaWeb1', 'ssh-rsa AAAAB3NzaWeb1']},
    'web2': {'ports': [('front', '10.0.0.6')], 'tags': ['web'], 'state': 'paused'},
    'db1': {'ports': [('back', '10.1.0.9')], 'state': 'stopped', 'project': 'ops', 'image': 'deb',
            'meta': {'tier': 'data base'}},
}
HV2 = {
    'lone1': {'state': 'crashed'},
    'job1': {'ports': [('front', '10.0.0.20')], 'state': 'pmsuspended', 'project': 'ops'},
}


@pytest.fixture
def cloud(tmp_path):
    """A cloud of two test hypervisors in two zones: ``{'hypervisors': [...], ...}``."""
    return {'hypervisors': [{'name': 'hv1', 'uri': node_file(tmp_path / 'hv1.xml', HV1), 'zone': 'rack1'},
                            {'name': 'hv2', 'uri': node_file(tmp_path / 'hv2.xml', HV2), 'zone': 'rack2'}],
            'flavors': [FLAVORS['m1.tiny']], 'projects': [{'name': 'demo'}, {'name': 'ops'}]}


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(Display, 'warning', lambda self, msg, *a, **k: seen.append(msg))
    return seen


def config(tmp_path, name='servers.kvmcloud.yml', **options):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({'plugin': 'kvmcloud.cloud.kvmcloud'}, **options)))
    return str(path)


def parse(path, cache=True):
    """The inventory the plugin makes of the configuration ``path``, with the cache written as
    ansible-inventory writes it."""
    inventory, inv_plugin = InventoryData(), plugin()
    assert inv_plugin.verify_file(path)
    inv_plugin.parse(inventory, DataLoader(), path, cache=cache)
    if getattr(inv_plugin, '_cache', None):
        inv_plugin.update_cache_if_changed()
    return inventory


def groups_of(inventory):
    return {name: sorted(h.name for h in group.get_hosts()) for name, group in inventory.groups.items()
            if name not in ('all', 'ungrouped')}


def hostvars(inventory, name):
    return inventory.get_host(name).get_vars()


def test_every_server_is_a_host_in_a_group_of_every_kind(tmp_path, cloud, warnings):
    inventory = parse(config(tmp_path, cloud=cloud))
    assert groups_of(inventory) == {
        'kvmcloud': ['db1', 'job1', 'lone1', 'web1', 'web2'],
        'project_demo': ['lone1', 'web1', 'web2'], 'project_ops': ['db1', 'job1'],
        'flavor_m1_tiny': ['db1', 'job1', 'lone1', 'web1', 'web2'],
        'image_tiny': ['job1', 'lone1', 'web1', 'web2'], 'image_deb': ['db1'],
        'hypervisor_hv1': ['db1', 'web1', 'web2'], 'hypervisor_hv2': ['job1', 'lone1'],
        'zone_rack1': ['db1', 'web1', 'web2'], 'zone_rack2': ['job1', 'lone1'],
        # libvirt's paused and pmsuspended are paused; shutoff and crashed are stopped.
        'state_running': ['web1'], 'state_paused': ['job1', 'web2'], 'state_stopped': ['db1', 'lone1'],
        'tag_web': ['web1', 'web2'], 'tag_blue': ['web1'],
        'server_group_webs': ['web1'],
        'meta_tier_front': ['web1'], 'meta_tier_data_base': ['db1'],
    }
    assert warnings == []


def test_host_vars_are_the_server_as_server_info_returns_it_and_its_address(tmp_path, cloud):
    inventory = parse(config(tmp_path, cloud=cloud))
    with ControllerSession(cloud, params=dict(name=None, project=None, hypervisor=None, power_state=None,
                                              tags=None)) as cm:
        listed = {s['name']: s for s in run_server_info(cm)['servers']}
    for name, server in listed.items():
        got = dict(hostvars(inventory, name)['kvmcloud'])
        # The test driver's CPU time is its clock: read twice, it differs.
        assert set(got.pop('usage')) == set(server.pop('usage')) == {'cpu_time_ns', 'memory_kib'}
        assert got == server
    assert hostvars(inventory, 'web1')['ansible_host'] == '10.0.0.5'
    assert hostvars(inventory, 'db1')['ansible_host'] == '10.1.0.9'
    assert 'ansible_host' not in hostvars(inventory, 'lone1'), 'a server with no port has no address'
    assert hostvars(inventory, 'lone1')['kvmcloud']['ports'] == []
    assert not any('ansible_user' in hostvars(inventory, n) for n in listed), 'no image sets a default user'


def test_the_network_option_picks_the_port_that_gives_the_address(tmp_path, cloud):
    inventory = parse(config(tmp_path, cloud=cloud, network='back'))
    assert hostvars(inventory, 'web1')['ansible_host'] == '10.1.0.5'
    assert hostvars(inventory, 'db1')['ansible_host'] == '10.1.0.9'
    assert 'ansible_host' not in hostvars(inventory, 'web2'), 'web2 has no port on network back'


def test_the_projects_filter_lists_only_their_servers(tmp_path, cloud):
    inventory = parse(config(tmp_path, cloud=cloud, projects=['ops']))
    assert sorted(inventory.hosts) == ['db1', 'job1']
    assert groups_of(inventory)['kvmcloud'] == ['db1', 'job1']
    with pytest.raises(AnsibleParserError, match="unknown project 'nope'"):
        parse(config(tmp_path, cloud=cloud, projects=['nope']))


def test_compose_groups_and_keyed_groups_work_on_the_host_vars(tmp_path, cloud):
    inventory = parse(config(
        tmp_path, cloud=cloud,
        compose={'server_ram': 'kvmcloud.ram', 'first_ip': 'kvmcloud.ports[0].ip'},
        groups={'has_two_ports': 'kvmcloud.ports | length == 2', 'big': 'server_ram > 1000'},
        keyed_groups=[{'key': 'kvmcloud.project', 'prefix': 'owner'}, {'key': 'kvmcloud.meta', 'prefix': 'm'}]))
    assert hostvars(inventory, 'web1')['server_ram'] == 128
    assert hostvars(inventory, 'web1')['first_ip'] == '10.0.0.5'
    assert 'first_ip' not in hostvars(inventory, 'lone1'), 'without strict, a failing expression is skipped'
    groups = groups_of(inventory)
    assert groups['has_two_ports'] == ['web1'] and 'big' not in groups
    assert groups['owner_demo'] == ['lone1', 'web1', 'web2'] and groups['owner_ops'] == ['db1', 'job1']
    assert groups['m_tier_front'] == ['web1']


def test_strict_makes_a_failing_expression_an_error(tmp_path, cloud):
    with pytest.raises(Exception, match='first_ip'):
        parse(config(tmp_path, cloud=cloud, strict=True, compose={'first_ip': 'kvmcloud.ports[0].ip'}))


def test_an_unreachable_hypervisor_is_a_warning_naming_it(tmp_path, cloud, warnings):
    os.remove(tmp_path / 'hv2.xml')
    inventory = parse(config(tmp_path, cloud=cloud))
    assert sorted(inventory.hosts) == ['db1', 'web1', 'web2']
    assert len(warnings) == 1 and 'hypervisor hv2 could not be reached' in warnings[0], warnings
    assert 'hypervisor hv2 (test://%s) is unreachable' % (tmp_path / 'hv2.xml') in warnings[0]
    assert 'hv1' not in warnings[0]


def test_fail_on_errors_makes_an_unreachable_hypervisor_fatal(tmp_path, cloud):
    os.remove(tmp_path / 'hv2.xml')
    with pytest.raises(AnsibleParserError, match='hypervisor hv2 could not be reached'):
        parse(config(tmp_path, cloud=cloud, fail_on_errors=True))


def test_with_the_cache_a_second_run_opens_no_connection(tmp_path, cloud, warnings, monkeypatch):
    path = config(tmp_path, cloud=cloud, cache=True, cache_plugin='ansible.builtin.jsonfile',
                  cache_connection=str(tmp_path / 'cache'), cache_timeout=3600)
    first = parse(path)
    assert os.listdir(tmp_path / 'cache'), 'the first run wrote the cache'
    # Both hypervisors are gone now: any connection attempt fails, and is counted.
    os.remove(tmp_path / 'hv1.xml')
    os.remove(tmp_path / 'hv2.xml')
    opened = []
    real_open = virt.open_connection
    monkeypatch.setattr(virt, 'open_connection', lambda hv: opened.append(hv.name) or real_open(hv))
    second = parse(path)
    assert opened == [] and warnings == []
    assert groups_of(second) == groups_of(first)
    assert hostvars(second, 'web1')['ansible_host'] == '10.0.0.5'
    # A run told to refresh the cache (ansible-inventory --flush-cache) reads the hypervisors.
    refreshed = parse(path, cache=False)
    assert sorted(opened) == ['hv1', 'hv2'] and sorted(refreshed.hosts) == []
    assert 'hypervisors hv1, hv2 could not be reached' in warnings[0]
    # That partial read did not replace the cache.
    assert groups_of(parse(path)) == groups_of(first)


def test_the_cache_is_off_by_default(tmp_path, cloud, warnings):
    path = config(tmp_path, cloud=cloud)
    parse(path)
    os.remove(tmp_path / 'hv1.xml')
    assert sorted(parse(path).hosts) == ['job1', 'lone1']
    assert 'hypervisor hv1 could not be reached' in warnings[0]


def test_the_images_default_user_is_ansible_user(tmp_path, cloud, monkeypatch):
    # The test driver cannot stream a catalog entry's content: the catalog read is replaced,
    # with what it returns for an image registered with properties.
    entries = {('hv1', 'deb'): {'name': 'deb', 'properties': {'default_user': 'debian', 'os_distro': 'debian'}},
               ('hv1', 'tiny'): {'name': 'tiny', 'properties': {}}}
    monkeypatch.setattr(read, 'find_image', lambda h, name: entries.get((h.name, name)))
    inventory = parse(config(tmp_path, cloud=cloud))
    assert hostvars(inventory, 'db1')['ansible_user'] == 'debian'
    assert 'ansible_user' not in hostvars(inventory, 'web1')
    assert 'ansible_user' not in hostvars(inventory, 'job1'), 'the image has no catalog entry on hv2'


def test_ssh_proxy_jump_goes_through_hypervisors_reached_over_ssh(tmp_path, cloud, monkeypatch):
    # hv1 is "reached over SSH"; its connection still goes to its test driver.
    real_uri, real_open = cloud['hypervisors'][0]['uri'], virt.open_connection
    cloud['hypervisors'][0]['uri'] = 'qemu+ssh://root@hv1.example.org/system'
    monkeypatch.setattr(virt, 'open_connection', lambda hv: real_open(
        dataclasses.replace(hv, uri=real_uri) if hv.name == 'hv1' else hv))
    inventory = parse(config(tmp_path, cloud=cloud, ssh_proxy_jump=True))
    assert hostvars(inventory, 'web1')['ansible_ssh_common_args'] == '-o ProxyJump=root@hv1.example.org'
    assert 'ansible_ssh_common_args' not in hostvars(inventory, 'job1')
    assert 'ansible_ssh_common_args' not in hostvars(parse(config(tmp_path, cloud=cloud)), 'web1')


def test_known_hosts_file_holds_the_recorded_host_keys_and_checking_stays_on(tmp_path, cloud):
    inventory = parse(config(tmp_path, cloud=cloud, known_hosts_file='keys/known_hosts'))
    known = tmp_path / 'keys' / 'known_hosts'
    assert known.read_text() == '10.0.0.5 ssh-ed25519 AAAAC3NzaWeb1\n10.0.0.5 ssh-rsa AAAAB3NzaWeb1\n'
    assert hostvars(inventory, 'web1')['kvmcloud']['host_keys'] == ['ssh-ed25519 AAAAC3NzaWeb1', 'ssh-rsa AAAAB3NzaWeb1']
    assert hostvars(inventory, 'web1')['ansible_ssh_common_args'] == (
        '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes' % known)
    assert 'ansible_ssh_common_args' not in hostvars(inventory, 'web2'), 'no keys recorded: nothing to check against'
    # With the network option, the keys are those of the address on that network.
    parse(config(tmp_path, cloud=cloud, known_hosts_file='keys/known_hosts', network='back'))
    assert known.read_text().splitlines()[0] == '10.1.0.5 ssh-ed25519 AAAAC3NzaWeb1'
    assert 'ansible_ssh_common_args' not in hostvars(parse(config(tmp_path, cloud=cloud)), 'web1')


def test_a_server_on_two_hypervisors_is_an_error(tmp_path, cloud):
    cloud['hypervisors'][1]['uri'] = node_file(tmp_path / 'hv2.xml', {'web1': {}})
    with pytest.raises(AnsibleParserError, match='server web1 exists on hypervisors hv1 and hv2'):
        parse(config(tmp_path, cloud=cloud))


@pytest.mark.parametrize('name, ours', [('servers.kvmcloud.yml', True), ('kvmcloud.yaml', True),
                                        ('servers.yml', False), ('kvmcloud.yml.bak', False)])
def test_only_files_named_kvmcloud_yml_or_yaml_are_configurations(tmp_path, name, ours):
    path = tmp_path / name
    path.write_text('plugin: kvmcloud.cloud.kvmcloud\n')
    assert plugin().verify_file(str(path)) is ours


def test_a_cloud_definition_is_validated_as_the_modules_validate_it(tmp_path, cloud):
    cloud['hypervisors'][0]['enabled'] = 'maybe'
    with pytest.raises(AnsibleParserError, match="'enabled' is of type str.*not a valid boolean"):
        parse(config(tmp_path, cloud=cloud))
    with pytest.raises(AnsibleParserError, match='exactly one of cloud and cloud_file'):
        parse(config(tmp_path))
    with pytest.raises(AnsibleParserError, match='exactly one of cloud and cloud_file'):
        parse(config(tmp_path, cloud=cloud, cloud_file='x.yml'))


@pytest.fixture
def vault(monkeypatch):
    """Vault secrets as ansible-inventory has them after --vault-password-file."""
    secrets = [('default', VaultSecret(b'inventory-test'))]
    monkeypatch.setattr(DataLoader, '__init__', _with_secrets(DataLoader.__init__, secrets))
    try:
        from ansible.parsing.vault import VaultSecretsContext
    except ImportError:  # ansible-core before 2.19 decrypts with the loader's secrets alone
        VaultSecretsContext = None
    if VaultSecretsContext is not None:
        monkeypatch.setattr(VaultSecretsContext, '_current', VaultSecretsContext(secrets))
    return VaultLib(secrets)


def _with_secrets(init, secrets):
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.set_vault_secrets(secrets)
    return patched


def test_cloud_file_gives_the_definition_with_vaulted_values(tmp_path, cloud, vault):
    uri = cloud['hypervisors'][0]['uri']
    encrypted = vault.encrypt(uri).decode()
    (tmp_path / 'vars').mkdir()
    text = yaml.safe_dump({'kvmcloud_cloud': dict(cloud, hypervisors=[dict(cloud['hypervisors'][0], uri='URI')])})
    (tmp_path / 'vars' / 'cloud.yml').write_text(
        text.replace('uri: URI', 'uri: !vault |\n      %s' % encrypted.replace('\n', '\n      ')))
    # A relative cloud_file is relative to the configuration file.
    inventory = parse(config(tmp_path, cloud_file='vars/cloud.yml'))
    assert sorted(inventory.hosts) == ['db1', 'web1', 'web2']
    # A whole file encrypted works too.
    (tmp_path / 'vars' / 'sealed.yml').write_bytes(vault.encrypt(yaml.safe_dump({'kvmcloud_cloud': cloud})))
    assert sorted(parse(config(tmp_path, cloud_file='vars/sealed.yml')).hosts) == [
        'db1', 'job1', 'lone1', 'web1', 'web2']


def test_cloud_file_is_not_templated_and_needs_its_key(tmp_path, cloud):
    (tmp_path / 'templated.yml').write_text(yaml.safe_dump({'kvmcloud_cloud': dict(
        cloud, hypervisors=[{'name': 'hv1', 'uri': '{{ hv1_uri }}'}])}))
    with pytest.raises(AnsibleParserError, match=r'kvmcloud_cloud.hypervisors\[0\].uri is a Jinja2 template'):
        parse(config(tmp_path, cloud_file='templated.yml'))
    (tmp_path / 'other.yml').write_text(json.dumps({'cloud': cloud}))
    with pytest.raises(AnsibleParserError, match='has no kvmcloud_cloud key'):
        parse(config(tmp_path, cloud_file='other.yml'))


def test_the_example_configuration_reads_the_local_inventorys_cloud(monkeypatch, warnings):
    """inventories/local-servers/demo.kvmcloud.yml, with its hypervisor made unreachable here
    (the test touches no real libvirtd)."""
    attempted = []

    def unreachable(hv):
        attempted.append(hv.uri)
        raise virt.LibvirtCallError('open', hv.uri, 38, 'not in unit tests', hypervisor=hv.name)

    monkeypatch.setattr(virt, 'open_connection', unreachable)
    inventory = parse(os.path.join(REPO, 'inventories', 'local-servers', 'demo.kvmcloud.yml'))
    assert attempted == ['qemu:///system'] and list(inventory.hosts) == []
    assert 'hypervisor localhost could not be reached' in warnings[0]


def test_every_connection_is_closed_at_the_end_on_success_and_on_error(tmp_path, cloud, monkeypatch):
    opened, closed = [], []
    real_open, real_close = virt.open_connection, virt.close_connection
    monkeypatch.setattr(virt, 'open_connection', lambda hv: opened.append(hv.name) or real_open(hv))
    monkeypatch.setattr(virt, 'close_connection', lambda h: closed.append(h.name) or real_close(h))
    parse(config(tmp_path, cloud=cloud))
    assert sorted(opened) == sorted(closed) == ['hv1', 'hv2']
    cloud['hypervisors'][1]['uri'] = node_file(tmp_path / 'hv2.xml', {'web1': {}})
    with pytest.raises(AnsibleParserError):
        parse(config(tmp_path, cloud=cloud))
    assert sorted(opened) == sorted(closed) == ['hv1', 'hv1', 'hv2', 'hv2']
