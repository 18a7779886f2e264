#!/bin/sh
# What the hypervisor role needs to know of a host before it changes anything, in one run, as
# JSON on stdout: whether systemd runs, which of the packages are not installed, which of the
# daemons do not run (started directly: a pid file naming a live process of that name), the
# owner group and mode of the KVM device, and through libvirt (virsh) each of the pools and
# the recorded virtualisation type. What libvirt cannot tell (not installed, not running) is
# null, and the role then runs the steps that depend on it.
# Usage: host-state.sh --packages "P ..." --daemons "D ..." --kvm-device PATH --kvm-group GROUP
#                      --uri URI --pools "POOL ..." --record POOL/VOLUME
set -eu

packages="" daemons="" device="" group="" uri="" pools="" record=""
while [ $# -gt 0 ]; do
    case $1 in
        --packages) packages=$2 ;;
        --daemons) daemons=$2 ;;
        --kvm-device) device=$2 ;;
        --kvm-group) group=$2 ;;
        --uri) uri=$2 ;;
        --pools) pools=$2 ;;
        --record) record=$2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift 2
done

json_list() {
    first=1
    printf '['
    for item in "$@"; do
        [ $first -eq 1 ] || printf ', '
        printf '"%s"' "$item"
        first=0
    done
    printf ']'
}

# shellcheck disable=SC2086  # word splitting of the lists is intended
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $packages 2>/dev/null | awk '$1 == "ii" { print $2 }')
missing=""
for package in $packages; do
    printf '%s\n' "$installed" | grep -qx "$package" || missing="$missing $package"
done

stopped=""
for daemon in $daemons; do
    pid=$(cat "/run/$daemon.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$daemon" ]; then
        stopped="$stopped $daemon"
    fi
done

if [ -d /run/systemd/system ]; then systemd=true; else systemd=false; fi
if getent group "$group" > /dev/null; then group_exists=true; else group_exists=false; fi
if [ -e "$device" ]; then
    device_json=$(stat -c '{"exists": true, "group": "%G", "mode": "%a"}' "$device")
else
    device_json='{"exists": false, "group": null, "mode": null}'
fi

# A string as JSON: backslashes and double quotes escaped (the values here have no control characters).
json_string() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Each pool: null when it does not exist, else whether it runs and starts with libvirt, its path and mode.
pools_json=null
record_json=null
if command -v virsh > /dev/null && virsh -q -c "$uri" uri > /dev/null 2>&1; then
    pools_json='{'
    first=1
    for pool in $pools; do
        [ $first -eq 1 ] || pools_json="$pools_json, "
        first=0
        if info=$(virsh -c "$uri" pool-info "$pool" 2>/dev/null); then
            xml=$(virsh -c "$uri" pool-dumpxml "$pool")
            active=false autostart=false
            printf '%s\n' "$info" | grep -q '^State: *running' && active=true
            printf '%s\n' "$info" | grep -q '^Autostart: *yes' && autostart=true
            path=$(printf '%s\n' "$xml" | sed -n 's:.*<path>\(.*\)</path>.*:\1:p' | head -n 1)
            mode=$(printf '%s\n' "$xml" | sed -n 's:.*<mode>\(.*\)</mode>.*:\1:p' | head -n 1)
            pools_json="$pools_json\"$pool\": {\"active\": $active, \"autostart\": $autostart, \"path\": $(json_string "$path"), \"mode\": $(json_string "$mode")}"
        else
            pools_json="$pools_json\"$pool\": null"
        fi
    done
    pools_json="$pools_json}"
    # The record the probe wrote (hypervisor/record.py): its type and reason; null when there is none.
    saved=$(mktemp)
    if virsh -c "$uri" vol-download --pool "${record%%/*}" "${record#*/}" "$saved" > /dev/null 2>&1; then
        virt_type=$(sed -n 's/.*"virt_type": *"\([a-z]*\)".*/\1/p' "$saved" | head -n 1)
        reason=$(sed -n 's/.*"reason": *"\(.*\)",* *$/\1/p' "$saved" | head -n 1)
        record_json="{\"virt_type\": $(json_string "$virt_type"), \"reason\": $(json_string "$reason")}"
    fi
    rm -f "$saved"
fi

# shellcheck disable=SC2086
printf '{"systemd": %s, "missing_packages": %s, "stopped_daemons": %s, "kvm_group_exists": %s, "kvm_device": %s, ' \
    "$systemd" "$(json_list $missing)" "$(json_list $stopped)" "$group_exists" "$device_json"
printf '"pools": %s, "record": %s}\n' "$pools_json" "$record_json"
