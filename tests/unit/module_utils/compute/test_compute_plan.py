# -*- coding: utf-8 -*-
"""compute/plan.py: the fleet's plan as a pure function of a survey built by hand, with no
engine, no connection and no hypervisor: drift, placement, addresses, quotas, deletions."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.plan import (
    MODES, SET_FIELDS, current_of, desired_of, doomed, involved_networks, plan_fleet, seed_files)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import spec_from_params
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.survey import Host, Survey
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import (
    CONFIG, CREATE, DELETE, LIVE, REBUILD, UPDATE, compare)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.view import NetworkView

GIB = 1024 ** 3


def cloud(quotas=None):
    return CloudDefinition.from_params({
        'hypervisors': [{'name': 'hv1', 'uri': 'test:///hv1'}, {'name': 'hv2', 'uri': 'test:///hv2'}],
        'flavors': [{'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}],
        'projects': [{'name': 'demo', 'quotas': quotas or {}}, {'name': 'other'}],
        'keypairs': [{'name': 'admin', 'public_key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICBuIw7XfhlqkPIHW6B7eQCQYrzgC0iLFCwB7Vq+3c5W admin'}],
    })


CLOUD = cloud()


def params(**extra):
    base = {'name': 'web1', 'project': 'demo', 'flavor': 'm1.tiny', 'image': 'tiny', 'networks': [{'network': 'private'}]}
    base.update(extra)
    return base


def view(records=(), hypervisors=('hv1', 'hv2')):
    net = NetworkView('private')
    net.hypervisors = list(hypervisors)
    net.facts = {'name': 'private', 'cidr': '10.0.0.0/24', 'gateway': '10.0.0.1',
                 'allocation_pools': [{'start': '10.0.0.10', 'end': '10.0.0.20'}], 'dns_servers': []}
    for record in records:
        net.records[record['name']] = record
        net.used[record['ip']] = ('port %s' % record['name'], record['mac'])
        net.macs.add(record['mac'])
        net.project_ports.setdefault(record['project'], set()).add(record['name'])
    return net


def host(servers=(), memory_mb=4096):
    return Host(servers={s['name']: s for s in servers}, cpus=4, memory_mb=memory_mb, disk_gb=100, virt_type='qemu')


def existing(name='web1', hypervisor='hv1', **extra):
    """A server as the survey reads it, created from the spec of ``params(name=name)``."""
    spec = spec_from_params(CLOUD, params(name=name))
    record = {'name': '%s-eth0' % name, 'network': 'private', 'project': 'demo', 'ip': '10.0.0.10',
              'mac': '02:00:00:00:00:01', 'hostname': name, 'security_groups': ['default'], 'port_security': True,
              'server': name, 'created': '2026-12-01T00:00:00Z'}
    uuid = '00000000-0000-0000-0000-00000000000%d' % len(name)
    server = {'name': name, 'uuid': uuid, 'hypervisor': hypervisor, 'project': 'demo',
              'flavor': spec['flavor'], 'vcpus': 1, 'ram': 128, 'image': 'tiny', 'root_size': GIB,
              'ports': [{k: record[k] for k in ('name', 'network', 'ip', 'mac')}], 'volumes': [], 'key_name': None,
              'tags': [], 'meta': {}, 'server_group': None, 'power_state': 'running', 'boot_volume': None}
    server['seed_hash'] = seeds.seed_hash(seed_files(CLOUD, spec, uuid, [record], {'private': view()}))
    server.update(extra)
    return server, record


def survey_of(servers=(), records=(), **hosts):
    hosts = hosts or {'hv1': host([s for s in servers if s['hypervisor'] == 'hv1']),
                      'hv2': host([s for s in servers if s['hypervisor'] == 'hv2'])}
    return Survey(hosts=hosts, unreachable={}, servers={s['name']: s for s in servers},
                  networks={'private': view(records)})


def specs(*items, target=CLOUD):
    return [spec_from_params(target, params(**item)) for item in items]


def test_drift_of_an_existing_server_splits_into_config_live_and_rebuild_changes():
    spec = spec_from_params(CLOUD, params(flavor=None, vcpus=2, ram=256, disk=1, tags=['x']))
    server = {'project': 'demo', 'flavor': {'name': 'm1.tiny'}, 'vcpus': 1, 'ram': 128, 'image': 'other',
              'ports': [{'name': 'web1-eth0', 'network': 'private'}], 'volumes': [], 'key_name': None,
              'seed_hash': 'old', 'tags': [], 'meta': {}, 'server_group': None, 'power_state': 'running',
              'root_size': GIB}
    changes = {c.field: c for c in compare(current_of(server), desired_of(spec, 'new'),
                                           set_fields=SET_FIELDS, modes=MODES)}
    assert changes['vcpus'].mode == CONFIG and changes['ram'].mode == CONFIG and changes['seed_hash'].mode == CONFIG
    assert changes['image'].mode == REBUILD and changes['tags'].mode == LIVE
    assert (changes['vcpus'].before, changes['vcpus'].after) == (1, 2)
    assert 'networks' not in changes and 'disk' not in changes and 'power_state' not in changes


def test_an_unchanged_server_plans_nothing():
    server, record = existing()
    the_plan = plan_fleet(CLOUD, specs({}), survey_of([server], [record]))
    assert not the_plan.changed and the_plan.servers[0].action is None
    assert the_plan.diff() == {'before': {}, 'after': {}}


def test_new_servers_are_placed_spread_and_get_distinct_addresses_after_the_taken_ones():
    server, record = existing()
    the_plan = plan_fleet(CLOUD, specs({}, {'name': 'web2'}, {'name': 'web3'}), survey_of([server], [record]),
                          new_uuid=iter(['u2', 'u3']).__next__)
    new = the_plan.of(CREATE)
    assert [p.name for p in new] == ['web2', 'web3']
    # web1 uses RAM on hv1, so the first new server goes to hv2, then the next one to hv1 again.
    assert [p.hypervisor for p in new] == ['hv2', 'hv1']
    assert [p.port_records[0]['ip'] for p in new] == ['10.0.0.11', '10.0.0.12']
    assert len({p.port_records[0]['mac'] for p in new} | {record['mac']}) == 3
    assert [p.uuid for p in new] == ['u2', 'u3']
    diff = the_plan.diff()
    assert diff['before'] == {'web2': {}, 'web3': {}}
    assert diff['after']['web2']['addresses'] == {'private': '10.0.0.11'}


def test_check_mode_plans_new_servers_without_a_uuid():
    the_plan = plan_fleet(CLOUD, specs({}), survey_of())
    assert the_plan.servers[0].action == CREATE and the_plan.servers[0].uuid is None


def test_quotas_are_checked_for_the_whole_list_before_any_placement():
    limited = cloud({'instances': 2})
    server, record = existing()
    with pytest.raises(ValidationError, match="quota exceeded for project 'demo': instances limit 2, in use 1, "
                                              "requested 2") as err:
        plan_fleet(limited, specs({}, {'name': 'web2'}, {'name': 'web3'}, target=limited),
                   survey_of([server], [record]))
    assert err.value.details['exceeded'][0]['quota'] == 'instances'


def test_a_pinned_server_goes_where_it_is_pinned_and_a_full_host_refuses_it():
    the_plan = plan_fleet(CLOUD, specs({'hypervisor': 'hv1'}), survey_of())
    assert the_plan.servers[0].hypervisor == 'hv1'
    with pytest.raises(ValidationError, match="no hypervisor can host server 'web1'"):
        plan_fleet(CLOUD, specs({'hypervisor': 'hv1'}), survey_of(hv1=host(memory_mb=256), hv2=host()))


def test_another_image_needs_rebuild_true_and_is_then_planned_as_an_update():
    server, record = existing()
    found = survey_of([server], [record])
    with pytest.raises(ValidationError) as err:
        plan_fleet(CLOUD, specs({'image': 'other'}), found)
    assert err.value.msg == "changing image needs server 'web1' to be rebuilt; set rebuild: true to allow it"
    assert err.value.details['diff'] == {'before': {'image': 'tiny'}, 'after': {'image': 'other'}}
    the_plan = plan_fleet(CLOUD, specs({'image': 'other'}), found, rebuild=True)
    assert the_plan.servers[0].action == UPDATE and the_plan.servers[0].fields() == ['image']


def test_another_project_is_never_a_rebuild():
    server, record = existing()
    with pytest.raises(ValidationError, match='delete and create it again'):
        plan_fleet(CLOUD, specs({'project': 'other'}), survey_of([server], [record]), rebuild=True)


def test_a_config_change_of_a_running_server_requires_a_reboot():
    server, record = existing()
    the_plan = plan_fleet(CLOUD, specs({'flavor': None, 'vcpus': 2, 'ram': 128, 'disk': 1}),
                          survey_of([server], [record]))
    assert the_plan.servers[0].fields(CONFIG) == ['vcpus'] and the_plan.reboot_required


def test_exclusive_deletes_the_projects_other_servers_and_nothing_else():
    web1, rec1 = existing('web1')
    web2, rec2 = existing('web2', hypervisor='hv2', project='demo')
    mine, _rec = existing('db', project='other')
    found = survey_of([web1, web2, mine], [rec1])
    assert doomed(found.servers, ['web1'], exclusive_project='demo') == ['web2']
    the_plan = plan_fleet(CLOUD, specs({}), found, exclusive_project='demo')
    assert [(p.name, p.action) for p in the_plan.servers] == [('web1', None), ('web2', DELETE)]
    assert the_plan.diff()['before'] == {'web2': {'name': 'web2', 'hypervisor': 'hv2'}}


def test_the_networks_read_are_those_of_the_request_and_of_the_servers_it_touches():
    web1, _rec = existing('web1')
    web2, _rec = existing('web2', ports=[{'name': 'web2-eth0', 'network': 'old', 'ip': '10.1.0.5', 'mac': 'x'}])
    servers = {'web1': web1, 'web2': web2}
    asked = specs({'networks': [{'network': 'private'}, {'network': 'backend'}]})
    assert involved_networks(asked, servers, []) == ['backend', 'private']
    assert involved_networks(asked, servers, ['web2']) == ['backend', 'old', 'private']


def test_a_server_listed_twice_is_refused():
    with pytest.raises(ValidationError, match='server web1 is listed more than once'):
        plan_fleet(CLOUD, specs({}, {}), survey_of())


def test_planning_leaves_the_survey_as_it_was_read():
    found = survey_of()
    plan_fleet(CLOUD, specs({}, {'name': 'web2'}), found)
    assert found.networks['private'].records == {} and found.networks['private'].macs == set()


# -- what the reliability rules add to the plan -------------------------------------------------

def held_on(net, record, *hypervisors):
    """Mark ``record`` as reserved on ``hypervisors`` of ``net`` (what the survey reads); the
    network's other hypervisors were read and lack it."""
    for hv in net.hypervisors:
        net.held.setdefault(hv, {})
        if hv in hypervisors:
            net.held[hv][record['name']] = record


def test_a_port_record_missing_on_a_hypervisor_of_its_network_is_written_back_there():
    server, record = existing()
    found = survey_of([server], [record])
    held_on(found.networks['private'], record, 'hv1')
    the_plan = plan_fleet(CLOUD, specs({}), found)
    planned = the_plan.servers[0]
    assert planned.action == UPDATE and planned.fields() == ['port_records']
    assert planned.repaired == {'hv2': [record]}
    assert the_plan.diff() == {'before': {'web1': {'port_records': {'web1-eth0': ['hv1']}}},
                               'after': {'web1': {'port_records': {'web1-eth0': ['hv1', 'hv2']}}}}
    # Held everywhere: nothing to do.
    held_on(found.networks['private'], record, 'hv1', 'hv2')
    assert not plan_fleet(CLOUD, specs({}), found).changed


def test_a_record_held_with_another_address_counts_as_missing():
    server, record = existing()
    found = survey_of([server], [record])
    held_on(found.networks['private'], record, 'hv1', 'hv2')
    found.networks['private'].held['hv2'] = {record['name']: dict(record, ip='10.0.0.19')}
    assert plan_fleet(CLOUD, specs({}), found).servers[0].repaired == {'hv2': [record]}


def test_new_servers_are_refused_while_a_hypervisor_is_unreachable_unless_allowed():
    server, record = existing()
    found = survey_of([server], [record], hv1=host([server]))
    found.unreachable = {'hv2': 'connection refused'}
    with pytest.raises(KvmcloudError, match=r"allocating the ports of server web2 needs every hypervisor of the "
                                            r"cloud, but what hypervisor hv2 holds cannot be seen.*hv2: connection "
                                            r"refused; bring it back, or set allow_unreachable: true") as err:
        plan_fleet(CLOUD, specs({}, {'name': 'web2'}), found)
    assert err.value.details['unreachable_hypervisors'] == ['hv2: connection refused']
    allowed = plan_fleet(CLOUD, specs({}, {'name': 'web2'}), found, allow_unreachable=True)
    assert allowed.of(CREATE)[0].hypervisor == 'hv1'
    assert len(allowed.warnings) == 1 and 'allow_unreachable' in allowed.warnings[0]
    # Nothing new to allocate: an unreachable hypervisor does not stop a no-op.
    assert not plan_fleet(CLOUD, specs({}), found).changed


def catalogs(found, images=('tiny',), groups=('default',)):
    found.images = {hv: frozenset(images) for hv in found.hosts}
    found.groups = {hv: frozenset(groups) for hv in found.hosts}
    return found


def test_an_unknown_image_or_security_group_is_refused_by_the_plan():
    with pytest.raises(ValidationError, match=r"server 'web1': image nope is not registered on hypervisor hv\d"):
        plan_fleet(CLOUD, specs({'image': 'nope'}), catalogs(survey_of()))
    with pytest.raises(ValidationError, match=r"server 'web1', port web1-eth0: unknown security group web on "
                                              r"hypervisor hv1; define it"):
        plan_fleet(CLOUD, specs({'networks': [{'network': 'private', 'security_groups': ['web']}]}),
                   catalogs(survey_of()))
    # default is made when missing; a known group passes.
    assert plan_fleet(CLOUD, specs({'networks': [{'network': 'private', 'security_groups': ['web']}]}),
                      catalogs(survey_of(), groups=('web',))).changed
    # Not read (a no-op needs no catalog): not checked.
    assert plan_fleet(CLOUD, specs({'image': 'nope'}), survey_of()).changed


def test_a_volume_another_server_has_or_gets_is_refused_by_the_plan():
    db1, record = existing('db1', volumes=['data'])
    found = survey_of([db1], [record])
    with pytest.raises(ValidationError, match=r"server 'web1': volume data is attached to server db1; a volume is "
                                              r"attached to one server at a time: detach it there first"):
        plan_fleet(CLOUD, specs({'name': 'db1', 'volumes': ['data']}, {'volumes': ['data'], 'hypervisor': 'hv1'}),
                   found)
    # Moved in one run (db1 lets go, web1 takes it): still refused, whatever order the run applies.
    with pytest.raises(ValidationError, match=r"volume data is attached to server db1"):
        plan_fleet(CLOUD, specs({'name': 'db1'}, {'volumes': ['data'], 'hypervisor': 'hv1'}), found)
    with pytest.raises(ValidationError, match=r"server 'web1': volume spare is also asked for by server web2"):
        plan_fleet(CLOUD, specs({'volumes': ['spare'], 'hypervisor': 'hv2'},
                                {'name': 'web2', 'volumes': ['spare'], 'hypervisor': 'hv2'}), survey_of())
    # A volume of the same name on another hypervisor is another volume; the holder keeps its own.
    plan = plan_fleet(CLOUD, specs({'name': 'db1', 'volumes': ['data']}, {'volumes': ['data'], 'hypervisor': 'hv2'}),
                      found)
    assert [p.name for p in plan.of(CREATE)] == ['web1']
