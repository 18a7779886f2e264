# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""New volumes in a pool: empty, or a qcow2 overlay on a base volume, so that a server's root
disk or a volume from an image shares the image's bytes instead of copying them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import volume_format


def volume_spec(name, size, fmt, backing=None):
    """The ``<volume>`` XML of a file volume of ``size`` bytes in ``fmt``, backed by the volume
    ``backing`` when given."""
    spec = xmlutil.element('volume', type='file')
    xmlutil.sub(spec, 'name', name)
    xmlutil.sub(spec, 'capacity', size, unit='bytes')
    xmlutil.sub(xmlutil.sub(spec, 'target'), 'format', type=fmt)
    if backing is not None:
        store = xmlutil.sub(spec, 'backingStore')
        xmlutil.sub(store, 'path', backing.path())
        xmlutil.sub(store, 'format', type=volume_format(backing))
    return xmlutil.tostring(spec)


def create_overlay(pool, name, base, size):
    """A qcow2 volume ``name`` in ``pool`` over the volume ``base``, of ``size`` bytes (at least
    the base's)."""
    return pool.about(name).createXML(volume_spec(name, max(size, base.info()[1]), 'qcow2', backing=base), 0)
