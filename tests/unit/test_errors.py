# -*- coding: utf-8 -*-
"""errors.py: the one place libvirt errors are mapped, checked against the real test driver."""

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import errors
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, LibvirtCallError, ValidationError, WaitTimeout, call, delete, lookup, not_found_codes)

POOL_XML = "<pool type='dir'><name>%s</name><target><path>/kvmcloud-unit/%s</path></target></pool>"


def test_not_found_codes_are_libvirts():
    codes = not_found_codes()
    assert libvirt.VIR_ERR_NO_DOMAIN in codes
    assert libvirt.VIR_ERR_NO_STORAGE_POOL in codes
    assert libvirt.VIR_ERR_NO_NETWORK in codes
    assert libvirt.VIR_ERR_NO_STORAGE_VOL in codes
    assert libvirt.VIR_ERR_INTERNAL_ERROR not in codes
    assert libvirt.VIR_ERR_XML_ERROR not in codes


def test_lookup_missing_is_none(test_conn):
    assert lookup(test_conn.lookupByName, 'nope') is None
    assert lookup(test_conn.networkLookupByName, 'nope') is None
    assert lookup(test_conn.storagePoolLookupByName, 'nope') is None


def test_lookup_missing_volume_is_none(test_conn):
    pool = test_conn.storagePoolLookupByName('default-pool')
    assert lookup(pool.storageVolLookupByName, 'nope.img', what='default-pool/nope.img') is None


def test_lookup_existing_returns_the_object(test_conn):
    dom = lookup(test_conn.lookupByName, 'test')
    assert isinstance(dom, libvirt.virDomain)
    assert dom.name() == 'test'
    net = lookup(test_conn.networkLookupByName, 'default', hypervisor='hv1')
    assert net.name() == 'default'
    pool = lookup(test_conn.storagePoolLookupByName, 'default-pool')
    assert pool.name() == 'default-pool'


def test_delete_domain_true_then_false(make_domain):
    dom = make_domain('unit-delete-me')
    assert delete(dom.undefine) is True
    # The object handle outlives the domain: libvirt now answers VIR_ERR_NO_DOMAIN.
    with pytest.raises(libvirt.libvirtError) as raw:
        dom.undefine()
    assert raw.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    assert delete(dom.undefine) is False


def test_delete_pool_true_then_false(test_conn):
    pool = test_conn.storagePoolDefineXML(POOL_XML % ('unit-pool', 'unit-pool'), 0)
    try:
        assert delete(pool.undefine, what='unit-pool', operation='undefine') is True
        assert lookup(test_conn.storagePoolLookupByName, 'unit-pool') is None
        assert delete(pool.undefine, what='unit-pool', operation='undefine') is False
    finally:
        leftover = lookup(test_conn.storagePoolLookupByName, 'unit-pool')
        if leftover is not None:
            leftover.undefine()


def test_delete_with_falsy_return_counts_as_deleted():
    # undefine() and friends return 0 on success.
    assert delete(lambda: 0) is True
    assert delete(lambda: None) is True
    assert delete(lambda: False) is True  # only "not found" means already gone


def test_delete_other_errors_raise(test_conn):
    # Undefining an active pool is refused with an error other than not-found.
    pool = test_conn.storagePoolLookupByName('default-pool')
    assert pool.isActive()
    with pytest.raises(LibvirtCallError) as err:
        delete(pool.undefine, what='default-pool', operation='undefine', hypervisor='hv1')
    assert err.value.code == libvirt.VIR_ERR_OPERATION_INVALID
    assert err.value.operation == 'undefine'
    assert err.value.obj == 'default-pool'
    assert 'undefine of default-pool' in err.value.msg and 'hv1' in err.value.msg
    assert lookup(test_conn.storagePoolLookupByName, 'default-pool') is not None


def test_invalid_xml_raises_typed_error_with_libvirt_code(test_conn):
    with pytest.raises(libvirt.libvirtError) as raw:
        test_conn.defineXML('<domain')
    expected = raw.value.get_error_code()
    assert expected is not None

    with pytest.raises(LibvirtCallError) as err:
        call('define', 'broken', test_conn.defineXML, '<domain', hypervisor='hv1')
    e = err.value
    assert isinstance(e, KvmcloudError)
    assert e.code == expected
    assert e.operation == 'define'
    assert e.obj == 'broken'
    assert e.hypervisor == 'hv1'
    assert 'define' in e.msg and 'broken' in e.msg and 'hv1' in e.msg
    assert str(expected) in e.msg
    assert e.message and e.message in e.msg
    assert str(e) == e.msg
    assert e.details == {'libvirt_error': {'operation': 'define', 'object': 'broken', 'code': expected,
                                           'message': e.message, 'hypervisor': 'hv1'}}


def test_create_running_domain_raises(test_conn):
    dom = test_conn.lookupByName('test')
    assert dom.isActive()
    with pytest.raises(libvirt.libvirtError) as raw:
        dom.create()
    with pytest.raises(LibvirtCallError) as err:
        call('create', 'test', dom.create)
    assert err.value.code == raw.value.get_error_code()
    assert err.value.operation == 'create'
    assert err.value.obj == 'test'
    assert err.value.hypervisor is None
    assert 'hypervisor' not in err.value.msg
    assert 'create of test' in err.value.msg
    assert dom.isActive()


def test_call_returns_the_result(test_conn):
    assert call('getType', 'host', test_conn.getType, hypervisor='hv1') == test_conn.getType()
    dom = call('lookup', 'test', test_conn.lookupByName, 'test')
    assert dom.name() == 'test'


def test_call_on_missing_object_raises(test_conn):
    with pytest.raises(LibvirtCallError) as err:
        call('lookup', 'nope', test_conn.lookupByName, 'nope', hypervisor='hv1')
    assert err.value.code == libvirt.VIR_ERR_NO_DOMAIN
    assert 'nope' in err.value.msg and 'hv1' in err.value.msg


def test_lookup_names_object_in_errors():
    def boom(*_args):
        raise _libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'kaputt')

    with pytest.raises(LibvirtCallError) as err:
        lookup(boom, 'vm1', hypervisor='hv2')
    assert err.value.operation == 'lookup'
    assert err.value.obj == 'vm1'
    assert err.value.code == libvirt.VIR_ERR_INTERNAL_ERROR
    assert err.value.message == 'kaputt'
    with pytest.raises(LibvirtCallError) as err:
        lookup(boom, 'vm1', what='pool/vm1')
    assert err.value.obj == 'pool/vm1'


def test_message_falls_back_to_str_without_libvirt_details():
    def boom():
        err = libvirt.libvirtError('plain failure')
        err.err = None
        raise err

    with pytest.raises(LibvirtCallError) as err:
        call('op', 'thing', boom)
    assert err.value.code is None
    assert err.value.message == 'plain failure'


@pytest.mark.parametrize('wrapper', [
    lambda f: lookup(f, 'x'),
    delete,
    lambda f: call('op', 'x', f),
])
def test_non_libvirt_exceptions_pass_through_unchanged(wrapper):
    original = KeyError('not libvirt')

    def boom(*_args):
        raise original

    with pytest.raises(KeyError) as err:
        wrapper(boom)
    assert err.value is original


def test_not_found_needs_a_libvirt_error():
    # An exception that merely looks like a not-found error is not mapped.
    class Lookalike(Exception):
        def get_error_code(self):
            return libvirt.VIR_ERR_NO_DOMAIN

    def boom(*_args):
        raise Lookalike()

    with pytest.raises(Lookalike):
        lookup(boom, 'x')


def test_without_libvirt_everything_passes_through(monkeypatch):
    monkeypatch.setattr(errors, 'libvirt', None)
    assert not_found_codes() == frozenset()

    def boom(*_args):
        raise RuntimeError('x')

    with pytest.raises(RuntimeError):
        lookup(boom, 'x')


def test_typed_errors_carry_details():
    err = ValidationError('bad', field='x')
    assert isinstance(err, KvmcloudError)
    assert err.msg == 'bad' and err.details == {'field': 'x'}
    timeout = WaitTimeout('the guest to stop', 30, 'running')
    assert timeout.last_state == 'running'
    assert 'the guest to stop' in timeout.msg and '30' in timeout.msg and 'running' in timeout.msg
    assert timeout.details == {'wait': {'what': 'the guest to stop', 'timeout': 30, 'last_state': 'running'}}


def _libvirt_error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err
