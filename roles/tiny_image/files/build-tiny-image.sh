#!/bin/sh
# Build the kvmcloud tiny guest image, offline from Debian's packages:
#   - the kernel of a Debian kernel package, taken out of the .deb without installing it;
#   - an initramfs that is the whole root filesystem: busybox-static, the kernel modules the
#     guest needs with their dependencies, and the guest's /init (files next to this script);
#   - a FAT file system made bootable with syslinux holding both, converted to qcow2.
#
# Usage: build-tiny-image.sh --output PATH --kernel-package PKG --modules "MOD ..." --cmdline "ARGS"
# Needs root (device node in the initramfs) and: apt-get, dpkg-deb, depmod, modprobe, cpio,
# gzip, busybox-static, mkfs.vfat, syslinux, mtools, qemu-img. Prints what it built.
set -eu

output="" kernel_package="" modules="" cmdline="console=ttyS0"
while [ $# -gt 0 ]; do
    case $1 in
        --output) output=$2 ;;
        --kernel-package) kernel_package=$2 ;;
        --modules) modules=$2 ;;
        --cmdline) cmdline=$2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -z "$output" ] || [ -z "$kernel_package" ]; then
    echo "--output and --kernel-package are required" >&2
    exit 2
fi

sources=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
kernel_tree=$work/kernel

# --- kernel ------------------------------------------------------------------------------------

# apt's download sandbox user cannot write to the private work dir; root downloads it.
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$kernel_package" > /dev/null)
dpkg-deb -x "$work/${kernel_package}"_*.deb "$kernel_tree"
kver=$(ls "$kernel_tree/lib/modules")
vmlinuz=$kernel_tree/boot/vmlinuz-$kver
grep -q '^CONFIG_RD_GZIP=y' "$kernel_tree/boot/config-$kver" ||
    { echo "kernel $kver cannot unpack a gzip initramfs" >&2; exit 1; }
# The package leaves modules.dep to its postinst; generate it in the extracted tree.
depmod -b "$kernel_tree" "$kver"

# --- initramfs ---------------------------------------------------------------------------------

mkdir -p "$root"
for dir in bin sbin usr/bin usr/sbin dev proc sys run tmp root etc/acpi/PWRF lib/kvmcloud \
    usr/share/udhcpc var/log; do
    mkdir -p "$root/$dir"
done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
    case $applet in
        bin/busybox | linuxrc) ;;
        *) [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet" ;;
    esac
done
# The kernel opens /dev/console for init before /init can mount devtmpfs.
mknod -m 0600 "$root/dev/console" c 5 1

install -m 0755 "$sources/init" "$root/init"
install -m 0644 "$sources/cloud-config.awk" "$root/lib/kvmcloud/cloud-config.awk"
install -m 0755 "$sources/disk-event" "$root/lib/kvmcloud/disk-event"
install -m 0755 "$sources/udhcpc.script" "$root/usr/share/udhcpc/default.script"
install -m 0755 "$sources/power-button" "$root/etc/acpi/PWRF/00000080"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
: > "$root/etc/resolv.conf"

# Each module with the modules it needs, dependencies first, in the order /init loads them.
modules_dir=lib/modules/$kver
mkdir -p "$root/$modules_dir"
load_list=$root/$modules_dir/kvmcloud.load
: > "$load_list"
for module in $modules; do
    modprobe -d "$kernel_tree" -S "$kver" --show-depends "$module" > "$work/depends"
    while read -r kind path _; do
        [ "$kind" = insmod ] || continue # "builtin NAME": part of the kernel itself
        relative=${path#"$kernel_tree/$modules_dir/"}
        if ! grep -qxF "$relative" "$load_list"; then
            mkdir -p "$root/$modules_dir/$(dirname "$relative")"
            cp "$path" "$root/$modules_dir/$relative"
            echo "$relative" >> "$load_list"
        fi
    done < "$work/depends"
done
for index in modules.builtin modules.builtin.modinfo modules.order; do
    cp "$kernel_tree/$modules_dir/$index" "$root/$modules_dir/"
done
depmod -b "$root" "$kver" # so that modprobe works inside the guest too

(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 -n > "$work/initrd.img"

# --- boot disk ---------------------------------------------------------------------------------

cat > "$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT kvmcloud
PROMPT 0
TIMEOUT 0
LABEL kvmcloud
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline
EOF
cp "$vmlinuz" "$work/vmlinuz"
export MTOOLS_SKIP_CHECK=1 # mtools would object to the image's made-up disk geometry
# Room for both files plus 1 MiB for syslinux and the FAT itself, in KiB.
size_kib=$(( ($(wc -c < "$work/vmlinuz") + $(wc -c < "$work/initrd.img")) / 1024 + 1024 ))
mkfs.vfat -C -n KVMCLOUD "$work/disk.img" "$size_kib" > /dev/null
syslinux --install "$work/disk.img"
mcopy -i "$work/disk.img" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/

mkdir -p "$(dirname "$output")"
qemu-img convert -f raw -O qcow2 "$work/disk.img" "$output.tmp"
mv -f "$output.tmp" "$output"

echo "kernel $kernel_package $kver"
echo "modules $(wc -l < "$load_list")"
echo "initramfs_bytes $(wc -c < "$work/initrd.img")"
echo "image $output $(wc -c < "$output")"
