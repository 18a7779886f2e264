"""quota_info against two namespaced test hypervisors: usage counted from the servers, volumes
and ports that exist (no guest boots: defined servers count the same), ports once though both
hypervisors have them, unreachable hypervisors listed, never a change."""

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, module_leftovers, removing_prefixed
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-quota-'
NET = 'kvmcloud-test-quotanet'
IMAGE = 'kvmcloud-test-quota-tiny'
SUBNET = {'cidr': '10.250.62.0/24', 'allocation_pools': [{'start': '10.250.62.100', 'end': '10.250.62.199'}]}
QUOTAS = {'instances': 5, 'cores': -1, 'ram': 1024, 'volumes': 2, 'gigabytes': 10, 'ports': 3}

LEFTOVERS = module_leftovers(PREFIX, networks=[NET])

quota_hypervisors = hypervisors_fixture(count=2, prefix='quota', scope='module', name='quota_hypervisors')


def cloud(hvs, extra_hypervisors=()):
    return cloud_definition(hvs, [{'name': 'demo', 'quotas': QUOTAS}, {'name': 'other'}], extra_hypervisors)


@pytest.fixture(scope='module')
def hvs(quota_hypervisors, tiny_image_file):
    with removing_prefixed(quota_hypervisors, PREFIX, **LEFTOVERS):
        base = {'cloud': cloud(quota_hypervisors)}
        assert not run_module('image', dict(base, name=IMAGE, filename=str(tiny_image_file)))['failed']
        assert not run_module('network', dict(base, name=NET, mode='isolated', subnet=SUBNET))['failed']
        yield quota_hypervisors


def quotas_of(result, project):
    return next(p['quotas'] for p in result['projects'] if p['name'] == project)


def test_usage_is_counted_from_what_exists_for_every_project_and_the_report_changes_nothing(hvs):
    base = {'cloud': cloud(hvs)}
    empty = run_module('quota_info', base)
    assert unchanged(empty) and [p['name'] for p in empty['projects']] == ['demo', 'other']
    assert quotas_of(empty, 'demo')['instances'] == {'limit': 5, 'in_use': 0, 'remaining': 5}

    for index, (flavor, hv) in enumerate((('m1.tiny', hvs[0]), ('m1.small', hvs[1]))):
        server = run_module('server', dict(base, name='%ss%d' % (PREFIX, index), project='demo', flavor=flavor,
                                           image=IMAGE, hypervisor=hv['name'], power_state='stopped',
                                           networks=[{'network': NET}]))
        assert not server['failed'], server
    port = run_module('port', dict(base, name=PREFIX + 'vip', network=NET, project='demo'))
    assert not port['failed'], port
    for name, size, hv in ((PREFIX + 'small', '16MiB', hvs[0]), (PREFIX + 'big', '1.5G', hvs[1])):
        volume = run_module('volume', dict(base, name=name, size=size, project='demo', hypervisor=hv['name']))
        assert not volume['failed'], volume
    other = run_module('volume', dict(base, name=PREFIX + 'theirs', size='3G', project='other', hypervisor=hvs[0]['name']))
    assert not other['failed'], other

    report = run_module('quota_info', base)
    assert unchanged(report) and report['unreachable_hypervisors'] == []
    assert quotas_of(report, 'demo') == {
        'instances': {'limit': 5, 'in_use': 2, 'remaining': 3},
        'cores': {'limit': -1, 'in_use': 3, 'remaining': None},
        'ram': {'limit': 1024, 'in_use': 320, 'remaining': 704},
        'volumes': {'limit': 2, 'in_use': 2, 'remaining': 0},
        'gigabytes': {'limit': 10, 'in_use': 3, 'remaining': 7},    # 16 MiB counts as 1, 1.5 GiB as 2
        'ports': {'limit': 3, 'in_use': 3, 'remaining': 0},         # two server ports and one more, once each
    }
    assert quotas_of(report, 'other')['gigabytes'] == {'limit': -1, 'in_use': 3, 'remaining': None}
    assert quotas_of(report, 'other')['instances']['in_use'] == 0

    one = run_module('quota_info', dict(base, project='other'), check=True)
    assert unchanged(one) and [p['name'] for p in one['projects']] == ['other']
    assert one['projects'][0] == next(p for p in report['projects'] if p['name'] == 'other')

    unknown = run_module('quota_info', dict(base, project='nobody'))
    assert unknown['failed'] and "unknown project 'nobody'" in unknown['msg']

    ghost = {'name': 'ghost', 'uri': 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'}
    partial = run_module('quota_info', {'cloud': cloud(hvs, [ghost])})
    assert unchanged(partial) and len(partial['unreachable_hypervisors']) == 1
    assert partial['unreachable_hypervisors'][0].startswith('ghost: ') and 'unreachable' not in partial
    assert partial['projects'] == report['projects']

    only_first = run_module('quota_info', {'cloud': cloud(hvs[:1])})
    assert quotas_of(only_first, 'demo')['instances']['in_use'] == 1
    assert quotas_of(only_first, 'demo')['ports']['in_use'] == 3, 'every port is on the first hypervisor too'

    for index in range(2):
        run_module('server', dict(base, name='%ss%d' % (PREFIX, index), state='absent'))
    run_module('port', dict(base, name=PREFIX + 'vip', network=NET, state='absent'))
    for name in ('small', 'big', 'theirs'):
        run_module('volume', dict(base, name=PREFIX + name, state='absent'))
    assert run_module('quota_info', base)['projects'] == empty['projects']
