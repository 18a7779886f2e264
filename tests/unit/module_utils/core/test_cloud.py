# -*- coding: utf-8 -*-
"""core/cloud.py: the cloud definition, built from parameters filled in like AnsibleModule does."""

import copy
import dataclasses

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import (
    CLOUD_ARGUMENT_SPEC, CLOUD_SPEC, DEFAULT_IMAGES_POOL, DEFAULT_VOLUMES_POOL, FLAVOR_SPEC, HYPERVISOR_SPEC,
    KEYPAIR_SPEC, PROJECT_SPEC, CloudDefinition, Flavor, Hypervisor, Keypair, Project, check_wait_timeout)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError


def filled(cloud):
    """``cloud`` as a module receives it: validated and with every default filled in.

    The spec is copied: Ansible fills sub-options into a ``default={}`` in place.
    """
    result = ArgumentSpecValidator(copy.deepcopy(CLOUD_ARGUMENT_SPEC)).validate({'cloud': copy.deepcopy(cloud)})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters['cloud']


def hv(name, uri=None, **extra):
    return dict(name=name, uri=uri or 'qemu+ssh://root@%s/system' % name, **extra)


def build(**cloud):
    cloud.setdefault('hypervisors', [hv('hv1')])
    return CloudDefinition.from_params(filled(cloud))


def test_defaults_are_filled():
    cloud = build(hypervisors=[hv('hv1', 'qemu:///system')])
    assert cloud.hypervisors == [Hypervisor(
        name='hv1', uri='qemu:///system', zone='nova', enabled=True, virt_type=None,
        cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
        reserved_host_memory_mb=512, reserved_host_cpus=0, reserved_host_disk_gb=0,
        images_pool=DEFAULT_IMAGES_POOL, volumes_pool=DEFAULT_VOLUMES_POOL)]
    assert cloud.flavors == [] and cloud.projects == [] and cloud.keypairs == []


def test_full_definition():
    cloud = build(
        hypervisors=[hv('hv1', zone='az1', virt_type='kvm', cpu_allocation_ratio=2, reserved_host_cpus=1),
                     hv('hv2', enabled=False, images_pool='imgs')],
        flavors=[dict(name='m1.small', vcpus=1, ram=2048, disk=20), dict(name='m1.tiny', vcpus=1, ram=512)],
        projects=[dict(name='demo', description='Demo', quotas=dict(instances=10, cores=-1)),
                  dict(name='empty')],
        keypairs=[dict(name='me', public_key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W me@host')],
    )
    hv1, hv2 = cloud.hypervisors
    assert (hv1.zone, hv1.virt_type, hv1.cpu_allocation_ratio, hv1.reserved_host_cpus) == ('az1', 'kvm', 2.0, 1)
    assert isinstance(hv1.cpu_allocation_ratio, float)
    assert hv2.enabled is False and hv2.images_pool == 'imgs' and hv2.volumes_pool == DEFAULT_VOLUMES_POOL
    assert cloud.flavor('m1.small') == Flavor('m1.small', 1, 2048, 20)
    assert cloud.flavor('m1.tiny').disk == 0
    # Quotas the user did not set (None after the spec filled them in) are left out.
    assert cloud.project('demo') == Project('demo', 'Demo', {'instances': 10, 'cores': -1})
    assert cloud.project('empty') == Project('empty', '', {})
    assert cloud.keypair('me') == Keypair('me', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W me@host')


def test_spec_defaults_match_dataclass_defaults():
    for spec, cls in ((HYPERVISOR_SPEC, Hypervisor), (FLAVOR_SPEC, Flavor), (PROJECT_SPEC, Project),
                      (KEYPAIR_SPEC, Keypair)):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        assert set(fields) == set(spec), cls.__name__
        for name, option in spec.items():
            field = fields[name]
            if option.get('required'):
                assert field.default is dataclasses.MISSING, (cls.__name__, name)
            elif field.default_factory is not dataclasses.MISSING:
                assert field.default_factory() == option.get('default'), (cls.__name__, name)
            else:
                assert field.default == option.get('default'), (cls.__name__, name)
    assert set(CLOUD_SPEC) == {f.name for f in dataclasses.fields(CloudDefinition)}


def test_from_params_without_spec_defaults():
    # Keys left out or None fall back to the dataclass defaults.
    cloud = CloudDefinition.from_params({'hypervisors': [{'name': 'a', 'uri': 'test:///default', 'zone': None}],
                                         'flavors': None})
    assert cloud.hypervisors[0].zone == 'nova'
    assert cloud.flavors == []


def test_unknown_keys_are_ignored():
    cloud = CloudDefinition.from_params({'hypervisors': [dict(hv('a'), color='blue')]})
    assert cloud.hypervisors[0].name == 'a'


@pytest.mark.parametrize('params', [None, {}, {'hypervisors': []}])
def test_at_least_one_hypervisor(params):
    with pytest.raises(ValidationError, match='at least one hypervisor'):
        CloudDefinition.from_params(params)


@pytest.mark.parametrize('kind, cloud, name', [
    ('hypervisors', dict(hypervisors=[hv('hv1', 'test:///a'), hv('hv1', 'test:///b')]), 'hv1'),
    ('flavors', dict(flavors=[dict(name='m1', vcpus=1, ram=1), dict(name='m1', vcpus=2, ram=2)]), 'm1'),
    ('projects', dict(projects=[dict(name='p'), dict(name='p')]), 'p'),
    ('keypairs', dict(keypairs=[dict(name='k', public_key='a'), dict(name='k', public_key='b')]), 'k'),
])
def test_duplicate_names_fail(kind, cloud, name):
    with pytest.raises(ValidationError) as err:
        build(**cloud)
    assert err.value.msg == "cloud.%s: '%s' is defined more than once" % (kind, name)


def test_duplicate_uris_fail():
    with pytest.raises(ValidationError) as err:
        build(hypervisors=[hv('hv1', 'qemu:///system'), hv('hv2', 'qemu:///system')])
    assert err.value.msg == "cloud.hypervisor URIs: 'qemu:///system' is defined more than once"


@pytest.mark.parametrize('ratio', ['cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'])
@pytest.mark.parametrize('value', [0, -1.5])
def test_bad_ratios_fail(ratio, value):
    with pytest.raises(ValidationError) as err:
        build(hypervisors=[hv('hv1', **{ratio: value})])
    assert 'cloud.hypervisors[hv1].%s must be greater than 0' % ratio in err.value.msg
    assert str(float(value)) in err.value.msg


def test_small_positive_ratio_is_fine():
    assert build(hypervisors=[hv('hv1', ram_allocation_ratio=0.5)]).hypervisors[0].ram_allocation_ratio == 0.5


@pytest.mark.parametrize('reserved', ['reserved_host_memory_mb', 'reserved_host_cpus', 'reserved_host_disk_gb'])
def test_negative_reserved_fails(reserved):
    with pytest.raises(ValidationError) as err:
        build(hypervisors=[hv('hv1', **{reserved: -1})])
    assert err.value.msg == 'cloud.hypervisors[hv1].%s must not be negative, got -1' % reserved
    assert build(hypervisors=[hv('hv1', **{reserved: 0})])


@pytest.mark.parametrize('flavor, message', [
    (dict(name='f', vcpus=0, ram=512), 'cloud.flavors[f].vcpus must be at least 1, got 0'),
    (dict(name='f', vcpus=-2, ram=512), 'cloud.flavors[f].vcpus must be at least 1, got -2'),
    (dict(name='f', vcpus=1, ram=0), 'cloud.flavors[f].ram must be at least 1, got 0'),
    (dict(name='f', vcpus=1, ram=512, disk=-1), 'cloud.flavors[f].disk must not be negative, got -1'),
])
def test_bad_flavor_values_fail(flavor, message):
    with pytest.raises(ValidationError) as err:
        build(flavors=[flavor])
    assert err.value.msg == message


def test_quota_limits():
    assert build(projects=[dict(name='p', quotas=dict(cores=-1, ram=0))]).project('p').quotas == {'cores': -1, 'ram': 0}
    with pytest.raises(ValidationError) as err:
        build(projects=[dict(name='p', quotas=dict(cores=-2))])
    assert err.value.msg == 'cloud.projects[p].quotas.cores must be -1 (unlimited) or more, got -2'


@pytest.mark.parametrize('method, kind, known', [
    ('hypervisor', 'hypervisor', 'hv1, hv2'),
    ('flavor', 'flavor', 'a.small, b.large'),
    ('project', 'project', 'none'),
    ('keypair', 'keypair', 'none'),
])
def test_unknown_names_list_the_known_ones(method, kind, known):
    cloud = build(hypervisors=[hv('hv2'), hv('hv1')],
                  flavors=[dict(name='b.large', vcpus=4, ram=8192), dict(name='a.small', vcpus=1, ram=1024)])
    with pytest.raises(ValidationError) as err:
        getattr(cloud, method)('missing')
    assert err.value.msg == "unknown %s 'missing'; the cloud defines: %s" % (kind, known)


def test_lookup_by_name():
    cloud = build(hypervisors=[hv('hv1'), hv('hv2')])
    assert cloud.hypervisor('hv2') is cloud.hypervisors[1]


@pytest.fixture
def three():
    return build(hypervisors=[hv('hv1'), hv('hv2', enabled=False), hv('hv3')])


def test_select_all_by_default(three):
    assert [h.name for h in three.select_hypervisors()] == ['hv1', 'hv2', 'hv3']
    assert [h.name for h in three.select_hypervisors([])] == ['hv1', 'hv2', 'hv3']


def test_select_enabled_only(three):
    assert [h.name for h in three.select_hypervisors(enabled_only=True)] == ['hv1', 'hv3']


def test_select_by_name_keeps_definition_order(three):
    assert [h.name for h in three.select_hypervisors(['hv3', 'hv1'])] == ['hv1', 'hv3']
    # Naming a disabled hypervisor selects it unless only enabled ones are asked for.
    assert [h.name for h in three.select_hypervisors(['hv2'])] == ['hv2']
    assert three.select_hypervisors(['hv2'], enabled_only=True) == []


def test_select_unknown_name_fails(three):
    with pytest.raises(ValidationError) as err:
        three.select_hypervisors(['hv1', 'hv9'])
    assert err.value.msg == "unknown hypervisor 'hv9'; the cloud defines: hv1, hv2, hv3"


def test_definition_is_immutable(three):
    with pytest.raises(dataclasses.FrozenInstanceError):
        three.hypervisors[0].enabled = False


# -- public keys and wait timeouts ---------------------------------------------------------------

ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W demo'
# The blob of an RSA key starts with its type too: 00 00 00 07 's' 's' 'h' '-' 'r' 's' 'a'.
RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@example.org'


@pytest.mark.parametrize('key', [ED25519, RSA, ED25519.rsplit(' ', 1)[0], '  %s  ' % ED25519])
def test_openssh_public_keys_are_accepted(key):
    assert build(keypairs=[dict(name='k', public_key=key)]).keypair('k').public_key == key


@pytest.mark.parametrize('key, words', [
    ('hello', 'expected one line "<type> <base64 key> [comment]"'),
    ('~/.ssh/id_ed25519.pub', 'expected one line'),
    ('-----BEGIN OPENSSH PRIVATE KEY-----', 'expected one line'),
    ('ssh-ed25519', 'expected one line'),
    ('ssh-dss AAAAB3NzaC1kc3MAAACBAP demo', 'with a type of ssh-ed25519, ecdsa-sha2-nistp256'),
    ('ssh-ed25519 not-base64! demo', 'not the base64 data of a ssh-ed25519 key'),
    ('ssh-ed25519 AAAA demo', 'not the base64 data of a ssh-ed25519 key'),
    (RSA.replace('ssh-rsa', 'ssh-ed25519'), 'not the base64 data of a ssh-ed25519 key'),
    (ED25519 + '\n' + ED25519, 'expected one line'),
])
def test_what_is_not_a_public_key_is_refused_with_the_accepted_types(key, words):
    with pytest.raises(ValidationError) as err:
        build(keypairs=[dict(name='k', public_key=key)])
    assert 'cloud.keypairs[k].public_key is not an OpenSSH public key' in err.value.msg
    assert words in err.value.msg and 'ssh-rsa' in err.value.msg


def test_public_keys_are_not_hidden_from_the_output():
    # Public keys are public: no_log=False says so (and keeps Ansible from guessing otherwise).
    assert KEYPAIR_SPEC['public_key']['no_log'] is False


@pytest.mark.parametrize('wait, timeout, zero_allowed', [
    (True, 300, False), (True, 1, False), (False, 0, False), (True, 0, True), (False, 0, True), (True, None, False)])
def test_wait_timeouts_that_can_be_met_are_accepted(wait, timeout, zero_allowed):
    check_wait_timeout(wait, timeout, zero_allowed=zero_allowed)


@pytest.mark.parametrize('wait, timeout, zero_allowed, words', [
    (True, -1, True, 'wait_timeout must be a number of seconds, 0 or more; got -1'),
    (False, -5, True, 'got -5'),
    (True, 0, False, 'wait_timeout: 0 with wait: true cannot succeed'),
])
def test_wait_timeouts_that_cannot_be_met_are_refused(wait, timeout, zero_allowed, words):
    with pytest.raises(ValidationError, match=words.replace('(', r'\(')):
        check_wait_timeout(wait, timeout, zero_allowed=zero_allowed)


def test_from_option_validates_like_a_module_and_leaves_the_spec_as_it_was():
    before = copy.deepcopy(CLOUD_SPEC)
    cloud = CloudDefinition.from_option({'hypervisors': [{'name': 'a', 'uri': 'test:///default', 'enabled': 'no'}],
                                         'projects': [{'name': 'p'}]})
    assert cloud.hypervisors[0].enabled is False and cloud.hypervisors[0].zone == 'nova'
    assert cloud.projects[0].quotas == {}
    assert CLOUD_SPEC == before
    with pytest.raises(ValidationError, match=r'cloud.hypervisors.colour\. Supported parameters'):
        CloudDefinition.from_option({'hypervisors': [{'name': 'a', 'uri': 'x', 'colour': 'blue'}]})
    with pytest.raises(ValidationError, match='missing required arguments: uri'):
        CloudDefinition.from_option({'hypervisors': [{'name': 'a'}]})
