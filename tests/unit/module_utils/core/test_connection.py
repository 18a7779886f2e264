# -*- coding: utf-8 -*-
"""core/connection.py: one handle per hypervisor, opened lazily through the opener; an
unreachable hypervisor is remembered for the run; map() calls func(handle)."""

import threading

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    HypervisorUnreachable, KvmcloudError, LibvirtCallError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import Hypervisor

from handles import definition

HVS = [definition('hv1', uri='test:///hv1'), definition('hv2', uri='test:///hv2'),
       definition('hv3', uri='test:///hv3')]


class FakeConn:
    def __init__(self, uri):
        self.uri = uri
        self.closed = 0

    def getURI(self):
        return self.uri

    def close(self):
        self.closed += 1
        if self.uri.endswith('hv3'):
            raise RuntimeError('closing failed')  # closing is best effort


class Opener:
    """Opens a fake connection per call; the hypervisors in ``down`` are unreachable."""

    def __init__(self, down=()):
        self.down = set(down)
        self.opened = []
        self.conns = []

    def __call__(self, hv):
        self.opened.append(hv.name)
        if hv.name in self.down:
            raise LibvirtCallError('open', hv.uri, 38, 'connection refused', hypervisor=hv.name)
        self.conns.append(FakeConn(hv.uri))
        return Hypervisor(hv, self.conns[-1])


def test_get_opens_a_handle_once_through_the_opener_with_the_definition():
    opener = Opener()
    conns = Connections(HVS, opener=opener)
    assert opener.opened == []  # lazily
    h = conns.get('hv2')
    assert isinstance(h, Hypervisor) and h.name == 'hv2' and h.hv is HVS[1]
    assert h.getURI() == 'test:///hv2'
    assert conns.get('hv2') is h
    assert opener.opened == ['hv2']
    assert conns.unreachable('hv2') is None


def test_an_unreachable_hypervisor_is_not_tried_again_in_the_run():
    opener = Opener(down={'hv1'})
    conns = Connections(HVS, opener=opener)
    for _attempt in range(2):
        with pytest.raises(HypervisorUnreachable) as err:
            conns.get('hv1')
        assert err.value.msg == 'hypervisor hv1 (test:///hv1) is unreachable: connection refused'
        assert err.value.details == {'hypervisor': 'hv1', 'uri': 'test:///hv1', 'reason': 'connection refused'}
    assert opener.opened == ['hv1']
    assert conns.unreachable('hv1') == 'connection refused'


def test_map_calls_func_with_each_handle_in_order_and_collects_the_errors():
    conns = Connections(HVS, opener=Opener(down={'hv2'}))

    def func(h):
        if h.name == 'hv3':
            raise KvmcloudError('hv3 is broken')
        return h.getURI()

    outcomes = conns.map(func, HVS)
    assert [(hv.name, result) for hv, result, _err in outcomes] == [
        ('hv1', 'test:///hv1'), ('hv2', None), ('hv3', None)]
    errors = [err for _hv, _result, err in outcomes]
    assert errors[0] is None
    assert isinstance(errors[1], HypervisorUnreachable)
    assert errors[2].msg == 'hv3 is broken'
    assert conns.map(func, []) == []
    assert conns.map(func, HVS[:1])[0][1] == 'test:///hv1'


def test_map_runs_the_hypervisors_concurrently():
    conns = Connections(HVS, opener=Opener())
    barrier = threading.Barrier(len(HVS), timeout=5)

    def func(h):
        barrier.wait()  # only returns when every hypervisor's call runs at once
        return h.name

    assert [result for _hv, result, _err in conns.map(func, HVS)] == ['hv1', 'hv2', 'hv3']


def test_map_lets_other_exceptions_through():
    conns = Connections(HVS, opener=Opener())

    def func(_h):
        raise KeyError('a bug')

    with pytest.raises(KeyError):
        conns.map(func, HVS[:1])


def test_close_closes_every_handle_and_the_extra_ones_best_effort():
    opener = Opener()
    conns = Connections(HVS, opener=opener)
    conns.get('hv1')
    conns.get('hv3')
    extra = conns.open_extra('hv1')
    assert extra is not conns.get('hv1') and extra.name == 'hv1'
    conns.close()
    assert [c.closed for c in opener.conns] == [1, 1, 1]
    # Asked again after closing, a hypervisor is opened again.
    conns.get('hv1')
    assert opener.opened == ['hv1', 'hv3', 'hv1', 'hv1']
