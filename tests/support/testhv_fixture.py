"""Pytest fixtures for namespaced test hypervisors (see testhv.py)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from testhv import SYSTEM_PATH, TestHypervisors


def skip_unless_supported() -> None:
    """Skip the calling test unless test hypervisors can run here: root and libvirtd installed."""
    if os.geteuid() != 0:
        pytest.skip("test hypervisors need root for mount and network namespaces")
    if shutil.which("libvirtd", path=SYSTEM_PATH) is None:
        pytest.skip("libvirtd is not installed")


def make_base_dir() -> Path:
    """A fresh, empty directory for TestHypervisors, named kvmcloud-testhv-*.

    It lives in the system temp dir rather than pytest's basetemp: that one is mode 0700,
    and guests, which run as libvirt-qemu, must reach the volumes in the pools below it.
    """
    return Path(tempfile.mkdtemp(prefix="kvmcloud-testhv-"))


def hypervisors_fixture(count: int = 2, prefix: str = "hv", scope: str = "session", name: str = "test_hypervisors"):
    """Build a fixture that yields ``count`` started hypervisors and tears them down afterwards.

    The fixture's value is the list returned by TestHypervisors.start(): one dict per
    instance with ``name``, ``uri``, ``dir`` and ``socket``.
    """

    @pytest.fixture(scope=scope, name=name)
    def _hypervisors():
        skip_unless_supported()
        with TestHypervisors(make_base_dir(), count, prefix) as hypervisors:
            yield hypervisors

    return _hypervisors


test_hypervisors = hypervisors_fixture()
