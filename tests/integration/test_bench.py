"""The fleet benchmark (bench/run.py) cannot rot: a run with two servers brings the fleet up all
three ways on this machine's hypervisor, reports every figure and leaves nothing behind. The
timings themselves are not judged here; the benchmark's own targets need N=10, 30 and 100."""

import json
import subprocess
import sys

import pytest

from ansible_run import ROOT
from cloud_fixture import connected

pytestmark = pytest.mark.integration

URI = 'qemu:///system'


def leftovers():
    with connected(URI) as conn:
        pool = conn.storagePoolLookupByName('kvmcloud-volumes')
        pool.refresh()
        return ([d.name() for d in conn.listAllDomains() if d.name().startswith('kcb-')]
                + [n.name() for n in conn.listAllNetworks() if n.name().startswith('kcb-')]
                + [v.name() for v in pool.listAllVolumes() if 'kcb-' in v.name()]
                + [f.name() for f in conn.listAllNWFilters() if 'kcb-' in f.name()])


def test_a_two_server_run_reports_every_figure_and_leaves_nothing_behind(tmp_path, tiny_image_file):
    proc = subprocess.run([sys.executable, str(ROOT / 'bench' / 'run.py'), '--sizes', '2', '--runs', '1',
                           '--image', str(tiny_image_file), '--results', str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    [path] = list(tmp_path.glob('bench-*.json'))
    result = json.loads(path.read_text())
    assert result['error'] is None, result['error']
    runs = result['raw']['2']
    assert sorted(runs) == ['community.libvirt', 'floor', 'kvmcloud']

    ours = runs['kvmcloud'][0]
    assert 0 < ours['cold_s'] <= ours['ready_s'], ours
    assert ours['rerun_s'] > 0 and ours['check_s'] > 0 and ours['rss_mib'] > 0
    assert ours['rerun_changed'] == 0 and ours['check_changed'] == 0, 'the no-op re-run and check mode change nothing'
    # Five pairs of one no-op and one check run; the run's figure is the median of each five.
    assert len(ours['rerun_samples']) == 5 and len(ours['check_samples']) == 5, ours
    assert sorted(ours['rerun_samples'])[2] == ours['rerun_s'] and sorted(ours['check_samples'])[2] == ours['check_s']
    # A ping playbook on the same inventory after each no-op re-run, its floor.
    assert len(ours['ping_samples']) == 5 and sorted(ours['ping_samples'])[2] == ours['ping_s'] > 0, ours
    assert ours['rerun_vs_ping'] > 1, 'a no-op re-run of the fleet costs more than a ping'
    for figures in (ours, runs['community.libvirt'][0]):
        assert figures['settle_s'] > 0 and 0 <= figures['idle_cpu_pct'] <= 100, figures
    peer = runs['community.libvirt'][0]
    assert 0 < peer['cold_s'] <= peer['ready_s'] and peer['rerun_s'] > 0 and peer['rss_mib'] > 0, peer
    assert isinstance(peer['rerun_changed'], int)
    floor = runs['floor'][0]
    assert 0 < floor['cold_s'] <= floor['ready_s'] and floor['rss_mib'] > 0, floor

    for contender in runs:
        assert result['summary']['2'][contender]['cold_s']['runs'] == 1
    assert 'cold bring-up' in proc.stdout and 'kvmcloud' in proc.stdout
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(('PASS', 'FAIL', 'SKIP'))]
    assert len(verdicts) == 5 and all(line.startswith('SKIP') for line in verdicts), verdicts
    assert leftovers() == [], 'the benchmark removes everything it made'


def test_the_inventory_benchmark_lists_every_server_both_ways_and_leaves_nothing_behind(tmp_path, tiny_image_file):
    proc = subprocess.run([sys.executable, str(ROOT / 'bench' / 'inventory.py'), '--sizes', '2', '3', '--runs', '1',
                           '--results', str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    [path] = list(tmp_path.glob('inventory-*.json'))
    result = json.loads(path.read_text())
    # Each run checked that both contenders listed every benchmark server of its size.
    assert sorted(result['seconds']) == ['2', '3']
    for by_kind in result['seconds'].values():
        assert sorted(by_kind) == ['community.libvirt', 'kvmcloud'] and all(
            len(times) == 1 and times[0] > 0 for times in by_kind.values()), by_kind
    assert [v['what'] for v in result['verdicts']] == ['kvmcloud --list at 3 vs at 2', 'kvmcloud vs community.libvirt at 3']
    assert leftovers() == [], 'the benchmark removes everything it made'
