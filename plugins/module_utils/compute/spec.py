# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A server as the user declares it: the options of the ``server`` and ``server_fleet``
modules, validated against the cloud definition into the spec the compute engine plans from,
and the names of what a server owns.

Each server owns two volumes in its hypervisor's volumes pool: the root disk
``server-<name>-root.qcow2``, a qcow2 overlay on the image's base volume grown to the flavor's
disk, and the NoCloud seed ``server-<name>-seed.iso``; its ``index``-th port is
``<name>-eth<index>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

CONSOLE_DIR = '/var/log/libvirt/qemu'
POWER_STATES = ('running', 'stopped', 'paused')
POLICIES = ('affinity', 'anti-affinity')
GIB = 1024 ** 3


def validate_name(name):
    return names.server_name(name)


def root_volume_name(name):
    return 'server-%s-root.qcow2' % name


def boot_volume_name(name):
    """The data volume a server boots from with ``boot_from_volume``: ``<name>-root``."""
    return '%s-root' % name


def seed_volume_name(name):
    return 'server-%s-seed.iso' % name


def port_name(server, index):
    """The name of a server's ``index``-th port: ``<server>-eth<index>``."""
    return '%s-eth%d' % (server, index)


def console_path(name):
    return '%s/%s.console.log' % (CONSOLE_DIR, name)


def flavor_from_params(cloud, params):
    """``{name, vcpus, ram, disk}`` from a flavor name of the cloud or inline ``vcpus``/``ram``/``disk``."""
    flavor = params.get('flavor')
    inline = {key: params.get(key) for key in ('vcpus', 'ram', 'disk') if params.get(key) is not None}
    if flavor and inline:
        raise ValidationError("server '%s': give flavor or vcpus/ram/disk, not both" % params['name'])
    if flavor:
        found = cloud.flavor(flavor)
        return {'name': found.name, 'vcpus': found.vcpus, 'ram': found.ram, 'disk': found.disk}
    if 'vcpus' not in inline or 'ram' not in inline:
        raise ValidationError("server '%s': flavor is required (or inline vcpus and ram)" % params['name'])
    for key, low in (('vcpus', 1), ('ram', 64), ('disk', 0)):
        if inline.get(key, 0) < low:
            raise ValidationError("server '%s': %s must be at least %d, got %s" % (params['name'], key, low, inline[key]))
    return {'name': None, 'vcpus': inline['vcpus'], 'ram': inline['ram'], 'disk': inline.get('disk', 0)}


def networks_from_params(name, networks):
    """The server's interfaces: ``[{network, fixed_ip, security_groups, port}]`` in order."""
    out = []
    for index, entry in enumerate(networks or []):
        if isinstance(entry, str):
            entry = {'network': entry}
        if not entry.get('network'):
            raise ValidationError("server '%s': networks[%d] needs a network" % (name, index))
        groups = entry.get('security_groups')
        out.append({'network': entry['network'], 'fixed_ip': entry.get('fixed_ip'),
                    'security_groups': list(groups) if groups is not None else None,
                    'port_security': entry.get('port_security'),
                    'port': port_name(name, index)})
    return out


def spec_from_params(cloud, params):
    """The desired server, validated against the cloud definition."""
    name = validate_name(params['name'])
    project = params.get('project')
    if not project:
        raise ValidationError("server '%s': project is required" % name)
    cloud.project(project)
    if params.get('key_name'):
        cloud.keypair(params['key_name'])
    if not params.get('image'):
        raise ValidationError("server '%s': image is required" % name)
    group = params.get('server_group')
    if group:
        if isinstance(group, str):
            group = {'name': group, 'policy': 'anti-affinity'}
        if group.get('policy', 'anti-affinity') not in POLICIES:
            raise ValidationError("server '%s': server_group policy must be one of %s" % (name, ', '.join(POLICIES)))
        group = {'name': group['name'], 'policy': group.get('policy') or 'anti-affinity'}
    power_state = params.get('power_state') or 'running'
    if power_state not in POWER_STATES:
        raise ValidationError("server '%s': power_state must be one of %s" % (name, ', '.join(POWER_STATES)))
    if params.get('hypervisor'):
        cloud.hypervisor(params['hypervisor'])
    flavor = flavor_from_params(cloud, params)
    volumes = list(params.get('volumes') or [])
    if len(set(volumes)) != len(volumes):
        raise ValidationError("server '%s': a volume is listed twice" % name)
    if params.get('boot_from_volume') and boot_volume_name(name) in volumes:
        raise ValidationError("server '%s': %s is its boot volume; do not list it in volumes"
                              % (name, boot_volume_name(name)))
    return {
        'name': name, 'project': project, 'flavor': flavor, 'image': params['image'],
        'networks': networks_from_params(name, params.get('networks')), 'volumes': volumes,
        'key_name': params.get('key_name'), 'user_data': params.get('user_data'),
        'meta': dict(params.get('meta') or {}), 'tags': sorted(set(params.get('tags') or [])),
        'availability_zone': params.get('availability_zone'), 'hypervisor': params.get('hypervisor'),
        'server_group': group, 'power_state': power_state,
        'boot_from_volume': bool(params.get('boot_from_volume')),
    }


NETWORK_SPEC = dict(
    network=dict(type='str', required=True),
    fixed_ip=dict(type='str'),
    security_groups=dict(type='list', elements='str'),
    port_security=dict(type='bool'),
)

SERVER_GROUP_SPEC = dict(
    name=dict(type='str', required=True),
    policy=dict(type='str', choices=list(POLICIES), default='anti-affinity'),
)

SERVER_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    project=dict(type='str'),
    flavor=dict(type='str'),
    vcpus=dict(type='int'),
    ram=dict(type='int'),
    disk=dict(type='int'),
    image=dict(type='str'),
    networks=dict(type='list', elements='dict', options=NETWORK_SPEC, default=[]),
    volumes=dict(type='list', elements='str', default=[]),
    key_name=dict(type='str', no_log=False),
    # It may hold secrets: Ansible masks it in the invocation, results and messages.
    user_data=dict(type='raw', no_log=True),
    meta=dict(type='dict', default={}),
    tags=dict(type='list', elements='str', default=[]),
    availability_zone=dict(type='str'),
    hypervisor=dict(type='str'),
    server_group=dict(type='dict', options=SERVER_GROUP_SPEC),
    power_state=dict(type='str', choices=list(POWER_STATES), default='running'),
    boot_from_volume=dict(type='bool', default=False),
)


def validate_server_options(index, options):
    """One element of ``server_fleet``'s ``servers``: checked and completed with the defaults of
    :data:`SERVER_SPEC`, the way the ``server`` module's own options are."""
    result = ArgumentSpecValidator(SERVER_SPEC).validate(options)
    if result.error_messages:
        raise ValidationError('servers[%d]: %s' % (index, '; '.join(result.error_messages)))
    return result.validated_parameters
