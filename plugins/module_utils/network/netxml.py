# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The definition of a network as the collection writes it: pure functions.

A network is described by one normalised dict (see :func:`desired_from_params`) that
:func:`network_xml` renders and :func:`parse_network_xml` reads back. Networks the collection
defines carry their subnet parameters in ``<metadata>`` in the collection's namespace; that
marker is how other kvmcloud networks are recognised for the overlap check, and the same element
holds the network's port records (see :mod:`.records`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam

# The collection's mode -> libvirt's forward mode (None: no <forward>, an isolated network).
FORWARD_MODES = {'nat': 'nat', 'routed': 'route', 'isolated': None, 'bridge': 'bridge'}
MODES = tuple(sorted(FORWARD_MODES))

# The collection's element in a network's <metadata>: its definition, and its ports (see records.py).
METADATA_TAG = 'network'

BRIDGE_PREFIX = 'kc-'
# Linux interface names are at most 15 characters (IFNAMSIZ - 1).
BRIDGE_NAME_MAX = 15

# Fields of the normalised dict that describe the network itself; changing any of them
# means defining the network anew.
DEFINITION_FIELDS = ('mode', 'bridge', 'mtu', 'cidr', 'gateway', 'allocation_pools',
                     'dns_servers', 'dns_domain')


def default_bridge_name(name):
    """``kc-`` and a short hash of the network name: stable, and within 15 characters."""
    return BRIDGE_PREFIX + hashlib.sha256(name.encode('utf-8')).hexdigest()[:BRIDGE_NAME_MAX - len(BRIDGE_PREFIX) - 2]


def _check_bridge_name(name, bridge):
    if not bridge or len(bridge) > BRIDGE_NAME_MAX or '/' in bridge or any(c.isspace() for c in bridge):
        raise ValidationError("network '%s': invalid bridge name %r: it must be 1 to %d characters, "
                              "without spaces or slashes" % (name, bridge, BRIDGE_NAME_MAX))


def desired_from_params(params):
    """Validate the module's options and return the desired network as a normalised dict."""
    name = params['name']
    mode = params.get('mode') or 'nat'
    if mode not in FORWARD_MODES:
        raise ValidationError("network '%s': unknown mode %r; use one of %s" % (name, mode, ', '.join(MODES)))
    subnet_params = params.get('subnet')
    bridge = params.get('bridge')
    mtu = params.get('mtu')
    if mode == 'bridge':
        if not bridge:
            raise ValidationError("network '%s': mode bridge needs bridge, the name of an existing host bridge"
                                  % name)
        if subnet_params:
            raise ValidationError("network '%s': mode bridge connects guests to the host bridge %s, whose "
                                  "addresses libvirt does not manage; remove subnet or use another mode"
                                  % (name, bridge))
        if mtu is not None:
            raise ValidationError("network '%s': mode bridge uses the MTU of the host bridge %s; remove mtu"
                                  % (name, bridge))
    elif not subnet_params and mode != 'isolated':
        raise ValidationError("network '%s': mode %s needs a subnet" % (name, mode))
    bridge = bridge or default_bridge_name(name)
    _check_bridge_name(name, bridge)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise ValidationError("network '%s': mtu must be between 68 and 65535, got %s" % (name, mtu))
    dns_hosts = params.get('dns_hosts')
    if dns_hosts is not None and mode == 'bridge':
        raise ValidationError("network '%s': mode bridge has no DNS server of its own; remove dns_hosts" % name)
    desired = dict(mode=mode, bridge=bridge, mtu=mtu, cidr=None, gateway=None, allocation_pools=None,
                   dns_servers=None, dns_domain=None, active=True, autostart=True,
                   dns_hosts=dns_hosts_from_params(name, dns_hosts))
    if subnet_params:
        subnet = ipam.subnet_from_params(
            name, subnet_params.get('cidr'), gateway=subnet_params.get('gateway'),
            allocation_pools=subnet_params.get('allocation_pools'), dns_servers=subnet_params.get('dns_servers'))
        desired.update(_subnet_fields(subnet), dns_domain=subnet_params.get('dns_domain'))
    return desired


def dns_hosts_from_params(name, dns_hosts):
    """Static DNS records as ``[{ip, hostnames}]``, sorted; None when not managed."""
    if dns_hosts is None:
        return None
    ipam.require_netaddr()
    merged = {}
    for index, entry in enumerate(dns_hosts):
        try:
            address = ipam.netaddr.IPAddress(str(entry.get('ip')).strip())
        except (ipam.netaddr.AddrFormatError, ValueError, TypeError):
            raise ValidationError("network '%s': dns_hosts[%d]: invalid address %r" % (name, index, entry.get('ip')))
        hostnames = entry.get('hostnames') or []
        if not hostnames:
            raise ValidationError("network '%s': dns_hosts[%d]: hostnames must list at least one name" % (name, index))
        for hostname in hostnames:
            if not names.is_dns_name(hostname):
                raise ValidationError("network '%s': dns_hosts[%d]: invalid host name %r" % (name, index, hostname))
        merged.setdefault(str(address), set()).update(hostnames)
    return [{'ip': ip, 'hostnames': sorted(hosts)} for ip, hosts in sorted(merged.items(), key=lambda i: _ip_key(i[0]))]


def _ip_key(ip):
    address = ipam.netaddr.IPAddress(ip)
    return (address.version, int(address))


def dns_host_xml(host):
    node = xmlutil.element('host', ip=host['ip'])
    for hostname in host['hostnames']:
        xmlutil.sub(node, 'hostname', hostname)
    return node


def _subnet_fields(subnet):
    facts = subnet.to_dict()
    return {key: facts[key] for key in ('cidr', 'gateway', 'allocation_pools', 'dns_servers')}


def subnet_of(name, facts):
    """The :class:`ipam.Subnet` of a normalised network, or None when it has no subnet."""
    if not facts.get('cidr'):
        return None
    return ipam.subnet_from_params(name, facts['cidr'], gateway=facts.get('gateway'),
                                   allocation_pools=facts.get('allocation_pools') or None,
                                   dns_servers=facts.get('dns_servers'))


def network_xml(name, facts, uuid=None):
    """The libvirt XML of a network described by the normalised dict ``facts``, without ports
    (:func:`.records.with_records` adds them)."""
    net = xmlutil.element('network')
    xmlutil.sub(net, 'name', name)
    if uuid:
        xmlutil.sub(net, 'uuid', uuid)
    metadata = xmlutil.sub(net, 'metadata')
    metadata.append(xmlutil.metadata_to_element(METADATA_TAG, {
        key: facts.get(key) for key in DEFINITION_FIELDS}))
    forward = FORWARD_MODES[facts['mode']]
    if forward:
        xmlutil.sub(net, 'forward', mode=forward)
    if facts['mode'] == 'bridge':
        xmlutil.sub(net, 'bridge', name=facts['bridge'])
    else:
        xmlutil.sub(net, 'bridge', name=facts['bridge'], stp='on', delay='0')
    if facts.get('mtu') is not None:
        xmlutil.sub(net, 'mtu', size=facts['mtu'])
    if facts.get('dns_domain'):
        xmlutil.sub(net, 'domain', name=facts['dns_domain'])
    if facts.get('dns_servers') or facts.get('dns_hosts'):
        dns = xmlutil.sub(net, 'dns')
        for server in facts.get('dns_servers') or []:
            xmlutil.sub(dns, 'forwarder', addr=server)
        for host in facts.get('dns_hosts') or []:
            dns.append(dns_host_xml(host))
    if facts.get('cidr'):
        prefix = facts['cidr'].split('/')[1]
        ip = xmlutil.sub(net, 'ip', address=facts['gateway'], prefix=prefix)
        dhcp = xmlutil.sub(ip, 'dhcp')
        for pool in facts.get('allocation_pools') or []:
            xmlutil.sub(dhcp, 'range', start=pool['start'], end=pool['end'])
    return xmlutil.tostring(net)


def _cidr(ip):
    ipam.require_netaddr()
    address = ip.get('address')
    prefix = ip.get('prefix') or ip.get('netmask')
    return str(ipam.netaddr.IPNetwork('%s/%s' % (address, prefix)).cidr)


def ipv4_element(desc):
    """The IPv4 ``<ip>`` element of a network's XML, or None."""
    for ip in desc.findall('ip'):
        if ip.get('family', 'ipv4') == 'ipv4':
            return ip
    return None


def parse_network_xml(xml):
    """The normalised dict of a network's XML (the shape of :func:`desired_from_params`, without
    ``active`` and ``autostart``), plus ``name``, ``uuid``, ``managed`` and ``reservations``."""
    desc = xmlutil.parse(xml)
    forward = xmlutil.attr(desc, 'forward', 'mode')
    modes = {libvirt_mode: mode for mode, libvirt_mode in FORWARD_MODES.items()}
    mtu = xmlutil.attr(desc, 'mtu', 'size')
    facts = {
        'name': xmlutil.text(desc, 'name'),
        'uuid': xmlutil.text(desc, 'uuid'),
        'managed': desc.find('metadata/%s' % xmlutil.qname(METADATA_TAG)) is not None,
        'mode': modes.get(forward, forward),
        'bridge': xmlutil.attr(desc, 'bridge', 'name'),
        'mtu': int(mtu) if mtu else None,
        'cidr': None, 'gateway': None, 'allocation_pools': None,
        'dns_servers': [f.get('addr') for f in desc.findall('dns/forwarder') if f.get('addr')] or None,
        'dns_domain': xmlutil.attr(desc, 'domain', 'name'),
        'dns_hosts': [{'ip': h.get('ip'), 'hostnames': sorted(n.text for n in h.findall('hostname') if n.text)}
                      for h in desc.findall('dns/host')],
        'reservations': [],
    }
    ip = ipv4_element(desc)
    if ip is not None:
        facts.update(
            cidr=_cidr(ip), gateway=ip.get('address'),
            allocation_pools=[{'start': r.get('start'), 'end': r.get('end')} for r in ip.findall('dhcp/range')],
            reservations=[{'mac': h.get('mac'), 'ip': h.get('ip'), 'name': h.get('name')}
                          for h in ip.findall('dhcp/host')])
        # Normalised like desired_from_params(): a subnet always lists its DNS servers.
        facts['dns_servers'] = facts['dns_servers'] or []
    return facts
