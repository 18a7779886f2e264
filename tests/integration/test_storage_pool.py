"""storage_pool against a namespaced test hypervisor: check -> apply -> check -> apply, and
changes that are refused leave libvirt as it was."""

import os

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected

pytestmark = pytest.mark.integration

POOL = 'kvmcloud-test-pool'


@pytest.fixture
def hv(test_hypervisors):
    hv = test_hypervisors[0]
    yield hv
    with connected(hv['uri']) as conn:
        try:
            pool = conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError:
            return
        if pool.isActive():
            pool.destroy()
        pool.undefine()


def pool_state(uri):
    with connected(uri) as conn:
        try:
            pool = conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError:
            return None
        return {'active': bool(pool.isActive()), 'autostart': bool(pool.autostart()), 'xml': pool.XMLDesc(0)}


def args_for(hv, **extra):
    args = {'cloud': cloud_definition([hv], []), 'name': POOL, 'path': '%s/pools/test' % hv['dir'], 'mode': '0750'}
    args.update(extra)
    return args


def test_check_mode_creates_nothing_apply_creates_the_pool_and_reruns_change_nothing(hv):
    args = args_for(hv)
    first = run_module('storage_pool', args, check=True, diff=True)
    assert first['changed'] is True and not first['failed']
    assert pool_state(hv['uri']) is None, 'check mode must not create the pool'

    second = run_module('storage_pool', args, diff=True)
    assert second['changed'] is True and not second['failed'], second
    state = pool_state(hv['uri'])
    assert state['active'] and state['autostart']
    assert '<mode>0750</mode>' in state['xml']
    assert second['pools'][0]['path'] == args['path']

    third = run_module('storage_pool', args, check=True)
    assert unchanged(third)
    fourth = run_module('storage_pool', args)
    assert unchanged(fourth)


def test_live_change_reports_exactly_what_changes(hv):
    run_module('storage_pool', args_for(hv))
    predicted = run_module('storage_pool', args_for(hv, autostart=False), check=True, diff=True)
    assert predicted['changed'] is True
    assert predicted['diff'] == {'before': {hv['name']: {'autostart': True}},
                                 'after': {hv['name']: {'autostart': False}}}
    assert pool_state(hv['uri'])['autostart'] is True

    applied = run_module('storage_pool', args_for(hv, autostart=False), diff=True)
    assert applied['diff'] == predicted['diff']
    assert pool_state(hv['uri'])['autostart'] is False
    assert unchanged(run_module('storage_pool', args_for(hv, autostart=False)))


def test_path_change_is_refused_without_recreate(hv):
    run_module('storage_pool', args_for(hv))
    before = pool_state(hv['uri'])
    moved = args_for(hv, path='%s/pools/elsewhere' % hv['dir'])
    refused = run_module('storage_pool', moved)
    assert refused['failed']
    assert 'path' in refused['msg'] and 'recreate: true' in refused['msg']
    assert pool_state(hv['uri']) == before

    moved['recreate'] = True
    assert run_module('storage_pool', moved)['changed'] is True
    assert '/pools/elsewhere' in pool_state(hv['uri'])['xml']


def test_absent_removes_the_pool_and_keeps_its_directory(hv):
    args = args_for(hv)
    run_module('storage_pool', args)
    gone = run_module('storage_pool', dict(args, state='absent'), diff=True)
    assert gone['changed'] is True
    assert gone['pools'] == [{'hypervisor': hv['name']}]
    assert gone['diff']['after'] == {hv['name']: {}}
    assert pool_state(hv['uri']) is None
    assert os.path.isdir(args['path'])
    assert unchanged(run_module('storage_pool', dict(args, state='absent')))
