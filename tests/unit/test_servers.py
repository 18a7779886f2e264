# -*- coding: utf-8 -*-
"""servers.py and the pure parts of compute.py: options validated into a server spec, the
domain XML, the server read back from a domain (libvirt's test driver), and what an existing
server's drift turns into."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils import compute, servers, xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.reconcile import CONFIG, LIVE, REBUILD, compare

CLOUD = CloudDefinition.from_params({
    'hypervisors': [{'name': 'hv1', 'uri': 'test:///default'}],
    'flavors': [{'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1}],
    'projects': [{'name': 'demo'}],
    'keypairs': [{'name': 'admin', 'public_key': 'ssh-ed25519 AAAA admin'}],
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


def test_inline_flavor():
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


def render(virt_type='qemu'):
    spec = servers.spec_from_params(CLOUD, params(networks=[{'network': 'private'}, {'network': 'backend'}]))
    return servers.domain_xml(spec, '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01', virt_type, '/pool/root.qcow2',
                              '/pool/seed.iso',
                              [{'network': 'private', 'mac': '02:00:00:00:00:01', 'filter': 'kvmcloud-port-web1-eth0'},
                               {'network': 'backend', 'mac': '02:00:00:00:00:02', 'filter': None}],
                              {'project': 'demo', 'flavor': spec['flavor'], 'ports': []})


def test_domain_xml_has_virtio_disks_seed_console_and_metadata():
    desc = xmlutil.parse(render())
    assert desc.get('type') == 'qemu' and desc.find('cpu') is None
    assert xmlutil.text(desc, 'vcpu') == '1' and xmlutil.text(desc, 'memory') == '128'
    assert desc.find('features/acpi') is not None
    disks = desc.findall('devices/disk')
    assert [(xmlutil.attr(d, 'target', 'dev'), xmlutil.attr(d, 'target', 'bus')) for d in disks] == [
        ('vda', 'virtio'), ('hdc', 'ide')]
    assert disks[1].get('device') == 'cdrom' and disks[1].find('readonly') is not None
    ifaces = desc.findall('devices/interface')
    assert [xmlutil.attr(i, 'model', 'type') for i in ifaces] == ['virtio', 'virtio']
    assert xmlutil.attr(ifaces[0], 'filterref', 'filter') == 'kvmcloud-port-web1-eth0'
    assert ifaces[1].find('filterref') is None
    assert xmlutil.attr(desc, 'devices/serial/log', 'file') == '/var/log/libvirt/qemu/web1.console.log'
    assert servers.metadata_of(desc)['project'] == 'demo'


def test_kvm_domains_get_the_host_model_cpu():
    assert xmlutil.attr(xmlutil.parse(render('kvm')), 'cpu', 'mode') == 'host-model'


def test_server_read_back_from_the_test_driver(test_conn):
    dom = test_conn.defineXML(render())
    try:
        facts = servers.server_facts(dom, 'hv1')
        assert facts['name'] == 'web1' and facts['vcpus'] == 1 and facts['ram'] == 128
        assert facts['project'] == 'demo' and facts['power_state'] == 'stopped'
        assert [i['mac'] for i in facts['interfaces']] == ['02:00:00:00:00:01', '02:00:00:00:00:02']
        assert 'web1' in servers.read_servers(test_conn, 'hv1')
        assert 'test' not in servers.read_servers(test_conn, 'hv1'), 'domains without the metadata are not servers'
    finally:
        dom.undefine()


def test_the_bulk_read_gives_what_reading_each_domain_gives(test_conn):
    """States and transience come from one call each in read_servers; the facts are the same
    as server_facts' one domain at a time, for running, paused, stopped and transient ones."""
    xml = render()
    made = []
    try:
        for name, state in (('web1', 'running'), ('web2', 'paused'), ('web3', 'stopped')):
            made.append(test_conn.defineXML(xml.replace('<name>web1</name>', '<name>%s</name>' % name)
                                            .replace('6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01',
                                                     '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e0%d' % len(made))))
            if state != 'stopped':
                made[-1].create()
            if state == 'paused':
                made[-1].suspend()
        transient = test_conn.createXML(xml.replace('<name>web1</name>', '<name>web4</name>')
                                        .replace('6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01',
                                                 '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e09'), 0)
        found = servers.read_servers(test_conn, 'hv1')
        assert {n: f['power_state'] for n, f in found.items()} == {
            'web1': 'running', 'web2': 'paused', 'web3': 'stopped', 'web4': 'running'}
        for dom in made + [transient]:
            assert found[dom.name()] == servers.server_facts(dom, 'hv1')
    finally:
        for dom in test_conn.listAllDomains():
            if dom.name().startswith('web'):
                if dom.isActive():
                    dom.destroy()
                if dom.name() != 'web4':
                    dom.undefine()


def test_drift_of_an_existing_server_splits_into_config_live_and_rebuild_changes():
    spec = servers.spec_from_params(CLOUD, params(flavor=None, vcpus=2, ram=256, disk=1, tags=['x']))
    server = {'project': 'demo', 'flavor': {'name': 'm1.tiny'}, 'vcpus': 1, 'ram': 128, 'image': 'other',
              'ports': [{'name': 'web1-eth0', 'network': 'private'}], 'volumes': [], 'key_name': None,
              'seed_hash': 'old', 'tags': [], 'meta': {}, 'server_group': None, 'power_state': 'running'}
    changes = {c.field: c for c in compare(compute.current_of(server, 1), compute.desired_of(spec, 'new'),
                                           set_fields=compute.SET_FIELDS, modes=compute.MODES)}
    assert changes['vcpus'].mode == CONFIG and changes['ram'].mode == CONFIG and changes['seed_hash'].mode == CONFIG
    assert changes['image'].mode == REBUILD and changes['tags'].mode == LIVE
    assert (changes['vcpus'].before, changes['vcpus'].after) == (1, 2)
    assert 'networks' not in changes and 'disk' not in changes and 'power_state' not in changes


class _Conn:
    """A stand-in connection that records which thread used it and whether it was closed."""

    def __init__(self, uri):
        self.uri, self.threads, self.closed = uri, set(), False

    def close(self):
        self.closed = True


def _parallel_engine():
    from ansible_collections.kvmcloud.cloud.plugins.module_utils.connection import Connections
    opened = []

    def opener(uri):
        opened.append(_Conn(uri))
        return opened[-1]

    engine = compute.Engine.__new__(compute.Engine)
    engine.cm = type('CM', (), {'connections': Connections(CLOUD.hypervisors, opener=opener)})()
    return engine, CLOUD.hypervisors[0], opened


def test_parallel_creation_gives_each_thread_a_connection_of_its_own():
    import threading
    import time
    engine, hv, opened = _parallel_engine()
    done = []

    def create(_hv, conn, planned):
        conn.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        done.append(planned)

    engine._create_parallel(hv, list(range(12)), create)
    assert sorted(done) == list(range(12))
    assert 1 < len(opened) <= compute.CREATE_THREADS
    assert all(len(conn.threads) == 1 for conn in opened)
    assert len({name for conn in opened for name in conn.threads}) == len(opened)
    engine.cm.connections.close()
    assert all(conn.closed for conn in opened)


def test_parallel_creation_starts_nothing_after_a_failure_and_raises_the_first_error():
    import time
    engine, hv, _opened = _parallel_engine()
    started = []

    def create(_hv, _conn, planned):
        started.append(planned)
        time.sleep(0.05)
        if planned == 1:
            raise ValidationError('server %d: no room' % planned)

    with pytest.raises(ValidationError, match='server 1: no room'):
        engine._create_parallel(hv, list(range(40)), create)
    # The ones under way when server 1 failed finished; none started afterwards.
    assert len(started) <= 2 * compute.CREATE_THREADS
