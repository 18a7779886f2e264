# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ``image`` and ``image_info`` modules run.

``image``: find what every hypervisor holds -> work out the content (reading or downloading
it only when some hypervisor needs it) -> plan (pure, :mod:`image_plan`) -> unless check mode,
when the plan changes anything: lock the hypervisors it changes and do it all again under the
locks (content already read is kept) -> apply -> re-read. Applying runs in phases on all hypervisors at once: upload base volumes,
write catalog entries, then delete base volumes no entry uses any more. When a phase fails
anywhere, what this run created or changed is undone everywhere before the error is raised.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
from dataclasses import replace

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.clock import now
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.fanout import (
    failed_on, map_or_fail, map_reachable, selected, unreachable_list)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.locks import plan_under_lock
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.reconcile import diff_of
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image import plan as image_plan
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.catalog import (
    base_volume_name, catalog, catalog_volume_name, find_image, list_images, remove_volume,
    validate_name, volume_names, write_entry)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.download import check_url, download
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.files import (
    DISK_FORMATS, check_disk_format, check_whole_image, inspect_file, parse_checksum)
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.pools import images_pool
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.streams import upload_file
from ansible_collections.kvmcloud.cloud.plugins.module_utils.storage.usage import volume_users


def _metadata(params):
    for key in ('min_disk', 'min_ram'):
        if params.get(key) is not None and params[key] < 0:
            raise ValidationError('%s must not be negative, got %s' % (key, params[key]))
    return {key: params.get(key) for key in image_plan.METADATA_FIELDS}


# -- find ----------------------------------------------------------------------------------

def _host(h, name):
    """What planning needs to know about hypervisor ``h`` (without the users of base volumes)."""
    pool = images_pool(h)
    entries = catalog(h, pool)
    references = {}
    for other, entry in entries.items():
        if other != name:
            references.setdefault(entry.get('base_volume'), []).append(other)
    return image_plan.Host(entry=entries.get(name), volumes=volume_names(h, pool),
                           references={base: tuple(sorted(names)) for base, names in references.items()})


def _with_users(cm, hypervisors, hosts, name, desired, force):
    """``hosts`` with the users of every base volume the plan may delete."""
    candidates = {hv.name: image_plan.base_that_may_go(name, desired, hosts[hv.name], force) for hv in hypervisors}

    def users(h):
        base = candidates[h.name]
        vol = images_pool(h).storageVolLookupByName(base)
        return volume_users(h, vol.path(), pool=h.hv.images_pool, volume=base)

    found = map_or_fail(cm, users, [hv for hv in hypervisors if candidates[hv.name]], 'checking who uses the image')
    return {hvname: replace(host, users={candidates[hvname]: tuple(found[hvname])}) if hvname in found else host
            for hvname, host in hosts.items()}


# -- the content ---------------------------------------------------------------------------

def _content(cm, hosts, checksum, workdir):
    """The content fields of the image and the local file holding it (None when no hypervisor
    needs the content, which is then taken from the catalog without reading anything)."""
    p = cm.params
    size = None
    if p['filename']:
        try:
            size = os.stat(p['filename']).st_size
        except OSError as err:
            raise ValidationError('cannot read filename %s: %s' % (p['filename'], err.strerror or err))
    source = p['filename'] or p['url']
    if not image_plan.needs_content(hosts, checksum, size):
        content = image_plan.content_from_catalog(hosts, checksum)
        check_disk_format(p['disk_format'], content['disk_format'], source)
        return content, None
    path = p['filename']
    if p['url']:
        path = os.path.join(workdir, 'download')
        download(p['url'], path, checksum, validate_certs=p['validate_certs'], timeout=p['timeout'])
    inspected = inspect_file(path, checksum, p['disk_format'], source=source)
    check_whole_image(cm.module, path, inspected, p['name'], source)
    content = inspected.as_dict()
    content['base_volume'] = base_volume_name(content['checksum'], content['disk_format'])
    return content, path


# -- apply ---------------------------------------------------------------------------------

class _Applier:
    """Runs the plans phase by phase and remembers what to undo."""

    def __init__(self, cm, hypervisors, name, hosts, plans, content, path):
        self.cm = cm
        self.hypervisors = [hv for hv in hypervisors if plans[hv.name]]
        self.name = name
        self.hosts = hosts
        self.plans = plans
        self.content = content
        self.path = path
        self.uploaded = set()        # hypervisors where this run uploaded the base volume
        self.entries_touched = set()  # hypervisors where this run wrote or removed the entry, or tried to

    def run(self):
        self._phase('uploading the base volume', lambda plan: plan.upload, self._upload)
        self._phase('updating the catalog', lambda plan: plan.write or plan.remove_entry, self._entry)
        # Nothing to undo here: the catalog is already right everywhere.
        self._phase('removing the unused base volume', lambda plan: plan.remove_base, self._remove_base, undo=False)

    def _phase(self, what, wanted, func, undo=True):
        outcomes = self.cm.connections.map(func, [hv for hv in self.hypervisors if wanted(self.plans[hv.name])])
        failures = [(hv, err) for hv, _result, err in outcomes if err is not None]
        if not failures:
            return
        details = {'changed': False}
        if undo:
            problems = self._undo()
            what = '%s of image %s (undone everywhere%s)' % (
                what, self.name, '' if not problems else '; undoing failed: %s' % '; '.join(problems))
            details.update(undo_failures=problems, changed=bool(problems))
        else:
            what = '%s of image %s' % (what, self.name)
            details['changed'] = True
        raise failed_on(what, failures, **details)

    def _upload(self, h):
        pool = images_pool(h)
        try:
            with open(self.path, 'rb') as handle:
                upload_file(h, pool, self.plans[h.name].upload, handle, self.content['size'],
                            self.content['disk_format'])
        except (IOError, OSError) as err:
            raise KvmcloudError('cannot read %s: %s' % (self.path, err))
        self.uploaded.add(h.name)

    def _entry(self, h):
        pool = images_pool(h)
        plan = self.plans[h.name]
        # Marked first: a rewrite that fails half-way has deleted the old entry already.
        self.entries_touched.add(h.name)
        if plan.write is not None:
            write_entry(h, pool, plan.write)
        else:
            remove_volume(pool, catalog_volume_name(self.name))

    def _remove_base(self, h):
        remove_volume(images_pool(h), self.plans[h.name].remove_base)

    def _undo(self):
        """Put back the entries and delete the base volumes this run made, on every hypervisor
        at once; what failed to undo, as ``'<hypervisor>: <what>: <error>'``."""
        def undo(h):
            undo = Undo()
            previous = self.hosts[h.name].entry
            upload = self.plans[h.name].upload
            if h.name in self.uploaded:
                undo.add('delete base volume %s' % upload, lambda: remove_volume(images_pool(h), upload))
            if h.name in self.entries_touched and find_image(h, self.name) != previous:
                if previous is not None:
                    undo.add('restore the catalog entry', lambda: write_entry(h, images_pool(h), previous))
                else:
                    undo.add('remove the catalog entry',
                             lambda: remove_volume(images_pool(h), catalog_volume_name(self.name)))
            return undo.run()

        touched = [hv for hv in self.hypervisors if hv.name in self.uploaded | self.entries_touched]
        problems = []
        for hv, failures, err in self.cm.connections.map(undo, touched):
            problems.extend('%s: %s' % (hv.name, failure) for failure in (failures or []))
            if err is not None:
                problems.append('%s: %s' % (hv.name, err.msg))
        return problems


# -- the modules ---------------------------------------------------------------------------

def _result(plans, entries, hypervisors):
    stored = [hv.name for hv in hypervisors if entries.get(hv.name)]
    return {
        'changed': any(plans.values()),
        'diff': diff_of(plans),
        'image': entries[stored[0]] if stored else {},
        'hypervisors': stored,
    }


def _plan(cm, name, checksum, metadata, hypervisors, workdir, read=None):
    """find -> the content -> plan: ``(hosts, plans, content, path)``. Content already read
    (``read``: an earlier plan's ``(content, path)``) is not read or downloaded again."""
    p = cm.params
    hosts = map_or_fail(cm, lambda h: _host(h, name), hypervisors, 'reading the image catalog')
    desired, content, path = None, None, None
    if p['state'] == 'present':
        content, path = read if read is not None and read[1] is not None else _content(cm, hosts, checksum, workdir)
        desired = dict(content, name=name, registered_at=image_plan.registered_at(
            hosts, content['checksum'], now()), **metadata)
    hosts = _with_users(cm, hypervisors, hosts, name, desired, p['force'])
    return hosts, image_plan.plan_image(name, desired, hosts, force=p['force']), content, path


def run_image(cm):
    """The ``image`` module: register, update or remove one image on the selected hypervisors;
    a run with something to do plans again under the locks of the hypervisors it changes."""
    p = cm.params
    name = validate_name(p['name'])
    checksum = parse_checksum(p['checksum'])
    if p['url'] is not None:
        check_url(p['url'])
    metadata = _metadata(p)
    hypervisors = selected(cm)
    with tempfile.TemporaryDirectory(prefix='kvmcloud-image-', dir=cm.module.tmpdir) as workdir:
        first = []

        def plan():
            planned = _plan(cm, name, checksum, metadata, hypervisors, workdir, read=first[0][2:] if first else None)
            first.append(planned)
            return planned

        hosts, plans, content, path = plan_under_lock(
            cm, plan, lambda planned: [hvname for hvname, one in planned[1].items() if one])
        if cm.check_mode or not any(plans.values()):
            return _result(plans, image_plan.predicted_entries(hosts, plans), hypervisors)
        _Applier(cm, hypervisors, name, hosts, plans, content, path).run()
    entries = map_or_fail(cm, lambda h: find_image(h, name), hypervisors, 're-reading the image')
    return _result(plans, entries, hypervisors)


def merge_images(listings, order):
    """One entry per distinct image across hypervisors (``listings``: hypervisor name -> its
    entries), each with ``hypervisors``: those holding exactly that entry, in ``order``."""
    merged = {}
    for hvname in order:
        for entry in listings.get(hvname) or []:
            key = json.dumps(entry, sort_keys=True)
            merged.setdefault(key, dict(entry, hypervisors=[]))['hypervisors'].append(hvname)
    return sorted(merged.values(), key=lambda image: (image['name'], image['hypervisors']))


def run_image_info(cm):
    """The ``image_info`` module: the images of the selected hypervisors, merged."""
    name = cm.params.get('name')
    if name is not None:
        validate_name(name)

    def images(h):
        if name is None:
            return list_images(h)
        entry = find_image(h, name)
        return [entry] if entry else []

    hypervisors = selected(cm)
    found, unreachable = map_reachable(cm, images, hypervisors, 'listing images')
    return {'changed': False, 'images': merge_images({hv.name: listing for hv, listing in found},
                                                     [hv.name for hv in hypervisors]),
            'unreachable_hypervisors': unreachable_list(unreachable)}


# The module's options, here so that cloud_plan validates an item the way the module does.
IMAGE_ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    filename=dict(type='path'),
    url=dict(type='str'),
    checksum=dict(type='str'),
    disk_format=dict(type='str', choices=list(DISK_FORMATS)),
    min_disk=dict(type='int'),
    min_ram=dict(type='int'),
    properties=dict(type='dict'),
    hypervisors=dict(type='list', elements='str'),
    force=dict(type='bool', default=False),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='int', default=60),
)
IMAGE_MODULE_OPTIONS = dict(
    mutually_exclusive=[('filename', 'url')],
    required_if=[('state', 'present', ('filename', 'url'), True)],
    required_by={'url': 'checksum'},
)
