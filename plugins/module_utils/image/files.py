# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image content on the controller: checksums, format detection, inspection of a file.

Only self-contained qcow2 and raw images are registered. The format is detected from the
content, never from the file name; content in any other known format is refused with a
message that says what it is and how to convert it. A qcow2 image is checked whole with
``qemu-img check`` (its tables, and every cluster they point to inside the file), since a
truncated or damaged image has an intact header.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import struct
from dataclasses import dataclass

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

DISK_FORMATS = ('qcow2', 'raw')
CHUNK = 1024 * 1024
# Enough of the start of a file for every magic below (ISO 9660 sits at 0x8001..0x9006).
HEAD_BYTES = 64 * 1024
# A fixed VHD carries its only footer in the last 512 bytes.
TAIL_BYTES = 512

_CHECKSUM = re.compile(r'^sha256:([0-9a-fA-F]{64})$')

QCOW_MAGIC = b'QFI\xfb'
# Known formats that are not registered: (offset, magic, what the content is, what to do).
_CONVERT = 'convert it with qemu-img convert -O qcow2 SOURCE DEST'
_DECOMPRESS = 'decompress it first'
UNSUPPORTED_MAGICS = (
    (0, b'KDMV', 'vmdk', _CONVERT),
    (0, b'# Disk DescriptorFile', 'vmdk (descriptor)', _CONVERT),
    (0, b'<<< Oracle VM VirtualBox Disk Image >>>', 'vdi', _CONVERT),
    (0x40, b'\x7f\x10\xda\xbe', 'vdi', _CONVERT),
    (0, b'vhdxfile', 'vhdx', _CONVERT),
    (0, b'conectix', 'vhd', _CONVERT),
    (0, b'QED\x00', 'qed', _CONVERT),
    (0, b'LUKS\xba\xbe', 'luks (encrypted)', 'decrypt and convert it first'),
    (0x8001, b'CD001', 'iso9660 (a CD/DVD image)', 'attach it as a CD-ROM instead'),
    (0x8801, b'CD001', 'iso9660 (a CD/DVD image)', 'attach it as a CD-ROM instead'),
    (0x9001, b'CD001', 'iso9660 (a CD/DVD image)', 'attach it as a CD-ROM instead'),
    (0, b'\x1f\x8b', 'gzip-compressed', _DECOMPRESS),
    (0, b'\xfd7zXZ\x00', 'xz-compressed', _DECOMPRESS),
    (0, b'PK\x03\x04', 'a zip archive', 'extract the image first'),
    (0, b'\x28\xb5\x2f\xfd', 'zstd-compressed', _DECOMPRESS),
)
_BZIP2 = re.compile(b'^BZh[1-9]')

# qcow2 incompatible feature bit 2: guest data lives in a separate, external file.
QCOW2_EXTERNAL_DATA_FILE = 1 << 2

# qemu-img check's exit codes: no problem, or only leaked clusters (space lost, data intact).
QEMU_IMG_CHECK_OK = (0, 3)
QEMU_IMG_PACKAGES = 'qemu-utils on Debian and Ubuntu, qemu-img on Fedora and RHEL (see bindep.txt)'


class UnsupportedFormat(ValidationError):
    """The content is in a format that is not registered."""


@dataclass(frozen=True)
class Content:
    """An image's content as the catalog describes it."""

    checksum: str
    disk_format: str
    size: int
    virtual_size: int

    def as_dict(self):
        return {'checksum': self.checksum, 'disk_format': self.disk_format,
                'size': self.size, 'virtual_size': self.virtual_size}


def parse_checksum(value):
    """``sha256:<64 hex digits>`` in lower case, from the user's spelling; None stays None."""
    if value is None:
        return None
    match = _CHECKSUM.match(str(value).strip())
    if not match:
        algorithm = str(value).split(':', 1)[0] if ':' in str(value) else None
        hint = ('only sha256 is supported, ' if algorithm and algorithm.lower() != 'sha256' else '')
        raise ValidationError('checksum must be sha256:<64 hex digits>; %sgot %r' % (hint, value))
    return 'sha256:' + match.group(1).lower()


def qcow2_header(head):
    """The fields of a qcow2 header that matter here, from the first bytes of the file."""
    if len(head) < 72:
        raise UnsupportedFormat('the content starts like qcow2 but its header is truncated '
                                '(%d bytes): unknown/unsupported format' % len(head))
    version, backing_offset = struct.unpack('>IQ', head[4:16])
    size, crypt_method = struct.unpack('>QI', head[24:36])
    incompatible = struct.unpack('>Q', head[72:80])[0] if version >= 3 and len(head) >= 80 else 0
    return {'version': version, 'backing_file_offset': backing_offset, 'size': size,
            'crypt_method': crypt_method, 'incompatible_features': incompatible}


def detect_format(head, tail=b'', source='the image'):
    """'qcow2' or 'raw' from the first (``head``) and last (``tail``) bytes of the content.

    Raw is content without any known magic. Any other known format is refused, and so is a
    qcow2 image that is not self-contained (backing file, external data file) or encrypted.
    """
    if head.startswith(QCOW_MAGIC):
        header = qcow2_header(head)
        if header['version'] not in (2, 3):
            raise UnsupportedFormat('%s is qcow version %d: unknown/unsupported format; %s'
                                    % (source, header['version'], _CONVERT))
        if header['backing_file_offset']:
            raise UnsupportedFormat('%s is a qcow2 image with a backing file; register a self-contained '
                                    'image (flatten it with qemu-img convert -O qcow2 SOURCE DEST)' % source)
        if header['incompatible_features'] & QCOW2_EXTERNAL_DATA_FILE:
            raise UnsupportedFormat('%s is a qcow2 image with an external data file; register a '
                                    'self-contained image (%s)' % (source, _CONVERT))
        if header['crypt_method']:
            raise UnsupportedFormat('%s is an encrypted qcow2 image; register an unencrypted one' % source)
        return 'qcow2'
    for offset, magic, what, advice in UNSUPPORTED_MAGICS:
        if head[offset:offset + len(magic)] == magic:
            raise _unsupported(source, what, advice)
    if _BZIP2.match(head):
        raise _unsupported(source, 'bzip2-compressed', _DECOMPRESS)
    if len(tail) >= TAIL_BYTES and tail[-TAIL_BYTES:].startswith(b'conectix'):
        raise _unsupported(source, 'vhd (fixed)', _CONVERT)
    return 'raw'


def _unsupported(source, what, advice):
    return UnsupportedFormat('%s is %s: unknown/unsupported format; only qcow2 and raw images can be '
                             'registered: %s' % (source, what, advice))


def virtual_size(disk_format, head, size):
    """The size of the disk the image holds, in bytes."""
    if disk_format == 'qcow2':
        return qcow2_header(head)['size']
    return size


def check_disk_format(stated, detected, source='the image'):
    """The user's ``disk_format``, when given, must be what the content is."""
    if stated and stated != detected:
        raise ValidationError('disk_format %s was given, but %s is %s' % (stated, source, detected))


def inspect_file(path, expected_checksum=None, stated_format=None, source=None):
    """Read a file once: its :class:`Content`, after checking ``expected_checksum`` and
    ``stated_format`` when given."""
    source = source or path
    digest = hashlib.sha256()
    head = b''
    size = 0
    try:
        with open(path, 'rb') as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                if len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                digest.update(chunk)
                size += len(chunk)
            tail = b''
            if size >= TAIL_BYTES:
                handle.seek(size - TAIL_BYTES)
                tail = handle.read(TAIL_BYTES)
    except (IOError, OSError) as err:
        raise ValidationError('cannot read %s: %s' % (source, err))
    checksum = 'sha256:' + digest.hexdigest()
    if expected_checksum and checksum != expected_checksum:
        raise ValidationError('checksum mismatch for %s: expected %s, got %s'
                              % (source, expected_checksum, checksum),
                              expected_checksum=expected_checksum, actual_checksum=checksum)
    disk_format = detect_format(head, tail, source=source)
    check_disk_format(stated_format, disk_format, source)
    return Content(checksum=checksum, disk_format=disk_format, size=size,
                   virtual_size=virtual_size(disk_format, head, size))


def _first_line(text):
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return lines[0] if lines else ''


def _json_or_none(text):
    try:
        found = json.loads(text or '')
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def qcow2_check_problem(rc, out, err):
    """What ``qemu-img check --output=json`` (exit code ``rc``, ``out``, ``err``) says is wrong
    with a qcow2 file, or None when the image is whole. (Its image-end-offset is rounded up to
    a cluster, so it says nothing about truncation; a cut file shows as corruptions.)"""
    report = _json_or_none(out) or {}
    said = _first_line(err)
    if rc not in QEMU_IMG_CHECK_OK or report.get('corruptions') or report.get('check-errors'):
        counts = ', '.join('%s %s' % (report[key], key) for key in ('corruptions', 'check-errors') if report.get(key))
        counts = ' (%s)' % counts if counts else ''
        return 'qemu-img check exited with %s%s%s' % (rc, counts, ': %s' % said if said else '')
    return None


def qcow2_info_problem(rc, out, err, content):
    """What ``qemu-img info --output=json`` says that contradicts ``content`` (the header
    read here), or None."""
    info = _json_or_none(out) if rc == 0 else None
    if info is None:
        return 'qemu-img info exited with %s: %s' % (rc, _first_line(err) or 'no JSON output')
    if info.get('format') != 'qcow2' or info.get('virtual-size') != content.virtual_size:
        return ('qemu-img info reads it as %s of virtual size %s, but its header says qcow2 of %d bytes'
                % (info.get('format'), info.get('virtual-size'), content.virtual_size))
    if ((info.get('format-specific') or {}).get('data') or {}).get('corrupt'):
        return 'qemu-img info says the image is marked corrupt'
    return None


def check_whole_image(module, path, content, image, source):
    """Refuse a qcow2 file that is not whole (``module`` runs qemu-img on the controller);
    raw content has no structure to check."""
    if content.disk_format != 'qcow2':
        return
    qemu_img = module.get_bin_path('qemu-img')
    if qemu_img is None:
        raise KvmcloudError('image %s: qemu-img is needed on the controller to check the qcow2 image %s before it '
                            'is registered; install it (%s)' % (image, source, QEMU_IMG_PACKAGES))
    rc, out, err = module.run_command([qemu_img, 'check', '--output=json', '-f', 'qcow2', path])
    problem = qcow2_check_problem(rc, out, err)
    if problem is None:
        rc, out, err = module.run_command([qemu_img, 'info', '--output=json', '-f', 'qcow2', path])
        problem = qcow2_info_problem(rc, out, err, content)
    if problem is not None:
        raise ValidationError('image %s: %s is not a whole qcow2 image (truncated or damaged): %s. Nothing was '
                              'registered; download or build the image again' % (image, source, problem),
                              qemu_img=problem)
