# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reconcile engine every state module runs.

find current -> normalise it into the shape of the desired state, fields the user set only ->
plan (a pure function) -> apply unless check mode -> re-read -> return the resource, with
``changed=bool(plan)`` and ``diff`` built from the plan. Check mode runs the same path and
skips only the side effects, so it predicts exactly what a real run does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

# How a changed field can be applied.
LIVE = 'live'          # live and to the persistent config
CONFIG = 'config'      # to the persistent config; takes effect after a restart
REBUILD = 'rebuild'    # only by recreating the resource: needs explicit opt-in

CREATE = 'create'
UPDATE = 'update'
DELETE = 'delete'


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any
    mode: str = LIVE


@dataclass
class Plan:
    """What a run will do to one thing (a resource on one hypervisor, a server, an image on one
    hypervisor, an action). It is false when there is nothing to do.

    ``changes`` are the fields an update changes; ``before`` and ``after`` the whole thing on
    create and delete (or what differs where no field-by-field comparison applies); ``steps``
    what an action will do, in order. :meth:`diff` is the one diff builder: every module's
    ``diff`` is the plan's, or :func:`diff_of` several plans'.
    """

    action: Optional[str] = None
    changes: List[Change] = field(default_factory=list)
    before: Optional[Dict[str, Any]] = None
    after: Optional[Dict[str, Any]] = None
    steps: List[str] = field(default_factory=list)

    def __bool__(self):
        return self.action is not None

    @property
    def needs_rebuild(self):
        return any(change.mode == REBUILD for change in self.changes)

    @property
    def reboot_required(self):
        return any(change.mode == CONFIG for change in self.changes)

    def fields(self, mode=None):
        return [change.field for change in self.changes if mode is None or change.mode == mode]

    def diff(self):
        """``before``/``after`` of what differs: the changed fields of an update, else the
        plan's ``before`` and ``after`` (whole resources on create or delete)."""
        if not self:
            return {'before': {}, 'after': {}}
        if self.changes:
            return {'before': {c.field: c.before for c in self.changes},
                    'after': {c.field: c.after for c in self.changes}}
        return {'before': dict(self.before or {}), 'after': dict(self.after or {})}


def diff_of(plans):
    """The diff of several plans (``{key: Plan}``: by hypervisor, by server): ``before`` and
    ``after`` keyed like ``plans``, for the plans that do something."""
    diffs = {key: plan.diff() for key, plan in plans.items() if plan}
    return {'before': {key: d['before'] for key, d in diffs.items()},
            'after': {key: d['after'] for key, d in diffs.items()}}


def _normal(value, as_set):
    if as_set and isinstance(value, (list, tuple, set, frozenset)):
        return sorted(value, key=repr)
    return value


def compare(current, desired, set_fields=(), modes=None, default_mode=LIVE):
    """The changes that turn ``current`` into ``desired`` (both normalised dicts).

    Only fields present in ``desired`` with a value other than None count: those are the ones
    the user set. Fields named in ``set_fields`` are compared as sets (order has no meaning).
    ``modes`` maps a field to how a change of it is applied.
    """
    modes = modes or {}
    changes = []
    for key in sorted(desired):
        want = desired[key]
        if want is None:
            continue
        as_set = key in set_fields
        have = current.get(key)
        if _normal(have, as_set) != _normal(want, as_set):
            changes.append(Change(key, _normal(have, as_set), _normal(want, as_set),
                                  modes.get(key, default_mode)))
    return changes


def plan(current, desired, state='present', set_fields=(), modes=None):
    """A pure function from normalised current and desired state to the :class:`Plan`."""
    if state == 'absent':
        if current is None:
            return Plan()
        return Plan(DELETE, before=current, after={})
    if current is None:
        return Plan(CREATE, before={}, after={k: v for k, v in desired.items() if v is not None})
    changes = compare(current, desired, set_fields=set_fields, modes=modes)
    if not changes:
        return Plan()
    return Plan(UPDATE, changes=changes, before=current, after=dict(current, **{c.field: c.after for c in changes}))


class Resource:
    """One resource as the engine sees it; a state module subclasses it.

    ``find`` returns the raw object or None; ``normalise`` turns it into a dict shaped like
    ``desired()``; ``create``/``update``/``delete`` perform side effects and are called only
    outside check mode; ``describe`` turns a raw object into the value returned to the user.
    """

    set_fields = ()
    modes = None
    # The option that allows a rebuild, named in the refusal message.
    rebuild_option = 'recreate'

    def find(self):
        raise NotImplementedError

    def normalise(self, raw):
        raise NotImplementedError

    def desired(self):
        raise NotImplementedError

    def create(self, desired):
        raise NotImplementedError

    def update(self, raw, the_plan):
        raise NotImplementedError

    def delete(self, raw):
        raise NotImplementedError

    def describe(self, raw):
        return self.normalise(raw)

    def allows_rebuild(self):
        return False

    def check(self, the_plan):
        """Refuse a plan that must not run (raise :class:`ValidationError`), before any change
        and in check mode alike. Nothing is refused by default."""


@dataclass
class Outcome:
    """What :func:`reconcile` did: its ``plan`` and the ``resource`` as it is afterwards
    (predicted in check mode)."""

    plan: Plan
    resource: Dict[str, Any]

    @property
    def changed(self):
        return bool(self.plan)

    @property
    def diff(self):
        return self.plan.diff()

    def result(self, key):
        """The module result with the resource under ``key``."""
        out = {'changed': self.changed, 'diff': self.diff, key: self.resource}
        if self.plan.reboot_required:
            out['reboot_required'] = True
        return out


def refuse_rebuild(fields, option, diff=None, what='the resource', verb='recreated'):
    """The refusal of a change of ``fields`` that needs ``what`` recreated (or ``verb``), naming
    the option that allows it."""
    return ValidationError('changing %s needs %s to be %s; set %s: true to allow it'
                           % (', '.join(fields), what, verb, option), diff=diff or {'before': {}, 'after': {}})


@dataclass
class Planned:
    """What :func:`plan_of` found and planned for one resource, for :func:`apply_planned`."""

    resource: Resource
    raw: Any
    current: Optional[Dict[str, Any]]
    desired: Optional[Dict[str, Any]]
    plan: Plan


def plan_of(resource, state):
    """find -> normalise -> plan, and the refusals: what :func:`reconcile` would do, done to
    nothing yet."""
    raw = resource.find()
    current = resource.normalise(raw) if raw is not None else None
    desired = resource.desired() if state != 'absent' else None
    the_plan = plan(current, desired, state=state, set_fields=resource.set_fields, modes=resource.modes)
    resource.check(the_plan)
    if the_plan.needs_rebuild and not resource.allows_rebuild():
        raise refuse_rebuild(the_plan.fields(REBUILD), resource.rebuild_option, the_plan.diff())
    return Planned(resource, raw, current, desired, the_plan)


def apply_planned(planned, check_mode):
    """apply unless check mode -> re-read, for what :func:`plan_of` planned."""
    resource, raw, current, the_plan = planned.resource, planned.raw, planned.current, planned.plan
    if the_plan and not check_mode:
        if the_plan.action == CREATE:
            resource.create(planned.desired)
        elif the_plan.action == DELETE:
            resource.delete(raw)
        else:
            resource.update(raw, the_plan)
        raw = resource.find()
    if check_mode or raw is None:
        described = the_plan.after if the_plan else (current or {})
    else:
        described = resource.describe(raw)
    return Outcome(the_plan, described or {})


def reconcile(resource, state, check_mode, lock=None):
    """Run find -> normalise -> plan -> apply unless check mode -> re-read for ``resource``.

    ``lock``, when given, takes the lock of the hypervisor the resource is on (see
    :mod:`.locks`): a real run with something to do calls it before its first change and then
    plans again, under the lock.
    """
    planned = plan_of(resource, state)
    if planned.plan and not check_mode and lock is not None:
        lock()
        planned = plan_of(resource, state)
    return apply_planned(planned, check_mode)
