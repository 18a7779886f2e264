"""``make bench-inventory``: ``ansible-inventory --list`` over the cloud's servers, kvmcloud's
inventory plugin against community.libvirt's, on the same fleet in the same run.

For each fleet size (10 and 100 by default) the benchmark's servers are created stopped on this
machine's hypervisor (qemu:///system, as ``make cloud`` sets it up) with bench/kvmcloud/fleet.yml,
the fleet bench/run.py uses with ``power_state: stopped``: the servers are defined, with their
overlays, seeds and fixed addresses, and nothing boots. Then, RUNS times, one of each back to back
in alternating order:

* ``kvmcloud``: ``ansible-inventory -i bench.kvmcloud.yml --list`` with plugin
  ``kvmcloud.cloud.kvmcloud`` (the cloud definition inline), in the project's virtual environment;
* ``community.libvirt``: ``ansible-inventory -i bench.libvirt.yml --list`` with plugin
  ``community.libvirt.libvirt`` on the same URI, in the peer's virtual environment
  (bench/community_libvirt/setup.sh).

Each lists every domain of the hypervisor (both see the same ones); a run's figure is the median
of its RUNS. Targets (issue 18): kvmcloud at 100 servers <= 1.5x kvmcloud at 10, and kvmcloud at
100 <= 1.0x community.libvirt at 100. The raw figures go to bench/results/ as JSON.
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as fleetbench  # noqa: E402  pylint: disable=wrong-import-position

RUNS = 5
SCALE_TARGET = 1.5
PEER_TARGET = 1.0


def stopped_fleet_vars(n, image_file):
    """bench/run.py's fleet of ``n`` servers, defined and stopped."""
    params = fleetbench.kvmcloud_vars(n, image_file)
    params['bench_servers'] = [dict(s, power_state='stopped') for s in params['bench_servers']]
    return params


def bring_up(n, image_file, workdir):
    extra = workdir / ('fleet-%d.json' % n)
    extra.write_text(json.dumps(stopped_fleet_vars(n, image_file)))
    subprocess.run([str(fleetbench.VENV_BIN / 'ansible-playbook'), '-i', 'localhost,',
                    str(fleetbench.BENCH / 'kvmcloud' / 'fleet.yml'), '-e', '@%s' % extra],
                   check=True, env=fleetbench.ansible_env('kvmcloud'), cwd=fleetbench.ROOT, stdout=subprocess.DEVNULL)


def configs(workdir, image_file):
    cloud = fleetbench.kvmcloud_vars(0, image_file)['bench_cloud']
    ours = workdir / 'bench.kvmcloud.yml'
    ours.write_text(yaml.safe_dump({'plugin': 'kvmcloud.cloud.kvmcloud', 'cloud': cloud}))
    peer = workdir / 'bench.libvirt.yml'
    peer.write_text(yaml.safe_dump({'plugin': 'community.libvirt.libvirt', 'uri': fleetbench.URI}))
    return {'kvmcloud': (ours, fleetbench.VENV_BIN / 'ansible-inventory'),
            'community.libvirt': (peer, fleetbench.PEER / '.venv' / 'bin' / 'ansible-inventory')}


def list_hosts(kind, config, binary):
    """One ``ansible-inventory --list``: ``(seconds, hosts listed)``."""
    started = time.monotonic()
    proc = subprocess.run([str(binary), '-i', str(config), '--list'], env=fleetbench.ansible_env(kind),
                          cwd=fleetbench.ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError('%s: ansible-inventory failed: %s' % (kind, proc.stderr[-2000:]))
    hosts = json.loads(proc.stdout).get('_meta', {}).get('hostvars', {})
    return seconds, sorted(hosts)


def measure(n, contenders, runs):
    out = {kind: [] for kind in contenders}
    listed = {}
    for i in range(runs):
        kinds = list(contenders) if i % 2 == 0 else list(reversed(list(contenders)))
        for kind in kinds:
            seconds, hosts = list_hosts(kind, *contenders[kind])
            out[kind].append(seconds)
            listed[kind] = [h for h in hosts if h.startswith(fleetbench.PREFIX)]
    for kind, hosts in listed.items():
        if len(hosts) != n:
            raise RuntimeError('%s listed %d of the %d benchmark servers' % (kind, len(hosts), n))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[10, 100])
    parser.add_argument('--runs', type=int, default=RUNS)
    parser.add_argument('--results', type=Path, default=fleetbench.BENCH / 'results', help='where the JSON goes')
    args = parser.parse_args()
    image_file = fleetbench.ROOT / 'build' / 'images' / 'kvmcloud-tiny.qcow2'
    raw = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        keep, _base, _virt_type = fleetbench.setup(image_file, workdir, peer=True)
        contenders = configs(workdir, image_file)
        try:
            for n in sorted(args.sizes):
                bring_up(n, image_file, workdir)
                raw[n] = measure(n, contenders, args.runs)
        finally:
            fleetbench.teardown(keep)
            fleetbench.image_play(workdir / 'image.json', 'absent')
    median = {n: {kind: statistics.median(times) for kind, times in by_kind.items()} for n, by_kind in raw.items()}
    print('%-6s %-18s %8s %8s %8s' % ('N', 'contender', 'median', 'min', 'max'))
    for n, by_kind in raw.items():
        for kind, times in by_kind.items():
            print('%-6d %-18s %7.2fs %7.2fs %7.2fs' % (n, kind, median[n][kind], min(times), max(times)))
    verdicts = []
    sizes = sorted(raw)
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        ratio = median[big]['kvmcloud'] / median[small]['kvmcloud']
        verdicts.append(('kvmcloud --list at %d vs at %d' % (big, small), ratio, SCALE_TARGET))
    big = sizes[-1]
    ratio = median[big]['kvmcloud'] / median[big]['community.libvirt']
    verdicts.append(('kvmcloud vs community.libvirt at %d' % big, ratio, PEER_TARGET))
    for what, ratio, target in verdicts:
        print('%-45s %5.2fx (target <= %.1f) %s' % (what, ratio, target, 'PASS' if ratio <= target else 'FAIL'))
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    (args.results / ('inventory-%s.json' % stamp)).write_text(json.dumps(
        {'runs': args.runs, 'seconds': {str(n): v for n, v in raw.items()},
         'verdicts': [{'what': w, 'ratio': r, 'target': t, 'pass': r <= t} for w, r, t in verdicts]}, indent=2))
    # The verdicts are the figures' judgement, printed and recorded; the exit status says the
    # benchmark ran (tests/integration/test_bench.py runs it at sizes no target is meant for).
    return 0


if __name__ == '__main__':
    sys.exit(main())
