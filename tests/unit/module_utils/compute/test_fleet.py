# -*- coding: utf-8 -*-
"""compute/fleet.py: creating servers of one hypervisor in parallel, each thread on its own
connection; the hypervisors a plan writes to (the ones it locks)."""

import threading
import time
from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import fleet
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.plan import FleetPlan, ServerPlan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

CLOUD = CloudDefinition.from_params({'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}]})


class _Handle:
    """A stand-in hypervisor handle that records which thread used it and whether it was closed."""

    def __init__(self, hv):
        self.hv, self.name, self.threads, self.closed = hv, hv.name, set(), False


def _parallel_fleet(monkeypatch):
    opened = []

    def opener(hv):
        opened.append(_Handle(hv))
        return opened[-1]

    def close(handle):
        handle.closed = True

    monkeypatch.setattr('ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt.close_connection', close)
    cm = type('CM', (), {'connections': Connections(CLOUD.hypervisors, opener=opener)})()
    return fleet.Fleet(cm, None, None), opened


def test_parallel_creation_gives_each_thread_a_connection_of_its_own(monkeypatch):
    engine, opened = _parallel_fleet(monkeypatch)
    done = []

    def create(handle, planned):
        handle.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        done.append(planned)

    engine._create_parallel('hv1', list(range(12)), create)
    assert sorted(done) == list(range(12))
    assert 1 < len(opened) <= fleet.CREATE_THREADS
    assert all(len(handle.threads) == 1 for handle in opened)
    assert len({name for handle in opened for name in handle.threads}) == len(opened)
    engine.cm.connections.close()
    assert all(handle.closed for handle in opened)


def test_parallel_creation_starts_nothing_after_a_failure_and_raises_the_first_error(monkeypatch):
    engine, _opened = _parallel_fleet(monkeypatch)
    started = []

    def create(_handle, planned):
        started.append(planned)
        time.sleep(0.05)
        if planned == 1:
            raise ValidationError('server %d: no room' % planned)

    with pytest.raises(ValidationError, match='server 1: no room'):
        engine._create_parallel('hv1', list(range(40)), create)
    # The ones under way when server 1 failed finished; none started afterwards.
    assert len(started) <= 2 * fleet.CREATE_THREADS


def test_the_hypervisors_a_fleet_plan_writes_to_are_its_servers_and_their_networks():
    found = SimpleNamespace(networks={'n1': SimpleNamespace(hypervisors=['hv1', 'hv2', 'hv3']),
                                      'n2': SimpleNamespace(hypervisors=['hv4'])})
    nothing = FleetPlan([ServerPlan(name='a', hypervisor='hv1', port_records=[{'network': 'n1', 'name': 'a-eth0'}])])
    assert fleet.written(found, nothing) == set()
    create = ServerPlan(action='create', name='b', hypervisor='hv5', port_records=[{'network': 'n1', 'name': 'b-eth0'}])
    delete = ServerPlan(action='delete', name='c', hypervisor='hv6', server={'ports': [{'network': 'n2'}]})
    assert fleet.written(found, FleetPlan([create])) == {'hv1', 'hv2', 'hv3', 'hv5'}
    assert fleet.written(found, FleetPlan([create, delete])) == {'hv1', 'hv2', 'hv3', 'hv4', 'hv5', 'hv6'}
