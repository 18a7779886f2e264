# -*- coding: utf-8 -*-
"""metering/usage.py: libvirt's bulk domain stats made into each server's usage, labelled from
its domain, and the per-project totals."""

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.cloud import CloudDefinition
from ansible_collections.kvmcloud.cloud.plugins.module_utils.metering import usage

HV = CloudDefinition.from_params({'hypervisors': [{'name': 'hv1', 'uri': 'test:///default', 'zone': 'az1'}],
                                  'projects': [{'name': 'demo'}]}).hypervisors[0]

METADATA = '<metadata>%s</metadata>' % xmlutil.tostring(xmlutil.metadata_to_element('server', {
    'project': 'demo', 'image': 'tiny', 'flavor': {'name': 'm1.tiny', 'vcpus': 1, 'ram': 128, 'disk': 1},
    'ports': [{'name': 'web1-eth0', 'network': 'net1', 'mac': '02:00:00:00:00:01', 'ip': '10.0.0.5'}]}))


def description(live):
    target = "<target dev='vnet7'/>" if live else ''
    return ("<domain type='qemu'><name>web1</name><uuid>6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01</uuid>%s"
            "<memory unit='KiB'>131072</memory><vcpu>1</vcpu><devices>"
            "<disk type='file' device='disk'><source file='/pool/web1-root.qcow2'/><target dev='vda'/></disk>"
            "<interface type='network'><source network='net1'/><mac address='02:00:00:00:00:01'/>%s</interface>"
            "</devices></domain>" % (METADATA, target))


class FakeDomain:
    """What labels_of asks of a domain: its name, whether it persists, its descriptions."""

    def __init__(self, plain=False):
        self.plain = plain
        self.reads = []

    def name(self):
        return 'web1'

    def isPersistent(self):  # noqa: N802 (libvirt's name)
        return True

    def XMLDesc(self, flags):  # noqa: N802 (libvirt's name)
        self.reads.append(flags)
        text = description(live=flags == 0)
        return text.replace(METADATA, '') if self.plain else text


RUNNING_STATS = {
    'state.state': 1, 'cpu.time': 5000000000, 'balloon.current': 131072,
    'block.count': 2, 'block.0.name': 'vda', 'block.0.path': '/pool/web1-root.qcow2', 'block.0.rd.bytes': 1000,
    'block.0.wr.bytes': 200, 'block.0.capacity': 1073741824, 'block.1.name': 'vdb', 'block.1.rd.bytes': 30,
    'block.1.wr.bytes': 40, 'block.1.capacity': 2147483648,
    'net.count': 1, 'net.0.name': 'vnet7', 'net.0.rx.bytes': 7000, 'net.0.tx.bytes': 900,
}


def test_indexed_stats_become_lists():
    assert usage.indexed(RUNNING_STATS, 'net') == [{'name': 'vnet7', 'rx.bytes': 7000, 'tx.bytes': 900}]
    assert [d['name'] for d in usage.indexed(RUNNING_STATS, 'block')] == ['vda', 'vdb']
    assert not usage.indexed({'state.state': 5}, 'net')


def test_labels_come_from_the_metadata_and_taps_from_the_live_description():
    dom = FakeDomain()
    known = usage.labels_of(dom, HV, state=1)
    assert known['labels'] == {'server': 'web1', 'uuid': '6f0c4a34-8a58-4d54-9d59-3a1d2a2d1e01', 'project': 'demo',
                               'flavor': 'm1.tiny', 'image': 'tiny', 'hypervisor': 'hv1', 'zone': 'az1'}
    assert known['ports']['vnet7']['name'] == 'web1-eth0'
    assert 0 in dom.reads, 'the live description names the tap devices'


def test_a_stopped_domain_is_read_once_and_a_foreign_one_is_no_server():
    dom = FakeDomain()
    assert usage.labels_of(dom, HV, state=5)['ports'] == {}
    assert len(dom.reads) == 1
    assert usage.labels_of(FakeDomain(plain=True), HV, state=1) is None


def test_a_running_server_has_its_counters_by_port_and_disk():
    entry = usage.server_usage(usage.labels_of(FakeDomain(), HV, state=1), RUNNING_STATS)
    assert entry['name'] == 'web1' and entry['project'] == 'demo' and entry['power_state'] == 'running'
    assert entry['cpu_time_ns'] == 5000000000 and entry['memory_kib'] == 131072
    assert entry['root_size'] == 1073741824
    assert entry['disks'][0] == {'device': 'vda', 'path': '/pool/web1-root.qcow2', 'capacity': 1073741824,
                                 'read_bytes': 1000, 'write_bytes': 200}
    assert entry['interfaces'] == [{'device': 'vnet7', 'port': 'web1-eth0', 'network': 'net1',
                                    'mac': '02:00:00:00:00:01', 'rx_bytes': 7000, 'tx_bytes': 900}]


def test_a_stopped_server_keeps_its_disk_sizes_and_no_other_counter():
    stopped = {'state.state': 5, 'block.count': 1, 'block.0.name': 'vda', 'block.0.capacity': 1073741824,
               'cpu.time': 99}
    entry = usage.server_usage(usage.labels_of(FakeDomain(), HV, state=5), stopped)
    assert entry['power_state'] == 'stopped' and entry['cpu_time_ns'] == 0 and entry['interfaces'] == []
    assert entry['root_size'] == 1073741824 and entry['disks'][0]['read_bytes'] == 0
    assert entry['disks'][0]['path'] == '/pool/web1-root.qcow2', 'the path from the description when stats lack it'


def test_project_totals_count_allocation_of_running_servers_and_every_counter():
    running = usage.server_usage(usage.labels_of(FakeDomain(), HV, state=1), RUNNING_STATS)
    stopped = dict(running, name='web2', power_state='stopped', cpu_time_ns=0, memory_kib=0, disks=[], interfaces=[])
    other = dict(stopped, name='db1', project='other')
    totals = usage.project_totals([running, stopped, other], [
        {'name': 'data', 'project': 'demo', 'size': 5}, {'name': 'data2', 'project': 'demo', 'size': 7}])
    assert [t['project'] for t in totals] == ['demo', 'other']
    demo = totals[0]
    assert demo['servers'] == 2 and demo['running'] == 1 and demo['vcpus'] == 1 and demo['ram'] == 128
    assert demo['disk_read_bytes'] == 1030 and demo['disk_write_bytes'] == 240
    assert demo['rx_bytes'] == 7000 and demo['tx_bytes'] == 900
    assert demo['volumes'] == 2 and demo['volume_bytes'] == 12
    assert totals[1]['servers'] == 1 and totals[1]['running'] == 0 and totals[1]['vcpus'] == 0
