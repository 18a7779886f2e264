# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A server's power state, and what the compute engine and the actions wait for: a server that
runs with its addresses leased, and a marker on its serial console."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import power_state, record_host_keys
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.seeds import cloud_init_result
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import VIR_DOMAIN_START_PAUSED, VIR_STREAM_NONBLOCK
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, WaitTimeout
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import best_effort
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.waiter import Predicate, wait_for


# The console lines a timeout waiting for cloud-init quotes.
CONSOLE_TAIL_LINES = 10
# The longest pause between two reads of a watched console: what a guest prints in between
# waits in libvirtd's and the pty's buffers, and a guest whose console is full stalls.
CONSOLE_POLL_MAX = 1.0


class ConsoleWatch:
    """The serial console of a domain read through libvirt (a stream, so remote hypervisors and
    namespaced ones work alike), accumulated until a marker shows."""

    def __init__(self, h, dom):
        self.name = dom.name()
        self.dom = dom
        self.text = ''
        self.stream = h.stream(self.name, 'read console', VIR_STREAM_NONBLOCK)
        dom.openConsole(None, self.stream, 0)

    def read(self):
        """Take in what the console printed since the last read; return the whole text."""
        # The client side of a non-blocking stream only takes in what the daemon sent while an
        # RPC call is in flight on the connection: without an event loop, recv() alone returns
        # -2 forever once nothing else talks to the hypervisor. One cheap call pumps it.
        self.dom.isActive()
        while True:
            data = self.stream.recv(65536)
            if isinstance(data, int) or not data:    # -2: nothing more for now; b'': the end
                break
            self.text += data.decode('utf-8', 'replace').replace('\r', '')
        return self.text

    def last_lines(self, count):
        """The console's last ``count`` lines that are not blank, each cut to 200 characters."""
        lines = [line[-200:] for line in self.text.splitlines() if line.strip()]
        return lines[-count:]

    def seen(self, marker):
        found = any(line.strip() == marker for line in self.read().splitlines())
        tail = self.last_lines(1) or ['nothing yet']
        return found, 'last console line: %s' % tail[0]

    def cloud_init(self, instance_id):
        """``(result, state)``: cloud-init's result once the seed's vendor-data reported that it
        finished (:func:`~.seeds.cloud_init_result`), else None; ``state`` quotes the console's
        last lines, for the timeout error."""
        result = cloud_init_result(self.read(), instance_id)
        tail = self.last_lines(CONSOLE_TAIL_LINES)
        return result, ('its console\'s last lines:\n  %s' % '\n  '.join(tail) if tail else 'nothing on its console yet')

    def close(self):
        best_effort(self.stream.abort)  # the console goes with the connection anyway


def pumping(consoles, check):
    """``check`` that first reads each of ``consoles``, so that none of them fills up while
    something else is waited for."""
    def checked():
        for console in consoles:
            console.read()
        return check()
    return checked


def wait_for_cloud_init(watch, name, instance_id, timeout, others=()):
    """Wait until server ``name`` (console ``watch``) reported cloud-init's end; its result.
    The consoles ``others`` are read meanwhile too."""
    def check():
        result, state = watch.cloud_init(instance_id)
        return result is not None, result if result is not None else state

    return wait_for(Predicate('cloud-init to finish on server %s' % name,
                              pumping([c for c in others if c is not watch], check)),
                    timeout, max_interval=CONSOLE_POLL_MAX)


def start_watched(h, dom):
    """Start ``dom`` paused, open its console, then let it run: the watch sees every line."""
    dom.createWithFlags(VIR_DOMAIN_START_PAUSED)
    watch = ConsoleWatch(h, dom)
    dom.resume()
    return watch


def after_cloud_init(warn, dom, name, result):
    """What a run does once cloud-init reported on server ``name`` (domain ``dom``): keep the
    guest's SSH host keys in its domain, and warn of each error cloud-init reported."""
    if result['host_keys']:
        record_host_keys(dom, result['host_keys'])
    for error in result['errors']:
        warn('server %s: cloud-init reported an error: %s' % (name, error))


def running_with_leases(h, name, port_list):
    """Whether the server ``name`` of hypervisor ``h`` runs and each of its ports (``{name,
    network, mac, ip}``) has its address leased: ``(done, what was seen)`` for the waiter."""
    dom = h.domain(name)
    if dom is None:
        return False, 'no domain'
    state = power_state(dom)
    if state != 'running':
        return False, state
    missing = []
    leases = {}
    for port in port_list:
        if port['network'] not in leases:
            net = h.network(port['network'])
            leases[port['network']] = net.DHCPLeases() if net is not None else []
        if not any((lease.get('mac') or '').lower() == port['mac'] and lease.get('ipaddr') == port['ip']
                   for lease in leases[port['network']]):
            missing.append('%s has no lease of %s yet' % (port['name'], port['ip']))
    return not missing, '; '.join(missing) or 'running with its addresses'


def set_power_state(dom, wanted, timeout):
    """Bring a domain to ``wanted`` (running, stopped, paused); stopping is graceful first."""
    state = power_state(dom)
    if state == wanted:
        return
    if wanted == 'running':
        if state == 'paused':
            dom.resume()
        else:
            dom.create()
    elif wanted == 'paused':
        if state == 'stopped':
            dom.create()
        dom.suspend()
    else:
        if state == 'paused':
            dom.resume()
        shut_down(dom, timeout, force=True)


def shut_down(dom, timeout, force, wait=True):
    """ACPI shutdown, then wait up to ``timeout`` for the guest to power off; after that, power
    it off when ``force``, else fail. Without ``wait`` the request is only sent (and with
    ``force`` the server is powered off at once). Returns the steps taken."""
    name = dom.name()
    dom.shutdown()
    if not wait and not force:
        return ['shutdown']
    try:
        wait_for(Predicate('server %s to power off' % name, lambda: (not dom.isActive(), power_state(dom))),
                 timeout if wait else 0)
        return ['shutdown']
    except WaitTimeout as err:
        if not force:
            raise KvmcloudError('server %s did not power off within %ss of the ACPI shutdown request (last state: '
                                '%s); set force: true to power it off after the wait' % (name, timeout, err.last_state),
                                **err.details)
    dom.about(name).destroy()
    return ['shutdown', 'power off (forced)']
