# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute engine's side effects on one server of one hypervisor: create it (undone when
any step fails, so nothing is left half-created), update it as its plan says, delete it.

The ports a server uses are written by the fleet (:mod:`.fleet`) before it is created, and
released after it is deleted: a network's definition is only ever written by one thread.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute import seed_iso, seeds
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.domain import (
    domain_xml, interface_element, persistent_description, replace_metadata)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.power import set_power_state, start_watched
from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.spec import (
    boot_volume_name, root_volume_name, seed_volume_name)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import xmlutil
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.constants import (
    VIR_DOMAIN_BLOCK_RESIZE_BYTES, VIR_DOMAIN_XML_INACTIVE)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.objects import stop_and_undefine
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import base_volume, find_image
from ansible_collections.kvmcloud.cloud.plugins.module_utils.network.filters import filter_name
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.overlays import create_overlay
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import volumes_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import write_volume
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume import disks
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.service import create_volume
from ansible_collections.kvmcloud.cloud.plugins.module_utils.volume.volumes import attachments_elsewhere, delete_found, find_on

GIB = 1024 ** 3
# A qcow2 overlay no guest has written to holds only its header and tables.
UNUSED_ROOT_BYTES = 1024 * 1024

# Fields whose change means writing the persistent definition anew.
REDEFINED = {'vcpus', 'ram', 'flavor', 'seed_hash', 'tags', 'meta', 'key_name', 'volumes', 'networks'}


def interfaces_of(planned):
    return [{'network': r['network'], 'mac': r['mac'], 'filter': filter_name(r)} for r in planned.port_records]


def attached_volume(h, name, server):
    found = find_on(h, name)
    if found is None:
        raise ValidationError('volume %s is not on hypervisor %s, where server %s is' % (name, h.name, server))
    others = sorted({a['server'] for a in attachments_elsewhere(h, found.path, server)})
    if others:
        # a domain the plan did not see as a server of the cloud (defined outside kvmcloud)
        raise ValidationError('server %s: volume %s is attached to domain %s of hypervisor %s; a volume is '
                              'attached to one server at a time: detach it there first'
                              % (server, name, ', '.join(others), h.name))
    return found


def _boot_volume(h, planned, undo):
    """The server's boot volume: the one kept from an earlier server of the same name, or a new
    volume of the project from the image."""
    spec = planned.spec
    name = boot_volume_name(planned.name)
    found = find_on(h, name)
    if found is not None:
        facts = found.facts()
        if facts['attachments'] or facts['image'] != spec['image'] or facts['project'] != spec['project']:
            raise ValidationError("server '%s': volume %s exists (image %s, project %s%s); it can only be "
                                  "booted from by a server of the same image and project"
                                  % (planned.name, name, facts['image'], facts['project'],
                                     ', attached' if facts['attachments'] else ''))
        return found.vol
    # size in GiB, as the volume module takes it; none: the image's size
    found = create_volume(h, name, {'size': (spec['flavor']['disk'] or 0) * GIB or None, 'format': 'qcow2',
                                    'project': spec['project'], 'image': spec['image'], 'clone': 'overlay'})
    undo.add('delete its boot volume %s' % name, delete_found, found)
    return found.vol


def clear_unused_root(pool, name):
    """Before creating server ``name``: a root disk of that name that no domain uses (left by a
    creation cut short, say by a crash of libvirtd) goes when nothing was ever written to it;
    one with data is refused, never overwritten."""
    old = pool.lookup('storageVolLookupByName', root_volume_name(name))
    if old is None:
        return
    allocation = old.info()[2]
    if allocation > UNUSED_ROOT_BYTES:
        raise ValidationError("server '%s': volume %s exists with %d bytes of data but no server uses it (left "
                              "from a server removed outside kvmcloud?); move or delete it first"
                              % (name, root_volume_name(name), allocation))
    old.delete(0)


def create(h, planned, virt_type, watch_console=False):
    """Create the server of ``planned`` on hypervisor ``h``; with ``watch_console`` a running
    server is started paused, its console watched from the first line: the watch is returned."""
    spec = planned.spec
    pool = volumes_pool(h)
    with Undo('server %s' % planned.name) as undo:
        image = find_image(h, spec['image'])
        if image is None:
            raise ValidationError("server '%s': image %s is not registered on hypervisor %s"
                                  % (planned.name, spec['image'], h.name))
        if spec['boot_from_volume']:
            root = _boot_volume(h, planned, undo)
        else:
            clear_unused_root(pool, planned.name)
            root = create_overlay(pool, root_volume_name(planned.name), base_volume(h, image),
                                  (spec['flavor']['disk'] or 0) * GIB)
            undo.add('delete its root disk', root.delete, 0)
        seed = write_volume(h, pool, seed_volume_name(planned.name), seed_image(planned))
        undo.add('delete its seed', seed.delete, 0)
        volume_disks = []
        for index, name in enumerate(spec['volumes']):
            found = attached_volume(h, name, planned.name)
            volume_disks.append(disks.disk_node(found.path, found.format, disks.DATA_DEVICES[index],
                                                disks.serial_for(name)))
        xml = domain_xml(spec, planned.uuid, virt_type, root.path(), seed.path(), interfaces_of(planned),
                         planned.metadata(now()), volume_disks=volume_disks)
        dom = h.about(planned.name).defineXML(xml)
        undo.add('remove its domain', stop_and_undefine, dom)
        watch = None
        if spec['power_state'] == 'running' and watch_console:
            watch = start_watched(h, dom)
        elif spec['power_state'] != 'stopped':
            dom.create()
        if spec['power_state'] == 'paused':
            dom.suspend()
    return watch


def seed_image(planned):
    """The bytes of the seed ISO of server ``planned``: its seed files and kvmcloud's vendor-data."""
    return seed_iso.build_iso(seeds.iso_files(planned.seed))


def leftovers(connections, planned):
    """What a creation that failed part-way left of server ``planned``, read again from its
    hypervisor: ``[]`` when its rollback verifiably finished."""
    try:
        h = connections.get(planned.hypervisor)
        left = ['domain %s' % planned.name] if h.domain(planned.name) is not None else []
        pool = volumes_pool(h)
        for name in (root_volume_name(planned.name), seed_volume_name(planned.name)):
            if pool.lookup('storageVolLookupByName', name) is not None:
                left.append('volume %s' % name)
    except KvmcloudError as err:
        return ['server %s on hypervisor %s: cannot be checked (%s)' % (planned.name, planned.hypervisor, err.msg)]
    return ['server %s on hypervisor %s: %s' % (planned.name, planned.hypervisor, what) for what in left]


def delete(h, planned, delete_volumes=False):
    """Delete the server: its domain, root disk and seed; its data volumes and boot volume only
    with ``delete_volumes``."""
    dom = h.domain(planned.name)
    if dom is not None:
        stop_and_undefine(dom)
    pool = volumes_pool(h)
    for name in (root_volume_name(planned.name), seed_volume_name(planned.name)):
        vol = pool.lookup('storageVolLookupByName', name)
        if vol is not None:
            vol.delete(0)
    if delete_volumes:
        for name in (planned.server.get('volumes') or []) + [v for v in [planned.server.get('boot_volume')] if v]:
            found = find_on(h, name)
            if found is not None:
                delete_found(found)


def update(h, planned, wait_timeout):
    """Apply the changes of ``planned`` to the existing server, live where libvirt can."""
    dom = h.about(planned.name).lookupByName(planned.name)
    fields = {c.field: c.after for c in planned.changes}
    if 'networks' in fields:
        _replug_interfaces(dom, planned)
    if 'volumes' in fields:
        _replug_volumes(h, dom, planned, wait_timeout)
    if REDEFINED & set(fields):
        redefine(h, dom, planned, 'seed_hash' in fields)
    if 'disk' in fields:
        size = fields['disk'] * GIB
        if dom.isActive():
            dom.blockResize('vda', size, VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        elif planned.server.get('boot_volume'):
            find_on(h, planned.server['boot_volume']).vol.resize(size, 0)
        else:
            volumes_pool(h).storageVolLookupByName(root_volume_name(planned.name)).resize(size, 0)
    if 'image' in fields:
        rebuild(h, dom, planned)
    if 'power_state' in fields:
        set_power_state(dom, fields['power_state'], wait_timeout)


def _replug_interfaces(dom, planned):
    """Interfaces of removed ports are unplugged, those of new ports plugged in: live when the
    server runs, and in its config."""
    flags = disks.hotplug_flags(dom)
    desc = xmlutil.parse(dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE))
    for record in planned.removed_records:
        for iface in desc.findall("devices/interface[@type='network']"):
            if (xmlutil.attr(iface, 'mac', 'address') or '').lower() == record['mac']:
                dom.about('port %s' % record['name']).detachDeviceFlags(xmlutil.tostring(iface), flags)
    for record in planned.added_records:
        iface = interface_element({'network': record['network'], 'mac': record['mac'], 'filter': filter_name(record)})
        dom.about('port %s' % record['name']).attachDeviceFlags(xmlutil.tostring(iface), flags)


def _replug_volumes(h, dom, planned, wait_timeout):
    """Data volumes no longer listed are detached (a live detach waits for the guest to let go),
    new ones attached; live and in config, as ``server_volume`` does."""
    flags = disks.hotplug_flags(dom)
    before = set(planned.server.get('volumes') or [])
    after = set(planned.spec['volumes'])
    for name in sorted(before - after):
        found = find_on(h, name)
        if found is not None:
            disks.unplug(dom, name, found.path, flags, wait_timeout)
    for name in sorted(after - before):
        found = attached_volume(h, name, planned.name)
        disks.plug(dom, name, found.path, found.format, disks.next_device(disks.live_and_config(dom)), flags)


def redefine(h, dom, planned, new_seed):
    """Config changes: write the persistent definition anew (vCPUs, RAM, metadata, and the seed
    when ``new_seed``)."""
    desc = persistent_description(dom)
    flavor = planned.spec['flavor']
    desc.find('vcpu').text = str(flavor['vcpus'])
    for tag in ('memory', 'currentMemory'):
        node = desc.find(tag)
        node.text = str(flavor['ram'])
        node.set('unit', 'MiB')
    if new_seed:
        write_volume(h, volumes_pool(h), seed_volume_name(planned.name), seed_image(planned))
    replace_metadata(desc, planned.metadata(now()))
    h.about(planned.name).defineXML(xmlutil.tostring(desc))


def replace_root_disk(h, dom, name, base):
    """A new root overlay on the base volume ``base`` for the stopped server ``name``, as large
    as the old one was (the old one and the data on it go)."""
    pool = volumes_pool(h)
    old = pool.lookup('storageVolLookupByName', root_volume_name(name))
    size = old.info()[1] if old is not None else 0
    if old is not None:
        old.delete(0)
    return create_overlay(pool, root_volume_name(name), base, size)


def rebuild(h, dom, planned):
    """Another image: a new root overlay on it, then the server as it was."""
    running = dom.isActive()
    if running:
        dom.destroy()
    replace_root_disk(h, dom, planned.name, base_volume(h, planned.spec['image']))
    redefine(h, dom, planned, False)
    if running:
        dom.create()
