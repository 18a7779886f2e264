#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server_action
short_description: Start, stop, reboot, pause, resume, rebuild or migrate a server
version_added: 0.1.0
description:
  - Runs one action on a server of the cloud, found on whichever hypervisor it is.
  - The action is planned first as a list of steps (returned in RV(steps)); check mode returns
    that plan and changes nothing.
  - V(start), V(stop), V(pause) and V(resume) lead to a power state and change nothing when the
    server is already there. V(reboot) and V(rebuild) always change.
  - V(stop) asks the guest to shut down (ACPI) and waits up to O(wait_timeout) for it to power
    off; then it powers the server off when O(force=true), else it fails and says so.
  - V(rebuild) gives the server a new root disk, a qcow2 overlay on the base volume of O(image)
    (by default its own image) of the size the old disk had. What was on the old disk is lost.
    The seed is kept. A running server is powered off at once and started again.
  - V(migrate) moves a server to another hypervisor, cold. A running or paused server is shut
    down first, as V(stop) does (waiting up to O(wait_timeout), then as O(force) says), and
    started on the target again. The root disk's own data is streamed through libvirt to the
    target, the base image is not copied; the seed is copied; the domain is defined there with
    the same UUID and metadata; then the server and its volumes are removed from the source.
  - Before anything changes, a migration is refused when the target does not have every network
    of the server's ports (with the ports and their filters), when the server's image is not
    registered there with the same content, when the target has no room for the server
    (placement filters), or when data volumes are attached (not supported yet, detach them
    with M(kvmcloud.cloud.server_volume) first).
  - The root disk is copied byte for byte except the backing file name in its qcow2 header,
    which is rewritten to the path of the same base volume on the target (what C(qemu-img
    rebase -u) does). Base volumes are content-addressed (C(sha256-<hex>.<format>)), so the
    base under that name holds the same bytes on both hypervisors and the overlay's data stays
    valid; images pools at different paths on the two hypervisors are fine.
  - When anything fails on the target, what was made there is removed again, and the server is
    started again on its source if it ran. The serial console log stays on the source.
extends_documentation_fragment:
  - kvmcloud.cloud.attributes
  - kvmcloud.cloud.cloud
  - kvmcloud.cloud.cloud_init
  - kvmcloud.cloud.locks
  - kvmcloud.cloud.wait
author:
  - kvmcloud developers (@kvmcloud)
attributes:
  check_mode:
    description: Plans the same steps as a real run and skips them.
    support: full
  diff_mode:
    description: Returns the power state, hypervisor and image before and after, and what a reboot or rebuild does.
    support: full
  idempotent:
    description:
      - V(start), V(stop), V(pause), V(resume) and V(migrate) change nothing when the server is already where
        they lead. V(reboot) and V(rebuild) change every time.
    support: partial
options:
  action:
    description:
      - What to do.
      - V(start) runs a stopped server and resumes a paused one; V(stop) shuts it down; V(pause)
        and V(resume) freeze and thaw a running server.
      - V(reboot) restarts a server, see O(reboot_type).
      - V(rebuild) gives it a new root disk, see O(image).
      - V(migrate) moves it to another hypervisor, see O(target).
    type: str
    required: true
    choices: [start, stop, reboot, pause, resume, rebuild, migrate]
  force:
    description:
      - For V(stop) and V(migrate), power the server off when the guest has not shut down within
        O(wait_timeout) of the ACPI request. Without it, the module fails then and leaves the
        server running.
      - With O(wait=false), V(stop) only sends the request; with O(force=true) too, a server that is
        not off at once is powered off.
    type: bool
    default: false
  image:
    description:
      - For V(rebuild), the image of the new root disk; the server's own image by default. It
        must be registered on the server's hypervisor.
    type: str
  name:
    description: Name of the server.
    type: str
    required: true
  reboot_type:
    description:
      - For V(reboot), V(soft) asks the guest to reboot (ACPI) and needs a running server;
        V(hard) resets the server like a reset button, and starts a stopped one.
    type: str
    choices: [soft, hard]
    default: soft
  target:
    description:
      - For V(migrate), the hypervisor to move the server to. By default the scheduler chooses
        among the other hypervisors (any zone), as for a new server.
      - Placement filters apply to the target too (enabled, RAM, vCPUs, disk, server group).
    type: str
notes:
  - With O(wait=true) (the default), the module waits up to O(wait_timeout) until the server is in
    the state the action leads to; a running server also until its ports have their addresses
    leased on the network.
'''

EXAMPLES = r'''
- name: Stop web1, powering it off if the guest has not shut down after a minute
  kvmcloud.cloud.server_action:
    cloud: "{{ kvmcloud_cloud }}"
    name: web1
    action: stop
    force: true
    wait_timeout: 60

- name: Reset a hung server
  kvmcloud.cloud.server_action:
    cloud: "{{ kvmcloud_cloud }}"
    name: web1
    action: reboot
    reboot_type: hard

- name: Give web1 a fresh root disk on another image
  kvmcloud.cloud.server_action:
    cloud: "{{ kvmcloud_cloud }}"
    name: web1
    action: rebuild
    image: debian-12

- name: Move db1 to hv2 (cold)
  kvmcloud.cloud.server_action:
    cloud: "{{ kvmcloud_cloud }}"
    name: db1
    action: migrate
    target: hv2
'''

RETURN = r'''
action:
  description: The action run.
  returned: always
  type: str
server:
  description:
    - The server after the action (predicted in check mode), as M(kvmcloud.cloud.server_info) describes it,
      without C(usage) and the ports' C(leased_ip). A migrated server keeps its C(uuid).
  returned: always
  type: dict
steps:
  description:
    - What the run did (in check mode, would do), in order; empty when nothing changed.
    - A forced power off after the wait shows as C(power off (forced)).
  returned: always
  type: list
  elements: str
  sample: [shutdown, copy root disk to hv2, copy seed to hv2, define on hv2, start on hv2, remove from hv1]
cloud_init:
  description:
    - What cloud-init reported when it finished on the guest the action booted (O(wait_for_cloud_init)).
  returned: when O(wait_for_cloud_init=true) and the action booted the guest
  type: dict
  contains:
    status:
      description: V(done), or V(error) when cloud-init reported errors.
      type: str
    errors:
      description: The errors of cloud-init's C(result.json).
      type: list
      elements: str
    datasource:
      description: The datasource cloud-init used, as it names it.
      type: str
  sample: {status: done, errors: [], datasource: "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]"}
unreachable_hypervisors:
  description: Hypervisors that could not be reached and were skipped, with the reason.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.actions import ACTIONS, REBOOT_TYPES, run_action
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.module import CloudModule


def main():
    CloudModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            action=dict(type='str', required=True, choices=list(ACTIONS)),
            force=dict(type='bool', default=False),
            reboot_type=dict(type='str', choices=list(REBOOT_TYPES), default='soft'),
            image=dict(type='str'),
            target=dict(type='str'),
            wait_for_cloud_init=dict(type='bool', default=False),
        ),
        waits=True,
        writes=True,
        supports_check_mode=True,
    ).run(run_action)


if __name__ == '__main__':
    main()
