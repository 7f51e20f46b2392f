#!/bin/bash
# Builds the Superfluid test guest from Debian packages only (linux-image-cloud-amd64,
# busybox-static, qemu-utils, e2fsprogs, cpio):
#   OUTDIR/vmlinuz      a copy of the cloud kernel
#   OUTDIR/initrd.img   an uncompressed busybox initramfs: guest/init, busybox applets, the
#                       kernel modules the guest needs (with their dependencies, loaded in
#                       dependency order from /etc/modules.load)
#   OUTDIR/disk.qcow2   a small qcow2 disk (ext4 with a marker file) to test the disk path
#   OUTDIR/stamp        what it was built from; rebuilds are skipped when it is unchanged
# Usage: tools/mkguest.sh [--force] OUTDIR
# Environment: SF_GUEST_KVER (kernel version, default: the newest *-cloud-amd64 in /boot),
#              BUSYBOX (default: /bin/busybox).
set -euo pipefail

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--force] OUTDIR" >&2; exit 2; }
out=$1
top=$(cd "$(dirname "$0")/.." && pwd)
guest=$top/guest

# Modules the guest loads. Dependencies are added from modules.dep; built-in ones are skipped.
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
         failover net_failover virtio_net virtio_blk virtio_rng
         llc stp garp mrp 8021q macvlan
         fat vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1
         cdrom sr_mod isofs
         button evdev"

die() { echo "mkguest: $*" >&2; exit 1; }

kver=${SF_GUEST_KVER:-}
if [ -z "$kver" ]; then
        k=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1) ||
                die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
        [ -n "$k" ] || die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
        kver=${k#/boot/vmlinuz-}
fi
kernel=/boot/vmlinuz-$kver
moddir=/usr/lib/modules/$kver
[ -d "$moddir" ] || moddir=/lib/modules/$kver
[ -r "$kernel" ] || die "cannot read $kernel"
[ -r "$moddir/modules.dep" ] || die "no $moddir/modules.dep"
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "no $busybox (install busybox-static)"
# A dynamic busybox would not run in the initramfs: look for a PT_INTERP program header.
has_interp() {
        local f=$1 phoff phentsize phnum i
        phoff=$(od -An -t u8 -j 32 -N 8 "$f" | tr -d ' ')
        phentsize=$(od -An -t u2 -j 54 -N 2 "$f" | tr -d ' ')
        phnum=$(od -An -t u2 -j 56 -N 2 "$f" | tr -d ' ')
        for ((i = 0; i < phnum; i++)); do
                [ "$(od -An -t u4 -j $((phoff + i * phentsize)) -N 4 "$f" | tr -d ' ')" = 3 ] &&
                        return 0
        done
        return 1
}
has_interp "$busybox" && die "$busybox is not static (install busybox-static)"
for t in cpio qemu-img mke2fs; do
        command -v $t >/dev/null || die "$t not found"
done

# Skip the build when nothing it depends on changed.
stamp=$( { echo "kernel $kver $(stat -c '%s %Y' "$kernel")";
           echo "busybox $(sha256sum <"$busybox")";
           echo "modules $MODULES";
           cat "$0"; find "$guest" -type f | sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)
if [ $force = 0 ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
   [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ -f "$out/disk.qcow2" ]; then
        echo "mkguest: $out is up to date"
        exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-mkguest.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# --- Modules: resolve names to files, then dependencies first (depth-first over
# modules.dep, whose lines are "path: dep-path dep-path ..."). ---
declare -A path_of deps_of loaded
while IFS= read -r line; do
        p=${line%%:*}
        n=$(basename "$p"); n=${n%%.ko*}; n=${n//-/_}
        path_of[$n]=$p
        deps_of[$p]=${line#*:}
done <"$moddir/modules.dep"
builtin=$(sed 's|.*/||; s|\.ko.*||; s|-|_|g' "$moddir/modules.builtin" 2>/dev/null || true)
order=()
add() { # path
        local p=$1 d
        [ -n "${loaded[$p]:-}" ] && return 0
        loaded[$p]=1
        for d in ${deps_of[$p]}; do add "$d"; done
        order+=("$p")
}
for m in $MODULES; do
        n=${m//-/_}
        if [ -n "${path_of[$n]:-}" ]; then
                add "${path_of[$n]}"
        elif echo "$builtin" | grep -qx "$n"; then
                echo "mkguest: $m is built into $kver"
        else
                die "module $m not found in $moddir"
        fi
done

mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,lib/modules,www,seed,mnt,var/log,var/run}
: >"$root/etc/modules.load"
for p in "${order[@]}"; do
        f=$(basename "$p")
        case $f in
        *.ko) cp "$moddir/$p" "$root/lib/modules/$f" ;;
        *.ko.xz) xz -dc "$moddir/$p" >"$root/lib/modules/${f%.xz}"; f=${f%.xz} ;;
        *.ko.zst) zstd -qdc "$moddir/$p" >"$root/lib/modules/${f%.zst}"; f=${f%.zst} ;;
        *.ko.gz) gzip -dc "$moddir/$p" >"$root/lib/modules/${f%.gz}"; f=${f%.gz} ;;
        *) die "unknown module file type: $p" ;;
        esac
        echo "$f" >>"$root/etc/modules.load"
done

# --- busybox and its applets. ---
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
ln -sf ../bin/busybox "$root/sbin/init"
cp "$guest/init" "$root/init"
chmod 755 "$root/init"
cp -r "$guest/acpi" "$root/etc/acpi"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "$kver" >"$root/etc/sf-guest-kernel"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) \
        >"$work/initrd.img"

# --- A small disk: ext4 with a marker, as qcow2 (the driver puts an overlay on top). ---
mkdir -p "$work/disk"
echo "superfluid test disk" >"$work/disk/sf-disk-marker"
mke2fs -q -t ext4 -L sfdisk -d "$work/disk" -F "$work/disk.raw" 16M >/dev/null
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

cp "$kernel" "$work/vmlinuz"
for f in vmlinuz initrd.img disk.qcow2; do
        mv -f "$work/$f" "$out/$f"
done
echo "$stamp" >"$out/stamp"
echo "mkguest: built $out (kernel $kver, ${#order[@]} modules," \
     "initrd $(( $(stat -c %s "$out/initrd.img") / 1024 )) KiB)"
