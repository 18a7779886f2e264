"""cloud_plan on a namespaced test hypervisor: a cloud not brought up yet is pending, with the
reasons for what cannot be planned yet; once each item's module ran, nothing is pending; and
each kind of drift makes exactly its item pending again. No guest boots (stopped servers plan
the same), and the plan itself never changes anything."""

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-plan-'
NET = 'kvmcloud-test-plannet'
IMAGE = 'kvmcloud-test-plan-tiny'
GROUP = PREFIX + 'web'
SUBNET = {'cidr': '10.250.64.0/24', 'allocation_pools': [{'start': '10.250.64.100', 'end': '10.250.64.199'}]}

LEFTOVERS = module_leftovers(PREFIX, networks=[NET])

plan_hypervisors = hypervisors_fixture(count=1, prefix='plan', scope='module', name='plan_hypervisors')


@pytest.fixture(scope='module')
def hv(plan_hypervisors):
    with removing_prefixed(plan_hypervisors, PREFIX, **LEFTOVERS):
        yield plan_hypervisors[0]  # the image goes with the test hypervisor


def cloud(hv):
    return cloud_definition([hv], [{'name': 'demo'}])


def declared(tiny_image_file):
    """The cloud, as an inventory declares it for playbooks/site.yml."""
    return {
        'images': [{'name': IMAGE, 'filename': str(tiny_image_file), 'min_ram': 96}],
        'networks': [{'name': NET, 'mode': 'isolated', 'subnet': SUBNET}],
        'security_groups': [{'name': GROUP, 'rules': [{'protocol': 'tcp', 'port_range_min': 80}]}],
        'ports': [{'name': PREFIX + 'vip', 'network': NET, 'project': 'demo', 'fixed_ip': '10.250.64.150'}],
        'volumes': [{'name': PREFIX + 'data', 'size': '16MiB', 'project': 'demo'}],
        'servers': [{'name': PREFIX + 'web1', 'flavor': 'm1.tiny', 'image': IMAGE, 'power_state': 'stopped',
                     'networks': [{'network': NET, 'security_groups': [GROUP]}]}],
    }


def plan(hv, items):
    result = run_module('cloud_plan', dict(items, cloud=cloud(hv), project='demo', exclusive=True))
    assert unchanged(result), result
    return result


def bring_up(hv, items):
    """What site.yml's roles do: each item through its own module, then the servers in one call."""
    base = {'cloud': cloud(hv)}
    for module, kind in (('image', 'images'), ('network', 'networks'), ('security_group', 'security_groups'),
                         ('port', 'ports'), ('volume', 'volumes')):
        for item in items[kind]:
            result = run_module(module, dict(base, **item))
            assert not result['failed'], result
    result = run_module('server_fleet', dict(base, servers=items['servers'], project='demo', exclusive=True))
    assert not result['failed'], result


def nothing_pending(result):
    return result['pending'] == {'images': [], 'networks': [], 'security_groups': [], 'ports': [], 'volumes': [],
                                 'servers': False}


def test_a_new_cloud_is_pending_then_nothing_is_and_drift_makes_its_item_pending(hv, tiny_image_file):
    items = declared(tiny_image_file)
    fresh = plan(hv, items)
    assert fresh['pending'] == {'images': [IMAGE], 'networks': [NET], 'security_groups': [GROUP],
                                'ports': [PREFIX + 'vip'], 'volumes': [PREFIX + 'data'], 'servers': True}
    # The port's network does not exist yet: its plan cannot be made, and says why.
    assert "network '%s'" % NET in fresh['reasons']['ports'][PREFIX + 'vip']
    assert fresh['plans']['networks'][NET]['after']
    with connected(hv['uri']) as conn:
        assert NET not in [n.name() for n in conn.listAllNetworks()], 'the plan changes nothing'

    bring_up(hv, items)
    assert nothing_pending(plan(hv, items))

    # Drift, one kind at a time; each makes exactly its own item pending.
    base = {'cloud': cloud(hv)}
    assert not run_module('server', dict(base, name=PREFIX + 'web1', state='absent'))['failed']
    deleted = plan(hv, items)
    assert deleted['pending']['servers'] is True
    assert deleted['plans']['servers']['after'][PREFIX + 'web1']['name'] == PREFIX + 'web1'
    assert [k for k, v in deleted['pending'].items() if v and k != 'servers'] == []

    changed = dict(items, security_groups=[dict(items['security_groups'][0], rules=[{'protocol': 'icmp'}])],
                   images=[dict(items['images'][0], min_ram=128)])
    drifted = plan(hv, changed)
    assert drifted['pending']['security_groups'] == [GROUP] and drifted['pending']['images'] == [IMAGE]
    expected = {'before': {hv['name']: {'min_ram': 96}}, 'after': {hv['name']: {'min_ram': 128}}}
    assert drifted['plans']['images'][IMAGE] == expected

    bring_up(hv, items)
    assert nothing_pending(plan(hv, items))


def test_an_item_the_module_would_refuse_is_pending_with_the_reason(hv):
    result = plan(hv, {'volumes': [{'name': 'bad name', 'size': '1G', 'project': 'demo'}], 'servers': None})
    assert result['pending']['volumes'] == ['bad name'] and result['pending']['servers'] is False
    assert 'invalid volume name' in result['reasons']['volumes']['bad name']
