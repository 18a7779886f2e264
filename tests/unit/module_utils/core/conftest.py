# -*- coding: utf-8 -*-
"""Fixtures of the record and lock tests: the test driver with volume streams."""

import pytest

from handles import handle
from streaming import StreamingConnection


@pytest.fixture
def sc(test_conn):
    """The test driver with streams; the records' volumes are removed afterwards."""
    conn = StreamingConnection(test_conn)
    yield conn
    pool = test_conn.storagePoolLookupByName('default-pool')
    for vol in pool.listAllVolumes(0):
        if vol.name().startswith('kvmcloud-'):
            vol.delete(0)


@pytest.fixture
def h(sc):
    return handle(sc, images_pool='default-pool')
