#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server_fleet
short_description: Reconcile a whole list of servers in one call
version_added: 0.1.0
description:
  - Declares many servers at once, without one module run per server. One bulk read per
    hypervisor, then one plan for the list - quotas checked for every project and placement of
    every new server (each placement consuming capacity before the next) before anything is
    created - then creation in parallel across hypervisors and, four at a time, within each.
  - A re-run with nothing to do reads each hypervisor once and changes nothing.
  - With O(exclusive=true), the servers of O(project) that are not in O(servers) are deleted.
  - Each element of O(servers) takes the options of M(kvmcloud.cloud.server) (C(name), C(project),
    C(flavor), C(image), C(networks), C(volumes), C(key_name), C(user_data), C(meta), C(tags),
    C(availability_zone), C(hypervisor), C(server_group), C(power_state), C(state)).
extends_documentation_fragment:
  - kvmcloud.cloud.allocation
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.cloud_init
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.server.servers
  - kvmcloud.cloud.wait
author:
  - kvmcloud developers (@kvmcloud)
options:
  delete_volumes:
    description: Delete the data volumes of the servers this run deletes. By default they are kept.
    type: bool
    default: false
  exclusive:
    description: Delete the servers of O(project) that O(servers) does not list.
    type: bool
    default: false
  project:
    description:
      - The project O(exclusive) applies to; also the default C(project) of the servers.
    type: str
  rebuild:
    description: Allow a change of image by giving servers a new root disk (see M(kvmcloud.cloud.server)).
    type: bool
    default: false
  servers:
    description: The servers, each with the options of M(kvmcloud.cloud.server).
    type: list
    elements: dict
    required: true
  wait_for_ready:
    description:
      - With O(wait=true), also wait until each server this run starts prints C(kvmcloud-ready <uuid>)
        on its serial console, read through libvirt (so it works for remote hypervisors too). A
        server is started paused and its console opened before it runs, so no line is missed.
      - For guests whose image prints that marker, such as the collection's tiny image.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: The demo project's servers, and no others
  kvmcloud.cloud.server_fleet:
    cloud: "{{ kvmcloud_cloud }}"
    project: demo
    exclusive: true
    servers:
      - name: web1
        flavor: m1.tiny
        image: tiny
        networks: [{network: private}]
      - name: web2
        flavor: m1.tiny
        image: tiny
        networks: [{network: private}]
        server_group: {name: web, policy: anti-affinity}
'''

RETURN = r'''
left:
  description:
    - On a failed run, what the failure left behind that it could not undo or could not check (a
      hypervisor that stopped answering). Empty when the rollback verifiably finished; only then
      is C(changed) false on a failed run that had started to write.
  returned: failure
  type: list
  elements: str
reboot_required:
  description: Whether a change was written to the config of a running server and takes effect at its next boot.
  returned: when true
  type: bool
servers:
  description:
    - The servers after the run (predicted in check mode), in the order given; deleted ones are left out.
    - Each as M(kvmcloud.cloud.server) returns it.
  returned: always
  type: list
  elements: dict
unreachable_hypervisors:
  description: Hypervisors that could not be reached and were skipped, with the reason.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.fleet import FLEET_ARGUMENT_SPEC, run_server_fleet
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(
        argument_spec=FLEET_ARGUMENT_SPEC,
        waits=True,
        allocates=True,
        writes=True,
        supports_check_mode=True,
    ).run(run_server_fleet)


if __name__ == '__main__':
    main()
