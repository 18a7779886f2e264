#!/bin/sh
# Build a small Debian guest disk with Debian's own cloud-init, offline from the Debian mirror
# apt already uses (nothing else is downloaded):
#   - debootstrap of the suite with systemd, the kernel, cloud-init, openssh-server and python3;
#   - the root file system made into ext4 with mkfs.ext4 -d (no loop device, no mount);
#   - a FAT boot partition with the kernel, its initramfs and syslinux, and syslinux's MBR;
#   - both partitions put together into one disk, converted to qcow2.
#
# Usage: build-debian-image.sh --output PATH --suite SUITE --mirror URL --packages "PKG ..."
#                              --cmdline "ARGS" [--user NAME]
# Needs root (debootstrap, chroot) and: debootstrap, mkfs.ext4, mkfs.vfat, syslinux, mtools,
# sfdisk, qemu-img. Prints what it built.
set -eu

output="" suite=bookworm mirror="" packages="" cmdline="console=ttyS0" user=debian
while [ $# -gt 0 ]; do
    case $1 in
        --output) output=$2 ;;
        --suite) suite=$2 ;;
        --mirror) mirror=$2 ;;
        --packages) packages=$2 ;;
        --cmdline) cmdline=$2 ;;
        --user) user=$2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -z "$output" ]; then
    echo "--output is required" >&2
    exit 2
fi
if [ -z "$mirror" ]; then
    # The first Debian mirror apt uses here (deb822 sources, then the one-line format).
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /^https?:/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { echo "no --mirror, and apt here names no Debian mirror" >&2; exit 2; }
fi

work=$(mktemp -d)
root=$work/root
cleanup() {
    # debootstrap mounts /proc and /sys in the tree while it runs; never remove through a mount.
    for mount in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do
        if mountpoint -q "$mount" 2>/dev/null; then umount -l "$mount"; fi
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# --- root file system --------------------------------------------------------------------------

include=$(echo "$packages" | tr -s ' ' ',')
if ! debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    # What dpkg said, when a package failed to configure.
    grep -B2 -A6 'dpkg: error' "$root/debootstrap/debootstrap.log" 2>/dev/null | tail -30 >&2 || true
    exit 1
fi
for mount in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do
    if mountpoint -q "$mount"; then umount -l "$mount"; fi
done
kver=$(ls "$root/lib/modules")
if [ ! -f "$root/boot/vmlinuz-$kver" ] || [ ! -f "$root/boot/initrd.img-$kver" ]; then
    echo "no kernel or initramfs in the tree (is a linux-image package in --packages?)" >&2
    exit 1
fi

# cloud-init reads only the NoCloud seed kvmcloud attaches, so no other datasource is probed.
cat > "$root/etc/cloud/cloud.cfg.d/90-kvmcloud.cfg" <<EOF
datasource_list: [NoCloud, None]
# There is no locales package: the locale stays C.UTF-8 unless the user data sets one.
locale: false
system_info:
  default_user:
    name: $user
EOF
cat > "$root/etc/fstab" <<'EOF'
LABEL=kvmcloud-root / ext4 errors=remount-ro 0 1
EOF
cat > "$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
source /etc/network/interfaces.d/*
EOF
echo localhost > "$root/etc/hostname"
# Every server gets its own: systemd makes a machine id on first boot, cloud-init host keys.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

# --- disk --------------------------------------------------------------------------------------

# Sizes in MiB: the root file system with a fifth to spare, a boot partition for the kernel.
root_mib=$(( $(du -sm --one-file-system "$root" | cut -f1) * 6 / 5 + 64 ))
boot_mib=64
mkfs.ext4 -q -L kvmcloud-root -d "$root" "$work/root.img" "${root_mib}M" > /dev/null

cat > "$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND root=LABEL=kvmcloud-root ro $cmdline
EOF
export MTOOLS_SKIP_CHECK=1 # mtools would object to the image's made-up disk geometry
# The boot partition starts at sector 2048; its boot sector says so, for syslinux to find itself.
mkfs.vfat -C -h 2048 -n KVMBOOT "$work/boot.img" $((boot_mib * 1024)) > /dev/null
syslinux --install "$work/boot.img"
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
mcopy -i "$work/boot.img" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/

disk=$work/disk.img
truncate -s $((1 + boot_mib + root_mib))M "$disk"
printf 'label: dos\nstart=2048, size=%dM, type=c, bootable\ntype=83\n' "$boot_mib" |
    sfdisk -q "$disk"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/boot.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$disk" bs=1M seek=$((1 + boot_mib)) conv=notrunc,sparse status=none

mkdir -p "$(dirname "$output")"
qemu-img convert -f raw -O qcow2 "$disk" "$output.tmp"
mv -f "$output.tmp" "$output"

echo "kernel $kver"
echo "mirror $mirror"
echo "cloud_init $(chroot "$root" dpkg-query -W -f "\${Version}" cloud-init 2>/dev/null || echo unknown)"
echo "root_mib $root_mib"
echo "image $output $(wc -c < "$output")"
