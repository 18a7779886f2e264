# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors the collection raises on purpose.

The module wrapper turns every :class:`KvmcloudError` into ``fail_json`` with its ``msg`` and
``details``. A libvirt error never reaches a module as such: :mod:`.virt` maps each one to a
:class:`LibvirtCallError` that names the hypervisor, the object and the operation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KvmcloudError(Exception):
    """Base of every error the collection raises on purpose.

    ``details`` are extra keys returned next to ``msg`` by ``fail_json``.
    """

    def __init__(self, msg, **details):
        super(KvmcloudError, self).__init__(msg)
        self.msg = msg
        self.details = details


class ValidationError(KvmcloudError):
    """Bad input: raised before anything is changed."""


class LibvirtCallError(KvmcloudError):
    """A libvirt call failed for a reason other than a missing object."""

    def __init__(self, operation, obj, code, message, hypervisor=None):
        where = ' on hypervisor %s' % hypervisor if hypervisor else ''
        msg = 'libvirt %s of %s failed%s: %s (libvirt error code %s)' % (
            operation, obj, where, message, code)
        super(LibvirtCallError, self).__init__(
            msg, libvirt_error={'operation': operation, 'object': obj, 'code': code,
                                'message': message, 'hypervisor': hypervisor})
        self.operation = operation
        self.obj = obj
        self.code = code
        self.message = message
        self.hypervisor = hypervisor


class HypervisorUnreachable(KvmcloudError):
    """A hypervisor's libvirt could not be opened."""

    def __init__(self, hypervisor, uri, reason):
        super(HypervisorUnreachable, self).__init__(
            'hypervisor %s (%s) is unreachable: %s' % (hypervisor, uri, reason),
            hypervisor=hypervisor, uri=uri, reason=reason)
        self.hypervisor = hypervisor
        self.reason = reason


class WaitTimeout(KvmcloudError):
    """A wait ran out of time; ``last_state`` is what was seen last."""

    def __init__(self, what, timeout, last_state):
        super(WaitTimeout, self).__init__(
            'timed out after %ss waiting for %s; last state seen: %s' % (timeout, what, last_state),
            wait={'what': what, 'timeout': timeout, 'last_state': last_state})
        self.last_state = last_state
