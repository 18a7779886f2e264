"""The user's own re-run: ``make cloud`` a second time on the demo (the whole playbooks/site.yml,
hypervisor set-up included) against a playbook of one ``ansible.builtin.ping`` task on the same
inventory and configuration, in pairs, back to back, order alternating.

    .venv/bin/python bench/rerun.py [--pairs 6] [--json FILE]

Prints each task's median time and whether it ran, the medians of both playbooks and the
median of the per-pair ratios; the target is a ratio of at most 8. Run it after ``make cloud``:
every site.yml run here must report changed=0.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 8.0
PING_PLAY = [{'name': 'Ping the controller', 'hosts': 'controller', 'gather_facts': False,
              'tasks': [{'name': 'Ping', 'ansible.builtin.ping': {}}]}]


def env(times):
    out = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    out.update(PATH='%s:%s' % (BIN, out.get('PATH', '')), ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / 'collections'),
               ANSIBLE_CALLBACK_PLUGINS=str(ROOT / 'bench' / 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='task_times', KVMCLOUD_TASK_TIMES=str(times))
    return out


def run(playbook, times):
    """``(wall seconds, changed count, task times)`` of one run; a failed run is fatal."""
    started = time.monotonic()
    proc = subprocess.run([str(BIN / 'ansible-playbook'), str(playbook)], cwd=ROOT, env=env(times),
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit('%s failed (exit %d):\n%s' % (playbook, proc.returncode, proc.stdout[-4000:]))
    changed = sum(int(c) for c in re.findall(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)', proc.stdout, re.MULTILINE))
    return wall, changed, json.loads(times.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pairs', type=int, default=6, help='site.yml/ping pairs (default: 6)')
    parser.add_argument('--json', type=Path, help='also write the figures to this file')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='kvmcloud-rerun-') as tmp:
        ping = Path(tmp) / 'ping.yml'
        ping.write_text(json.dumps(PING_PLAY))
        times = Path(tmp) / 'times.json'
        run(ROOT / 'playbooks' / 'site.yml', times)  # warm-up: caches, and proof that it converges
        sites, pings, tasks = [], [], {}
        for pair in range(args.pairs):
            order = [('site', ROOT / 'playbooks' / 'site.yml'), ('ping', ping)]
            for kind, playbook in (order if pair % 2 == 0 else order[::-1]):
                wall, changed, task_times = run(playbook, times)
                if kind == 'ping':
                    pings.append(wall)
                    continue
                if changed:
                    raise SystemExit('site.yml changed %d things on a re-run; run make cloud first' % changed)
                sites.append(wall)
                for index, task in enumerate(task_times):
                    tasks.setdefault((index, task['name'], task['action']), []).append(task)
    ratios = [s / p for s, p in zip(sites, pings)]
    ran = [(key, [t['seconds'] for t in runs]) for key, runs in sorted(tasks.items()) if not runs[0]['skipped']]
    print('%8s  %s' % ('median s', 'task that ran (the others were skipped)'))
    for (_index, name, action), seconds in ran:
        print('%8.3f  %s [%s]' % (statistics.median(seconds), name, action))
    skipped = sum(1 for runs in tasks.values() if runs[0]['skipped'])
    result = {'site_s': statistics.median(sites), 'ping_s': statistics.median(pings), 'ratio': statistics.median(ratios),
              'site_samples': sites, 'ping_samples': pings, 'tasks_ran': len(ran), 'tasks_skipped': skipped,
              'tasks': [{'name': name, 'action': action, 'median_s': statistics.median(seconds)}
                        for (_i, name, action), seconds in ran]}
    print('\n%d tasks ran, %d skipped' % (len(ran), skipped))
    print('site.yml re-run %.2fs (%.2f-%.2f), ping playbook %.2fs (%.2f-%.2f)'
          % (result['site_s'], min(sites), max(sites), result['ping_s'], min(pings), max(pings)))
    verdict = 'PASS' if result['ratio'] <= TARGET else 'FAIL'
    print('%s the user\'s re-run of site.yml: %.2f x a ping playbook, median of %d pairs (target <= %g)'
          % (verdict, result['ratio'], len(ratios), TARGET))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + '\n')
    return 0 if verdict == 'PASS' else 1


if __name__ == '__main__':
    sys.exit(main())
