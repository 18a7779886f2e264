"""The built collection installs with ansible-galaxy and works from the installed copy."""

import subprocess
import tarfile

import pytest

from ansible_run import BIN, ROOT, ansible_env, run_module
from cloud_fixture import cloud_definition

pytestmark = pytest.mark.integration

# Every module and filter of the collection, so a new one is checked without editing this list.
PLUGINS = sorted([('module', path.stem) for path in (ROOT / 'plugins' / 'modules').glob('*.py')]
                 + [('filter', path.stem) for path in (ROOT / 'plugins' / 'filter').glob('*.yml')])


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """Build the tarball and install it into an empty collections path."""
    tmp = tmp_path_factory.mktemp('galaxy')
    env = ansible_env(collections_path=tmp / 'none')
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp / 'dist'), str(ROOT)],
                   check=True, env=env, cwd=tmp, capture_output=True)
    tarball = next((tmp / 'dist').glob('kvmcloud-cloud-*.tar.gz'))
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(tmp / 'collections'),
                    str(tarball)], check=True, env=env, cwd=tmp, capture_output=True)
    # An empty config, so nothing of this checkout's ansible.cfg applies.
    (tmp / 'ansible.cfg').write_text('[defaults]\n')
    return tmp, tarball


def test_artifact_keeps_development_files_out(installed):
    _tmp, tarball = installed
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert 'plugins/modules/hypervisor_info.py' in names
    assert 'roles/hypervisor/tasks/main.yml' in names
    assert 'meta/runtime.yml' in names
    for kept_out in ('tests', 'inventories', 'bench', 'molecule', 'collections', '.venv'):
        assert not any(name == kept_out or name.startswith(kept_out + '/') for name in names), kept_out


@pytest.mark.parametrize('kind, plugin', PLUGINS)
def test_ansible_doc_renders_from_the_installed_copy(installed, kind, plugin):
    tmp, _tarball = installed
    env = ansible_env(collections_path=tmp / 'collections', extra={'ANSIBLE_CONFIG': str(tmp / 'ansible.cfg')})
    proc = subprocess.run([str(BIN / 'ansible-doc'), '-t', kind, 'kvmcloud.cloud.%s' % plugin], env=env, cwd=tmp,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert str(tmp / 'collections') in proc.stdout
    assert 'EXAMPLES' in proc.stdout
    if kind == 'module':
        assert 'cloud' in proc.stdout


def test_hypervisor_info_runs_from_the_installed_copy(installed, test_hypervisors):
    tmp, _tarball = installed
    hv = test_hypervisors[0]
    result = run_module('hypervisor_info', {'cloud': cloud_definition([hv], [])},
                        collections_path=tmp / 'collections', cwd=tmp, config=str(tmp / 'ansible.cfg'))
    assert not result['failed'], result
    assert result['hypervisors'][0]['reachable'] is True
    assert result['hypervisors'][0]['virt_type'] == 'qemu'
