"""Concurrent runs on two namespaced test hypervisors (issue 16, item 7): the lock a run takes on
every hypervisor it writes to.

- Two ``server_fleet`` runs of the same project and servers at once: both succeed, one creates,
  the other finds them made, and nothing is made twice (one domain per server in the cloud, one
  reservation and one filter per port on every hypervisor of the network).
- A lock left by a run that is gone (written by the test, its volume's time set back) is broken
  with a warning; a fresh one held by another run makes a run that has something to do fail
  after ``lock_timeout``, naming the holder and changing nothing, while a run with nothing to do
  and a check run take no lock and pass.

The locks are written and aged from here, through libvirt and the pool's directory: no hook in
the collection.
"""

import json
import os
import threading
import time

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, module_leftovers, removing_prefixed
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-flk-'
NET = 'kvmcloud-flk-net'
IMAGE = 'kvmcloud-flk-tiny'
SUBNET = {'cidr': '10.250.71.0/24', 'allocation_pools': [{'start': '10.250.71.100', 'end': '10.250.71.150'}]}
IMAGES_POOL = 'kvmcloud-images'
LOCK_PREFIX = 'kvmcloud-lock.writers.'
LEFTOVERS = module_leftovers(PREFIX, networks=[NET])

flk_hypervisors = hypervisors_fixture(count=2, prefix='flk', scope='module', name='flk_hypervisors')


def cloud(hvs):
    return cloud_definition(hvs, [{'name': 'flk'}])


def remove_locks(hvs):
    for hv in hvs:
        with connected(hv['uri']) as conn:
            for vol in conn.storagePoolLookupByName(IMAGES_POOL).listAllVolumes(0):
                if vol.name().startswith(('kvmcloud-lock.', 'kvmcloud-clock.')):
                    vol.delete(0)


@pytest.fixture(scope='module')
def hvs(flk_hypervisors, tiny_image_file):
    """Two hypervisors with the tiny image and an isolated network on both."""
    with removing_prefixed(flk_hypervisors, PREFIX, **LEFTOVERS):
        base = {'cloud': cloud(flk_hypervisors)}
        assert not run_module('image', dict(base, name=IMAGE, filename=str(tiny_image_file)))['failed']
        network = run_module('network', dict(base, name=NET, mode='isolated', subnet=SUBNET))
        assert not network['failed'], network
        try:
            yield flk_hypervisors
        finally:
            remove_locks(flk_hypervisors)
            run_module('image', dict(base, name=IMAGE, state='absent'))


def fleet(hvs, names, **extra):
    return dict({'cloud': cloud(hvs), 'project': 'flk', 'wait': False, 'servers': [
        {'name': PREFIX + n, 'flavor': 'm1.tiny', 'image': IMAGE, 'networks': [{'network': NET}]} for n in names]},
        **extra)


def inventory(hvs):
    """Per hypervisor: the test's domains, the reservations and records of its ports in the
    network, its port filters and the lock volumes."""
    out = {}
    for hv in hvs:
        with connected(hv['uri']) as conn:
            xml = conn.networkLookupByName(NET).XMLDesc(0)
            out[hv['name']] = {
                'domains': sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)),
                'reservations': sorted(line.strip() for line in xml.splitlines()
                                       if '<host ' in line and PREFIX in line),
                'filters': sorted(f.name() for f in conn.listAllNWFilters() if PREFIX in f.name()),
                'locks': sorted(v.name() for v in conn.storagePoolLookupByName(IMAGES_POOL).listAllVolumes(0)
                                if v.name().startswith(('kvmcloud-lock.', 'kvmcloud-clock.'))),
            }
    return out


def remove_servers(hvs):
    result = run_module('server_fleet', fleet(hvs, [], exclusive=True))
    assert not result['failed'], result


def write_lock(hv, holder, age=0):
    """A lock on ``hv`` as another controller's run writes it, last written ``age`` seconds ago."""
    name = LOCK_PREFIX + '1.json'
    data = json.dumps({'kind': 'lock', 'name': 'writers', 'seq': 1, 'written_at': '2026-12-03T05:00:00Z',
                       'body': holder}).encode() + b'\n'
    with connected(hv['uri']) as conn:
        pool = conn.storagePoolLookupByName(IMAGES_POOL)
        vol = pool.createXML("<volume><name>%s</name><capacity unit='bytes'>%d</capacity>"
                             "<target><format type='raw'/></target></volume>" % (name, len(data)), 0)
        stream = conn.newStream(0)
        vol.upload(stream, 0, len(data), 0)
        stream.send(data)
        stream.finish()
        if age:
            # The hypervisor's clock is the host's here: the pool's file is set back.
            then = time.time() - age
            os.utime(vol.path(), (then, then))
    return name


HOLDER = {'host': 'other-controller', 'pid': 4242, 'since': '2026-12-03T05:00:00Z', 'token': 'flk-test-holder'}


def test_two_concurrent_fleet_runs_of_the_same_servers_create_them_once(hvs):
    names = ['a', 'b']
    results = [None, None]
    start = threading.Barrier(2)

    def run(index):
        # Both start at once, so both plan before either writes: without a lock, both create.
        start.wait()
        results[index] = run_module('server_fleet', fleet(hvs, names))

    try:
        runs = [threading.Thread(target=run, args=(index,)) for index in (0, 1)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
        for result in results:
            assert not result['failed'], result.get('msg')
        assert sorted(r['changed'] for r in results) == [False, True], results
        made = next(r for r in results if r['changed'])
        found = next(r for r in results if not r['changed'])
        assert sorted((s['name'], s['hypervisor'], s['addresses'][NET]) for s in found['servers']) == \
            sorted((s['name'], s['hypervisor'], s['addresses'][NET]) for s in made['servers'])

        seen = inventory(hvs)
        domains = sorted(d for hv in seen.values() for d in hv['domains'])
        assert domains == [PREFIX + 'a', PREFIX + 'b'], seen
        ips = {s['addresses'][NET] for s in made['servers']}
        assert len(ips) == 2, made['servers']
        for hv in seen.values():
            # One reservation and one filter per port, on every hypervisor of the network.
            assert len(hv['reservations']) == 2 and {ip for ip in ips if any(ip in r for r in hv['reservations'])} \
                == ips, seen
            assert len(hv['filters']) == 2, seen
            assert hv['locks'] == [], 'both runs released their locks: %s' % seen
        assert unchanged(run_module('server_fleet', fleet(hvs, names)))
    finally:
        remove_servers(hvs)


def test_a_stale_lock_is_broken_with_a_warning(hvs):
    write_lock(hvs[0], HOLDER, age=3600)
    try:
        result = run_module('server_fleet', fleet(hvs, ['s'], lock_stale_after=120))
        assert not result['failed'] and result['changed'], result
        warnings = ' '.join(result.get('warnings', []))
        assert 'the lock on hypervisor %s, held since 2026-12-03T05:00:00Z, from other-controller pid 4242, ' \
               'was not refreshed for' % hvs[0]['name'] in warnings, result
        assert all(hv['locks'] == [] for hv in inventory(hvs).values())
    finally:
        remove_locks(hvs)
        remove_servers(hvs)


def test_a_held_lock_fails_a_run_with_work_after_lock_timeout_and_no_op_and_check_runs_pass(hvs):
    assert not run_module('server_fleet', fleet(hvs, ['n']))['failed']
    lock = write_lock(hvs[0], HOLDER)
    try:
        before = inventory(hvs)
        # Nothing to do, or check mode: no lock is taken, nothing is written, nothing waits.
        started = time.monotonic()
        assert unchanged(run_module('server_fleet', fleet(hvs, ['n'], lock_timeout=60)))
        preview = run_module('server_fleet', fleet(hvs, ['n', 'm'], lock_timeout=60), check=True)
        assert preview['changed'] and not preview['failed'], preview
        assert time.monotonic() - started < 40
        assert inventory(hvs) == before

        started = time.monotonic()
        blocked = run_module('server_fleet', fleet(hvs, ['n', 'm'], lock_timeout=3))
        waited = time.monotonic() - started
        assert blocked['failed'] and blocked['changed'] is False, blocked
        assert blocked['msg'].startswith('another run holds the lock on %s since 2026-12-03T05:00:00Z, from '
                                         'other-controller pid 4242' % hvs[0]['name']), blocked['msg']
        assert 'raise lock_timeout' in blocked['msg']
        assert waited >= 3
        assert inventory(hvs) == before, 'a run that did not get the lock changed nothing'

        # Another writing module waits for the same lock.
        port = run_module('port', {'cloud': cloud(hvs), 'name': PREFIX + 'p', 'network': NET, 'project': 'flk',
                                   'lock_timeout': 1})
        assert port['failed'] and port['msg'].startswith('another run holds the lock on %s' % hvs[0]['name']), port
        assert inventory(hvs) == before
    finally:
        with connected(hvs[0]['uri']) as conn:
            try:
                conn.storagePoolLookupByName(IMAGES_POOL).storageVolLookupByName(lock).delete(0)
            except libvirt.libvirtError:
                pass
        remove_servers(hvs)
