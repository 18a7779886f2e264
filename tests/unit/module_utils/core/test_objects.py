# -*- coding: utf-8 -*-
"""core/objects.py: removing a pool or network (running or not, gone or not), and the
descriptions of a domain, on the test driver."""

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import descriptions, stop_and_undefine
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import LibvirtObject

POOL_XML = "<pool type='dir'><name>unit-pool</name><target><path>/kvmcloud-unit/pool</path></target></pool>"
NETWORK_XML = ("<network><name>unit-net</name><ip address='192.0.2.1' netmask='255.255.255.0'/>"
               "</network>")
TRANSIENT_XML = ("<domain type='test'><name>unit-transient</name><memory unit='MiB'>16</memory>"
                 "<os><type>hvm</type></os></domain>")


@pytest.fixture
def unit_pool(hv1):
    pool = hv1.about('unit-pool').storagePoolDefineXML(POOL_XML, 0)
    yield pool
    leftover = hv1.pool('unit-pool')
    if leftover is not None:
        if leftover.isActive():
            leftover.destroy()
        leftover.undefine()


def test_stop_and_undefine_stops_a_running_pool_then_removes_it(hv1, unit_pool):
    unit_pool.create(0)
    assert stop_and_undefine(unit_pool) is True
    assert hv1.pool('unit-pool') is None


def test_stop_and_undefine_removes_an_inactive_network(hv1):
    net = hv1.about('unit-net').networkDefineXML(NETWORK_XML)
    assert not net.isActive()
    assert stop_and_undefine(net) is True
    assert hv1.network('unit-net') is None


def test_stop_and_undefine_of_an_object_gone_already_is_false(hv1, unit_pool):
    assert stop_and_undefine(unit_pool) is True
    # libvirt answers even isActive() of a removed pool with "not found".
    with pytest.raises(libvirt.libvirtError) as err:
        unit_pool._raw.isActive()
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL
    assert stop_and_undefine(unit_pool) is False


def test_stop_and_undefine_of_an_object_that_goes_while_stopping_is_false(hv1, unit_pool):
    unit_pool.create(0)

    class GoesWhileStopping:
        """The pool, except that another client removed it just before it is stopped."""

        def __init__(self, pool):
            self._pool = pool

        def __getattr__(self, name):
            return getattr(self._pool, name)

        def destroy(self):
            self._pool.destroy()
            self._pool.undefine()
            return self._pool.destroy()

    pool = LibvirtObject(GoesWhileStopping(hv1.pool('unit-pool')._raw), 'hv1')
    assert stop_and_undefine(pool) is False
    assert hv1.pool('unit-pool') is None


def test_stop_and_undefine_fails_on_other_errors():
    class Busy:
        def name(self):
            return 'busy-pool'

        def isActive(self):
            return 1

        def destroy(self):
            err = libvirt.libvirtError('pool is busy')
            err.err = (libvirt.VIR_ERR_OPERATION_INVALID, 0, 'pool is busy', 2, None, None, None, 0, 0)
            raise err

    with pytest.raises(LibvirtCallError) as err:
        stop_and_undefine(LibvirtObject(Busy(), 'hv1'))
    assert (err.value.operation, err.value.obj, err.value.hypervisor) == ('stop', 'busy-pool', 'hv1')


def test_descriptions_of_an_inactive_domain_is_its_one_description(hv1, make_domain):
    make_domain('unit-vm')
    [desc] = descriptions(hv1.domain('unit-vm'))
    assert desc.findtext('name') == 'unit-vm'


def test_descriptions_of_a_running_persistent_domain_are_the_live_and_the_next_boots(hv1):
    descs = descriptions(hv1.domain('test'))  # the test driver's running, persistent domain
    assert len(descs) == 2
    assert [d.findtext('name') for d in descs] == ['test', 'test']


def test_descriptions_of_a_transient_domain_is_the_live_one(hv1):
    dom = hv1.about('unit-transient').createXML(TRANSIENT_XML, 0)
    try:
        assert [d.findtext('name') for d in descriptions(dom)] == ['unit-transient']
    finally:
        dom.destroy()


def test_descriptions_of_a_domain_that_went_away_are_none(hv1, make_domain):
    make_domain('unit-vm')
    dom = hv1.domain('unit-vm')
    dom.undefine()
    assert descriptions(dom) == []
