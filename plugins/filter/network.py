# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network filters: host numbers of a subnet and deterministic MAC addresses.

The address logic lives once in ``module_utils/network/ipam.py``; each filter only turns its errors
into ``AnsibleFilterError``. Each filter is documented in ``<filter name>.yml`` next to this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from functools import wraps

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam


def _filter(func):
    """Report the collection's errors as ``AnsibleFilterError`` naming the filter."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except KvmcloudError as err:
            raise AnsibleFilterError('kvmcloud.cloud.%s: %s' % (func.__name__, err.msg))
    return wrapper


@_filter
def nth_host(cidr, n):
    return ipam.nth_host(cidr, n)


@_filter
def subnet_gateway(cidr):
    return ipam.nth_host(cidr, 1)


@_filter
def subnet_pool(cidr, first, last):
    start, end = ipam.nth_host(cidr, first), ipam.nth_host(cidr, last)
    if ipam.netaddr.IPAddress(start) > ipam.netaddr.IPAddress(end):
        raise AnsibleFilterError('kvmcloud.cloud.subnet_pool: host %s (%s) comes after host %s (%s) in %s'
                                 % (first, start, last, end, cidr))
    return {'start': start, 'end': end}


@_filter
def mac_address(seed, prefix=ipam.QEMU_MAC_PREFIX):
    return ipam.mac_address(prefix, seed)


class FilterModule(object):
    """kvmcloud.cloud network filters."""

    def filters(self):
        return {
            'nth_host': nth_host,
            'subnet_gateway': subnet_gateway,
            'subnet_pool': subnet_pool,
            'mac_address': mac_address,
        }
