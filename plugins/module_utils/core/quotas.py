# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Projects' quotas: what a project uses, whether a request fits, a report. Pure functions.

The quotas are those of ``cloud.Project.quotas``; a missing limit or ``-1`` means unlimited.
Usage is counted from items the caller read from libvirt (servers, volumes, ports), each a
mapping with a ``project`` key. To check the creation of new items, count them the same way:
``check(project, usage(project, servers=current), usage(project, servers=new))``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

# The quotas, in the order check() looks at them.
QUOTAS = ('instances', 'cores', 'ram', 'volumes', 'gigabytes', 'ports')

UNLIMITED = -1

GIB = 1024 ** 3


def gigabytes(size):
    """A volume's size in bytes as whole GiB for the ``gigabytes`` quota, rounded up:
    a volume of 1 GiB and one byte counts as 2."""
    return -(-int(size) // GIB)


def usage(project, servers=(), volumes=(), ports=()):
    """What ``project`` (a ``cloud.Project`` or its name) uses, counted from the items whose
    ``project`` is it: ``{quota: amount}`` for every quota of :data:`QUOTAS`.

    Servers have ``vcpus`` and ``ram`` (MiB); volumes have ``size`` in bytes and each counts
    as :func:`gigabytes` of it (rounded up per volume, then summed); ports only count.
    """
    name = getattr(project, 'name', project)
    servers = [s for s in servers if s.get('project') == name]
    volumes = [v for v in volumes if v.get('project') == name]
    return {
        'instances': len(servers),
        'cores': sum(s['vcpus'] for s in servers),
        'ram': sum(s['ram'] for s in servers),
        'volumes': len(volumes),
        'gigabytes': sum(gigabytes(v['size']) for v in volumes),
        'ports': sum(1 for p in ports if p.get('project') == name),
    }


def limit(project, quota):
    """The limit of ``quota`` for ``project``: an int, or :data:`UNLIMITED` (-1)."""
    value = project.quotas.get(quota)
    return UNLIMITED if value is None or value < 0 else value


def check(project, usage, request):
    """Raise ``ValidationError`` when ``request`` would take ``project`` over a quota.

    ``usage`` and ``request`` are ``{quota: amount}``; a missing key counts as 0. The quotas
    are looked at in the order of :data:`QUOTAS` and the message names the first one
    exceeded; ``details['exceeded']`` lists them all as ``{quota, limit, in_use, requested}``.
    An unlimited quota never fails, nor does a request of 0 (even when the project is already
    over that limit, as after a lowered quota).
    """
    unknown = sorted(set(request) - set(QUOTAS))
    if unknown:
        raise KvmcloudError('unknown quota %s; the quotas are: %s' % (', '.join(unknown), ', '.join(QUOTAS)))
    exceeded = []
    for quota in QUOTAS:
        requested = request.get(quota) or 0
        allowed = limit(project, quota)
        in_use = usage.get(quota) or 0
        if requested > 0 and allowed != UNLIMITED and in_use + requested > allowed:
            exceeded.append({'quota': quota, 'limit': allowed, 'in_use': in_use, 'requested': requested})
    if exceeded:
        first = exceeded[0]
        raise ValidationError("quota exceeded for project '%s': %s limit %d, in use %d, requested %d"
                              % (project.name, first['quota'], first['limit'], first['in_use'], first['requested']),
                              project=project.name, exceeded=exceeded)


def report(project, usage):
    """``{quota: {'limit', 'in_use', 'remaining'}}`` for every quota of :data:`QUOTAS`.

    ``limit`` is -1 when unlimited, and ``remaining`` is then ``None``; otherwise ``remaining``
    is what is left, 0 when the project is at or over its limit.
    """
    result = {}
    for quota in QUOTAS:
        allowed = limit(project, quota)
        in_use = usage.get(quota) or 0
        result[quota] = {
            'limit': allowed,
            'in_use': in_use,
            'remaining': None if allowed == UNLIMITED else max(allowed - in_use, 0),
        }
    return result
