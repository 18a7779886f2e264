#!/usr/bin/env bash
# Create the community.libvirt contender's virtual environment in .venv/ next to this script
# and install requirements.txt into it. Idempotent: a stamp holding the sha256 of
# requirements.txt skips the work when those requirements are already installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="$here/.venv"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

want=$(sha256sum "$requirements" | cut -d ' ' -f 1)
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "community.libvirt venv is current: $venv"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet -r "$requirements"
echo "$want" > "$stamp"
echo "community.libvirt venv installed: $venv"
