#!/bin/sh
# What deciding whether to build the tiny image needs, in one run, as JSON on stdout: which
# build packages are not installed, the kernel package and its version, the stamp of the last
# build and the sha256 of the image there now.
#
# The kernel comes from apt's package lists (the package the metapackage depends on, unless
# one is named, and its candidate version). Asking apt-cache takes a second, so the answer the
# last build recorded in its stamp is used again while the lists are the same files as then:
# their key is a hash of their names, sizes and modification times.
# Usage: build-state.sh --packages "P ..." --metapackage PKG [--kernel-package PKG] --output PATH
set -eu

packages="" metapackage="" kernel_package="" output=""
while [ $# -gt 0 ]; do
    case $1 in
        --packages) packages=$2 ;;
        --metapackage) metapackage=$2 ;;
        --kernel-package) kernel_package=$2 ;;
        --output) output=$2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift 2
done
stamp=$output.stamp

missing=""
# shellcheck disable=SC2086  # word splitting of the list is intended
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $packages 2>/dev/null | awk '$1 == "ii" { print $2 }')
for package in $packages; do
    printf '%s\n' "$installed" | grep -qx "$package" || missing="$missing \"$package\""
done
missing=$(printf '%s' "$missing" | sed 's/^ //; s/" "/", "/g')

lists_key=$(find /var/lib/apt/lists -maxdepth 1 -type f -name '*_Packages*' -printf '%f %s %T@\n' 2>/dev/null \
    | LC_ALL=C sort | sha256sum | cut -d' ' -f1)

stamp_json=null
if [ -s "$stamp" ]; then
    stamp_json=$(cat "$stamp")
fi

# The kernel: from the stamp when the lists are the ones it was read from.
kernel_version=""
recorded=$(printf '%s' "$stamp_json" | sed -n 's/.*"lists_key": "\([0-9a-f]*\)".*/\1/p' | head -n 1)
if [ "$recorded" = "$lists_key" ] && [ -z "$kernel_package" ]; then
    kernel_package=$(printf '%s' "$stamp_json" | sed -n 's/.*"kernel_package": "\([^"]*\)".*/\1/p' | head -n 1)
    kernel_version=$(printf '%s' "$stamp_json" | sed -n 's/.*"kernel_version": "\([^"]*\)".*/\1/p' | head -n 1)
fi
if [ -z "$kernel_package" ]; then
    kernel_package=$(apt-cache depends --important "$metapackage" \
        | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
if [ -n "$kernel_package" ] && [ -z "$kernel_version" ]; then
    kernel_version=$(apt-cache show --no-all-versions "$kernel_package" 2>/dev/null \
        | awk '/^Version: / { print $2; exit }')
fi

image_sha256=null
if [ -f "$output" ]; then
    image_sha256="\"$(sha256sum "$output" | cut -d' ' -f1)\""
fi

printf '{"missing_packages": [%s], "lists_key": "%s", "kernel_package": "%s", "kernel_version": "%s", ' \
    "$missing" "$lists_key" "$kernel_package" "$kernel_version"
printf '"image_sha256": %s, "stamp": %s}\n' "$image_sha256" "$stamp_json"
