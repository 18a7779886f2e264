# -*- coding: utf-8 -*-
"""core/fanout.py: which hypervisors a module works on, what an unreachable one means, and the
reconcile engine on several hypervisors at once."""

from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import fanout
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import CONFIG, Resource
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import Hypervisor

from handles import definition

HVS = [definition('hv1', uri='test:///hv1'), definition('hv2', uri='test:///hv2', enabled=False),
       definition('hv3', uri='test:///hv3')]


class Host:
    """A fake libvirt connection holding one object's fields."""

    def __init__(self, obj=None):
        self.obj = obj


def module(params=None, check_mode=False, down=(), hosts=None):
    """A module of a cloud of three hypervisors (hv2 disabled); those in ``down`` are unreachable."""
    hosts = hosts if hosts is not None else {hv.name: Host() for hv in HVS}

    def opener(hv):
        if hv.name in down:
            raise LibvirtCallError('open', hv.uri, 38, 'connection refused', hypervisor=hv.name)
        return Hypervisor(hv, hosts[hv.name])

    return SimpleNamespace(params=dict(params or {}, hosts=hosts), check_mode=check_mode,
                           cloud=CloudDefinition(hypervisors=HVS), connections=Connections(HVS, opener=opener))


# -- selected ---------------------------------------------------------------------------------

def test_selected_is_every_enabled_hypervisor_by_default():
    assert [hv.name for hv in fanout.selected(module())] == ['hv1', 'hv3']
    assert [hv.name for hv in fanout.selected(module({'hypervisors': []}))] == ['hv1', 'hv3']


def test_selected_named_hypervisors_in_definition_order_disabled_ones_included():
    assert [hv.name for hv in fanout.selected(module({'hypervisors': ['hv3', 'hv2']}))] == ['hv2', 'hv3']
    with pytest.raises(ValidationError, match="unknown hypervisor 'hv9'"):
        fanout.selected(module({'hypervisors': ['hv9']}))


# -- failed_on, map_or_fail, map_reachable, unreachable_list ------------------------------------

def test_failed_on_one_hypervisor_gives_its_reason():
    err = fanout.failed_on('the thing', [(HVS[0], KvmcloudError('it broke'))], changed=False)
    assert err.msg == 'the thing failed on hypervisor hv1: it broke'
    assert err.details == {'failed_hypervisors': ['hv1'], 'changed': False}


def test_failed_on_several_hypervisors_names_each_reason():
    err = fanout.failed_on('the thing', [(HVS[0], KvmcloudError('a')), (HVS[2], KvmcloudError('b'))])
    assert err.msg == 'the thing failed on hypervisors hv1, hv3: hv1: a; hv3: b'
    assert err.details == {'failed_hypervisors': ['hv1', 'hv3']}


def test_map_or_fail_gives_the_results_by_name():
    found = fanout.map_or_fail(module(), lambda h: h.name.upper(), HVS, 'x')
    assert found == {'hv1': 'HV1', 'hv2': 'HV2', 'hv3': 'HV3'}


def test_map_or_fail_fails_on_an_unreachable_hypervisor_too():
    with pytest.raises(KvmcloudError) as err:
        fanout.map_or_fail(module(down={'hv3'}), lambda h: h.name, HVS, 'reading')
    assert err.value.details['failed_hypervisors'] == ['hv3']
    assert err.value.msg.startswith('reading failed on hypervisor hv3: hypervisor hv3 (test:///hv3) is unreachable')


def test_map_reachable_skips_the_unreachable_and_names_them():
    results, unreachable = fanout.map_reachable(module(down={'hv2'}), lambda h: h.name.upper(), HVS, 'reading')
    assert [(hv.name, result) for hv, result in results] == [('hv1', 'HV1'), ('hv3', 'HV3')]
    assert unreachable == {'hv2': 'hypervisor hv2 (test:///hv2) is unreachable: connection refused'}
    assert fanout.unreachable_list(unreachable) == ['hv2: hypervisor hv2 (test:///hv2) is unreachable: '
                                                    'connection refused']


def test_map_reachable_fails_on_any_other_error_naming_every_hypervisor_that_failed():
    def func(h):
        if h.name != 'hv1':
            raise KvmcloudError('%s broke' % h.name)
        return 1

    with pytest.raises(KvmcloudError) as err:
        fanout.map_reachable(module(down={'hv2'}), func, HVS, 'reading')
    assert err.value.details['failed_hypervisors'] == ['hv3']  # the unreachable hv2 is no failure
    assert err.value.msg == 'reading failed on hypervisor hv3: hv3 broke'


def test_unreachable_list_is_sorted():
    assert fanout.unreachable_list({'b': 'y', 'a': 'x'}) == ['a: x', 'b: y']
    assert fanout.unreachable_list({}) == []


# -- reconcile_on_hypervisors ----------------------------------------------------------------------

class Thing(Resource):
    """One object per hypervisor: its ``size`` (a CONFIG change) and ``label``."""

    modes = {'size': CONFIG}

    def __init__(self, h, params, calls):
        self.h, self.params, self.calls = h, params, calls

    def find(self):
        return self.h.obj  # an attribute, not a method: the wrapper gives it as it is

    def normalise(self, raw):
        return dict(raw)

    def desired(self):
        return {'label': self.params.get('label'), 'size': self.params.get('size')}

    def check(self, the_plan):
        if self.params.get('refuse_on') == self.h.name:
            raise ValidationError('%s refuses' % self.h.name)

    def create(self, desired):
        if self.params.get('fail_on') == self.h.name:
            raise KvmcloudError('%s broke' % self.h.name)
        self.calls.append(('create', self.h.name))
        self.params['hosts'][self.h.name].obj = {k: v for k, v in desired.items() if v is not None}

    def update(self, raw, the_plan):
        self.calls.append(('update', self.h.name))
        raw.update({c.field: c.after for c in the_plan.changes})

    def delete(self, raw):
        self.calls.append(('delete', self.h.name))
        self.params['hosts'][self.h.name].obj = None


def run(cm, calls, **kwargs):
    return fanout.reconcile_on_hypervisors(cm, lambda h: Thing(h, cm.params, calls), 'things', **kwargs)


def test_reconcile_on_hypervisors_keys_the_diff_by_hypervisor_and_lists_each_resource():
    hosts = {'hv1': Host({'label': 'a'}), 'hv2': Host(), 'hv3': Host()}
    calls = []
    result = run(module({'label': 'a'}, hosts=hosts), calls)
    assert calls == [('create', 'hv3')]  # hv2 is disabled; hv1 has it already
    assert result == {'changed': True,
                      'diff': {'before': {'hv3': {}}, 'after': {'hv3': {'label': 'a'}}},
                      'things': [{'label': 'a', 'hypervisor': 'hv1'}, {'label': 'a', 'hypervisor': 'hv3'}]}
    again = run(module({'label': 'a'}, hosts=hosts), calls)
    assert again['changed'] is False and again['diff'] == {'before': {}, 'after': {}}


def test_reconcile_on_hypervisors_reports_reboot_required_of_any():
    hosts = {'hv1': Host({'size': 1}), 'hv2': Host(), 'hv3': Host({'size': 2})}
    result = run(module({'size': 2}, hosts=hosts), [])
    assert result['changed'] is True and result['reboot_required'] is True
    assert result['diff'] == {'before': {'hv1': {'size': 1}}, 'after': {'hv1': {'size': 2}}}


def test_reconcile_on_given_hypervisors_and_in_check_mode():
    calls = []
    result = run(module({'label': 'a'}, check_mode=True), calls, hypervisors=HVS[1:2])
    assert calls == []
    assert result['things'] == [{'label': 'a', 'hypervisor': 'hv2'}]


def test_reconcile_on_hypervisors_names_every_hypervisor_that_failed_and_whether_any_changed():
    calls = []
    with pytest.raises(KvmcloudError) as err:
        run(module({'label': 'a', 'fail_on': 'hv3'}, hosts={'hv1': Host(), 'hv2': Host(), 'hv3': Host()}),
            calls, hypervisors=HVS)
    assert err.value.details['failed_hypervisors'] == ['hv3']
    assert err.value.details['changed'] is True  # hv1 and hv2 were changed meanwhile
    assert err.value.msg == 'the thing module failed on hypervisor hv3: hv3 broke'
    assert sorted(calls) == [('create', 'hv1'), ('create', 'hv2')]


def test_every_hypervisor_is_planned_before_any_changes():
    # A refusal (hv3) or an unreachable hypervisor (hv2) while planning: nothing changes anywhere.
    calls = []
    with pytest.raises(KvmcloudError) as err:
        run(module({'label': 'a', 'refuse_on': 'hv3'}, down={'hv2'},
                   hosts={'hv1': Host(), 'hv2': Host(), 'hv3': Host()}), calls, hypervisors=HVS)
    assert calls == []
    assert err.value.details['failed_hypervisors'] == ['hv2', 'hv3']
    assert err.value.details['changed'] is False
    assert 'hv3 refuses' in err.value.msg
