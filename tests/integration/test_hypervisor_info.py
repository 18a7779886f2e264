"""hypervisor_info against real libvirt daemons: two namespaced test hypervisors and one
URI that nothing answers."""

import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition

pytestmark = pytest.mark.integration


def cloud_of(hypervisors, unreachable_socket):
    ghost = {'name': 'ghost', 'uri': 'qemu+unix:///system?socket=%s' % unreachable_socket, 'enabled': False}
    return cloud_definition(hypervisors, [], extra_hypervisors=[ghost],
                            hypervisor_options={hv['name']: {'zone': 'zone-%s' % hv['name']} for hv in hypervisors})


def test_reports_each_hypervisor_and_the_unreachable_one(test_hypervisors, tmp_path):
    result = run_module('hypervisor_info', {'cloud': cloud_of(test_hypervisors, tmp_path / 'no-such-sock')})
    assert not result['failed'], result
    assert unchanged(result)
    by_name = {entry['name']: entry for entry in result['hypervisors']}
    assert list(by_name) == [hv['name'] for hv in test_hypervisors] + ['ghost']

    for hv in test_hypervisors:
        entry = by_name[hv['name']]
        assert entry['reachable'] is True and entry['reason'] is None
        assert entry['uri'] == hv['uri']
        assert entry['zone'] == 'zone-%s' % hv['name']
        assert entry['driver'] == 'QEMU'
        assert entry['libvirt_version'].count('.') == 2
        assert entry['qemu_version'].split('.')[0].isdigit()
        assert entry['cpus'] >= 1
        assert 0 < entry['free_memory_mb'] <= entry['memory_mb']
        # The test hypervisors record software emulation, and modules read it back.
        assert entry['virt_type'] == 'qemu'
        assert entry['virt_type_source'] == 'recorded'
        pools = {pool['name']: pool for pool in entry['pools']}
        assert set(pools) >= {'kvmcloud-images', 'kvmcloud-volumes'}
        for pool in pools.values():
            assert pool['active'] and pool['autostart']
            assert pool['path'].startswith(hv['dir'])
            assert pool['capacity'] > 0

    ghost = by_name['ghost']
    assert ghost['reachable'] is False
    assert 'no-such-sock' in ghost['reason']
    assert ghost['enabled'] is False


def test_name_selects_only_that_hypervisor_and_an_unknown_name_fails(test_hypervisors, tmp_path):
    cloud = cloud_of(test_hypervisors, tmp_path / 'no-such-sock')
    first = test_hypervisors[0]['name']
    result = run_module('hypervisor_info', {'cloud': cloud, 'name': [first]})
    assert [entry['name'] for entry in result['hypervisors']] == [first]

    result = run_module('hypervisor_info', {'cloud': cloud, 'name': ['nowhere']})
    assert result['failed']
    assert "unknown hypervisor 'nowhere'" in result['msg']


def test_bad_cloud_definition_fails_clearly(test_hypervisors):
    hv = test_hypervisors[0]
    cloud = {'hypervisors': [{'name': 'a', 'uri': hv['uri']}, {'name': 'a', 'uri': hv['uri'] + '&x=1'}]}
    result = run_module('hypervisor_info', {'cloud': cloud})
    assert result['failed']
    assert "'a' is defined more than once" in result['msg']
