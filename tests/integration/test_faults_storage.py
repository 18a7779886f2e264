"""Storage against bad requests and faults, on two namespaced test hypervisors of this file's
own: a volume attached to two servers, a pool in use deleted, quotas and pool capacity,
a volume moved to another project, bad pool and attachment input, a full volumes pool, and a
server deleted while one of its volumes is being detached.

Every refusal is checked to change nothing (pools, volumes and domains as they were), in
check mode too. No guest boots: a server here is a domain without an operating system, which
takes disks but never releases one on a live detach.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_run import BIN, ROOT, ansible_env, run_module, unchanged
from cloud_fixture import cloud_definition, connected, removing_prefixed
from testhv import IMAGES_POOL, VOLUMES_POOL, destroy_and_undefine, namespace_command
from testhv_fixture import hypervisors_fixture

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-fst-'
MIB = 1024 ** 2
GIB = 1024 ** 3
UNREACHABLE = {'name': 'fst-gone', 'uri': 'qemu+unix:///system?socket=/nonexistent/kvmcloud-fst-gone.sock'}

fst_hypervisors = hypervisors_fixture(count=2, prefix='fst', scope='module', name='fst_hypervisors')


@pytest.fixture
def hvs(fst_hypervisors):
    with removing_prefixed(fst_hypervisors, PREFIX, volumes=('volume-' + PREFIX, 'server-' + PREFIX)):
        yield fst_hypervisors


def run_tasks(*calls):
    """Several module runs in one play, so that ansible starts once for all of them (it costs
    seconds each time): ``(module, args)`` or ``(module, args, check)``; their registered
    results, in order, as :func:`ansible_run.run_module` gives one."""
    with tempfile.TemporaryDirectory(prefix=PREFIX + 'run-') as tmp:
        out = os.path.join(tmp, 'results.json')
        tasks = [{'name': 'call %d' % index, 'kvmcloud.cloud.' + call[0]: call[1], 'register': 'r%d' % index,
                  'ignore_errors': True, 'check_mode': bool(call[2]) if len(call) > 2 else False}
                 for index, call in enumerate(calls)]
        tasks.append({'name': 'keep the results', 'check_mode': False, 'ansible.builtin.copy': {
            'content': '{{ [%s] | to_json }}' % ', '.join('r%d' % index for index in range(len(calls))),
            'dest': out, 'mode': '0600'}})
        playbook = os.path.join(tmp, 'play.yml')
        with open(playbook, 'w') as handle:
            json.dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], handle)
        proc = subprocess.run([str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                               '-e', 'ansible_python_interpreter=%s' % sys.executable, playbook],
                              capture_output=True, text=True, check=False, cwd=ROOT, env=ansible_env())
        if not os.path.exists(out):
            raise RuntimeError('ansible-playbook failed (rc %s):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
        with open(out) as handle:
            results = json.load(handle)
    for result in results:
        result.setdefault('failed', False)
    return results


def cloud(hvs, projects=(), **kwargs):
    return cloud_definition(hvs, [{'name': 'demo'}, {'name': 'other'}] + list(projects), **kwargs)


def pool_definition(pool):
    """A pool's description without its allocation and free space: a directory pool's are the
    filesystem's, which anything written on the host changes."""
    desc = ET.fromstring(pool.XMLDesc(0))
    for node in desc.findall('allocation') + desc.findall('available'):
        desc.remove(node)
    return ET.tostring(desc, encoding='unicode')


def snapshot(hvs):
    """Every pool (definition, volumes and their sizes) and every domain (live and persistent
    descriptions) of each hypervisor: what a refusal must leave as it was."""
    state = {}
    for hv in hvs:
        with connected(hv['uri']) as conn:
            pools = {}
            for pool in conn.listAllStoragePools():
                vols = sorted((v.name(), v.info()[1]) for v in pool.listAllVolumes()) if pool.isActive() else None
                pools[pool.name()] = (pool_definition(pool), vols)
            domains = {dom.name(): (dom.XMLDesc(0), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                       for dom in conn.listAllDomains()}
            state[hv['name']] = (pools, domains)
    return state


def pool_volume_names(hv, pool=VOLUMES_POOL):
    with connected(hv['uri']) as conn:
        found = conn.storagePoolLookupByName(pool)
        found.refresh(0)
        return sorted(v.name() for v in found.listAllVolumes())


def define_server(hv, name, running):
    """A diskless domain; it needs no operating system to take a disk."""
    with connected(hv['uri']) as conn:
        dom = conn.defineXML(
            "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
            "<devices><memballoon model='none'/></devices></domain>" % name)
        if running:
            dom.create()


def domain_xml(hv, name, inactive=False):
    with connected(hv['uri']) as conn:
        return conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)


def ok(result):
    assert not result['failed'], result
    return result


def crashed(result):
    """Whether the module ended in a traceback instead of its own error."""
    return 'module_stderr' in result or 'MODULE FAILURE' in result.get('msg', '')


def refused(result, *phrases):
    assert result['failed'] and result.get('changed') is not True and not crashed(result), result
    for phrase in phrases:
        assert phrase in result['msg'], result['msg']
    return result


def volume_args(hvs, name, size='16M', **extra):
    return dict({'cloud': cloud(hvs[:1]), 'name': PREFIX + name, 'size': size}, **extra)


# -- item 1: one server at a time ----------------------------------------------------------------

def test_a_volume_attached_to_a_server_is_refused_to_another(hvs):
    hv = hvs[0]
    first, second, stopped = PREFIX + 'first', PREFIX + 'second', PREFIX + 'stopped'
    define_server(hv, first, running=True)
    define_server(hv, second, running=True)
    define_server(hv, stopped, running=False)
    args = {'cloud': cloud([hv])}
    for result in run_tasks(('volume', volume_args(hvs, 'shared')), ('volume', volume_args(hvs, 'cold')),
                            ('server_volume', dict(args, server=first, volume=PREFIX + 'shared')),
                            # a stopped server: its persistent config only
                            ('server_volume', dict(args, server=stopped, volume=PREFIX + 'cold'))):
        ok(result)

    before = snapshot([hv])
    cases = [(volume, holder, check) for volume, holder in (('shared', first), ('cold', stopped))
             for check in (True, False)]
    results = run_tasks(*[('server_volume', dict(args, server=second, volume=PREFIX + volume), check)
                          for volume, _holder, check in cases],
                        ('server_volume', dict(args, server=first, volume=PREFIX + 'shared')))
    for (volume, holder, _check), result in zip(cases, results):
        refused(result, 'volume %s%s is attached to server %s (as vdb)' % (PREFIX, volume, holder),
                'detach it from there first')
    # Attaching again to the server that has it stays a no-op.
    assert unchanged(results[-1]), results[-1]
    assert snapshot([hv]) == before


def test_a_new_server_is_not_given_a_volume_another_server_has(hvs, tiny_image_file):
    """server and server_fleet attach a server's ``volumes`` as server_volume does: a volume
    a server of the cloud has is refused in the plan (check mode says so), one a domain defined
    outside kvmcloud has is refused before the domain is defined, and nothing is left."""
    hv = hvs[0]
    image, holder, outside = PREFIX + 'img', PREFIX + 'holder', PREFIX + 'outside'
    args = {'cloud': cloud([hv]), 'project': 'demo', 'flavor': 'm1.tiny', 'image': image, 'power_state': 'stopped'}
    define_server(hv, outside, running=True)
    try:
        for result in run_tasks(('image', {'cloud': cloud([hv]), 'name': image, 'filename': str(tiny_image_file)}),
                                ('volume', volume_args(hvs, 'held')), ('volume', volume_args(hvs, 'taken')),
                                ('server', dict(args, name=holder, volumes=[PREFIX + 'held'])),
                                ('server_volume', {'cloud': cloud([hv]), 'server': outside,
                                                   'volume': PREFIX + 'taken'})):
            ok(result)
        before = snapshot([hv])
        fleet = {'cloud': cloud([hv]), 'project': 'demo', 'servers': [
            {'name': PREFIX + name, 'flavor': 'm1.tiny', 'image': image, 'power_state': 'stopped',
             'volumes': [PREFIX + 'spare']} for name in ('f1', 'f2')]}
        results = run_tasks(*[('server', dict(args, name=PREFIX + 'second', volumes=[PREFIX + 'held']), check)
                              for check in (True, False)],
                            ('server', dict(args, name=PREFIX + 'third', volumes=[PREFIX + 'taken'])),
                            ('server_fleet', fleet, True))
        for result in results[:2]:
            refused(result, "server '%ssecond': volume %sheld is attached to server %s" % (PREFIX, PREFIX, holder),
                    'detach it there first')
        refused(results[2], 'volume %staken is attached to domain %s of hypervisor %s' % (PREFIX, outside, hv['name']),
                'detach it there first')
        refused(results[3], "volume %sspare is also asked for by server %sf2" % (PREFIX, PREFIX))
        assert snapshot([hv]) == before
    finally:
        # (second and third too, should a regression have made them)
        for result in run_tasks(*[('server', dict(args, name=name, state='absent'))
                                  for name in (holder, PREFIX + 'second', PREFIX + 'third')],
                                ('image', {'cloud': cloud([hv]), 'name': image, 'state': 'absent'})):
            ok(result)


# -- item 2: a pool in use, or holding the cloud's volumes, is not deleted ----------------------

def test_a_pool_in_use_or_holding_the_clouds_volumes_is_not_deleted(hvs):
    used_on, kept_on = hvs
    server = PREFIX + 'pooluser'
    define_server(used_on, server, running=False)
    for result in run_tasks(('volume', volume_args([kept_on], 'kept')), ('volume', volume_args([used_on], 'used')),
                            ('server_volume', {'cloud': cloud([used_on]), 'server': server, 'volume': PREFIX + 'used'})):
        ok(result)

    before = snapshot(hvs)
    in_use = {'cloud': cloud([used_on]), 'state': 'absent', 'name': VOLUMES_POOL}
    held = {'cloud': cloud([kept_on]), 'state': 'absent'}
    results = run_tasks(*[('storage_pool', dict(in_use, delete_volumes=delete_volumes), check)
                          for check, delete_volumes in ((True, False), (False, False), (False, True))],
                        ('storage_pool', dict(held, name=VOLUMES_POOL), True),
                        ('storage_pool', dict(held, name=VOLUMES_POOL)),
                        ('storage_pool', dict(held, name=IMAGES_POOL), True),
                        ('storage_pool', dict(held, name=IMAGES_POOL)),
                        ('volume_info', {'cloud': cloud(hvs)}))
    for result in results[:3]:
        refused(result, 'storage pool %s on hypervisor %s is in use' % (VOLUMES_POOL, used_on['name']),
                '(check mode too)', 'volume-%sused.qcow2 (server %s as vdb)' % (PREFIX, server))
    for result in results[3:5]:
        refused(result, 'storage pool %s on hypervisor %s holds volumes of the cloud' % (VOLUMES_POOL, kept_on['name']),
                '(check mode too)', 'volume-%skept.json (record of a volume)' % PREFIX,
                'volume-%skept.qcow2 (data volume)' % PREFIX, 'delete_volumes: true')
    for result in results[5:7]:
        refused(result, 'kvmcloud-hypervisor.json (hypervisor record)')
    assert {PREFIX + 'kept', PREFIX + 'used'} <= {v['name'] for v in ok(results[7])['volumes']}
    assert snapshot(hvs) == before


def test_delete_volumes_deletes_a_pool_and_its_volumes_deliberately(hvs):
    hv = hvs[0]
    name, path = PREFIX + 'scratch', hv['dir'] + '/pools/' + PREFIX + 'scratch'
    args = {'cloud': cloud([hv]), 'name': name}
    try:
        ok(run_tasks(('storage_pool', dict(args, path=path)))[0])
        with connected(hv['uri']) as conn:
            pool = conn.storagePoolLookupByName(name)
            for vol in ('volume-%sx.json' % PREFIX, 'junk.raw'):
                pool.createXML("<volume><name>%s</name><capacity unit='bytes'>4096</capacity>"
                               "<target><format type='raw'/></target></volume>" % vol, 0)
        before = snapshot([hv])
        refused(run_tasks(('storage_pool', dict(args, state='absent')))[0],
                'volume-%sx.json (record of a volume)' % PREFIX, 'delete_volumes')
        assert snapshot([hv]) == before

        gone, again = run_tasks(('storage_pool', dict(args, state='absent', delete_volumes=True)),
                                ('storage_pool', dict(args, state='absent', delete_volumes=True)))
        assert ok(gone)['changed'] is True and unchanged(again)
        with connected(hv['uri']) as conn:
            assert name not in [p.name() for p in conn.listAllStoragePools()]
        assert not os.path.exists(path), 'the pool directory and its volumes are deleted with delete_volumes'
    finally:
        with connected(hv['uri']) as conn:
            for pool in conn.listAllStoragePools():
                if pool.name() == name:
                    destroy_and_undefine(pool)


# -- item 3: quotas over every hypervisor, and the pool's capacity -------------------------------

def test_volume_quotas_count_every_hypervisor_and_refuse_before_anything_is_written(hvs):
    project = {'name': 'fst-quota', 'quotas': {'volumes': 2, 'gigabytes': 3}}
    args = {'cloud': cloud(hvs, [project]), 'project': 'fst-quota'}
    on0, on1 = {'hypervisor': hvs[0]['name']}, {'hypervisor': hvs[1]['name']}
    for result in run_tasks(('volume', dict(args, name=PREFIX + 'q1', size='512M', **on0)),
                            ('volume', dict(args, name=PREFIX + 'q2', size='512M', **on1))):
        ok(result)

    before = snapshot(hvs)
    *bigger, more = run_tasks(
        # q1 is on hv0 and q2 on hv1: both count (1 GiB each, rounded up).
        ('volume', dict(args, name=PREFIX + 'q1', size='2560M'), True),
        ('volume', dict(args, name=PREFIX + 'q1', size='2560M')),
        ('volume', dict(args, name=PREFIX + 'q3', size='16M', **on0)))
    for result in bigger:
        refused(result, "volume %sq1: quota exceeded for project 'fst-quota': gigabytes limit 3, in use 2, "
                        "requested 2" % PREFIX)
    refused(more, "volume %sq3: quota exceeded for project 'fst-quota': volumes limit 2, in use 2, requested 1"
            % PREFIX)
    assert snapshot(hvs) == before

    with_gone = dict(args, cloud=cloud(hvs, [project], extra_hypervisors=[UNREACHABLE]))
    grown, unseen = run_tasks(('volume', dict(args, name=PREFIX + 'q1', size='1G')),
                              # What an unreachable hypervisor holds cannot be counted.
                              ('volume', dict(with_gone, name=PREFIX + 'q2', size='1025M')))
    # Growing within the GiB already counted needs no more quota.
    assert ok(grown)['changed'] is True
    refused(unseen, "volume %sq2: the quotas of project 'fst-quota' cannot be checked while a hypervisor of the "
                    "cloud is unreachable" % PREFIX, 'hypervisor fst-gone (%s) is unreachable' % UNREACHABLE['uri'])
    assert snapshot(hvs[1:]) == {hvs[1]['name']: before[hvs[1]['name']]}, 'q2 (on hv1) is as it was'


def test_a_volume_larger_than_the_pool_allows_is_refused(hvs):
    before = snapshot(hvs[:1])
    # The hypervisor's disk allocation ratio is the one placement uses for servers' disks.
    small = cloud(hvs[:1], hypervisor_options={hvs[0]['name']: {'disk_allocation_ratio': 1e-9}})
    results = run_tasks(('volume', volume_args(hvs, 'huge', '100T'), True), ('volume', volume_args(hvs, 'huge', '100T')),
                        ('volume', dict(volume_args(hvs, 'small', '64M'), cloud=small)))
    too_much = 'the pool %s on hypervisor %s cannot take %d more bytes' % (VOLUMES_POOL, hvs[0]['name'], 100 * 1024 * GIB)
    for result in results[:2]:
        refused(result, too_much, 'disk_allocation_ratio 1.0')
    refused(results[2], 'disk_allocation_ratio 1e-09')
    assert snapshot(hvs[:1]) == before


# -- item 4: a volume stays in its project -------------------------------------------------------

def test_a_volume_is_not_moved_to_another_project(hvs):
    for result in run_tasks(('volume', volume_args(hvs, 'owned', project='demo')),
                            ('volume', volume_args(hvs, 'unowned'))):
        ok(result)
    before = snapshot(hvs[:1])
    moved = {'cloud': cloud(hvs[:1]), 'name': PREFIX + 'owned', 'project': 'other'}
    *moves, listed = run_tasks(('volume', moved, True), ('volume', moved),
                               ('volume_info', {'cloud': cloud(hvs[:1]), 'name': PREFIX + 'owned'}))
    for result in moves:
        refused(result, "volume '%sowned': changing project needs the volume to be recreated; delete and create it "
                        "again" % PREFIX)
    assert snapshot(hvs[:1]) == before
    assert [v['project'] for v in ok(listed)['volumes']] == ['demo']
    # A volume of no project may be given to one, within its quota.
    claimed = ok(run_tasks(('volume', {'cloud': cloud(hvs[:1]), 'name': PREFIX + 'unowned', 'project': 'demo'}))[0])
    assert claimed['changed'] is True and claimed['volume']['project'] == 'demo'


# -- item 8: bad pool, device and size input -----------------------------------------------------

def test_bad_pool_input_is_refused_and_nothing_is_made(hvs):
    hv = hvs[0]
    args = {'cloud': cloud([hv]), 'name': PREFIX + 'bad'}
    path = hv['dir'] + '/pools/' + PREFIX + 'bad'
    before = snapshot([hv])
    results = run_tasks(*[(('storage_pool', dict(args, **extra), check)) for check in (True, False)
                          for extra in ({'path': PREFIX + 'relative'}, {'path': path, 'owner': -5},
                                        {'path': path, 'group': -1})])
    for index in (0, 3):
        refused(results[index], 'path must be absolute', "'%srelative'" % PREFIX)
        refused(results[index + 1], 'owner must be a numeric user id, 0 or more, got -5')
        refused(results[index + 2], 'group must be a numeric group id')
    assert snapshot([hv]) == before
    assert not os.path.exists('/' + PREFIX + 'relative')
    assert not os.path.exists(path)


def test_bad_devices_are_refused_without_a_raw_libvirt_error(hvs):
    hv = hvs[0]
    server = PREFIX + 'devs'
    define_server(hv, server, running=True)
    args = {'cloud': cloud([hv]), 'server': server}
    made = run_tasks(('volume', volume_args(hvs, 'dev1')), ('volume', volume_args(hvs, 'dev2')),
                     ('server_volume', dict(args, volume=PREFIX + 'dev1', device='vdb')))
    for result in made:
        ok(result)
    before = snapshot([hv])
    results = run_tasks(*[('server_volume', dict(args, volume=PREFIX + 'dev2', device=device), check)
                          for check in (True, False) for device in ('sdz', 'vdb')])
    for index in (0, 2):
        refused(results[index], "device 'sdz' is not a virtio disk name", 'vd[a-z]+')
        refused(results[index + 1], 'device vdb of server %s is taken by another disk, %s'
                % (server, made[0]['volume']['path']))
    assert snapshot([hv]) == before


def test_a_volume_smaller_than_its_image_is_refused(hvs, tmp_path):
    hv = hvs[0]
    image = PREFIX + 'img'
    source = str(tmp_path / 'img.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', source, '64M'], check=True)
    args = {'cloud': cloud([hv]), 'name': PREFIX + 'tiny', 'image': image}
    try:
        ok(run_tasks(('image', {'cloud': cloud([hv]), 'name': image, 'filename': source}))[0])
        before = snapshot([hv])
        for result in run_tasks(*[('volume', dict(args, size='32M'), check) for check in (True, False)]):
            refused(result, 'size %d bytes is smaller than the virtual size of image %s, %d bytes'
                    % (32 * MIB, image, 64 * MIB))
        assert snapshot([hv]) == before
        assert ok(run_tasks(('volume', args))[0])['volume']['size'] == 64 * MIB
    finally:
        for result in run_tasks(('volume', dict(args, state='absent')),
                                ('image', {'cloud': cloud([hv]), 'name': image, 'state': 'absent'})):
            ok(result)


# -- faults: a full volumes pool -----------------------------------------------------------------

def in_namespace(hv, *argv, check=True):
    return subprocess.run(namespace_command(hv) + list(argv), capture_output=True, text=True, check=check)


def refresh_pool(hv):
    with connected(hv['uri']) as conn:
        pool = conn.storagePoolLookupByName(VOLUMES_POOL)
        pool.refresh(0)
        return pool.info()[3]


def qcow2_footprint(hv, size):
    """What a new qcow2 volume of ``size`` takes of the pool's file system."""
    with connected(hv['uri']) as conn:
        pool = conn.storagePoolLookupByName(VOLUMES_POOL)
        vol = pool.createXML("<volume><name>%sprobe.qcow2</name><capacity unit='bytes'>%d</capacity>"
                             "<target><format type='qcow2'/></target></volume>" % (PREFIX, size), 0)
        pool.refresh(0)
        taken = vol.info()[2]
        vol.delete(0)
        return taken


def test_a_full_volumes_pool_fails_clearly_and_keeps_nothing(hvs):
    hv = hvs[1]
    path = hv['dir'] + '/pools/volumes'
    # The capacity check passes: what fails is the file system itself.
    defined = cloud([hv], hypervisor_options={hv['name']: {'disk_allocation_ratio': 1000.0}})
    args = {'cloud': defined, 'name': PREFIX + 'full', 'size': '64M', 'project': 'demo'}
    in_namespace(hv, 'mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path)
    try:
        refresh_pool(hv)
        footprint = qcow2_footprint(hv, 64 * MIB)
        # Room for the volume but not for its record: the volume is made, then taken back.
        in_namespace(hv, 'dd', 'if=/dev/zero', 'of=%s/fill' % path, 'bs=4096',
                     'count=%d' % ((4 * MIB - footprint) // 4096), 'status=none')
        assert refresh_pool(hv) == footprint
        failed = refused(run_tasks(('volume', args))[0], 'volume-%sfull.json' % PREFIX, 'No space left on device',
                         'is full', 'nothing of the volume was kept')
        assert not [n for n in pool_volume_names(hv) if n.startswith('volume-' + PREFIX)], failed
        # No room at all: the volume itself cannot be made.
        in_namespace(hv, 'dd', 'if=/dev/zero', 'of=%s/fill2' % path, 'bs=4096', 'status=none', check=False)
        assert refresh_pool(hv) == 0
        refused(run_tasks(('volume', args))[0], 'volume-%sfull.qcow2' % PREFIX, 'No space left on device', 'is full')
        assert not [n for n in pool_volume_names(hv) if n.startswith('volume-' + PREFIX)]
    finally:
        in_namespace(hv, 'umount', path, check=False)
        refresh_pool(hv)
    # With room again, the same run converges.
    made, again = run_tasks(('volume', args), ('volume', args))
    assert ok(made)['changed'] is True and made['volume']['project'] == 'demo'
    assert unchanged(again), again


# -- faults: a server deleted while its volume is being detached ---------------------------------

def test_a_server_deleted_during_a_detach_ends_clearly_and_a_rerun_converges(hvs):
    hv = hvs[0]
    server = PREFIX + 'doomed'
    define_server(hv, server, running=True)
    args = {'cloud': cloud([hv]), 'server': server, 'volume': PREFIX + 'survivor'}
    made = run_tasks(('volume', volume_args(hvs, 'survivor', project='demo')), ('server_volume', args))
    vol = ok(made[0])['volume']
    ok(made[1])
    outcome = {}
    detach = threading.Thread(target=lambda: outcome.update(
        run_module('server_volume', dict(args, state='absent', wait_timeout=120))))
    detach.start()
    try:
        # A guest without an operating system never releases the disk: once the persistent
        # config has lost it, the module is waiting for the live detach. Then the server goes.
        deadline = time.monotonic() + 60
        while vol['path'] in domain_xml(hv, server, inactive=True):
            assert time.monotonic() < deadline, 'the detach never reached the persistent config'
            time.sleep(0.2)
        assert vol['path'] in domain_xml(hv, server)
        with connected(hv['uri']) as conn:
            destroy_and_undefine(conn.lookupByName(server))
    finally:
        detach.join(180)
    assert outcome['failed'] and not crashed(outcome), outcome
    assert 'server %s was deleted on hypervisor %s' % (server, hv['name']) in outcome['msg']
    assert 'the volume and its record are kept' in outcome['msg']
    info, again = run_tasks(('volume_info', {'cloud': cloud([hv]), 'name': PREFIX + 'survivor'}),
                            ('server_volume', dict(args, state='absent')))
    [listed] = ok(info)['volumes']
    assert listed['project'] == 'demo' and listed['attachments'] == [] and listed['size'] == 16 * MIB
    assert {'volume-%ssurvivor.qcow2' % PREFIX, 'volume-%ssurvivor.json' % PREFIX} <= set(pool_volume_names(hv))
    assert unchanged(again), again
