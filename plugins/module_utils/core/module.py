# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper every module of the collection uses.

It merges the shared options (``cloud``; ``wait`` and ``wait_timeout`` for the modules that
wait; ``lock_timeout`` and ``lock_stale_after`` for the modules that write) into the module's
own argument spec, checks that libvirt-python is importable, builds the
cloud definition, owns the libvirt connections of the run (and the locks it holds) and converts errors to ``fail_json``
in one place. A module's ``main()`` is::

    CloudModule(argument_spec=..., supports_check_mode=True).run(package_function)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import (
    ALLOCATION_ARGUMENT_SPEC, CLOUD_ARGUMENT_SPEC, LOCK_ARGUMENT_SPEC, WAIT_ARGUMENT_SPEC, CloudDefinition,
    check_wait_timeout)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.connection import Connections
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import LockSettings
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import LIBVIRT_IMPORT_ERROR


class CloudModule:
    """Composition around :class:`AnsibleModule` for kvmcloud modules.

    ``waits=True`` adds the ``wait`` and ``wait_timeout`` options, ``allocates=True`` the
    ``allow_unreachable`` option, ``writes=True`` the ``lock_timeout`` and ``lock_stale_after``
    options. ``run(func)`` calls ``func(self)``, which returns the result dict; a
    :class:`KvmcloudError` raised on the way becomes ``fail_json`` with its details, and the locks
    are released and the connections closed either way.
    """

    def __init__(self, argument_spec=None, waits=False, allocates=False, writes=False, **kwargs):
        spec = dict(CLOUD_ARGUMENT_SPEC)
        if waits:
            spec.update(WAIT_ARGUMENT_SPEC)
        if allocates:
            spec.update(ALLOCATION_ARGUMENT_SPEC)
        if writes:
            spec.update(LOCK_ARGUMENT_SPEC)
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        if LIBVIRT_IMPORT_ERROR:
            self.module.fail_json(msg=missing_required_lib('libvirt-python'), exception=LIBVIRT_IMPORT_ERROR)
        try:
            self.cloud = CloudDefinition.from_params(self.params['cloud'])
            if waits:
                check_wait_timeout(self.params['wait'], self.params['wait_timeout'])
            locks = LockSettings.from_params(self.params, warn=self.module.warn)
        except KvmcloudError as err:
            self.module.fail_json(msg=err.msg, **err.details)
        self.connections = Connections(self.cloud.hypervisors, lock_settings=locks)

    @property
    def wait(self):
        """Whether to wait (modules without the option never do)."""
        return self.params.get('wait', False)

    @property
    def wait_timeout(self):
        """How long a wait may take, in seconds; 0 for modules without the option."""
        return self.params.get('wait_timeout', 0)

    @property
    def allow_unreachable(self):
        """Whether to allocate while a hypervisor is unreachable (modules without the option never do)."""
        return self.params.get('allow_unreachable', False)

    def warn(self, message):
        self.module.warn(message)

    def run(self, func):
        """Run ``func(self)`` and exit with its result, or fail with the error it raised."""
        try:
            try:
                result = func(self)
            finally:
                # Whatever happened (a bug too): the locks go, before the result (and the
                # warnings releasing them may give) is sent.
                self.connections.close()
        except KvmcloudError as err:
            self.module.fail_json(msg=err.msg, **err.details)
        self.module.exit_json(**result)
