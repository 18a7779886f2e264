# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypervisor handles for unit tests: what the collection's Connections give its modules,
over a connection the test opened itself (usually libvirt's test driver)."""

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import Hypervisor as HypervisorDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import Hypervisor

TEST_URI = 'test:///default'


def definition(name='hv1', uri=TEST_URI, **options):
    """A hypervisor of the cloud definition."""
    return HypervisorDefinition(name=name, uri=uri, **options)


def handle(conn, name='hv1', **options):
    """The handle of hypervisor ``name`` over the open libvirt connection ``conn``."""
    return Hypervisor(definition(name, **options), conn)
