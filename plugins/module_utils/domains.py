# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the compute engine, the actions and ``server_info`` share about servers: the bulk read
of every hypervisor, the scheduler's view of the hosts, describing a server, its power state,
waiting for its addresses and its console, and its root overlay."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils import (
    hypervisor as hvmod, placement, servers, streams, volumes, xmlutil)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import (
    KvmcloudError, WaitTimeout, call, lookup)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.multi import map_reachable
from ansible_collections.kvmcloud.cloud.plugins.module_utils.waiter import Predicate, wait_for

GIB = servers.GIB
_STREAM_NONBLOCK = 1


# --- the bulk read -----------------------------------------------------------------------------------


def survey(cm):
    """``{hypervisor name: facts}`` of every reachable hypervisor: its servers, capacity and virt
    type; and ``{name: reason}`` of the unreachable ones."""
    def read(hv, conn):
        model_memory_cpus = call('getInfo', 'host', conn.getInfo, hypervisor=hv.name)
        record = hvmod.read_record(conn, hv.images_pool, hypervisor=hv.name)
        virt_type, _source = hvmod.resolve_virt_type(hv.virt_type, record, hvmod.kvm_offered(conn))
        pool = volumes.volumes_pool(conn, hv)
        capacity = call('pool info', pool.name(), pool.info, hypervisor=hv.name)[1]
        return {'servers': servers.read_servers(conn, hv.name), 'cpus': model_memory_cpus[2],
                'memory_mb': model_memory_cpus[1], 'disk_gb': capacity / GIB, 'virt_type': virt_type or 'qemu'}

    results, unreachable = map_reachable(cm, read, cm.cloud.hypervisors, 'reading the servers')
    return {hv.name: result for hv, result in results}, unreachable


def all_servers(found):
    """``{server name: facts}`` over every hypervisor; a name on two hypervisors is an error."""
    out = {}
    for hv_name, facts in sorted(found.items()):
        for name, server in facts['servers'].items():
            if name in out:
                raise KvmcloudError('server %s exists on hypervisors %s and %s; remove one of them'
                                    % (name, out[name]['hypervisor'], hv_name))
            out[name] = server
    return out


def placement_hosts(cloud, found, unreachable, leave_out=None):
    """The scheduler's view of every hypervisor from the bulk read: capacity, what its servers
    use, their server groups. ``leave_out`` (a server) is not counted, and its own hypervisor
    is not offered (a migration looks for another one)."""
    hosts = []
    for hv in cloud.hypervisors:
        if leave_out is not None and hv.name == leave_out['hypervisor']:
            continue
        facts = found.get(hv.name)
        if facts is None:
            hosts.append(placement.host_from(hv, reachable=False, reason=unreachable.get(hv.name, '')))
            continue
        hosted = [s for s in facts['servers'].values() if leave_out is None or s['name'] != leave_out['name']]
        groups = {}
        for server in hosted:
            group = (server.get('server_group') or {}).get('name')
            if group:
                groups.setdefault(group, set()).add(server['name'])
        hosts.append(placement.host_from(
            hv, vcpus=facts['cpus'], ram_mb=facts['memory_mb'], disk_gb=facts['disk_gb'],
            used_vcpus=sum(s['vcpus'] for s in hosted), used_ram_mb=sum(s['ram'] for s in hosted),
            used_disk_gb=sum((s.get('flavor') or {}).get('disk') or 0 for s in hosted), groups=groups))
    return hosts


def describe_server(facts, hv):
    return {
        'name': facts['name'], 'uuid': facts['uuid'], 'hypervisor': facts['hypervisor'], 'zone': hv.zone,
        'project': facts.get('project'), 'flavor': facts.get('flavor'), 'image': facts.get('image'),
        'ports': facts.get('ports') or [], 'addresses': {p['network']: p['ip'] for p in facts.get('ports') or []},
        'volumes': facts.get('volumes') or [], 'power_state': facts['power_state'], 'tags': facts.get('tags') or [],
        'meta': facts.get('meta') or {}, 'server_group': facts.get('server_group'), 'key_name': facts.get('key_name'),
        'vcpus': facts['vcpus'], 'ram': facts['ram'], 'created': facts.get('created'), 'console': facts['console'],
        'virt_type': facts['virt_type'], 'boot_volume': facts.get('boot_volume'),
    }


class ConsoleWatch:
    """The serial console of a domain read through libvirt (a stream, so remote hypervisors and
    namespaced ones work alike), accumulated until a marker shows."""

    def __init__(self, conn, dom, hvname):
        self.name = dom.name()
        self.dom = dom
        self.hvname = hvname
        self.text = ''
        self.stream = call('new stream', self.name, conn.newStream, _STREAM_NONBLOCK, hypervisor=hvname)
        call('open console', self.name, dom.openConsole, None, self.stream, 0, hypervisor=hvname)

    def seen(self, marker):
        # The client side of a non-blocking stream only takes in what the daemon sent while an
        # RPC call is in flight on the connection: without an event loop, recv() alone returns
        # -2 forever once nothing else talks to the hypervisor. One cheap call pumps it.
        call('domain state', self.name, self.dom.isActive, hypervisor=self.hvname)
        while True:
            data = call('read console', self.name, self.stream.recv, 65536, hypervisor=self.hvname)
            if isinstance(data, int) or not data:    # -2: nothing more for now; b'': the end
                break
            self.text += data.decode('utf-8', 'replace').replace('\r', '')
        found = any(line.strip() == marker for line in self.text.splitlines())
        tail = self.text.strip().splitlines()[-1:] or ['nothing yet']
        return found, 'last console line: %s' % tail[0][-200:]

    def close(self):
        try:
            self.stream.abort()
        except Exception:  # pylint: disable=broad-except
            pass  # the console goes with the connection anyway


def running_with_leases(conn, name, hvname, port_list):
    """Whether the server runs and each of its ports (``{name, network, mac, ip}``) has its
    address leased: ``(done, what was seen)`` for the waiter."""
    dom = lookup(conn.lookupByName, name, hypervisor=hvname)
    if dom is None:
        return False, 'no domain'
    state = servers.power_state(dom, hvname)
    if state != 'running':
        return False, state
    missing = []
    for port in port_list:
        net = lookup(conn.networkLookupByName, port['network'], hypervisor=hvname)
        leases = call('DHCP leases', port['network'], net.DHCPLeases, hypervisor=hvname) if net is not None else []
        if not any((lease.get('mac') or '').lower() == port['mac'] and lease.get('ipaddr') == port['ip']
                   for lease in leases):
            missing.append('%s has no lease of %s yet' % (port['name'], port['ip']))
    return not missing, '; '.join(missing) or 'running with its addresses'


def create_overlay(pool, name, base_vol, size, hvname):
    spec = xmlutil.element('volume', type='file')
    xmlutil.sub(spec, 'name', name)
    xmlutil.sub(spec, 'capacity', size, unit='bytes')
    xmlutil.sub(xmlutil.sub(spec, 'target'), 'format', type='qcow2')
    backing = xmlutil.sub(spec, 'backingStore')
    xmlutil.sub(backing, 'path', base_vol.path())
    xmlutil.sub(backing, 'format', type=streams.volume_format(base_vol))
    return call('create volume', name, pool.createXML, xmlutil.tostring(spec), 0, hypervisor=hvname)


def set_power_state(dom, name, hvname, wanted, timeout):
    """Bring a domain to ``wanted`` (running, stopped, paused); stopping is graceful first."""
    state = servers.power_state(dom, hvname)
    if state == wanted:
        return
    if wanted == 'running':
        if state == 'paused':
            call('resume', name, dom.resume, hypervisor=hvname)
        else:
            call('start', name, dom.create, hypervisor=hvname)
    elif wanted == 'paused':
        if state == 'stopped':
            call('start', name, dom.create, hypervisor=hvname)
        call('pause', name, dom.suspend, hypervisor=hvname)
    else:
        if state == 'paused':
            call('resume', name, dom.resume, hypervisor=hvname)
        shut_down(dom, name, hvname, timeout, force=True)


def shut_down(dom, name, hvname, timeout, force, wait=True):
    """ACPI shutdown, then wait up to ``timeout`` for the guest to power off; after that, power
    it off when ``force``, else fail. Without ``wait`` the request is only sent (and with
    ``force`` the server is powered off at once). Returns the steps taken."""
    call('shutdown', name, dom.shutdown, hypervisor=hvname)
    if not wait and not force:
        return ['shutdown']
    try:
        wait_for(Predicate('server %s to power off' % name,
                           lambda: (not dom.isActive(), servers.power_state(dom, hvname))), timeout if wait else 0)
        return ['shutdown']
    except WaitTimeout as err:
        if not force:
            raise KvmcloudError('server %s did not power off within %ss of the ACPI shutdown request (last state: '
                                '%s); set force: true to power it off after the wait' % (name, timeout, err.last_state),
                                **err.details)
    call('power off', name, dom.destroy, hypervisor=hvname)
    return ['shutdown', 'power off (forced)']


def report_servers(cm):
    """The ``server_info`` module: the servers of every reachable hypervisor, filtered."""
    params = cm.params
    hypervisors = cm.cloud.select_hypervisors([params['hypervisor']] if params.get('hypervisor') else None)

    def read(hv, conn):
        listed = []
        leases = {}
        for dom in call('list domains', hv.name, conn.listAllDomains, 0, hypervisor=hv.name):
            facts = servers.server_facts(dom, hv.name)
            if facts is None or not _matches(facts, params):
                continue
            entry = describe_server(facts, hv)
            for port in entry['ports']:
                if port['network'] not in leases:
                    net = lookup(conn.networkLookupByName, port['network'], hypervisor=hv.name)
                    leases[port['network']] = ({lease['mac'].lower(): lease['ipaddr'] for lease in net.DHCPLeases()
                                                if lease.get('mac')} if net is not None and net.isActive() else {})
                port['leased_ip'] = leases[port['network']].get(port['mac'])
            if dom.isActive():
                stats = call('info', dom.name(), dom.info, hypervisor=hv.name)
                entry['usage'] = {'cpu_time_ns': stats[4], 'memory_kib': stats[2]}
            else:
                entry['usage'] = {'cpu_time_ns': 0, 'memory_kib': 0}
            listed.append(entry)
        return listed

    found, unreachable = [], []
    for hv, result, err in cm.connections.map(read, hypervisors):
        if err is not None:
            unreachable.append('%s: %s' % (hv.name, err.msg))
            continue
        found.extend(result)
    return {'changed': False, 'servers': sorted(found, key=lambda s: s['name']), 'unreachable_hypervisors': unreachable}


def _matches(facts, params):
    if params.get('name') and facts['name'] != params['name']:
        return False
    if params.get('project') and facts.get('project') != params['project']:
        return False
    if params.get('power_state') and facts['power_state'] != params['power_state']:
        return False
    return set(params.get('tags') or []) <= set(facts.get('tags') or [])
