"""Stand-in for the get-pip bootstrap script ansible-test downloads from a host outside the
package registries: bootstrap pip from the interpreter's own ensurepip, then run
``pip install`` with the arguments ansible-test passes (pip itself comes from PyPI)."""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')

saved_config = os.environ.get('PIP_CONFIG_FILE')
ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null for itself; the real install needs the config.
if saved_config is None:
    os.environ.pop('PIP_CONFIG_FILE', None)
else:
    os.environ['PIP_CONFIG_FILE'] = saved_config
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
