# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP address management for the network service: pure functions over netaddr.

A :class:`Subnet` is validated once by :func:`subnet_from_params`; allocation takes the
addresses in use as a mapping ``address -> owner description`` (read from libvirt's DHCP
reservations by the caller) and never changes it. MAC addresses are derived from a seed so
that the same port gets the same MAC on every run.

netaddr is imported lazily: a controller without it gets a clear error when an address is
handled, never an import failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Tuple

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

try:
    import netaddr
except ImportError:  # reported by require_netaddr() when an address is handled
    netaddr = None

QEMU_MAC_PREFIX = names.QEMU_MAC_PREFIX

# How many perturbed seeds unique_mac() tries before giving up.
MAC_ATTEMPTS = 1000


def require_netaddr():
    """Raise a clear error when the netaddr Python library is missing on the controller."""
    if netaddr is None:
        raise KvmcloudError(
            'the netaddr Python library is required for IP address management; '
            'install it on the controller (pip install netaddr, or the python3-netaddr package)')


@dataclass(frozen=True)
class Subnet:
    """A validated IPv4 subnet: addresses are canonical strings, pools ``(start, end)`` pairs."""

    name: str
    cidr: str
    gateway: str
    allocation_pools: Tuple[Tuple[str, str], ...]
    dns_servers: Tuple[str, ...] = ()

    @property
    def network(self):
        require_netaddr()
        return netaddr.IPNetwork(self.cidr)

    def pools_text(self):
        """The pools with their sizes, for messages: ``10.0.0.2-10.0.0.254 (253 addresses)``."""
        sizes = [(start, end, _pool_size(start, end)) for start, end in self.allocation_pools]
        return ', '.join('%s-%s (%d address%s)' % (start, end, size, '' if size == 1 else 'es')
                         for start, end, size in sizes)

    def pool_size(self):
        return sum(_pool_size(start, end) for start, end in self.allocation_pools)

    def to_dict(self):
        return {
            'name': self.name,
            'cidr': self.cidr,
            'gateway': self.gateway,
            'allocation_pools': [{'start': start, 'end': end} for start, end in self.allocation_pools],
            'dns_servers': list(self.dns_servers),
        }


def _pool_size(start, end):
    return int(netaddr.IPAddress(end)) - int(netaddr.IPAddress(start)) + 1


def parse_network(cidr, name=None):
    """``cidr`` as an IPv4 ``netaddr.IPNetwork`` with room for a host; ``ValidationError`` otherwise.

    ``cidr`` must be the network address itself: ``10.0.0.5/24`` is refused with a hint.
    """
    require_netaddr()
    where = "network '%s': " % name if name else ''
    if not isinstance(cidr, str) or '/' not in cidr:
        raise ValidationError('%sinvalid cidr %r: expected an address and a prefix length, '
                              'such as 10.0.0.0/24' % (where, cidr))
    try:
        network = netaddr.IPNetwork(cidr.strip())
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError('%sinvalid cidr %r: expected an address and a prefix length, '
                              'such as 10.0.0.0/24' % (where, cidr))
    if network.version != 4:
        raise ValidationError('%scidr %s: IPv6 is not supported yet' % (where, cidr))
    if network.ip != network.network:
        raise ValidationError('%scidr %s is not a network address: did you mean %s?'
                              % (where, cidr, network.cidr))
    if network.prefixlen > 30:
        raise ValidationError('%scidr %s is too small: a network needs a prefix length of 30 or '
                              'less to hold a gateway and an address' % (where, cidr))
    return network


def _address(value, what, name):
    """``value`` as a ``netaddr.IPAddress``; the message names the network and the value."""
    if isinstance(value, str):
        try:
            return netaddr.IPAddress(value.strip())
        except (netaddr.AddrFormatError, ValueError, TypeError):
            pass
    raise ValidationError("network '%s': invalid %s %r: expected an IPv4 address such as 10.0.0.1"
                          % (name, what, value))


def nth_host(cidr, n):
    """The ``n``-th host of a network: 1 is the first host, -1 the last (broadcast - 1).

    0 and anything beyond the hosts are refused: the network and broadcast addresses are not
    hosts.
    """
    network = parse_network(cidr)
    hosts = network.size - 2
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationError('host number %r for %s must be an integer' % (n, cidr))
    if n == 0 or abs(n) > hosts:
        raise ValidationError('host number %s is out of range for %s: use 1 to %d, or -1 to -%d '
                              'to count from the end' % (n, cidr, hosts, hosts))
    base = network.first if n > 0 else network.last
    return str(netaddr.IPAddress(base + n, 4))


def _first_host(network):
    return netaddr.IPAddress(network.first + 1, 4)


def _last_host(network):
    return netaddr.IPAddress(network.last - 1, 4)


def _default_pools(network, gateway):
    """Every host but the gateway: one range, or two when the gateway is in the middle."""
    ranges = [(_first_host(network), gateway - 1), (gateway + 1, _last_host(network))]
    return tuple((str(start), str(end)) for start, end in ranges if start <= end)


def _check_pool_address(name, network, address, pool):
    if address not in network:
        raise ValidationError("network '%s': allocation pool %s lies outside the subnet %s"
                              % (name, pool, network))
    if int(address) in (network.first, network.last):
        raise ValidationError("network '%s': allocation pool %s contains the network or broadcast "
                              "address of %s" % (name, pool, network))


def _pools(name, network, gateway, allocation_pools):
    if not isinstance(allocation_pools, (list, tuple)) or not allocation_pools:
        raise ValidationError("network '%s': allocation_pools must be a non-empty list of "
                              "{start, end}, got %r" % (name, allocation_pools))
    parsed = []
    for pool in allocation_pools:
        if not isinstance(pool, dict) or set(pool) != {'start', 'end'}:
            raise ValidationError("network '%s': invalid allocation pool %r: expected a mapping "
                                  "with start and end" % (name, pool))
        start = _address(pool['start'], 'allocation pool start', name)
        end = _address(pool['end'], 'allocation pool end', name)
        text = '%s-%s' % (start, end)
        if start > end:
            raise ValidationError("network '%s': allocation pool %s has its start after its end"
                                  % (name, text))
        for address in (start, end):
            _check_pool_address(name, network, address, text)
        if start <= gateway <= end:
            raise ValidationError("network '%s': allocation pool %s contains the gateway %s"
                                  % (name, text, gateway))
        parsed.append((start, end, text))
    ordered = sorted(parsed)
    for (_start, prev_end, prev_text), (start, _end, text) in zip(ordered, ordered[1:]):
        if start <= prev_end:
            raise ValidationError("network '%s': allocation pools %s and %s overlap"
                                  % (name, prev_text, text))
    return tuple((str(start), str(end)) for start, end, _text in parsed)


def subnet_from_params(name, cidr, gateway=None, allocation_pools=None, dns_servers=None):
    """Validate a network's subnet parameters and return the :class:`Subnet`.

    The gateway defaults to the first host; the allocation pools default to every host but
    the gateway (from the gateway + 1 to the last host when the gateway is the first host).
    """
    network = parse_network(cidr, name)
    if gateway is None:
        gateway_ip = _first_host(network)
    else:
        gateway_ip = _address(gateway, 'gateway', name)
        if gateway_ip not in network:
            raise ValidationError("network '%s': gateway %s lies outside the subnet %s"
                                  % (name, gateway, network))
        if int(gateway_ip) == network.first:
            raise ValidationError("network '%s': gateway %s is the network address of %s"
                                  % (name, gateway, network))
        if int(gateway_ip) == network.last:
            raise ValidationError("network '%s': gateway %s is the broadcast address of %s"
                                  % (name, gateway, network))
    if allocation_pools is None:
        pools = _default_pools(network, gateway_ip)
    else:
        pools = _pools(name, network, gateway_ip, allocation_pools)
    if dns_servers is None:
        dns_servers = []
    if not isinstance(dns_servers, (list, tuple)):
        raise ValidationError("network '%s': dns_servers must be a list of addresses, got %r"
                              % (name, dns_servers))
    dns = []
    for server in dns_servers:
        if not isinstance(server, str):
            raise ValidationError("network '%s': invalid DNS server %r" % (name, server))
        try:
            dns.append(str(netaddr.IPAddress(server.strip())))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ValidationError("network '%s': invalid DNS server %r" % (name, server))
    return Subnet(name=name, cidr=str(network.cidr), gateway=str(gateway_ip),
                  allocation_pools=pools, dns_servers=tuple(dns))


def check_no_overlap(subnets):
    """Refuse two subnets of the cloud whose networks overlap; the message names both."""
    require_netaddr()
    # Sorted by first address, the networks are disjoint when each ends before the next starts.
    ordered = sorted(subnets, key=lambda subnet: (subnet.network.first, subnet.network.last, subnet.name))
    for previous, subnet in zip(ordered, ordered[1:]):
        if subnet.network.first <= previous.network.last:
            raise ValidationError("networks '%s' (%s) and '%s' (%s) overlap"
                                  % (previous.name, previous.cidr, subnet.name, subnet.cidr))


def _used_index(used):
    """``used`` keyed by the address as an integer, so any spelling of an address matches."""
    index = {}
    for address, owner in (used or {}).items():
        try:
            index[int(netaddr.IPAddress(str(address).strip()))] = owner
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ValidationError('invalid address in use %r (owner %s)' % (address, owner))
    return index


def _in_pools(subnet, value):
    return any(int(netaddr.IPAddress(start)) <= value <= int(netaddr.IPAddress(end))
               for start, end in subnet.allocation_pools)


def _check_requested(subnet, used_index, requested, owner=None):
    """The requested address as an integer, or a ``ValidationError`` saying why it cannot be had."""
    address = _address(requested, 'requested address', subnet.name)
    value = int(address)
    if address not in subnet.network:
        raise ValidationError("network '%s': requested address %s lies outside the subnet %s"
                              % (subnet.name, address, subnet.cidr))
    if str(address) == subnet.gateway:
        raise ValidationError("network '%s': requested address %s is the gateway"
                              % (subnet.name, address))
    if not _in_pools(subnet, value):
        raise ValidationError("network '%s': requested address %s is outside the allocation pools %s"
                              % (subnet.name, address, subnet.pools_text()))
    holder = used_index.get(value)
    if holder is not None and (owner is None or holder != owner):
        raise ValidationError("network '%s': requested address %s is already in use by %s"
                              % (subnet.name, address, holder))
    return value


def _free_addresses(subnet, used_index):
    """The free addresses of the pools as integers, lowest first, pools in their given order."""
    for start, end in subnet.allocation_pools:
        for value in range(int(netaddr.IPAddress(start)), int(netaddr.IPAddress(end)) + 1):
            if value not in used_index:
                yield value


def _exhausted(subnet, wanted=1, free=0):
    return ValidationError("network '%s' (%s) has no room for %d more address%s (%d free): its "
                           "allocation pools %s are in use"
                           % (subnet.name, subnet.cidr, wanted, '' if wanted == 1 else 'es', free,
                              subnet.pools_text()))


def allocate(subnet, used, requested=None):
    """One address of ``subnet``: ``requested`` after checking it, or the lowest free one.

    ``used`` maps address -> owner description and is not changed.
    """
    require_netaddr()
    used_index = _used_index(used)
    if requested is not None:
        return str(netaddr.IPAddress(_check_requested(subnet, used_index, requested), 4))
    value = next(_free_addresses(subnet, used_index), None)
    if value is None:
        raise _exhausted(subnet)
    return str(netaddr.IPAddress(value, 4))


def allocate_many(subnet, used, requests):
    """Plan several allocations at once: ``requests`` is a list of ``(owner, requested or None)``.

    Requested addresses are honoured first (an address ``used`` already gives to the same owner
    is kept), then the others get the lowest free addresses in request order. No address is
    handed out twice. Returns ``{owner: address}``; ``used`` is not changed.
    """
    require_netaddr()
    used_index = _used_index(used)
    counts = Counter(owner for owner, _requested in requests)
    duplicates = sorted((owner for owner, count in counts.items() if count > 1), key=str)
    if duplicates:
        raise ValidationError("network '%s': an address is requested twice for %s"
                              % (subnet.name, ', '.join(str(owner) for owner in duplicates)))
    result = {}
    for owner, requested in requests:
        if requested is not None:
            value = _check_requested(subnet, used_index, requested, owner=owner)
            used_index[value] = owner
            result[owner] = str(netaddr.IPAddress(value, 4))
    pending = [owner for owner, requested in requests if requested is None]
    free = _free_in_pools(subnet, used_index)
    if len(pending) > free:
        raise _exhausted(subnet, wanted=len(pending), free=free)
    for owner, value in zip(pending, _free_addresses(subnet, used_index)):
        result[owner] = str(netaddr.IPAddress(value, 4))
    return result


def _free_in_pools(subnet, used_index):
    taken = sum(1 for value in used_index if _in_pools(subnet, value))
    return subnet.pool_size() - taken


def free_count(subnet, used):
    """How many addresses of the allocation pools are free."""
    require_netaddr()
    return _free_in_pools(subnet, _used_index(used))


def mac_address(prefix=QEMU_MAC_PREFIX, seed=''):
    """A deterministic locally administered unicast MAC: ``prefix`` + 3 bytes of sha256(seed)."""
    prefix = names.mac_prefix(prefix)
    if not isinstance(seed, str) or not seed:
        raise ValidationError('the seed of a MAC address must be a non-empty string, got %r' % (seed,))
    digest = hashlib.sha256(seed.encode('utf-8')).hexdigest()
    return '%s:%s:%s:%s' % (prefix, digest[0:2], digest[2:4], digest[4:6])


def unique_mac(prefix, seed, taken):
    """:func:`mac_address` of ``seed``, then of ``seed#1``, ``seed#2``... until not in ``taken``."""
    taken = set(names.plain_mac(mac) for mac in taken or ())
    candidate = mac_address(prefix, seed)
    for attempt in range(1, MAC_ATTEMPTS + 1):
        if candidate not in taken:
            return candidate
        candidate = mac_address(prefix, '%s#%d' % (seed, attempt))
    raise ValidationError('no free MAC address with prefix %s for %s after %d attempts'
                          % (prefix, seed, MAC_ATTEMPTS))
