"""What each module of the collection carries: the module_utils files Ansible packs into its
payload (the files its imports reach, function-level imports included), their size, the size of
the whole AnsiballZ payload, how long Ansible takes to build it on the controller, and how long
the module's imports take to load from the payload on the target.

    .venv/bin/python bench/payload.py [--repo DIR] [--runs N] [--json FILE]

``--repo`` measures another checkout (an older commit, for a before/after comparison); its
``collections/`` must resolve ``kvmcloud.cloud`` to it, as this repository's does.
"""

import argparse
import base64
import datetime
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ansible._internal._ansiballz import _builder
from ansible._internal._datatag._tags import Origin
from ansible.executor import module_common
from ansible.plugins.loader import init_plugin_loader

ROOT = Path(__file__).resolve().parent.parent
PREFIX = 'ansible_collections/kvmcloud/cloud/'


def build(path, name):
    """``(zip bytes, seconds)`` of the payload Ansible builds for the module at ``path``."""
    data = path.read_bytes()
    started = time.perf_counter()
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        module_common.recursive_finder(name, 'ansible_collections.kvmcloud.cloud.plugins.modules.' + name,
                                       Origin(path=str(path)).tag(data), archive,
                                       datetime.datetime.now(datetime.timezone.utc),
                                       _builder.ExtensionManager.create(task_vars={}))
    base64.b64encode(out.getvalue())
    return out.getvalue(), time.perf_counter() - started


IMPORT_TIMER = r'''
import sys, time, zipfile
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
__import__(sys.argv[2])
print(time.perf_counter() - started)
'''


def import_seconds(payload, name):
    """How long importing the module takes from its payload, as on the target (no bytecode cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        zipped = Path(tmp) / 'payload.zip'
        with zipfile.ZipFile(zipped, 'w') as archive:
            with zipfile.ZipFile(io.BytesIO(payload)) as source:
                for item in source.infolist():
                    archive.writestr(item, source.read(item))
                names = set(source.namelist())
            # The module itself, in its package, as Ansible adds it.
            archive.writestr(PREFIX + 'plugins/modules/%s.py' % name,
                             (ROOT_OF['repo'] / 'plugins' / 'modules' / ('%s.py' % name)).read_bytes())
            if PREFIX + 'plugins/modules/__init__.py' not in names:
                archive.writestr(PREFIX + 'plugins/modules/__init__.py', '')
        proc = subprocess.run([sys.executable, '-c', IMPORT_TIMER, str(zipped),
                               'ansible_collections.kvmcloud.cloud.plugins.modules.' + name],
                              capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONDONTWRITEBYTECODE='1'))
        if proc.returncode:
            raise RuntimeError('importing %s from its payload failed: %s' % (name, proc.stderr[-2000:]))
        return float(proc.stdout.strip())


ROOT_OF = {}


def measure(repo, runs):
    ROOT_OF['repo'] = repo
    collections = repo / 'collections'
    sys.path.insert(0, str(collections))
    init_plugin_loader([str(collections)])
    rows = []
    for path in sorted((repo / 'plugins' / 'modules').glob('*.py')):
        name = path.stem
        builds, imports = [], []
        payload = None
        for _run in range(runs):
            payload, seconds = build(path, name)
            builds.append(seconds)
            imports.append(import_seconds(payload, name))
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            ours = [i for i in archive.infolist() if i.filename.startswith(PREFIX + 'plugins/module_utils/')
                    and not i.filename.endswith('__init__.py')]
        rows.append({'module': name, 'files': len(ours), 'module_utils_bytes': sum(i.file_size for i in ours),
                     'payload_bytes': len(base64.b64encode(payload)), 'build_s': statistics.median(builds),
                     'import_s': statistics.median(imports)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repo', type=Path, default=ROOT, help='the checkout to measure (default: this one)')
    parser.add_argument('--runs', type=int, default=5, help='builds and imports per module; medians are printed')
    parser.add_argument('--json', type=Path, help='also write the figures to this file')
    args = parser.parse_args()
    rows = measure(args.repo.resolve(), args.runs)
    print('%-18s %5s %12s %12s %9s %9s' % ('module', 'files', 'utils bytes', 'payload', 'build s', 'import s'))
    for row in rows:
        print('%-18s %5d %12d %12d %9.3f %9.3f' % (row['module'], row['files'], row['module_utils_bytes'],
                                                   row['payload_bytes'], row['build_s'], row['import_s']))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + '\n')


if __name__ == '__main__':
    main()
