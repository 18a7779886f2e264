# -*- coding: utf-8 -*-
"""inventory/hosts.py: each server's groups and host variables, from hand-built servers as
server_info returns them."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.inventory import hosts


def server(**changes):
    base = {
        'name': 'web1', 'uuid': 'u1', 'hypervisor': 'hv1', 'zone': 'rack1', 'project': 'demo',
        'flavor': {'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}, 'image': 'tiny',
        'ports': [{'name': 'web1-eth0', 'network': 'front', 'ip': '10.0.0.5', 'mac': '02:00:00:00:00:05'},
                  {'name': 'web1-eth1', 'network': 'back', 'ip': '10.1.0.5', 'mac': '02:00:00:00:01:05'}],
        'power_state': 'running', 'tags': ['web', 'blue'], 'meta': {'tier': 'front', 'owner': 'ops'},
        'server_group': {'name': 'webs', 'policy': 'anti-affinity'},
    }
    base.update(changes)
    return base


def test_a_server_is_in_a_group_of_every_kind():
    assert hosts.group_names(server()) == [
        'kvmcloud', 'project_demo', 'flavor_m1.tiny', 'image_tiny', 'hypervisor_hv1', 'zone_rack1',
        'state_running', 'server_group_webs', 'tag_web', 'tag_blue', 'meta_owner_ops', 'meta_tier_front']


def test_what_a_server_lacks_makes_no_group_and_nothing_is_listed_twice():
    bare = server(project=None, flavor=None, image=None, server_group=None, tags=['a', 'a'], meta={},
                  power_state='stopped')
    assert hosts.group_names(bare) == ['kvmcloud', 'hypervisor_hv1', 'zone_rack1', 'state_stopped', 'tag_a']


def test_ansible_host_is_the_first_ports_address_or_that_of_the_named_network():
    assert hosts.host_address(server()) == '10.0.0.5'
    assert hosts.host_address(server(), 'back') == '10.1.0.5'
    assert hosts.host_address(server(), 'elsewhere') is None
    assert hosts.host_address(server(ports=[])) is None


def test_host_vars_carry_the_server_its_address_and_its_images_default_user():
    users = {'hv1': {'tiny': 'debian'}, 'hv2': {'tiny': 'other'}}
    assert hosts.host_vars(server(), users) == {'kvmcloud': server(), 'ansible_host': '10.0.0.5',
                                                'ansible_user': 'debian'}
    assert hosts.host_vars(server(ports=[], image='plain'), users) == {'kvmcloud': server(ports=[], image='plain')}
    assert hosts.host_vars(server(), {}, network='back', jump='root@hv1')['ansible_ssh_common_args'] == \
        '-o ProxyJump=root@hv1'


@pytest.mark.parametrize('uri, jump', [
    ('qemu+ssh://root@hv1.example.org/system', 'root@hv1.example.org'),
    ('qemu+ssh://hv1:2222/system?keyfile=/k', 'hv1:2222'),
    ('qemu+ssh://admin@[2001:db8::1]/system', 'admin@[2001:db8::1]'),
    ('qemu:///system', None),
    ('qemu+unix:///system?socket=/run/x/libvirt-sock', None),
    ('qemu+tcp://hv1/system', None),
])
def test_only_hypervisors_reached_over_ssh_give_a_proxy_jump(uri, jump):
    assert hosts.proxy_jump(uri) == jump


def test_the_projects_filter_keeps_the_servers_of_the_projects_named():
    servers = [server(name='a', project='demo'), server(name='b', project='ops'), server(name='c', project=None)]
    assert [s['name'] for s in hosts.selected(servers, ['ops'])] == ['b']
    assert [s['name'] for s in hosts.selected(servers, [])] == ['a', 'b', 'c']
