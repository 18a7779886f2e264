# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the package functions use of the module wrapper (:class:`~.module.CloudModule`), for
code that runs on the controller without a module: the inventory plugin.

The package functions take a ``cm`` and use its ``cloud``, ``connections``, ``params``,
``check_mode`` and ``warn()``; a :class:`ControllerSession` gives them the same, so the
plugin reads the cloud with the modules' own readers instead of a second copy of them::

    with ControllerSession(cloud_option) as cm:
        results, unreachable = map_reachable(cm, reader, cm.cloud.hypervisors, 'reading the servers')
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import LIBVIRT_IMPORT_ERROR


class ControllerSession:
    """A read-only run on the controller over the cloud definition ``cloud`` (the raw value of
    a ``cloud`` option, validated as the modules validate it).

    It takes no locks and writes nothing (``check_mode`` is true); its connections are closed
    by :meth:`close`, or at the end of a ``with`` block. ``warnings`` keeps what the package
    functions warned about, for the caller to show.
    """

    def __init__(self, cloud, params=None, opener=None):
        if LIBVIRT_IMPORT_ERROR:
            raise KvmcloudError('the libvirt Python bindings are required on the controller: install '
                                'libvirt-python into the Python that runs Ansible')
        self.cloud = CloudDefinition.from_option(cloud)
        self.params = dict(params or {})
        self.check_mode = True
        self.warnings = []
        self.connections = Connections(self.cloud.hypervisors, opener=opener)

    def warn(self, message):
        self.warnings.append(message)

    def close(self):
        self.connections.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()
        return False
