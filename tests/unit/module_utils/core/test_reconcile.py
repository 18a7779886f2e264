# -*- coding: utf-8 -*-
"""core/reconcile.py: compare/plan are pure; the engine is driven through an in-memory resource
and returns an Outcome (its plan and the resource afterwards)."""

import copy

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import (
    CONFIG, CREATE, DELETE, LIVE, REBUILD, UPDATE, Change, Outcome, Plan, Resource, compare, diff_of, plan,
    reconcile, refuse_rebuild)


# -- compare ---------------------------------------------------------------------------

def test_compare_counts_only_fields_that_are_set():
    current = {'a': 1, 'b': 2, 'c': 3}
    assert compare(current, {'a': 1, 'b': None, 'c': None, 'zz': None}) == []
    assert compare(current, {'b': 5, 'c': None}) == [Change('b', 2, 5, LIVE)]


def test_compare_missing_current_field_is_a_change():
    assert compare({}, {'a': 1}) == [Change('a', None, 1, LIVE)]


def test_compare_falsy_values_are_set():
    # False, 0, '' and [] are values the user set; only None means "not set".
    current = {'f': True, 'z': 1, 's': 'x', 'l': [1]}
    changes = compare(current, {'f': False, 'z': 0, 's': '', 'l': []})
    assert [(c.field, c.after) for c in changes] == [('f', False), ('l', []), ('s', ''), ('z', 0)]


def test_compare_results_are_sorted_by_field():
    changes = compare({}, {'z': 1, 'a': 2, 'm': 3})
    assert [c.field for c in changes] == ['a', 'm', 'z']


def test_compare_set_fields_ignore_order():
    current = {'tags': ['b', 'a', 'c'], 'order': ['b', 'a']}
    assert compare(current, {'tags': ['a', 'b', 'c']}, set_fields=('tags',)) == []
    # Not a set field: order matters.
    assert compare(current, {'order': ['a', 'b']}) == [Change('order', ['b', 'a'], ['a', 'b'], LIVE)]


def test_compare_set_field_changes_are_normalised():
    changes = compare({'tags': ('c', 'a')}, {'tags': ['b', 'a']}, set_fields=('tags',))
    assert changes == [Change('tags', ['a', 'c'], ['a', 'b'], LIVE)]


def test_compare_set_field_with_mixed_types():
    assert compare({'s': [2, 'a', None]}, {'s': [None, 'a', 2]}, set_fields=('s',)) == []


def test_compare_set_field_against_missing():
    assert compare({}, {'tags': ['a']}, set_fields=('tags',)) == [Change('tags', None, ['a'], LIVE)]


def test_compare_modes():
    changes = compare({'a': 1, 'b': 1, 'c': 1}, {'a': 2, 'b': 2, 'c': 2}, modes={'a': REBUILD, 'b': CONFIG})
    assert {c.field: c.mode for c in changes} == {'a': REBUILD, 'b': CONFIG, 'c': LIVE}
    changes = compare({'c': 1}, {'c': 2}, default_mode=CONFIG)
    assert changes[0].mode == CONFIG


# -- plan --------------------------------------------------------------------------------

def test_plan_create():
    p = plan(None, {'a': 1, 'b': None})
    assert p and p.action == CREATE
    assert p.changes == []
    assert p.diff() == {'before': {}, 'after': {'a': 1}}


def test_plan_update():
    current = {'a': 1, 'b': 2, 'c': 3}
    p = plan(current, {'a': 1, 'b': 5, 'c': None})
    assert p and p.action == UPDATE
    assert p.changes == [Change('b', 2, 5, LIVE)]
    assert p.diff() == {'before': {'b': 2}, 'after': {'b': 5}}
    assert p.before == current
    assert p.after == {'a': 1, 'b': 5, 'c': 3}
    assert current == {'a': 1, 'b': 2, 'c': 3}  # not mutated


def test_plan_no_change():
    p = plan({'a': 1}, {'a': 1, 'b': None})
    assert not p
    assert p.action is None
    assert p.diff() == {'before': {}, 'after': {}}


def test_plan_delete():
    p = plan({'a': 1}, None, state='absent')
    assert p and p.action == DELETE
    assert p.diff() == {'before': {'a': 1}, 'after': {}}


def test_plan_absent_and_missing_is_nothing():
    p = plan(None, None, state='absent')
    assert not p and p.diff() == {'before': {}, 'after': {}}


def test_plan_absent_ignores_desired():
    assert plan({'a': 1}, {'a': 1}, state='absent').action == DELETE


def test_plan_set_fields_and_modes_pass_through():
    p = plan({'tags': ['b', 'a'], 'size': 1}, {'tags': ['a', 'b'], 'size': 2}, set_fields=('tags',),
             modes={'size': REBUILD})
    assert p.fields() == ['size']
    assert p.needs_rebuild


def test_plan_needs_rebuild_and_reboot_required():
    p = Plan(UPDATE, changes=[Change('a', 1, 2, LIVE)])
    assert not p.needs_rebuild and not p.reboot_required
    p = Plan(UPDATE, changes=[Change('a', 1, 2, LIVE), Change('b', 1, 2, CONFIG)])
    assert p.reboot_required and not p.needs_rebuild
    p = Plan(UPDATE, changes=[Change('a', 1, 2, REBUILD)])
    assert p.needs_rebuild and not p.reboot_required
    assert not Plan().needs_rebuild and not Plan().reboot_required


def test_plan_fields_by_mode():
    p = Plan(UPDATE, changes=[Change('a', 1, 2, LIVE), Change('b', 1, 2, CONFIG), Change('c', 1, 2, REBUILD)])
    assert p.fields() == ['a', 'b', 'c']
    assert p.fields(LIVE) == ['a']
    assert p.fields(CONFIG) == ['b']
    assert p.fields(REBUILD) == ['c']


def test_empty_plan_is_false():
    assert not Plan()
    assert bool(Plan(CREATE))


# -- reconcile with an in-memory resource ------------------------------------------------

class Store:
    """A tiny in-memory "hypervisor": named objects with a call log."""

    def __init__(self, objects=None):
        self.objects = copy.deepcopy(objects or {})
        self.calls = []
        self.next_id = 1


class FakeResource(Resource):
    set_fields = ('tags',)
    modes = {'size': REBUILD, 'memory': CONFIG}
    rebuild_option = 'force_rebuild'

    def __init__(self, store, name, want=None, rebuild=False):
        self.store = store
        self.name = name
        self.want = want or {}
        self.rebuild = rebuild

    def find(self):
        self.store.calls.append('find')
        obj = self.store.objects.get(self.name)
        return copy.deepcopy(obj) if obj is not None else None

    def normalise(self, raw):
        return {k: raw.get(k) for k in ('size', 'memory', 'tags', 'label')}

    def desired(self):
        return dict({'size': None, 'memory': None, 'tags': None, 'label': None}, **self.want)

    def create(self, desired):
        self.store.calls.append('create')
        obj = {k: v for k, v in desired.items() if v is not None}
        obj['id'] = self.store.next_id
        self.store.next_id += 1
        self.store.objects[self.name] = obj

    def update(self, raw, the_plan):
        self.store.calls.append('update')
        if the_plan.needs_rebuild:
            self.store.calls.append('rebuild')
        for change in the_plan.changes:
            self.store.objects[self.name][change.field] = change.after

    def delete(self, raw):
        self.store.calls.append('delete')
        del self.store.objects[self.name]

    def describe(self, raw):
        return dict(self.normalise(raw), id=raw['id'], name=self.name)

    def allows_rebuild(self):
        return self.rebuild


SIDE_EFFECTS = {'create', 'update', 'delete', 'rebuild'}

EXISTING = {'vm': {'id': 7, 'size': 10, 'memory': 512, 'tags': ['a', 'b'], 'label': 'x'}}

SCENARIOS = [
    # (initial objects, want, state)
    ({}, {'size': 10, 'memory': 512}, 'present'),                 # create
    (EXISTING, {'label': 'y'}, 'present'),                        # live update
    (EXISTING, {'memory': 1024}, 'present'),                      # config update
    (EXISTING, {'tags': ['b', 'a', 'c']}, 'present'),             # set field update
    (EXISTING, {'tags': ['b', 'a'], 'size': 10}, 'present'),      # no change
    (EXISTING, {}, 'absent'),                                     # delete
    ({}, {}, 'absent'),                                           # already absent
]


@pytest.mark.parametrize('objects, want, state', SCENARIOS)
def test_check_mode_predicts_the_real_run_without_side_effects(objects, want, state):
    check_store = Store(objects)
    predicted = reconcile(FakeResource(check_store, 'vm', want), state, check_mode=True)
    assert not SIDE_EFFECTS & set(check_store.calls)
    assert check_store.objects == objects

    real_store = Store(objects)
    real = reconcile(FakeResource(real_store, 'vm', want), state, check_mode=False)
    assert predicted.changed == real.changed
    assert predicted.diff == real.diff
    assert predicted.plan.reboot_required == real.plan.reboot_required
    if real.changed:
        assert SIDE_EFFECTS & set(real_store.calls)
    else:
        assert not SIDE_EFFECTS & set(real_store.calls)


@pytest.mark.parametrize('objects, want, state', SCENARIOS)
def test_second_run_is_a_no_op(objects, want, state):
    store = Store(objects)
    reconcile(FakeResource(store, 'vm', want), state, check_mode=False)
    store.calls = []
    again = reconcile(FakeResource(store, 'vm', want), state, check_mode=False)
    assert again.changed is False
    assert again.diff == {'before': {}, 'after': {}}
    assert 'reboot_required' not in again.result('resource')
    assert not SIDE_EFFECTS & set(store.calls)


def test_create_real_run_rereads_and_describes():
    store = Store()
    result = reconcile(FakeResource(store, 'vm', {'size': 10, 'tags': ['z', 'a']}), 'present', check_mode=False)
    assert store.calls == ['find', 'create', 'find']
    assert result.changed is True
    assert result.diff == {'before': {}, 'after': {'size': 10, 'tags': ['z', 'a']}}
    # Only describe() of the re-read object knows the id assigned by create().
    assert result.resource == {'id': 1, 'name': 'vm', 'size': 10, 'memory': None,
                               'tags': ['z', 'a'], 'label': None}


def test_create_check_mode_returns_predicted_resource():
    store = Store()
    result = reconcile(FakeResource(store, 'vm', {'size': 10}), 'present', check_mode=True)
    assert store.calls == ['find']
    assert result.result('resource') == {'changed': True, 'diff': {'before': {}, 'after': {'size': 10}},
                                         'resource': {'size': 10}}


def test_update_real_run_rereads():
    store = Store(EXISTING)
    result = reconcile(FakeResource(store, 'vm', {'label': 'new'}), 'present', check_mode=False)
    assert store.calls == ['find', 'update', 'find']
    assert result.changed is True
    assert result.diff == {'before': {'label': 'x'}, 'after': {'label': 'new'}}
    assert result.resource['label'] == 'new'
    assert result.resource['id'] == 7
    assert store.objects['vm']['label'] == 'new'
    assert 'reboot_required' not in result.result('resource')


def test_update_check_mode_returns_predicted_resource():
    store = Store(EXISTING)
    result = reconcile(FakeResource(store, 'vm', {'label': 'new'}), 'present', check_mode=True)
    assert result.resource == {'size': 10, 'memory': 512, 'tags': ['a', 'b'], 'label': 'new'}
    assert store.objects == EXISTING


def test_config_change_reports_reboot_required():
    for check_mode in (True, False):
        result = reconcile(FakeResource(Store(EXISTING), 'vm', {'memory': 1024}), 'present', check_mode)
        assert result.changed is True
        assert result.result('resource')['reboot_required'] is True


def test_no_change_describes_current_object():
    store = Store(EXISTING)
    result = reconcile(FakeResource(store, 'vm', {'size': 10}), 'present', check_mode=False)
    assert result.changed is False
    assert result.resource['id'] == 7
    check = reconcile(FakeResource(store, 'vm', {'size': 10}), 'present', check_mode=True)
    assert check.changed is False
    assert check.resource == {'size': 10, 'memory': 512, 'tags': ['a', 'b'], 'label': 'x'}


def test_delete():
    store = Store(EXISTING)
    result = reconcile(FakeResource(store, 'vm'), 'absent', check_mode=False)
    assert store.calls == ['find', 'delete', 'find']
    assert 'vm' not in store.objects
    assert result.result('resource') == {
        'changed': True, 'resource': {},
        'diff': {'before': {'size': 10, 'memory': 512, 'tags': ['a', 'b'], 'label': 'x'}, 'after': {}}}


def test_absent_on_missing_is_no_change():
    for check_mode in (True, False):
        store = Store()
        result = reconcile(FakeResource(store, 'vm', {'size': 10}), 'absent', check_mode=check_mode)
        assert result.result('resource') == {'changed': False, 'diff': {'before': {}, 'after': {}}, 'resource': {}}
        assert store.calls == ['find']


def test_absent_does_not_ask_for_desired():
    class NoDesired(FakeResource):
        def desired(self):
            raise AssertionError('desired() must not be needed for state=absent')

    result = reconcile(NoDesired(Store(EXISTING), 'vm'), 'absent', check_mode=False)
    assert result.changed is True


@pytest.mark.parametrize('check_mode', [True, False])
def test_rebuild_is_refused_without_opt_in(check_mode):
    store = Store(EXISTING)
    with pytest.raises(ValidationError) as err:
        reconcile(FakeResource(store, 'vm', {'size': 20, 'label': 'y'}), 'present', check_mode=check_mode)
    assert 'size' in err.value.msg
    assert 'label' not in err.value.msg  # only the fields that need the rebuild are named
    assert 'force_rebuild' in err.value.msg
    assert err.value.details['diff'] == {'before': {'label': 'x', 'size': 10}, 'after': {'label': 'y', 'size': 20}}
    assert not SIDE_EFFECTS & set(store.calls)
    assert store.objects == EXISTING


def test_rebuild_refusal_names_every_field_and_default_option():
    class Defaults(FakeResource):
        modes = {'size': REBUILD, 'label': REBUILD}
        rebuild_option = Resource.rebuild_option

    with pytest.raises(ValidationError) as err:
        reconcile(Defaults(Store(EXISTING), 'vm', {'size': 20, 'label': 'y'}), 'present', check_mode=False)
    assert 'label, size' in err.value.msg
    assert 'recreate' in err.value.msg


def test_rebuild_allowed_with_opt_in():
    store = Store(EXISTING)
    result = reconcile(FakeResource(store, 'vm', {'size': 20}, rebuild=True), 'present', check_mode=False)
    assert result.changed is True
    assert 'rebuild' in store.calls
    assert store.objects['vm']['size'] == 20


def test_create_is_never_refused_for_rebuild_fields():
    result = reconcile(FakeResource(Store(), 'vm', {'size': 20}), 'present', check_mode=False)
    assert result.changed is True


def test_resource_defaults():
    res = Resource()
    for method, args in (('find', ()), ('normalise', (None,)), ('desired', ()), ('create', ({},)),
                         ('update', (None, Plan())), ('delete', (None,))):
        with pytest.raises(NotImplementedError):
            getattr(res, method)(*args)
    assert res.allows_rebuild() is False
    assert res.rebuild_option == 'recreate'


# -- Outcome, diff_of, refuse_rebuild ----------------------------------------------------

def test_outcome_result_puts_the_resource_under_the_key_and_adds_reboot_required_only_when_needed():
    live = Outcome(Plan(UPDATE, changes=[Change('a', 1, 2, LIVE)]), {'a': 2})
    assert live.changed is True
    assert live.result('volume') == {'changed': True, 'diff': {'before': {'a': 1}, 'after': {'a': 2}},
                                     'volume': {'a': 2}}
    config = Outcome(Plan(UPDATE, changes=[Change('m', 1, 2, CONFIG)]), {'m': 2})
    assert config.result('server')['reboot_required'] is True
    nothing = Outcome(Plan(), {'a': 1})
    assert nothing.changed is False
    assert nothing.result('x') == {'changed': False, 'diff': {'before': {}, 'after': {}}, 'x': {'a': 1}}


def test_diff_of_keys_the_diffs_of_the_plans_that_do_something():
    plans = {'hv1': Plan(CREATE, before={}, after={'a': 1}),
             'hv2': Plan(),
             'hv3': Plan(UPDATE, changes=[Change('b', 1, 2, LIVE)], before={'b': 1}, after={'b': 2}),
             'hv4': Plan(DELETE, before={'c': 3}, after={})}
    assert diff_of(plans) == {'before': {'hv1': {}, 'hv3': {'b': 1}, 'hv4': {'c': 3}},
                              'after': {'hv1': {'a': 1}, 'hv3': {'b': 2}, 'hv4': {}}}
    assert diff_of({}) == {'before': {}, 'after': {}}
    assert diff_of({'hv1': Plan()}) == {'before': {}, 'after': {}}


def test_plan_diff_is_a_copy_of_before_and_after():
    before = {'a': 1}
    p = Plan(DELETE, before=before, after={})
    p.diff()['before']['a'] = 99
    assert before == {'a': 1}


def test_refuse_rebuild_names_the_fields_the_option_and_carries_the_diff():
    err = refuse_rebuild(['disk', 'size'], 'force', {'before': {'size': 1}, 'after': {'size': 2}})
    assert isinstance(err, ValidationError)
    assert err.msg == 'changing disk, size needs the resource to be recreated; set force: true to allow it'
    assert err.details == {'diff': {'before': {'size': 1}, 'after': {'size': 2}}}
    other = refuse_rebuild(['image'], 'rebuild', what='the server', verb='rebuilt')
    assert other.msg == 'changing image needs the server to be rebuilt; set rebuild: true to allow it'
    assert other.details == {'diff': {'before': {}, 'after': {}}}
