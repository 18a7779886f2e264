# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud definition: hypervisors, flavors, projects with quotas, keypairs.

It is inventory data handed to every module through the ``cloud`` option (documented once in
the ``kvmcloud.cloud.cloud`` doc fragment). The argument spec below and that fragment must
describe the same options.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import ValidationError

DEFAULT_IMAGES_POOL = 'kvmcloud-images'
DEFAULT_VOLUMES_POOL = 'kvmcloud-volumes'

HYPERVISOR_SPEC = dict(
    name=dict(type='str', required=True),
    uri=dict(type='str', required=True),
    zone=dict(type='str', default='nova'),
    enabled=dict(type='bool', default=True),
    virt_type=dict(type='str', choices=['kvm', 'qemu']),
    cpu_allocation_ratio=dict(type='float', default=4.0),
    ram_allocation_ratio=dict(type='float', default=1.0),
    disk_allocation_ratio=dict(type='float', default=1.0),
    reserved_host_memory_mb=dict(type='int', default=512),
    reserved_host_cpus=dict(type='int', default=0),
    reserved_host_disk_gb=dict(type='int', default=0),
    images_pool=dict(type='str', default=DEFAULT_IMAGES_POOL),
    volumes_pool=dict(type='str', default=DEFAULT_VOLUMES_POOL),
)

FLAVOR_SPEC = dict(
    name=dict(type='str', required=True),
    vcpus=dict(type='int', required=True),
    ram=dict(type='int', required=True),
    disk=dict(type='int', default=0),
)

QUOTA_SPEC = dict(
    instances=dict(type='int'),
    cores=dict(type='int'),
    ram=dict(type='int'),
    volumes=dict(type='int'),
    gigabytes=dict(type='int'),
    ports=dict(type='int'),
)

PROJECT_SPEC = dict(
    name=dict(type='str', required=True),
    description=dict(type='str', default=''),
    mac_prefix=dict(type='str'),
    quotas=dict(type='dict', options=QUOTA_SPEC, default={}),
)

KEYPAIR_SPEC = dict(
    name=dict(type='str', required=True),
    public_key=dict(type='str', required=True, no_log=False),
)

CLOUD_SPEC = dict(
    hypervisors=dict(type='list', elements='dict', options=HYPERVISOR_SPEC, required=True),
    flavors=dict(type='list', elements='dict', options=FLAVOR_SPEC, default=[]),
    projects=dict(type='list', elements='dict', options=PROJECT_SPEC, default=[]),
    keypairs=dict(type='list', elements='dict', options=KEYPAIR_SPEC, default=[], no_log=False),
)

# The option every module of the collection shares (doc fragment kvmcloud.cloud.cloud).
CLOUD_ARGUMENT_SPEC = dict(
    cloud=dict(type='dict', options=CLOUD_SPEC, required=True),
)

# The options of the modules that wait (doc fragment kvmcloud.cloud.wait).
# The option of the modules that hand out addresses or add to what quotas count (see
# fanout.allocation_check); plugins/doc_fragments/allocation.py documents it.
ALLOCATION_ARGUMENT_SPEC = dict(
    allow_unreachable=dict(type='bool', default=False),
)

WAIT_ARGUMENT_SPEC = dict(
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=300),
)

# The OpenSSH public key types a keypair may hold (what OpenSSH 9 accepts by default).
PUBLIC_KEY_TYPES = ('ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
                    'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-rsa')


def check_wait_timeout(wait, timeout, zero_allowed=True):
    """Refuse a negative ``wait_timeout``, and 0 with ``wait`` where no wait could end in time
    (``zero_allowed=False``)."""
    if timeout is None:
        return
    if timeout < 0:
        raise ValidationError('wait_timeout must be a number of seconds, 0 or more; got %s (there is no '
                              'endless wait: give a large number of seconds instead)' % timeout)
    if timeout == 0 and wait and not zero_allowed:
        raise ValidationError('wait_timeout: 0 with wait: true cannot succeed, since nothing this module waits for '
                              'happens at once; give the seconds to wait (default 300), or wait: false not to wait')


def check_public_key(name, key):
    """An OpenSSH public key on one line: ``<type> <base64 key> [comment]``, whose base64
    part decodes to a key of that type."""
    accepted = ', '.join(PUBLIC_KEY_TYPES)
    fields = key.split() if isinstance(key, str) and len(key.strip().splitlines()) == 1 else []
    if len(fields) < 2 or fields[0] not in PUBLIC_KEY_TYPES:
        raise ValidationError('cloud.keypairs[%s].public_key is not an OpenSSH public key: expected one line '
                              '"<type> <base64 key> [comment]" (the content of a .pub file, such as '
                              '~/.ssh/id_ed25519.pub) with a type of %s' % (name, accepted))
    try:
        blob = base64.b64decode(fields[1].encode('ascii'), validate=True)
        length = struct.unpack('>I', blob[:4])[0]
        embedded = blob[4:4 + length].decode('ascii')
    except (binascii.Error, struct.error, UnicodeError, ValueError):
        embedded = None
    if embedded != fields[0]:
        raise ValidationError('cloud.keypairs[%s].public_key is not an OpenSSH public key: its second field is '
                              'not the base64 data of a %s key; copy the whole line of the .pub file (accepted '
                              'types: %s)' % (name, fields[0], accepted))
    return key


# The options of the modules that write (doc fragment kvmcloud.cloud.locks; core/locks.py).
LOCK_ARGUMENT_SPEC = dict(
    lock_timeout=dict(type='int', default=300),
    lock_stale_after=dict(type='int', default=120),
)


@dataclass(frozen=True)
class Hypervisor:
    name: str
    uri: str
    zone: str = 'nova'
    enabled: bool = True
    virt_type: Optional[str] = None
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_cpus: int = 0
    reserved_host_disk_gb: int = 0
    images_pool: str = DEFAULT_IMAGES_POOL
    volumes_pool: str = DEFAULT_VOLUMES_POOL


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram: int
    disk: int = 0


@dataclass(frozen=True)
class Project:
    name: str
    description: str = ''
    quotas: Dict[str, Optional[int]] = field(default_factory=dict)
    mac_prefix: Optional[str] = None

    def __post_init__(self):
        # Ports of the project get MACs with this prefix: the one set, or one of its own.
        try:
            prefix = names.mac_prefix(self.mac_prefix) if self.mac_prefix else names.project_mac_prefix(self.name)
        except ValidationError as err:
            raise ValidationError('cloud.projects[%s].mac_prefix: %s' % (self.name, err.msg))
        object.__setattr__(self, 'mac_prefix', prefix)


@dataclass(frozen=True)
class Keypair:
    name: str
    public_key: str


@dataclass(frozen=True)
class CloudDefinition:
    hypervisors: List[Hypervisor]
    flavors: List[Flavor] = field(default_factory=list)
    projects: List[Project] = field(default_factory=list)
    keypairs: List[Keypair] = field(default_factory=list)

    @classmethod
    def from_option(cls, value):
        """Validate a ``cloud`` option's raw value as a module's argument spec does (types,
        defaults, unknown keys), then build the definition: for code that has no module, such
        as the inventory plugin."""
        # A copy: the validator fills sub-options into a default ({} of quotas) in place.
        result = ArgumentSpecValidator(copy.deepcopy(CLOUD_ARGUMENT_SPEC)).validate({'cloud': value})
        if result.error_messages:
            raise ValidationError('the cloud definition is not valid: %s' % '; '.join(result.error_messages))
        return cls.from_params(result.validated_parameters['cloud'])

    @classmethod
    def from_params(cls, params):
        """Build and validate the definition from the ``cloud`` option's value."""
        params = params or {}
        cloud = cls(
            hypervisors=[Hypervisor(**_known(h, HYPERVISOR_SPEC)) for h in params.get('hypervisors') or []],
            flavors=[Flavor(**_known(f, FLAVOR_SPEC)) for f in params.get('flavors') or []],
            projects=[Project(**dict(_known(p, PROJECT_SPEC), quotas=_quotas(p)))
                      for p in params.get('projects') or []],
            keypairs=[Keypair(**_known(k, KEYPAIR_SPEC)) for k in params.get('keypairs') or []],
        )
        cloud.validate()
        return cloud

    def validate(self):
        if not self.hypervisors:
            raise ValidationError('cloud.hypervisors must list at least one hypervisor')
        for kind, items in (('hypervisors', self.hypervisors), ('flavors', self.flavors),
                            ('projects', self.projects), ('keypairs', self.keypairs)):
            _unique(kind, [item.name for item in items])
        _unique('hypervisor URIs', [h.uri for h in self.hypervisors])
        for keypair in self.keypairs:
            check_public_key(keypair.name, keypair.public_key)
        for hv in self.hypervisors:
            for ratio in ('cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'):
                if getattr(hv, ratio) <= 0:
                    raise ValidationError('cloud.hypervisors[%s].%s must be greater than 0, got %s'
                                          % (hv.name, ratio, getattr(hv, ratio)))
            for reserved in ('reserved_host_memory_mb', 'reserved_host_cpus', 'reserved_host_disk_gb'):
                if getattr(hv, reserved) < 0:
                    raise ValidationError('cloud.hypervisors[%s].%s must not be negative, got %s'
                                          % (hv.name, reserved, getattr(hv, reserved)))
        for flavor in self.flavors:
            for attr in ('vcpus', 'ram'):
                if getattr(flavor, attr) < 1:
                    raise ValidationError('cloud.flavors[%s].%s must be at least 1, got %s'
                                          % (flavor.name, attr, getattr(flavor, attr)))
            if flavor.disk < 0:
                raise ValidationError('cloud.flavors[%s].disk must not be negative, got %s'
                                      % (flavor.name, flavor.disk))
        for project in self.projects:
            for quota, limit in project.quotas.items():
                if limit is not None and limit < -1:
                    raise ValidationError('cloud.projects[%s].quotas.%s must be -1 (unlimited) or more, got %s'
                                          % (project.name, quota, limit))

    def hypervisor(self, name):
        return _by_name('hypervisor', self.hypervisors, name)

    def select_hypervisors(self, names=None, enabled_only=False):
        """The hypervisors named (all by default), in definition order; unknown names fail."""
        if names:
            for name in names:
                self.hypervisor(name)
        return [hv for hv in self.hypervisors
                if (not names or hv.name in names) and (hv.enabled or not enabled_only)]

    def flavor(self, name):
        return _by_name('flavor', self.flavors, name)

    def project(self, name):
        return _by_name('project', self.projects, name)

    def keypair(self, name):
        return _by_name('keypair', self.keypairs, name)


def _known(values, spec):
    """Keep the keys of ``spec``: the argument spec already filled in defaults."""
    return {key: values[key] for key in spec if key in values and values[key] is not None}


def _quotas(project):
    return {key: value for key, value in (project.get('quotas') or {}).items() if value is not None}


def _unique(kind, names):
    seen = set()
    for name in names:
        if name in seen:
            raise ValidationError('cloud.%s: %r is defined more than once' % (kind, name))
        seen.add(name)


def _by_name(kind, items, name):
    for item in items:
        if item.name == name:
            return item
    raise ValidationError('unknown %s %r; the cloud defines: %s'
                          % (kind, name, ', '.join(sorted(i.name for i in items)) or 'none'))
