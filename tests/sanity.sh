#!/usr/bin/env bash
# Run ansible-test sanity on a copy of the collection laid out as
# ansible_collections/kvmcloud/cloud, which ansible-test requires.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/kvmcloud-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/kvmcloud/cloud"
mkdir -p "$dest"
# Files git knows (tracked, or new and not ignored), without the link back to the root.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/ansible_collections/' \
    | xargs -0 -I{} cp --parents -P {} "$dest/")
# ansible-test bootstraps pip in its virtual environments with a script from a host outside
# the package registries; put an offline stand-in where it caches that script.
pip_version=$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; from types import SimpleNamespace as N; print(g(N(version="3"))["pip"])')
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cp "$root/tests/get_pip_offline.py" "$cache"

cd "$dest"
git init -q && git add -A >/dev/null
ansible-test sanity --color no --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    --requirements "$@"
