"""``make bench``: the same fleet brought up three ways on this machine, timed side by side.

Contenders, each on the local hypervisor (qemu:///system) with the tiny image, one isolated
network and fixed addresses:

* ``kvmcloud``: bench/kvmcloud/fleet.yml (one plan, then image -> network -> one server_fleet
  call for what differs): cold,
  a no-op re-run, then the same run in check mode; and bench/kvmcloud/ping.yml, a playbook of
  one ping task on the same inventory and configuration, after each no-op re-run.
* ``community.libvirt``: bench/community_libvirt/fleet.yml, what its users write (qemu-img
  overlays through ``command``, ``virt`` define from a template, ``virt`` running, in loops),
  with the ``ansible`` package from PyPI in its own virtual environment: cold, then a re-run.
* ``floor``: bench/floor.py, libvirt-python doing the same work sequentially in one process.

For every fleet size and run: wall time, the ``changed`` count of re-runs, the peak resident
memory of the controller's process tree, and the time until every guest printed its
``kvmcloud-ready`` line on the serial console. Re-runs start once the host's load has settled
after the guests are ready (the same wait for every contender); kvmcloud's no-op and check
runs are five pairs, each pair one of each back to back in alternating order, and a run's
figure is the median of its five. Between contenders everything they made is removed (not
timed) and checked gone. Figures are medians of the runs with min and max; the raw figures go
to bench/results/ as JSON, the table and the five targets to the terminal. The check-mode
target compares check and no-op pair by pair (see check_verdict()).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / 'bench'
PEER = BENCH / 'community_libvirt'
VENV_BIN = Path(sys.executable).parent
URI = 'qemu:///system'

PREFIX = 'kcb-'
NETWORK = {'name': 'kcb-net', 'bridge': 'kcbr0', 'address': '10.251.0.1', 'netmask': '255.255.255.0',
           'dhcp_start': '10.251.0.10', 'dhcp_end': '10.251.0.250'}
MAX_SERVERS = 240
RAM_MB = 96
IMAGE = 'kcb-tiny'
VOLUMES_POOL = 'kvmcloud-volumes'
IMAGES_POOL = 'kvmcloud-images'
OVERLAY_DIR = Path('/var/lib/kvmcloud-bench/overlays')
CONSOLE_DIR = Path('/var/log/libvirt/qemu')
READY_TIMEOUT = 900
# After the guests are ready, wait for the host's load to settle (see settle()).
SETTLE_WINDOW = 5
SETTLE_DELTA = 0.03
SETTLE_LIMIT = 120
# kvmcloud's no-op re-runs and check runs: PAIRS pairs per run, one of each back to back, the
# pair's first alternating (see order()).
PAIRS = 5
# The check-mode target fails when check mode is slower than the no-op in more pairs than chance
# allows at this one-sided level (see check_verdict()).
CHECK_ALPHA = 0.05
# The no-op re-run of 100 servers against a ping playbook (see targets()).
PING_TARGET = 2.5
TEARDOWN_THREADS = 8
CONTENDERS = ('kvmcloud', 'community.libvirt', 'floor')

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


# --- what every contender is given -------------------------------------------------------------

def fleet(n):
    return [{'name': '%s%03d' % (PREFIX, i), 'mac': '52:54:00:fb:%02x:%02x' % (i // 256, i % 256),
             'ip': '10.251.0.%d' % (9 + i)} for i in range(1, n + 1)]


def params(n, base_image, virt_type):
    return {'servers': fleet(n), 'base_image': base_image, 'overlay_dir': str(OVERLAY_DIR),
            'virt_type': virt_type, 'ram_mb': RAM_MB, 'vcpus': 1, 'disk_gb': 1, 'console_dir': str(CONSOLE_DIR),
            'network': NETWORK, 'pool': VOLUMES_POOL, 'volume_prefix': ''}


def kvmcloud_vars(n, image_file, force_image=False):
    cloud = {
        # Room for a hundred 96 MiB guests on a small host: the guests are idle tiny ones.
        'hypervisors': [{'name': 'localhost', 'uri': URI, 'cpu_allocation_ratio': 128.0,
                         'ram_allocation_ratio': 8.0}],
        'flavors': [{'name': 'bench.tiny', 'vcpus': 1, 'ram': RAM_MB, 'disk': 1}],
        'projects': [{'name': 'bench', 'quotas': {'instances': -1, 'cores': -1, 'ram': -1, 'ports': -1}}],
    }
    return {
        'bench_cloud': cloud,
        'bench_project': 'bench',
        'bench_images': [{'name': IMAGE, 'filename': str(image_file), 'min_ram': RAM_MB, 'force': force_image}],
        'bench_networks': [{'name': NETWORK['name'], 'mode': 'isolated', 'bridge': NETWORK['bridge'],
                            'subnet': {'cidr': '10.251.0.0/24', 'gateway': NETWORK['address'],
                                       'allocation_pools': [{'start': NETWORK['dhcp_start'],
                                                             'end': NETWORK['dhcp_end']}]}}],
        # Neither community.libvirt's play nor the floor filters traffic: for the same work the
        # ports go without port security (anti-spoofing and security groups, see docs/performance.md).
        'bench_servers': [{'name': s['name'], 'flavor': 'bench.tiny', 'image': IMAGE,
                           'networks': [{'network': NETWORK['name'], 'fixed_ip': s['ip'], 'port_security': False}]}
                          for s in fleet(n)],
    }


# --- running a contender and measuring it -----------------------------------------------------

def _children():
    """``{ppid: [pid]}`` of every process now."""
    out = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry, encoding='ascii', errors='replace') as stat:
                    fields = stat.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            out.setdefault(int(fields[1]), []).append(int(entry))
    return out


def tree_rss(pid):
    """Resident memory (bytes) of ``pid`` and all its descendants."""
    children, total, todo = _children(), 0, [pid]
    page = os.sysconf('SC_PAGE_SIZE')
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open('/proc/%d/statm' % current, encoding='ascii') as statm:
                total += int(statm.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


def timed(cmd, env, cwd=ROOT):
    """Run ``cmd``: ``(wall seconds, peak RSS of its process tree in MiB, output)``; a failure
    is fatal, with the output."""
    peak = [0]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError('%s failed (exit %s):\n%s' % (' '.join(map(str, cmd)), proc.returncode, output[-6000:]))
    return wall, peak[0] / 2 ** 20, output


def changed_count(output):
    counts = [int(m) for m in re.findall(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)', output, re.MULTILINE)]
    if not counts:
        raise RuntimeError('no PLAY RECAP in the output:\n%s' % output[-3000:])
    return sum(counts)


def wait_ready(names, started):
    """Seconds from ``started`` until every server's console shows a kvmcloud-ready line."""
    pending = set(names)
    while pending:
        for name in sorted(pending):
            try:
                text = (CONSOLE_DIR / ('%s.console.log' % name)).read_text(errors='replace')
            except FileNotFoundError:
                continue
            if re.search(r'^kvmcloud-ready \S+', text.replace('\r', ''), re.MULTILINE):
                pending.discard(name)
        if not pending:
            break
        if time.monotonic() - started > READY_TIMEOUT:
            raise RuntimeError('no kvmcloud-ready within %ss on: %s' % (READY_TIMEOUT, ', '.join(sorted(pending))))
        time.sleep(0.2)
    return time.monotonic() - started


def cpu_times():
    """``(busy, total)`` jiffies of the host's CPUs from /proc/stat."""
    with open('/proc/stat', encoding='ascii') as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def settle(window=SETTLE_WINDOW, limit=SETTLE_LIMIT):
    """Wait until the host's CPU load stops falling after a bring-up: guests that have printed
    their ready line are still finishing their boot (and an emulated guest's idle loop costs
    host CPU for as long as it runs). Settled is two ``window``-second samples of host CPU
    use within SETTLE_DELTA of each other, or ``limit`` seconds. Every contender waits the
    same way before its re-runs. Returns the run's figures ``settle_s`` (the wait) and
    ``idle_cpu_pct`` (the last sample, 0-100)."""
    started = time.monotonic()
    previous = None
    busy0, total0 = cpu_times()
    while True:
        time.sleep(window)
        busy1, total1 = cpu_times()
        busy = (busy1 - busy0) / max(1, total1 - total0)
        elapsed = time.monotonic() - started
        if (previous is not None and abs(busy - previous) <= SETTLE_DELTA) or elapsed >= limit:
            return {'settle_s': elapsed, 'idle_cpu_pct': 100 * busy}
        previous, busy0, total0 = busy, busy1, total1


def ansible_env(kind):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    if kind == 'kvmcloud':
        env['PATH'] = '%s:%s' % (VENV_BIN, env.get('PATH', ''))
        env['ANSIBLE_CONFIG'] = str(ROOT / 'ansible.cfg')
        env['ANSIBLE_COLLECTIONS_PATH'] = str(ROOT / 'collections')
    else:
        env['PATH'] = '%s:%s' % (PEER / '.venv' / 'bin', env.get('PATH', ''))
        env['ANSIBLE_CONFIG'] = str(PEER / 'ansible.cfg')
    return env


def order(run, pairs=PAIRS):
    """The sequence of no-op and check runs for run number run: ``pairs`` pairs of one of each,
    no-op first in even pairs and check first in odd ones, and the other way round on odd runs,
    so that neither kind is always the first after settling or the first of its pair."""
    out = []
    for pair in range(pairs):
        out += ['rerun', 'check'] if (pair + run) % 2 == 0 else ['check', 'rerun']
    return tuple(out)


def run_kvmcloud(n, files, run):
    cmd = [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', str(BENCH / 'kvmcloud' / 'fleet.yml'),
           '-e', '@%s' % files['kvmcloud']]
    env = ansible_env('kvmcloud')
    names = [s['name'] for s in fleet(n)]
    started = time.monotonic()
    cold, cold_rss, _out = timed(cmd, env)
    ready = wait_ready(names, started)
    settled = settle()
    samples = {'rerun': [], 'check': []}
    pings = []
    ping = [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', str(BENCH / 'kvmcloud' / 'ping.yml')]
    # The no-op and check mode do the same reads: measured in pairs back to back, so that the two
    # of a pair meet the same host; the i-th no-op and the i-th check sample are pair i. Each
    # no-op is followed by a ping playbook, its floor on the same host.
    for kind in order(run):
        wall, rss, out = timed(cmd + (['--check'] if kind == 'check' else []), env)
        samples[kind].append((wall, rss, changed_count(out)))
        if kind == 'rerun':
            pings.append(timed(ping, env)[0])
    rerun, check = samples['rerun'], samples['check']
    return {'cold_s': cold, 'ready_s': ready, **settled,
            'rerun_s': statistics.median(w for w, _r, _c in rerun), 'rerun_samples': [w for w, _r, _c in rerun],
            'rerun_changed': max(c for _w, _r, c in rerun),
            'check_s': statistics.median(w for w, _r, _c in check), 'check_samples': [w for w, _r, _c in check],
            'check_changed': max(c for _w, _r, c in check),
            'rss_mib': max([cold_rss] + [r for _w, r, _c in rerun + check]),
            'ping_s': statistics.median(pings), 'ping_samples': pings,
            'rerun_vs_ping': statistics.median(w / p for (w, _r, _c), p in zip(rerun, pings))}


def run_peer(n, files, _run):
    cmd = [str(PEER / '.venv' / 'bin' / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           str(PEER / 'fleet.yml'), '-e', '@%s' % files['params']]
    env = ansible_env('peer')
    started = time.monotonic()
    cold, cold_rss, _out = timed(cmd, env, cwd=PEER)
    ready = wait_ready([s['name'] for s in fleet(n)], started)
    settled = settle()
    rerun, rerun_rss, out = timed(cmd, env, cwd=PEER)
    return {'cold_s': cold, 'ready_s': ready, **settled,
            'rerun_s': rerun, 'rerun_changed': changed_count(out), 'rss_mib': max(cold_rss, rerun_rss)}


def run_floor(n, files, _run):
    started = time.monotonic()
    cold, rss, _out = timed([sys.executable, str(BENCH / 'floor.py'), files['params']], dict(os.environ))
    ready = wait_ready([s['name'] for s in fleet(n)], started)
    return {'cold_s': cold, 'ready_s': ready, 'rss_mib': rss}


RUNNERS = {'kvmcloud': run_kvmcloud, 'community.libvirt': run_peer, 'floor': run_floor}


# --- set-up and tear-down ----------------------------------------------------------------------

def teardown(keep_filters):
    """Remove every domain, volume, filter, network, overlay and console log of the benchmark,
    then check that nothing is left."""
    conn = libvirt.open(URI)
    try:
        names = sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX))
        # Stopping a guest takes libvirtd a second or two: a few at a time, a connection each.
        with ThreadPoolExecutor(max_workers=TEARDOWN_THREADS) as pool:
            list(pool.map(_remove_domains, [names[i::TEARDOWN_THREADS] for i in range(TEARDOWN_THREADS)]))
        for nwfilter in conn.listAllNWFilters():
            name = nwfilter.name()
            if PREFIX in name or (name.startswith('kvmcloud-') and name not in keep_filters):
                nwfilter.undefine()
        net = _lookup(conn.networkLookupByName, NETWORK['name'])
        if net is not None:
            if net.isActive():
                net.destroy()
            net.undefine()
        pool = conn.storagePoolLookupByName(VOLUMES_POOL)
        pool.refresh()
        for vol in pool.listAllVolumes():
            if PREFIX in vol.name():
                vol.delete()
        shutil.rmtree(OVERLAY_DIR, ignore_errors=True)
        for log in CONSOLE_DIR.glob(PREFIX + '*.log'):
            log.unlink()
        pool.refresh()
        left = ([d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)]
                + [v.name() for v in pool.listAllVolumes() if PREFIX in v.name()]
                + [f.name() for f in conn.listAllNWFilters() if PREFIX in f.name()]
                + [n.name() for n in conn.listAllNetworks() if n.name() == NETWORK['name']])
        if left:
            raise RuntimeError('tear-down left: %s' % ', '.join(left))
    finally:
        conn.close()


def _remove_domains(names):
    conn = libvirt.open(URI)
    try:
        for name in names:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    finally:
        conn.close()


def _lookup(func, name):
    try:
        return func(name)
    except libvirt.libvirtError:
        return None


def image_play(extra_vars, state):
    """Register (a new build replaces it) or remove the benchmark's image."""
    subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', str(BENCH / 'kvmcloud' / 'image.yml'),
                    '-e', '@%s' % extra_vars, '-e', 'image_service_state=%s' % state],
                   check=True, env=ansible_env('kvmcloud'), cwd=ROOT, stdout=subprocess.DEVNULL)


def setup(image_file, workdir, peer):
    """The peer's virtual environment, the image registered with kvmcloud (its base volume is
    what every contender's overlays sit on) and the hypervisor's virt type."""
    if peer:
        subprocess.run(['bash', str(PEER / 'setup.sh')], check=True)
    conn = libvirt.open(URI)
    try:
        keep = {f.name() for f in conn.listAllNWFilters()}
        record = conn.storagePoolLookupByName(IMAGES_POOL).storageVolLookupByName('kvmcloud-hypervisor.json')
        virt_type = json.loads(Path(record.path()).read_text()).get('virt_type') or 'qemu'
    finally:
        conn.close()
    teardown(keep)
    image_vars = workdir / 'image.json'
    image_vars.write_text(json.dumps(kvmcloud_vars(0, image_file, force_image=True)))
    image_play(image_vars, 'present')
    digest = hashlib.sha256(image_file.read_bytes()).hexdigest()
    conn = libvirt.open(URI)
    try:
        base = conn.storagePoolLookupByName(IMAGES_POOL).storageVolLookupByName('sha256-%s.qcow2' % digest).path()
    finally:
        conn.close()
    return keep, base, virt_type


# --- figures, table and targets ----------------------------------------------------------------

def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values), 'runs': len(values)}


def summarize(raw):
    out = {}
    for n, per in raw.items():
        out[n] = {}
        for contender, runs in per.items():
            # A run's samples (lists) stay in the raw figures; its figure is their median.
            keys = sorted({k for r in runs for k, v in r.items() if not isinstance(v, list)})
            out[n][contender] = {k: stats([r.get(k) for r in runs]) for k in keys}
    return out


def _fmt(fig, unit=''):
    if fig is None:
        return '-'
    if fig['min'] == fig['max']:
        return '%g%s' % (round(fig['median'], 2), unit)
    return '%.2f%s (%.2f-%.2f)' % (fig['median'], unit, fig['min'], fig['max'])


ROWS = [('cold bring-up', 'cold_s', 's'), ('guests ready', 'ready_s', 's'), ('re-run (no-op)', 'rerun_s', 's'),
        ('re-run changed', 'rerun_changed', ''), ('check mode', 'check_s', 's'),
        ('ping playbook', 'ping_s', 's'), ('re-run / ping', 'rerun_vs_ping', 'x'),
        ('peak controller RSS', 'rss_mib', ' MiB'), ('host CPU, idle fleet', 'idle_cpu_pct', '%')]


def table(summary):
    lines = []
    head = '%-5s %-21s' % ('N', 'figure') + ''.join('%-28s' % c for c in CONTENDERS)
    lines += [head, '-' * len(head)]
    for n in sorted(summary, key=int):
        for label, key, unit in ROWS:
            cells = [_fmt((summary[n].get(c) or {}).get(key), unit) for c in CONTENDERS]
            lines.append('%-5s %-21s' % (n, label) + ''.join('%-28s' % c for c in cells))
        lines.append('')
    lines.append('Median of the runs, (min-max). "re-run changed" is the PLAY RECAP count: community.libvirt\'s '
                 'virt define calls defineXML on every run and reports ok only when libvirt\'s XML comes back the '
                 'same. The check-mode row is kvmcloud\'s alone: the floor has none, and community.libvirt\'s '
                 'play does not support one (qemu-img runs through command).')
    return '\n'.join(lines)


def _rounded(value):
    return [round(v, 2) for v in value] if isinstance(value, list) else round(value, 2)


def _median(summary, n, contender, key):
    fig = (summary.get(str(n), {}).get(contender) or {}).get(key)
    return fig['median'] if fig else None


def check_diffs(runs):
    """Check minus no-op wall time of every pair of kvmcloud's ``runs`` (see order())."""
    return [check - rerun for r in runs for rerun, check in zip(r['rerun_samples'], r['check_samples'])]


def bound_rank(m, alpha=CHECK_ALPHA):
    """Which of m differences, counted from the smallest, is the one-sided ``1 - alpha`` lower
    confidence bound of their median (distribution-free: the sign test's order statistic): the
    largest k with P(Binomial(m, 1/2) < k) <= alpha, or 0 when m is too few to give one."""
    below, k = 0.0, 0
    while k < m:
        below += math.comb(m, k) / 2 ** m
        if below > alpha:
            break
        k += 1
    return k


def check_verdict(diffs, check, rerun):
    """The check-mode target. Check mode does what a no-op does minus what a real run would
    change, so the two differ by far less than one sample's noise (about 0.4 s here) and the
    order of two medians is a coin toss. So the samples are paired, and the target fails when
    check mode is measurably slower: when the lower confidence bound of the median
    difference is above zero (check slower in more pairs than chance allows)."""
    rank = bound_rank(len(diffs))
    if not rank:
        return None, 'check mode vs no-op re-run, 30 servers: needs at least 5 pairs (%d)' % len(diffs)
    bound, median = sorted(diffs)[rank - 1], statistics.median(diffs)
    return bound <= 0, ('check mode, 30 servers: %.2fs vs no-op re-run %.2fs; check - no-op over %d pairs: median '
                        '%+.2fs, %d%% lower bound %+.2fs, check slower in %d (target: check <= no-op, i.e. not '
                        'measurably slower: lower bound <= 0)'
                        % (check, rerun, len(diffs), median, round(100 * (1 - CHECK_ALPHA)), bound,
                           sum(d > 0 for d in diffs)))


def targets(summary, raw):
    """``[(passed or None when not measured, line)]`` for the five targets."""
    out = []
    ours, theirs = _median(summary, 30, 'kvmcloud', 'rerun_s'), _median(summary, 30, 'community.libvirt', 'rerun_s')
    changed = _median(summary, 30, 'kvmcloud', 'rerun_changed')
    peer_changed = _median(summary, 30, 'community.libvirt', 'rerun_changed')
    if ours and theirs:
        ratio = ours / theirs
        out.append((ratio <= 0.10 and changed == 0,
                    'no-op re-run, 30 servers: kvmcloud %.2fs = %.3f x community.libvirt %.2fs (target <= 0.10), '
                    'changed=%d (community.libvirt changed=%d)' % (ours, ratio, theirs, changed, peer_changed)))
    else:
        out.append((None, 'no-op re-run, 30 servers vs community.libvirt: needs N=30'))
    small, big = _median(summary, 10, 'kvmcloud', 'rerun_s'), _median(summary, 100, 'kvmcloud', 'rerun_s')
    if small and big:
        out.append((big / small <= 1.5, 'no-op re-run, 100 vs 10 servers: %.2fs / %.2fs = %.2f x (target <= 1.5)'
                    % (big, small, big / small)))
    else:
        out.append((None, 'no-op re-run, 100 vs 10 servers: needs N=10 and N=100'))
    cold, floor = _median(summary, 30, 'kvmcloud', 'cold_s'), _median(summary, 30, 'floor', 'cold_s')
    if cold and floor:
        out.append((cold / floor <= 1.0, 'cold bring-up, 30 servers: kvmcloud %.2fs = %.2f x the libvirt-python floor '
                    '%.2fs (target <= 1.0)' % (cold, cold / floor, floor)))
    else:
        out.append((None, 'cold bring-up, 30 servers vs the floor: needs N=30'))
    check = _median(summary, 30, 'kvmcloud', 'check_s')
    if check and ours:
        out.append(check_verdict(check_diffs(raw['30']['kvmcloud']), check, ours))
    else:
        out.append((None, 'check mode vs no-op re-run, 30 servers: needs N=30'))
    ratio, ping = _median(summary, 100, 'kvmcloud', 'rerun_vs_ping'), _median(summary, 100, 'kvmcloud', 'ping_s')
    if ratio and ping:
        out.append((ratio <= PING_TARGET, 'no-op re-run, 100 servers: %.2fs = %.2f x a ping playbook %.2fs on the same '
                    'inventory, median of the pairs (target <= %g)' % (big, ratio, ping, PING_TARGET)))
    else:
        out.append((None, 'no-op re-run, 100 servers vs a ping playbook: needs N=100'))
    return out


def machine():
    conn = libvirt.open(URI)
    try:
        info = {'libvirt': conn.getLibVersion(), 'qemu': conn.getVersion(), 'cpus': conn.getInfo()[2]}
    finally:
        conn.close()
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, check=False)
    info.update(commit=commit.stdout.strip(), kernel=os.uname().release,
                memory_mib=os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2 ** 20)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--sizes', default='10,30,100', help='fleet sizes, comma-separated (default: 10,30,100)')
    parser.add_argument('--runs', type=int, default=3, help='runs per size and contender (default: 3)')
    parser.add_argument('--image', type=Path, default=ROOT / 'build' / 'images' / 'kvmcloud-tiny.qcow2',
                        help='the tiny guest image (make image builds it)')
    parser.add_argument('--contenders', default=','.join(CONTENDERS),
                        help='which contenders to run (default: all three)')
    parser.add_argument('--results', type=Path, default=BENCH / 'results', help='where the JSON goes')
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',')]
    contenders = [c for c in CONTENDERS if c in args.contenders.split(',')]
    if any(n < 1 or n > MAX_SERVERS for n in sizes) or args.runs < 1:
        parser.error('sizes must be 1..%d and runs at least 1' % MAX_SERVERS)
    if not args.image.is_file():
        parser.error('no image at %s: run make image first' % args.image)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    workdir = args.results / ('.work-' + stamp)
    workdir.mkdir()
    keep, base, virt_type = setup(args.image.resolve(), workdir, 'community.libvirt' in contenders)
    raw = {}
    error = None
    try:
        for n in sizes:
            files = {'params': workdir / ('params-%d.json' % n), 'kvmcloud': workdir / ('kvmcloud-%d.json' % n)}
            files['params'].write_text(json.dumps(params(n, base, virt_type)))
            files['kvmcloud'].write_text(json.dumps(kvmcloud_vars(n, args.image.resolve())))
            raw[str(n)] = {c: [] for c in contenders}
            for run in range(args.runs):
                for contender in contenders:
                    print('N=%d run %d/%d: %s' % (n, run + 1, args.runs, contender), flush=True)
                    try:
                        figures = RUNNERS[contender](n, files, run)
                    finally:
                        teardown(keep)
                    print('   ' + ', '.join('%s=%s' % (k, _rounded(v)) for k, v in sorted(figures.items())), flush=True)
                    raw[str(n)][contender].append(figures)
    except (RuntimeError, subprocess.SubprocessError, libvirt.libvirtError) as err:
        # The runs so far are kept: the JSON says where it stopped and why.
        error = str(err)
        print(error, file=sys.stderr)
    finally:
        image_play(workdir / 'image.json', 'absent')
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(raw)
    verdicts = targets(summary, raw)
    result = {'date': stamp, 'machine': machine(), 'sizes': sizes, 'runs': args.runs, 'raw': raw,
              'summary': summary, 'targets': [{'passed': ok, 'line': line} for ok, line in verdicts],
              'error': error}
    path = args.results / ('bench-%s.json' % stamp)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + '\n')
    print()
    print(table(summary))
    print()
    for ok, line in verdicts:
        print('%s %s' % ({True: 'PASS', False: 'FAIL', None: 'SKIP'}[ok], line))
    print('\nraw figures: %s' % path)
    if error:
        print('\nINCOMPLETE: a run failed (above); the figures are those of the runs before it.')
        return 2
    return 1 if any(ok is False for ok, _line in verdicts) else 0


if __name__ == '__main__':
    sys.exit(main())
