"""Shared setup for the integration tests (the marker is registered in pytest.ini)."""

import subprocess
import sys
from pathlib import Path

import pytest

# tests/support is not a package: put it on sys.path for this conftest and the test modules.
SUPPORT_DIR = str(Path(__file__).resolve().parent.parent / "support")
if SUPPORT_DIR not in sys.path:
    sys.path.insert(0, SUPPORT_DIR)

# Importing the fixture registers it for every test module here.
from testhv_fixture import test_hypervisors  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from ansible_run import BIN, ROOT, ansible_env  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope='session')
def tiny_image_file():
    """The tiny guest image, built by its playbook (a no-op when it is up to date)."""
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/tiny_image.yml'], cwd=ROOT, env=ansible_env(),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ROOT / 'build' / 'images' / 'kvmcloud-tiny.qcow2'


@pytest.fixture(scope='session')
def debian_image_file():
    """The Debian guest image with cloud-init, built by its playbook once (about two minutes;
    a no-op while its stamp matches)."""
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/debian_image.yml'], cwd=ROOT,
                          env=ansible_env(), capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ROOT / 'build' / 'images' / 'kvmcloud-debian12.qcow2'
