"""Run the collection's modules the way users do: through ansible, from this checkout."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def ansible_env(collections_path=None, extra=None):
    """Environment for ansible commands: this checkout's ansible.cfg and collections, no colour."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
        ANSIBLE_COLLECTIONS_PATH=str(collections_path or ROOT / 'collections'),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_LOAD_CALLBACK_PLUGINS='0',
        ANSIBLE_STDOUT_CALLBACK='minimal',
        ANSIBLE_CALLBACK_RESULT_FORMAT='json',
        PATH='%s:%s' % (BIN, env.get('PATH', '')),
    )
    env.update(extra or {})
    return env


def run_module(module, args, check=False, diff=False, collections_path=None, cwd=None, config=None):
    """Run ``kvmcloud.cloud.<module>`` (or a full name) on localhost in a one-task play and
    return its registered result, ``diff`` included.

    The result has ``failed`` true when the module failed; ansible itself failing raises.
    """
    name = module if '.' in module else 'kvmcloud.cloud.%s' % module
    with tempfile.TemporaryDirectory(prefix='kvmcloud-run-') as tmp:
        out = os.path.join(tmp, 'result.json')
        play = [{
            'hosts': 'localhost', 'gather_facts': False,
            'tasks': [
                {'name': 'run the module', name: args, 'register': 'result', 'ignore_errors': True},
                {'name': 'keep the result', 'check_mode': False, 'diff': False,
                 'ansible.builtin.copy': {'content': '{{ result | to_json }}', 'dest': out, 'mode': '0600'}},
            ],
        }]
        playbook = os.path.join(tmp, 'play.yml')
        with open(playbook, 'w') as handle:
            json.dump(play, handle)
        cmd = [str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, playbook]
        if check:
            cmd.append('--check')
        if diff:
            cmd.append('--diff')
        extra = {'ANSIBLE_CONFIG': config} if config else None
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd or ROOT,
                              env=ansible_env(collections_path, extra))
        if not os.path.exists(out):
            raise RuntimeError('ansible-playbook failed (rc %s):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
        with open(out) as handle:
            result = json.load(handle)
    result.setdefault('failed', False)
    return result


def unchanged(result):
    """Whether a module run succeeded and reported no change (a failed run reports none too)."""
    return not result['failed'] and result['changed'] is False
