# -*- coding: utf-8 -*-
"""core/xmlutil.py: XML helpers and the typed metadata round trip."""

import math
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.xmlutil import (
    NAMESPACE, PREFIX, attr, element, element_to_metadata, metadata_to_element, parse, qname, sub, text, tostring)

SAMPLES = [
    {},
    {'a': 1},
    {'nested': {'deeper': {'deepest': [1, [2, [3, {}]], {'k': None}]}}},
    {'list': [1, 'one', 1.0, True, None, [], {}]},
    {'none': None},
    {'t': True, 'f': False},
    {'zero': 0, 'neg': -42, 'big': 10 ** 40},
    {'float': 0.1, 'neg_float': -2.5, 'tiny': 1e-300, 'huge': 1.7976931348623157e308, 'whole': 3.0},
    {'unicode': 'grüße ✓ 😀 日本語'},
    {'special': '<tag attr="v"> & </tag> \'quoted\' ]]> &amp;'},
    {'key with spaces & <chars> "q"': 'v', 'ünï': 'k'},
    {'empty_dict': {}, 'empty_list': [], 'empty_str': ''},
    {'whitespace': '  leading and trailing  ', 'only_ws': '   ', 'newlines': 'a\nb\n', 'tab': '\tx'},
    {'numeric_str': '1', 'bool_str': 'true', 'none_str': 'None', 'float_str': '1.5'},
]


def _types(value):
    """The value with every scalar replaced by (type, value): equality then checks types too."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return (type(value), value)


@pytest.mark.parametrize('data', SAMPLES)
def test_metadata_round_trip_is_exact(data):
    el = metadata_to_element('host', data)
    for back in (element_to_metadata(el), element_to_metadata(tostring(el)),
                 element_to_metadata(tostring(el).encode('utf-8'))):
        assert back == data
        assert _types(back) == _types(data)


def test_round_trip_keeps_types():
    back = element_to_metadata(tostring(metadata_to_element('r', {'b': True, 'i': 1, 'f': 1.0, 's': '1', 'n': None})))
    assert back['b'] is True
    assert (type(back['i']), back['i']) == (int, 1)
    assert (type(back['f']), back['f']) == (float, 1.0)
    assert back['s'] == '1' and isinstance(back['s'], str)
    assert back['n'] is None
    assert element_to_metadata(tostring(metadata_to_element('r', {'b': False})))['b'] is False


def test_special_floats():
    back = element_to_metadata(tostring(metadata_to_element(
        'r', {'inf': float('inf'), 'ninf': float('-inf'), 'nan': float('nan')})))
    assert back['inf'] == float('inf') and back['ninf'] == float('-inf')
    assert math.isnan(back['nan'])


def test_tuples_are_stored_as_lists():
    assert element_to_metadata(metadata_to_element('r', {'t': (1, 'a')})) == {'t': [1, 'a']}


def test_non_dict_root_values_round_trip():
    for value in ([1, 2], 'text', 5, None, True):
        assert element_to_metadata(tostring(metadata_to_element('r', value))) == value


def test_element_is_in_the_collection_namespace():
    el = metadata_to_element('host', {'a': {'b': 1}})
    assert el.tag == '{%s}host' % NAMESPACE == qname('host')
    assert all(node.tag.startswith('{%s}' % NAMESPACE) for node in el.iter())
    xml = tostring(el)
    assert xml.startswith('<%s:host ' % PREFIX)
    assert 'xmlns:kvmcloud="%s"' % NAMESPACE in xml
    assert '<kvmcloud:item ' in xml
    assert not xml.startswith('<?xml')
    assert PREFIX == 'kvmcloud'


def test_dict_keys_are_sorted_in_xml():
    el = metadata_to_element('r', {'b': 1, 'a': 2, 'c': 3})
    assert [child.get('key') for child in el] == ['a', 'b', 'c']


@pytest.mark.parametrize('bad', [
    {'': 1},
    {1: 'x'},
    {None: 'x'},
    {'ok': {2: 'nested bad key'}},
])
def test_bad_keys_raise_value_error(bad):
    with pytest.raises(ValueError, match='keys must be non-empty strings'):
        metadata_to_element('r', bad)


@pytest.mark.parametrize('bad', [
    {'set': {1, 2}},
    {'bytes': b'raw'},
    {'object': object()},
    {'complex': 1j},
    {'nested': [1, {'deep': frozenset()}]},
])
def test_unsupported_types_raise_value_error(bad):
    with pytest.raises(ValueError, match='cannot store a'):
        metadata_to_element('r', bad)


def test_unknown_stored_type_raises_value_error():
    xml = '<kvmcloud:r xmlns:kvmcloud="%s" type="dict"><kvmcloud:item key="x" type="decimal">1</kvmcloud:item>' \
          '</kvmcloud:r>' % NAMESPACE
    with pytest.raises(ValueError, match='decimal'):
        element_to_metadata(xml)


def test_missing_type_reads_as_string():
    assert element_to_metadata('<r>plain</r>') == 'plain'
    assert element_to_metadata('<r/>') == ''


@pytest.mark.parametrize('value', [
    'line1\r\nline2\rend',       # parsers would turn \r into \n
    'a\x01b\x00c\x1f',            # not allowed in XML 1.0 at all
    '\ufffe\uffff',               # noncharacters outside XML 1.0
    'lone \ud800 surrogate',
    '\r',
])
def test_strings_xml_cannot_carry_round_trip(value):
    el = metadata_to_element('r', {'s': value, 'l': [value]})
    assert el.find("%s[@key='s']" % qname('item')).get('type') == 'base64'
    assert el.find("%s[@key='l']/%s" % (qname('item'), qname('item'))).get('type') == 'base64'
    xml = tostring(el)
    assert '\r' not in xml and '\x01' not in xml
    assert element_to_metadata(xml) == {'s': value, 'l': [value]}


@pytest.mark.parametrize('value', ['plain', 'tab\tnewline\n', 'ünï 😀', '\x7f\x85', ''])
def test_xml_safe_strings_stay_readable(value):
    el = metadata_to_element('r', value)
    assert el.get('type') == 'str'
    assert element_to_metadata(tostring(el)) == value


def test_plain_tags_without_namespace():
    el = metadata_to_element('host', {'a': [1, {'b': None}]}, namespaced=False)
    assert all('}' not in node.tag for node in el.iter())
    xml = tostring(el)
    assert 'xmlns' not in xml and 'kvmcloud' not in xml
    assert xml.startswith('<host type="dict"><item key="a" type="list">')
    assert element_to_metadata(xml) == {'a': [1, {'b': None}]}


def test_namespaced_and_plain_forms_read_the_same():
    plain = metadata_to_element('host', SAMPLES[2], namespaced=False)
    namespaced = metadata_to_element('host', SAMPLES[2])
    assert element_to_metadata(plain) == element_to_metadata(namespaced) == SAMPLES[2]


def test_items_in_a_foreign_namespace_are_not_read():
    xml = '<r type="list"><item type="int">1</item><o:item xmlns:o="urn:other" type="int">2</o:item></r>'
    assert element_to_metadata(xml) == [1]


# -- through libvirt's domain metadata -------------------------------------------------

ROUND_TRIP = {
    'virt_type': 'kvm',
    'probed': True,
    'cpus': 16,
    'ratio': 1.5,
    'note': None,
    'special': '<&>"\'',
    'unicode': 'grüße ✓',
    'spaces': '  two  ',
    'crlf': 'a\r\nb',
    'control': 'bell\x07',
    'zones': ['nova', 'az2'],
    'nested': {'empty': {}, 'list': [], 'deep': [{'k': False}]},
}


def _set_metadata(dom, xml):
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, PREFIX, NAMESPACE,
                    libvirt.VIR_DOMAIN_AFFECT_CONFIG)


def _get_metadata(dom):
    return dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)


def test_metadata_round_trip_through_libvirt_metadata_api(make_domain):
    dom = make_domain('unit-metadata')
    _set_metadata(dom, tostring(metadata_to_element('host', ROUND_TRIP, namespaced=False)))
    returned = _get_metadata(dom)
    # libvirt hands the element back without the namespace
    assert returned.startswith('<host')
    back = element_to_metadata(returned)
    assert back == ROUND_TRIP
    assert _types(back) == _types(ROUND_TRIP)
    # ...and keeps it in its namespace in the domain XML.
    stored = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find('metadata/' + qname('host'))
    assert stored is not None
    assert element_to_metadata(stored) == ROUND_TRIP


def test_metadata_is_replaced_and_removed(make_domain):
    dom = make_domain('unit-metadata-replace')
    _set_metadata(dom, tostring(metadata_to_element('host', {'v': 1}, namespaced=False)))
    _set_metadata(dom, tostring(metadata_to_element('host', {'v': 2}, namespaced=False)))
    assert element_to_metadata(_get_metadata(dom)) == {'v': 2}
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    with pytest.raises(libvirt.libvirtError) as err:
        _get_metadata(dom)
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA


def test_libvirt_set_metadata_refuses_the_namespaced_form(make_domain):
    # Why namespaced=False exists: virDomainSetMetadata(key='kvmcloud') binds the prefix
    # itself and refuses XML that already binds it.
    dom = make_domain('unit-metadata-refused')
    with pytest.raises(libvirt.libvirtError, match='namespace'):
        _set_metadata(dom, tostring(metadata_to_element('host', ROUND_TRIP)))


def test_metadata_inline_in_domain_xml_round_trips(test_conn):
    el = metadata_to_element('host', ROUND_TRIP)
    dom = test_conn.defineXML(
        "<domain type='test'><name>unit-metadata-inline</name><memory>1024</memory>"
        "<metadata>%s</metadata><os><type>hvm</type></os></domain>" % tostring(el))
    try:
        desc = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        back = element_to_metadata(desc.find('metadata/' + qname('host')))
        assert back == ROUND_TRIP
        assert _types(back) == _types(ROUND_TRIP)
        assert element_to_metadata(_get_metadata(dom)) == ROUND_TRIP
    finally:
        dom.undefine()


# -- building and reading XML ------------------------------------------------------------

def test_element_and_sub_drop_none_attributes_and_stringify():
    root = element('pool', type='dir', skip=None)
    assert root.attrib == {'type': 'dir'} and root.text is None
    child = sub(root, 'capacity', 1024, unit='bytes', other=None, n=5)
    assert child.text == '1024'
    assert child.attrib == {'unit': 'bytes', 'n': '5'}
    sub(root, 'empty')
    assert tostring(root) == '<pool type="dir"><capacity unit="bytes" n="5">1024</capacity><empty /></pool>'


def test_text_and_attributes_are_escaped():
    root = element('a', v='"<&>')
    sub(root, 'b', '<&>')
    xml = tostring(root)
    assert '&lt;&amp;&gt;' in xml
    back = parse(xml)
    assert back.get('v') == '"<&>' and back.find('b').text == '<&>'


def test_text_helper():
    root = parse('<pool><target><path>  /var/lib/x \n</path><empty/></target></pool>')
    assert text(root, 'target/path') == '/var/lib/x'
    assert text(root, 'target/missing') is None
    assert text(root, 'target/missing', default='d') == 'd'
    assert text(root, 'target/empty', default='d') == 'd'
    assert text(None, 'target/path', default='d') == 'd'


def test_attr_helper():
    root = parse("<domain type='kvm'><os><type arch='x86_64'>hvm</type></os></domain>")
    assert attr(root, 'os/type', 'arch') == 'x86_64'
    assert attr(root, 'os/type', 'machine') is None
    assert attr(root, 'os/type', 'machine', default='pc') == 'pc'
    assert attr(root, 'os/missing', 'arch', default='d') == 'd'
    assert attr(None, 'os/type', 'arch', default='d') == 'd'
    assert attr(root, '.', 'type') == 'kvm'


def test_parse_accepts_str_and_bytes():
    assert parse('<a>1</a>').text == '1'
    assert parse('<?xml version="1.0" encoding="utf-8"?><a>ü</a>'.encode('utf-8')).text == 'ü'
    with pytest.raises(ET.ParseError):
        parse('<a>')


def test_qname():
    assert qname('x') == '{urn:kvmcloud:cloud:1}x'
    assert xmlutil.NAMESPACE == 'urn:kvmcloud:cloud:1'
