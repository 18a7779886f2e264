# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Servers as libvirt domains: the desired server from the module's options, the domain XML
that runs it, and the server read back from a domain.

Everything the cloud knows about a server lives in the domain's ``<metadata>``, in one element
of the collection's namespace (libvirt keeps one element per namespace): project, flavor,
image, ports, volumes, server group, key, seed hash, tags, meta, creation time. Any controller
reads it back from the hypervisors; there is no other database.

Each server owns two volumes in its hypervisor's volumes pool: the root disk
``server-<name>-root.qcow2``, a qcow2 overlay on the image's base volume grown to the flavor's
disk, and the NoCloud seed ``server-<name>-seed.iso``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.errors import ValidationError, call

METADATA_TAG = 'server'
CONSOLE_DIR = '/var/log/libvirt/qemu'
POWER_STATES = ('running', 'stopped', 'paused')
POLICIES = ('affinity', 'anti-affinity')
GIB = 1024 ** 3

# libvirt's domain states (virDomainState) -> the collection's power states.
_STATES = {1: 'running', 2: 'running', 3: 'paused', 4: 'running', 5: 'stopped', 6: 'stopped', 7: 'paused', 0: 'stopped'}
_DOMAIN_XML_INACTIVE = 2
_STATS_STATE = 1            # VIR_DOMAIN_STATS_STATE
_LIST_TRANSIENT = 8         # VIR_CONNECT_LIST_DOMAINS_TRANSIENT

# A server's name is its host name, its domain's name and part of its volumes' and ports' names.
_NAME_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')

# Fields of a server that the engine compares, and how a change applies.
FIELDS = ('project', 'flavor', 'vcpus', 'ram', 'disk', 'image', 'networks', 'volumes', 'key_name',
          'seed_hash', 'tags', 'meta', 'server_group', 'power_state')


def validate_name(name):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError("invalid server name %r: a host name of 1 to 63 letters, digits and '-', not "
                              "starting or ending with '-'" % (name,))
    return name


def root_volume_name(name):
    return 'server-%s-root.qcow2' % name


def boot_volume_name(name):
    """The data volume a server boots from with ``boot_from_volume``: ``<name>-root``."""
    return '%s-root' % name


def seed_volume_name(name):
    return 'server-%s-seed.iso' % name


def port_name(server, index):
    """The name of a server's ``index``-th port: ``<server>-eth<index>``."""
    return '%s-eth%d' % (server, index)


def console_path(name):
    return '%s/%s.console.log' % (CONSOLE_DIR, name)


def flavor_from_params(cloud, params):
    """``{name, vcpus, ram, disk}`` from a flavor name of the cloud or inline ``vcpus``/``ram``/``disk``."""
    flavor = params.get('flavor')
    inline = {key: params.get(key) for key in ('vcpus', 'ram', 'disk') if params.get(key) is not None}
    if flavor and inline:
        raise ValidationError("server '%s': give flavor or vcpus/ram/disk, not both" % params['name'])
    if flavor:
        found = cloud.flavor(flavor)
        return {'name': found.name, 'vcpus': found.vcpus, 'ram': found.ram, 'disk': found.disk}
    if 'vcpus' not in inline or 'ram' not in inline:
        raise ValidationError("server '%s': flavor is required (or inline vcpus and ram)" % params['name'])
    for key, low in (('vcpus', 1), ('ram', 64), ('disk', 0)):
        if inline.get(key, 0) < low:
            raise ValidationError("server '%s': %s must be at least %d, got %s" % (params['name'], key, low, inline[key]))
    return {'name': None, 'vcpus': inline['vcpus'], 'ram': inline['ram'], 'disk': inline.get('disk', 0)}


def networks_from_params(name, networks):
    """The server's interfaces: ``[{network, fixed_ip, security_groups, port}]`` in order."""
    out = []
    for index, entry in enumerate(networks or []):
        if isinstance(entry, str):
            entry = {'network': entry}
        if not entry.get('network'):
            raise ValidationError("server '%s': networks[%d] needs a network" % (name, index))
        groups = entry.get('security_groups')
        out.append({'network': entry['network'], 'fixed_ip': entry.get('fixed_ip'),
                    'security_groups': list(groups) if groups is not None else None,
                    'port_security': entry.get('port_security'),
                    'port': port_name(name, index)})
    return out


def spec_from_params(cloud, params):
    """The desired server, validated against the cloud definition."""
    name = validate_name(params['name'])
    project = params.get('project')
    if not project:
        raise ValidationError("server '%s': project is required" % name)
    cloud.project(project)
    if params.get('key_name'):
        cloud.keypair(params['key_name'])
    if not params.get('image'):
        raise ValidationError("server '%s': image is required" % name)
    group = params.get('server_group')
    if group:
        if isinstance(group, str):
            group = {'name': group, 'policy': 'anti-affinity'}
        if group.get('policy', 'anti-affinity') not in POLICIES:
            raise ValidationError("server '%s': server_group policy must be one of %s" % (name, ', '.join(POLICIES)))
        group = {'name': group['name'], 'policy': group.get('policy') or 'anti-affinity'}
    power_state = params.get('power_state') or 'running'
    if power_state not in POWER_STATES:
        raise ValidationError("server '%s': power_state must be one of %s" % (name, ', '.join(POWER_STATES)))
    if params.get('hypervisor'):
        cloud.hypervisor(params['hypervisor'])
    flavor = flavor_from_params(cloud, params)
    volumes = list(params.get('volumes') or [])
    if len(set(volumes)) != len(volumes):
        raise ValidationError("server '%s': a volume is listed twice" % name)
    if params.get('boot_from_volume') and boot_volume_name(name) in volumes:
        raise ValidationError("server '%s': %s is its boot volume; do not list it in volumes"
                              % (name, boot_volume_name(name)))
    return {
        'name': name, 'project': project, 'flavor': flavor, 'image': params['image'],
        'networks': networks_from_params(name, params.get('networks')), 'volumes': volumes,
        'key_name': params.get('key_name'), 'user_data': params.get('user_data'),
        'meta': dict(params.get('meta') or {}), 'tags': sorted(set(params.get('tags') or [])),
        'availability_zone': params.get('availability_zone'), 'hypervisor': params.get('hypervisor'),
        'server_group': group, 'power_state': power_state,
        'boot_from_volume': bool(params.get('boot_from_volume')),
    }


# --- domain XML ------------------------------------------------------------------------------------

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
    xmlutil.sub(root, 'target', dev='vda', bus='virtio')
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


# --- reading servers back -----------------------------------------------------------------------

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


def power_state(dom, hypervisor):
    return _STATES.get(call('state', dom.name(), dom.state, hypervisor=hypervisor)[0], 'stopped')


def server_facts(dom, hypervisor, state=None, persistent=None):
    """A server read from its domain, or None for a domain the collection did not make.
    ``state`` (libvirt's state number) and ``persistent``, when the caller read them in bulk,
    save a call each."""
    name = dom.name()
    if persistent is None:
        persistent = dom.isPersistent()
    flags = _DOMAIN_XML_INACTIVE if persistent else 0
    desc = xmlutil.parse(call('XMLDesc', name, dom.XMLDesc, flags, hypervisor=hypervisor))
    meta = metadata_of(desc)
    if meta is None:
        return None
    memory = desc.find('memory')
    ram = int(memory.text) // 1024 if memory.get('unit', 'KiB') == 'KiB' else int(memory.text)
    facts = dict(meta)
    facts.update(
        name=name, uuid=xmlutil.text(desc, 'uuid'), hypervisor=hypervisor,
        power_state=power_state(dom, hypervisor) if state is None else _STATES.get(state, 'stopped'),
        vcpus=int(xmlutil.text(desc, 'vcpu')), ram=ram,
        interfaces=[{'network': xmlutil.attr(i, 'source', 'network'), 'mac': xmlutil.attr(i, 'mac', 'address'),
                     'filter': xmlutil.attr(i, 'filterref', 'filter')}
                    for i in desc.findall("devices/interface[@type='network']")],
        disks=[{'target': xmlutil.attr(d, 'target', 'dev'), 'path': xmlutil.attr(d, 'source', 'file'),
                'serial': xmlutil.text(d, 'serial'), 'device': d.get('device')}
               for d in desc.findall('devices/disk')],
        console=console_path(name), virt_type=desc.get('type'))
    return facts


def read_servers(conn, hypervisor):
    """Every server on a hypervisor (domains with the collection's metadata), by name: the
    states of all domains and the transient ones in one call each, then one description per
    domain."""
    states = call('domain states', hypervisor, conn.getAllDomainStats, _STATS_STATE, hypervisor=hypervisor)
    transient = {dom.name() for dom in call('list transient domains', hypervisor, conn.listAllDomains,
                                            _LIST_TRANSIENT, hypervisor=hypervisor)}
    found = {}
    for dom, stats in states:
        facts = server_facts(dom, hypervisor, state=stats.get('state.state', 0),
                             persistent=dom.name() not in transient)
        if facts is not None:
            found[facts['name']] = facts
    return found


# --- the options of one server, shared by the server and server_fleet modules ------------------

NETWORK_SPEC = dict(
    network=dict(type='str', required=True),
    fixed_ip=dict(type='str'),
    security_groups=dict(type='list', elements='str'),
    port_security=dict(type='bool'),
)

SERVER_GROUP_SPEC = dict(
    name=dict(type='str', required=True),
    policy=dict(type='str', choices=list(POLICIES), default='anti-affinity'),
)

SERVER_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    project=dict(type='str'),
    flavor=dict(type='str'),
    vcpus=dict(type='int'),
    ram=dict(type='int'),
    disk=dict(type='int'),
    image=dict(type='str'),
    networks=dict(type='list', elements='dict', options=NETWORK_SPEC, default=[]),
    volumes=dict(type='list', elements='str', default=[]),
    key_name=dict(type='str', no_log=False),
    user_data=dict(type='raw'),
    meta=dict(type='dict', default={}),
    tags=dict(type='list', elements='str', default=[]),
    availability_zone=dict(type='str'),
    hypervisor=dict(type='str'),
    server_group=dict(type='dict', options=SERVER_GROUP_SPEC),
    power_state=dict(type='str', choices=list(POWER_STATES), default='running'),
    boot_from_volume=dict(type='bool', default=False),
)


def validate_server_options(index, options):
    """One element of ``server_fleet``'s ``servers``: checked and completed with the defaults of
    :data:`SERVER_SPEC`, the way the ``server`` module's own options are."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    result = ArgumentSpecValidator(SERVER_SPEC).validate(options)
    if result.error_messages:
        raise ValidationError('servers[%d]: %s' % (index, '; '.join(result.error_messages)))
    return result.validated_parameters
