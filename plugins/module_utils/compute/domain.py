# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A server as a libvirt domain: the domain XML that runs it, and the server read back from
its domain.

Everything the cloud knows about a server lives in the domain's ``<metadata>``, in one element
of the collection's namespace (libvirt keeps one element per namespace): project, flavor,
image, ports, volumes, server group, key, seed hash, tags, meta, creation time. Any controller
reads it back from the hypervisors; there is no other database.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_DOMAIN_AFFECT_CONFIG, VIR_DOMAIN_AFFECT_LIVE, VIR_CONNECT_LIST_DOMAINS_TRANSIENT, VIR_DOMAIN_BLOCKED, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PMSUSPENDED,
    VIR_DOMAIN_RUNNING, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_STATS_STATE, VIR_DOMAIN_XML_INACTIVE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import console_path

METADATA_TAG = 'server'
# The guest's SSH host keys are kept in a metadata element of their own, written with libvirt's
# setMetadata: the call replaces that element alone, so it never races a redefinition of the
# server's own metadata.
HOST_KEYS_NAMESPACE = 'urn:kvmcloud:hostkeys:1'
HOST_KEYS_PREFIX = 'kvmcloudkeys'
VIR_DOMAIN_METADATA_ELEMENT = 2

# libvirt's domain states -> the collection's power states; any other state is 'stopped'.
_STATES = {VIR_DOMAIN_RUNNING: 'running', VIR_DOMAIN_BLOCKED: 'running', VIR_DOMAIN_PAUSED: 'paused',
           VIR_DOMAIN_SHUTDOWN: 'running', VIR_DOMAIN_PMSUSPENDED: 'paused'}
ROOT_DEVICE = 'vda'


def domain_xml(spec, uuid, virt_type, root_path, seed_path, interfaces, metadata, volume_disks=()):
    """The domain of a server. ``interfaces`` are ``[{network, mac, filter}]``; ``volume_disks``
    are disk XML elements of attached data volumes; ``metadata`` is the dict kept in the
    collection's namespace."""
    dom = xmlutil.element('domain', type=virt_type)
    xmlutil.sub(dom, 'name', spec['name'])
    xmlutil.sub(dom, 'uuid', uuid)
    meta = xmlutil.sub(dom, 'metadata')
    meta.append(xmlutil.metadata_to_element(METADATA_TAG, metadata))
    flavor = spec['flavor']
    xmlutil.sub(dom, 'memory', flavor['ram'], unit='MiB')
    xmlutil.sub(dom, 'currentMemory', flavor['ram'], unit='MiB')
    xmlutil.sub(dom, 'vcpu', flavor['vcpus'], placement='static')
    os_el = xmlutil.sub(dom, 'os')
    xmlutil.sub(os_el, 'type', 'hvm', arch='x86_64', machine='pc')
    xmlutil.sub(os_el, 'boot', dev='hd')
    features = xmlutil.sub(dom, 'features')
    xmlutil.sub(features, 'acpi')
    xmlutil.sub(features, 'apic')
    if virt_type == 'kvm':
        xmlutil.sub(dom, 'cpu', mode='host-model')
    xmlutil.sub(dom, 'on_poweroff', 'destroy')
    xmlutil.sub(dom, 'on_reboot', 'restart')
    xmlutil.sub(dom, 'on_crash', 'destroy')
    devices = xmlutil.sub(dom, 'devices')
    root = xmlutil.sub(devices, 'disk', type='file', device='disk')
    xmlutil.sub(root, 'driver', name='qemu', type='qcow2')
    xmlutil.sub(root, 'source', file=root_path)
    xmlutil.sub(root, 'target', dev=ROOT_DEVICE, bus='virtio')
    # The seed on an IDE CD-ROM (machine pc): what cloud-init's NoCloud and the tiny image read.
    seed = xmlutil.sub(devices, 'disk', type='file', device='cdrom')
    xmlutil.sub(seed, 'driver', name='qemu', type='raw')
    xmlutil.sub(seed, 'source', file=seed_path)
    xmlutil.sub(seed, 'target', dev='hdc', bus='ide')
    xmlutil.sub(seed, 'readonly')
    for disk in volume_disks:
        devices.append(disk)
    for iface in interfaces:
        devices.append(interface_element(iface))
    serial = xmlutil.sub(devices, 'serial', type='pty')
    xmlutil.sub(serial, 'log', file=console_path(spec['name']), append='on')
    xmlutil.sub(serial, 'target', port='0')
    console = xmlutil.sub(devices, 'console', type='pty')
    xmlutil.sub(console, 'target', type='serial', port='0')
    xmlutil.sub(devices, 'memballoon', model='virtio')
    return xmlutil.tostring(dom)


def interface_element(iface):
    node = xmlutil.element('interface', type='network')
    xmlutil.sub(node, 'source', network=iface['network'])
    xmlutil.sub(node, 'mac', address=iface['mac'])
    xmlutil.sub(node, 'model', type='virtio')
    if iface.get('filter'):
        xmlutil.sub(node, 'filterref', filter=iface['filter'])
    return node


def metadata_of(desc):
    node = desc.find('metadata/%s' % xmlutil.qname(METADATA_TAG))
    return xmlutil.element_to_metadata(node) if node is not None else None


def replace_metadata(desc, metadata):
    """Put ``metadata`` in place of the collection's element in a parsed domain description."""
    node = desc.find('metadata')
    if node is None:
        node = xmlutil.sub(desc, 'metadata')
    for old in node.findall(xmlutil.qname(METADATA_TAG)):
        node.remove(old)
    node.append(xmlutil.metadata_to_element(METADATA_TAG, metadata))
    return desc


def power_state_of(state):
    """The collection's power state for libvirt's state number."""
    return _STATES.get(state, 'stopped')


def power_state(dom):
    return power_state_of(dom.state()[0])


def persistent_description(dom):
    """The parsed definition of a domain's next boot (the live one of a transient domain)."""
    return xmlutil.parse(dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0))


def set_metadata(h, dom, **changes):
    """Write changed metadata fields into a domain's persistent definition."""
    desc = persistent_description(dom)
    replace_metadata(desc, dict(metadata_of(desc) or {}, **changes))
    h.about(dom.label).defineXML(xmlutil.tostring(desc))


def server_facts(dom, hypervisor, state=None, persistent=None):
    """A server read from its domain on the hypervisor named ``hypervisor``, or None for a
    domain the collection did not make. ``state`` (libvirt's state number) and ``persistent``,
    when the caller read them in bulk, save a call each."""
    name = dom.name()
    if persistent is None:
        persistent = dom.isPersistent()
    desc = xmlutil.parse(dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE if persistent else 0))
    meta = metadata_of(desc)
    if meta is None:
        return None
    memory = desc.find('memory')
    ram = int(memory.text) // 1024 if memory.get('unit', 'KiB') == 'KiB' else int(memory.text)
    facts = dict(meta)
    facts.update(
        name=name, uuid=xmlutil.text(desc, 'uuid'), hypervisor=hypervisor,
        power_state=power_state(dom) if state is None else power_state_of(state),
        vcpus=int(xmlutil.text(desc, 'vcpu')), ram=ram,
        interfaces=[{'network': xmlutil.attr(i, 'source', 'network'), 'mac': xmlutil.attr(i, 'mac', 'address'),
                     'filter': xmlutil.attr(i, 'filterref', 'filter')}
                    for i in desc.findall("devices/interface[@type='network']")],
        disks=[{'target': xmlutil.attr(d, 'target', 'dev'), 'path': xmlutil.attr(d, 'source', 'file'),
                'serial': xmlutil.text(d, 'serial'), 'device': d.get('device')}
               for d in desc.findall('devices/disk')],
        console=console_path(name), virt_type=desc.get('type'), host_keys=host_keys_in(desc))
    return facts


def host_keys_in(desc):
    """The SSH host keys recorded in a parsed domain description (:func:`record_host_keys`)."""
    node = desc.find('metadata/{%s}hostkeys' % HOST_KEYS_NAMESPACE)
    if node is None:
        return []
    return [key.text.strip() for key in node.findall('{%s}key' % HOST_KEYS_NAMESPACE) if key.text and key.text.strip()]


def host_keys_element(keys):
    """The metadata element that holds ``keys`` (``<type> <base64>`` each)."""
    node = xmlutil.ET.Element('hostkeys')
    for key in keys:
        xmlutil.ET.SubElement(node, 'key').text = key
    return xmlutil.ET.tostring(node, encoding='unicode')


def record_host_keys(dom, keys):
    """Keep the guest's SSH host keys in its domain, live and in its config."""
    flags = VIR_DOMAIN_AFFECT_CONFIG | (VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)
    dom.setMetadata(VIR_DOMAIN_METADATA_ELEMENT, host_keys_element(keys), HOST_KEYS_PREFIX, HOST_KEYS_NAMESPACE, flags)


def read_servers(h, usage=False):
    """Every server on hypervisor ``h`` (domains with the collection's metadata), by name: the
    states of all domains and the transient ones in one call each, then one description per
    domain. (The disks' sizes are not asked for here: block stats make libvirtd query every
    running guest's QEMU, seconds for a hundred busy guests.) With ``usage``, each server's
    ``usage`` too (CPU time and memory, 0 when stopped): one more call per server not stopped."""
    stats = h.getAllDomainStats(VIR_DOMAIN_STATS_STATE)
    transient = {dom.name() for dom in h.listAllDomains(VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
    found = {}
    for dom, values in stats:
        facts = server_facts(dom, h.name, state=values.get('state.state', 0), persistent=dom.name() not in transient)
        if facts is None:
            continue
        if usage:
            facts['usage'] = {'cpu_time_ns': 0, 'memory_kib': 0}
            if facts['power_state'] != 'stopped':
                info = dom.info()
                facts['usage'] = {'cpu_time_ns': info[4], 'memory_kib': info[2]}
        found[facts['name']] = facts
    return found


def describe_server(facts, hv):
    """What the compute modules return for a server: its facts with its hypervisor's zone."""
    return {
        'name': facts['name'], 'uuid': facts['uuid'], 'hypervisor': facts['hypervisor'], 'zone': hv.zone,
        'project': facts.get('project'), 'flavor': facts.get('flavor'), 'image': facts.get('image'),
        'ports': facts.get('ports') or [], 'addresses': {p['network']: p['ip'] for p in facts.get('ports') or []},
        'volumes': facts.get('volumes') or [], 'power_state': facts['power_state'], 'tags': facts.get('tags') or [],
        'meta': facts.get('meta') or {}, 'server_group': facts.get('server_group'), 'key_name': facts.get('key_name'),
        'vcpus': facts['vcpus'], 'ram': facts['ram'], 'created': facts.get('created'), 'console': facts['console'],
        'virt_type': facts['virt_type'], 'boot_volume': facts.get('boot_volume'),
        'host_keys': facts.get('host_keys') or [],
    }
