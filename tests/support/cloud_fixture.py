"""Fixture pieces for tests that drive the modules against test hypervisors: the ``cloud``
definition they pass, and the removal of what a test made, found by its name prefix.

A test names everything it makes with a prefix of its own, removes it all before it starts
(a failed earlier run may have left some) and after it ends::

    with removing_prefixed(hypervisors, PREFIX, **module_leftovers(PREFIX, networks=[NET])):
        ...  # register images, create networks
        yield hypervisors

Everything here talks to libvirt directly, not through the collection under test.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterable, Iterator

import libvirt

from ansible_run import ROOT
from testhv import VOLUMES_POOL, destroy_and_undefine

if str(ROOT / 'collections') not in sys.path:
    sys.path.insert(0, str(ROOT / 'collections'))

# For the few tests that call the collection's own code directly (its XML, its console reader).
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import cloud as _cloud  # noqa: E402
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt as _virt  # noqa: E402

FLAVORS = (
    {"name": "m1.tiny", "vcpus": 1, "ram": 128, "disk": 1},
    {"name": "m1.small", "vcpus": 2, "ram": 192, "disk": 1},
)


def cloud_definition(hypervisors: Iterable[dict], projects: list[dict], extra_hypervisors: Iterable[dict] = (),
                     hypervisor_options: dict | None = None, **sections) -> dict:
    """The ``cloud`` option for the modules.

    ``hypervisors`` as the test hypervisor fixtures give them, each with the options in
    ``hypervisor_options[<its name>]`` added, then ``extra_hypervisors`` as they are; the
    flavors m1.tiny and m1.small; ``projects``; and any further ``sections`` (keypairs ...).
    """
    options = hypervisor_options or {}
    return {
        "hypervisors": [dict({"name": hv["name"], "uri": hv["uri"]}, **options.get(hv["name"], {}))
                        for hv in hypervisors] + list(extra_hypervisors),
        "flavors": [dict(flavor) for flavor in FLAVORS],
        "projects": projects,
        **sections,
    }


@contextmanager
def connected(uri: str) -> Iterator[libvirt.virConnect]:
    """A libvirt connection to ``uri`` for the block, closed afterwards."""
    conn = libvirt.open(uri)
    try:
        yield conn
    finally:
        conn.close()


def handle(hypervisor: dict, conn: libvirt.virConnect) -> _virt.Hypervisor:
    """The collection's handle of a test hypervisor (a fixture dict with ``name`` and ``uri``)
    over a connection the test opened, for tests that call the collection's code directly."""
    return _virt.Hypervisor(_cloud.Hypervisor(name=hypervisor['name'], uri=hypervisor['uri']), conn)


def remove_prefixed(uri: str, prefix: str, volumes: Iterable[str] = (), pools: Iterable[str] = (VOLUMES_POOL,),
                    networks: Iterable[str] = (), nwfilters: Iterable[str] = ()) -> None:
    """Remove from the libvirt at ``uri`` what a test made, in this order:

    - every domain whose name starts with ``prefix``: destroyed if it runs, then undefined with
      its managed save, snapshot and checkpoint metadata and NVRAM;
    - every volume of ``pools`` whose name starts with one of ``volumes``, after a refresh of
      the pool (nothing is looked up when ``volumes`` is empty);
    - the networks named in ``networks``, destroyed and undefined; missing ones are fine;
    - every nwfilter whose name starts with one of ``nwfilters``.

    Volume and filter names are full prefixes (``"server-" + prefix``, ``prefix`` alone ...)
    because the collection puts its own words in front of the names it is given.
    """
    volumes, nwfilters = tuple(volumes), tuple(nwfilters)
    with connected(uri) as conn:
        for domain in conn.listAllDomains():
            if domain.name().startswith(prefix):
                destroy_and_undefine(domain)
        if volumes:
            for pool_name in pools:
                pool = conn.storagePoolLookupByName(pool_name)
                pool.refresh(0)
                for volume in pool.listAllVolumes():
                    if volume.name().startswith(volumes):
                        volume.delete(0)
        for name in networks:
            try:
                network = conn.networkLookupByName(name)
            except libvirt.libvirtError as error:
                if error.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                    continue
                raise
            destroy_and_undefine(network)
        if nwfilters:
            for nwfilter in conn.listAllNWFilters():
                if nwfilter.name().startswith(nwfilters):
                    nwfilter.undefine()


def module_leftovers(prefix: str, networks: Iterable[str] = ()) -> dict:
    """The :func:`remove_prefixed` arguments for what the server, volume and port modules make
    for names that start with ``prefix``: root disks and seeds (``server-<name>-...``), data
    volumes (``volume-<name>...``) and port filters (``kvmcloud-port-<name>``); and ``networks``."""
    return {
        "volumes": ("server-" + prefix, "volume-" + prefix),
        "networks": tuple(networks),
        "nwfilters": ("kvmcloud-port-" + prefix,),
    }


@contextmanager
def removing_prefixed(hypervisors: Iterable[dict], prefix: str, **leftovers) -> Iterator[None]:
    """Run the block between two :func:`remove_prefixed` sweeps of every hypervisor in
    ``hypervisors`` (dicts with ``uri``); ``leftovers`` are its keyword arguments.

    The sweep after the block runs even when the block fails.
    """
    hypervisors = list(hypervisors)
    for hv in hypervisors:
        remove_prefixed(hv["uri"], prefix, **leftovers)
    try:
        yield
    finally:
        for hv in hypervisors:
            remove_prefixed(hv["uri"], prefix, **leftovers)
