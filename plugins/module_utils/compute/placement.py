# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nova-style scheduling: which hypervisor hosts each new server. Pure and deterministic.

The caller reads every hypervisor (capacity, the servers already on it) and builds one
:class:`Host` per hypervisor, usually with :func:`host_from`; :func:`place` then filters the
hosts for each :class:`Request` and weighs the rest. Nothing here talks to libvirt and the
hosts given are never changed.

Capacity follows Nova's allocation ratios::

    free vCPUs = vcpus * cpu_ratio - reserved_vcpus - used_vcpus
    free RAM   = ram_mb * ram_ratio - reserved_ram_mb - used_ram_mb
    free disk  = disk_gb * disk_ratio - reserved_disk_gb - used_disk_gb

Filters, in order, each with a short reason: unreachable, disabled, not the pinned hypervisor
(left out of the reasons), another zone, RAM, vCPUs, disk, affinity, anti-affinity. The hosts
left are weighed by their free RAM after the placement, most first (spread); ties go to the
host name that sorts first, so the same input always gives the same answer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import dataclass, field, replace
from typing import Dict, Optional

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

AFFINITY = 'affinity'
ANTI_AFFINITY = 'anti-affinity'
POLICIES = (AFFINITY, ANTI_AFFINITY)


class PlacementError(ValidationError):
    """No hypervisor can host a server.

    ``details``: ``server`` (the request's name), ``reasons`` (``{host: reason}`` for every
    host considered, the pinned one only when the request is pinned) and ``skipped``
    (``{host: reason}`` for the unreachable hosts).
    """


@dataclass
class Host:
    """One hypervisor as the scheduler sees it.

    ``disk_gb`` is the capacity of the pool that holds the servers' disks; ``used_*`` is what
    the servers already on the host are allocated; ``groups`` maps a server group's name to
    the set of its members on this host.
    """

    name: str
    zone: str
    enabled: bool
    vcpus: int
    ram_mb: int
    disk_gb: float
    cpu_ratio: float = 4.0
    ram_ratio: float = 1.0
    disk_ratio: float = 1.0
    reserved_vcpus: int = 0
    reserved_ram_mb: int = 512
    reserved_disk_gb: float = 0
    used_vcpus: int = 0
    used_ram_mb: int = 0
    used_disk_gb: float = 0
    groups: dict = field(default_factory=dict)
    reachable: bool = True
    unreachable_reason: str = ''

    @property
    def free_vcpus(self):
        return self.vcpus * self.cpu_ratio - self.reserved_vcpus - self.used_vcpus

    @property
    def free_ram_mb(self):
        return self.ram_mb * self.ram_ratio - self.reserved_ram_mb - self.used_ram_mb

    @property
    def free_disk_gb(self):
        return self.disk_gb * self.disk_ratio - self.reserved_disk_gb - self.used_disk_gb

    def copy(self):
        """A copy whose group member sets can change without touching this host's."""
        return replace(self, groups={group: set(members) for group, members in self.groups.items()})


@dataclass
class Request:
    """One server to place.

    ``hypervisor`` pins the server to that host (an admin's choice): only it is considered,
    and the filters still apply. ``policy`` (``affinity`` or ``anti-affinity``) applies to the
    members of ``server_group``.
    """

    name: str
    vcpus: int
    ram_mb: int
    disk_gb: float
    zone: Optional[str] = None
    hypervisor: Optional[str] = None
    server_group: Optional[str] = None
    policy: Optional[str] = None

    def describe(self):
        """``2 vCPUs, 2048 MiB RAM, 10 GiB disk``, for messages."""
        return '%s vCPU%s, %s MiB RAM, %s GiB disk' % (
            _number(self.vcpus), '' if self.vcpus == 1 else 's', _number(self.ram_mb), _number(self.disk_gb))


@dataclass
class Placement:
    """What :func:`place` returns.

    ``assignments``: ``{server: host}`` in the order of the requests. ``skipped``:
    ``{host: reason}`` for the unreachable hosts, so the caller can report that they were not
    considered. ``hosts``: ``{host: Host}`` as they are after the placements (usage and group
    members included).
    """

    assignments: Dict[str, str]
    skipped: Dict[str, str]
    hosts: Dict[str, Host]


def host_from(hypervisor, vcpus=0, ram_mb=0, disk_gb=0, used_vcpus=0, used_ram_mb=0, used_disk_gb=0,
              groups=None, reachable=True, reason=''):
    """A :class:`Host` for a ``cloud.Hypervisor``: its zone, state, ratios and reserved
    resources, with the capacity and usage the caller read.

    ``vcpus``, ``ram_mb`` and ``disk_gb`` are the host's totals (disk: the pool the servers'
    disks live in); ``used_*`` sums the servers already on it; ``groups`` is ``{server group:
    members on this host}``. A host that could not be read is ``reachable=False`` with the
    ``reason``: it is skipped whatever its capacity.
    """
    return Host(
        name=hypervisor.name,
        zone=hypervisor.zone,
        enabled=hypervisor.enabled,
        vcpus=vcpus,
        ram_mb=ram_mb,
        disk_gb=disk_gb,
        cpu_ratio=hypervisor.cpu_allocation_ratio,
        ram_ratio=hypervisor.ram_allocation_ratio,
        disk_ratio=hypervisor.disk_allocation_ratio,
        reserved_vcpus=hypervisor.reserved_host_cpus,
        reserved_ram_mb=hypervisor.reserved_host_memory_mb,
        reserved_disk_gb=hypervisor.reserved_host_disk_gb,
        used_vcpus=used_vcpus,
        used_ram_mb=used_ram_mb,
        used_disk_gb=used_disk_gb,
        groups={group: set(members) for group, members in (groups or {}).items()},
        reachable=reachable,
        unreachable_reason=reason or '',
    )


def place(requests, hosts):
    """Place the requests, in the order given, and return a :class:`Placement`.

    Each placement consumes the host's capacity and adds the server to its group before the
    next request is placed. The first request no host can take raises :class:`PlacementError`
    with the reason each host was refused; nothing is placed then.
    """
    requests = list(requests)
    _check_requests(requests)
    state = {}
    for host in hosts:
        if host.name in state:
            raise ValidationError('hypervisor %s is given twice to the scheduler' % host.name)
        state[host.name] = host.copy()
    ordered = [state[name] for name in sorted(state)]
    skipped = {host.name: _unreachable(host) for host in ordered if not host.reachable}
    assignments = {}
    for request in requests:
        if request.hypervisor is not None and request.hypervisor not in state:
            raise PlacementError("server '%s' is pinned to hypervisor %s, which is not one of: %s"
                                 % (request.name, request.hypervisor, ', '.join(sorted(state)) or 'none'),
                                 server=request.name, reasons={}, skipped=skipped)
        fits = []
        reasons = {}
        for host in ordered:
            if request.hypervisor is not None and host.name != request.hypervisor:
                continue
            reason = refusal(host, request, state.values())
            if reason:
                reasons[host.name] = reason
            else:
                fits.append(host)
        if not fits:
            raise _no_host(request, reasons, skipped)
        chosen = min(fits, key=lambda h: (-(h.free_ram_mb - request.ram_mb), h.name))
        _consume(chosen, request)
        assignments[request.name] = chosen.name
    return Placement(assignments=assignments, skipped=skipped, hosts=state)


def refusal(host, request, hosts=()):
    """Why ``host`` cannot take ``request`` (the first filter that fails), or ``''``.

    ``hosts`` are all the hosts, for the affinity filter: where the group's members are. The
    pin is not checked here: :func:`place` considers the pinned host only.
    """
    if not host.reachable:
        return _unreachable(host)
    if not host.enabled:
        return 'disabled'
    if request.zone is not None and host.zone != request.zone:
        return 'in zone %s, not %s' % (host.zone, request.zone)
    for what, free, wanted, unit in (('RAM', host.free_ram_mb, request.ram_mb, ' MiB'),
                                     ('vCPUs', host.free_vcpus, request.vcpus, ''),
                                     ('disk', host.free_disk_gb, request.disk_gb, ' GiB')):
        if free < wanted:
            return 'free %s %s%s < %s%s requested' % (what, _number(free), unit, _number(wanted), unit)
    group = request.server_group
    if group and request.policy == AFFINITY:
        elsewhere = {other.name: _members(other, group, request) for other in hosts if other.name != host.name}
        elsewhere = {name: members for name, members in elsewhere.items() if members}
        if elsewhere and not _members(host, group, request):
            return "affinity: server group '%s' is on other hosts: %s" % (
                group, '; '.join('%s on %s' % (', '.join(members), name) for name, members in sorted(elsewhere.items())))
    if group and request.policy == ANTI_AFFINITY:
        here = _members(host, group, request)
        if here:
            return "anti-affinity: server group '%s' already has %s here" % (group, ', '.join(here))
    return ''


def _members(host, group, request):
    """The sorted members of ``group`` on ``host``, the request itself left out."""
    return sorted(set(host.groups.get(group, ())) - {request.name})


def _unreachable(host):
    return 'unreachable: %s' % host.unreachable_reason if host.unreachable_reason else 'unreachable'


def _consume(host, request):
    host.used_vcpus += request.vcpus
    host.used_ram_mb += request.ram_mb
    host.used_disk_gb += request.disk_gb
    if request.server_group:
        host.groups.setdefault(request.server_group, set()).add(request.name)


def _no_host(request, reasons, skipped):
    pinned = ', pinned to %s' % request.hypervisor if request.hypervisor is not None else ''
    because = '; '.join('%s: %s' % (name, reason) for name, reason in sorted(reasons.items()))
    return PlacementError("no hypervisor can host server '%s' (%s%s): %s"
                          % (request.name, request.describe(), pinned, because or 'no hypervisors'),
                          server=request.name, reasons=reasons, skipped=skipped)


def _check_requests(requests):
    """Refuse requests that cannot mean anything: duplicates, negative sizes, bad policies."""
    names = set()
    policies = {}
    for request in requests:
        if request.name in names:
            raise ValidationError("server '%s' is requested twice" % request.name)
        names.add(request.name)
        for attr in ('vcpus', 'ram_mb', 'disk_gb'):
            if getattr(request, attr) < 0:
                raise ValidationError("server '%s': %s must not be negative, got %s"
                                      % (request.name, attr, getattr(request, attr)))
        if request.policy is not None and request.policy not in POLICIES:
            raise ValidationError("server '%s': unknown server group policy %r; use one of: %s"
                                  % (request.name, request.policy, ', '.join(POLICIES)))
        if request.policy is not None and not request.server_group:
            raise ValidationError("server '%s': policy %s needs a server group" % (request.name, request.policy))
        if request.server_group:
            seen = policies.setdefault(request.server_group, request.policy)
            if seen != request.policy:
                raise ValidationError("server group '%s' is requested with policies %s and %s"
                                      % (request.server_group, seen, request.policy))


def _number(value):
    """``2048`` for 2048.0, ``1.5`` for 1.5: sizes in messages without a useless ``.0``."""
    if float(value).is_integer():
        return '%d' % value
    return ('%.2f' % value).rstrip('0').rstrip('.')
