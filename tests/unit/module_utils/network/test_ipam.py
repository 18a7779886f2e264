"""IP address management: subnet validation, allocation, MAC addresses."""

import re

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam


def subnet(cidr='10.0.0.0/24', **kwargs):
    return ipam.subnet_from_params('net1', cidr, **kwargs)


def pools(*ranges):
    return [{'start': start, 'end': end} for start, end in ranges]


# Subnet validation

def test_defaults_gateway_first_host_pool_the_rest():
    net = subnet()
    assert net == ipam.Subnet('net1', '10.0.0.0/24', '10.0.0.1', (('10.0.0.2', '10.0.0.254'),), ())
    assert net.pool_size() == 253
    assert net.to_dict() == {'name': 'net1', 'cidr': '10.0.0.0/24', 'gateway': '10.0.0.1',
                             'allocation_pools': [{'start': '10.0.0.2', 'end': '10.0.0.254'}],
                             'dns_servers': []}


def test_default_pools_leave_out_a_gateway_in_the_middle():
    assert subnet(gateway='10.0.0.100').allocation_pools == (
        ('10.0.0.1', '10.0.0.99'), ('10.0.0.101', '10.0.0.254'))
    assert subnet(gateway='10.0.0.254').allocation_pools == (('10.0.0.1', '10.0.0.253'),)


def test_smallest_network():
    net = subnet('192.168.1.4/30')
    assert (net.gateway, net.allocation_pools) == ('192.168.1.5', (('192.168.1.6', '192.168.1.6'),))


def test_explicit_pools_and_dns_are_kept_in_order_and_canonical():
    net = subnet(gateway='10.0.0.254', allocation_pools=pools(('10.0.0.100', '10.0.0.199'), ('10.0.0.10', '10.0.0.19')),
                 dns_servers=['9.9.9.9', '2620:fe::fe'])
    assert net.allocation_pools == (('10.0.0.100', '10.0.0.199'), ('10.0.0.10', '10.0.0.19'))
    assert net.dns_servers == ('9.9.9.9', '2620:fe::fe')


@pytest.mark.parametrize('cidr, message', [
    ('10.0.0.5/24', r"network 'net1': cidr 10\.0\.0\.5/24 is not a network address: did you mean 10\.0\.0\.0/24\?"),
    ('10.0.0.0', r"network 'net1': invalid cidr '10\.0\.0\.0'"),
    ('10.0.0.0/33', r"invalid cidr '10\.0\.0\.0/33'"),
    ('10/8', r"invalid cidr '10/8'"),
    ('banana/24', r"invalid cidr 'banana/24'"),
    (None, r"invalid cidr None"),
    ('10.0.0.0/31', r"cidr 10\.0\.0\.0/31 is too small"),
    ('fd00::/64', r"cidr fd00::/64: IPv6 is not supported yet"),
])
def test_bad_cidr(cidr, message):
    with pytest.raises(ValidationError, match=message):
        subnet(cidr)


@pytest.mark.parametrize('gateway, message', [
    ('10.0.1.1', r"network 'net1': gateway 10\.0\.1\.1 lies outside the subnet 10\.0\.0\.0/24"),
    ('10.0.0.0', r"network 'net1': gateway 10\.0\.0\.0 is the network address"),
    ('10.0.0.255', r"network 'net1': gateway 10\.0\.0\.255 is the broadcast address"),
    ('10.0.0', r"network 'net1': invalid gateway '10\.0\.0'"),
    (1, r"network 'net1': invalid gateway 1"),
])
def test_bad_gateway(gateway, message):
    with pytest.raises(ValidationError, match=message):
        subnet(gateway=gateway)


@pytest.mark.parametrize('allocation_pools, message', [
    (pools(('10.0.0.200', '10.0.1.10')), r"network 'net1': allocation pool 10\.0\.0\.200-10\.0\.1\.10 lies outside"),
    (pools(('9.255.255.250', '10.0.0.10')), r"allocation pool 9\.255\.255\.250-10\.0\.0\.10 lies outside"),
    (pools(('10.0.0.20', '10.0.0.10')), r"allocation pool 10\.0\.0\.20-10\.0\.0\.10 has its start after its end"),
    (pools(('10.0.0.10', '10.0.0.50'), ('10.0.0.50', '10.0.0.60')),
     r"allocation pools 10\.0\.0\.10-10\.0\.0\.50 and 10\.0\.0\.50-10\.0\.0\.60 overlap"),
    (pools(('10.0.0.100', '10.0.0.150'), ('10.0.0.10', '10.0.0.200')),
     r"allocation pools 10\.0\.0\.10-10\.0\.0\.200 and 10\.0\.0\.100-10\.0\.0\.150 overlap"),
    (pools(('10.0.0.1', '10.0.0.10')), r"allocation pool 10\.0\.0\.1-10\.0\.0\.10 contains the gateway 10\.0\.0\.1"),
    (pools(('10.0.0.0', '10.0.0.0')), r"allocation pool 10\.0\.0\.0-10\.0\.0\.0 contains the network or broadcast"),
    (pools(('10.0.0.200', '10.0.0.255')), r"allocation pool 10\.0\.0\.200-10\.0\.0\.255 contains the network or broadcast"),
    (pools(('10.0.0.10', 'x')), r"network 'net1': invalid allocation pool end 'x'"),
    ([{'start': '10.0.0.10'}], r"network 'net1': invalid allocation pool \{'start': '10\.0\.0\.10'\}"),
    ([], r"allocation_pools must be a non-empty list"),
])
def test_bad_pools(allocation_pools, message):
    with pytest.raises(ValidationError, match=message):
        subnet(allocation_pools=allocation_pools)


@pytest.mark.parametrize('dns_servers, message', [
    (['1.1.1.1', 'dns.example.com'], r"network 'net1': invalid DNS server 'dns\.example\.com'"),
    ('1.1.1.1', r"dns_servers must be a list"),
])
def test_bad_dns_servers(dns_servers, message):
    with pytest.raises(ValidationError, match=message):
        subnet(dns_servers=dns_servers)


def test_check_no_overlap_passes_disjoint_networks():
    ipam.check_no_overlap([subnet('10.0.1.0/24'), subnet('10.0.0.0/24'), subnet('192.168.0.0/30')])
    ipam.check_no_overlap([])


@pytest.mark.parametrize('cidrs, message', [
    (['10.0.0.0/24', '10.0.0.0/24'], r"networks 'a' \(10\.0\.0\.0/24\) and 'b' \(10\.0\.0\.0/24\) overlap"),
    (['10.0.5.0/24', '10.0.0.0/16'], r"networks 'b' \(10\.0\.0\.0/16\) and 'a' \(10\.0\.5\.0/24\) overlap"),
    (['10.0.9.0/24', '10.0.1.0/24', '10.0.0.0/16'], r"networks 'c' \(10\.0\.0\.0/16\) and 'b' \(10\.0\.1\.0/24\)"),
    (['192.168.0.0/24', '10.0.0.0/8', '10.200.0.0/30'], r"networks 'b' \(10\.0\.0\.0/8\) and 'c' \(10\.200\.0\.0/30\)"),
])
def test_check_no_overlap_names_both(cidrs, message):
    subnets = [ipam.subnet_from_params(name, cidr) for name, cidr in zip('abc', cidrs)]
    with pytest.raises(ValidationError, match=message):
        ipam.check_no_overlap(subnets)


# Allocation

def test_allocate_lowest_free_in_pool_order():
    net = subnet(allocation_pools=pools(('10.0.0.100', '10.0.0.101'), ('10.0.0.10', '10.0.0.11')))
    assert ipam.allocate(net, {}) == '10.0.0.100'
    assert ipam.allocate(net, {'10.0.0.100': 'port a'}) == '10.0.0.101'
    assert ipam.allocate(net, {'10.0.0.100': 'a', '10.0.0.101': 'b'}) == '10.0.0.10'
    assert ipam.allocate(net, {'10.0.0.100': 'a', '10.0.0.101': 'b', '10.0.0.10': 'c'}) == '10.0.0.11'


def test_allocate_ignores_used_addresses_outside_the_pools():
    assert ipam.allocate(subnet(), {'10.0.0.1': 'gateway', '192.168.0.2': 'elsewhere'}) == '10.0.0.2'


def test_allocate_does_not_change_used():
    used = {'10.0.0.2': 'a'}
    ipam.allocate(subnet(), used)
    assert used == {'10.0.0.2': 'a'}


def test_allocate_exhausted_names_network_and_pools():
    net = subnet('10.0.0.0/29', allocation_pools=pools(('10.0.0.2', '10.0.0.3'), ('10.0.0.6', '10.0.0.6')))
    used = {'10.0.0.2': 'a', '10.0.0.3': 'b', '10.0.0.6': 'c'}
    with pytest.raises(ValidationError, match=r"network 'net1' \(10\.0\.0\.0/29\) has no room for 1 more address "
                                              r"\(0 free\): its allocation pools 10\.0\.0\.2-10\.0\.0\.3 \(2 addresses\), "
                                              r"10\.0\.0\.6-10\.0\.0\.6 \(1 address\) are in use"):
        ipam.allocate(net, used)


def test_allocate_requested():
    assert ipam.allocate(subnet(), {'10.0.0.2': 'a'}, requested='10.0.0.50') == '10.0.0.50'


@pytest.mark.parametrize('requested, message', [
    ('10.0.0.1', r"network 'net1': requested address 10\.0\.0\.1 is the gateway"),
    ('10.0.0.5', r"network 'net1': requested address 10\.0\.0\.5 is outside the allocation pools "
                 r"10\.0\.0\.10-10\.0\.0\.20 \(11 addresses\)"),
    ('10.0.1.15', r"requested address 10\.0\.1\.15 lies outside the subnet 10\.0\.0\.0/24"),
    ('10.0.0.12', r"network 'net1': requested address 10\.0\.0\.12 is already in use by port web1/eth0"),
    ('not-an-ip', r"network 'net1': invalid requested address 'not-an-ip'"),
])
def test_allocate_requested_refused(requested, message):
    net = subnet(allocation_pools=pools(('10.0.0.10', '10.0.0.20')))
    with pytest.raises(ValidationError, match=message):
        ipam.allocate(net, {'10.0.0.12': 'port web1/eth0'}, requested=requested)


def test_invalid_used_address():
    with pytest.raises(ValidationError, match=r"invalid address in use 'x' \(owner a\)"):
        ipam.allocate(subnet(), {'x': 'a'})


def test_allocate_many_requested_first_then_lowest_free_without_duplicates():
    net = subnet('10.0.0.0/28')  # pool 10.0.0.2 - 10.0.0.14
    requests = [('a', None), ('b', '10.0.0.3'), ('c', None), ('d', None), ('e', '10.0.0.2')]
    planned = ipam.allocate_many(net, {'10.0.0.4': 'old'}, requests)
    assert planned == {'a': '10.0.0.5', 'b': '10.0.0.3', 'c': '10.0.0.6', 'd': '10.0.0.7', 'e': '10.0.0.2'}
    assert ipam.allocate_many(net, {'10.0.0.4': 'old'}, requests) == planned


def test_allocate_many_fills_a_network_exactly_with_distinct_addresses():
    net = subnet('10.0.0.0/24')
    planned = ipam.allocate_many(net, {}, [('port%d' % i, None) for i in range(253)])
    assert len(set(planned.values())) == 253
    assert ipam.free_count(net, dict((address, owner) for owner, address in planned.items())) == 0


def test_allocate_many_exhausted_says_how_many():
    net = subnet('10.0.0.0/29')  # pool 10.0.0.2 - 10.0.0.6: five addresses
    with pytest.raises(ValidationError, match=r"network 'net1' \(10\.0\.0\.0/29\) has no room for 4 more "
                                              r"addresses \(3 free\)"):
        ipam.allocate_many(net, {'10.0.0.2': 'x'}, [('a', '10.0.0.6'), ('b', None), ('c', None), ('d', None), ('e', None)])


def test_allocate_many_same_requested_address_twice():
    with pytest.raises(ValidationError, match=r"requested address 10\.0\.0\.9 is already in use by a"):
        ipam.allocate_many(subnet(), {}, [('a', '10.0.0.9'), ('b', '10.0.0.9')])


def test_allocate_many_keeps_an_address_the_owner_holds():
    assert ipam.allocate_many(subnet(), {'10.0.0.9': 'a'}, [('a', '10.0.0.9')]) == {'a': '10.0.0.9'}


def test_allocate_many_refuses_an_owner_twice():
    with pytest.raises(ValidationError, match=r"network 'net1': an address is requested twice for a"):
        ipam.allocate_many(subnet(), {}, [('a', None), ('b', None), ('a', None)])


def test_allocate_many_validates_requested():
    with pytest.raises(ValidationError, match=r"requested address 10\.0\.0\.1 is the gateway"):
        ipam.allocate_many(subnet(), {}, [('a', None), ('b', '10.0.0.1')])


def test_free_count():
    net = subnet(allocation_pools=pools(('10.0.0.10', '10.0.0.19'), ('10.0.0.30', '10.0.0.39')))
    assert ipam.free_count(net, {}) == 20
    assert ipam.free_count(net, {'10.0.0.10': 'a', '10.0.0.39': 'b', '10.0.0.1': 'gw', '10.0.0.25': 'c'}) == 18


# MAC addresses

MAC_RE = re.compile(r'^([0-9a-f]{2}:){5}[0-9a-f]{2}$')


def test_mac_address_is_deterministic_and_well_formed():
    mac = ipam.mac_address(seed='demo/web1/private')
    assert mac == ipam.mac_address('52:54:00', 'demo/web1/private')
    assert MAC_RE.match(mac) and mac.startswith('52:54:00:')
    assert mac != ipam.mac_address(seed='demo/web2/private')
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_mac_address_known_value():
    # sha256('a/b/c') starts with d76a7b
    assert ipam.mac_address('52:54:00', 'a/b/c') == '52:54:00:d7:6a:7b'


@pytest.mark.parametrize('prefix, expected', [('02:4B:43', '02:4b:43'), ('fe-00-01', 'fe:00:01')])
def test_mac_address_other_locally_administered_prefixes(prefix, expected):
    assert ipam.mac_address(prefix, 'x').startswith(expected + ':')


@pytest.mark.parametrize('prefix, message', [
    ('00:16:3e', r"locally administered bit of the first byte is not set"),
    ('53:54:00', r"multicast bit of the first byte is set"),
    ('52:54', r"invalid MAC prefix '52:54'"),
    ('52:54:0g', r"invalid MAC prefix '52:54:0g'"),
])
def test_mac_address_bad_prefix(prefix, message):
    with pytest.raises(ValidationError, match=message):
        ipam.mac_address(prefix, 'seed')


@pytest.mark.parametrize('seed', ['', None, 7])
def test_mac_address_bad_seed(seed):
    with pytest.raises(ValidationError, match='seed of a MAC address'):
        ipam.mac_address('52:54:00', seed)


def test_unique_mac_perturbs_deterministically():
    first = ipam.mac_address('52:54:00', 'p/s/n')
    assert ipam.unique_mac('52:54:00', 'p/s/n', []) == first
    second = ipam.unique_mac('52:54:00', 'p/s/n', [first.upper()])
    assert second == ipam.mac_address('52:54:00', 'p/s/n#1') != first
    third = ipam.unique_mac('52:54:00', 'p/s/n', {first, second.replace(':', '-')})
    assert third == ipam.mac_address('52:54:00', 'p/s/n#2')
    assert len({first, second, third}) == 3


def test_unique_mac_gives_up(monkeypatch):
    monkeypatch.setattr(ipam, 'MAC_ATTEMPTS', 3)
    taken = [ipam.mac_address('52:54:00', 'p')] + [ipam.mac_address('52:54:00', 'p#%d' % i) for i in range(1, 4)]
    with pytest.raises(ValidationError, match='no free MAC address with prefix 52:54:00 for p after 3 attempts'):
        ipam.unique_mac('52:54:00', 'p', taken)


# nth_host and a missing netaddr

@pytest.mark.parametrize('n, expected', [(1, '10.0.0.1'), (5, '10.0.0.5'), (254, '10.0.0.254'),
                                         (-1, '10.0.0.254'), (-254, '10.0.0.1')])
def test_nth_host(n, expected):
    assert ipam.nth_host('10.0.0.0/24', n) == expected


@pytest.mark.parametrize('n', [0, 255, -255, '1', True, 1.0])
def test_nth_host_refuses(n):
    with pytest.raises(ValidationError, match='host number'):
        ipam.nth_host('10.0.0.0/24', n)


def test_missing_netaddr_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(ipam, 'netaddr', None)
    with pytest.raises(KvmcloudError, match='the netaddr Python library is required'):
        subnet()
    with pytest.raises(KvmcloudError, match='netaddr'):
        ipam.nth_host('10.0.0.0/24', 1)
    # MAC addresses need only hashlib
    assert ipam.mac_address('52:54:00', 'a/b/c') == '52:54:00:d7:6a:7b'
