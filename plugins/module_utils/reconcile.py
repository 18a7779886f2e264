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

from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError

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
    """What a run will do. It is false when there is nothing to do."""

    action: Optional[str] = None
    changes: List[Change] = field(default_factory=list)
    before: Optional[Dict[str, Any]] = None
    after: Optional[Dict[str, Any]] = None

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
        """``before``/``after`` of what differs: whole resources on create or delete."""
        if self.action == UPDATE:
            return {'before': {c.field: c.before for c in self.changes},
                    'after': {c.field: c.after for c in self.changes}}
        return {'before': self.before or {}, 'after': self.after or {}}


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


def reconcile(resource, state, check_mode):
    """Run find -> normalise -> plan -> apply unless check mode -> re-read for ``resource``."""
    raw = resource.find()
    current = resource.normalise(raw) if raw is not None else None
    desired = resource.desired() if state != 'absent' else None
    the_plan = plan(current, desired, state=state, set_fields=resource.set_fields, modes=resource.modes)
    resource.check(the_plan)
    if the_plan.needs_rebuild and not resource.allows_rebuild():
        raise ValidationError(
            'changing %s needs the resource to be recreated; set %s: true to allow it'
            % (', '.join(the_plan.fields(REBUILD)), resource.rebuild_option),
            diff=the_plan.diff())
    if the_plan and not check_mode:
        if the_plan.action == CREATE:
            resource.create(desired)
        elif the_plan.action == DELETE:
            resource.delete(raw)
        else:
            resource.update(raw, the_plan)
        raw = resource.find()
    if check_mode or raw is None:
        described = the_plan.after if the_plan else (current or {})
    else:
        described = resource.describe(raw)
    result = dict(changed=bool(the_plan), diff=the_plan.diff(), resource=described or {})
    if the_plan.reboot_required:
        result['reboot_required'] = True
    return result
