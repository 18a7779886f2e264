# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The time the collection records: when an image was registered, a volume or port created,
a hypervisor probed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime


def now():
    """UTC, to the second, ISO 8601 with a ``Z``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
