"""security_group on two namespaced test hypervisors: check -> apply -> check -> apply, rules
replaced declaratively and live, refusals that leave libvirt as it was, and the filters' effect
on real traffic.

The traffic test boots no guest: inside the first test hypervisor's namespaces it makes a bridge
and three network namespaces joined to it by veth pairs, and has libvirt bind a port filter to
each veth (``nwfilterBindingCreateXML``, what libvirt does for a guest's interface). Traffic goes
only between those namespaces.
"""

import signal
import sys
import subprocess
import time
import uuid as uuidlib

import libvirt
import pytest

from ansible_run import run_module, unchanged
from cloud_fixture import cloud_definition, connected, handle
from testhv import namespace_command

from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import filters as nwfilters  # noqa: E402
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import filterxml  # noqa: E402
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network import rules as sg_rules  # noqa: E402

pytestmark = pytest.mark.integration

PREFIX = 'sgt-'
WEB = PREFIX + 'web'
BASTION = PREFIX + 'bastion'


def _filters(uri):
    with connected(uri) as conn:
        return {f.name(): f.XMLDesc(0) for f in conn.listAllNWFilters()}


def _remove_filters(uri, names):
    """Undefine ``names``: port filters, then groups, then the anti-spoofing set from the top."""
    base = [name for name, _xml in filterxml.base_filters()]

    def order(name):
        if name in base:
            return 2 + len(base) - base.index(name)
        return 1 if name.startswith(sg_rules.GROUP_PREFIX) else 0

    with connected(uri) as conn:
        for binding in conn.listAllNWFilterBindings():
            if binding.portDev().startswith(PREFIX):
                binding.delete()
        for name in sorted(names, key=order):
            try:
                conn.nwfilterLookupByName(name).undefine()
            except libvirt.libvirtError:
                pass


@pytest.fixture
def hvs(test_hypervisors):
    before = [set(_filters(hv['uri'])) for hv in test_hypervisors]
    yield test_hypervisors
    for hv, names in zip(test_hypervisors, before):
        _remove_filters(hv['uri'], set(_filters(hv['uri'])) - names)


def cloud(hvs):
    return cloud_definition(hvs, [])


def args_for(hvs, name=WEB, **extra):
    args = {'cloud': cloud(hvs), 'name': name}
    args.update(extra)
    return args


def groups_on(hvs):
    """``{group: rules}`` of the test's groups on each hypervisor."""
    found = []
    for hv in hvs:
        groups = dict(filterxml.parse_group_filter(xml) for name, xml in _filters(hv['uri']).items()
                      if name.startswith(sg_rules.group_filter_name(PREFIX)))
        found.append(groups)
    return found


def normal(group, rules):
    return sg_rules.rules_from_params(group, rules)


WEB_RULES = [
    {'protocol': 'tcp', 'port_range_min': 80},
    {'protocol': 'tcp', 'port_range_min': 8000, 'port_range_max': 8080, 'remote_ip_prefix': '10.250.20.7'},
    {'protocol': 'icmp', 'remote_group': WEB},
    {'direction': 'egress'},
]


def test_check_mode_defines_nothing_apply_defines_the_group_on_both_and_reruns_change_nothing(hvs):
    args = args_for(hvs, rules=WEB_RULES)
    before = [_filters(hv['uri']) for hv in hvs]
    first = run_module('security_group', args, check=True, diff=True)
    assert first['changed'] is True and not first['failed'], first
    assert [_filters(hv['uri']) for hv in hvs] == before, 'check mode must define no filter at all'
    want = normal(WEB, WEB_RULES)
    assert [g['rules'] for g in first['security_groups']] == [want, want]

    second = run_module('security_group', args, diff=True)
    assert second['changed'] is True and not second['failed'], second
    assert groups_on(hvs) == [{WEB: want}, {WEB: want}]
    for hv in hvs:
        filters = _filters(hv['uri'])
        for name, xml in filterxml.base_filters():
            assert filterxml.same_filter(filters[name], xml), 'libvirt keeps the anti-spoofing filters as written'
        _group, _rules, unmanaged = filterxml.read_group_filter(filters[sg_rules.group_filter_name(WEB)])
        assert unmanaged == []
    assert sorted(g['hypervisor'] for g in second['security_groups']) == sorted(hv['name'] for hv in hvs)
    assert all(g['uuid'] and g['rules'] == want for g in second['security_groups'])
    assert second['diff']['after'][hvs[0]['name']]['rules'] == want

    third = run_module('security_group', args_for(hvs, rules=list(reversed(WEB_RULES))), check=True)
    assert unchanged(third), third
    fourth = run_module('security_group', args)
    assert unchanged(fourth), fourth


def test_rules_are_replaced_declaratively(hvs):
    run_module('security_group', args_for(hvs, rules=WEB_RULES))
    uuids = [g['uuid'] for g in run_module('security_group', args_for(hvs))['security_groups']]
    new = [{'protocol': 'udp', 'port_range_min': 53, 'remote_ip_prefix': '10.250.20.0/24'}]
    predicted = run_module('security_group', args_for(hvs, rules=new), check=True, diff=True)
    changed = run_module('security_group', args_for(hvs, rules=new), diff=True)
    assert predicted['changed'] is changed['changed'] is True
    assert predicted['diff'] == changed['diff']
    name = hvs[0]['name']
    assert changed['diff']['before'][name] == {'rules': normal(WEB, WEB_RULES)}
    assert changed['diff']['after'][name] == {'rules': normal(WEB, new)}
    assert groups_on(hvs) == [{WEB: normal(WEB, new)}] * 2
    assert [g['uuid'] for g in changed['security_groups']] == uuids
    assert unchanged(run_module('security_group', args_for(hvs, rules=new)))


def test_unknown_remote_group_fails_and_changes_nothing(hvs):
    # The remote group only on the second hypervisor: the refusal covers every selected one.
    run_module('security_group', args_for(hvs[1:], name=BASTION, rules=[{'direction': 'egress'}],
                                          hypervisors=[hvs[1]['name']]))
    before = [_filters(hv['uri']) for hv in hvs]
    rules = [{'protocol': 'tcp', 'port_range_min': 22, 'remote_group': BASTION}]
    result = run_module('security_group', args_for(hvs, rules=rules))
    assert result['failed']
    assert 'unknown remote group %s on hypervisor %s' % (BASTION, hvs[0]['name']) in result['msg']
    assert [_filters(hv['uri']) for hv in hvs] == before


@pytest.mark.parametrize('rule, words', [
    ({'ethertype': 'IPv6'}, ['rules[0]', 'IPv4-only']),
    ({'protocol': 'icmp', 'port_range_min': 8}, ['rules[0]', 'tcp and udp only']),
    ({'remote_ip_prefix': '10.0.0.0/8', 'remote_group': WEB}, ['mutually exclusive']),
])
def test_invalid_rules_fail_and_change_nothing(hvs, rule, words):
    before = [_filters(hv['uri']) for hv in hvs]
    result = run_module('security_group', args_for(hvs, rules=[rule]))
    assert result['failed']
    for word in words:
        assert word in result['msg']
    assert [_filters(hv['uri']) for hv in hvs] == before


def test_absent_refused_while_referenced_then_removed_everywhere(hvs):
    run_module('security_group', args_for(hvs, name=BASTION, rules=[{'direction': 'egress'}]))
    run_module('security_group', args_for(hvs, rules=[{'protocol': 'tcp', 'port_range_min': 22,
                                                       'remote_group': BASTION}]))
    before = [_filters(hv['uri']) for hv in hvs]
    refused = run_module('security_group', args_for(hvs, name=BASTION, state='absent'))
    assert refused['failed'] and "by security group '%s'" % WEB in refused['msg']
    assert [_filters(hv['uri']) for hv in hvs] == before

    assert run_module('security_group', args_for(hvs, state='absent'), check=True)['changed'] is True
    assert [_filters(hv['uri']) for hv in hvs] == before
    gone = run_module('security_group', args_for(hvs, state='absent'), diff=True)
    assert gone['changed'] is True
    assert run_module('security_group', args_for(hvs, name=BASTION, state='absent'))['changed'] is True
    assert groups_on(hvs) == [{}, {}]
    assert unchanged(run_module('security_group', args_for(hvs, state='absent')))


# -- traffic -------------------------------------------------------------------------------------

SUBNET = '10.250.77.'
HOSTS = {'a': 11, 'b': 12, 'c': 13}
SERVER = r'''
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port)); s.listen(5)
    while True:
        c, addr = s.accept(); c.sendall(b'hello %s' % addr[0].encode()); c.close()
def echo_dhcp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 68))
    while True:
        data, addr = s.recvfrom(100); s.sendto(b'hello %s' % addr[0].encode(), addr)
for port in (8080, 9090):
    threading.Thread(target=serve, args=(port,), daemon=True).start()
threading.Thread(target=echo_dhcp_client, daemon=True).start()
threading.Event().wait()
'''
# Sends what a DHCP server sends: from UDP port 67 to port 68.
DHCP_SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 67)); s.settimeout(2)
s.sendto(b'offer', (sys.argv[1], 68))
try:
    print(s.recv(100).decode())
except OSError as err:
    print('failed: %s' % type(err).__name__)
'''
CLIENT = r'''
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); s.settimeout(2)
    print(s.recv(100).decode())
except OSError as err:
    print('failed: %s' % type(err).__name__)
'''


def ip_of(host):
    return SUBNET + str(HOSTS[host])


def mac_of(host):
    return '52:54:00:fa:77:%02x' % HOSTS[host]


class Lab:
    """Three network namespaces on a bridge inside a test hypervisor's namespaces."""

    def __init__(self, hv):
        self.hv = hv
        self.enter = namespace_command(hv)
        self.servers = []

    def sh(self, script):
        subprocess.run(self.enter + ['sh', '-ec', script], check=True, capture_output=True, text=True)

    def in_host(self, host, *argv):
        return self.enter + ['ip', 'netns', 'exec', PREFIX + host] + list(argv)

    def up(self):
        script = ['ip link add sgt-br0 type bridge', 'ip addr add %s1/24 dev sgt-br0' % SUBNET,
                  'ip link set sgt-br0 up']
        for host in HOSTS:
            script += ['ip netns add sgt-%s' % host,
                       'ip link add sgt-v%s type veth peer name eth0 netns sgt-%s' % (host, host),
                       'ip link set sgt-v%s master sgt-br0 up' % host,
                       'ip -n sgt-%s link set eth0 address %s' % (host, mac_of(host)),
                       'ip -n sgt-%s addr add %s/24 dev eth0' % (host, ip_of(host)),
                       'ip -n sgt-%s link set eth0 up' % host, 'ip -n sgt-%s link set lo up' % host]
        self.sh('\n'.join(script))
        for host in HOSTS:
            self.servers.append(subprocess.Popen(self.in_host(host, sys.executable, '-c', SERVER)))

    def down(self):
        for server in self.servers:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
        self.sh('\n'.join(['ip netns del sgt-%s || true' % host for host in HOSTS] + ['ip link del sgt-br0 || true']))

    def connect(self, source, target, port):
        out = subprocess.run(self.in_host(source, sys.executable, '-c', CLIENT, ip_of(target), str(port)),
                             capture_output=True, text=True, check=True).stdout.strip()
        return out == 'hello %s' % ip_of(source)

    def dhcp_offer(self, source, target):
        out = subprocess.run(self.in_host(source, sys.executable, '-c', DHCP_SERVER, ip_of(target)),
                             capture_output=True, text=True, check=True).stdout.strip()
        return out == 'hello %s' % ip_of(source)

    def ping(self, source, target):
        return subprocess.run(self.in_host(source, 'ping', '-c1', '-W1', ip_of(target)),
                              capture_output=True, check=False).returncode == 0

    def set_ip(self, host, address):
        self.sh('ip -n sgt-%s addr flush dev eth0; ip -n sgt-%s addr add %s/24 dev eth0' % (host, host, address))

    def filter_name(self, host):
        # Not kvmcloud-port-*: those belong to the port service, which removes filters of
        # ports it does not know.
        return 'sgt-port-%s' % host

    def define_port(self, host, groups, members):
        h = handle(self.hv, self.conn)
        xml = filterxml.port_filter_xml(host, ip_of(host), mac_of(host), groups, nwfilters.read_groups(h), members)
        xml = xml.replace(sg_rules.port_filter_name(host), self.filter_name(host), 1)
        return nwfilters.define_filter(h, xml)

    def bind(self, host):
        self.conn.nwfilterBindingCreateXML(
            "<filterbinding><owner><name>sgt-%s</name><uuid>%s</uuid></owner><portdev name='sgt-v%s'/>"
            "<mac address='%s'/><filterref filter='%s'/></filterbinding>"
            % (host, uuidlib.uuid4(), host, mac_of(host), self.filter_name(host)), 0)


@pytest.fixture
def lab(hvs):
    lab = Lab(hvs[0])
    with connected(hvs[0]['uri']) as conn:
        lab.conn = conn
        lab.up()
        try:
            yield lab
        finally:
            try:
                _remove_filters(hvs[0]['uri'], [lab.filter_name(host) for host in HOSTS])
            finally:
                lab.down()


def test_traffic_follows_the_groups(hvs, lab):
    srv, cli, other = PREFIX + 'srv', PREFIX + 'cli', PREFIX + 'other'
    one = [hvs[0]['name']]
    # srv: TCP 8080 from cli's members, and no egress at all: its replies pass only as replies.
    for name, rules in ((cli, [{'direction': 'egress', 'protocol': 'tcp'}]),
                        (other, [{'direction': 'egress'}]),
                        (srv, [{'protocol': 'tcp', 'port_range_min': 8080, 'remote_group': cli}])):
        assert not run_module('security_group', args_for(hvs, name=name, rules=rules, hypervisors=one))['failed']
    members = {srv: [ip_of('a')], cli: [ip_of('b')], other: [ip_of('c')]}
    for host, group in (('a', srv), ('b', cli), ('c', other)):
        lab.define_port(host, [group], members)
        lab.bind(host)

    assert lab.connect('b', 'a', 8080), 'a member of the remote group, with the replies let through both ways'
    assert not lab.connect('c', 'a', 8080), 'not a member of the remote group'
    assert not lab.connect('b', 'a', 9090), 'a port no rule allows'
    assert not lab.connect('a', 'b', 8080), 'srv has no egress rule, cli no ingress rule'
    assert not lab.ping('b', 'a'), 'cli allows only TCP out'
    assert not lab.dhcp_offer('c', 'a'), 'no port answers DHCP, whatever its egress rules allow'

    # A change of the group reaches the bound port at once.
    rules = [{'protocol': 'tcp', 'port_range_min': 8080, 'remote_group': cli},
             {'protocol': 'tcp', 'port_range_min': 9090, 'remote_group': cli}]
    assert run_module('security_group', args_for(hvs, name=srv, rules=rules, hypervisors=one))['changed']
    assert lab.connect('b', 'a', 9090)

    # A CIDR instead of the remote group.
    rules = [{'protocol': 'tcp', 'port_range_min': 8080, 'remote_ip_prefix': ip_of('c')}]
    assert run_module('security_group', args_for(hvs, name=srv, rules=rules, hypervisors=one))['changed']
    assert lab.connect('c', 'a', 8080)
    assert not lab.connect('b', 'a', 8080)

    # The anti-spoofing filter drops what b sends from c's address.
    lab.set_ip('b', ip_of('c'))
    time.sleep(0.5)
    assert not lab.connect('b', 'a', 8080)


def test_a_group_without_members_gets_the_placeholder(hvs, lab):
    srv, cli = PREFIX + 'srv', PREFIX + 'cli'
    one = [hvs[0]['name']]
    run_module('security_group', args_for(hvs, name=cli, rules=[{'direction': 'egress'}], hypervisors=one))
    run_module('security_group', args_for(hvs, name=srv, rules=[{'remote_group': cli}], hypervisors=one))
    assert lab.define_port('a', [srv], {})
    assert not lab.define_port('a', [srv], {}), 'libvirt keeps the port filter as written'
    lab.bind('a')  # libvirt refuses to instantiate a filter with an undefined variable
    lab.define_port('b', [cli], {})
    lab.bind('b')
    assert not lab.connect('b', 'a', 8080)
    lab.define_port('a', [srv], {cli: [ip_of('b')]})
    assert lab.connect('b', 'a', 8080)
