# -*- coding: utf-8 -*-
"""compute/spec.py: a server's options validated against the cloud definition into the spec
the engine plans from."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import spec as servers
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
