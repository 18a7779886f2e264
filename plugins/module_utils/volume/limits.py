# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a new or grown volume must fit in, checked before anything is written (check mode
alike): its project's ``volumes`` and ``gigabytes`` quotas, counted over every hypervisor of
the cloud, and its pool's capacity times the hypervisor's ``disk_allocation_ratio``.

As in Cinder, ``gigabytes`` counts data volumes (boot volumes included), not servers' own root
disks: those are not data volumes (:func:`.volumes.usage_on`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import usage_on


def project_usage(cm, project, what):
    """``{quota: amount}`` of ``project``'s volumes over every hypervisor of the cloud. An
    unreachable hypervisor is an error that names it: what it holds cannot be counted, so a
    quota could be passed unseen."""
    results, unreachable = map_reachable(cm, usage_on, cm.cloud.hypervisors,
                                         "counting the volumes of project '%s'" % project.name)
    if unreachable:
        raise KvmcloudError("%s: the quotas of project '%s' cannot be checked while a hypervisor of the cloud is "
                            "unreachable, since the volumes there count too: %s; run again when it is reachable, or "
                            "remove it from the cloud definition" % (what, project.name, '; '.join(
                                reason for _name, reason in sorted(unreachable.items()))),
                            unreachable_hypervisors=sorted(unreachable))
    return quotas.usage(project, volumes=[entry for _hv, listed in results for entry in listed])


def check_quotas(cm, project_name, what, volumes=0, gigabytes=0):
    """Refuse ``volumes`` more volumes and ``gigabytes`` more GiB for the project when they take
    it over its quota. Usage is read only when a limit applies."""
    if not project_name:
        return
    project = cm.cloud.project(project_name)
    request = {'volumes': volumes, 'gigabytes': gigabytes}
    if all(not request[q] or quotas.limit(project, q) == quotas.UNLIMITED for q in request):
        return
    used = project_usage(cm, project, what)
    try:
        quotas.check(project, used, request)
    except ValidationError as err:
        raise ValidationError('%s: %s; delete volumes of the project or raise its quota in the cloud definition'
                              % (what, err.msg), **err.details)


def check_capacity(h, pool, what, adding):
    """Refuse ``adding`` bytes of virtual size to ``pool`` of hypervisor ``h`` when the virtual
    sizes of its volumes would pass its capacity times the hypervisor's disk allocation ratio
    (the ratio placement applies to servers' disks)."""
    capacity = pool.info()[1]
    ratio = h.hv.disk_allocation_ratio
    allowed = int(capacity * ratio)
    held = sum(vol.info()[1] for vol in pool.listAllVolumes(0))
    if held + adding > allowed:
        raise ValidationError('%s: the pool %s on hypervisor %s cannot take %d more bytes: its volumes already '
                              'have %d bytes of virtual size and it allows %d (capacity %d x disk_allocation_ratio '
                              '%s); use a smaller size or another hypervisor, free the pool, or raise the '
                              "hypervisor's disk_allocation_ratio"
                              % (what, pool.name(), h.name, adding, held, allowed, capacity, ratio),
                              pool=pool.name(), hypervisor=h.name, requested=adding, allocated=held, allowed=allowed)
