# -*- coding: utf-8 -*-
"""Disk image headers for the image tests (test_images.py and test_image_service.py)."""

import struct


def qcow2(version=3, size=64 * 1024 * 1024, backing=0, crypt=0, incompatible=0):
    """A qcow2 header as qemu-img writes it (the fields that matter), padded."""
    header = b'QFI\xfb' + struct.pack('>IQIIQI', version, backing, 0, 16, size, crypt)
    header = header.ljust(72, b'\0') + struct.pack('>Q', incompatible)
    return header.ljust(4096, b'\0')
