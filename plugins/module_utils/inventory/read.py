# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the inventory plugin reads of the cloud: every server as ``server_info`` lists it
(:func:`~..compute.info.listed_servers`: one bulk read per hypervisor, hypervisors in
parallel), and the default user of each image they run, from the catalog of the hypervisor
they run on. It returns plain data, which the plugin caches."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.info import listed_servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import find_image

# The image property that names the user to log in as (cloud-init's default user).
DEFAULT_USER_PROPERTY = 'default_user'


def default_users(h, servers):
    """``{image: user}`` of the images ``servers`` run, for those whose catalog entry on
    hypervisor ``h`` sets the ``default_user`` property: one catalog entry read per image."""
    users = {}
    for image in sorted({server['image'] for server in servers if server.get('image')}):
        entry = find_image(h, image)
        user = ((entry or {}).get('properties') or {}).get(DEFAULT_USER_PROPERTY)
        if user:
            users[image] = str(user)
    return users


def read_hypervisor(h):
    """The servers of one hypervisor and the default users of their images."""
    servers = listed_servers(h)
    return {'servers': servers, 'default_users': default_users(h, servers)}


def read_cloud(cm):
    """Every server of every reachable hypervisor of the cloud, sorted by name:
    ``{servers, default_users: {hypervisor: {image: user}}, unreachable: {hypervisor: reason}}``.
    A server name found on two hypervisors is an error: it would be one host twice."""
    results, unreachable = map_reachable(cm, read_hypervisor, cm.cloud.hypervisors, 'reading the servers')
    servers, users = {}, {}
    for hv, found in results:
        users[hv.name] = found['default_users']
        for server in found['servers']:
            if server['name'] in servers:
                raise KvmcloudError('server %s exists on hypervisors %s and %s; remove one of them'
                                    % (server['name'], servers[server['name']]['hypervisor'], hv.name))
            servers[server['name']] = server
    return {'servers': [servers[name] for name in sorted(servers)], 'default_users': users,
            'unreachable': unreachable}
