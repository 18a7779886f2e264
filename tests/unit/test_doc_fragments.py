# -*- coding: utf-8 -*-
"""The server doc fragment says the same of a server's options in its two places: the server
module's options, and the suboptions of a list of servers (server_fleet, cloud_plan)."""

import re

import yaml

from ansible_collections.kvmcloud.cloud.plugins.doc_fragments.server import ModuleDocFragment
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import SERVER_SPEC


def test_a_list_of_servers_documents_the_options_of_one_server():
    one = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    # In a list, an option is referred to as O(servers[].<name>).
    listed = yaml.safe_load(re.sub(r'O\(servers\[\]\.', 'O(', ModuleDocFragment.SERVERS))['options']
    assert listed == {'servers': {'suboptions': one}}
    assert sorted(one) == sorted(SERVER_SPEC)


def test_user_data_says_it_is_never_shown():
    user_data = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']['user_data']
    assert SERVER_SPEC['user_data']['no_log'] is True
    assert any('never shown' in line for line in user_data['description'])
