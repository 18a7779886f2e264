#!/bin/sh
# Build the guest that probes KVM: Debian's cloud kernel, taken out of its package without
# installing it, and an initramfs whose init powers the guest off as soon as it runs.
# Usage: build-probe-guest.sh DIR   (writes DIR/vmlinuz and DIR/initrd.img)
set -eu
dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"

kernel_pkg=$(apt-cache depends --important linux-image-cloud-amd64 \
    | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "no kernel package behind linux-image-cloud-amd64" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kernel_pkg" >/dev/null)
dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/pkg"
cp "$work"/pkg/boot/vmlinuz-* "$work/vmlinuz"

root="$work/root"
mkdir -p "$root/bin" "$root/dev" "$root/proc"
cp /bin/busybox "$root/bin/busybox"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox echo "kvmcloud-probe: guest booted" > /dev/ttyS0
/bin/busybox poweroff -f
INIT
chmod 0755 "$root/init"
(cd "$root" && find . | cpio --quiet -o -H newc | gzip -9 > "$work/initrd.img")

install -m 0644 "$work/vmlinuz" "$dir/vmlinuz"
# initrd.img last: the role checks for it to know the build is complete.
install -m 0644 "$work/initrd.img" "$dir/initrd.img"
