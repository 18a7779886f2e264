"""The inventory plugin kvmcloud.cloud.kvmcloud through the real ``ansible-inventory``, on two
namespaced test hypervisors of this file's own, in two zones: servers made by server_fleet
(stopped, so nothing boots; the test sends no traffic to their addresses) are hosts in their
groups, with ``ansible_host`` their fixed addresses and ``ansible_user`` their image's
default user; with the cache on, a second run needs no libvirtd.
"""

import json
import subprocess

import pytest
import yaml

from ansible_run import BIN, ROOT, ansible_env, run_module
from cloud_fixture import cloud_definition, module_leftovers, removing_prefixed
from testhv import kill_libvirtd, restart_libvirtd
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kc-inv-'
NET = 'kvmcloud-test-invnet'
IMAGE = 'kvmcloud-test-inv-tiny'
SUBNET = {'cidr': '10.250.61.0/24', 'allocation_pools': [{'start': '10.250.61.100', 'end': '10.250.61.199'}]}
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])

inv_hypervisors = hypervisors_fixture(count=2, prefix='inv', scope='module', name='inv_hypervisors')


def cloud(hvs):
    return cloud_definition(hvs, [{'name': 'demo'}, {'name': 'ops'}],
                            hypervisor_options={hvs[0]['name']: {'zone': 'east'}, hvs[1]['name']: {'zone': 'west'}})


@pytest.fixture(scope='module')
def servers(inv_hypervisors, tiny_image_file):
    """Three stopped servers: two of project demo with a port each, one of ops without a port;
    the fleet's result, by server name."""
    hvs = inv_hypervisors
    with removing_prefixed(hvs, PREFIX, **LEFTOVERS):
        base = {'cloud': cloud(hvs)}
        image = run_module('image', dict(base, name=IMAGE, filename=str(tiny_image_file),
                                         properties={'default_user': 'tester', 'os_distro': 'kvmcloud-tiny'}))
        assert not image['failed'], image
        network = run_module('network', dict(base, name=NET, mode='isolated', subnet=SUBNET))
        assert not network['failed'], network
        common = {'flavor': 'm1.tiny', 'image': IMAGE, 'power_state': 'stopped'}
        fleet = run_module('server_fleet', dict(base, wait=False, servers=[
            dict(common, name=PREFIX + 'web1', project='demo', hypervisor=hvs[0]['name'], tags=['web'],
                 meta={'tier': 'front'}, networks=[{'network': NET}]),
            dict(common, name=PREFIX + 'web2', project='demo', hypervisor=hvs[1]['name'], tags=['web'],
                 networks=[{'network': NET, 'fixed_ip': '10.250.61.150'}]),
            dict(common, name=PREFIX + 'job1', project='ops', hypervisor=hvs[1]['name'], networks=[]),
        ]))
        assert not fleet['failed'], fleet
        yield {server['name']: server for server in fleet['servers']}


def inventory(tmp_path, hvs, *args, **options):
    """``ansible-inventory -i <a kvmcloud.yml of options> <args>``: ``(stdout, stderr)``. The
    cloud comes from a cloud_file, as from an inventory's group_vars."""
    (tmp_path / 'cloud.yml').write_text(yaml.safe_dump({'kvmcloud_cloud': cloud(hvs)}))
    config = tmp_path / 'test.kvmcloud.yml'
    config.write_text(yaml.safe_dump(dict({'plugin': 'kvmcloud.cloud.kvmcloud', 'cloud_file': 'cloud.yml'},
                                          **options)))
    proc = subprocess.run([str(BIN / 'ansible-inventory'), '-i', str(config)] + list(args), cwd=ROOT,
                          env=ansible_env(), capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, proc.stderr


def plain(value):
    """ansible-inventory's JSON without its markers of untrusted strings."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listed(tmp_path, hvs, *args, **options):
    """``--list`` as ``({group: sorted hosts}, {host: vars}, stderr)``."""
    out, err = inventory(tmp_path, hvs, '--list', *args, **options)
    data = plain(json.loads(out))
    groups = {name: sorted(body.get('hosts', [])) for name, body in data.items()
              if name not in ('_meta', 'all', 'ungrouped')}
    return groups, data['_meta']['hostvars'], err


def test_servers_are_hosts_in_their_groups_at_their_fixed_addresses(tmp_path, inv_hypervisors, servers):
    hv0, hv1 = (hv['name'] for hv in inv_hypervisors)
    web1, web2, job1 = PREFIX + 'web1', PREFIX + 'web2', PREFIX + 'job1'
    groups, hostvars, err = listed(tmp_path, inv_hypervisors)
    assert 'WARNING' not in err, err
    image_group = 'image_' + IMAGE.replace('-', '_')
    expected = {
        'kvmcloud': [job1, web1, web2], 'project_demo': [web1, web2], 'project_ops': [job1],
        'flavor_m1_tiny': [job1, web1, web2], image_group: [job1, web1, web2],
        'hypervisor_' + hv0: [web1], 'hypervisor_' + hv1: [job1, web2], 'zone_east': [web1], 'zone_west': [job1, web2],
        'state_stopped': [job1, web1, web2], 'tag_web': [web1, web2], 'meta_tier_front': [web1],
    }
    assert {name: groups.get(name) for name in expected} == expected
    assert hostvars[web1]['ansible_host'] == servers[web1]['addresses'][NET] == '10.250.61.100'
    assert hostvars[web2]['ansible_host'] == servers[web2]['addresses'][NET] == '10.250.61.150'
    assert 'ansible_host' not in hostvars[job1], 'a server without a port has no address'
    assert {hostvars[name]['ansible_user'] for name in (web1, web2, job1)} == {'tester'}
    for name, server in servers.items():
        got = hostvars[name]['kvmcloud']
        # The fleet's ports have no leased_ip (the servers never ran): compared on their own.
        same = set(server) & set(got) - {'ports'}
        assert same >= {'uuid', 'hypervisor', 'project', 'flavor', 'image', 'addresses', 'tags', 'meta'}
        assert {key: got[key] for key in same} == {key: server[key] for key in same}
        assert [(p['name'], p['ip'], p['mac'], p['leased_ip']) for p in got['ports']] == [
            (p['name'], p['ip'], p['mac'], None) for p in server['ports']]
        assert got['zone'] == ('east' if server['hypervisor'] == hv0 else 'west')

    graph, _err = inventory(tmp_path, inv_hypervisors, '--graph', projects=['demo'], network=NET)
    assert '@project_demo:' in graph and web1 in graph and job1 not in graph


def test_with_the_cache_a_second_run_needs_no_libvirtd(tmp_path, inv_hypervisors, servers):
    options = {'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
               'cache_connection': str(tmp_path / 'cache'), 'cache_timeout': 600}
    first, hostvars, err = listed(tmp_path, inv_hypervisors, **options)
    assert 'WARNING' not in err and len(first['kvmcloud']) == 3, err
    gone = inv_hypervisors[0]
    kill_libvirtd(gone)
    try:
        cached, cached_vars, err = listed(tmp_path, inv_hypervisors, **options)
        assert 'WARNING' not in err, err
        assert cached == first
        assert {name: v['ansible_host'] for name, v in cached_vars.items() if 'ansible_host' in v} == {
            name: v['ansible_host'] for name, v in hostvars.items() if 'ansible_host' in v}
        # Read again (the cache flushed): the hypervisor without libvirtd is a warning naming it.
        fresh, _vars, err = listed(tmp_path, inv_hypervisors, '--flush-cache', **options)
        assert 'hypervisor %s could not be reached' % gone['name'] in err, err
        assert fresh['kvmcloud'] == [PREFIX + 'job1', PREFIX + 'web2']
        # ... and fatal with fail_on_errors.
        config = tmp_path / 'test.kvmcloud.yml'
        config.write_text(yaml.safe_dump({'plugin': 'kvmcloud.cloud.kvmcloud', 'cloud_file': 'cloud.yml',
                                          'fail_on_errors': True}))
        proc = subprocess.run([str(BIN / 'ansible-inventory'), '-i', str(config), '--list'], cwd=ROOT,
                              env=ansible_env(), capture_output=True, text=True, check=False, timeout=120)
        # The source fails as a whole: not one of its hosts is listed.
        assert 'Failed to parse' in proc.stderr and 'hypervisor %s could not be reached' % gone['name'] in proc.stderr
        assert PREFIX not in proc.stdout, proc.stdout
    finally:
        restart_libvirtd(gone)
