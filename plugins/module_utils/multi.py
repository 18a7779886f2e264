# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile one resource on several hypervisors at once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import reconcile


def reconcile_on_hypervisors(cm, make_resource, result_key, precheck=False, hypervisors=None):
    """Run the reconcile engine for ``make_resource(conn, hypervisor)`` on each selected
    hypervisor concurrently (``hypervisors``, else the ``hypervisors`` option, else all enabled
    ones).

    ``changed`` is true when any hypervisor changed; ``diff`` is keyed by hypervisor name. A
    failure on any hypervisor fails the task and names every hypervisor that failed.

    With ``precheck``, a real run first plans on every hypervisor as check mode does, so that a
    refusal on any of them (a resource's ``check`` hook) comes before a change on any.
    """
    selected = hypervisors
    if selected is None:
        selected = cm.cloud.select_hypervisors(cm.params.get('hypervisors'), enabled_only=not cm.params.get('hypervisors'))
    state = cm.params.get('state', 'present')
    if precheck and not cm.check_mode:
        failures = [(hv, err) for hv, _result, err in cm.connections.map(
            lambda hv, conn: reconcile(make_resource(conn, hv), state, True), selected) if err is not None]
        if failures:
            raise failed_on('the %s module' % result_key.rstrip('s'), failures, changed=False)
    outcomes = cm.connections.map(
        lambda hv, conn: reconcile(make_resource(conn, hv), state, cm.check_mode), selected)
    failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
    if failures:
        raise failed_on('the %s module' % result_key.rstrip('s'), failures,
                        changed=any(r['changed'] for _hv, r, e in outcomes if e is None))
    results = [(hv, result) for hv, result, _err in outcomes]
    before = {hv.name: r['diff']['before'] for hv, r in results if r['changed']}
    after = {hv.name: r['diff']['after'] for hv, r in results if r['changed']}
    out = {
        'changed': any(r['changed'] for _hv, r in results),
        'diff': {'before': before, 'after': after},
        result_key: [dict(r['resource'], hypervisor=hv.name) for hv, r in results],
    }
    if any(r.get('reboot_required') for _hv, r in results):
        out['reboot_required'] = True
    return out


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
    """``func(hypervisor, conn)`` on each hypervisor concurrently: ``{name: result}``, or one
    error naming every hypervisor that failed (see :func:`failed_on`)."""
    outcomes = cm.connections.map(func, hypervisors)
    failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
    if failures:
        raise failed_on(what, failures)
    return {hv.name: result for hv, result, _err in outcomes}


def map_reachable(cm, func, hypervisors, what):
    """``func(hypervisor, conn)`` on each hypervisor concurrently, skipping the unreachable ones:
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
