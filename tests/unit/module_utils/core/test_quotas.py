# -*- coding: utf-8 -*-
"""core/quotas.py: usage of a project, the check before creating, the report."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import quotas
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import Project
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

GIB = 1024 ** 3
ZERO = dict.fromkeys(quotas.QUOTAS, 0)


def project(**limits):
    return Project(name='demo', quotas=limits)


def exceeded(proj, used, request):
    with pytest.raises(ValidationError) as err:
        quotas.check(proj, used, request)
    return err.value


# Usage

def test_usage_counts_the_projects_items_only():
    servers = [{'project': 'demo', 'vcpus': 2, 'ram': 2048},
               {'project': 'demo', 'vcpus': 1, 'ram': 512},
               {'project': 'other', 'vcpus': 8, 'ram': 8192}]
    volumes = [{'project': 'demo', 'size': 10 * GIB}, {'project': 'other', 'size': GIB}]
    ports = [{'project': 'demo'}, {'project': 'demo'}, {'project': 'other'}, {'project': None}]
    expected = {'instances': 2, 'cores': 3, 'ram': 2560, 'volumes': 1, 'gigabytes': 10, 'ports': 2}
    assert quotas.usage('demo', servers, volumes, ports) == expected
    assert quotas.usage(project(), servers=servers, volumes=volumes, ports=ports) == expected


def test_usage_of_nothing():
    assert quotas.usage('demo') == ZERO


def test_gigabytes_round_up_per_volume_then_add_up():
    assert [quotas.gigabytes(size) for size in (0, 1, GIB - 1, GIB, GIB + 1, 3 * GIB)] == [0, 1, 1, 1, 2, 3]
    # Two half-GiB volumes count as one GiB each, not one GiB together.
    volumes = [{'project': 'demo', 'size': GIB // 2}, {'project': 'demo', 'size': GIB // 2},
               {'project': 'demo', 'size': 5 * GIB + 1}]
    assert quotas.usage('demo', volumes=volumes)['gigabytes'] == 1 + 1 + 6


# Check

@pytest.mark.parametrize('quota, limit, in_use, requested', [
    ('instances', 2, 2, 1),
    ('cores', 8, 6, 4),
    ('ram', 4096, 2048, 4096),
    ('volumes', 3, 3, 1),
    ('gigabytes', 100, 95, 10),
    ('ports', 4, 4, 1),
])
def test_each_quota_exceeded_with_the_exact_message(quota, limit, in_use, requested):
    err = exceeded(project(**{quota: limit}), dict(ZERO, **{quota: in_use}), {quota: requested})
    assert err.msg == ("quota exceeded for project 'demo': %s limit %d, in use %d, requested %d"
                       % (quota, limit, in_use, requested))
    assert err.details == {'project': 'demo',
                           'exceeded': [{'quota': quota, 'limit': limit, 'in_use': in_use, 'requested': requested}]}


def test_the_message_from_the_issue():
    err = exceeded(project(instances=2), {'instances': 2}, {'instances': 1})
    assert err.msg == "quota exceeded for project 'demo': instances limit 2, in use 2, requested 1"


def test_reaching_the_limit_exactly_is_allowed():
    quotas.check(project(instances=2, ram=4096), {'instances': 1, 'ram': 2048}, {'instances': 1, 'ram': 2048})


def test_the_first_quota_in_order_is_in_the_message_and_all_are_in_the_details():
    limits = project(instances=1, cores=2, ram=1024, volumes=1, gigabytes=10, ports=1)
    used = {'instances': 1, 'cores': 2, 'ram': 1024, 'volumes': 0, 'gigabytes': 10, 'ports': 1}
    request = {'ports': 1, 'ram': 512, 'cores': 1, 'volumes': 1, 'gigabytes': 1}
    err = exceeded(limits, used, request)
    assert err.msg == "quota exceeded for project 'demo': cores limit 2, in use 2, requested 1"
    assert err.details['exceeded'] == [
        {'quota': 'cores', 'limit': 2, 'in_use': 2, 'requested': 1},
        {'quota': 'ram', 'limit': 1024, 'in_use': 1024, 'requested': 512},
        {'quota': 'gigabytes', 'limit': 10, 'in_use': 10, 'requested': 1},
        {'quota': 'ports', 'limit': 1, 'in_use': 1, 'requested': 1},
    ]


@pytest.mark.parametrize('limits', [{}, {'instances': -1, 'cores': -1, 'ram': -1, 'volumes': -1,
                                         'gigabytes': -1, 'ports': -1}])
def test_unlimited_never_fails(limits):
    huge = dict.fromkeys(quotas.QUOTAS, 10 ** 9)
    quotas.check(project(**limits), huge, huge)


def test_a_request_of_zero_never_fails_even_over_the_limit():
    over = project(instances=1, cores=1, ram=512, volumes=0, gigabytes=0, ports=0)
    used = {'instances': 5, 'cores': 10, 'ram': 8192, 'volumes': 2, 'gigabytes': 20, 'ports': 3}
    quotas.check(over, used, {})
    quotas.check(over, used, ZERO)
    # A new port is refused, while nothing else is asked for.
    err = exceeded(over, used, {'instances': 0, 'ports': 1})
    assert err.msg == "quota exceeded for project 'demo': ports limit 0, in use 3, requested 1"


def test_missing_usage_counts_as_zero():
    quotas.check(project(instances=1), {}, {'instances': 1})
    assert exceeded(project(instances=1), {}, {'instances': 2}).msg == (
        "quota exceeded for project 'demo': instances limit 1, in use 0, requested 2")


def test_a_zero_limit_refuses_any_request():
    assert exceeded(project(volumes=0), ZERO, {'volumes': 1}).msg == (
        "quota exceeded for project 'demo': volumes limit 0, in use 0, requested 1")


def test_an_unknown_quota_in_the_request_is_a_bug_not_a_pass():
    with pytest.raises(KvmcloudError, match='unknown quota cpus; the quotas are: instances, cores'):
        quotas.check(project(), ZERO, {'cpus': 1})


def test_usage_of_new_items_is_the_request():
    current = [{'project': 'demo', 'vcpus': 2, 'ram': 2048}] * 2
    new = [{'project': 'demo', 'vcpus': 2, 'ram': 2048}]
    err = exceeded(project(cores=5), quotas.usage('demo', servers=current), quotas.usage('demo', servers=new))
    assert err.msg == "quota exceeded for project 'demo': cores limit 5, in use 4, requested 2"


# Report

def test_report():
    limits = project(instances=10, cores=-1, ram=4096, volumes=2, gigabytes=50)
    used = {'instances': 3, 'cores': 12, 'ram': 6144, 'volumes': 2, 'gigabytes': 7, 'ports': 4}
    assert quotas.report(limits, used) == {
        'instances': {'limit': 10, 'in_use': 3, 'remaining': 7},
        'cores': {'limit': -1, 'in_use': 12, 'remaining': None},
        'ram': {'limit': 4096, 'in_use': 6144, 'remaining': 0},
        'volumes': {'limit': 2, 'in_use': 2, 'remaining': 0},
        'gigabytes': {'limit': 50, 'in_use': 7, 'remaining': 43},
        'ports': {'limit': -1, 'in_use': 4, 'remaining': None},
    }
    assert list(quotas.report(limits, used)) == list(quotas.QUOTAS)


def test_report_of_an_unused_project():
    assert quotas.report(project(ports=4), {}) == dict(
        {quota: {'limit': -1, 'in_use': 0, 'remaining': None} for quota in quotas.QUOTAS},
        ports={'limit': 4, 'in_use': 0, 'remaining': 4})
