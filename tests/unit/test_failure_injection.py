# -*- coding: utf-8 -*-
"""A libvirt failure in any call the collection makes ends as one clear error that names the
hypervisor, the object and the operation, never as a Python traceback.

The modules' own functions run against libvirt's test driver (test:///default) with a stand-in
for the module wrapper; a first run records every libvirt API they call, then each run injects a
failure into one of those APIs (every call of it raises a libvirtError) and checks what comes out.
The APIs the test driver cannot serve (nwfilters, streams, DHCP leases...) are found in the code
itself and checked through the wrapper on a stand-in object.
"""

import ast
import gc
import os
import types

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.fleet import run_servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import run_quota_info, run_server_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.hypervisor.facts import run_hypervisor_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import run_image_info
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import run_network
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import run_storage_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import run_volume_info

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')
CLOUD = {'hypervisors': [{'name': 'hv1', 'uri': 'test:///default', 'images_pool': 'default-pool',
                          'volumes_pool': 'default-pool'}],
         'flavors': [{'name': 'm1.tiny', 'vcpus': 1, 'ram': 128}], 'projects': [{'name': 'demo'}]}
CLASSES = ('virConnect', 'virDomain', 'virNetwork', 'virStoragePool', 'virStorageVol', 'virNWFilter', 'virStream',
           'virNWFilterBinding', 'virNetworkPort', 'virSecret', 'virInterface', 'virNodeDevice', 'virDomainSnapshot')
INJECTED = 'injected failure'


class Module:
    """What the package functions use of the module wrapper."""

    def __init__(self, tmp_path, check_mode=False, **params):
        self.params = dict({'hypervisors': None, 'state': 'present'}, **params)
        self.check_mode = check_mode
        self.cloud = CloudDefinition.from_params(CLOUD)
        self.connections = Connections(self.cloud.hypervisors)
        self.wait, self.wait_timeout = False, 0
        self.allow_unreachable = False
        self.warnings = []
        self.module = types.SimpleNamespace(tmpdir=str(tmp_path))

    def warn(self, message):
        self.warnings.append(message)

    def run(self, func, *args, **kwargs):
        try:
            return func(self, *args, **kwargs)
        finally:
            self.connections.close()


def read_everything(tmp_path):
    Module(tmp_path, name=None).run(run_hypervisor_info)
    Module(tmp_path).run(run_servers, [], absent=['nobody'])
    Module(tmp_path, name=None, project=None, hypervisor=None, power_state=None, tags=None).run(run_server_info)
    Module(tmp_path, name=None, project=None, hypervisor=None).run(run_volume_info)
    Module(tmp_path, name=None).run(run_image_info)
    Module(tmp_path, project=None).run(run_quota_info)


def pool_life(tmp_path):
    pool = dict(name='inj-pool', type='dir', path=str(tmp_path / 'pool'), mode=None, owner=None, group=None,
                active=True, autostart=True, recreate=False)
    for changes in ({}, {'mode': '0711'}, {'state': 'absent'}):
        Module(tmp_path, **{**pool, **changes}).run(run_storage_pool)


def network_life(tmp_path):
    net = dict(name='inj-net', mode='isolated', bridge=None, mtu=None, recreate=False,
               subnet={'cidr': '10.99.0.0/24', 'gateway': None, 'allocation_pools': None, 'dns_servers': None,
                       'dns_domain': None}, dns_hosts=None)
    for changes in ({}, {'dns_hosts': [{'ip': '10.99.0.5', 'hostnames': ['db']}]}, {'state': 'absent'}):
        Module(tmp_path, **{**net, **changes}).run(run_network)


FLOWS = {'read everything': read_everything, 'a storage pool': pool_life, 'a network': network_life}


def fresh():
    """Drop what earlier runs left: the test driver keeps its state while any connection lives,
    and a libvirt object in an old traceback keeps its connection."""
    gc.collect()
    conn = libvirt.open('test:///default')
    try:
        assert {p.name() for p in conn.listAllStoragePools()} == {'default-pool'}
        assert {n.name() for n in conn.listAllNetworks()} == {'default'}
    finally:
        conn.close()


def record(monkeypatch, flow, tmp_path):
    """``[(class, method, operation, object)]`` of the libvirt calls ``flow`` makes, first call first."""
    seen = {}
    real = virt._run

    def recording(hypervisor, operation, what, func, args, missing=virt._RAISE):
        owner = getattr(func, '__self__', None)
        if type(owner).__name__ in CLASSES:
            seen.setdefault((type(owner).__name__, func.__name__), (operation, what))
        return real(hypervisor, operation, what, func, args, missing)

    monkeypatch.setattr(virt, '_run', recording)
    fresh()
    flow(tmp_path)
    monkeypatch.setattr(virt, '_run', real)
    return [(cls, method, operation, what) for (cls, method), (operation, what) in seen.items()]


def libvirt_error(message=INJECTED, code=libvirt.VIR_ERR_INTERNAL_ERROR):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


def failing(*_args, **_kwargs):
    raise libvirt_error()


@pytest.mark.parametrize('flow', sorted(FLOWS))
def test_a_failure_in_any_api_a_flow_calls_is_named_and_nothing_escapes(monkeypatch, tmp_path, flow):
    calls = record(monkeypatch, FLOWS[flow], tmp_path)
    assert len(calls) >= 5, calls
    for cls, method, operation, what in calls:
        if method == 'name':
            what = cls.replace('vir', '', 1).lower()  # an object whose name cannot be read is named by its kind
        fresh()
        with monkeypatch.context() as patch:
            patch.setattr(getattr(libvirt, cls), method, failing)
            # Any other exception than the collection's, libvirt's own included, fails the test.
            with pytest.raises(KvmcloudError) as err:
                FLOWS[flow](tmp_path)
        message = err.value.msg
        del err  # its traceback holds libvirt objects, and so the test driver's state
        expected = 'libvirt %s of %s failed on hypervisor hv1: %s' % (operation, what, INJECTED)
        assert expected in message, (cls, method, message)


def used_api_names():
    """Every libvirt method name the collection's code calls (attribute calls, and the method
    names given to lookup() and discard())."""
    methods = set()
    for cls in CLASSES:
        if hasattr(libvirt, cls):
            methods |= {name for name in dir(getattr(libvirt, cls)) if not name.startswith('_')}
    used = set()
    for root, _dirs, files in os.walk(MODULE_UTILS):
        for name in files:
            if not name.endswith('.py') or name == 'virt.py':
                continue
            with open(os.path.join(root, name)) as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    used.add(node.func.attr)
                    if node.func.attr in ('lookup', 'discard') and node.args and isinstance(node.args[0], ast.Constant):
                        used.add(node.args[0].value)
    # The wrapper's own methods (h.domain(), obj.lookup() ...) are not libvirt's.
    own = set(dir(virt.Hypervisor)) | set(dir(virt.LibvirtObject))
    return sorted((used & methods) - own)


class Stand:
    """A stand-in libvirt object whose every method fails as libvirt does."""

    def __getattr__(self, name):
        return failing


def test_every_libvirt_api_in_the_code_is_named_when_it_fails():
    names = used_api_names()
    # The APIs the collection is known to need, so the scan cannot quietly find nothing.
    assert {'defineXML', 'XMLDesc', 'getAllDomainStats', 'nwfilterDefineXML', 'upload', 'DHCPLeases',
            'storageVolLookupByName', 'attachDeviceFlags', 'blockResize', 'openConsole'} <= set(names)
    h = virt.Hypervisor(CloudDefinition.from_params(CLOUD).hypervisors[0], Stand())
    for name in names:
        obj = virt.LibvirtObject(Stand(), 'hv1', label='thing-%s' % name)
        for target, label in ((obj, 'thing-%s' % name), (h, 'host')):
            with pytest.raises(LibvirtCallError) as err:
                getattr(target, name)()
            assert err.value.hypervisor == 'hv1' and err.value.obj == label and INJECTED in err.value.msg
            assert ('libvirt %s of %s failed on hypervisor hv1' % (err.value.operation, label)) in err.value.msg
        # A lookup maps only "not found" to None; any other failure is named like the rest.
        with pytest.raises(LibvirtCallError, match='libvirt lookup of x failed on hypervisor hv1'):
            obj.lookup(name, 'x')
