# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The option of the modules that can wait for cloud-init (server, server_fleet,
    # server_action); see docs/inventory.md, "Waiting for cloud-init".
    DOCUMENTATION = r'''
options:
  wait_for_cloud_init:
    description:
      - With O(wait=true), also wait until cloud-init has finished on each server the run boots
        (the servers M(kvmcloud.cloud.server) and M(kvmcloud.cloud.server_fleet) create; the guest
        a start, reboot or rebuild of M(kvmcloud.cloud.server_action) boots), within the same
        O(wait_timeout).
      - The signal is the collection's own, not cloud-init's C(final_message). Every seed carries a
        C(vendor-data) script that installs a per-boot script; once cloud-init has written its
        C(result.json) for that boot, the script prints C(kvmcloud-cloud-init <instance id> <result>)
        on the serial console (C(ttyS0)), which is read through libvirt. It works with any image
        that has cloud-init and a shell, whatever the user data; not with user data that turns
        vendor data off (C(enabled) V(false) under C(vendor_data)), nor with the collection's tiny image,
        which has no cloud-init.
      - The errors cloud-init reports are warnings, and are returned in the server's C(cloud_init).
        A timeout quotes the console's last lines.
    type: bool
    default: false
'''
