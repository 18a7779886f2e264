# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What bringing the whole cloud up would change, in one module run: the ``cloud_plan`` module.

Each image, network, security group, port and volume is planned by its own module's function,
and the servers by the compute engine, all in check mode, in one process that reads each
hypervisor through one connection. Check mode predicts exactly what a real run does (every
state module's promise), so a bring-up (playbooks/site.yml) runs a role's module only for the
items this reports as pending: a re-run with nothing to do pays one module run, not one per
resource, and drift is still repaired.

An item whose plan cannot be made (its network does not exist yet, a quota is exceeded, a
hypervisor cannot be reached) is pending, with the reason: the real run then decides, and
reports any error itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.fleet import FLEET_ARGUMENT_SPEC, run_server_fleet
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.service import (
    IMAGE_ARGUMENT_SPEC, IMAGE_MODULE_OPTIONS, run_image)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.networks import NETWORK_ARGUMENT_SPEC, run_network
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.ports import PORT_ARGUMENT_SPEC, run_port
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.secgroups import (
    SECURITY_GROUP_ARGUMENT_SPEC, run_security_group)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import VOLUME_ARGUMENT_SPEC, run_volume

# Each kind of item: its option, the keys of an item the role that manages it passes on to
# the module (any other key of an item is ignored, as the role ignores it), the module's
# argument spec and options, and its function.
KINDS = (
    ('images', ('name', 'filename', 'url', 'checksum', 'disk_format', 'min_disk', 'min_ram', 'properties',
                'hypervisors', 'force'), IMAGE_ARGUMENT_SPEC, IMAGE_MODULE_OPTIONS, run_image),
    ('networks', ('name', 'mode', 'bridge', 'mtu', 'subnet', 'dns_hosts', 'hypervisors', 'recreate'),
     NETWORK_ARGUMENT_SPEC, {}, run_network),
    ('security_groups', ('name', 'rules', 'hypervisors'), SECURITY_GROUP_ARGUMENT_SPEC, {}, run_security_group),
    ('ports', ('name', 'network', 'project', 'fixed_ip', 'mac_address', 'hostname', 'security_groups', 'hypervisors'),
     PORT_ARGUMENT_SPEC, {}, run_port),
    ('volumes', ('name', 'size', 'project', 'image', 'clone', 'format', 'hypervisor'), VOLUME_ARGUMENT_SPEC, {},
     run_volume),
)


class _Check:
    """The module wrapper as one module of a bring-up sees it: its own options, check mode, and
    the run's cloud definition and connections."""

    def __init__(self, cm, params):
        self.params = params
        self.check_mode = True
        self.cloud = cm.cloud
        self.connections = cm.connections
        self.module = cm.module
        self.wait = False
        self.wait_timeout = 0
        self.allow_unreachable = False
        self.warn = cm.warn


def plan_one(cm, spec, options, func, params):
    """``(pending, diff, reason)`` of one module run with ``params``, planned in check mode."""
    result = ArgumentSpecValidator(spec, **options).validate(params)
    if result.error_messages:
        return True, {}, '; '.join(result.error_messages)
    try:
        outcome = func(_Check(cm, result.validated_parameters))
    except KvmcloudError as err:
        return True, {}, err.msg
    return bool(outcome['changed']), outcome.get('diff') or {}, None


def run_cloud_plan(cm):
    """The ``cloud_plan`` module: which items of each kind a bring-up would change."""
    pending, plans, reasons = {}, {}, {}
    for kind, keys, spec, options, func in KINDS:
        pending[kind] = []
        for item in cm.params[kind]:
            params = dict({key: item[key] for key in keys if item.get(key) is not None}, state='present')
            changes, diff, reason = plan_one(cm, spec, options, func, params)
            if changes:
                name = item.get('name')
                pending[kind].append(name)
                plans.setdefault(kind, {})[name] = diff
                if reason:
                    reasons.setdefault(kind, {})[name] = reason
    pending['servers'] = False
    if cm.params['servers'] is not None:
        params = {'servers': cm.params['servers'], 'project': cm.params['project'] or None,
                  'exclusive': cm.params['exclusive']}
        pending['servers'], diff, reason = plan_one(cm, FLEET_ARGUMENT_SPEC, {}, run_server_fleet, params)
        if pending['servers']:
            plans['servers'] = diff
        if reason:
            reasons['servers'] = reason
    return {'changed': False, 'pending': pending, 'plans': plans, 'reasons': reasons}
