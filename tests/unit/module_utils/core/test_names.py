# -*- coding: utf-8 -*-
"""core/names.py: the one rule for the names of the resources the collection creates."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.rules import validate_group_name

# Names the tests, the README's and the inventories' playbooks use: they stay accepted.
IN_USE = ['kvmcloud-test-net', 'kvmcloud-test-plannet', 'demo-net', 'demo-web', 'demo-vip', 'demo-db1-data',
          'kvmcloud-images', 'kvmcloud-volumes', 'kvmcloud-test-pool', 'kvmcloud-test--web', 'default', 'tiny',
          'debian-12.5_genericcloud', 'Web-1.prod_x', '9lives', 'x' * 64]

REFUSED = ['with space', 'grüne', 'ünïcode', 'a<b', 'a>b', 'a&b', "x'y", 'x"y', 'a/b', '../etc', 'x' * 65,
           'x' * 300, '', '-a', '.a', '_a', 'a:b', 'a\nb', None, 5]


@pytest.mark.parametrize('name', IN_USE)
def test_names_in_use_are_accepted(name):
    assert names.resource_name('network', name) == name
    assert validate_group_name(name) == name


@pytest.mark.parametrize('name', REFUSED)
@pytest.mark.parametrize('kind', ['network', 'storage pool', 'image', 'volume', 'port'])
def test_other_names_are_refused_with_the_pattern_and_the_length(kind, name):
    with pytest.raises(ValidationError) as err:
        names.resource_name(kind, name)
    assert err.value.msg.startswith('invalid %s name %r' % (kind, name))
    assert '1 to 64 ASCII letters, digits, dots, dashes and underscores' in err.value.msg
    assert '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' in err.value.msg


def test_an_overlong_name_says_its_length():
    with pytest.raises(ValidationError, match=r'\(300 characters\): use 1 to 64'):
        names.resource_name('network', 'n' * 300)


def test_security_groups_follow_the_same_rule_and_say_why():
    for name in REFUSED:
        with pytest.raises(ValidationError) as err:
            validate_group_name(name)
        assert 'invalid security group name' in err.value.msg and 'nwfilter' in err.value.msg
