# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper every module of the collection uses.

It merges the shared options (``cloud``, ``wait``, ``wait_timeout``) into the module's own
argument spec, checks that libvirt-python is importable, builds the cloud definition, owns
the libvirt connections of the run and converts errors to ``fail_json`` in one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmcloud.cloud.plugins.module_utils.cloud import SHARED_ARGUMENT_SPEC, CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import KvmcloudError

try:
    import libvirt  # noqa: F401  pylint: disable=unused-import
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()


class CloudModule:
    """Composition around :class:`AnsibleModule` for kvmcloud modules.

    ``run(func)`` calls ``func(self)``, which returns the result dict; every
    :class:`KvmcloudError` raised on the way becomes ``fail_json`` with its details.
    """

    def __init__(self, argument_spec=None, shared=True, **kwargs):
        spec = dict(SHARED_ARGUMENT_SPEC) if shared else {}
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        if LIBVIRT_IMPORT_ERROR:
            self.module.fail_json(msg=missing_required_lib('libvirt-python'), exception=LIBVIRT_IMPORT_ERROR)
        self.cloud = None
        self.connections = None
        if shared:
            try:
                self.cloud = CloudDefinition.from_params(self.params['cloud'])
            except KvmcloudError as err:
                self.module.fail_json(msg=err.msg, **err.details)
            self.connections = Connections(self.cloud.hypervisors)

    @property
    def wait(self):
        return self.params.get('wait', False)

    @property
    def wait_timeout(self):
        return self.params.get('wait_timeout', 0)

    def run(self, func):
        """Run ``func(self)`` and exit with its result, or fail with the error it raised."""
        try:
            result = func(self)
        except KvmcloudError as err:
            self._close()
            self.module.fail_json(msg=err.msg, **err.details)
        self._close()
        self.module.exit_json(**result)

    def _close(self):
        if self.connections is not None:
            self.connections.close()
