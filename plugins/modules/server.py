#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server
short_description: Create, update and delete a server of the cloud
version_added: 0.1.0
description:
  - A server is a libvirt domain with a root disk that is a qcow2 overlay on an image, a NoCloud
    seed, ports with fixed addresses on the cloud's networks, and data volumes.
  - Without O(hypervisor) the server is placed by the scheduler; see M(kvmcloud.cloud.server_fleet)
    for many servers in one call (this module is the same engine with a list of one).
  - The project's quotas (instances, cores, ram, ports) are checked before anything is created.
  - A server whose creation fails midway is removed again, with its seed, root disk and ports.
  - Everything the cloud knows about the server is kept in the domain's metadata.
  - Changing vCPUs or RAM, the key or the user data is written to the config and reported with
    RV(reboot_required) when the server runs; a larger disk grows live; another image needs
    O(rebuild=true); tags, meta and the power state change in place.
extends_documentation_fragment:
  - kvmcloud.cloud.allocation
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.attributes.state_module
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.cloud_init
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.server
  - kvmcloud.cloud.wait
author:
  - kvmcloud developers (@kvmcloud)
options:
  delete_volumes:
    description:
      - With O(state=absent), delete the data volumes attached to the server too. By default they
        are kept.
    type: bool
    default: false
  rebuild:
    description:
      - Allow a change of O(image) by giving the server a new root disk on the new image. The old
        root disk and what was written on it are lost.
    type: bool
    default: false
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
- name: A server on the private network, placed by the scheduler
  kvmcloud.cloud.server:
    cloud: "{{ kvmcloud_cloud }}"
    name: web1
    project: demo
    flavor: m1.tiny
    image: tiny
    key_name: admin
    networks:
      - network: private
    user_data: |
      #cloud-config
      runcmd:
        - echo hello

- name: A server with a fixed address, pinned to a hypervisor
  kvmcloud.cloud.server:
    cloud: "{{ kvmcloud_cloud }}"
    name: db1
    project: demo
    flavor: m1.small
    image: tiny
    hypervisor: hv1
    networks:
      - network: private
        fixed_ip: 10.20.0.50
        security_groups: [default, database]
    volumes: [db1-data]

- name: Remove a server and keep its data volumes
  kvmcloud.cloud.server:
    cloud: "{{ kvmcloud_cloud }}"
    name: db1
    state: absent
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
    - The server after the run (predicted in check mode), a list of one; empty after O(state=absent).
    - Each as M(kvmcloud.cloud.server_info) describes it, without C(usage) and the ports' C(leased_ip); in check
      mode, a server not created yet has what the plan knows (its C(uuid) is null).
    - A server this run created has C(cloud_init) too with O(wait_for_cloud_init=true), what cloud-init
      reported when it finished (C(status) V(done) or V(error), C(errors), C(datasource)).
  returned: always
  type: list
  elements: dict
unreachable_hypervisors:
  description: Hypervisors that could not be reached and were skipped, with the reason.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.fleet import run_server
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import SERVER_SPEC
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(
        argument_spec=dict(SERVER_SPEC, delete_volumes=dict(type='bool', default=False),
                           rebuild=dict(type='bool', default=False),
                           wait_for_ready=dict(type='bool', default=False),
                           wait_for_cloud_init=dict(type='bool', default=False)),
        waits=True,
        allocates=True,
        writes=True,
        supports_check_mode=True,
        mutually_exclusive=[('flavor', 'vcpus'), ('flavor', 'ram')],
    ).run(run_server)


if __name__ == '__main__':
    main()
