# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Downloads on the controller: streamed to a file while hashing, resumed when the
connection drops, and refused unless complete and matching the expected checksum."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
import socket
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError

CHUNK = 1024 * 1024
# Requests per download: the first one, then resumes after the connection dropped.
ATTEMPTS = 3
USER_AGENT = 'kvmcloud.cloud-image'

_CONTENT_RANGE = re.compile(r'^bytes (\d+)-(\d+)/(\d+|\*)$')


URL_SCHEMES = ('http', 'https')


class DownloadError(KvmcloudError):
    """A download failed, came in short or did not match its checksum."""


def check_url(url):
    """Only HTTP(S) URLs are downloaded: a ``file://`` URL would read any file of the
    controller under another option's name, and other schemes are not supported."""
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise ValidationError('url %r is not a valid URL: %s' % (url, err))
    scheme, host = parts.scheme.lower(), parts.netloc
    if scheme == 'file':
        raise ValidationError('url %s is a file:// URL; url takes http:// and https:// URLs only. For a file on the '
                              'controller, give its path as filename instead' % url)
    if scheme not in URL_SCHEMES or not host:
        raise ValidationError('url %r is not an http:// or https:// URL with a host; only HTTP(S) downloads are '
                              'supported (for a file on the controller, use filename)' % url)
    return url


def _total_of(response, offset):
    """The full length of the content, or None when the server does not say."""
    if response.getcode() == 206:
        match = _CONTENT_RANGE.match(response.headers.get('Content-Range', ''))
        if not match or int(match.group(1)) != offset:
            return None
        return int(match.group(3)) if match.group(3) != '*' else None
    length = response.headers.get('Content-Length')
    return int(length) if length and length.isdigit() else None


def download(url, path, expected_checksum, validate_certs=True, timeout=60, opener=None, attempts=ATTEMPTS):
    """Download ``url`` into the file ``path`` and return its size in bytes.

    A dropped connection is resumed with a range request when the server supports it, and
    started over when it does not. Raises :class:`DownloadError` when the content stays short
    of its Content-Length, or when its sha256 is not ``expected_checksum`` (``sha256:<hex>``).
    ``opener`` is ``open_url``'s stand-in for tests.
    """
    if opener is None:
        # Imported here: it costs every run of the image module about 0.1 s, and most runs
        # download nothing.
        from ansible.module_utils.urls import open_url as opener
    digest = hashlib.sha256()
    received = 0
    total = None
    with open(path, 'wb') as out:
        for _attempt in range(attempts):
            headers = {'Accept-Encoding': 'identity'}
            if received:
                headers['Range'] = 'bytes=%d-' % received
            try:
                response = opener(url, headers=headers, validate_certs=validate_certs, timeout=timeout,
                                  http_agent=USER_AGENT, decompress=False)
            except HTTPError as err:
                raise DownloadError('downloading %s failed: HTTP %s %s' % (url, err.code, err.reason),
                                    status=err.code)
            except (URLError, HTTPException, socket.timeout, OSError, ValueError) as err:
                raise DownloadError('downloading %s failed: %s' % (url, getattr(err, 'reason', err)))
            resumed = received and response.getcode() == 206
            if received and not resumed:
                # The server sent the whole content again: start over.
                out.seek(0)
                out.truncate()
                digest = hashlib.sha256()
                received = 0
            total = _total_of(response, received)
            try:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
            except (HTTPException, socket.timeout, OSError):
                pass  # the connection dropped: resume below if the length says it is short
            finally:
                response.close()
            if total is None or received >= total:
                break
    actual = 'sha256:' + digest.hexdigest()
    if total is not None and received < total:
        raise DownloadError(
            'download of %s is truncated: received %d of %d bytes (Content-Length) after %d attempts; '
            'expected checksum %s, the received bytes have %s'
            % (url, received, total, attempts, expected_checksum, actual),
            expected_checksum=expected_checksum, actual_checksum=actual, received=received, expected_size=total)
    if actual != expected_checksum:
        raise DownloadError('checksum mismatch for %s: expected %s, got %s' % (url, expected_checksum, actual),
                            expected_checksum=expected_checksum, actual_checksum=actual)
    return received
