#!/usr/bin/env python
"""Independent libvirtd instances on one machine, for integration tests.

Each instance runs its own virtlogd and libvirtd inside a private mount and network
namespace (``unshare --mount --net``). Inside it, /run is a tmpfs, /sys a sysfs of its
own, and /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and
/var/cache/libvirt are bind mounts of directories under ``<base_dir>/<name>/`` that
mirror the host layout (the host's own libvirt configuration seeds etc/). The daemon's
socket therefore shows up in the main namespace as
``<base_dir>/<name>/run/libvirt/libvirt-sock`` and the instance is reachable as
``qemu+unix:///system?socket=<that path>``.

Every instance gets two active, autostarted ``dir`` pools (``kvmcloud-images`` and
``kvmcloud-volumes``) and, in ``kvmcloud-images``, the volume
``kvmcloud-hypervisor.json`` that records the virtualisation type as the collection does.

Library use::

    with TestHypervisors("/tmp/kvmcloud-testhv-x", count=2) as hypervisors:
        ...  # each: {"name", "uri", "dir", "socket"}

Command line (the instances outlive ``start``; ``stop`` works from any process)::

    testhv.py start --count N --dir DIR [--prefix P]   # prints the instances as JSON
    testhv.py stop --dir DIR

Pids are recorded in ``<base_dir>/state.json``; teardown removes ``<base_dir>``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt

IMAGES_POOL = "kvmcloud-images"
VOLUMES_POOL = "kvmcloud-volumes"
POOL_DIRS = {IMAGES_POOL: "pools/images", VOLUMES_POOL: "pools/volumes"}
RECORD_VOLUME = "kvmcloud-hypervisor.json"
STATE_FILE = "state.json"

# Host paths each instance gets a private copy of, from <instance dir>/<same path>.
PRIVATE_PATHS = ("/run/libvirt", "/var/lib/libvirt", "/etc/libvirt", "/var/log/libvirt", "/var/cache/libvirt")
# A fixed PATH keeps the caller's environment (virtualenv, LIBVIRT_* variables) out of the daemons.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes including the terminating NUL

START_TIMEOUT = 120.0  # the first answer waits for libvirtd's QEMU probe: 8 s alone, 16 s for two on 2 cores
STOP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 15.0

DOMAIN_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)


class TestHypervisorError(RuntimeError):
    """Starting or tearing down test hypervisors failed."""


class TestHypervisors:
    """``count`` independent libvirtd instances under ``base_dir``; also a context manager.

    ``with TestHypervisors(...) as hypervisors`` starts them, yields the list that
    :meth:`start` returns and stops them on exit.
    """

    __test__ = False  # a helper, not a test class, despite the name

    def __init__(self, base_dir, count: int, prefix: str = "hv", start_timeout: float = START_TIMEOUT):
        """Check the arguments; nothing is created before :meth:`start`.

        ``base_dir`` must be missing or empty: :meth:`stop` removes it completely.
        """
        self.base_dir = Path(base_dir).absolute()
        self.names = [f"{prefix}{index}" for index in range(count)]
        self.start_timeout = start_timeout
        self._children: list[subprocess.Popen] = []
        _check_arguments(self.base_dir, count, prefix, self.names)

    def __enter__(self) -> list[dict]:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> list[dict]:
        """Start the instances and prepare their storage.

        Returns one dict per instance with ``name``, ``uri``, ``dir`` and ``socket``.
        If anything fails, whatever was made is torn down before the error is raised.
        """
        _create_base_dir(self.base_dir)
        try:
            instances = self._start_all()
        except BaseException as error:
            try:
                self.stop()
            except TestHypervisorError as cleanup_error:
                error.add_note(f"cleanup after the failed start: {cleanup_error}")
            raise
        return [_public_view(instance) for instance in instances]

    def stop(self) -> None:
        """Tear everything down and remove ``base_dir``; see :func:`teardown`."""
        try:
            teardown(self.base_dir)
        finally:
            for child in self._children:
                child.poll()  # teardown reaped them already; this only updates Popen's bookkeeping

    def _start_all(self) -> list[dict]:
        deadline = time.monotonic() + self.start_timeout
        state = {"instances": []}
        for name in self.names:
            instance = _new_instance(self.base_dir, name)
            state["instances"].append(instance)
            _prepare_instance_dir(Path(instance["dir"]))
            self._launch(instance, state, deadline)
        # All daemons were launched first, so their slow initial QEMU probes overlap.
        for instance in state["instances"]:
            _wait_until_ready(instance, deadline, self.start_timeout)
        for instance in state["instances"]:
            _prepare_storage(instance)
        return state["instances"]

    def _launch(self, instance: dict, state: dict, deadline: float) -> None:
        """Create the namespace, mount the private paths and start virtlogd, then libvirtd."""
        logs = Path(instance["dir"]) / "var/log/libvirt"
        holder = self._spawn(
            ["unshare", "--mount", "--net", "--propagation", "private", "sleep", "infinity"],
            logs / "unshare.log",
        )
        self._record(instance, "unshare", holder.pid, state)
        _wait_for_namespace(instance, deadline)
        _mount_private_paths(holder.pid, Path(instance["dir"]))
        for program in ("virtlogd", "libvirtd"):
            daemon = self._spawn(_nsenter(holder.pid, program), logs / f"{program}.log")
            self._record(instance, program, daemon.pid, state)

    def _spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen:
        # A new session and no inherited pipes: the processes must outlive a CLI `start`
        # without holding its caller's stdout open.
        with log_path.open("ab") as log:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=_daemon_env(),
                start_new_session=True,
            )
        self._children.append(child)
        return child

    def _record(self, instance: dict, role: str, pid: int, state: dict) -> None:
        # Saved at once so that `stop` can clean up after a start that fails later.
        instance["pids"][role] = _process_record(pid)
        _write_state(self.base_dir, state)


def namespace_command(hypervisor: dict) -> list[str]:
    """The argv prefix that runs a command inside a started instance's mount and network
    namespaces (``hypervisor`` as returned by ``TestHypervisors.start()``)."""
    instance_dir = Path(hypervisor["dir"])
    state = _read_state(instance_dir.parent)
    holder = next(i for i in state["instances"] if i["name"] == hypervisor["name"])["pids"]["unshare"]["pid"]
    return _nsenter(holder)


_RESTARTED: list[subprocess.Popen] = []


def kill_libvirtd(hypervisor: dict) -> None:
    """Kill a started instance's libvirtd with SIGKILL, as a crash would, and wait until it is
    gone (its guests keep running, as they do when a host's libvirtd dies)."""
    record = _instance_state(hypervisor)["pids"]["libvirtd"]
    _signal(record, signal.SIGKILL)
    if not _wait_gone(record, STOP_TIMEOUT):
        raise TestHypervisorError(f"{hypervisor['name']}: libvirtd survived SIGKILL")


def restart_libvirtd(hypervisor: dict, timeout: float = START_TIMEOUT) -> None:
    """Start libvirtd again in the instance's namespaces (after :func:`kill_libvirtd`), record
    its pid for teardown, and wait until it answers."""
    base_dir = Path(hypervisor["dir"]).parent
    state = _read_state(base_dir)
    instance = next(i for i in state["instances"] if i["name"] == hypervisor["name"])
    if _is_running(instance["pids"]["libvirtd"]):
        raise TestHypervisorError(f"{hypervisor['name']}: libvirtd is still running")
    log = Path(instance["dir"]) / "var/log/libvirt/libvirtd.log"
    with log.open("ab") as out:
        daemon = subprocess.Popen(_nsenter(instance["pids"]["unshare"]["pid"], "libvirtd"), stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, cwd="/", env=_daemon_env(),
                                  start_new_session=True)
    _RESTARTED.append(daemon)  # kept, so that it is not reported as a leaked child; teardown stops it by pid
    instance["pids"]["libvirtd"] = _process_record(daemon.pid)
    _write_state(base_dir, state)
    _wait_until_ready(instance, time.monotonic() + timeout, timeout)


def _instance_state(hypervisor: dict) -> dict:
    state = _read_state(Path(hypervisor["dir"]).parent)
    return next(i for i in state["instances"] if i["name"] == hypervisor["name"])


def teardown(base_dir) -> None:
    """Stop every instance recorded in ``base_dir/state.json`` and remove ``base_dir``.

    Through each live instance's connection, every domain, network and pool is
    destroyed and undefined (failures there only warn: the namespace takes everything
    with it). Then libvirtd, virtlogd, anything else left in the namespace and the
    unshare process are stopped by pid (SIGTERM, SIGKILL after a timeout). Instances
    that already died are fine. Raises :class:`TestHypervisorError` if a process
    survives or a mount under ``base_dir`` remains; ``base_dir`` is kept in that case.
    A missing ``base_dir`` is a no-op; one without ``state.json`` is refused.
    """
    base_dir = Path(base_dir).absolute()
    if not base_dir.exists():
        return
    state = _read_state(base_dir)
    problems = []
    for instance in state["instances"]:
        problems += _stop_instance(instance)
    if not problems:
        problems += _remove_base_dir(base_dir)
    if problems:
        raise TestHypervisorError("teardown incomplete:\n  " + "\n  ".join(problems))


# --- arguments and directories ---------------------------------------------------------


def _check_arguments(base_dir: Path, count: int, prefix: str, names: list[str]) -> None:
    if count < 1:
        raise ValueError("count must be at least 1")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", prefix):
        raise ValueError(f"prefix {prefix!r} is not a plain directory name")
    if base_dir == Path("/run") or Path("/run") in base_dir.parents:
        raise ValueError("base_dir must not be under /run: the namespace's tmpfs on /run would hide it")
    longest = _new_instance(base_dir, names[-1])["socket"]
    if len(longest) > SOCKET_PATH_MAX:
        raise ValueError(f"socket path {longest} is longer than {SOCKET_PATH_MAX} bytes; use a shorter base_dir")


def _create_base_dir(base_dir: Path) -> None:
    if base_dir.exists() and any(base_dir.iterdir()):
        raise TestHypervisorError(f"{base_dir} is not empty; teardown would delete its contents")
    base_dir.mkdir(parents=True, exist_ok=True)
    # Guests run as libvirt-qemu and must traverse base_dir to reach pool volumes.
    base_dir.chmod(0o755)
    _write_state(base_dir, {"instances": []})


def _new_instance(base_dir: Path, name: str) -> dict:
    instance_dir = base_dir / name
    socket = instance_dir / "run/libvirt/libvirt-sock"
    return {
        "name": name,
        "uri": f"qemu+unix:///system?socket={socket}",
        "dir": str(instance_dir),
        "socket": str(socket),
        "pids": {},
    }


def _public_view(instance: dict) -> dict:
    return {key: instance[key] for key in ("name", "uri", "dir", "socket")}


def _prepare_instance_dir(instance_dir: Path) -> None:
    for private_path in PRIVATE_PATHS:
        _make_traversable_dirs(instance_dir, private_path.lstrip("/"))
    _make_traversable_dirs(instance_dir, "pools")
    # Where a host's libvirt keeps the QEMU logs; servers log their consoles there.
    _make_traversable_dirs(instance_dir, "var/log/libvirt/qemu")
    _seed_config(instance_dir / "etc/libvirt")


def _make_traversable_dirs(root: Path, relative: str) -> None:
    # Explicit modes: a restrictive umask must not lock libvirt-qemu out of the tree.
    path = root
    for part in ("", *Path(relative).parts):
        path = path / part
        path.mkdir(exist_ok=True)
        path.chmod(0o755)


def _seed_config(config_dir: Path) -> None:
    """Copy the host's libvirt configuration, but none of its definitions.

    The host's qemu/ (domains, networks such as 'default'), storage/ and hooks/ stay
    behind so that an instance starts empty, and of its nwfilter/ only libvirt's stock
    filters come along: the filters the host's own ports and groups have are its own.
    """
    host_config = Path("/etc/libvirt")
    for entry in host_config.iterdir():
        if entry.is_file():
            shutil.copy2(entry, config_dir)
    (config_dir / "nwfilter").mkdir(exist_ok=True)
    for stock in stock_nwfilters():
        shutil.copy2(stock, config_dir / "nwfilter" / stock.name)
    # Without cgroup controllers, several daemons do not fight over the same machine cgroups.
    _set_option(config_dir / "qemu.conf", "cgroup_controllers", "[ ]")
    for conf in ("libvirtd.conf", "virtlogd.conf"):
        _set_option(config_dir / conf, "log_outputs", '"3:stderr"')  # stderr goes to <name>.log


# Where libvirt's packages ship the stock filters that their install copies to /etc/libvirt/nwfilter.
STOCK_NWFILTER_DIR = Path("/usr/share/libvirt/nwfilter")
NWFILTER_PACKAGE = "libvirt-daemon-config-nwfilter"


def stock_nwfilters() -> list[Path]:
    """The files of libvirt's stock nwfilters (clean-traffic, no-mac-spoofing ...).

    Packages since libvirt 7.x ship them in /usr/share/libvirt/nwfilter; older ones install
    them straight into /etc/libvirt/nwfilter, where only the names the package owns are stock.
    """
    if STOCK_NWFILTER_DIR.is_dir():
        return sorted(STOCK_NWFILTER_DIR.glob("*.xml"))
    for query in (["dpkg-query", "-L", NWFILTER_PACKAGE], ["rpm", "-ql", NWFILTER_PACKAGE]):
        if shutil.which(query[0], path=SYSTEM_PATH) is None:
            continue
        listed = subprocess.run(query, capture_output=True, text=True, check=False).stdout.splitlines()
        owned = [Path(line) for line in listed if line.startswith("/etc/libvirt/nwfilter/") and line.endswith(".xml")]
        if owned:
            return sorted(path for path in owned if path.is_file())
    raise TestHypervisorError(
        f"cannot tell libvirt's stock nwfilters from this host's own: neither {STOCK_NWFILTER_DIR} nor the "
        f"files of the {NWFILTER_PACKAGE} package were found; install that package")


def _set_option(conf: Path, key: str, value: str) -> None:
    # libvirt uses the first occurrence of a key, so an existing setting is removed, not shadowed.
    text = conf.read_text() if conf.exists() else ""
    text = re.sub(rf"^[ \t]*{key}[ \t]*=[ \t]*(\[[^\]]*\]|[^\n]*)\n?", "", text, flags=re.MULTILINE)
    conf.write_text(f"{text.rstrip()}\n\n# Set by testhv.py\n{key} = {value}\n")


def _write_state(base_dir: Path, state: dict) -> None:
    temporary = base_dir / f"{STATE_FILE}.tmp"
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(base_dir / STATE_FILE)


def _read_state(base_dir: Path) -> dict:
    try:
        return json.loads((base_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        raise TestHypervisorError(
            f"{base_dir} has no {STATE_FILE}; not removing a directory testhv did not make"
        ) from None


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    mount_points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like escaped as \ooo.
        mount_point = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), line.split()[4])
        if mount_point == prefix or mount_point.startswith(prefix + "/"):
            mount_points.append(mount_point)
    return mount_points


def _remove_base_dir(base_dir: Path) -> list[str]:
    # The bind mounts exist only in the namespaces; a mount seen here would mean one leaked
    # into the main namespace, and rmtree must not walk into it.
    mounted = _mounts_under(base_dir)
    if mounted:
        return [f"not removing {base_dir}: still mounted at {', '.join(mounted)}"]
    shutil.rmtree(base_dir)
    return []


# --- processes and namespaces ----------------------------------------------------------


def _daemon_env() -> dict:
    return {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}


def _nsenter(holder_pid: int, *argv: str) -> list[str]:
    return ["nsenter", f"--target={holder_pid}", "--mount", "--net", "--", *argv]


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the third (state) on, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # the command name may contain spaces and ')'


def _process_record(pid: int) -> dict:
    # The start time tells a recorded process from a later one that reuses its pid.
    fields = _proc_stat(pid)
    return {"pid": pid, "starttime": fields[19] if fields else None}


def _is_running(record: dict) -> bool:
    """Whether the recorded process still runs (zombies count as gone)."""
    try:
        os.waitpid(record["pid"], os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    fields = _proc_stat(record["pid"])
    return fields is not None and fields[19] == record["starttime"] and fields[0] != "Z"


def _wait_gone(record: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_running(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(record: dict, signum: int) -> None:
    try:
        os.kill(record["pid"], signum)
    except ProcessLookupError:
        pass


def _stop_process(record: dict, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True once the process is gone."""
    if not _is_running(record):
        return True
    _signal(record, signal.SIGTERM)
    if _wait_gone(record, timeout):
        return True
    _signal(record, signal.SIGKILL)
    return _wait_gone(record, 5.0)


def _namespace_id(pid: int | str, kind: str) -> str | None:
    """E.g. 'net:[4026532288]' for /proc/<pid>/ns/net; None if the process is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _wait_for_namespace(instance: dict, deadline: float) -> None:
    """Wait until unshare has entered its new namespaces and exec'd sleep.

    nsenter must not target the process earlier: it would still be in the main
    namespaces and the mounts (a tmpfs over /run!) would land on the host.
    """
    holder = instance["pids"]["unshare"]
    pid = holder["pid"]
    while True:
        if (
            _comm(pid) == "sleep"
            and _namespace_id(pid, "mnt") not in (None, _namespace_id("self", "mnt"))
            and _namespace_id(pid, "net") not in (None, _namespace_id("self", "net"))
        ):
            return
        if not _is_running(holder) or time.monotonic() >= deadline:
            raise TestHypervisorError(
                f"{instance['name']}: unshare did not set up the namespaces\n{_log_tail(instance)}"
            )
        time.sleep(0.05)


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _mount_private_paths(holder_pid: int, instance_dir: Path) -> None:
    for private_path in PRIVATE_PATHS:
        if private_path != "/run/libvirt":
            _run_in_namespace(holder_pid, "mount", "--bind", str(instance_dir / private_path.lstrip("/")), private_path)
    # A private /run: each daemon's pid files (/run/libvirtd.pid ...) must not meet the host's.
    _run_in_namespace(holder_pid, "mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
    _run_in_namespace(holder_pid, "mkdir", "/run/libvirt")
    # /var/lock is /run/lock: libvirt locks a console's pty there when a client opens it.
    _run_in_namespace(holder_pid, "mkdir", "-m", "1777", "/run/lock")
    _run_in_namespace(holder_pid, "mount", "--bind", str(instance_dir / "run/libvirt"), "/run/libvirt")
    # sysfs lists the network devices of the namespace that mounted it; with the host's /sys,
    # libvirt would see, and tune, host interfaces such as a host bridge of the same name.
    _run_in_namespace(holder_pid, "mount", "-t", "sysfs", "sysfs", "/sys")
    _run_in_namespace(holder_pid, "ip", "link", "set", "lo", "up")


def _run_in_namespace(holder_pid: int, *argv: str) -> None:
    result = subprocess.run(_nsenter(holder_pid, *argv), capture_output=True, text=True, env=_daemon_env(), cwd="/",
                            check=False)
    if result.returncode != 0:
        raise TestHypervisorError(f"in namespace of pid {holder_pid}: {' '.join(argv)}: {result.stderr.strip()}")


def _open_net_namespace(records) -> int | None:
    """An fd on the network namespace of the first recorded process still running.

    Every process of an instance shares that namespace (libvirt gives each qemu its own
    mount namespace, so that one would not do). Holding the fd keeps the namespace, and
    so its identity, from being reused while its members are stopped.
    """
    for record in records:
        if _is_running(record):
            try:
                namespace_fd = os.open(f"/proc/{record['pid']}/ns/net", os.O_RDONLY)
            except OSError:
                continue  # exited meanwhile
            if _is_private(namespace_fd):
                return namespace_fd
            os.close(namespace_fd)  # e.g. unshare had not switched yet: its members are everyone
    return None


def _is_private(namespace_fd: int) -> bool:
    # Teardown runs in the main namespace (/proc/1/ns is not readable in every sandbox).
    return os.readlink(f"/proc/self/fd/{namespace_fd}") != _namespace_id("self", "net")


def _namespace_members(namespace_fd: int) -> list[dict]:
    namespace = os.readlink(f"/proc/self/fd/{namespace_fd}")
    return [
        _process_record(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _namespace_id(entry.name, "net") == namespace
    ]


def _log_tail(instance: dict, lines: int = 15) -> str:
    parts = []
    for log in ("unshare.log", "virtlogd.log", "libvirtd.log"):
        path = Path(instance["dir"]) / "var/log/libvirt" / log
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:] or ["(empty)"]
            parts.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
    return "\n".join(parts)


# --- libvirt ---------------------------------------------------------------------------


def _connect(uri: str, timeout: float) -> libvirt.virConnect:
    """Open a connection to a libvirtd that answers a call within ``timeout``.

    libvirtd accepts connections at once but answers calls only after its drivers are
    set up (seconds of QEMU probing), which might also hang. A connection that arrives
    after the timeout is closed when it is garbage-collected.
    """
    result = {}

    def connect():
        try:
            connection = libvirt.open(uri)
            connection.getVersion()
            result["connection"] = connection
        except libvirt.libvirtError as error:
            result["error"] = error

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(max(timeout, 0.0))
    if "connection" in result:
        return result["connection"]
    if "error" in result:
        raise result["error"]
    raise TimeoutError(f"no answer from {uri} within {timeout:.0f} s")


def _answers(uri: str, timeout: float) -> bool:
    try:
        _connect(uri, timeout).close()
    except (libvirt.libvirtError, TimeoutError):
        return False
    return True


def _wait_until_ready(instance: dict, deadline: float, start_timeout: float) -> None:
    """Wait until both daemons' sockets exist and libvirtd answers getVersion."""
    socket = Path(instance["socket"])
    while True:
        exited = [role for role, record in instance["pids"].items() if not _is_running(record)]
        if exited:
            raise TestHypervisorError(
                f"{instance['name']}: {', '.join(exited)} exited during start\n{_log_tail(instance)}"
            )
        if (
            socket.exists()
            and socket.with_name("virtlogd-sock").exists()
            and _answers(instance["uri"], deadline - time.monotonic())
        ):
            return
        if time.monotonic() >= deadline:
            message = f"{instance['name']}: libvirtd did not answer on {socket} within {start_timeout:.0f} s"
            raise TestHypervisorError(f"{message}\n{_log_tail(instance)}")
        time.sleep(0.2)


def _prepare_storage(instance: dict) -> None:
    connection = _connect(instance["uri"], CONNECT_TIMEOUT)
    try:
        for pool_name, relative in POOL_DIRS.items():
            _create_dir_pool(connection, pool_name, Path(instance["dir"]) / relative)
        _upload_record(connection, connection.storagePoolLookupByName(IMAGES_POOL))
    finally:
        connection.close()


def _create_dir_pool(connection: libvirt.virConnect, name: str, path: Path) -> None:
    xml = f"<pool type='dir'><name>{escape(name)}</name><target><path>{escape(str(path))}</path></target></pool>"
    pool = connection.storagePoolDefineXML(xml, 0)
    pool.build(0)
    pool.create(0)
    pool.setAutostart(1)


def _upload_record(connection: libvirt.virConnect, pool: libvirt.virStoragePool) -> None:
    """Store the virtualisation-type record through libvirt, the way the collection reads it."""
    record = {
        "virt_type": "qemu",
        "source": "testhv",
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    upload_volume(connection, pool, RECORD_VOLUME, json.dumps(record).encode())


def upload_volume(connection: libvirt.virConnect, pool: libvirt.virStoragePool, name: str, data: bytes):
    """Create a raw volume holding ``data`` through a libvirt upload stream; returns the volume."""
    volume = pool.createXML(
        f"<volume><name>{name}</name><capacity unit='bytes'>{len(data)}</capacity>"
        "<target><format type='raw'/></target></volume>",
        0,
    )
    stream = connection.newStream(0)
    try:
        volume.upload(stream, 0, len(data), 0)
        sent = 0
        while sent < len(data):
            sent += stream.send(data[sent:])
        stream.finish()
    except libvirt.libvirtError:
        stream.abort()
        raise
    return volume


def destroy_and_undefine(obj) -> None:
    """Destroy a domain, network or pool if it is active, then undefine it; a domain goes with
    its managed save, snapshot and checkpoint metadata and NVRAM."""
    persistent = obj.isPersistent()  # a transient object is gone once destroyed
    if obj.isActive():
        obj.destroy()
    if persistent and isinstance(obj, libvirt.virDomain):
        obj.undefineFlags(DOMAIN_UNDEFINE_FLAGS)
    elif persistent:
        obj.undefine()


def _stop_instance(instance: dict) -> list[str]:
    """Stop one instance's processes; returns what could not be stopped."""
    pids = instance["pids"]
    if "libvirtd" in pids and _is_running(pids["libvirtd"]) and Path(instance["socket"]).exists():
        _clear_libvirt_objects(instance)
    namespace_fd = _open_net_namespace(pids.values())
    survivors = [role for role in ("libvirtd", "virtlogd") if role in pids and not _stop_process(pids[role])]
    if namespace_fd is not None:
        try:
            # The unshare process, and whatever a libvirtd that died left behind (qemu, dnsmasq).
            members = _namespace_members(namespace_fd)
            survivors += [f"pid {member['pid']}" for member in members if not _stop_process(member)]
        finally:
            os.close(namespace_fd)
    if "unshare" in pids and not _stop_process(pids["unshare"]):
        survivors.append("unshare")
    return [f"{instance['name']}: {role} still running" for role in survivors]


def _clear_libvirt_objects(instance: dict) -> None:
    try:
        connection = _connect(instance["uri"], CONNECT_TIMEOUT)
    except (libvirt.libvirtError, TimeoutError) as error:
        warnings.warn(f"{instance['name']}: libvirt cleanup skipped: {error}", stacklevel=2)
        return
    try:
        for objects in (connection.listAllDomains, connection.listAllNetworks, connection.listAllStoragePools):
            for obj in objects():
                _destroy_and_undefine(instance["name"], obj)
    finally:
        connection.close()


def _destroy_and_undefine(instance_name: str, obj) -> None:
    """Destroy and undefine a domain, network or pool; failures only warn."""
    try:
        destroy_and_undefine(obj)
    except libvirt.libvirtError as error:
        warnings.warn(f"{instance_name}: could not remove {type(obj).__name__} {obj.name()}: {error}", stacklevel=2)


# --- command line ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``testhv.py start|stop``; returns the exit status."""
    parser = argparse.ArgumentParser(description="Namespaced libvirtd instances for tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start instances, print them as JSON and leave them running")
    start.add_argument("--count", type=int, default=2, help="number of instances (default 2)")
    start.add_argument("--dir", required=True, type=Path, help="base directory (missing or empty)")
    start.add_argument("--prefix", default="hv", help="instance name prefix (default hv)")
    start.add_argument("--timeout", type=float, default=START_TIMEOUT, help="seconds to wait for the daemons")
    stop = commands.add_parser("stop", help="tear down the instances recorded in DIR and remove DIR")
    stop.add_argument("--dir", required=True, type=Path, help="base directory given to start")
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            hypervisors = TestHypervisors(args.dir, args.count, args.prefix, args.timeout).start()
            print(json.dumps(hypervisors, indent=2))
        else:
            teardown(args.dir)
    except (TestHypervisorError, ValueError, libvirt.libvirtError, OSError) as error:
        print(f"testhv: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
