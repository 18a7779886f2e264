# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: kvmcloud
short_description: The servers of a kvmcloud cloud as inventory hosts
version_added: 0.1.0
description:
  - Lists the servers of every reachable hypervisor of the cloud as hosts, read from their
    domains' metadata exactly as M(kvmcloud.cloud.server_info) reads them (one bulk read per
    hypervisor, hypervisors in parallel), so that a play can configure the servers an earlier
    play made.
  - The configuration file's name must end in C(kvmcloud.yml) or C(kvmcloud.yaml), and it must
    set O(plugin) to V(kvmcloud.cloud.kvmcloud).
  - "Host variables: C(kvmcloud), the server as M(kvmcloud.cloud.server_info) returns it;
    C(ansible_host), the fixed address of the server's first port, or of its port on
    O(network) (a server with no such port has none); C(ansible_user), the C(default_user)
    property of the server's image in the image catalog of its hypervisor, when the image has
    it."
  - "Groups: C(kvmcloud) (every server), C(project_<name>), C(flavor_<name>), C(image_<name>),
    C(hypervisor_<name>), C(zone_<zone of its hypervisor>), C(state_<running|stopped|paused>),
    C(tag_<tag>) for each tag, C(server_group_<name>) and C(meta_<key>_<value>) for each meta
    item. Any character that is not a letter, a digit or C(_) becomes C(_), for example
    C(flavor_m1_tiny)."
  - "The power states are the collection's: libvirt's C(running), C(blocked) and C(shutdown) (shutting
    down) are V(running), C(paused) and C(pmsuspended) are V(paused), and C(shutoff),
    C(crashed) and C(nostate) are V(stopped)."
  - A hypervisor that cannot be reached is a warning that names it, and its servers are not
    listed; with O(fail_on_errors=true) it fails the inventory. Any other error on a reachable
    hypervisor fails it.
  - With O(cache=true), the servers read are kept by the cache plugin and a later run within
    O(cache_timeout) reads them from there without connecting to any hypervisor. A read that
    missed an unreachable hypervisor is not cached.
extends_documentation_fragment:
  - kvmcloud.cloud.cloud
  - constructed
  - inventory_cache
author:
  - kvmcloud developers (@kvmcloud)
options:
  cloud:
    description:
      - The cloud definition, the same structure as the modules' O(cloud) option, validated the
        same way.
      - Exactly one of O(cloud) and O(cloud_file) must be set.
    required: false
  cloud_file:
    description:
      - A YAML file whose C(kvmcloud_cloud) key holds the cloud definition, for example the
        C(group_vars/all/cloud.yml) of the inventory the cloud's playbooks use. A relative path
        is relative to the directory of this configuration file.
      - Vault-encrypted values and vault-encrypted files are decrypted with the vault secrets
        given to Ansible. Jinja2 templates are not evaluated; a value that holds one is refused.
    type: str
  fail_on_errors:
    description:
      - Fail when a hypervisor cannot be reached, instead of a warning and the servers of the
        others.
    type: bool
    default: false
  network:
    description:
      - The network whose port gives C(ansible_host). A server with no port on it has no
        C(ansible_host).
      - Default the server's first port.
    type: str
  plugin:
    description: Marks the file as a configuration of this plugin.
    type: str
    required: true
    choices: [kvmcloud.cloud.kvmcloud]
  projects:
    description: Only the servers of these projects of the cloud definition. Default every server.
    type: list
    elements: str
    default: []
  known_hosts_file:
    description:
      - Write the SSH host keys of the servers (those a wait for cloud-init recorded, see
        O(kvmcloud.cloud.server#module:wait_for_cloud_init)) to this file in known_hosts format,
        one line per address and key, and give those servers C(ansible_ssh_common_args) with
        C(UserKnownHostsFile) set to it and C(StrictHostKeyChecking=yes), so host key checking stays
        on. Relative to the inventory file's directory. The file is rewritten on every run.
    type: str
  ssh_proxy_jump:
    description:
      - Reach the servers of a hypervisor whose URI is C(qemu+ssh://[user@]host[:port]/...)
        through that host with SSH's C(ProxyJump), set in C(ansible_ssh_common_args). Servers of
        other hypervisors are not given the variable.
    type: bool
    default: false
notes:
  - The cache holds the servers as read; O(projects), O(network), O(compose), O(groups) and
    O(keyed_groups) are applied to them on every run, cached or not.
'''

EXAMPLES = r'''
# servers.kvmcloud.yml: the servers of the cloud that inventories/local defines.
# ansible-inventory -i servers.kvmcloud.yml --graph
plugin: kvmcloud.cloud.kvmcloud
cloud_file: ../local/group_vars/all/cloud.yml
projects: [demo]
network: demo-net
keyed_groups:
  - key: kvmcloud.meta.tier | default(omit)
    prefix: tier
groups:
  web: "'web' in kvmcloud.tags"
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"

---
# The cloud inline, servers cached for ten minutes in JSON files.
plugin: kvmcloud.cloud.kvmcloud
cloud:
  hypervisors:
    - name: hv1
      uri: qemu+ssh://root@hv1.example.org/system
      zone: rack1
ssh_proxy_jump: true
fail_on_errors: true
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/kvmcloud-inventory
cache_timeout: 600
'''

import os
from collections.abc import Mapping

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.session import ControllerSession
from ansible_collections.kvmcloud.cloud.plugins.module_utils.inventory.hosts import (
    group_names, host_vars, known_hosts_lines, proxy_jump, selected)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.inventory.read import read_cloud

CLOUD_FILE_KEY = 'kvmcloud_cloud'
CONFIG_SUFFIXES = ('kvmcloud.yml', 'kvmcloud.yaml')


def plain(value, where):
    """``value`` as plain Python data: decrypted vault values and untagged strings, which the
    cloud definition's validation and the cache take. A Jinja2 template is refused, since it is
    not evaluated here."""
    if isinstance(value, Mapping):
        return {str(key): plain(item, '%s.%s' % (where, key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, '%s[%d]' % (where, index)) for index, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if '{{' in text or '{%' in text:
        raise AnsibleParserError('%s is a Jinja2 template (%s), which the kvmcloud inventory does not evaluate; '
                                 'give the value itself' % (where, text))
    return text


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """The servers of the cloud as hosts, grouped by what they are."""

    NAME = 'kvmcloud.cloud.kvmcloud'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(CONFIG_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        try:
            session = ControllerSession(self._cloud_option(path))
            try:
                for project in self.get_option('projects'):
                    session.cloud.project(project)
                found = self._servers(session, path, cache)
            finally:
                session.close()
        except KvmcloudError as err:
            raise AnsibleParserError('kvmcloud inventory %s: %s' % (path, err.msg))
        for message in session.warnings:
            self.display.warning(message)
        self._populate(found, session.cloud, path)

    def _cloud_option(self, path):
        """The cloud definition from O(cloud) or O(cloud_file), as plain data."""
        inline, cloud_file = self.get_option('cloud'), self.get_option('cloud_file')
        if (inline is None) == (cloud_file is None):
            raise AnsibleParserError('kvmcloud inventory %s: set exactly one of cloud and cloud_file' % path)
        if inline is not None:
            return plain(inline, 'cloud')
        cloud_file = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(cloud_file))
        try:
            data = self.loader.load_from_file(cloud_file)
        except Exception as err:  # the loader's errors have no common base but Exception
            raise AnsibleParserError('kvmcloud inventory %s: cannot read cloud_file %s: %s' % (path, cloud_file, err))
        if not isinstance(data, Mapping) or CLOUD_FILE_KEY not in data:
            raise AnsibleParserError('kvmcloud inventory %s: cloud_file %s has no %s key holding the cloud definition'
                                     % (path, cloud_file, CLOUD_FILE_KEY))
        return plain(data[CLOUD_FILE_KEY], CLOUD_FILE_KEY)

    def _servers(self, session, path, cache):
        """What :func:`read_cloud` returns: from the cache when it is on and holds it, else read
        (and cached when every hypervisor answered)."""
        use_cache = self.get_option('cache')
        key = self.get_cache_key(path)
        if use_cache and cache:
            try:
                return self._cache[key]
            except KeyError:
                pass
        found = read_cloud(session)
        self._check_reachable(found, path)
        if use_cache and not found['unreachable']:
            self._cache[key] = found
        return found

    def _check_reachable(self, found, path):
        if not found['unreachable']:
            return
        names = sorted(found['unreachable'])
        message = ('kvmcloud inventory %s: hypervisor%s %s could not be reached, so %s servers are not listed: %s'
                   % (path, 's' if len(names) > 1 else '', ', '.join(names), 'their' if len(names) > 1 else 'its',
                      '; '.join(found['unreachable'][name] for name in names)))
        if self.get_option('fail_on_errors'):
            raise AnsibleParserError(message)
        self.display.warning(message)

    def _known_hosts(self, path, servers, network):
        """Write O(known_hosts_file) with the servers' host keys; its path, or None."""
        known_hosts = self.get_option('known_hosts_file')
        if not known_hosts:
            return None
        known_hosts = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(known_hosts))
        text = ''.join(line + '\n' for line in known_hosts_lines(servers, network))
        try:
            os.makedirs(os.path.dirname(known_hosts), exist_ok=True)
            with open(known_hosts + '.tmp', 'w', encoding='utf-8') as out:
                out.write(text)
            os.replace(known_hosts + '.tmp', known_hosts)
        except OSError as err:
            raise AnsibleParserError('kvmcloud inventory %s: cannot write known_hosts_file %s: %s' % (path, known_hosts, err))
        return known_hosts

    def _populate(self, found, cloud, path):
        network, strict = self.get_option('network'), self.get_option('strict')
        jumps = {hv.name: proxy_jump(hv.uri) for hv in cloud.hypervisors} if self.get_option('ssh_proxy_jump') else {}
        servers = selected(found['servers'], self.get_option('projects'))
        known_hosts = self._known_hosts(path, servers, network)
        for server in servers:
            name = server['name']
            self.inventory.add_host(name)
            variables = host_vars(server, found['default_users'], network=network,
                                  jump=jumps.get(server['hypervisor']), known_hosts=known_hosts)
            for var, value in variables.items():
                self.inventory.set_variable(name, var, value)
            for group in group_names(server):
                self.inventory.add_child(self.inventory.add_group(to_safe_group_name(group, force=True, silent=True)),
                                         name)
            variables = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option('compose'), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, name, strict=strict)
