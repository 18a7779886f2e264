# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules for names the collection is given, written once: resource names (images,
volumes, ports, networks, security groups, storage pools), host names (a server's name, a
port's hostname), DNS names, MAC addresses and MAC prefixes. Each check returns the value
(normalised) or raises ValidationError."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

# Every named resource the collection creates, except servers (whose name is a host name):
# a letter or digit, then up to 63 letters, digits, '.', '_', '-'. Such a name is safe as a
# libvirt object name, in XML, in a file name on the hypervisor and inside the names the
# collection derives from it (kvmcloud-sg-<group>, volume-<name>.qcow2 ...).
RESOURCE_NAME_MAX = 64
_RESOURCE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$' % (RESOURCE_NAME_MAX - 1))
RESOURCE_NAME_RULE = ('1 to %d ASCII letters, digits, dots, dashes and underscores, starting with a letter '
                      'or digit' % RESOURCE_NAME_MAX)
# One DNS label: a host name, which a server's name is too.
_LABEL = r'[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOST_LABEL_RE = re.compile(r'^%s$' % _LABEL)
_DNS_NAME_RE = re.compile(r'^(?=.{1,253}$)%s(\.%s)*$' % (_LABEL, _LABEL))

# QEMU's OUI. Its first octet (0x52) has the locally administered bit set and the multicast
# bit clear, like every prefix check_mac_prefix() accepts.
QEMU_MAC_PREFIX = '52:54:00'
_MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
_MAC_PREFIX_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){2}$')
LOCALLY_ADMINISTERED = 0x02
MULTICAST = 0x01


def is_resource_name(name):
    return isinstance(name, str) and bool(_RESOURCE_NAME_RE.match(name))


def resource_name(kind, name):
    """The name of an image, volume, port, network, security group or storage pool: 1 to 64
    letters, digits, dots, dashes and underscores, starting with a letter or digit."""
    if not is_resource_name(name):
        length = ' (%d characters)' % len(name) if isinstance(name, str) and len(name) > RESOURCE_NAME_MAX else ''
        raise ValidationError('invalid %s name %r%s: use %s (the pattern %s)'
                              % (kind, name, length, RESOURCE_NAME_RULE, _RESOURCE_NAME_RE.pattern))
    return name


def is_host_label(name):
    """Whether ``name`` is one DNS label: 1 to 63 letters, digits and '-', not starting or
    ending with '-'."""
    return isinstance(name, str) and bool(_HOST_LABEL_RE.match(name))


def is_dns_name(name):
    """Whether ``name`` is a DNS name: labels joined by dots, 253 characters at most."""
    return isinstance(name, str) and bool(_DNS_NAME_RE.match(name))


def server_name(name):
    """A server's name, which is its host name, its domain's name and part of the names of its
    volumes and ports."""
    if not is_host_label(name):
        raise ValidationError("invalid server name %r: a host name of 1 to 63 letters, digits and '-', not "
                              "starting or ending with '-'" % (name,))
    return name


def plain_mac(mac):
    """A MAC address in lower case with colons, unchecked."""
    return str(mac).strip().lower().replace('-', ':')


def mac(value):
    """A MAC address given by a user, lower case with colons; it must be unicast."""
    normalized = plain_mac(value)
    if not _MAC_RE.match(normalized):
        raise ValidationError('invalid MAC address %r: expected six bytes such as 52:54:00:12:34:56' % (value,))
    if int(normalized[:2], 16) & MULTICAST:
        raise ValidationError('invalid MAC address %s: the multicast bit of the first byte is set; '
                              'a port needs a unicast address' % normalized)
    return normalized


def is_mac(value):
    return isinstance(value, str) and bool(_MAC_RE.match(value))


def mac_prefix(prefix):
    """A MAC prefix given by a user, normalised; it must be unicast and locally administered."""
    normalized = plain_mac(prefix)
    if not _MAC_PREFIX_RE.match(normalized):
        raise ValidationError('invalid MAC prefix %r: expected three bytes such as %s'
                              % (prefix, QEMU_MAC_PREFIX))
    first = int(normalized[:2], 16)
    if first & MULTICAST:
        raise ValidationError('invalid MAC prefix %s: the multicast bit of the first byte is set; '
                              'a port needs a unicast address' % prefix)
    if not first & LOCALLY_ADMINISTERED:
        raise ValidationError('invalid MAC prefix %s: the locally administered bit of the first byte '
                              'is not set, so it could clash with real hardware; use %s (QEMU) '
                              'or a prefix such as 02:00:00' % (prefix, QEMU_MAC_PREFIX))
    return normalized


def project_mac_prefix(project):
    """A project's own MAC prefix: three bytes of sha256(project name), made unicast and
    locally administered."""
    digest = hashlib.sha256(('kvmcloud-project:%s' % project).encode('utf-8')).digest()
    first = (digest[0] & ~MULTICAST & 0xff) | LOCALLY_ADMINISTERED
    return '%02x:%02x:%02x' % (first, digest[1], digest[2])
