"""Guests for integration tests: NoCloud seeds built in memory, volumes uploaded through
libvirt, and serial console logs read until a marker shows."""

import io
import os
import re
import subprocess
import time
from pathlib import Path

import pycdlib

# upload_volume is part of this module's interface for the tests.
from testhv import upload_volume  # noqa: F401  pylint: disable=unused-import


def seed_iso(files: dict) -> bytes:
    """A NoCloud seed as cloud-localds makes it: ISO 9660 with Joliet and Rock Ridge, volume id cidata."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge='1.09', vol_ident='cidata')
    for name, text in files.items():
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), '/%s.;1' % name.upper().replace('-', '_'),
                   rr_name=name, joliet_path='/' + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def seed_vfat(files: dict, workdir: Path) -> bytes:
    """A NoCloud seed on a FAT file system labelled CIDATA."""
    image = workdir / 'seed.img'
    subprocess.run(['mkfs.vfat', '-C', '-n', 'CIDATA', str(image), '1024'], check=True, capture_output=True)
    for name, text in files.items():
        (workdir / name).write_text(text)
    subprocess.run(['mcopy', '-i', str(image), *[str(workdir / name) for name in files], '::/'], check=True,
                   capture_output=True, env=dict(os.environ, MTOOLS_SKIP_CHECK='1'))
    return image.read_bytes()


def read_console(path: Path) -> str:
    """The console log so far, with the serial line's carriage returns dropped."""
    try:
        return Path(path).read_text(errors='replace').replace('\r', '')
    except FileNotFoundError:
        return ''


def wait_for_console(path: Path, pattern: str, timeout: float, after: int = 0) -> re.Match:
    """The first match of ``pattern`` (multi-line) past offset ``after`` of the console log."""
    deadline = time.monotonic() + timeout
    while True:
        match = re.compile(pattern, re.MULTILINE).search(read_console(path), after)
        if match:
            return match
        assert time.monotonic() < deadline, (
            f'{pattern!r} not on the console within {timeout:.0f} s:\n{read_console(path)[-3000:]}')
        time.sleep(0.25)


def tiny_guest_xml(name: str, root: str, console, seed: str | None = None, seed_bus: str = 'ide',
                   interfaces: tuple = (), append: bool = True) -> str:
    """Domain XML of a tiny guest under software emulation: 128 MiB, the root overlay on virtio,
    the NoCloud seed as an IDE CD-ROM or a read-only virtio disk, ``interfaces`` as
    ``(network, mac, filter or None)``, and the serial console logged to ``console``.

    ``<acpi/>`` matters: without it libvirt turns ACPI off, and with it the power button.
    """
    seed_disk = ''
    if seed is not None and seed_bus == 'ide':
        seed_disk = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{seed}'/>"
                     "<target dev='hdc' bus='ide'/><readonly/></disk>")
    elif seed is not None:
        seed_disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{seed}'/>"
                     "<target dev='vdb' bus='virtio'/><readonly/></disk>")
    nics = ''.join(
        f"<interface type='network'><source network='{network}'/><mac address='{mac}'/><model type='virtio'/>"
        + (f"<filterref filter='{nwfilter}'/>" if nwfilter else '') + "</interface>"
        for network, mac, nwfilter in interfaces)
    return f"""
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{root}'/><target dev='vda' bus='virtio'/></disk>
    {seed_disk}
    {nics}
    <serial type='pty'><log file='{console}' append='{'on' if append else 'off'}'/><target port='0'/></serial>
  </devices>
</domain>"""
