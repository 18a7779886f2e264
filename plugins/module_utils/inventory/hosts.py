# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory plugin's hosts, from what :mod:`.read` read (pure): each server's host
variables and the groups it is in. Group names come out as they are; the plugin sanitises
them as Ansible does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import urlsplit

# The group every server of the cloud is in.
ALL_SERVERS_GROUP = 'kvmcloud'
# The host variable that holds the server as server_info returns it.
SERVER_VAR = 'kvmcloud'


def selected(servers, projects=None):
    """The servers of the ``projects`` named (all without a filter)."""
    return [server for server in servers if not projects or server.get('project') in projects]


def group_names(server):
    """The groups of ``server`` (a ``server_info`` entry), unsanitised, without repeats:
    ``kvmcloud``, ``project_<name>``, ``flavor_<name>``, ``image_<name>``,
    ``hypervisor_<name>``, ``zone_<name>``, ``state_<running|stopped|paused>``, ``tag_<tag>``
    for each tag, ``server_group_<name>`` and ``meta_<key>_<value>`` for each meta item."""
    groups = [ALL_SERVERS_GROUP]
    for kind, value in (('project', server.get('project')), ('flavor', (server.get('flavor') or {}).get('name')),
                        ('image', server.get('image')), ('hypervisor', server.get('hypervisor')),
                        ('zone', server.get('zone')), ('state', server.get('power_state')),
                        ('server_group', (server.get('server_group') or {}).get('name'))):
        if value:
            groups.append('%s_%s' % (kind, value))
    groups.extend('tag_%s' % tag for tag in server.get('tags') or [])
    groups.extend('meta_%s_%s' % (key, value) for key, value in sorted((server.get('meta') or {}).items()))
    return list(dict.fromkeys(groups))


def host_address(server, network=None):
    """The fixed address to reach ``server`` at: its first port's, or that of its port on
    ``network``; None when it has no such port."""
    ports = [port for port in server.get('ports') or [] if network is None or port.get('network') == network]
    return ports[0].get('ip') if ports else None


def proxy_jump(uri):
    """The SSH ``ProxyJump`` destination (``[user@]host[:port]``) of a hypervisor reached over
    SSH (``qemu+ssh://``), or None for any other URI."""
    parts = urlsplit(uri)
    if not parts.scheme.endswith('+ssh') or not parts.hostname:
        return None
    host = '[%s]' % parts.hostname if ':' in parts.hostname else parts.hostname
    return '%s%s%s' % ('%s@' % parts.username if parts.username else '', host,
                       ':%d' % parts.port if parts.port else '')


def host_vars(server, default_users, network=None, jump=None, known_hosts=None):
    """The host variables of ``server``: ``kvmcloud`` (the server as ``server_info`` returns
    it), ``ansible_host`` (see :func:`host_address`) when it has an address, ``ansible_user``
    when its image names a default user on its hypervisor (``default_users``:
    ``{hypervisor: {image: user}}``), and ``ansible_ssh_common_args`` with a ``ProxyJump``
    through ``jump`` when given (see :func:`proxy_jump`) and a ``UserKnownHostsFile`` of
    ``known_hosts`` (a path) when given and the server's host keys are known."""
    out = {SERVER_VAR: server}
    address = host_address(server, network)
    if address:
        out['ansible_host'] = address
    user = (default_users.get(server.get('hypervisor')) or {}).get(server.get('image'))
    if user:
        out['ansible_user'] = user
    args = []
    if jump:
        args.append('-o ProxyJump=%s' % jump)
    if known_hosts and address and server.get('host_keys'):
        args.append('-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes' % known_hosts)
    if args:
        out['ansible_ssh_common_args'] = ' '.join(args)
    return out


def known_hosts_lines(servers, network=None):
    """The known_hosts lines (``<address> <type> <key>``) of ``servers`` with an address and
    recorded host keys, sorted by address, each line once."""
    lines = set()
    for server in servers:
        address = host_address(server, network)
        for key in server.get('host_keys') or () if address else ():
            lines.add('%s %s' % (address, key))
    return sorted(lines)
