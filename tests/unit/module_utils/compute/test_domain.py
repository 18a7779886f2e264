# -*- coding: utf-8 -*-
"""compute/domain.py: the domain XML of a server, and the server read back from its domain
(libvirt's test driver), one domain at a time and in bulk."""

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import domain as servers
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import spec_from_params
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition

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


def render(virt_type='qemu'):
    spec = spec_from_params(CLOUD, params(networks=[{'network': 'private'}, {'network': 'backend'}]))
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


def test_server_read_back_from_the_test_driver(test_conn, hv1):
    test_conn.defineXML(render())
    dom = hv1.domain('web1')
    try:
        facts = servers.server_facts(dom, 'hv1')
        assert facts['name'] == 'web1' and facts['vcpus'] == 1 and facts['ram'] == 128
        assert facts['project'] == 'demo' and facts['power_state'] == 'stopped'
        assert [i['mac'] for i in facts['interfaces']] == ['02:00:00:00:00:01', '02:00:00:00:00:02']
        assert 'web1' in servers.read_servers(hv1)
        assert 'test' not in servers.read_servers(hv1), 'domains without the metadata are not servers'
    finally:
        dom.undefine()


def test_the_bulk_read_gives_what_reading_each_domain_gives(test_conn, hv1):
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
        found = servers.read_servers(hv1)
        assert {n: f['power_state'] for n, f in found.items()} == {
            'web1': 'running', 'web2': 'paused', 'web3': 'stopped', 'web4': 'running'}
        for dom in made + [transient]:
            one = servers.server_facts(hv1.domain(dom.name()), 'hv1')
            assert found[dom.name()] == one
    finally:
        for dom in test_conn.listAllDomains():
            if dom.name().startswith('web'):
                if dom.isActive():
                    dom.destroy()
                if dom.name() != 'web4':
                    dom.undefine()


def test_the_bulk_read_gives_usage_when_asked_and_reads_it_of_running_servers_only(test_conn, hv1, monkeypatch):
    xml = render()
    made = [test_conn.defineXML(xml)]
    made.append(test_conn.defineXML(xml.replace('<name>web1</name>', '<name>web2</name>').replace(
        '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01', '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e02')))
    made[0].create()
    try:
        assert 'usage' not in servers.read_servers(hv1)['web1']
        found = servers.read_servers(hv1, usage=True)
        assert found['web1']['usage']['cpu_time_ns'] > 0 and found['web1']['usage']['memory_kib'] == 128 * 1024
        assert found['web2']['usage'] == {'cpu_time_ns': 0, 'memory_kib': 0}
    finally:
        made[0].destroy()
        for dom in made:
            dom.undefine()


def test_host_keys_are_kept_in_their_own_metadata_element_beside_the_server_s(test_conn, hv1):
    test_conn.defineXML(render())
    dom = hv1.domain('web1')
    try:
        assert servers.server_facts(dom, 'hv1')['host_keys'] == []
        keys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB']
        servers.record_host_keys(dom, keys)
        facts = servers.server_facts(dom, 'hv1')
        assert facts['host_keys'] == keys
        # The server's own metadata is untouched, and recording again replaces the keys.
        assert facts['project'] == 'demo' and facts['flavor']['name'] == 'm1.tiny'
        servers.record_host_keys(dom, keys[:1])
        assert servers.server_facts(dom, 'hv1')['host_keys'] == keys[:1]
        assert servers.read_servers(hv1)['web1']['host_keys'] == keys[:1]
    finally:
        dom.undefine()
