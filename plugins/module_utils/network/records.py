# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The networks of a hypervisor as libvirt holds them, and the ports recorded in them.

A port exists in its network on every hypervisor that network is defined on, twice over here:

- a DHCP host reservation (MAC -> IP, hostname) in the network, live and in its persistent
  config, so dnsmasq always hands the port its address, also across a network restart;
- a record in the network's persistent ``<metadata>`` (key ``ports`` of the collection's
  element; libvirt keeps one element per namespace): project, security groups, server,
  creation time. libvirt 9.0 cannot change a running network's metadata, so records are read
  from the persistent definition (``VIR_NETWORK_XML_INACTIVE``), which is where they are written.

(The third, its nwfilter, is in :mod:`.filters`.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_NETWORK_SECTION_IP_DHCP_HOST, VIR_NETWORK_UPDATE_AFFECT_LIVE, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    VIR_NETWORK_UPDATE_COMMAND_DELETE, VIR_NETWORK_UPDATE_COMMAND_MODIFY, VIR_NETWORK_XML_INACTIVE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import (
    KvmcloudError, LibvirtCallError, ValidationError)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.netxml import (
    METADATA_TAG, ipv4_element, parse_network_xml)

# The key of the port records in the network's metadata.
RECORDS_KEY = 'ports'

# From this many DHCP host changes on a running network that nothing is plugged into, the
# network is restarted from its config instead (each live update restarts dnsmasq).
RESTART_AT = 3


def list_networks(h):
    """``[(network, parsed facts)]`` for every network of hypervisor ``h``."""
    return [(net, parse_network_xml(net.XMLDesc(0))) for net in h.listAllNetworks(0)]


def persistent_xml(net):
    """The persistent definition of a network: where port records are written."""
    if not net.isActive():
        return net.XMLDesc(0)
    try:
        return net.XMLDesc(VIR_NETWORK_XML_INACTIVE)
    except LibvirtCallError as err:
        # libvirt's test driver has no persistent/live split and refuses the flag.
        if 'unsupported flags' not in err.message:
            raise
        return net.XMLDesc(0)


def _metadata_element(desc):
    return desc.find('metadata/%s' % xmlutil.qname(METADATA_TAG))


def records_of(xml):
    """``{port name: record}`` stored in a network's XML."""
    node = _metadata_element(xmlutil.parse(xml))
    if node is None:
        return {}
    return (xmlutil.element_to_metadata(node) or {}).get(RECORDS_KEY) or {}


def network_records(net):
    """``{port name: record}`` of a network (None: a network that does not exist)."""
    return records_of(persistent_xml(net)) if net is not None else {}


def _dhcp(desc):
    ip = ipv4_element(desc)
    return ip.find('dhcp') if ip is not None else None


def hosts_of(xml):
    """The DHCP host entries of a network's XML: ``[{mac, ip, name}]``."""
    dhcp = _dhcp(xmlutil.parse(xml))
    if dhcp is None:
        return []
    return [{'mac': (h.get('mac') or '').lower() or None, 'ip': h.get('ip'), 'name': h.get('name')}
            for h in dhcp.findall('host')]


def host_of(record):
    return {'mac': record['mac'], 'ip': record['ip'], 'name': record.get('hostname')}


def _host_attrs(host):
    return {key: host[key] for key in ('mac', 'ip', 'name') if host.get(key)}


def host_xml(host):
    return xmlutil.tostring(xmlutil.element('host', **_host_attrs(host)))


def with_records(xml, records):
    """A network XML whose port records and port reservations are ``records``.

    Host entries of MACs that are not ports (added by hand) are kept; those of ports no longer
    in ``records`` are dropped. Raises when the network has no DHCP subnet.
    """
    desc = xmlutil.parse(xml)
    node = _metadata_element(desc)
    if node is None:
        raise ValidationError("network '%s' was not defined by kvmcloud, so it cannot hold ports"
                              % xmlutil.text(desc, 'name'))
    # libvirt keeps one metadata element per namespace: the records go inside the network's.
    data = dict(xmlutil.element_to_metadata(node) or {})
    data.pop(RECORDS_KEY, None)
    if records:
        data[RECORDS_KEY] = records
    metadata = desc.find('metadata')
    index = list(metadata).index(node)
    metadata.remove(node)
    metadata.insert(index, xmlutil.metadata_to_element(METADATA_TAG, data))
    dhcp = _dhcp(desc)
    if dhcp is None:
        if records:
            raise ValidationError("network '%s' has no subnet with DHCP, so it cannot hold ports"
                                  % xmlutil.text(desc, 'name'))
        return xmlutil.tostring(desc)
    previous = records_of(xml)
    port_macs = {r['mac'] for r in previous.values()} | {r['mac'] for r in records.values()}
    for host in dhcp.findall('host'):
        if (host.get('mac') or '').lower() in port_macs:
            dhcp.remove(host)
    for name in sorted(records):
        xmlutil.sub(dhcp, 'host', **_host_attrs(host_of(records[name])))
    return xmlutil.tostring(desc)


def write_records(h, net, records):
    """Make the port records and reservations of network ``net`` of hypervisor ``h``
    ``records``: the persistent config by defining it anew, the running network by
    ``virNetworkUpdate`` of the changed host entries."""
    name = net.name()
    before = persistent_xml(net)
    definer = h.about(name)
    definer.networkDefineXML(with_records(before, records))
    if not net.isActive():
        return
    try:
        live = net.XMLDesc(0)
        changes = _live_changes(live, records_of(before), records)
        if len(changes) >= RESTART_AT and not _connections(live):
            # Nothing is plugged in: starting the network again from its new config applies
            # every entry at once, where each update restarts dnsmasq.
            net.destroy()
            net.create()
            return
        for command, host in changes:
            net.about('DHCP host %s of %s' % (host['mac'], name)).update(
                command, VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host_xml(host), VIR_NETWORK_UPDATE_AFFECT_LIVE)
    except KvmcloudError:
        # The persistent config goes back to what it was: nothing half-written.
        definer.networkDefineXML(before)
        raise


def _live_changes(live_xml, old_records, records):
    """``[(command, host)]`` that make the running network's DHCP hosts match ``records``."""
    live = {h['mac']: h for h in hosts_of(live_xml)}
    wanted = {r['mac']: host_of(r) for r in records.values()}
    stale = set(r['mac'] for r in old_records.values()) - set(wanted)
    changes = [(VIR_NETWORK_UPDATE_COMMAND_DELETE, live.pop(mac)) for mac in sorted(stale) if mac in live]
    for mac in sorted(wanted):
        host = wanted[mac]
        if mac not in live:
            changes.append((VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, host))
        elif live[mac] != host:
            changes.append((VIR_NETWORK_UPDATE_COMMAND_MODIFY, host))
    return changes


def _connections(live_xml):
    """How many interfaces are plugged into the running network."""
    return int(xmlutil.parse(live_xml).get('connections') or 0)


def managed_networks(h):
    """``[(network, parsed facts, persistent XML)]`` of the collection's networks on ``h``."""
    return [(net, facts, persistent_xml(net)) for net, facts in list_networks(h) if facts['managed']]


def read_ports(h):
    """Every port recorded on hypervisor ``h``: ``[{name, network, project, ip, mac, hostname,
    security_groups, server, created}]``, sorted by name."""
    ports = []
    for _net, _facts, xml in managed_networks(h):
        ports.extend(records_of(xml).values())
    return sorted(ports, key=lambda p: p['name'])
