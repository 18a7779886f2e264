# -*- coding: utf-8 -*-
"""Waiting for cloud-init: the seed's vendor-data, the console line it prints, and the wait on
a console (a fake stream; the real guest is tests/integration/test_cloud_init.py)."""

import json
import subprocess

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import power, seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import WaitTimeout

UUID = '6c8f4e3a-8d7e-4a9b-9f3e-2d1c0b7a6e5f'


def report(result, uuid=UUID):
    return '%s %s %s' % (seeds.CLOUD_INIT_MARKER, uuid, json.dumps(result))


def test_nothing_before_the_report_line_shows():
    assert seeds.cloud_init_result('', UUID) is None
    assert seeds.cloud_init_result('Cloud-init v. 22.4.2 finished at Thu\nlogin:', UUID) is None
    # Another instance's line (a server rebuilt with a new id, another guest's text) is not this one's.
    assert seeds.cloud_init_result(report({'v1': {'errors': []}}, uuid='other'), UUID) is None


def test_a_clean_finish_is_done_and_errors_are_an_error():
    done = report({'v1': {'datasource': 'DataSourceNoCloud [seed=/dev/sr0]', 'errors': []}})
    assert seeds.cloud_init_result('boot\n' + done + '\nlogin: ', UUID) == {
        'status': 'done', 'errors': [], 'datasource': 'DataSourceNoCloud [seed=/dev/sr0]', 'host_keys': []}
    failed = report({'v1': {'datasource': 'ds', 'errors': ["('scripts_user', RuntimeError('Runparts: 1 failures'))"]}})
    assert seeds.cloud_init_result('  ' + failed + '  ', UUID) == {
        'status': 'error', 'errors': ["('scripts_user', RuntimeError('Runparts: 1 failures'))"], 'datasource': 'ds',
        'host_keys': []}


def test_host_keys_are_the_instance_s_own_each_once():
    text = '\n'.join([
        '%s %s ssh-ed25519 AAAA1' % (seeds.HOST_KEY_MARKER, UUID),
        '%s other ssh-ed25519 BBBB' % seeds.HOST_KEY_MARKER,
        '  %s %s ecdsa-sha2-nistp256 CCCC  ' % (seeds.HOST_KEY_MARKER, UUID),
        '%s %s ssh-ed25519 AAAA1' % (seeds.HOST_KEY_MARKER, UUID),
        '%s %s not-a-key DDDD' % (seeds.HOST_KEY_MARKER, UUID),
        '%s %s ssh-rsa' % (seeds.HOST_KEY_MARKER, UUID),
    ])
    assert seeds.host_keys_of(text, UUID) == ['ecdsa-sha2-nistp256 CCCC', 'ssh-ed25519 AAAA1']


@pytest.mark.parametrize('tail', ['{"v1": {"errors": [', 'not json', '[]', '{"v2": {}}'])
def test_an_unreadable_result_is_an_error_that_quotes_it(tail):
    result = seeds.cloud_init_result('%s %s %s' % (seeds.CLOUD_INIT_MARKER, UUID, tail), UUID)
    assert result['status'] == 'error' and result['datasource'] is None
    assert result['errors'][0].startswith('cloud-init finished, and its result could not be read') and tail in result['errors'][0]


def test_the_iso_carries_the_vendor_data_and_the_seed_hash_does_not_see_it():
    files = seeds.seed_files(UUID, 'web1')
    carried = seeds.iso_files(files)
    assert set(carried) == set(files) | {'vendor-data'} and carried['vendor-data'] == seeds.VENDOR_DATA
    assert seeds.seed_hash(files) == seeds.seed_hash(dict(files))
    assert 'vendor-data' not in files


def test_the_vendor_data_and_the_script_it_installs_are_valid_shell(tmp_path):
    assert seeds.VENDOR_DATA.startswith('#!/bin/sh\n')
    subprocess.run(['sh', '-n', '-c', seeds.VENDOR_DATA], check=True)
    inner = seeds.VENDOR_DATA.split("<<'SCRIPT'\n", 1)[1].split('\nSCRIPT\n', 1)[0]
    subprocess.run(['sh', '-n', '-c', inner], check=True)
    # What it prints, run against a result.json of our own in place of the guest's.
    result = tmp_path / 'result.json'
    result.write_text(json.dumps({'v1': {'datasource': 'ds', 'errors': ['e1']}}, indent=2))
    (tmp_path / 'instance-id').write_text(UUID + '\n')
    ssh = tmp_path / 'ssh'
    ssh.mkdir()
    (ssh / 'ssh_host_ed25519_key.pub').write_text('ssh-ed25519 AAAAC3Nza root@web1\n')
    (ssh / 'ssh_host_rsa_key.pub').write_text('ssh-rsa AAAAB3Nza root@web1\n')
    (ssh / 'ssh_host_dsa_key.pub').write_text('')
    out = tmp_path / 'tty'
    script = (inner.replace('/run/cloud-init/result.json', str(result))
              .replace('/var/lib/cloud/data/instance-id', str(tmp_path / 'instance-id'))
              .replace('> /dev/ttyS0', '>> ' + str(out)).replace('/etc/ssh/', str(ssh) + '/').replace(') < /dev/null > /dev/null 2>&1 &', ')'))
    subprocess.run(['sh', '-c', script], check=True, timeout=30)
    assert seeds.cloud_init_result(out.read_text(), UUID) == {
        'status': 'error', 'errors': ['e1'], 'datasource': 'ds',
        'host_keys': ['ssh-ed25519 AAAAC3Nza', 'ssh-rsa AAAAB3Nza']}


class Stream:
    def __init__(self):
        self.pending = []

    def recv(self, size):
        return self.pending.pop(0) if self.pending else -2

    def abort(self):
        pass


class Domain:
    def __init__(self):
        self.stream = Stream()

    def name(self):
        return 'web1'

    def isActive(self):
        return 1

    def openConsole(self, dev, stream, flags):
        pass


class Handle:
    def __init__(self, dom):
        self.dom = dom

    def stream(self, name, what, flags):
        return self.dom.stream


def watch():
    dom = Domain()
    return power.ConsoleWatch(Handle(dom), dom), dom.stream


def test_the_wait_returns_what_cloud_init_reported():
    console, stream = watch()
    stream.pending = [b'[  OK  ] Started ssh.service\r\n', (report({'v1': {'errors': []}}) + '\r\n').encode()]
    assert power.wait_for_cloud_init(console, 'web1', UUID, 5) == {
        'status': 'done', 'errors': [], 'datasource': None, 'host_keys': []}


def test_a_timeout_quotes_the_last_console_lines():
    console, stream = watch()
    lines = ['line %d' % n for n in range(30)]
    stream.pending = [('\r\n'.join(lines) + '\r\n\r\n').encode()]
    with pytest.raises(WaitTimeout) as err:
        power.wait_for_cloud_init(console, 'web1', UUID, 0)
    message = err.value.msg
    assert message.startswith('timed out after 0s waiting for cloud-init to finish on server web1')
    assert "its console's last lines:\n  line 20\n" in message and message.endswith('line 29')
    assert 'line 19' not in message
    console, _stream = watch()
    with pytest.raises(WaitTimeout) as err:
        power.wait_for_cloud_init(console, 'web1', UUID, 0)
    assert err.value.msg.endswith('nothing on its console yet')


def test_every_watched_console_is_read_while_another_thing_is_waited_for():
    # A console nobody reads fills up and stalls its guest: each check reads them all first.
    first, first_stream = watch()
    second, second_stream = watch()
    first_stream.pending = [b'boot of web1\r\n']
    second_stream.pending = [(report({'v1': {'errors': []}}) + '\r\n').encode()]
    checks = []
    check = power.pumping([first, second], lambda: (checks.append((first.text, second.text)) or True, 'ok'))
    assert check() == (True, 'ok')
    assert checks == [('boot of web1\n', report({'v1': {'errors': []}}) + '\n')]
    # While cloud-init is waited for on one server, the others' consoles are read too.
    third, third_stream = watch()
    third_stream.pending = [b'boot of web3\r\n']
    assert power.wait_for_cloud_init(second, 'web2', UUID, 5, others=[first, second, third])['status'] == 'done'
    assert third.text == 'boot of web3\n'
