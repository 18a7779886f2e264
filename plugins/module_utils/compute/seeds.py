# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NoCloud seed of a server: its three files and their hash (the ISO that carries them
is :mod:`.seed_iso`).

:func:`seed_files` renders ``meta-data``, ``user-data`` (the user's data with the keypair's
public keys merged in) and ``network-config`` (version 2). :func:`seed_hash` is the hash kept
in the server's metadata to see a changed seed; it covers the files, not the ISO bytes.

Every YAML file is written for the smallest reader the project has, the tiny guest's
``cloud-config.awk``, and for cloud-init alike: block style, one line per scalar except
literal ``|`` blocks, no anchors, aliases or tags.

PyYAML is imported lazily: a controller without it gets a clear error when a seed is rendered,
never an import failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import ipaddress
import json
import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core import names
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

try:
    import yaml
except ImportError:  # reported by require_yaml() when a seed is rendered
    yaml = None

SEED_FILE_NAMES = ('meta-data', 'user-data', 'network-config')

# The three files together, in bytes: a seed is a config drive, not a way to ship data.
SEED_MAX_BYTES = 64 * 1024


CLOUD_CONFIG_HEADER = '#cloud-config'
SCRIPT_HEADER = '#!'

# Default routes are written "to: 0.0.0.0/0" rather than "to: default", which cloud-init
# before 22.3 refuses; the tiny guest and netplan read both.
_DEFAULT_ROUTE = {4: '0.0.0.0/0', 6: '::/0'}

_CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')


def require_yaml():
    """Raise a clear error when the PyYAML Python library is missing on the controller."""
    if yaml is None:
        raise KvmcloudError(
            'the PyYAML Python library is required to render cloud-init seeds; '
            'install it on the controller (pip install PyYAML, or the python3-yaml package)')


# --- YAML ----------------------------------------------------------------------------------

if yaml is not None:
    class _SeedDumper(yaml.SafeDumper):
        """A SafeDumper that writes what cloud-config.awk reads.

        Shared objects are written twice instead of as anchors and aliases, and a multi-line
        string is a literal ``|`` block where YAML allows one (double-quoted on one line
        otherwise), never a quoted scalar folded over several lines.
        """

        def ignore_aliases(self, data):
            return True

        def represent_str(self, data):
            style = None
            if '\n' in data:
                # A first line that starts with a blank needs an indentation indicator, which
                # the awk reader does not honour. PyYAML turns '|' into '"' where YAML
                # allows no literal block (trailing blanks, control characters, keys).
                style = '"' if data[:1] in (' ', '\t') else '|'
            return self.represent_scalar('tag:yaml.org,2002:str', data, style=style)

    _SeedDumper.add_representer(str, _SeedDumper.represent_str)


def _dump(data, what):
    """``data`` as block-style YAML with sorted keys, each scalar on one line."""
    require_yaml()
    try:
        # yaml.safe_dump with a SafeDumper of our own; no width, so no line is ever folded.
        return yaml.dump(data, Dumper=_SeedDumper, default_flow_style=False, sort_keys=True,
                         allow_unicode=True, width=float('inf'))
    except (yaml.YAMLError, TypeError) as err:
        raise ValidationError('%s cannot be written as YAML: %s' % (what, err))


# --- meta-data -----------------------------------------------------------------------------

def _check_instance_id(instance_id):
    if not isinstance(instance_id, str) or not instance_id.strip() or _CONTROL_RE.search(instance_id):
        raise ValidationError('invalid instance id %r: expected a non-empty string on one line, '
                              'such as the server UUID' % (instance_id,))
    return instance_id.strip()


def _check_hostname(hostname):
    if not names.is_dns_name(hostname):
        raise ValidationError('invalid hostname %r: expected DNS labels of letters, digits and '
                              'hyphens separated by dots, such as web-1 or web-1.example.org'
                              % (hostname,))
    return hostname


def _meta_data(instance_id, hostname):
    return _dump({'instance-id': instance_id, 'local-hostname': hostname}, 'meta-data')


# --- user-data -----------------------------------------------------------------------------

def _check_public_keys(public_keys):
    if isinstance(public_keys, str):
        public_keys = [public_keys]
    keys = []
    for key in public_keys or ():
        if not isinstance(key, str) or not key.strip() or len(key.strip().splitlines()) > 1:
            raise ValidationError('invalid public key %r: expected one OpenSSH public key on one line'
                                  % (key,))
        keys.append(key.strip())
    return keys


def _key_id(key):
    """Two keys that differ only in whitespace are the same key."""
    return ' '.join(key.split())


def _yaml_problem(err):
    """What is wrong with a YAML text and where, without quoting the text: user data may hold
    secrets, and an error message is shown."""
    mark = getattr(err, 'problem_mark', None) or getattr(err, 'context_mark', None)
    problem = getattr(err, 'problem', None) or getattr(err, 'context', None) or type(err).__name__
    where = ' at line %d, column %d' % (mark.line + 1, mark.column + 1) if mark is not None else ''
    return '%s%s' % (problem, where)


def _parse_cloud_config(text):
    require_yaml()
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError('user_data is not valid #cloud-config YAML: %s' % _yaml_problem(err))
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ValidationError('user_data #cloud-config must be a mapping of cloud-config keys, '
                              'not a %s' % type(config).__name__)
    return config


def _merge_keys(config, public_keys):
    """``config`` with ``public_keys`` appended to its ``ssh_authorized_keys``, no duplicates."""
    if not public_keys:
        return config
    own = config.get('ssh_authorized_keys')
    if own is None:
        own = []
    if not isinstance(own, list) or not all(isinstance(key, str) for key in own):
        raise ValidationError('user_data ssh_authorized_keys must be a list of public keys, not %r'
                              % (own,))
    merged, seen = [], set()
    for key in own + public_keys:
        if _key_id(key) not in seen:
            seen.add(_key_id(key))
            merged.append(key)
    config['ssh_authorized_keys'] = merged
    return config


def _user_data(user_data, public_keys):
    if isinstance(user_data, str) and user_data.startswith(SCRIPT_HEADER):
        if public_keys:
            raise ValidationError(
                'user_data is a #! script and the server has a keypair: a NoCloud seed here has '
                'no multi-part user data to carry both. Write user_data as #cloud-config '
                '(the script under runcmd, or in write_files and run from runcmd) so that the '
                'public keys can be added to ssh_authorized_keys, or create the server without '
                'a keypair')
        return user_data
    if user_data is None or (isinstance(user_data, str) and not user_data.strip()):
        config = {}
    elif isinstance(user_data, dict):
        config = copy.deepcopy(user_data)
    elif isinstance(user_data, str) and user_data.lstrip().startswith(CLOUD_CONFIG_HEADER):
        config = _parse_cloud_config(user_data)
    elif isinstance(user_data, str):
        # Its first line is not quoted: user data may hold secrets.
        raise ValidationError(
            'user_data must start with #cloud-config (a cloud-config YAML document) or #! '
            '(a script); its first line starts with neither. MIME multi-part, #include and other '
            'cloud-init formats are not supported')
    else:
        raise ValidationError('user_data must be a cloud-config mapping or a string, not %s'
                              % type(user_data).__name__)
    config = _merge_keys(config, public_keys)
    return '%s\n%s' % (CLOUD_CONFIG_HEADER, _dump(config, 'user_data'))


# --- network-config ------------------------------------------------------------------------

def _mac(value, where):
    mac = names.plain_mac(value) if isinstance(value, str) else None
    if not names.is_mac(mac):
        raise ValidationError('%s: invalid mac %r: expected six hex octets such as 52:54:00:12:34:56'
                              % (where, value))
    return mac


def _ip(value, what, where):
    try:
        return ipaddress.ip_address(value.strip() if isinstance(value, str) else '')
    except ValueError:
        raise ValidationError('%s: invalid %s %r: expected an IP address such as 10.0.0.5'
                              % (where, what, value))


def _interface_address(port, where):
    """``ip``/``prefix`` of a static interface as an ``ipaddress`` interface."""
    ip = _ip(port.get('ip'), 'ip', where)
    prefix = port.get('prefix')
    if isinstance(prefix, str) and prefix.strip().isdigit():
        prefix = int(prefix)
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not 0 < prefix <= ip.max_prefixlen:
        raise ValidationError('%s: invalid prefix %r for %s: expected a prefix length from 1 to %d'
                              % (where, prefix, ip, ip.max_prefixlen))
    return ipaddress.ip_interface('%s/%d' % (ip, prefix))


def _ethernet(port, name, want_gateway, where):
    """One ``ethernets`` entry, and whether it took the default route."""
    if not isinstance(port, dict):
        raise ValidationError('%s: expected a mapping with mac, ip, prefix, gateway, dns_servers '
                              'and dhcp, not %r' % (where, port))
    entry = {'match': {'macaddress': _mac(port.get('mac'), where)}, 'set-name': name}
    dhcp = port.get('dhcp', True)
    if not isinstance(dhcp, bool):
        raise ValidationError('%s: dhcp must be true or false, not %r' % (where, dhcp))
    gateway = port.get('gateway')
    if dhcp:
        # Address, route and name servers come from the DHCP reservation.
        entry['dhcp4'] = True
        return entry, gateway is not None
    address = _interface_address(port, where)
    entry['addresses'] = [str(address)]
    if gateway is not None:
        via = _ip(gateway, 'gateway', where)
        if via not in address.network:
            raise ValidationError('%s: gateway %s is not in %s' % (where, via, address.network))
        if want_gateway:
            entry['routes'] = [{'to': _DEFAULT_ROUTE[via.version], 'via': str(via)}]
    dns_servers = port.get('dns_servers') or []
    if not isinstance(dns_servers, (list, tuple)):
        raise ValidationError('%s: dns_servers must be a list of addresses, not %r' % (where, dns_servers))
    if dns_servers:
        entry['nameservers'] = {'addresses': [str(_ip(server, 'dns server', where)) for server in dns_servers]}
    return entry, gateway is not None


def _network_config(interfaces):
    ethernets, macs = {}, set()
    want_gateway = True
    for index, port in enumerate(interfaces or ()):
        name = 'eth%d' % index
        entry, has_gateway = _ethernet(port, name, want_gateway, 'interface %d (%s)' % (index, name))
        mac = entry['match']['macaddress']
        if mac in macs:
            raise ValidationError('interface %d (%s): mac %s is given twice' % (index, name, mac))
        macs.add(mac)
        # One default route: the first interface with a gateway has it (through DHCP or not).
        want_gateway = want_gateway and not has_gateway
        ethernets[name] = entry
    return _dump({'version': 2, 'ethernets': ethernets}, 'network-config')


# --- the seed ------------------------------------------------------------------------------

def seed_files(instance_id, hostname, user_data=None, public_keys=(), interfaces=()):
    """The NoCloud seed files of a server: ``{'meta-data', 'user-data', 'network-config'}``.

    ``user_data`` is ``None``, a cloud-config mapping, ``#cloud-config`` text or a ``#!``
    script; ``public_keys`` (the keypair's) are appended to its ``ssh_authorized_keys``.
    ``interfaces`` are dicts of ``mac``, ``dhcp`` (default true: the fixed address is a DHCP
    reservation) and, for static ones, ``ip``, ``prefix``, ``gateway`` and ``dns_servers``;
    they become ``eth0``, ``eth1``... in the order given, matched by MAC.
    """
    instance_id = _check_instance_id(instance_id)
    hostname = _check_hostname(hostname)
    public_keys = _check_public_keys(public_keys)
    files = {
        'meta-data': _meta_data(instance_id, hostname),
        'user-data': _user_data(user_data, public_keys),
        'network-config': _network_config(interfaces),
    }
    size = sum(len(text.encode('utf-8')) for text in files.values())
    if size > SEED_MAX_BYTES:
        raise ValidationError(
            'the cloud-init seed of %s would be %d bytes, over the limit of %d (64 KiB) for '
            'meta-data, user-data and network-config together; user-data alone is %d bytes. '
            'Fetch large content from the network in runcmd instead'
            % (hostname, size, SEED_MAX_BYTES, len(files['user-data'].encode('utf-8'))))
    return files


# cloud-init's vendor-data: kvmcloud's own part of the seed, beside the user's user-data. It
# installs a per-boot script that, once cloud-init has finished that boot (its result.json is
# written, whatever the user's final_message or user-data) and what it wrote is synced to disk,
# prints one line on the serial console:
#   kvmcloud-cloud-init <instance id> <result.json on one line>
# which the compute engine waits for (wait_for_cloud_init). It is not part of seed_hash: it is
# the collection's, not the server's, and a server created before it existed is not changed.
VENDOR_DATA_NAME = 'vendor-data'
CLOUD_INIT_MARKER = 'kvmcloud-cloud-init'
HOST_KEY_MARKER = 'kvmcloud-host-key'
VENDOR_DATA = r"""#!/bin/sh
# kvmcloud: at every boot, say on the serial console when cloud-init has finished, and how.
script=/var/lib/cloud/scripts/per-boot/kvmcloud-cloud-init-report
mkdir -p "${script%/*}"
cat > "$script" <<'SCRIPT'
#!/bin/sh
# kvmcloud: once cloud-init has finished this boot, print its result on the serial console.
(
    i=0
    while [ ! -s /run/cloud-init/result.json ] && [ "$i" -lt 7200 ]; do sleep 0.5; i=$((i + 1)); done
    id=$(cat /var/lib/cloud/data/instance-id 2>/dev/null || echo unknown)
    result=$(tr -d '\n' < /run/cloud-init/result.json 2>/dev/null || echo '{}')
    # The guest's SSH host keys, for the controller's known_hosts.
    for key in /etc/ssh/ssh_host_*_key.pub; do
        [ -s "$key" ] && printf '\n%s %s %s\n' kvmcloud-host-key "$id" "$(cut -d ' ' -f 1-2 "$key")" > /dev/ttyS0
    done
    # What cloud-init wrote (host keys, users, files) is on disk before it is said to be done.
    sync
    printf '\n%s %s %s\n' kvmcloud-cloud-init "$id" "$result" > /dev/ttyS0
) < /dev/null > /dev/null 2>&1 &
SCRIPT
chmod 0755 "$script"
"""


def iso_files(files):
    """The files a server's seed ISO carries: its seed ``files`` and kvmcloud's vendor-data."""
    return dict(files, **{VENDOR_DATA_NAME: VENDOR_DATA})


def cloud_init_result(text, instance_id):
    """What the vendor-data's report line for ``instance_id`` in the console ``text`` says:
    ``None`` before it shows, else ``{'status': 'done' or 'error', 'errors': [...],
    'datasource': ...}`` from cloud-init's result.json (an unreadable one is an error)."""
    prefix = '%s %s ' % (CLOUD_INIT_MARKER, instance_id)
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(prefix):
            continue
        try:
            v1 = json.loads(line[len(prefix):])['v1']
            errors = [str(e) for e in v1.get('errors') or []]
            datasource = v1.get('datasource')
        except (ValueError, KeyError, TypeError, AttributeError):
            errors = ['cloud-init finished, and its result could not be read from the console: %s'
                      % line[len(prefix):][:200]]
            datasource = None
        return {'status': 'error' if errors else 'done', 'errors': errors, 'datasource': datasource,
                'host_keys': host_keys_of(text, instance_id)}
    return None


def host_keys_of(text, instance_id):
    """The SSH host keys (``<type> <base64>``) the report of ``instance_id`` printed on the
    console ``text`` before its cloud-init line, sorted, each once."""
    prefix = '%s %s ' % (HOST_KEY_MARKER, instance_id)
    keys = set()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(prefix):
            fields = line[len(prefix):].split()
            if len(fields) == 2 and fields[0].startswith(('ssh-', 'ecdsa-')):
                keys.add(' '.join(fields))
    return sorted(keys)


def check_files(files):
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and isinstance(text, str) for name, text in files.items()):
        raise ValidationError('seed files must be a mapping of file names to text, not %r' % (files,))


def seed_hash(files):
    """The sha256 (hex) of the seed's files: names and contents, in a canonical form."""
    check_files(files)
    canonical = json.dumps(sorted(files.items()), ensure_ascii=False, separators=(',', ':'))
    return hashlib.sha256(canonical.encode('utf-8')).hexdigest()
