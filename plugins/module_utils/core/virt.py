# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every libvirt call of the collection goes through this module, and no libvirt object leaves
it bare.

:func:`open_hypervisor` gives a :class:`Hypervisor`: the connection to one hypervisor of the
cloud, which names that hypervisor in every error. Whatever a call returns that is not a plain
value (domains, networks, pools, volumes, filters, streams, in lists and tuples too) comes back
as a :class:`LibvirtObject` wrapping it, so every method called on it goes through
:func:`_run` as well:

- a call that fails raises :class:`LibvirtCallError` naming the hypervisor, the object and the
  operation, with libvirt's error code and message;
- lookups (:meth:`Hypervisor.domain`, :meth:`LibvirtObject.lookup` ...) give None for an object
  that does not exist;
- :meth:`LibvirtObject.discard` removes an object and gives False when it was gone already,
  so deletes are naturally idempotent.

The rest of the collection never imports libvirt; its flags are in :mod:`.constants`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import LibvirtCallError

try:
    import libvirt
    LIBVIRT_IMPORT_ERROR = None
except ImportError:  # reported by the module wrapper with missing_required_lib()
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

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

# How errors name an operation, where the method's own name reads poorly; by the method's name,
# or by (class, method) where one name means different things.
_OPERATIONS = {
    'lookupByName': 'lookup', 'lookupByUUIDString': 'lookup', 'networkLookupByName': 'lookup',
    'storagePoolLookupByName': 'lookup', 'storageVolLookupByName': 'lookup',
    'storageVolLookupByPath': 'lookup', 'nwfilterLookupByName': 'lookup',
    'defineXML': 'define', 'networkDefineXML': 'define', 'storagePoolDefineXML': 'define',
    'nwfilterDefineXML': 'define nwfilter',
    'create': 'start', 'createWithFlags': 'start', 'destroy': 'stop',
    'attachDeviceFlags': 'attach', 'detachDeviceFlags': 'detach', 'setAutostart': 'set autostart',
    'DHCPLeases': 'DHCP leases', 'getAllDomainStats': 'domain stats', 'listAllDomains': 'list domains',
    'listAllNetworks': 'list networks', 'listAllStoragePools': 'list pools', 'listAllVolumes': 'list volumes',
    'listAllNWFilters': 'list nwfilters', 'newStream': 'new stream',
    ('virStoragePool', 'createXML'): 'create volume', ('virStoragePool', 'createXMLFrom'): 'clone volume',
    ('virConnect', 'createXML'): 'create', ('virNWFilter', 'undefine'): 'undefine nwfilter',
}

# What a call may return as it is.
_PLAIN = (type(None), bool, int, float, str, bytes, dict)


def not_found_codes():
    """The set of libvirt error codes that mean "the object does not exist"."""
    if libvirt is None:
        return frozenset()
    return frozenset(getattr(libvirt, name) for name in _NOT_FOUND_NAMES if hasattr(libvirt, name))


def _error_code(err):
    return err.get_error_code() if hasattr(err, 'get_error_code') else None


def _error_message(err):
    if hasattr(err, 'get_error_message') and err.get_error_message():
        return err.get_error_message()
    return str(err)


_RAISE = object()
_GONE = object()


def _run(hypervisor, operation, what, func, args, missing=_RAISE):
    """``func(*args)`` with wrapped arguments unwrapped and the result wrapped; a libvirt error
    becomes ``missing`` when it says the object does not exist (unless ``missing`` is
    :data:`_RAISE`), a :class:`LibvirtCallError` otherwise."""
    try:
        result = func(*[arg._raw if isinstance(arg, LibvirtObject) else arg for arg in args])
    except Exception as err:  # libvirt.libvirtError; anything else is a bug and passes through
        if libvirt is None or not isinstance(err, libvirt.libvirtError):
            raise
        if missing is not _RAISE and _error_code(err) in not_found_codes():
            return missing
        raise LibvirtCallError(operation, what, _error_code(err), _error_message(err), hypervisor=hypervisor)
    return _wrap(result, hypervisor)


def _wrap(value, hypervisor):
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(item, hypervisor) for item in value)
    return LibvirtObject(value, hypervisor)


def _label(raw):
    """The name errors give a libvirt object: its own name where it has one."""
    name = getattr(raw, 'name', None)
    if callable(name):
        try:
            return name()
        except Exception:  # pylint: disable=broad-except
            pass  # an object without a usable name is still named by its kind below
    return type(raw).__name__.replace('vir', '', 1).lower() or 'object'


class LibvirtObject:
    """A libvirt object of one hypervisor: every method call is run by :func:`_run`.

    ``label`` names the object in errors; ``operation``, when set, names every call on it
    (a stream that uploads a volume fails as an upload, whatever its step).
    """

    __slots__ = ('_raw', '_hypervisor', 'label', 'operation')

    def __init__(self, raw, hypervisor, label=None, operation=None):
        self._raw = raw
        self._hypervisor = hypervisor
        self.label = label if label is not None else _label(raw)
        self.operation = operation

    def __getattr__(self, method):
        if method.startswith('__'):
            raise AttributeError(method)  # copy, pickle and friends ask before __init__ ran
        func = getattr(self._raw, method)
        if not callable(func):
            return func
        operation = self.operation or _OPERATIONS.get((type(self._raw).__name__, method)) \
            or _OPERATIONS.get(method, method)

        def call(*args):
            return _run(self._hypervisor, operation, self.label, func, args)
        call.__name__ = method
        return call

    def __repr__(self):
        return '<%s %s on %s>' % (type(self._raw).__name__, self.label, self._hypervisor)

    def labelled(self, label, operation=None):
        """The same object, named ``label`` in errors (and every call named ``operation``)."""
        return LibvirtObject(self._raw, self._hypervisor, label, operation)

    def about(self, what):
        """This object for calls about another one, ``what`` (a connection defining a domain, a
        pool creating a volume): errors name ``what``."""
        return LibvirtObject(self._raw, self._hypervisor, what)

    def lookup(self, method, *args, what=None):
        """``method(*args)`` as a lookup: the object found, or None when it does not exist.
        ``what`` names it in errors (default: the first argument)."""
        what = what or (args[0] if args else method)
        return _run(self._hypervisor, 'lookup', what, getattr(self._raw, method), args, missing=None)

    def discard(self, method='undefine', *args):
        """``method(*args)`` as a removal: True when it removed the object, False when the
        object was gone already."""
        operation = _OPERATIONS.get((type(self._raw).__name__, method)) or _OPERATIONS.get(method, method)
        return _run(self._hypervisor, operation, self.label, getattr(self._raw, method), args, missing=_GONE) \
            is not _GONE


class Hypervisor(LibvirtObject):
    """The libvirt connection to one hypervisor of the cloud: ``hv`` is its definition and
    ``name`` its name, which every error of a call through it names."""

    __slots__ = ('hv',)

    def __init__(self, hv, raw):
        super(Hypervisor, self).__init__(raw, hv.name, label='host')
        self.hv = hv

    @property
    def name(self):
        return self.hv.name

    def __repr__(self):
        return '<hypervisor %s>' % self.hv.name

    def domain(self, name):
        return self.lookup('lookupByName', name)

    def domain_by_uuid(self, uuid):
        return self.lookup('lookupByUUIDString', uuid)

    def network(self, name):
        return self.lookup('networkLookupByName', name)

    def pool(self, name):
        return self.lookup('storagePoolLookupByName', name)

    def nwfilter(self, name):
        return self.lookup('nwfilterLookupByName', name)

    def volume_by_path(self, path):
        return self.lookup('storageVolLookupByPath', path)

    def stream(self, what, operation, flags=0):
        """A new stream for moving the content of ``what``; every call on it is ``operation``."""
        return self.about(what).newStream(flags).labelled(what, operation)


def open_connection(hv):
    """A :class:`Hypervisor` for the definition ``hv``; :class:`LibvirtCallError` when its
    libvirt cannot be opened."""
    raw = _run(hv.name, 'open', hv.uri, libvirt.open, (hv.uri,))
    return Hypervisor(hv, raw._raw)


def close_connection(handle):
    """Close a connection, best effort: the process exits next."""
    try:
        handle._raw.close()
    except Exception:  # pylint: disable=broad-except
        pass


def silence_stderr():
    """libvirt prints every error to stderr by default; errors are raised and reported instead."""
    if libvirt is not None:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
