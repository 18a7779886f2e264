"""Shared setup for the integration tests (the marker is registered in pytest.ini)."""

import sys
from pathlib import Path

# tests/support is not a package: put it on sys.path for this conftest and the test modules.
SUPPORT_DIR = str(Path(__file__).resolve().parent.parent / "support")
if SUPPORT_DIR not in sys.path:
    sys.path.insert(0, SUPPORT_DIR)

# Importing the fixture registers it for every test module here.
from testhv_fixture import test_hypervisors  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
