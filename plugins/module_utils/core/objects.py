# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every service does the same way with libvirt objects: removing a pool or network, and
reading both descriptions of a domain."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import VIR_DOMAIN_XML_INACTIVE
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import not_found_codes


def stop_and_undefine(obj):
    """Stop a running libvirt object (pool, network, domain) and remove its definition; an
    object already gone counts as removed. Returns whether anything was removed."""
    try:
        active = obj.isActive()
    except LibvirtCallError as err:
        if err.code in not_found_codes():
            return False  # gone already
        raise
    if active:
        obj.discard('destroy')
    return obj.discard('undefine')


def descriptions(dom):
    """The parsed descriptions of a domain that say which devices it has: the live one, and for
    a running persistent domain the one of its next boot, which may differ. None of a domain
    that went away meanwhile."""
    xmls = [dom.lookup('XMLDesc', 0, what=dom.label)]
    if xmls[0] is not None and dom.isActive() and dom.isPersistent():
        xmls.append(dom.lookup('XMLDesc', VIR_DOMAIN_XML_INACTIVE, what=dom.label))
    return [xmlutil.parse(xml) for xml in xmls if xml is not None]
