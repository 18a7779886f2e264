"""Ports and security groups with real guests, on an isolated network of a namespaced test
hypervisor (all guest traffic stays inside the namespace the fixture made).

Guest A and guest B each get a port with a fixed address and the security group under test.
B listens on TCP 80 and 81; A probes B from a runcmd and prints the outcome on its console:
the group lets TCP 80 in from anywhere and ICMP from its members, not TCP 81; a spoofed source
address gets nothing through. Adding a rule for TCP 81 opens it for the running guests. The
fixed address shows on the console and in libvirt's lease table, and survives a restart of
the network and a reboot of the guest.
"""

import re
from pathlib import Path

import pytest

from ansible_run import run_module
from cloud_fixture import cloud_definition, connected, removing_prefixed
from guests import read_console, seed_iso, tiny_guest_xml, upload_volume, wait_for_console

pytestmark = pytest.mark.integration

PREFIX = 'kvmcloud-test-sg'
NET = PREFIX + 'net'
GROUP = PREFIX + '-web'
SUBNET = {'cidr': '10.250.40.0/24', 'allocation_pools': [{'start': '10.250.40.100', 'end': '10.250.40.149'}]}
A_IP, B_IP, SPOOFED = '10.250.40.110', '10.250.40.111', '10.250.40.150'
BOOT_TIMEOUT = 180
RULES = [
    {'direction': 'egress'},
    {'direction': 'ingress', 'protocol': 'tcp', 'port_range_min': 80},
    {'direction': 'ingress', 'protocol': 'icmp', 'remote_group': GROUP},
]

# B: two listeners that accept and close each connection.
B_USER_DATA = """#cloud-config
runcmd:
  - 'nc -ll -p 80 -e /bin/true & nc -ll -p 81 -e /bin/true & echo listening'
"""

# A: one round of probes (TCP 80, TCP 81, ping), then TCP 80 from a spoofed source address,
# then TCP 81 every 2 s for ever, straight to the console.
A_SCRIPT = r"""
t() { if echo x | nc -w 3 %(b)s $1 >/dev/null 2>&1; then echo open; else echo closed; fi; }
p() { if ping -c 1 -W 3 %(b)s >/dev/null 2>&1; then echo ok; else echo blocked; fi; }
echo "probe tcp80=$(t 80) tcp81=$(t 81) ping=$(p)"
ip addr add %(spoofed)s/32 dev eth0
ip route add %(b)s/32 dev eth0 src %(spoofed)s
echo "spoofed tcp80=$(t 80)"
ip route del %(b)s/32 dev eth0
ip addr del %(spoofed)s/32 dev eth0
(i=0; while true; do i=$((i + 1)); echo "kvmcloud-probe $i tcp81=$(t 81)" > /dev/ttyS0; sleep 2; done) &
""" % {'b': B_IP, 'spoofed': SPOOFED}


def a_user_data():
    body = '\n'.join('      ' + line for line in A_SCRIPT.strip().splitlines())
    return '#cloud-config\nruncmd:\n  - |\n' + body + '\n'


@pytest.fixture
def hv(test_hypervisors):
    hv = test_hypervisors[0]
    with removing_prefixed([hv], PREFIX, volumes=[PREFIX], networks=[NET],
                           nwfilters=['kvmcloud-port-' + PREFIX, 'kvmcloud-sg-' + PREFIX]):
        yield hv


def cloud(hv):
    return cloud_definition([hv], [{'name': 'demo'}])


def console_of(hv, name):
    return Path(hv['dir']) / ('%s.console.log' % name)


def boot(hv, name, port, user_data, image):
    with connected(hv['uri']) as conn:
        pool = conn.storagePoolLookupByName('kvmcloud-volumes')
        root = upload_volume(conn, pool, name + '-root.qcow2', image)
        seed = upload_volume(conn, pool, name + '-seed.iso', seed_iso({
            'meta-data': 'instance-id: iid-%s\nlocal-hostname: %s\n' % (name, name),
            'user-data': user_data}))
        console = console_of(hv, name)
        console.unlink(missing_ok=True)
        conn.defineXML(tiny_guest_xml(name, root.path(), console, seed=seed.path(),
                                      interfaces=[(NET, port['mac'], port['filter'])])).create()
        return console


def leases(hv):
    with connected(hv['uri']) as conn:
        return {lease['mac']: lease['ipaddr'] for lease in conn.networkLookupByName(NET).DHCPLeases()}


def test_guests_get_their_fixed_addresses_and_the_security_group_filters_traffic_between_them(hv, tiny_image_file):
    image = Path(tiny_image_file).read_bytes()
    base = {'cloud': cloud(hv)}
    assert not run_module('network', dict(base, name=NET, mode='isolated', subnet=SUBNET))['failed']
    group = run_module('security_group', dict(base, name=GROUP, rules=RULES))
    assert not group['failed'], group
    ports = {}
    for name, ip in (('a', A_IP), ('b', B_IP)):
        result = run_module('port', dict(base, name='%s-%s' % (PREFIX, name), network=NET, project='demo',
                                         fixed_ip=ip, hostname=name, security_groups=[GROUP]))
        assert not result['failed'], result
        ports[name] = result['port']

    b_console = boot(hv, PREFIX + '-b', ports['b'], B_USER_DATA, image)
    wait_for_console(b_console, r'^kvmcloud-ready iid-%s-b$' % PREFIX, BOOT_TIMEOUT)
    a_console = boot(hv, PREFIX + '-a', ports['a'], a_user_data(), image)
    wait_for_console(a_console, r'^kvmcloud-ready iid-%s-a$' % PREFIX, BOOT_TIMEOUT)

    # Each guest has exactly its fixed address, as its console and the lease table say.
    for name, console in (('a', a_console), ('b', b_console)):
        port = ports[name]
        assert 'kvmcloud-iface eth0 %s %s/24' % (port['mac'], port['ip']) in read_console(console)
        assert leases(hv).get(port['mac']) == port['ip']

    # The group at work, seen from inside guest A.
    text = read_console(a_console)
    assert 'kvmcloud-runcmd 0 | probe tcp80=open tcp81=closed ping=ok' in text, text[-2000:]
    assert 'kvmcloud-runcmd 0 | spoofed tcp80=closed' in text, text[-2000:]
    wait_for_console(a_console, r'^kvmcloud-probe \d+ tcp81=closed$', 30)

    # A new rule reaches the running guests: TCP 81 opens without a restart.
    opened = run_module('security_group', dict(base, name=GROUP, rules=RULES + [
        {'direction': 'ingress', 'protocol': 'tcp', 'port_range_min': 81}]))
    assert opened['changed'] is True and not opened['failed'], opened
    mark = len(read_console(a_console))
    wait_for_console(a_console, r'^kvmcloud-probe \d+ tcp81=open$', 30, after=mark)

    # The reservation survives a restart of the network and a reboot of the guest.
    with connected(hv['uri']) as conn:
        net = conn.networkLookupByName(NET)
        net.destroy()
        net.create()
        assert "ip='%s'" % A_IP in net.XMLDesc(0)
        dom = conn.lookupByName(PREFIX + '-a')
        mark = len(read_console(a_console))
        dom.destroy()
        dom.create()
    wait_for_console(a_console, r'^kvmcloud-ready iid-%s-a$' % PREFIX, BOOT_TIMEOUT, after=mark)
    rebooted = read_console(a_console)[mark:]
    assert re.search(r'^kvmcloud-iface eth0 %s %s/24$' % (ports['a']['mac'], A_IP), rebooted, re.MULTILINE)
    assert leases(hv).get(ports['a']['mac']) == A_IP
