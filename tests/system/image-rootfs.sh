#!/bin/bash
# System test of container root filesystems: build the busybox image into a temporary store,
# prepare two overlay rootfs from it, check that writes stay in their own container, that the
# image is refused removal while used, release both (one while busy: lazy detach), check no
# mount is left, then remove the image. Needs root (exit 77 otherwise).
#   SF_IMAGE_TEST=build/tests/unit/image/sf-image-test tests/system/image-rootfs.sh
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root"
        exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
SFI=${SF_IMAGE_TEST:-$here/../../build/tests/unit/image/sf-image-test}
if [ ! -x "$SFI" ]; then
        echo "FAIL: sf-image-test not found at '$SFI' (set SF_IMAGE_TEST)"
        exit 1
fi
if [ ! -x /bin/busybox ]; then
        echo "SKIP: no /bin/busybox (apt-get install busybox-static)"
        exit 77
fi
if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2>/dev/null; then
        echo "SKIP: no overlayfs in this kernel"
        exit 77
fi

tmp=$(mktemp -d /var/tmp/sf-image-rootfs.XXXXXX)
sleeper=
passed=0
failed=0

cleanup() {
        local rc=$?
        [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null || true
        for c in "$tmp"/containers/*; do
                [ -d "$c" ] && "$SFI" - release "$c" >/dev/null 2>&1 || true
        done
        # Belt and braces: nothing of ours may stay mounted.
        awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
                while read -r m; do umount -l "$m" || true; done
        rm -rf "$tmp"
        echo "$passed passed, $failed failed"
        if [ "$rc" = 0 ] && [ "$failed" != 0 ]; then rc=1; fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
        local what=$1
        shift
        if "$@"; then ok "$what"; else fail "$what"; fi
}
mounts_under() { awk -v t="$tmp/" 'index($2, t) == 1' /proc/mounts | wc -l; }

store=$tmp/store
img=$store/images/busybox=latest/rootfs
c1=$tmp/containers/c1
c2=$tmp/containers/c2

"$SFI" "$store" busybox busybox
check "busybox image listed" grep -q '^busybox:latest' <("$SFI" "$store" list)
check "image has Cmd sh" grep -q '"sh"' <("$SFI" "$store" inspect busybox)

r1=$("$SFI" "$store" prepare busybox "$c1")
r2=$("$SFI" "$store" prepare busybox:latest "$c2")
check "prepare returns <dir>/rootfs" test "$r1" = "$c1/rootfs" -a "$r2" = "$c2/rootfs"
check "c1 mounted" test "$("$SFI" - is-mounted "$c1")" = yes
check "c2 mounted" test "$("$SFI" - is-mounted "$c2")" = yes
check "overlay in /proc/mounts" grep -q "^overlay $r1 overlay .*lowerdir=$img" /proc/mounts
check "busybox runs in the rootfs" test "$(chroot "$r1" /bin/sh -c 'echo hello')" = hello

# Writes in c1: a new file, a deleted file, a day-0 file through the library.
echo c1 >"$r1/etc/motd"
rm "$r1/var/www/index.html"
"$SFI" - write-file "$r1" /etc/app/day0.conf "x=1"
check "c1 sees its writes" test -f "$r1/etc/motd" -a ! -e "$r1/var/www/index.html"
check "day-0 file readable in the container" \
        test "$(chroot "$r1" /bin/cat /etc/app/day0.conf)" = "x=1"
check "c2 untouched" test ! -e "$r2/etc/motd" -a -f "$r2/var/www/index.html" -a ! -e "$r2/etc/app"
check "image untouched" test ! -e "$img/etc/motd" -a -f "$img/var/www/index.html" -a ! -e "$img/etc/app"
check "c1 upper holds the changes" test -f "$c1/upper/etc/motd" -a -c "$c1/upper/var/www/index.html"

# Idempotent prepare: same path, no second mount.
r1b=$("$SFI" "$store" prepare busybox "$c1")
check "prepare again is idempotent" test "$r1b" = "$r1" -a "$(grep -c " $r1 " /proc/mounts)" = 1
if "$SFI" "$store" prepare other "$tmp/containers/c3" 2>/dev/null; then
        fail "prepare of a missing image fails"
else
        ok "prepare of a missing image fails"
fi
check "failed prepare leaves nothing" test ! -e "$tmp/containers/c3"
if "$SFI" "$store" prepare busybox:other "$c1" 2>/dev/null; then
        fail "prepare of another image on a used dir fails"
else
        ok "prepare of another image on a used dir fails"
fi

check "users lists both" test "$("$SFI" "$store" users busybox | tr '\n' ' ')" = "c1 c2 "
if out=$("$SFI" "$store" rm busybox 2>&1); then
        fail "rm refused while in use"
else
        check "rm refused while in use, naming users" grep -q "in use by 2 containers: 'c1', 'c2'" <<<"$out"
fi

# Release c2 normally.
"$SFI" - release "$c2"
check "c2 unmounted" test "$("$SFI" - is-mounted "$c2")" = no
check "c2 dirs removed" test ! -e "$c2/upper" -a ! -e "$c2/work" -a ! -e "$c2/rootfs" -a ! -e "$c2/image-ref.json"
"$SFI" - release "$c2"
ok "release again is idempotent"

# Release c1 while a process has its cwd there: lazy detach, reported.
(cd "$r1" && exec sleep 60) &
sleeper=$!
sleep 0.2
rel_err=$("$SFI" - release "$c1" 2>&1)
check "busy release detaches lazily and says so" grep -q "detached lazily" <<<"$rel_err"
kill "$sleeper"
wait "$sleeper" 2>/dev/null || true
sleeper=
check "c1 dirs removed" test ! -e "$c1/upper" -a ! -e "$c1/rootfs"

check "no mounts left under the test dir" test "$(mounts_under)" = 0
check "no users left" test -z "$("$SFI" "$store" users busybox)"
"$SFI" "$store" rm busybox
check "image removed" test -z "$("$SFI" "$store" list)" -a ! -e "$store/images/busybox=latest"
check "store tmp empty" test -z "$(ls -A "$store/tmp")"
