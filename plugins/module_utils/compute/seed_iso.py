# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ISO 9660 image labelled ``cidata`` that carries a server's NoCloud seed, written and
read in memory with pycdlib.

pycdlib is imported lazily: a controller without it gets a clear error when a seed image is
built, never an import failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import re

from ansible_collections.kvmcloud.cloud.plugins.module_utils.compute.seeds import check_files
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError

try:
    import pycdlib
except ImportError:  # reported by require_pycdlib() when an ISO is built or read
    pycdlib = None

VOLUME_ID = 'cidata'


def require_pycdlib():
    """Raise a clear error when the pycdlib Python library is missing on the controller."""
    if pycdlib is None:
        raise KvmcloudError(
            'the pycdlib Python library is required to build cloud-init seed images; '
            'install it on the controller (pip install pycdlib, or the python3-pycdlib package)')


def _iso9660_name(name):
    """The plain ISO 9660 name of a seed file: ``META_DATA.;1`` (level 3 allows no ``-``)."""
    return '/%s.;1' % re.sub(r'[^A-Z0-9_]', '_', name.upper())


def build_iso(files):
    """The seed as ISO 9660 bytes with Joliet and Rock Ridge, volume id ``cidata``.

    Built in memory, as ``cloud-localds`` makes it; the guest reads the Rock Ridge names
    (``meta-data``...). The image carries the time it was built, so a changed seed is told by
    :func:`seed_hash` of its files, not by these bytes.
    """
    check_files(files)
    require_pycdlib()
    out = io.BytesIO()
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge='1.09', vol_ident=VOLUME_ID)
    try:
        for name in sorted(files):
            data = files[name].encode('utf-8')
            iso.add_fp(io.BytesIO(data), len(data), _iso9660_name(name), rr_name=name,
                       joliet_path='/' + name)
        iso.write_fp(out)
    except pycdlib.pycdlibexception.PyCdlibException as err:
        raise KvmcloudError('cannot build the cloud-init seed image: %s' % err)
    finally:
        iso.close()
    return out.getvalue()


def _root_files(iso):
    """``(name, path keyword, path)`` of the files in the root of ``iso``: Rock Ridge names
    when there are, else Joliet ones, else ISO 9660 ones turned back into ``meta-data``."""
    if iso.has_rock_ridge():
        keyword = 'rr_path'
    elif iso.has_joliet():
        keyword = 'joliet_path'
    else:
        keyword = 'iso_path'
    found = []
    for child in iso.list_children(**{keyword: '/'}):
        if child.is_dot() or child.is_dotdot() or child.is_dir():
            continue
        path = iso.full_path_from_dirrecord(child, rockridge=keyword == 'rr_path')
        name = path.rsplit('/', 1)[-1]
        if keyword == 'iso_path':  # META_DATA.;1 -> meta-data
            name = name.split(';')[0].rstrip('.').lower().replace('_', '-')
        found.append((name, keyword, path))
    return found


def read_iso(data):
    """The files in the root of a seed ISO, ``{name: text}``: the inverse of :func:`build_iso`."""
    require_pycdlib()
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
    except pycdlib.pycdlibexception.PyCdlibException as err:
        raise KvmcloudError('the cloud-init seed is not a readable ISO 9660 image: %s' % err)
    try:
        files = {}
        for name, keyword, path in _root_files(iso):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, **{keyword: path})
            try:
                files[name] = out.getvalue().decode('utf-8')
            except UnicodeDecodeError:
                raise KvmcloudError('the cloud-init seed file %s is not UTF-8 text' % name)
        return files
    except pycdlib.pycdlibexception.PyCdlibException as err:
        raise KvmcloudError('the cloud-init seed cannot be read: %s' % err)
    finally:
        iso.close()
