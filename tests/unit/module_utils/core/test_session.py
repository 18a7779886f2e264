# -*- coding: utf-8 -*-
"""core/session.py: what the package functions use of the module wrapper, without a module."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.session import ControllerSession

CLOUD = {'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}, {'name': 'hv2', 'uri': 'test:///nowhere.xml'}]}


def test_a_session_opens_connections_when_asked_and_closes_them_at_the_end(monkeypatch):
    opened, closed = [], []
    real_open, real_close = virt.open_connection, virt.close_connection
    monkeypatch.setattr(virt, 'open_connection', lambda hv: opened.append(hv.name) or real_open(hv))
    monkeypatch.setattr(virt, 'close_connection', lambda h: closed.append(h.name) or real_close(h))
    with ControllerSession(CLOUD, params={'name': None}) as cm:
        assert opened == [] and cm.check_mode and cm.params == {'name': None}
        assert [hv.name for hv in cm.cloud.hypervisors] == ['hv1', 'hv2']
        results, unreachable = map_reachable(cm, lambda h: h.getHostname(), cm.cloud.hypervisors, 'reading')
        assert [hv.name for hv, _name in results] == ['hv1'] and list(unreachable) == ['hv2']
        cm.warn('careful')
        assert cm.warnings == ['careful']
    assert sorted(opened) == ['hv1', 'hv2'] and closed == ['hv1']


def test_a_session_validates_the_cloud_as_the_modules_do():
    with pytest.raises(ValidationError, match='cloud.hypervisors must list at least one hypervisor'):
        ControllerSession({'hypervisors': []})
    with pytest.raises(ValidationError, match="'reserved_host_cpus' is of type str"):
        ControllerSession({'hypervisors': [{'name': 'a', 'uri': 'x', 'reserved_host_cpus': 'many'}]})
