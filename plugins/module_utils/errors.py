# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors and the one place where libvirt errors are mapped.

Every libvirt call of the collection goes through :func:`lookup`, :func:`delete` or
:func:`call`: a missing object becomes ``None`` (lookup) or ``False`` (delete), any other
libvirt error becomes a :class:`LibvirtCallError` that names the object, the operation and
libvirt's error code. The module wrapper turns :class:`KvmcloudError` into ``fail_json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import libvirt
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None


# libvirt's "no such object" error codes, looked up by name so that a code unknown to an
# older libvirt-python is simply absent.
_NOT_FOUND_NAMES = (
    'VIR_ERR_NO_DOMAIN',
    'VIR_ERR_NO_NETWORK',
    'VIR_ERR_NO_STORAGE_POOL',
    'VIR_ERR_NO_STORAGE_VOL',
    'VIR_ERR_NO_NWFILTER',
    'VIR_ERR_NO_NWFILTER_BINDING',
    'VIR_ERR_NO_SECRET',
    'VIR_ERR_NO_INTERFACE',
    'VIR_ERR_NO_NODE_DEVICE',
    'VIR_ERR_NO_DOMAIN_METADATA',
    'VIR_ERR_NO_DOMAIN_SNAPSHOT',
    'VIR_ERR_NO_DOMAIN_CHECKPOINT',
    'VIR_ERR_NO_NETWORK_PORT',
)


def not_found_codes():
    """The set of libvirt error codes that mean "the object does not exist"."""
    if libvirt is None:
        return frozenset()
    return frozenset(getattr(libvirt, name) for name in _NOT_FOUND_NAMES if hasattr(libvirt, name))


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


class WaitTimeout(KvmcloudError):
    """A wait ran out of time; ``last_state`` is what was seen last."""

    def __init__(self, what, timeout, last_state):
        super(WaitTimeout, self).__init__(
            'timed out after %ss waiting for %s; last state seen: %s' % (timeout, what, last_state),
            wait={'what': what, 'timeout': timeout, 'last_state': last_state})
        self.last_state = last_state


def _error_code(err):
    return err.get_error_code() if hasattr(err, 'get_error_code') else None


def _error_message(err):
    if hasattr(err, 'get_error_message') and err.get_error_message():
        return err.get_error_message()
    return str(err)


def _run(operation, obj, func, args, hypervisor, missing):
    """Call ``func(*args)``; return ``missing`` for not-found, raise the typed error otherwise."""
    try:
        return func(*args)
    except Exception as err:  # libvirt.libvirtError, or anything the binding raises
        if libvirt is None or not isinstance(err, libvirt.libvirtError):
            raise
        code = _error_code(err)
        if missing is not _RAISE and code in not_found_codes():
            return missing
        raise LibvirtCallError(operation, obj, code, _error_message(err), hypervisor=hypervisor)


_RAISE = object()


def lookup(func, *args, **kwargs):
    """Look an object up: the object, or ``None`` when libvirt says it does not exist.

    ``what`` names the object in errors (default: the first argument); ``hypervisor`` names
    the hypervisor.
    """
    what = kwargs.get('what') or (args[0] if args else getattr(func, '__name__', 'object'))
    return _run('lookup', what, func, args, kwargs.get('hypervisor'), None)


def delete(func, *args, **kwargs):
    """Delete an object: ``True`` when deleted, ``False`` when it was already gone."""
    what = kwargs.get('what') or getattr(func, '__name__', 'object')
    result = _run(kwargs.get('operation', 'delete'), what, lambda *a: func(*a) or True, args,
                  kwargs.get('hypervisor'), False)
    return result is not False


def call(operation, what, func, *args, **kwargs):
    """Any other call: its result, or a :class:`LibvirtCallError` (not-found included)."""
    return _run(operation, what, func, args, kwargs.get('hypervisor'), _RAISE)


def stop_and_undefine(obj, what, hypervisor=None):
    """Stop a running libvirt object (pool, network) and remove its definition; an object
    already gone counts as removed. Returns whether anything was removed."""
    if obj.isActive():
        call('stop', what, obj.destroy, hypervisor=hypervisor)
    return delete(obj.undefine, what=what, operation='undefine', hypervisor=hypervisor)
