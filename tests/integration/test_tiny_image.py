"""The tiny guest image: built by the tiny_image role, booted under software emulation on a
namespaced test hypervisor from a qcow2 overlay with a NoCloud seed, and checked only through
its serial console log and libvirt's DHCP lease table (no traffic is ever sent to the guest)."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ansible_run import BIN, ROOT, ansible_env
from cloud_fixture import connected
from guests import read_console, seed_iso, seed_vfat, tiny_guest_xml, upload_volume, wait_for_console
from testhv_fixture import hypervisors_fixture, skip_unless_supported

pytestmark = pytest.mark.integration

tiny_hypervisors = hypervisors_fixture(count=1, prefix='tiny', scope='module', name='tiny_hypervisors')

IMAGE = ROOT / 'build' / 'images' / 'kvmcloud-tiny.qcow2'
BASE_VOLUME = 'kvmcloud-test-tiny-base.qcow2'
NETWORK = 'kvmcloud-test-net'
RESERVED_MAC = '52:54:00:7e:57:50'
RESERVED_IP = '10.123.0.50'
NETWORK_XML = f"""
<network>
  <name>{NETWORK}</name>
  <ip address='10.123.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.123.0.100' end='10.123.0.199'/>
      <host mac='{RESERVED_MAC}' ip='{RESERVED_IP}'/>
    </dhcp>
  </ip>
</network>
"""

READY_TIMEOUT = 90.0
SHUTDOWN_TIMEOUT = 30.0
SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmcloudTinyImageTestKey test@kvmcloud'


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def tiny_image():
    """The image, built (or found current) by the role through the playbook that make image runs."""
    skip_unless_supported()
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/tiny_image.yml'], cwd=ROOT,
                          env=ansible_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert IMAGE.exists()
    return IMAGE


@pytest.fixture(scope='module')
def hv(tiny_hypervisors, tiny_image):
    """The test hypervisor, with the image as a base volume and an isolated network with DHCP."""
    hypervisor = tiny_hypervisors[0]
    with connected(hypervisor['uri']) as conn:
        images = conn.storagePoolLookupByName('kvmcloud-images')
        network = None
        try:
            shutil.copyfile(tiny_image, images_dir(hypervisor) / BASE_VOLUME)
            images.refresh(0)
            network = conn.networkDefineXML(NETWORK_XML)
            network.create()
            yield dict(hypervisor, conn=conn)
        finally:
            if network is not None:
                if network.isActive():
                    network.destroy()
                network.undefine()
            images.refresh(0)
            if BASE_VOLUME in images.listVolumes():
                images.storageVolLookupByName(BASE_VOLUME).delete(0)


def images_dir(hypervisor) -> Path:
    return Path(hypervisor['dir']) / 'pools' / 'images'


def volumes_dir(hypervisor) -> Path:
    return Path(hypervisor['dir']) / 'pools' / 'volumes'


# --- guests --------------------------------------------------------------------------------------


class Guest:
    """A domain booted from an overlay on the base image; removed with its volumes by close()."""

    def __init__(self, hv, name: str, mac: str):
        self.hv = hv
        self.conn = hv['conn']
        self.name = f'kvmcloud-test-{name}'
        self.mac = mac
        self.console = Path(hv['dir']) / f'{self.name}.console.log'
        self.domain = None
        self.volumes = []
        self.xml = None

    def prepare(self, seed: bytes | None = None, seed_bus: str = 'ide') -> None:
        """Create the overlay and the seed volume (a CD-ROM on IDE, or a virtio disk) and the XML."""
        pool = self.conn.storagePoolLookupByName('kvmcloud-volumes')
        overlay = volumes_dir(self.hv) / f'{self.name}.qcow2'
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2',
                        '-b', str(images_dir(self.hv) / BASE_VOLUME), str(overlay)], check=True)
        pool.refresh(0)
        self.volumes.append(pool.storageVolLookupByName(overlay.name))
        seed_path = None
        if seed is not None:
            volume = upload_volume(self.conn, pool, f'{self.name}-seed.img', seed)
            self.volumes.append(volume)
            seed_path = volume.path()
        self.xml = tiny_guest_xml(self.name, overlay, self.console, seed=seed_path, seed_bus=seed_bus,
                                  interfaces=[(NETWORK, self.mac, None)], append=False)

    def start(self) -> float:
        self.domain = self.conn.defineXML(self.xml)
        started = time.monotonic()
        self.domain.create()
        return started

    def console_text(self) -> str:
        return read_console(self.console)

    def wait_for_console(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match:
        return wait_for_console(self.console, pattern, timeout)

    def shutdown_and_wait(self) -> float:
        """Ask for an ACPI shutdown as libvirt does by default; seconds until the domain stopped."""
        asked = time.monotonic()
        self.domain.shutdown()
        while self.domain.isActive():
            assert time.monotonic() - asked < SHUTDOWN_TIMEOUT, (
                f'{self.name} still running {SHUTDOWN_TIMEOUT:.0f} s after the shutdown request:\n'
                f'{self.console_text()[-2000:]}')
            time.sleep(0.25)
        return time.monotonic() - asked

    def close(self) -> None:
        if self.domain is not None:
            if self.domain.isActive():
                self.domain.destroy()
            self.domain.undefine()
        for volume in self.volumes:
            volume.delete(0)
        self.console.unlink(missing_ok=True)


@pytest.fixture
def guests(hv):
    made = []

    def make(name: str, mac: str, seed: bytes | None = None, seed_bus: str = 'ide') -> Guest:
        guest = Guest(hv, name, mac)
        made.append(guest)  # before prepare(): close() removes whatever prepare() made
        guest.prepare(seed, seed_bus)
        return guest

    yield make
    for guest in made:
        guest.close()


def lease_for(hv, mac: str, timeout: float = 10.0):
    """libvirt's DHCP lease of mac on the test network, or None once timeout has passed."""
    network = hv['conn'].networkLookupByName(NETWORK)
    deadline = time.monotonic() + timeout
    while True:
        leases = [lease for lease in network.DHCPLeases() if lease['mac'] == mac]
        if leases or time.monotonic() >= deadline:
            return leases[0] if leases else None
        time.sleep(0.25)


def runcmd_output(guest: Guest, index) -> list[str]:
    return re.findall(rf'^kvmcloud-runcmd {index} \| (.*?)\s*$', guest.console_text(), re.MULTILINE)


# --- tests ---------------------------------------------------------------------------------------

USER_DATA = f"""#cloud-config
hostname: tiny-iso
ssh_authorized_keys:
  - {SSH_KEY}
write_files:
  - path: /etc/kvmcloud-test/hello.txt
    permissions: '0600'
    content: |
      hello from write_files
      second line
runcmd:
  - echo "runcmd says: hi"
  - [cat, /etc/kvmcloud-test/hello.txt]
  - stat -c %a /etc/kvmcloud-test/hello.txt; cat /root/.ssh/authorized_keys
  - exit 3
"""


def test_iso_seed_configures_the_guest_and_dhcp_gives_its_reserved_address(hv, guests):
    guest = guests('tiny-iso', RESERVED_MAC, seed_iso({
        'meta-data': 'instance-id: iid-tiny-iso\nlocal-hostname: not-this-one\n',
        'user-data': USER_DATA,
    }))
    started = guest.start()
    guest.wait_for_console(r'^kvmcloud-ready iid-tiny-iso$')
    boot_seconds = time.monotonic() - started
    console = guest.console_text()

    assert re.search(r'^kvmcloud-seed /dev/sr0$', console, re.MULTILINE), console
    assert re.search(r'^kvmcloud-hostname tiny-iso$', console, re.MULTILINE), console
    assert re.search(rf'^kvmcloud-iface eth0 {RESERVED_MAC} {RESERVED_IP}/24$', console, re.MULTILINE), console
    assert re.search(r'^kvmcloud-runcmd 0 rc=0$', console, re.MULTILINE), console
    assert runcmd_output(guest, 0) == ['runcmd says: hi']
    # write_files wrote the file with its content and mode, ssh_authorized_keys the key.
    assert re.search(r'^kvmcloud-runcmd 1 rc=0$', console, re.MULTILINE), console
    assert runcmd_output(guest, 1) == ['hello from write_files', 'second line']
    assert runcmd_output(guest, 2) == ['600', SSH_KEY]
    assert re.search(r'^kvmcloud-runcmd 3 rc=3$', console, re.MULTILINE), console

    lease = lease_for(hv, RESERVED_MAC)
    assert lease is not None and lease['ipaddr'] == RESERVED_IP
    assert lease['hostname'] == 'tiny-iso'

    shutdown_seconds = guest.shutdown_and_wait()
    assert 'kvmcloud-poweroff' in guest.console_text()
    print(f'tiny-iso: ready {boot_seconds:.1f} s after start, off {shutdown_seconds:.1f} s after shutdown')


def test_vfat_seed_network_config_sets_a_static_address_and_dns_without_dhcp(hv, guests, tmp_path):
    mac = '52:54:00:7e:57:60'
    guest = guests('tiny-vfat', mac, seed_vfat({
        # The JSON form of meta-data; the hostname comes from it.
        'meta-data': '{"instance-id": "iid-tiny-vfat", "local-hostname": "tiny-vfat"}\n',
        'network-config': f"""version: 2
ethernets:
  uplink:
    match:
      macaddress: "{mac.upper()}"
    set-name: lan0
    addresses: [10.123.0.60/24]
    gateway4: 10.123.0.1
    nameservers:
      addresses: [10.123.0.1]
      search: [tiny.test]
""",
        'user-data': '#cloud-config\nruncmd:\n  - ip route\n  - cat /etc/resolv.conf\n',
    }, tmp_path), seed_bus='virtio')
    guest.start()
    guest.wait_for_console(r'^kvmcloud-ready iid-tiny-vfat$')
    console = guest.console_text()

    assert re.search(r'^kvmcloud-seed /dev/vdb$', console, re.MULTILINE), console
    assert re.search(r'^kvmcloud-hostname tiny-vfat$', console, re.MULTILINE), console
    assert re.search(rf'^kvmcloud-iface lan0 {mac} 10\.123\.0\.60/24$', console, re.MULTILINE), console
    assert 'default via 10.123.0.1 dev lan0' in runcmd_output(guest, 0)
    assert runcmd_output(guest, 1) == ['nameserver 10.123.0.1', 'search tiny.test']
    # A static address: the guest never asked libvirt's DHCP server.
    assert lease_for(hv, mac, timeout=0) is None

    guest.shutdown_and_wait()


def test_no_seed_uses_defaults_and_dhcp(hv, guests):
    mac = '52:54:00:7e:57:70'  # no reservation: an address from the range
    guest = guests('tiny-noseed', mac)
    guest.start()
    guest.wait_for_console(r'^kvmcloud-ready nocloud$')
    console = guest.console_text()

    assert re.search(r'^kvmcloud-seed none$', console, re.MULTILINE), console
    assert re.search(r'^kvmcloud-hostname kvmcloud-tiny$', console, re.MULTILINE), console
    match = re.search(rf'^kvmcloud-iface eth0 {mac} (10\.123\.0\.1\d\d)/24$', console, re.MULTILINE)
    assert match, console
    lease = lease_for(hv, mac)
    assert lease is not None and lease['ipaddr'] == match[1]

    guest.shutdown_and_wait()


def test_script_user_data_runs_and_its_exit_code_shows(hv, guests):
    guest = guests('tiny-script', '52:54:00:7e:57:80', seed_iso({
        'meta-data': 'instance-id: iid-tiny-script\n',
        'user-data': '#!/bin/sh\necho "script on $(hostname)"\nexit 7\n',
    }), seed_bus='virtio')
    guest.start()
    guest.wait_for_console(r'^kvmcloud-ready iid-tiny-script$')

    assert re.search(r'^kvmcloud-runcmd script rc=7$', guest.console_text(), re.MULTILINE)
    assert runcmd_output(guest, 'script') == ['script on kvmcloud-tiny']
