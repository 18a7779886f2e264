# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit test setup: import the collection from ``<repo>/collections`` and give tests
libvirt's in-process test driver (``test:///default``)."""

import gc
import os
import sys

import pytest
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, 'collections')
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
# Import the collection as Ansible does (ansible-test units does the same), so that Ansible's
# plugin loader finds its plugins by name too (the inventory plugin's tests load it so).
if AnsibleCollectionConfig.collection_finder is None:
    _AnsibleCollectionFinder(paths=[COLLECTIONS])._install()  # pylint: disable=protected-access

libvirt = pytest.importorskip('libvirt')

from handles import handle  # noqa: E402  pylint: disable=wrong-import-position

# libvirt prints every error to stderr by default; the tests look at the raised errors.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

# What test:///default holds when it is opened fresh.
DEFAULT_DOMAINS = {'test'}
DEFAULT_NETWORKS = {'default'}
DEFAULT_POOLS = {'default-pool'}


def _inventory(conn):
    return ({d.name() for d in conn.listAllDomains()},
            {n.name() for n in conn.listAllNetworks()},
            {p.name() for p in conn.listAllStoragePools()})


@pytest.fixture
def test_conn():
    """A connection to libvirt's test driver.

    The driver's state is shared by the open ``test:///default`` connections of the process
    and dropped when the last one closes. Tests remove what they define; teardown checks it.
    """
    # A libvirt object of an earlier test (a network in a traceback's frame, kept by a reference
    # cycle) holds its connection, and so the driver's state, until the cycle is collected.
    gc.collect()
    conn = libvirt.open('test:///default')
    assert _inventory(conn) == (DEFAULT_DOMAINS, DEFAULT_NETWORKS, DEFAULT_POOLS), \
        'another test:///default connection is still open with objects in it'
    try:
        yield conn
        leftover = tuple(sorted(now - default) for now, default in
                         zip(_inventory(conn), (DEFAULT_DOMAINS, DEFAULT_NETWORKS, DEFAULT_POOLS)))
        assert leftover == ([], [], []), 'test left (domains, networks, pools) behind: %r' % (leftover,)
    finally:
        conn.close()


@pytest.fixture
def hv1(test_conn):
    """The handle of hypervisor ``hv1`` over ``test_conn``, as modules get it from Connections."""
    return handle(test_conn)


def domain_xml(name, dom_type='test'):
    """The smallest domain the test driver accepts."""
    return ("<domain type='%s'><name>%s</name><memory unit='MiB'>16</memory>"
            "<os><type>hvm</type></os></domain>" % (dom_type, name))


@pytest.fixture
def make_domain(test_conn):
    """Define (persistent, inactive) domains; whatever is still defined is removed afterwards."""
    made = []

    def make(name):
        dom = test_conn.defineXML(domain_xml(name))
        made.append(name)
        return dom

    yield make
    for name in made:
        try:
            dom = test_conn.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()
