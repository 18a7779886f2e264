# -*- coding: utf-8 -*-
"""core/virt.py: the one libvirt wrapper, where libvirt errors are mapped and libvirt objects
are wrapped, checked against the real test driver (and fakes where libvirt cannot fail on
demand). The error classes it raises are in core/errors.py and are checked here too."""

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import virt
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError, WaitTimeout)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.virt import LibvirtObject, not_found_codes

from handles import definition

POOL_XML = "<pool type='dir'><name>%s</name><target><path>/kvmcloud-unit/%s</path></target></pool>"
VOLUME_XML = "<volume><name>%s</name><capacity unit='MiB'>1</capacity></volume>"


def _libvirt_error(code, message):
    err = libvirt.libvirtError(message)
    err.err = (code, 0, message, 2, None, None, None, 0, 0)
    return err


class FakeDomain:
    """Stands for a libvirt object of a fake connection: named, with methods that return
    what they are given."""

    def __init__(self, name='vm1'):
        self._name = name

    def name(self):
        return self._name


class FakeConn:
    """A libvirt connection whose methods do what a test tells them (``FakeConn(lookupByName=f)``)."""

    def __init__(self, **methods):
        for method, func in methods.items():
            setattr(self, method, func)


def fake_handle(name='hv1', **methods):
    return virt.Hypervisor(definition(name), FakeConn(**methods))


def raising(err):
    def boom(*_args):
        raise err
    return boom


# -- not found ---------------------------------------------------------------------------

def test_not_found_codes_are_libvirts():
    codes = not_found_codes()
    assert libvirt.VIR_ERR_NO_DOMAIN in codes
    assert libvirt.VIR_ERR_NO_STORAGE_POOL in codes
    assert libvirt.VIR_ERR_NO_NETWORK in codes
    assert libvirt.VIR_ERR_NO_STORAGE_VOL in codes
    assert libvirt.VIR_ERR_INTERNAL_ERROR not in codes
    assert libvirt.VIR_ERR_XML_ERROR not in codes


def test_lookups_of_missing_objects_give_none(hv1):
    assert hv1.domain('nope') is None
    assert hv1.domain_by_uuid('00000000-0000-4000-8000-00000000dead') is None
    assert hv1.network('nope') is None
    assert hv1.pool('nope') is None
    assert hv1.volume_by_path('/kvmcloud-unit/nope.img') is None
    assert hv1.lookup('lookupByName', 'nope') is None


def test_lookup_of_a_missing_volume_gives_none(hv1):
    pool = hv1.pool('default-pool')
    assert pool.lookup('storageVolLookupByName', 'nope.img', what='default-pool/nope.img') is None


def test_lookups_of_existing_objects_give_them_wrapped(hv1):
    dom = hv1.domain('test')
    assert isinstance(dom, LibvirtObject)
    assert dom.name() == 'test'
    assert dom.label == 'test'
    assert hv1.domain_by_uuid(dom.UUIDString()).name() == 'test'
    net = hv1.network('default')
    assert isinstance(net, LibvirtObject) and net.name() == 'default'
    pool = hv1.pool('default-pool')
    assert isinstance(pool, LibvirtObject) and pool.name() == 'default-pool'
    assert pool.label == 'default-pool'


def test_discard_domain_true_then_false(make_domain, hv1):
    raw = make_domain('unit-delete-me')
    dom = hv1.domain('unit-delete-me')
    assert dom.discard('undefine') is True
    # The object handle outlives the domain: libvirt now answers VIR_ERR_NO_DOMAIN.
    with pytest.raises(libvirt.libvirtError) as err:
        raw.undefine()
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    assert dom.discard('undefine') is False
    assert dom.discard() is False  # undefine is the default removal


def test_discard_pool_true_then_false(hv1):
    pool = hv1.about('unit-pool').storagePoolDefineXML(POOL_XML % ('unit-pool', 'unit-pool'), 0)
    try:
        assert pool.discard('undefine') is True
        assert hv1.pool('unit-pool') is None
        assert pool.discard('undefine') is False
    finally:
        leftover = hv1.pool('unit-pool')
        if leftover is not None:
            leftover.undefine()


def test_discard_volume_with_arguments_true_then_false(hv1):
    pool = hv1.pool('default-pool')
    vol = pool.about('unit.img').createXML(VOLUME_XML % 'unit.img', 0)
    try:
        assert vol.discard('delete', 0) is True
        assert pool.lookup('storageVolLookupByName', 'unit.img') is None
        assert vol.discard('delete', 0) is False
    finally:
        leftover = pool.lookup('storageVolLookupByName', 'unit.img')
        if leftover is not None:
            leftover.delete(0)


@pytest.mark.parametrize('returned', [0, None, False])
def test_discard_with_falsy_return_counts_as_removed(returned):
    # undefine() and friends return 0 on success; only "not found" means already gone.
    dom = fake_handle(lookupByName=FakeDomain).domain('vm1')
    dom._raw.undefine = lambda: returned
    assert dom.discard('undefine') is True


def test_discard_other_errors_raise(hv1):
    # Undefining an active pool is refused with an error other than not-found.
    pool = hv1.pool('default-pool')
    assert pool.isActive()
    with pytest.raises(LibvirtCallError) as err:
        pool.discard('undefine')
    assert err.value.code == libvirt.VIR_ERR_OPERATION_INVALID
    assert err.value.operation == 'undefine'
    assert err.value.obj == 'default-pool'
    assert err.value.hypervisor == 'hv1'
    assert 'undefine of default-pool' in err.value.msg and 'hv1' in err.value.msg
    assert hv1.pool('default-pool') is not None


# -- other errors ------------------------------------------------------------------------

def test_invalid_xml_raises_typed_error_with_libvirt_code(test_conn, hv1):
    with pytest.raises(libvirt.libvirtError) as raw:
        test_conn.defineXML('<domain')
    expected = raw.value.get_error_code()
    assert expected is not None

    with pytest.raises(LibvirtCallError) as err:
        hv1.about('broken').defineXML('<domain')
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


def test_start_of_a_running_domain_raises_named_by_the_operations_table(hv1):
    dom = hv1.domain('test')
    assert dom.isActive()
    with pytest.raises(libvirt.libvirtError) as raw:
        dom._raw.create()
    with pytest.raises(LibvirtCallError) as err:
        dom.create()
    assert err.value.code == raw.value.get_error_code()
    assert err.value.operation == 'start'  # create() starts a domain
    assert err.value.obj == 'test'
    assert err.value.hypervisor == 'hv1'
    assert 'start of test failed on hypervisor hv1' in err.value.msg
    assert dom.isActive()


def test_error_without_a_hypervisor_does_not_name_one(hv1):
    dom = hv1.domain('test')
    with pytest.raises(LibvirtCallError) as err:
        virt._run(None, 'create', 'test', dom._raw.create, ())
    assert err.value.operation == 'create'
    assert err.value.hypervisor is None
    assert 'hypervisor' not in err.value.msg
    assert 'create of test' in err.value.msg


@pytest.mark.parametrize('method, operation', [
    ('destroy', 'stop'), ('create', 'start'), ('defineXML', 'define'), ('undefine', 'undefine'),
    ('storagePoolLookupByName', 'lookup'), ('getAllDomainStats', 'domain stats'), ('someNewCall', 'someNewCall'),
])
def test_operations_in_errors_come_from_the_table_or_the_method_name(method, operation):
    h = fake_handle(**{method: raising(_libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'kaputt'))})
    with pytest.raises(LibvirtCallError) as err:
        getattr(h, method)()
    assert err.value.operation == operation
    assert err.value.obj == 'host'  # a call on the connection itself


def test_one_method_name_means_different_things_on_different_objects(hv1):
    pool = hv1.pool('default-pool')
    with pytest.raises(LibvirtCallError) as err:
        pool.about('bad.img').createXML('<volume', 0)
    assert (err.value.operation, err.value.obj) == ('create volume', 'bad.img')
    with pytest.raises(LibvirtCallError) as err:
        hv1.about('bad-vm').createXML('<domain', 0)
    assert (err.value.operation, err.value.obj) == ('create', 'bad-vm')


def test_call_returns_the_result(test_conn, hv1):
    assert hv1.getType() == test_conn.getType()
    assert hv1.lookupByName('test').name() == 'test'


def test_call_on_missing_object_raises(hv1):
    # Only lookups give None: any other call of a missing object is an error.
    with pytest.raises(LibvirtCallError) as err:
        hv1.about('nope').lookupByName('nope')
    assert err.value.code == libvirt.VIR_ERR_NO_DOMAIN
    assert err.value.operation == 'lookup'
    assert err.value.obj == 'nope'
    assert 'nope' in err.value.msg and 'hv1' in err.value.msg
    # Without about(), a call on the connection names the connection.
    with pytest.raises(LibvirtCallError) as err:
        hv1.lookupByName('nope')
    assert err.value.code == libvirt.VIR_ERR_NO_DOMAIN
    assert err.value.obj == 'host'


def test_lookup_names_object_in_errors():
    h = fake_handle('hv2', lookupByName=raising(_libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'kaputt')))
    with pytest.raises(LibvirtCallError) as err:
        h.domain('vm1')
    assert err.value.operation == 'lookup'
    assert err.value.obj == 'vm1'
    assert err.value.code == libvirt.VIR_ERR_INTERNAL_ERROR
    assert err.value.message == 'kaputt'
    assert err.value.hypervisor == 'hv2'
    with pytest.raises(LibvirtCallError) as err:
        h.lookup('lookupByName', 'vm1', what='pool/vm1')
    assert err.value.obj == 'pool/vm1'


def test_about_names_another_object_in_errors_of_the_same_object(hv1):
    pool = hv1.pool('default-pool')
    other = pool.about('default-pool/x.img')
    assert other.label == 'default-pool/x.img' and pool.label == 'default-pool'
    assert other.name() == 'default-pool'  # the same libvirt object
    h = fake_handle(defineXML=raising(_libvirt_error(libvirt.VIR_ERR_XML_ERROR, 'bad')))
    with pytest.raises(LibvirtCallError) as err:
        h.about('vm9').defineXML('<domain')
    assert err.value.obj == 'vm9'


def test_message_falls_back_to_str_without_libvirt_details():
    err = libvirt.libvirtError('plain failure')
    err.err = None
    h = fake_handle(op=raising(err))
    with pytest.raises(LibvirtCallError) as raised:
        h.op()
    assert raised.value.code is None
    assert raised.value.message == 'plain failure'


@pytest.mark.parametrize('call', [
    lambda h: h.domain('x'),
    lambda h: h.lookup('lookupByName', 'x'),
    lambda h: h.discard('lookupByName'),
    lambda h: h.lookupByName('x'),
], ids=['lookup', 'generic-lookup', 'discard', 'call'])
def test_non_libvirt_exceptions_pass_through_unchanged(call):
    original = KeyError('not libvirt')
    with pytest.raises(KeyError) as err:
        call(fake_handle(lookupByName=raising(original)))
    assert err.value is original


def test_not_found_needs_a_libvirt_error():
    # An exception that merely looks like a not-found error is not mapped.
    class Lookalike(Exception):
        def get_error_code(self):
            return libvirt.VIR_ERR_NO_DOMAIN

    h = fake_handle(lookupByName=raising(Lookalike()))
    with pytest.raises(Lookalike):
        h.domain('x')
    with pytest.raises(Lookalike):
        h.discard('lookupByName', 'x')


def test_without_libvirt_everything_passes_through(monkeypatch):
    monkeypatch.setattr(virt, 'libvirt', None)
    assert not_found_codes() == frozenset()

    h = fake_handle(lookupByName=raising(RuntimeError('x')))
    with pytest.raises(RuntimeError):
        h.domain('x')
    # Not even a libvirt error is mapped: without libvirt nothing is known about it.
    missing = _libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, 'gone')
    h = fake_handle(lookupByName=raising(missing), undefine=raising(missing))
    with pytest.raises(libvirt.libvirtError) as err:
        h.domain('x')
    assert err.value is missing
    with pytest.raises(libvirt.libvirtError):
        h.discard('undefine')
    virt.silence_stderr()  # does nothing without libvirt


# -- wrapping ----------------------------------------------------------------------------

def _all_wrapped(items):
    return bool(items) and all(isinstance(item, LibvirtObject) for item in items)


def test_every_object_a_call_returns_is_wrapped(hv1):
    domains = hv1.listAllDomains()
    assert isinstance(domains, list) and _all_wrapped(domains)
    assert [d.name() for d in domains] == ['test']
    networks = hv1.listAllNetworks()
    assert _all_wrapped(networks) and [n.name() for n in networks] == ['default']
    pools = hv1.listAllStoragePools()
    assert _all_wrapped(pools) and [p.name() for p in pools] == ['default-pool']
    # What a wrapped object returns is wrapped too: the domain of a network's lookup, a pool's volumes.
    assert isinstance(networks[0].connect(), LibvirtObject)
    pool = pools[0]
    vol = pool.about('unit.img').createXML(VOLUME_XML % 'unit.img', 0)
    try:
        assert isinstance(vol, LibvirtObject) and vol.name() == 'unit.img'
        volumes = pool.listAllVolumes()
        assert _all_wrapped(volumes) and [v.name() for v in volumes] == ['unit.img']
        assert isinstance(hv1.volume_by_path(vol.path()), LibvirtObject)
        assert isinstance(vol.storagePoolLookupByVolume(), LibvirtObject)
    finally:
        vol.delete(0)


def test_domain_stats_come_back_as_wrapped_domains_with_plain_stats(hv1):
    stats = hv1.getAllDomainStats()
    assert isinstance(stats, list) and len(stats) == 1
    entry = stats[0]
    assert isinstance(entry, tuple) and len(entry) == 2
    dom, values = entry
    assert isinstance(dom, LibvirtObject) and dom.name() == 'test'
    assert values.__class__ is dict and values['state.state'] == libvirt.VIR_DOMAIN_RUNNING


def test_plain_values_come_back_as_they_are():
    plain = [None, True, 3, 2.5, 'text', b'bytes', {'k': object()}]
    h = fake_handle(**{'value%d' % i: (lambda v=v: v) for i, v in enumerate(plain)})
    for i, value in enumerate(plain):
        assert getattr(h, 'value%d' % i)() is value


def test_lists_and_tuples_are_wrapped_element_wise_and_keep_their_type():
    dom = FakeDomain('vm1')
    h = fake_handle(pair=lambda: (dom, 1), nested=lambda: [[dom], (dom, 'x')])
    pair = h.pair()
    assert pair.__class__ is tuple
    assert isinstance(pair[0], LibvirtObject) and pair[0]._raw is dom and pair[1] == 1
    nested = h.nested()
    assert (nested.__class__, nested[0].__class__, nested[1].__class__) == (list, list, tuple)
    assert nested[0][0]._raw is dom and nested[1][0]._raw is dom and nested[1][1] == 'x'
    # Errors of the objects inside name the hypervisor they came from.
    assert pair[0]._hypervisor == 'hv1'


def test_wrapped_arguments_are_unwrapped_before_the_call():
    seen = []
    dom = FakeDomain('vm1')
    h = fake_handle(lookupByName=lambda name: dom, take=lambda *args: seen.append(args))
    wrapped = h.domain('vm1')
    assert isinstance(wrapped, LibvirtObject)
    h.take(wrapped, 'x', 7)
    assert seen == [(dom, 'x', 7)]
    assert seen[0][0] is dom


def test_a_real_call_taking_a_wrapped_object_gets_the_libvirt_one(hv1):
    pool = hv1.pool('default-pool')
    source = pool.about('unit-src.img').createXML(VOLUME_XML % 'unit-src.img', 0)
    try:
        clone = pool.about('unit-clone.img').createXMLFrom(VOLUME_XML % 'unit-clone.img', source, 0)
        assert isinstance(clone, LibvirtObject) and clone.name() == 'unit-clone.img'
        clone.delete(0)
    finally:
        source.delete(0)


def test_attributes_that_are_not_methods_are_given_as_they_are():
    h = fake_handle(version=42)
    assert h.version == 42


def test_labels_name_objects_by_their_name_else_by_their_kind():
    class virStream:  # noqa: N801  pylint: disable=invalid-name
        pass

    class virSecret:  # noqa: N801  pylint: disable=invalid-name
        def name(self):
            raise _libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, 'no name')

    h = fake_handle(new_stream=virStream, secret=virSecret, dom=lambda: FakeDomain('vm7'))
    assert h.new_stream().label == 'stream'
    assert h.secret().label == 'secret'
    assert h.dom().label == 'vm7'
    assert h.about('x').label == 'x'
    assert LibvirtObject(virStream(), 'hv1').label == 'stream'
    assert LibvirtObject(virSecret(), 'hv1').label == 'secret'


def test_labelled_with_an_operation_names_every_call_by_it(hv1):
    stream = hv1.stream('default-pool/x.img', 'upload')
    assert isinstance(stream, LibvirtObject)
    assert stream.label == 'default-pool/x.img' and stream.operation == 'upload'
    try:
        with pytest.raises(LibvirtCallError) as err:
            stream.send(b'data')  # the test driver has no streams: any step fails
        assert err.value.operation == 'upload'
        assert err.value.obj == 'default-pool/x.img'
        assert err.value.hypervisor == 'hv1'
    finally:
        stream.abort()


def test_hypervisor_handle_knows_its_definition(test_conn):
    hv = definition('hv3', zone='az1')
    h = virt.Hypervisor(hv, test_conn)
    assert h.hv is hv and h.name == 'hv3'
    assert h.label == 'host'
    assert repr(h) == '<hypervisor hv3>'
    assert repr(h.domain('test')) == '<virDomain test on hv3>'
    with pytest.raises(LibvirtCallError) as err:
        h.about('broken').defineXML('<domain')
    assert err.value.hypervisor == 'hv3'


def test_open_connection_gives_a_handle_and_names_an_unreachable_uri():
    h = virt.open_connection(definition('hv1', uri='test:///default'))
    try:
        assert isinstance(h, virt.Hypervisor) and h.name == 'hv1'
        assert h.domain('test').name() == 'test'
    finally:
        virt.close_connection(h)
    with pytest.raises(LibvirtCallError) as err:
        virt.open_connection(definition('hv9', uri='kvmcloud-nonexistent:///nowhere'))
    assert err.value.operation == 'open'
    assert err.value.obj == 'kvmcloud-nonexistent:///nowhere'
    assert err.value.hypervisor == 'hv9'


def test_close_connection_is_best_effort():
    h = fake_handle(close=raising(RuntimeError('already closed')))
    virt.close_connection(h)  # does not raise


# -- the error classes -------------------------------------------------------------------

def test_typed_errors_carry_details():
    err = ValidationError('bad', field='x')
    assert isinstance(err, KvmcloudError)
    assert err.msg == 'bad' and err.details == {'field': 'x'}
    timeout = WaitTimeout('the guest to stop', 30, 'running')
    assert timeout.last_state == 'running'
    assert 'the guest to stop' in timeout.msg and '30' in timeout.msg and 'running' in timeout.msg
    assert timeout.details == {'wait': {'what': 'the guest to stop', 'timeout': 30, 'last_state': 'running'}}
