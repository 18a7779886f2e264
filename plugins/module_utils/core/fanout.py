# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Work on several hypervisors at once, with the collection's two rules about them:

- which hypervisors a module works on: those its ``hypervisors`` option names, else every
  enabled one (:func:`selected`);
- what an unreachable one means: a hypervisor that cannot be opened is reported, by name and
  reason, in ``unreachable_hypervisors``; any other failure on a reachable hypervisor is an
  error (:func:`map_reachable`). Nothing new is allocated while one is unreachable (an address,
  anything a quota counts): what it holds cannot be seen, so it could be handed out twice
  (:func:`allocation_check`).

And the reconcile engine on several hypervisors at once: plan on all of them, lock the ones
with something to do and plan again (:mod:`.locks`), then apply on all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import plan_under_lock
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import apply_planned, diff_of, plan_of


def selected(cm):
    """The hypervisors a module works on: the ``hypervisors`` option's, in definition order
    (unknown names fail), else every enabled one."""
    names = cm.params.get('hypervisors')
    return cm.cloud.select_hypervisors(names, enabled_only=not names)


def failed_on(what, failures, **details):
    """One error for ``[(hypervisor, error)]`` that names every hypervisor that failed."""
    names = [hv.name for hv, _err in failures]
    if len(failures) == 1:
        reasons = failures[0][1].msg
    else:
        reasons = '; '.join('%s: %s' % (hv.name, err.msg) for hv, err in failures)
    return KvmcloudError('%s failed on hypervisor%s %s: %s' % (
        what, 's' if len(names) > 1 else '', ', '.join(names), reasons), failed_hypervisors=names, **details)


def map_or_fail(cm, func, hypervisors, what):
    """``func(handle)`` on each hypervisor concurrently: ``{name: result}``, or one error naming
    every hypervisor that failed, unreachable ones included (see :func:`failed_on`)."""
    outcomes = cm.connections.map(func, hypervisors)
    failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
    if failures:
        raise failed_on(what, failures)
    return {hv.name: result for hv, result, _err in outcomes}


def map_reachable(cm, func, hypervisors, what):
    """``func(handle)`` on each hypervisor concurrently, skipping the unreachable ones:
    ``([(hypervisor, result)], {name: reason})``, results in the order given. Any other failure
    raises one error naming every hypervisor that failed (see :func:`failed_on`)."""
    results, unreachable, failures = [], {}, []
    for hv, result, err in cm.connections.map(func, hypervisors):
        if err is None:
            results.append((hv, result))
        elif cm.connections.unreachable(hv.name):
            unreachable[hv.name] = err.msg
        else:
            failures.append((hv, err))
    if failures:
        raise failed_on(what, failures)
    return results, unreachable


def unreachable_list(unreachable):
    """``unreachable_hypervisors`` as every module returns it: ``'<name>: <reason>'``, sorted."""
    return ['%s: %s' % item for item in sorted(unreachable.items())]


def allocation_check(what, unreachable, allowed):
    """Refuse to allocate ``what`` (new addresses, what counts towards quotas) while the
    hypervisors in ``unreachable`` (``{name: reason}``) cannot be read, unless ``allowed``
    (the ``allow_unreachable`` option): then the warning to give, else None."""
    if not unreachable:
        return None
    names = ', '.join(sorted(unreachable))
    risk = ('what hypervisor%s %s hold%s cannot be seen, so an address could be handed out twice and '
            'a quota passed unseen' % ('s' if len(unreachable) > 1 else '', names,
                                       '' if len(unreachable) > 1 else 's'))
    if not allowed:
        raise KvmcloudError('%s needs every hypervisor of the cloud, but %s: %s; bring %s back, or set '
                            'allow_unreachable: true to go ahead anyway'
                            % (what, risk, '; '.join(unreachable_list(unreachable)),
                               'them' if len(unreachable) > 1 else 'it'),
                            unreachable_hypervisors=unreachable_list(unreachable), changed=False)
    return '%s went ahead with allow_unreachable although %s' % (what, risk)


def plan_on_hypervisors(cm, make_resource, hypervisors, what):
    """:func:`~.reconcile.plan_of` for ``make_resource(handle)`` on each hypervisor
    concurrently: ``[(hypervisor, planned)]``, or one error naming every hypervisor that failed
    or refused, before anything changed anywhere."""
    state = cm.params.get('state', 'present')
    outcomes = cm.connections.map(lambda h: plan_of(make_resource(h), state), hypervisors)
    failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
    if failures:
        raise failed_on(what, failures, changed=False)
    return [(hv, planned) for hv, planned, _err in outcomes]


def written(planned):
    """The names of the hypervisors whose plan (of :func:`plan_on_hypervisors`) changes something."""
    return [hv.name for hv, one in planned if one.plan]


def apply_on_hypervisors(cm, planned, result_key, what):
    """Apply what :func:`plan_on_hypervisors` planned, on each hypervisor concurrently: the
    module result, ``changed`` when any hypervisor changed, ``diff`` keyed by hypervisor name.
    A failure on any hypervisor fails the task and names every hypervisor that failed."""
    by_name = {hv.name: one for hv, one in planned}
    outcomes = cm.connections.map(lambda h: apply_planned(by_name[h.name], cm.check_mode), [hv for hv, _p in planned])
    failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
    if failures:
        raise failed_on(what, failures, changed=any(r.changed for _hv, r, e in outcomes if e is None))
    results = [(hv, result) for hv, result, _err in outcomes]
    out = {
        'changed': any(r.changed for _hv, r in results),
        'diff': diff_of({hv.name: r.plan for hv, r in results}),
        result_key: [dict(r.resource, hypervisor=hv.name) for hv, r in results],
    }
    if any(r.plan.reboot_required for _hv, r in results):
        out['reboot_required'] = True
    return out


def reconcile_on_hypervisors(cm, make_resource, result_key, hypervisors=None):
    """Run the reconcile engine for ``make_resource(handle)`` on each hypervisor concurrently
    (``hypervisors``, else :func:`selected`).

    Every hypervisor is planned before any changes, so a refusal on any of them (a resource's
    ``check`` hook) comes before a change on any; a real run with something to do then takes
    the locks of the hypervisors it changes and plans again under them. ``changed`` is true
    when any hypervisor changed; ``diff`` is keyed by hypervisor name.
    """
    chosen = selected(cm) if hypervisors is None else hypervisors
    what = 'the %s module' % result_key.rstrip('s')
    planned = plan_under_lock(cm, lambda: plan_on_hypervisors(cm, make_resource, chosen, what), written)
    return apply_on_hypervisors(cm, planned, result_key, what)
