# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt flags and enums the collection uses, by value and under libvirt's own names:
libvirt is imported in one place only (:mod:`.virt`). A unit test checks every value here
against libvirt-python's."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# virDomainXMLFlags, virNetworkXMLFlags
VIR_DOMAIN_XML_INACTIVE = 2
VIR_NETWORK_XML_INACTIVE = 1

# virDomainModificationImpact: where a change applies
VIR_DOMAIN_AFFECT_LIVE = 1
VIR_DOMAIN_AFFECT_CONFIG = 2

# virDomainCreateFlags
VIR_DOMAIN_START_PAUSED = 1

# virDomainBlockResizeFlags
VIR_DOMAIN_BLOCK_RESIZE_BYTES = 1

# virDomainStatsTypes, virConnectGetAllDomainStatsFlags, virConnectListAllDomainsFlags
VIR_DOMAIN_STATS_STATE = 1
VIR_DOMAIN_STATS_CPU_TOTAL = 2
VIR_DOMAIN_STATS_BALLOON = 4
VIR_DOMAIN_STATS_INTERFACE = 16
VIR_DOMAIN_STATS_BLOCK = 32
VIR_CONNECT_LIST_DOMAINS_TRANSIENT = 8

# virStreamFlags
VIR_STREAM_NONBLOCK = 1

# virStorageVolInfoFlags: info() gives the file's size (physical) instead of the allocation
VIR_STORAGE_VOL_GET_PHYSICAL = 1

# virNetworkUpdateCommand, virNetworkUpdateSection, virNetworkUpdateFlags
VIR_NETWORK_UPDATE_COMMAND_MODIFY = 1
VIR_NETWORK_UPDATE_COMMAND_DELETE = 2
VIR_NETWORK_UPDATE_COMMAND_ADD_LAST = 3
VIR_NETWORK_SECTION_IP_DHCP_HOST = 4
VIR_NETWORK_SECTION_DNS_HOST = 10
VIR_NETWORK_UPDATE_AFFECT_LIVE = 1
VIR_NETWORK_UPDATE_AFFECT_CONFIG = 2

# virDomainState: libvirt's states of a domain
VIR_DOMAIN_NOSTATE = 0
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_BLOCKED = 2
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_SHUTDOWN = 4
VIR_DOMAIN_SHUTOFF = 5
VIR_DOMAIN_CRASHED = 6
VIR_DOMAIN_PMSUSPENDED = 7
