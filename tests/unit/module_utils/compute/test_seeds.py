# -*- coding: utf-8 -*-
"""compute/seeds.py: the NoCloud files (meta-data, user-data merged with public keys, network-config
v2) and their hash; the YAML is also read back with the tiny guest's own
parser (cloud-config.awk under busybox awk) when busybox is installed."""

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 4))
AWK_PARSER = os.path.join(REPO, 'roles', 'tiny_image', 'files', 'cloud-config.awk')
BUSYBOX = shutil.which('busybox')

UUID = '5c1f0e4e-7d51-4a8e-9a37-2f0b8f1f6a10'
KEY1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1' + 'a' * 40 + ' alice@example.org'
KEY2 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ' + 'b' * 360 + ' bob@example.org'
MAC0 = '52:54:00:12:34:56'
MAC1 = '52:54:00:ab:cd:ef'


def files(**kwargs):
    kwargs.setdefault('instance_id', UUID)
    kwargs.setdefault('hostname', 'web-1')
    return seeds.seed_files(**kwargs)


def user_config(**kwargs):
    text = files(**kwargs)['user-data']
    assert text.startswith('#cloud-config\n')
    return yaml.safe_load(text)


def network(*interfaces):
    return yaml.safe_load(files(interfaces=interfaces)['network-config'])


def flatten(text):
    """What the tiny guest's /init sees: cloud-config.awk's ``path -> value``, escapes undone."""
    if not BUSYBOX:
        pytest.skip('busybox is not installed: the guest parser cannot run here')
    out = subprocess.run([BUSYBOX, 'awk', '-f', AWK_PARSER], input=text, capture_output=True,
                         text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        path, _tab, value = line.partition('\t')
        value = value.replace('\\\\', '\0').replace('\\n', '\n').replace('\0', '\\')
        result[path] = value
    return result


# -- the three files ------------------------------------------------------------------------

def test_files_are_the_three_nocloud_files_in_order():
    assert list(files()) == ['meta-data', 'user-data', 'network-config']
    assert seeds.SEED_FILE_NAMES == ('meta-data', 'user-data', 'network-config')


def test_meta_data_has_instance_id_and_local_hostname():
    text = files()['meta-data']
    assert text == 'instance-id: %s\nlocal-hostname: web-1\n' % UUID
    assert yaml.safe_load(text) == {'instance-id': UUID, 'local-hostname': 'web-1'}


@pytest.mark.parametrize('instance_id', [None, '', '  ', 'a\nb', 42])
def test_bad_instance_id_is_refused(instance_id):
    with pytest.raises(ValidationError, match='invalid instance id'):
        files(instance_id=instance_id)


@pytest.mark.parametrize('hostname', ['web_1', '-web', 'web-', 'a b', '', None, 'x' * 64, 'a..b'])
def test_bad_hostname_is_refused(hostname):
    with pytest.raises(ValidationError, match='invalid hostname'):
        files(hostname=hostname)


def test_fqdn_hostname_is_accepted():
    assert yaml.safe_load(files(hostname='web-1.example.org')['meta-data'])['local-hostname'] == 'web-1.example.org'


# -- user-data ------------------------------------------------------------------------------

def test_no_user_data_and_no_keys_is_an_empty_cloud_config():
    assert files()['user-data'] == '#cloud-config\n{}\n'
    assert files(user_data='')['user-data'] == '#cloud-config\n{}\n'
    assert files(user_data='#cloud-config\n')['user-data'] == '#cloud-config\n{}\n'


def test_keys_alone_become_ssh_authorized_keys():
    assert user_config(public_keys=[KEY1, KEY2]) == {'ssh_authorized_keys': [KEY1, KEY2]}


def test_a_single_key_string_is_one_key():
    assert user_config(public_keys=KEY1) == {'ssh_authorized_keys': [KEY1]}


def test_dict_user_data_is_merged_and_not_changed():
    user_data = {'runcmd': ['echo hi'], 'ssh_authorized_keys': [KEY2]}
    assert user_config(user_data=user_data, public_keys=[KEY1]) == {
        'runcmd': ['echo hi'], 'ssh_authorized_keys': [KEY2, KEY1]}
    assert user_data == {'runcmd': ['echo hi'], 'ssh_authorized_keys': [KEY2]}


def test_cloud_config_text_is_parsed_merged_and_dumped_with_its_header():
    text = '#cloud-config\nhostname: db\nssh_authorized_keys:\n  - %s\n' % KEY2
    out = files(user_data=text, public_keys=[KEY1])['user-data']
    assert out.splitlines()[0] == '#cloud-config'
    assert yaml.safe_load(out) == {'hostname': 'db', 'ssh_authorized_keys': [KEY2, KEY1]}


def test_keys_are_not_duplicated_and_the_users_come_first():
    text = '#cloud-config\nssh_authorized_keys: [%s, "%s "]\n' % (KEY1, KEY2)
    assert user_config(user_data=text, public_keys=[KEY2, KEY1, '  %s' % KEY2])['ssh_authorized_keys'] == [
        KEY1, KEY2 + ' ']


def test_null_ssh_authorized_keys_counts_as_none():
    assert user_config(user_data={'ssh_authorized_keys': None}, public_keys=[KEY1]) == {
        'ssh_authorized_keys': [KEY1]}


def test_script_is_kept_verbatim_without_keys():
    script = '#!/bin/sh\necho hello\n'
    assert files(user_data=script)['user-data'] == script


def test_script_with_keys_is_refused_with_a_hint():
    with pytest.raises(ValidationError, match='#! script.*keypair.*#cloud-config'):
        files(user_data='#!/bin/sh\necho hello\n', public_keys=[KEY1])


@pytest.mark.parametrize('user_data, words', [
    ('#cloud-config\nruncmd: [unclosed\n', 'not valid #cloud-config YAML'),
    ('#cloud-config\n- a\n- b\n', 'must be a mapping.*not a list'),
    ('#cloud-config\njust text\n', 'must be a mapping.*not a str'),
    ('#cloud-config\na: 1\n---\nb: 2\n', 'not valid #cloud-config YAML'),
    ('hostname: x\n', 'must start with #cloud-config.*its first line starts with neither'),
    ('Content-Type: multipart/mixed\n', 'must start with #cloud-config'),
    (['runcmd'], 'must be a cloud-config mapping or a string, not list'),
    ({'ssh_authorized_keys': 'ssh-ed25519 AAAA'}, 'ssh_authorized_keys must be a list'),
    ({'a': object()}, 'cannot be written as YAML'),
])
def test_bad_user_data_is_refused(user_data, words):
    with pytest.raises(ValidationError, match=words):
        files(user_data=user_data, public_keys=[KEY1])


@pytest.mark.parametrize('key', ['', '   ', None, 'ssh-rsa AAAA\nssh-rsa BBBB', 'ssh-rsa AAAA\rx'])
def test_bad_public_key_is_refused(key):
    with pytest.raises(ValidationError, match='invalid public key'):
        files(public_keys=[key])


def test_anchors_and_aliases_are_expanded():
    text = '#cloud-config\nx: &cmds [echo a, echo b]\nruncmd: *cmds\n'
    out = files(user_data=text)['user-data']
    assert '&' not in out and '*' not in out
    assert yaml.safe_load(out) == {'x': ['echo a', 'echo b'], 'runcmd': ['echo a', 'echo b']}


def test_seed_over_64_kib_is_refused():
    small = {'write_files': [{'path': '/big', 'content': 'x' * 60000}]}
    files(user_data=small)
    big = {'write_files': [{'path': '/big', 'content': 'x' * (64 * 1024)}]}
    with pytest.raises(ValidationError, match=r'over the limit of 65536 \(64 KiB\).*user-data alone'):
        files(user_data=big)


# -- network-config -------------------------------------------------------------------------

def test_one_dhcp_interface():
    assert network({'mac': MAC0, 'ip': '10.0.0.5', 'prefix': 24, 'gateway': '10.0.0.1'}) == {
        'version': 2,
        'ethernets': {'eth0': {'match': {'macaddress': MAC0}, 'set-name': 'eth0', 'dhcp4': True}}}


def test_one_static_interface():
    assert network({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24, 'gateway': '10.0.0.1',
                    'dns_servers': ['10.0.0.1', '9.9.9.9']}) == {
        'version': 2,
        'ethernets': {'eth0': {
            'match': {'macaddress': MAC0}, 'set-name': 'eth0', 'addresses': ['10.0.0.5/24'],
            'routes': [{'to': '0.0.0.0/0', 'via': '10.0.0.1'}],
            'nameservers': {'addresses': ['10.0.0.1', '9.9.9.9']}}}}


def test_two_interfaces_named_in_order_with_one_default_route():
    config = network(
        {'mac': MAC1.upper(), 'dhcp': False, 'ip': '10.0.0.5', 'prefix': '24', 'gateway': '10.0.0.1'},
        {'mac': MAC0, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24, 'gateway': '10.0.1.1'})
    assert config['ethernets'] == {
        'eth0': {'match': {'macaddress': MAC1}, 'set-name': 'eth0', 'addresses': ['10.0.0.5/24'],
                 'routes': [{'to': '0.0.0.0/0', 'via': '10.0.0.1'}]},
        'eth1': {'match': {'macaddress': MAC0}, 'set-name': 'eth1', 'addresses': ['10.0.1.5/24']}}


def test_a_dhcp_interface_with_a_gateway_takes_the_default_route():
    config = network({'mac': MAC0, 'gateway': '10.0.0.1'},
                     {'mac': MAC1, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24, 'gateway': '10.0.1.1'})
    assert 'routes' not in config['ethernets']['eth1']


def test_the_first_interface_with_a_gateway_has_the_route():
    config = network({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24},
                     {'mac': MAC1, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24, 'gateway': '10.0.1.1'})
    assert 'routes' not in config['ethernets']['eth0']
    assert config['ethernets']['eth1']['routes'] == [{'to': '0.0.0.0/0', 'via': '10.0.1.1'}]


def test_ipv6_static_interface_gets_an_ipv6_default_route():
    config = network({'mac': MAC0, 'dhcp': False, 'ip': 'fd00::5', 'prefix': 64, 'gateway': 'fd00::1'})
    assert config['ethernets']['eth0']['addresses'] == ['fd00::5/64']
    assert config['ethernets']['eth0']['routes'] == [{'to': '::/0', 'via': 'fd00::1'}]


def test_no_interfaces_is_an_empty_version_2():
    assert network() == {'version': 2, 'ethernets': {}}


@pytest.mark.parametrize('port, words', [
    ({'mac': 'nope'}, 'interface 0 .eth0.: invalid mac'),
    ({}, 'invalid mac None'),
    ('52:54:00:12:34:56', 'expected a mapping'),
    ({'mac': MAC0, 'dhcp': 'yes'}, 'dhcp must be true or false'),
    ({'mac': MAC0, 'dhcp': False, 'prefix': 24}, 'invalid ip None'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.300', 'prefix': 24}, 'invalid ip'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5'}, 'invalid prefix None'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 33}, 'from 1 to 32'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': True}, 'invalid prefix'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24, 'gateway': 'x'}, 'invalid gateway'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24, 'gateway': '10.0.1.1'},
     'gateway 10.0.1.1 is not in 10.0.0.0/24'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24, 'dns_servers': '10.0.0.1'},
     'dns_servers must be a list'),
    ({'mac': MAC0, 'dhcp': False, 'ip': '10.0.0.5', 'prefix': 24, 'dns_servers': ['dns']},
     'invalid dns server'),
])
def test_bad_interface_is_refused(port, words):
    with pytest.raises(ValidationError, match=words):
        network(port)


def test_a_second_gateway_is_checked_though_not_used():
    with pytest.raises(ValidationError, match='interface 1 .eth1.: gateway 10.0.0.1 is not in 10.0.1.0/24'):
        network({'mac': MAC0, 'gateway': '10.0.0.1'},
                {'mac': MAC1, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24, 'gateway': '10.0.0.1'})


def test_the_same_mac_twice_is_refused():
    with pytest.raises(ValidationError, match='interface 1 .eth1.: mac 52:54:00:12:34:56 is given twice'):
        network({'mac': MAC0}, {'mac': MAC0.upper()})


# -- what the tiny guest reads --------------------------------------------------------------

def test_guest_parser_reads_meta_data():
    assert flatten(files()['meta-data']) == {'instance-id': UUID, 'local-hostname': 'web-1'}


def test_guest_parser_reads_user_data_with_long_keys_and_multi_line_content():
    content_cases = ['one\ntwo\n', 'no newline\nat end', 'keep\n\n\n', '  leading blanks\nx\n',
                     'trailing  \nspaces\n', 'tab\tinside\n\tand first\n', 'back\\slash\n# not a comment\n',
                     "quotes ' and \" : # -\n", '\nleading newline\n', 'unicode é 日本\n',
                     'x' * 200 + ' ' + 'y' * 200]
    user_data = {'write_files': [{'path': '/f%d' % i, 'content': content}
                                 for i, content in enumerate(content_cases)],
                 'runcmd': ['echo a: b # c', ['sh', '-c', 'echo "$1"', 'x'], 'line1\nline2']}
    seen = flatten(files(user_data=user_data, public_keys=[KEY1, KEY2])['user-data'])
    for i, content in enumerate(content_cases):
        assert seen['write_files.%d.content' % i] == content
        assert seen['write_files.%d.path' % i] == '/f%d' % i
    assert seen['ssh_authorized_keys.0'] == KEY1
    assert seen['ssh_authorized_keys.1'] == KEY2
    assert seen['runcmd.0'] == 'echo a: b # c'
    assert [seen['runcmd.1.%d' % i] for i in range(4)] == ['sh', '-c', 'echo "$1"', 'x']
    assert seen['runcmd.2'] == 'line1\nline2'


def test_guest_parser_reads_network_config():
    text = files(interfaces=[
        {'mac': MAC0},
        {'mac': MAC1, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24, 'gateway': '10.0.1.1',
         'dns_servers': ['10.0.1.1']}])['network-config']
    assert flatten(text) == {
        'version': '2',
        'ethernets.eth0.match.macaddress': MAC0,
        'ethernets.eth0.set-name': 'eth0',
        'ethernets.eth0.dhcp4': 'true',
        'ethernets.eth1.match.macaddress': MAC1,
        'ethernets.eth1.set-name': 'eth1',
        'ethernets.eth1.addresses.0': '10.0.1.5/24',
        'ethernets.eth1.routes.0.to': '0.0.0.0/0',
        'ethernets.eth1.routes.0.via': '10.0.1.1',
        'ethernets.eth1.nameservers.addresses.0': '10.0.1.1',
    }


# -- determinism and hash -------------------------------------------------------------------

SAMPLE = dict(user_data={'runcmd': ['echo hi'], 'write_files': [{'path': '/x', 'content': 'a\nb\n'}]},
              public_keys=[KEY1],
              interfaces=[{'mac': MAC0}, {'mac': MAC1, 'dhcp': False, 'ip': '10.0.1.5', 'prefix': 24}])


def test_same_input_same_files_and_hash():
    assert files(**SAMPLE) == files(**SAMPLE)
    assert seeds.seed_hash(files(**SAMPLE)) == seeds.seed_hash(files(**SAMPLE))


def test_key_order_of_the_user_data_does_not_matter():
    one = files(user_data={'a': 1, 'b': {'c': 2, 'd': 3}})
    two = files(user_data={'b': {'d': 3, 'c': 2}, 'a': 1})
    assert one == two


def test_hash_is_sha256_hex_and_ignores_dict_order():
    seed = files(**SAMPLE)
    digest = seeds.seed_hash(seed)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert seeds.seed_hash(dict(reversed(list(seed.items())))) == digest


@pytest.mark.parametrize('change', [
    dict(instance_id='another-uuid'),
    dict(hostname='web-2'),
    dict(user_data={'runcmd': ['echo bye']}),
    dict(public_keys=[KEY2]),
    dict(public_keys=[]),
    dict(interfaces=[{'mac': MAC0}]),
    dict(interfaces=[{'mac': MAC0}, {'mac': MAC1}]),
])
def test_any_change_is_another_hash(change):
    assert seeds.seed_hash(files(**dict(SAMPLE, **change))) != seeds.seed_hash(files(**SAMPLE))


def test_hash_tells_names_and_contents_apart():
    assert seeds.seed_hash({'a': 'bc'}) != seeds.seed_hash({'ab': 'c'})
    assert seeds.seed_hash({'a': 'b', 'c': ''}) != seeds.seed_hash({'a': 'b'})


def test_hash_of_something_else_is_refused():
    with pytest.raises(ValidationError, match='mapping of file names to text'):
        seeds.seed_hash({'meta-data': b'bytes'})


# -- missing libraries ----------------------------------------------------------------------

def test_missing_yaml_is_named(monkeypatch):
    monkeypatch.setattr(seeds, 'yaml', None)
    with pytest.raises(KvmcloudError, match='PyYAML Python library is required'):
        files()


# User data may hold secrets: an error about it says what is wrong and where, never its text.
@pytest.mark.parametrize('user_data, words', [
    ('password: kvmcloud-secret-7f3a\n', 'its first line starts with neither'),
    ('#cloud-config\nchpasswd: {list: "root:kvmcloud-secret-7f3a"\n', 'not valid #cloud-config YAML'),
    ('#cloud-config\nusers:\n  - name: x\n    passwd: kvmcloud-secret-7f3a\n  bad: [\n', 'at line'),
])
def test_errors_about_user_data_never_quote_it(user_data, words):
    with pytest.raises(ValidationError) as err:
        files(user_data=user_data)
    assert words in err.value.msg and 'kvmcloud-secret-7f3a' not in err.value.msg
