"""Integration tests of tests/support/testhv.py: namespaced libvirtd instances on one machine."""

import datetime
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

import testhv
from cloud_fixture import connected
from testhv_fixture import make_base_dir, skip_unless_supported

pytestmark = pytest.mark.integration

DEFINED_GUEST = """
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
</domain>
"""

# No disk and no NIC: the firmware keeps looking for a boot device, which is enough to run.
TRANSIENT_GUEST = """
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64'>hvm</type><boot dev='network'/></os>
</domain>
"""


def download(conn, volume) -> bytes:
    stream = conn.newStream(0)
    volume.download(stream, 0, 0, 0)
    chunks = []
    while chunk := stream.recv(64 * 1024):
        chunks.append(chunk)
    stream.finish()
    return b"".join(chunks)


def proc_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def is_alive(record) -> bool:
    """Whether a process recorded in state.json still runs (zombies waiting for init count as gone)."""
    fields = proc_fields(record["pid"])
    return fields is not None and fields[19] == record["starttime"] and fields[0] != "Z"


def wait_until_gone(record, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while is_alive(record):
        assert time.monotonic() < deadline, f"pid {record['pid']} still running"
        time.sleep(0.05)


def process_record(pid: int) -> dict:
    return {"pid": pid, "starttime": proc_fields(pid)[19]}


def start_transient_guest(hypervisor, name: str) -> dict:
    """Start a transient guest; returns its qemu process, recorded like the pids in state.json."""
    with connected(hypervisor["uri"]) as conn:
        conn.createXML(TRANSIENT_GUEST.format(name=name), 0)
    return process_record(int(Path(hypervisor["dir"], "run/libvirt/qemu", f"{name}.pid").read_text()))


def processes_mounting(path: Path) -> list[int]:
    """Pids of processes, in any mount namespace, whose mount table holds something from ``path``."""
    pids = []
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            if str(path) in mountinfo.read_text():
                pids.append(int(mountinfo.parent.name))
        except OSError:
            pass  # exited while we looked, or a zombie
    return pids


def run_cli(*args) -> str:
    result = subprocess.run([sys.executable, testhv.__file__, *map(str, args)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_instances_answer(test_hypervisors):
    assert [hv["name"] for hv in test_hypervisors] == ["hv0", "hv1"]
    for hv in test_hypervisors:
        assert hv["uri"] == f"qemu+unix:///system?socket={hv['socket']}"
        assert hv["socket"] == f"{hv['dir']}/run/libvirt/libvirt-sock"
        with connected(hv["uri"]) as conn:
            assert conn.getVersion() > 0
            assert conn.getType() == "QEMU"


def test_guest_defined_on_one_instance_is_invisible_on_the_other(test_hypervisors):
    first, second = test_hypervisors
    name = "kvmcloud-test-independent"
    with connected(first["uri"]) as conn_first, connected(second["uri"]) as conn_second:
        domain = conn_first.defineXML(DEFINED_GUEST.format(name=name))
        try:
            assert name in [dom.name() for dom in conn_first.listAllDomains()]
            assert name not in [dom.name() for dom in conn_second.listAllDomains()]
        finally:
            domain.undefine()


def test_pools_are_active_and_hold_the_hypervisor_record(test_hypervisors):
    for hv in test_hypervisors:
        with connected(hv["uri"]) as conn:
            for pool_name in (testhv.IMAGES_POOL, testhv.VOLUMES_POOL):
                pool = conn.storagePoolLookupByName(pool_name)
                assert pool.isActive() and pool.autostart()
                target = Path(ET.fromstring(pool.XMLDesc()).findtext("target/path"))
                assert target.parent == Path(hv["dir"], "pools") and target.is_dir()

            images = conn.storagePoolLookupByName(testhv.IMAGES_POOL)
            record = json.loads(download(conn, images.storageVolLookupByName(testhv.RECORD_VOLUME)))
            assert record["virt_type"] == "qemu"
            assert record["source"] == "testhv"
            assert datetime.datetime.fromisoformat(record["recorded_at"]).tzinfo is not None


def test_transient_guest_runs_inside_the_namespace(test_hypervisors):
    name = "kvmcloud-test-transient"
    with connected(test_hypervisors[0]["uri"]) as conn:
        domain = conn.createXML(TRANSIENT_GUEST.format(name=name), 0)
        try:
            assert domain.isActive()
            assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        finally:
            domain.destroy()
        assert name not in [dom.name() for dom in conn.listAllDomains()]


def test_cli_start_and_stop_leave_nothing_behind():
    skip_unless_supported()
    base_dir = make_base_dir()
    try:
        hypervisors = json.loads(run_cli("start", "--count", "1", "--dir", base_dir, "--prefix", "cli"))
        state = json.loads((base_dir / testhv.STATE_FILE).read_text())
        processes = [record for instance in state["instances"] for record in instance["pids"].values()]
        assert sorted(state["instances"][0]["pids"]) == ["libvirtd", "unshare", "virtlogd"]
        assert all(is_alive(record) for record in processes)
        assert len(processes_mounting(base_dir)) >= 3  # the namespace's processes see the bind mounts
        qemu = start_transient_guest(hypervisors[0], "kvmcloud-test-cli")
        assert is_alive(qemu)

        run_cli("stop", "--dir", base_dir)

        assert not any(Path(hv["socket"]).exists() for hv in hypervisors)
        assert not any(is_alive(record) for record in [*processes, qemu])
        assert not base_dir.exists()
        assert processes_mounting(base_dir) == []
    finally:
        testhv.teardown(base_dir)  # no-op unless an assertion failed half way


def test_failed_start_cleans_up_and_reports_the_log():
    skip_unless_supported()
    base_dir = make_base_dir()
    # No libvirtd answers within half a second: its first QEMU probe takes several seconds.
    hypervisors = testhv.TestHypervisors(base_dir, count=1, prefix="fail", start_timeout=0.5)
    try:
        with pytest.raises(testhv.TestHypervisorError, match="did not answer") as failure:
            hypervisors.start()
    finally:
        hypervisors.stop()  # a no-op, unless start unexpectedly succeeded
    assert "libvirtd.log ---" in str(failure.value)
    assert not base_dir.exists()
    assert processes_mounting(base_dir) == []


def test_teardown_copes_with_a_dead_libvirtd():
    skip_unless_supported()
    base_dir = make_base_dir()
    with testhv.TestHypervisors(base_dir, count=1, prefix="dead") as hypervisors:
        state = json.loads((base_dir / testhv.STATE_FILE).read_text())
        processes = list(state["instances"][0]["pids"].values())
        qemu = start_transient_guest(hypervisors[0], "kvmcloud-test-orphan")
        # A crash: libvirtd cannot clean up, and its guest keeps running in the namespace.
        libvirtd = state["instances"][0]["pids"]["libvirtd"]
        os.kill(libvirtd["pid"], signal.SIGKILL)
        wait_until_gone(libvirtd)

    assert not any(is_alive(record) for record in [*processes, qemu])
    assert not base_dir.exists()
    assert processes_mounting(base_dir) == []


FIN_FILTER = "kvmcloud-fin-host-only"


def test_a_new_instance_has_libvirts_stock_filters_and_none_of_the_hosts_own():
    """The host's own filters (its ports' and groups') stay on the host; libvirt's stock ones,
    which the collection's filters reference, come along. Uses the main hypervisor: run
    under flock /tmp/kc/main-hv.lock."""
    skip_unless_supported()
    stock = {path.stem for path in testhv.stock_nwfilters()}
    assert {"clean-traffic", "no-mac-spoofing", "allow-dhcp"} <= stock
    with connected("qemu:///system") as host:
        try:
            host.nwfilterLookupByName(FIN_FILTER).undefine()  # left over by a failed run
        except libvirt.libvirtError:
            pass
        host_filter = host.nwfilterDefineXML(f"<filter name='{FIN_FILTER}' chain='root'><filterref filter='clean-traffic'/></filter>")
        try:
            assert Path("/etc/libvirt/nwfilter", f"{FIN_FILTER}.xml").exists()
            with testhv.TestHypervisors(make_base_dir(), count=1, prefix="finf") as hypervisors:
                with connected(hypervisors[0]["uri"]) as conn:
                    names = {f.name() for f in conn.listAllNWFilters()}
            assert FIN_FILTER not in names
            assert stock <= names and "clean-traffic" in names
            assert names == stock, names ^ stock
        finally:
            host_filter.undefine()
