# -*- coding: utf-8 -*-
"""placement.py: filters, the spread weigher, server groups, pins and the error messages."""

import random

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import placement
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import Hypervisor
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.placement import Host, PlacementError, Request, place


def host(name, ram_mb=16384, vcpus=16, disk_gb=1000, zone='nova', enabled=True, **extra):
    return Host(name=name, zone=zone, enabled=enabled, vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb, **extra)


def req(name, ram_mb=2048, vcpus=1, disk_gb=10, **extra):
    return Request(name=name, vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb, **extra)


def failure(requests, hosts):
    with pytest.raises(PlacementError) as err:
        place(requests, hosts)
    return err.value


# Capacity

def test_free_capacity_takes_ratios_reserved_and_used_into_account():
    h = host('hv1', ram_mb=8192, vcpus=4, disk_gb=100, cpu_ratio=4.0, ram_ratio=1.5, disk_ratio=2.0,
             reserved_vcpus=2, reserved_ram_mb=1024, reserved_disk_gb=20,
             used_vcpus=3, used_ram_mb=2048, used_disk_gb=30)
    assert h.free_vcpus == 4 * 4 - 2 - 3
    assert h.free_ram_mb == 8192 * 1.5 - 1024 - 2048
    assert h.free_disk_gb == 100 * 2 - 20 - 30


def test_default_reserves_512_mib_of_ram():
    assert host('hv1', ram_mb=4096).free_ram_mb == 3584


def test_reserved_memory_is_honoured_to_the_mib():
    assert place([req('a', ram_mb=3584)], [host('hv1', ram_mb=4096)]).assignments == {'a': 'hv1'}
    err = failure([req('a', ram_mb=3585)], [host('hv1', ram_mb=4096)])
    assert err.details['reasons'] == {'hv1': 'free RAM 3584 MiB < 3585 MiB requested'}


def test_cpu_allocation_ratio_is_honoured():
    hosts = [host('hv1', vcpus=4, cpu_ratio=4.0, reserved_vcpus=1)]
    assert place([req('a', vcpus=15)], hosts).assignments == {'a': 'hv1'}
    assert failure([req('a', vcpus=16)], hosts).details['reasons'] == {'hv1': 'free vCPUs 15 < 16 requested'}


def test_ram_allocation_ratio_is_honoured():
    hosts = [host('hv1', ram_mb=4096, ram_ratio=1.5, reserved_ram_mb=0)]
    assert place([req('a', ram_mb=6144)], hosts).assignments == {'a': 'hv1'}
    assert failure([req('a', ram_mb=6145)], hosts).details['reasons'] == {
        'hv1': 'free RAM 6144 MiB < 6145 MiB requested'}


def test_disk_allocation_ratio_and_reserved_disk_are_honoured():
    hosts = [host('hv1', disk_gb=100, disk_ratio=1.5, reserved_disk_gb=10, used_disk_gb=20.5)]
    assert place([req('a', disk_gb=119.5)], hosts).assignments == {'a': 'hv1'}
    assert failure([req('a', disk_gb=120)], hosts).details['reasons'] == {
        'hv1': 'free disk 119.5 GiB < 120 GiB requested'}


def test_an_overcommitted_host_says_how_far_over_it_is():
    err = failure([req('a', ram_mb=1)], [host('hv1', ram_mb=4096, used_ram_mb=4096)])
    assert err.details['reasons'] == {'hv1': 'free RAM -512 MiB < 1 MiB requested'}


def test_each_placement_consumes_capacity_before_the_next():
    hosts = [host('hv1', ram_mb=4096 + 512)]
    assert place([req('a'), req('b')], hosts).assignments == {'a': 'hv1', 'b': 'hv1'}
    err = failure([req('a'), req('b'), req('c')], hosts)
    assert err.details['server'] == 'c'
    assert err.details['reasons'] == {'hv1': 'free RAM 0 MiB < 2048 MiB requested'}


def test_vcpus_and_disk_are_consumed_too():
    hosts = [host('hv1', vcpus=1, cpu_ratio=2.0, disk_gb=25)]
    assert place([req('a', vcpus=1), req('b', vcpus=1)], hosts).assignments == {'a': 'hv1', 'b': 'hv1'}
    assert failure([req('a'), req('b'), req('c')], hosts).details['reasons'] == {
        'hv1': 'free vCPUs 0 < 1 requested'}
    assert failure([req('a', vcpus=0), req('b', vcpus=0), req('c', vcpus=0)], hosts).details['reasons'] == {
        'hv1': 'free disk 5 GiB < 10 GiB requested'}


def test_the_result_shows_the_hosts_after_placement_and_leaves_the_given_hosts_alone():
    given = [host('hv1', groups={'web': {'web0'}})]
    result = place([req('web1', server_group='web', policy='affinity')], given)
    after = result.hosts['hv1']
    assert (after.used_vcpus, after.used_ram_mb, after.used_disk_gb) == (1, 2048, 10)
    assert after.groups == {'web': {'web0', 'web1'}}
    assert (given[0].used_vcpus, given[0].used_ram_mb, given[0].used_disk_gb) == (0, 0, 0)
    assert given[0].groups == {'web': {'web0'}}


# The spread weigher

def test_ten_servers_spread_over_three_hosts_by_free_ram():
    # Free RAM: hv1 15872, hv2 7680, hv3 11776; each server takes 2048 MiB from the host with
    # the most free RAM, the name first on a tie.
    hosts = [host('hv1', ram_mb=16384), host('hv2', ram_mb=8192), host('hv3', ram_mb=12288)]
    result = place([req('s%d' % i) for i in range(1, 11)], hosts)
    assert result.assignments == {
        's1': 'hv1',   # hv1 15872 -> 13824
        's2': 'hv1',   # hv1 13824 -> 11776
        's3': 'hv1',   # hv1 11776 = hv3 11776: hv1 by name -> 9728
        's4': 'hv3',   # hv3 11776 -> 9728
        's5': 'hv1',   # hv1 9728 = hv3 9728 -> 7680
        's6': 'hv3',   # hv3 9728 -> 7680
        's7': 'hv1',   # all at 7680 -> hv1 5632
        's8': 'hv2',   # hv2 7680 = hv3 7680 -> hv2 5632
        's9': 'hv3',   # hv3 7680 -> 5632
        's10': 'hv1',  # all at 5632 -> hv1 3584
    }
    assert list(result.assignments) == ['s%d' % i for i in range(1, 11)]
    assert {name: h.free_ram_mb for name, h in result.hosts.items()} == {'hv1': 3584, 'hv2': 5632, 'hv3': 5632}
    assert result.skipped == {}


def test_used_ram_counts_in_the_weighing():
    hosts = [host('hv1', used_ram_mb=4096), host('hv2', used_ram_mb=1024)]
    assert place([req('a')], hosts).assignments == {'a': 'hv2'}


def test_ties_go_to_the_name_that_sorts_first():
    hosts = [host('hv-b'), host('hv-c'), host('hv-a')]
    assert place([req('a')], hosts).assignments == {'a': 'hv-a'}


def test_same_input_same_output_whatever_the_order_of_the_hosts():
    hosts = [host('hv%d' % i, ram_mb=8192 + 1024 * (i % 3), vcpus=4 + i % 2) for i in range(1, 7)]
    requests = [req('s%02d' % i, ram_mb=512 * (1 + i % 4), vcpus=1 + i % 3) for i in range(20)]
    expected = place(requests, hosts).assignments
    assert place(requests, hosts).assignments == expected
    shuffled = list(hosts)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert place(requests, shuffled).assignments == expected


# Disabled, unreachable, zones

def test_a_disabled_host_gets_nothing():
    hosts = [host('hv1', ram_mb=65536, enabled=False), host('hv2', ram_mb=8192)]
    result = place([req('a'), req('b'), req('c')], hosts)
    assert set(result.assignments.values()) == {'hv2'}
    err = failure([req('a', ram_mb=8192)], hosts)
    assert err.details['reasons'] == {'hv1': 'disabled', 'hv2': 'free RAM 7680 MiB < 8192 MiB requested'}


def test_unreachable_hosts_are_skipped_and_reported():
    hosts = [host('hv1', ram_mb=65536, reachable=False, unreachable_reason='ssh: connection refused'),
             host('hv2'), host('hv3', reachable=False)]
    result = place([req('a'), req('b')], hosts)
    assert result.assignments == {'a': 'hv2', 'b': 'hv2'}
    assert result.skipped == {'hv1': 'unreachable: ssh: connection refused', 'hv3': 'unreachable'}


def test_unreachable_hosts_are_reported_even_when_nothing_is_placed():
    hosts = [host('hv1', reachable=False, unreachable_reason='timeout')]
    assert place([], hosts).skipped == {'hv1': 'unreachable: timeout'}
    err = failure([req('a')], hosts)
    assert err.msg == ("no hypervisor can host server 'a' (1 vCPU, 2048 MiB RAM, 10 GiB disk): "
                       "hv1: unreachable: timeout")
    assert err.details['skipped'] == {'hv1': 'unreachable: timeout'}


def test_filters_apply_in_order_and_the_first_that_fails_is_the_reason():
    hosts = [host('hv1', ram_mb=1024, enabled=False, reachable=False, unreachable_reason='down'),
             host('hv2', ram_mb=1024, enabled=False, zone='az2'),
             host('hv3', ram_mb=1024, zone='az2'),
             host('hv4', ram_mb=1024, vcpus=0, disk_gb=0),
             host('hv5', vcpus=0, disk_gb=0),
             host('hv6', disk_gb=0, groups={'g': {'other'}})]
    err = failure([req('a', zone='nova', server_group='g', policy='anti-affinity')], hosts)
    assert err.details['reasons'] == {
        'hv1': 'unreachable: down',
        'hv2': 'disabled',
        'hv3': 'in zone az2, not nova',
        'hv4': 'free RAM 512 MiB < 2048 MiB requested',
        'hv5': 'free vCPUs 0 < 1 requested',
        'hv6': 'free disk 0 GiB < 10 GiB requested',
    }
    # Without a zone asked for, any zone will do.
    assert failure([req('a')], hosts).details['reasons']['hv3'] == 'free RAM 512 MiB < 2048 MiB requested'


def test_zone_filter():
    hosts = [host('hv1', zone='az1', ram_mb=65536), host('hv2', zone='az2'), host('hv3', zone='az2', ram_mb=8192)]
    assert place([req('a', zone='az2'), req('b', zone='az2'), req('c')], hosts).assignments == {
        'a': 'hv2', 'b': 'hv2', 'c': 'hv1'}
    err = failure([req('a', zone='az3')], hosts)
    assert err.details['reasons'] == {'hv1': 'in zone az1, not az3', 'hv2': 'in zone az2, not az3',
                                      'hv3': 'in zone az2, not az3'}


# Pins

def test_a_pinned_server_goes_to_its_host_even_with_less_free_ram():
    hosts = [host('hv1', ram_mb=65536), host('hv2', ram_mb=4096)]
    assert place([req('a', hypervisor='hv2'), req('b')], hosts).assignments == {'a': 'hv2', 'b': 'hv1'}


def test_a_pinned_host_that_fails_a_filter_is_the_only_reason_given():
    hosts = [host('hv1', ram_mb=65536), host('hv2', ram_mb=4096, enabled=False),
             host('hv3', reachable=False, unreachable_reason='down')]
    err = failure([req('a', hypervisor='hv2')], hosts)
    assert err.msg == ("no hypervisor can host server 'a' (1 vCPU, 2048 MiB RAM, 10 GiB disk, pinned to hv2): "
                       "hv2: disabled")
    assert err.details['reasons'] == {'hv2': 'disabled'}
    assert err.details['skipped'] == {'hv3': 'unreachable: down'}
    err = failure([req('a', hypervisor='hv1', zone='az1')], hosts)
    assert err.details['reasons'] == {'hv1': 'in zone nova, not az1'}
    err = failure([req('a', hypervisor='hv3')], hosts)
    assert err.details['reasons'] == {'hv3': 'unreachable: down'}


def test_a_pin_to_an_unknown_host_is_refused():
    with pytest.raises(PlacementError, match="server 'a' is pinned to hypervisor hv9, which is not one of: hv1, hv2"):
        place([req('a', hypervisor='hv9')], [host('hv2'), host('hv1')])


# Server groups

def test_anti_affinity_three_on_three_hosts_and_a_fourth_fails_with_each_hosts_reason():
    hosts = [host('hv1'), host('hv2', ram_mb=8192), host('hv3', ram_mb=4096)]
    web = [req('web%d' % i, server_group='web', policy='anti-affinity') for i in range(1, 4)]
    assert place(web, hosts).assignments == {'web1': 'hv1', 'web2': 'hv2', 'web3': 'hv3'}
    err = failure(web + [req('web4', vcpus=2, server_group='web', policy='anti-affinity')], hosts)
    assert err.msg == (
        "no hypervisor can host server 'web4' (2 vCPUs, 2048 MiB RAM, 10 GiB disk): "
        "hv1: anti-affinity: server group 'web' already has web1 here; "
        "hv2: anti-affinity: server group 'web' already has web2 here; "
        "hv3: free RAM 1536 MiB < 2048 MiB requested")
    assert err.details == {
        'server': 'web4',
        'reasons': {'hv1': "anti-affinity: server group 'web' already has web1 here",
                    'hv2': "anti-affinity: server group 'web' already has web2 here",
                    'hv3': 'free RAM 1536 MiB < 2048 MiB requested'},
        'skipped': {},
    }
    assert isinstance(err, ValidationError)


def test_anti_affinity_counts_the_existing_members():
    hosts = [host('hv1', ram_mb=65536, groups={'web': {'web1', 'web2'}}), host('hv2', ram_mb=8192)]
    assert place([req('web3', server_group='web', policy='anti-affinity')], hosts).assignments == {'web3': 'hv2'}
    err = failure([req('web3', server_group='web', policy='anti-affinity'),
                   req('web4', server_group='web', policy='anti-affinity')], hosts)
    assert err.details['reasons'] == {'hv1': "anti-affinity: server group 'web' already has web1, web2 here",
                                      'hv2': "anti-affinity: server group 'web' already has web3 here"}


def test_members_of_other_groups_do_not_count_for_anti_affinity():
    hosts = [host('hv1', ram_mb=65536, groups={'db': {'db1'}}), host('hv2')]
    assert place([req('web1', server_group='web', policy='anti-affinity')], hosts).assignments == {'web1': 'hv1'}


def test_affinity_first_member_goes_where_the_weigher_says_and_the_next_follow():
    hosts = [host('hv1', ram_mb=8192), host('hv2', ram_mb=16384), host('hv3', ram_mb=12288)]
    db = [req('db%d' % i, server_group='db', policy='affinity') for i in range(1, 5)]
    result = place(db + [req('other')], hosts)
    assert result.assignments == {'db1': 'hv2', 'db2': 'hv2', 'db3': 'hv2', 'db4': 'hv2', 'other': 'hv3'}
    assert result.hosts['hv2'].groups == {'db': {'db1', 'db2', 'db3', 'db4'}}


def test_affinity_follows_an_existing_member_and_says_where_it_is_when_full():
    hosts = [host('hv1', ram_mb=65536), host('hv2', ram_mb=4096, groups={'db': {'db1'}})]
    assert place([req('db2', server_group='db', policy='affinity')], hosts).assignments == {'db2': 'hv2'}
    err = failure([req('db2', server_group='db', policy='affinity'),
                   req('db3', server_group='db', policy='affinity')], hosts)
    assert err.details['reasons'] == {
        'hv1': "affinity: server group 'db' is on other hosts: db1, db2 on hv2",
        'hv2': 'free RAM 1536 MiB < 2048 MiB requested'}


def test_a_server_without_a_group_ignores_the_groups():
    hosts = [host('hv1', ram_mb=65536, groups={'db': {'db1'}}), host('hv2', groups={'web': {'web1'}})]
    assert place([req('a')], hosts).assignments == {'a': 'hv1'}


# Validation and helpers

@pytest.mark.parametrize('requests, message', [
    ([req('a'), req('a')], "server 'a' is requested twice"),
    ([req('a', ram_mb=-1)], "server 'a': ram_mb must not be negative, got -1"),
    ([req('a', server_group='g', policy='soft-affinity')], "server 'a': unknown server group policy 'soft-affinity'"),
    ([req('a', policy='affinity')], "server 'a': policy affinity needs a server group"),
    ([req('a', server_group='g', policy='affinity'), req('b', server_group='g', policy='anti-affinity')],
     "server group 'g' is requested with policies affinity and anti-affinity"),
])
def test_requests_that_mean_nothing_are_refused(requests, message):
    with pytest.raises(ValidationError) as err:
        place(requests, [host('hv1')])
    assert err.value.msg.startswith(message)
    assert not isinstance(err.value, PlacementError)


def test_a_host_given_twice_is_refused():
    with pytest.raises(ValidationError, match='hypervisor hv1 is given twice'):
        place([req('a')], [host('hv1'), host('hv1')])


def test_no_hosts_at_all():
    err = failure([req('a')], [])
    assert err.msg == "no hypervisor can host server 'a' (1 vCPU, 2048 MiB RAM, 10 GiB disk): no hypervisors"


def test_no_requests_place_nothing():
    assert place([], [host('hv1')]).assignments == {}


def test_host_from_maps_the_hypervisor_definition():
    hv = Hypervisor(name='hv1', uri='qemu:///system', zone='az1', enabled=False, cpu_allocation_ratio=8.0,
                    ram_allocation_ratio=1.5, disk_allocation_ratio=2.0, reserved_host_memory_mb=2048,
                    reserved_host_cpus=2, reserved_host_disk_gb=50)
    groups = {'web': ['web1']}
    h = placement.host_from(hv, vcpus=8, ram_mb=32768, disk_gb=500.5,
                            used_vcpus=4, used_ram_mb=4096, used_disk_gb=40, groups=groups)
    assert h == Host(name='hv1', zone='az1', enabled=False, vcpus=8, ram_mb=32768, disk_gb=500.5,
                     cpu_ratio=8.0, ram_ratio=1.5, disk_ratio=2.0, reserved_vcpus=2, reserved_ram_mb=2048,
                     reserved_disk_gb=50, used_vcpus=4, used_ram_mb=4096, used_disk_gb=40,
                     groups={'web': {'web1'}}, reachable=True, unreachable_reason='')
    assert h.free_ram_mb == 32768 * 1.5 - 2048 - 4096
    groups['web'].append('web2')
    assert h.groups == {'web': {'web1'}}


def test_host_from_an_unreachable_hypervisor():
    h = placement.host_from(Hypervisor(name='hv1', uri='qemu:///system'), reachable=False, reason='connection refused')
    assert (h.reachable, h.unreachable_reason, h.vcpus, h.ram_mb, h.disk_gb) == (False, 'connection refused', 0, 0, 0)
    assert (h.cpu_ratio, h.reserved_ram_mb, h.zone, h.enabled) == (4.0, 512, 'nova', True)
    assert place([], [h]).skipped == {'hv1': 'unreachable: connection refused'}


def test_host_from_a_reachable_hypervisor_has_no_reason():
    h = placement.host_from(Hypervisor(name='hv1', uri='qemu:///system'), vcpus=4, ram_mb=4096, disk_gb=10)
    assert (h.reachable, h.unreachable_reason, h.free_vcpus, h.free_ram_mb, h.free_disk_gb) == (True, '', 16, 3584, 10)


def test_request_description_in_messages():
    assert req('a', vcpus=1, ram_mb=512, disk_gb=0).describe() == '1 vCPU, 512 MiB RAM, 0 GiB disk'
    assert req('a', vcpus=4, ram_mb=4096, disk_gb=2.5).describe() == '4 vCPUs, 4096 MiB RAM, 2.5 GiB disk'
