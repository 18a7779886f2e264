"""Input the modules must refuse (issue 16, items 8 and 9), on a namespaced test hypervisor:
names outside the one rule, truncated qcow2 images, file:// URLs, wait timeouts no wait can
meet, public keys that are not keys; and user_data, which never appears in the output of a
-vvv --diff run or in a registered result.

Every refusal is checked in check mode and in a real run, and changes nothing.
"""

import contextlib
import functools
import hashlib
import http.server
import json
import os
import subprocess
import tempfile
import threading
import uuid

import pytest

from ansible_run import BIN, ROOT, ansible_env, run_module
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-fin-'
IMAGE = PREFIX + 'tiny'
DEMO_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W demo'

BAD_NETWORK_NAMES = [PREFIX + 'with space', PREFIX + 'grüne', PREFIX + '<x>&"y', PREFIX + 'a/b',
                     PREFIX + 'n' * (300 - len(PREFIX))]

fin_hypervisors = hypervisors_fixture(count=1, prefix='fin', scope='module', name='fin_hypervisors')


def cloud(hv, keypairs=()):
    return cloud_definition([hv], [{'name': 'demo'}], keypairs=list(keypairs))


def state_of(uri):
    """Everything a refused run must leave as it was."""
    with connected(uri) as conn:
        pools = {pool.name(): sorted(vol.name() for vol in pool.listAllVolumes())
                 for pool in conn.listAllStoragePools() if pool.isActive()}
        return {'domains': sorted(dom.name() for dom in conn.listAllDomains()),
                'networks': sorted(net.name() for net in conn.listAllNetworks()),
                'pools': pools, 'nwfilters': sorted(f.name() for f in conn.listAllNWFilters())}


def run_play(tasks, out_dir, check=False, verbose=False):
    """One ansible-playbook run of ``tasks`` (``{key: {module: args}}``), each registered and
    allowed to fail; returns (what ansible-playbook printed, ``{key: registered result}``)."""
    registered = os.path.join(out_dir, 'registered.json')
    if os.path.exists(registered):
        os.unlink(registered)
    keys = list(tasks)
    play = [{
        'hosts': 'localhost', 'gather_facts': False,
        'tasks': [dict(task, name=key, register='r%d' % index, ignore_errors=True)
                  for index, (key, task) in enumerate(tasks.items())] + [
            {'name': 'keep the results', 'check_mode': False, 'diff': False, 'ansible.builtin.copy': {
                'content': '{{ {%s} | to_json }}' % ', '.join('"%s": r%d' % (key, i) for i, key in enumerate(keys)),
                'dest': registered, 'mode': '0600'}}],
    }]
    playbook = os.path.join(out_dir, 'play.yml')
    with open(playbook, 'w') as handle:
        json.dump(play, handle)
    cmd = [str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % (BIN / 'python'), playbook]
    cmd += ['--check'] if check else []
    cmd += ['-vvv', '--diff'] if verbose else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT,
                          env=ansible_env(extra={'ANSIBLE_STDOUT_CALLBACK': 'default'}))
    assert os.path.exists(registered), proc.stdout + proc.stderr
    with open(registered) as handle:
        return proc.stdout + proc.stderr, json.load(handle)


def remove_pools_and_networks(uri, networks=(), pools=()):
    with connected(uri) as conn:
        for net in conn.listAllNetworks():
            if net.name() in networks:
                if net.isActive():
                    net.destroy()
                net.undefine()
        for pool in conn.listAllStoragePools():
            if pool.name() in pools:
                if pool.isActive():
                    pool.destroy()
                pool.undefine()


@pytest.fixture(scope='module')
def hv(fin_hypervisors, tiny_image_file):
    hv = fin_hypervisors[0]
    with removing_prefixed([hv], PREFIX, **module_leftovers(PREFIX)):
        result = run_module('image', {'cloud': cloud(hv), 'name': IMAGE, 'filename': str(tiny_image_file)})
        assert not result['failed'], result
        yield hv


# -- what is refused -----------------------------------------------------------------------------

def truncated_qcow2(directory):
    """A 16 MiB qcow2 with 6 MiB written, cut at 3 MiB: its header is intact, its data is not."""
    path = os.path.join(directory, 'cut.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '16M'], check=True)
    subprocess.run(['qemu-io', '-c', 'write -P 0x5a 0 4M', '-c', 'write -P 0x33 8M 2M', path],
                   check=True, capture_output=True)
    os.truncate(path, 3 * 1024 * 1024)
    return path


def sha256_of(path):
    with open(path, 'rb') as handle:
        return 'sha256:' + hashlib.sha256(handle.read()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(directory):
    """An HTTP server on loopback serving ``directory``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def server_args(hv, name, **extra):
    return dict({'cloud': cloud(hv), 'name': PREFIX + name, 'project': 'demo', 'flavor': 'm1.tiny',
                 'image': IMAGE, 'power_state': 'stopped'}, **extra)


BAD_KEYS = {'key_words': 'not a key', 'key_path': '~/.ssh/id_ed25519.pub', 'key_blob': 'ssh-ed25519 AAAA demo'}


def refused_tasks(hv, directory, url, tiny_image_file):
    """Every refusal as a task: ``{key: {module: args}}``."""
    cut = truncated_qcow2(directory)
    tasks = {'network_%d' % i: {'kvmcloud.cloud.network': {'cloud': cloud(hv), 'name': name, 'mode': 'isolated'}}
             for i, name in enumerate(BAD_NETWORK_NAMES)}
    tasks['pool'] = {'kvmcloud.cloud.storage_pool': {'cloud': cloud(hv), 'name': PREFIX + 'pool x',
                                                     'path': '%s/pools/fin-x' % hv['dir']}}
    tasks['image_file'] = {'kvmcloud.cloud.image': {'cloud': cloud(hv), 'name': PREFIX + 'cut', 'filename': cut}}
    tasks['image_url'] = {'kvmcloud.cloud.image': {'cloud': cloud(hv), 'name': PREFIX + 'cutdl',
                                                   'url': '%s/cut.qcow2' % url, 'checksum': sha256_of(cut)}}
    tasks['file_url'] = {'kvmcloud.cloud.image': {'cloud': cloud(hv), 'name': PREFIX + 'fileurl',
                                                  'url': 'file://%s' % tiny_image_file,
                                                  'checksum': sha256_of(tiny_image_file)}}
    tasks['wait_negative'] = {'kvmcloud.cloud.server': server_args(hv, 'wait', wait_timeout=-1)}
    tasks['wait_zero'] = {'kvmcloud.cloud.server_fleet': {'cloud': cloud(hv), 'project': 'demo', 'wait_timeout': 0,
                                                          'servers': [{'name': PREFIX + 'zero', 'flavor': 'm1.tiny',
                                                                       'image': IMAGE}]}}
    for key, public_key in BAD_KEYS.items():
        tasks[key] = {'kvmcloud.cloud.server': dict(server_args(hv, 'key', key_name='demo'),
                                                    cloud=cloud(hv, [{'name': 'demo', 'public_key': public_key}]))}
    return tasks, cut


@pytest.fixture(scope='module')
def refusals(hv, tiny_image_file):
    """Every refused task run in check mode, then for real, in one play each: their results
    and the hypervisor's state before, between and after."""
    with tempfile.TemporaryDirectory(prefix='kvmcloud-fin-') as directory, serving(directory) as url:
        tasks, cut = refused_tasks(hv, directory, url, str(tiny_image_file))
        states = [state_of(hv['uri'])]
        try:
            _out, checked = run_play(tasks, directory, check=True)
            states.append(state_of(hv['uri']))
            _out, applied = run_play(tasks, directory)
            states.append(state_of(hv['uri']))
        finally:
            remove_pools_and_networks(hv['uri'], networks=BAD_NETWORK_NAMES, pools=[PREFIX + 'pool x'])
        yield {'check': checked, 'real': applied, 'states': states, 'cut': cut, 'url': url}


def assert_refused(refusals, key, *words):
    """``key``'s task failed in check mode and for real, with ``words`` in its message."""
    for mode in ('check', 'real'):
        result = refusals[mode][key]
        assert result.get('failed') and not result.get('changed'), (mode, result)
        for word in words:
            assert word in result['msg'], (mode, word, result['msg'])
    return refusals['real'][key]['msg']


def test_every_refusal_changes_nothing_in_check_mode_or_for_real(refusals):
    before, after_check, after_real = refusals['states']
    assert after_check == before, 'a refused check-mode run changed the hypervisor'
    assert after_real == before, 'a refused run changed the hypervisor'


def test_network_names_outside_the_rule_are_refused_with_the_pattern_and_length(refusals):
    # A space, unicode and XML metacharacters were created; '/' and 300 characters were raw libvirt errors.
    for index in range(len(BAD_NETWORK_NAMES)):
        msg = assert_refused(refusals, 'network_%d' % index, 'invalid network name %r' % BAD_NETWORK_NAMES[index],
                             '1 to 64 ASCII letters, digits, dots, dashes and underscores',
                             '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
        assert 'libvirt' not in msg
    assert '(300 characters)' in refusals['real']['network_4']['msg']


def test_a_storage_pool_name_outside_the_rule_is_refused(refusals):
    assert_refused(refusals, 'pool', "invalid storage pool name '%spool x'" % PREFIX, '1 to 64')


def test_a_truncated_qcow2_file_is_refused_naming_the_image_the_path_and_qemu_img(refusals):
    msg = assert_refused(refusals, 'image_file', 'image %scut: %s is not a whole qcow2 image' % (PREFIX, refusals['cut']),
                         'qemu-img check exited with 2', 'corruptions')
    assert 'exceeding the end of the file' in msg


def test_a_truncated_qcow2_download_is_refused_naming_the_url(refusals):
    assert_refused(refusals, 'image_url', 'image %scutdl: %s/cut.qcow2 is not a whole qcow2 image'
                   % (PREFIX, refusals['url']), 'qemu-img check exited with 2')


def test_a_file_url_is_refused_with_a_pointer_to_filename(refusals):
    assert_refused(refusals, 'file_url', 'is a file:// URL', 'give its path as filename instead')


def test_a_negative_wait_timeout_is_refused(refusals):
    assert_refused(refusals, 'wait_negative', 'wait_timeout must be a number of seconds, 0 or more; got -1')


def test_wait_timeout_zero_with_wait_is_refused_where_no_wait_can_meet_it(refusals):
    assert_refused(refusals, 'wait_zero', 'wait_timeout: 0 with wait: true cannot succeed')


def test_a_public_key_that_is_not_a_key_is_refused_with_the_accepted_types(refusals):
    for key in BAD_KEYS:
        assert_refused(refusals, key, 'cloud.keypairs[demo].public_key is not an OpenSSH public key',
                       'ssh-ed25519, ecdsa-sha2-nistp256')


# -- secrets ---------------------------------------------------------------------------------

def secret_tasks(hv, first_secret, second_secret, bad_secret):
    """A server, a fleet and a server refused for its user data, each with a secret in it."""
    base = {'cloud': cloud(hv, [{'name': 'demo', 'public_key': DEMO_KEY}]), 'project': 'demo', 'flavor': 'm1.tiny',
            'image': IMAGE, 'power_state': 'stopped'}
    return {
        'one': {'kvmcloud.cloud.server': dict(base, name=PREFIX + 'sec1', key_name='demo',
                                              user_data='#cloud-config\nchpasswd:\n  list: "root:%s"\n' % first_secret)},
        'fleet': {'kvmcloud.cloud.server_fleet': {'cloud': base['cloud'], 'project': 'demo', 'servers': [
            {'name': PREFIX + 'sec2', 'flavor': 'm1.tiny', 'image': IMAGE, 'power_state': 'stopped',
             'user_data': {'runcmd': ['echo %s' % second_secret]}}]}},
        'bad': {'kvmcloud.cloud.server': dict(base, name=PREFIX + 'sec3', user_data='password: %s\n' % bad_secret)},
    }


def test_user_data_never_appears_in_a_verbose_diff_run_or_its_registered_result(hv):
    secrets = ['kvmcloud-fin-secret-%s' % uuid.uuid4().hex for _index in range(4)]
    with tempfile.TemporaryDirectory(prefix='kvmcloud-fin-') as out_dir:
        output, results = run_play(secret_tasks(hv, *secrets[:3]), out_dir, verbose=True)
        assert results['one']['changed'] and results['fleet']['changed'], results
        assert 'module_args' in output and '+++ after' in output  # -vvv shows the invocation, --diff the diff
        for secret in secrets[:3]:
            assert secret not in output, 'a secret is in the -vvv --diff output'
            assert secret not in json.dumps(results), 'a secret is in a registered result'
        assert results['bad']['failed'] and 'its first line starts with neither' in results['bad']['msg']
        assert '"user_data": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output

        # Drift of user_data is still seen (by the seed's hash), and still not shown.
        output, results = run_play(secret_tasks(hv, secrets[3], secrets[1], secrets[2]), out_dir, verbose=True)
        assert results['one']['changed'] and 'seed_hash' in results['one']['diff']['after'][PREFIX + 'sec1']
        assert not results['fleet']['changed'], results['fleet']
        for secret in secrets:
            assert secret not in output and secret not in json.dumps(results)
