"""The network filters, called through FilterModule as Ansible calls them."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmcloud.cloud.plugins.filter.network import FilterModule
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import ipam

FILTERS = FilterModule().filters()


def test_exposes_the_documented_filters():
    assert sorted(FILTERS) == ['mac_address', 'nth_host', 'subnet_gateway', 'subnet_pool']


@pytest.mark.parametrize('cidr, n, expected', [
    ('10.0.0.0/24', 5, '10.0.0.5'), ('10.0.0.0/24', 1, '10.0.0.1'), ('10.0.0.0/24', -1, '10.0.0.254'),
    ('10.0.0.0/24', -2, '10.0.0.253'), ('172.16.0.0/12', 65536, '172.17.0.0'), ('192.168.0.4/30', -1, '192.168.0.6'),
])
def test_nth_host(cidr, n, expected):
    assert FILTERS['nth_host'](cidr, n) == expected


@pytest.mark.parametrize('cidr, n, message', [
    ('10.0.0.0/24', 0, r'kvmcloud\.cloud\.nth_host: host number 0 is out of range for 10\.0\.0\.0/24: '
                       r'use 1 to 254, or -1 to -254'),
    ('10.0.0.0/24', 255, r'host number 255 is out of range'),
    ('10.0.0.0/24', -255, r'host number -255 is out of range'),
    ('10.0.0.5/24', 1, r'did you mean 10\.0\.0\.0/24\?'),
    ('10.0.0.0/32', 1, r'too small'),
    ('fd00::/64', 1, r'IPv6 is not supported yet'),
    ('nonsense', 1, r"invalid cidr 'nonsense'"),
])
def test_nth_host_errors(cidr, n, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS['nth_host'](cidr, n)


def test_subnet_gateway():
    assert FILTERS['subnet_gateway']('192.168.10.0/24') == '192.168.10.1'
    with pytest.raises(AnsibleFilterError, match=r'kvmcloud\.cloud\.subnet_gateway: .*did you mean'):
        FILTERS['subnet_gateway']('192.168.10.1/24')


def test_subnet_pool():
    assert FILTERS['subnet_pool']('10.0.0.0/24', 10, 20) == {'start': '10.0.0.10', 'end': '10.0.0.20'}
    assert FILTERS['subnet_pool']('10.0.0.0/24', 100, -1) == {'start': '10.0.0.100', 'end': '10.0.0.254'}
    assert FILTERS['subnet_pool']('10.0.0.0/24', 7, 7) == {'start': '10.0.0.7', 'end': '10.0.0.7'}


@pytest.mark.parametrize('first, last, message', [
    (20, 10, r'kvmcloud\.cloud\.subnet_pool: host 20 \(10\.0\.0\.20\) comes after host 10 \(10\.0\.0\.10\)'),
    (-1, 1, r'host -1 \(10\.0\.0\.254\) comes after host 1'),
    (10, 300, r'host number 300 is out of range'),
])
def test_subnet_pool_errors(first, last, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS['subnet_pool']('10.0.0.0/24', first, last)


def test_mac_address():
    assert FILTERS['mac_address']('a/b/c') == '52:54:00:d7:6a:7b'
    assert FILTERS['mac_address']('a/b/c', '02:4b:43') == '02:4b:43:d7:6a:7b'
    with pytest.raises(AnsibleFilterError, match=r'kvmcloud\.cloud\.mac_address: .*locally administered bit'):
        FILTERS['mac_address']('a/b/c', '00:16:3e')


def test_missing_netaddr_fails_at_use(monkeypatch):
    monkeypatch.setattr(ipam, 'netaddr', None)
    for name, args in (('nth_host', ('10.0.0.0/24', 1)), ('subnet_gateway', ('10.0.0.0/24',)),
                       ('subnet_pool', ('10.0.0.0/24', 1, 2))):
        with pytest.raises(AnsibleFilterError, match='netaddr Python library is required'):
            FILTERS[name](*args)
