# -*- coding: utf-8 -*-
"""compute/spec.py: a server's options validated against the cloud definition into the spec
the engine plans from."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import fleet as fleet_module
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import spec as servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.fleet import FLEET_ARGUMENT_SPEC
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

CLOUD = CloudDefinition.from_params({
    'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}],
    'flavors': [{'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}],
    'projects': [{'name': 'demo'}],
    'keypairs': [{'name': 'admin', 'public_key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W admin'}],
})


def params(**extra):
    base = {'name': 'web1', 'project': 'demo', 'flavor': 'm1.tiny', 'image': 'tiny', 'networks': [{'network': 'private'}]}
    base.update(extra)
    return base


def test_spec_from_params_fills_flavor_ports_and_defaults():
    spec = servers.spec_from_params(CLOUD, params(tags=['b', 'a', 'b'], key_name='admin'))
    assert spec['flavor'] == {'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}
    assert spec['networks'] == [{'network': 'private', 'fixed_ip': None, 'security_groups': None, 'port_security': None,
                                 'port': 'web1-eth0'}]
    assert spec['tags'] == ['a', 'b'] and spec['power_state'] == 'running' and spec['server_group'] is None


def test_inline_flavor_takes_vcpus_ram_and_disk():
    spec = servers.spec_from_params(CLOUD, params(flavor=None, vcpus=2, ram=256))
    assert spec['flavor'] == {'name': None, 'vcpus': 2, 'ram': 256, 'disk': 0}


@pytest.mark.parametrize('extra, words', [
    ({'name': 'bad_name'}, 'invalid server name'),
    ({'name': '-x'}, 'invalid server name'),
    ({'project': None}, 'project is required'),
    ({'project': 'nobody'}, 'unknown project'),
    ({'flavor': 'm9.huge'}, 'unknown flavor'),
    ({'flavor': None}, 'flavor is required'),
    ({'vcpus': 2}, 'not both'),
    ({'flavor': None, 'vcpus': 0, 'ram': 128}, 'vcpus must be at least 1'),
    ({'image': None}, 'image is required'),
    ({'key_name': 'nokey'}, 'unknown keypair'),
    ({'hypervisor': 'hv9'}, 'unknown hypervisor'),
    ({'power_state': 'asleep'}, 'power_state must be one of'),
    ({'server_group': {'name': 'g', 'policy': 'together'}}, 'policy must be one of'),
    ({'volumes': ['v', 'v']}, 'listed twice'),
    ({'networks': [{'fixed_ip': '10.0.0.5'}]}, r'networks\[0\] needs a network'),
])
def test_bad_options_are_refused(extra, words):
    with pytest.raises(ValidationError, match=words):
        servers.spec_from_params(CLOUD, params(**extra))


# -- secrets -------------------------------------------------------------------------------------

SECRET = 'kvmcloud-secret-7f3a'


def test_user_data_is_hidden_from_the_output_in_server_and_in_each_fleet_element():
    assert servers.SERVER_SPEC['user_data']['no_log'] is True
    assert FLEET_ARGUMENT_SPEC['servers']['options'] is servers.SERVER_SPEC
    # What AnsibleModule masks in the invocation, the result and every message of the run.
    fleet = ArgumentSpecValidator(FLEET_ARGUMENT_SPEC).validate({'servers': [
        {'name': 'web1', 'user_data': '#cloud-config\npassword: %s\n' % SECRET},
        {'name': 'web2', 'user_data': {'chpasswd': {'list': 'root:%s' % SECRET}}},
        {'name': 'web3'}]})
    assert not fleet.error_messages
    assert fleet._no_log_values == {'#cloud-config\npassword: %s\n' % SECRET, 'root:%s' % SECRET}
    # Names and other options stay visible.
    assert 'web1' not in fleet._no_log_values


def test_fleet_elements_filled_in_by_ansible_take_the_fleets_project(monkeypatch):
    asked = {}
    monkeypatch.setattr(fleet_module, 'run_servers',
                        lambda cm, present, absent, exclusive_project: asked.update(present=present, absent=absent))
    params = ArgumentSpecValidator(FLEET_ARGUMENT_SPEC).validate({'project': 'demo', 'servers': [
        {'name': 'web1'}, {'name': 'web2', 'project': 'other'}, {'name': 'old', 'state': 'absent'}]})
    fleet_module.run_server_fleet(SimpleNamespace(params=params.validated_parameters))
    assert [(s['name'], s['project']) for s in asked['present']] == [('web1', 'demo'), ('web2', 'other')]
    assert asked['absent'] == ['old']
