# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning for the ``image`` module: pure functions from what each hypervisor holds and what
the user wants to what each hypervisor has to do.

An image is the same on every hypervisor that holds it, so one desired state is planned
against many hypervisors; a refusal on any of them refuses the whole run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import CREATE, DELETE, UPDATE, Plan

CONTENT_FIELDS = ('checksum', 'disk_format', 'size', 'virtual_size', 'base_volume')
METADATA_FIELDS = ('min_disk', 'min_ram', 'properties')
METADATA_DEFAULTS = {'min_disk': 0, 'min_ram': 0, 'properties': {}}
# Bookkeeping that is not compared and not shown in diffs.
UNCOMPARED_FIELDS = ('registered_at',)


@dataclass(frozen=True)
class Host:
    """What planning needs to know about one hypervisor."""

    entry: Optional[Dict[str, Any]] = None   # the image's catalog entry
    volumes: frozenset = frozenset()         # names of the volumes in the images pool
    # base volume -> the other images whose entries use it
    references: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    # base volume -> the domains and volumes that use it (gathered for bases that may go)
    users: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)


@dataclass
class HostPlan(Plan):
    """What one hypervisor has to do (a :class:`Plan`, false when nothing), with the steps of
    the image service."""

    upload: Optional[str] = None              # base volume to upload
    write: Optional[Dict[str, Any]] = None    # catalog entry to write
    remove_entry: bool = False
    remove_base: Optional[str] = None         # base volume to delete once the entries are done


def shown(entry):
    """An entry as diffs show it."""
    return {key: entry[key] for key in sorted(entry or {}) if key not in UNCOMPARED_FIELDS}


def _holds(host, checksum, size=None):
    entry = host.entry
    return (entry is not None and entry.get('checksum') == checksum
            and (size is None or entry.get('size') == size) and entry.get('base_volume') in host.volumes)


def needs_content(hosts, checksum, size=None):
    """Whether the content must be read (or downloaded): unless the checksum is known and every
    hypervisor holds an entry with it (and with ``size``, when given) and its base volume."""
    return checksum is None or not all(_holds(host, checksum, size) for host in hosts.values())


def content_from_catalog(hosts, checksum):
    """The content fields of an entry with ``checksum``, or None."""
    for host in hosts.values():
        if host.entry and host.entry.get('checksum') == checksum:
            return {key: host.entry.get(key) for key in CONTENT_FIELDS}
    return None


def registered_at(hosts, checksum, default):
    """When the content was first registered under this name on any hypervisor, else ``default``:
    copies of an image keep one registration time."""
    times = [host.entry.get('registered_at') for host in hosts.values()
             if host.entry and host.entry.get('checksum') == checksum and host.entry.get('registered_at')]
    return min(times) if times else default


def _orphaned_base(host, keep=None):
    """The base volume of the image's entry, when removing the entry leaves it unused by any
    other entry (and it is not ``keep``)."""
    base = host.entry.get('base_volume')
    if base and base != keep and base in host.volumes and not host.references.get(base):
        return base
    return None


def base_that_may_go(name, desired, host, force):
    """The base volume whose users planning needs to know on ``host``: the one removing or
    (with ``force``) replacing the image would delete; None when no base would go."""
    if host.entry is None:
        return None
    if desired is None:
        return _orphaned_base(host)
    if force and host.entry.get('checksum') != desired['checksum']:
        return _orphaned_base(host, keep=desired['base_volume'])
    return None


def _in_use(base, host):
    users = host.users.get(base) or ()
    return ', '.join(users) if users else None


def _plan_absent(name, host):
    if host.entry is None:
        return HostPlan(), None
    base = _orphaned_base(host)
    users = _in_use(base, host) if base else None
    if users:
        return None, ('image %s cannot be removed: its base volume %s is in use by %s' % (name, base, users))
    return HostPlan(DELETE, remove_entry=True, remove_base=base, before=shown(host.entry), after={}), None


def _new_entry(desired, current=None):
    entry = {key: desired[key] for key in ('name', 'registered_at') + CONTENT_FIELDS}
    for key in METADATA_FIELDS:
        want = desired.get(key)
        if want is None:
            want = (current or {}).get(key, METADATA_DEFAULTS[key])
        entry[key] = want
    return {key: entry[key] for key in sorted(entry)}


def _plan_present(name, desired, host, force):
    base = desired['base_volume']
    upload = base if base not in host.volumes else None
    current = host.entry
    if current is None:
        entry = _new_entry(desired)
        return HostPlan(CREATE, upload=upload, write=entry, before={}, after=shown(entry)), None
    if current.get('checksum') != desired['checksum']:
        if not force:
            return None, ('image %s is registered with checksum %s, the new content has %s; set force: true '
                          'to replace it' % (name, current.get('checksum'), desired['checksum']))
        old_base = _orphaned_base(host, keep=base)
        users = _in_use(old_base, host) if old_base else None
        if users:
            return None, ('image %s cannot be replaced: its base volume %s is in use by %s'
                          % (name, old_base, users))
        entry = _new_entry(desired, current)
    else:
        entry = _new_entry(dict(desired, registered_at=current.get('registered_at')), current)
        old_base = None
    before = {key: current.get(key) for key in sorted(entry)
              if key not in UNCOMPARED_FIELDS and current.get(key) != entry[key]}
    after = {key: entry[key] for key in before}
    if upload and not before:
        # The entry is right but its base volume went missing: restore it.
        before, after = {'base_volume_present': False}, {'base_volume_present': True}
    write = entry if set(after) - {'base_volume_present'} else None
    return HostPlan(UPDATE if upload or write or old_base else None, upload=upload, write=write,
                    remove_base=old_base, before=before, after=after), None


def plan_image(name, desired, hosts, force=False):
    """The :class:`HostPlan` of each hypervisor (``hosts``: name -> :class:`Host`).

    ``desired`` is None to remove the image, else the entry wanted: name, content fields,
    ``registered_at`` for a new entry, and metadata fields (None where the user set none: the
    current value stays). A different checksum replaces the image only with ``force``; a base
    volume that would go is never removed while in use. Any refusal raises
    :class:`ValidationError` naming every hypervisor that refused.
    """
    plans, refusals = {}, {}
    for hvname in hosts:
        if desired is None:
            plans[hvname], refusal = _plan_absent(name, hosts[hvname])
        else:
            plans[hvname], refusal = _plan_present(name, desired, hosts[hvname], force)
        if refusal:
            refusals.setdefault(refusal, []).append(hvname)
    if refusals:
        msg = '; '.join('on hypervisor%s %s: %s' % ('s' if len(names) > 1 else '', ', '.join(names), refusal)
                        for refusal, names in refusals.items())
        raise ValidationError(msg, refused_hypervisors=sorted(h for names in refusals.values() for h in names))
    return plans


def predicted_entries(hosts, plans):
    """Each hypervisor's entry after the plans ran (None where the image will be gone)."""
    result = {}
    for hvname, host in hosts.items():
        plan = plans[hvname]
        if plan.remove_entry:
            result[hvname] = None
        else:
            result[hvname] = plan.write if plan.write is not None else host.entry
    return result
