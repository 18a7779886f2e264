# -*- coding: utf-8 -*-
"""core/constants.py: the libvirt flags the collection uses by value are libvirt-python's."""

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import constants

NAMES = sorted(name for name in vars(constants) if name.startswith('VIR_'))


def test_there_are_constants():
    assert 'VIR_DOMAIN_XML_INACTIVE' in NAMES and len(NAMES) > 20


@pytest.mark.parametrize('name', NAMES)
def test_every_constant_has_libvirts_value(name):
    assert getattr(constants, name) == getattr(libvirt, name)
