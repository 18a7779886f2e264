# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""XML for libvirt, built and parsed with ElementTree (never string templates).

The collection keeps its own data in libvirt objects' ``<metadata>`` under its own XML
namespace, :data:`NAMESPACE`. :func:`metadata_to_element` and :func:`element_to_metadata`
map a JSON-like dict to that XML and back without loss of type.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re
import xml.etree.ElementTree as ET

NAMESPACE = 'urn:kvmcloud:cloud:1'
PREFIX = 'kvmcloud'

ET.register_namespace(PREFIX, NAMESPACE)


def qname(tag):
    """A tag in the collection's namespace, in ElementTree's ``{uri}tag`` form."""
    return '{%s}%s' % (NAMESPACE, tag)


def parse(text):
    """Parse an XML document (str or bytes) into its root element."""
    return ET.fromstring(text)


def tostring(element):
    """Serialise an element to a str, without an XML declaration."""
    return ET.tostring(element, encoding='unicode')


def sub(parent, tag, text=None, **attrs):
    """Append a child element with optional text and attributes (None values are left out)."""
    child = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        child.text = str(text)
    return child


def element(tag, text=None, **attrs):
    """A new element with optional text and attributes (None values are left out)."""
    node = ET.Element(tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        node.text = str(text)
    return node


def text(node, path, default=None):
    """The stripped text at ``path`` below ``node``, or ``default``."""
    found = node.find(path) if node is not None else None
    if found is None or found.text is None:
        return default
    return found.text.strip()


def attr(node, path, name, default=None):
    """The attribute ``name`` of the element at ``path`` below ``node``, or ``default``."""
    found = node.find(path) if node is not None else None
    if found is None:
        return default
    return found.get(name, default)


# Types are kept in a ``type`` attribute so that the round trip is exact.
_SCALAR_TYPES = ((bool, 'bool'), (int, 'int'), (float, 'float'), (str, 'str'))


# Text that XML cannot carry exactly: characters outside XML 1.0, and carriage returns, which
# parsers turn into newlines. Such strings are kept base64-encoded.
_NOT_XML_SAFE = re.compile('[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def metadata_to_element(root_tag, data, namespaced=True):
    """Render a dict of JSON-like values as an element in the collection's namespace.

    ``namespaced=False`` gives plain tags, the form ``virDomainSetMetadata`` wants: it puts
    the element into the namespace itself and hands it back without one.
    """
    tag = qname if namespaced else (lambda name: name)
    root = ET.Element(tag(root_tag))
    _fill(root, data, tag)
    return root


def _fill(node, value, tag):
    if value is None:
        node.set('type', 'null')
    elif isinstance(value, dict):
        node.set('type', 'dict')
        for key in sorted(value):
            if not isinstance(key, str) or not key:
                raise ValueError('metadata keys must be non-empty strings, got %r' % (key,))
            child = ET.SubElement(node, tag('item'), {'key': key})
            _fill(child, value[key], tag)
    elif isinstance(value, (list, tuple)):
        node.set('type', 'list')
        for item in value:
            _fill(ET.SubElement(node, tag('item')), item, tag)
    elif isinstance(value, str) and _NOT_XML_SAFE.search(value):
        node.set('type', 'base64')
        node.text = base64.b64encode(value.encode('utf-8', 'surrogatepass')).decode('ascii')
    else:
        for python_type, name in _SCALAR_TYPES:
            if isinstance(value, python_type):
                node.set('type', name)
                node.text = _scalar_text(value)
                return
        raise ValueError('cannot store a %s in metadata' % type(value).__name__)


def _scalar_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value) if not isinstance(value, float) else repr(value)


def element_to_metadata(node):
    """The dict stored by :func:`metadata_to_element` (the root element or its XML text)."""
    if isinstance(node, (str, bytes)):
        node = parse(node)
    return _read(node)


def _items(node):
    # With or without the namespace: libvirt's metadata API hands elements back without it.
    return [child for child in node if child.tag in ('item', qname('item'))]


def _read(node):
    kind = node.get('type', 'str')
    if kind == 'null':
        return None
    if kind == 'dict':
        return {child.get('key'): _read(child) for child in _items(node)}
    if kind == 'list':
        return [_read(child) for child in _items(node)]
    raw = node.text or ''
    if kind == 'base64':
        return base64.b64decode(raw).decode('utf-8', 'surrogatepass')
    if kind == 'bool':
        return raw == 'true'
    if kind == 'int':
        return int(raw)
    if kind == 'float':
        return float(raw)
    if kind == 'str':
        return raw
    raise ValueError('unknown metadata type %r' % kind)
