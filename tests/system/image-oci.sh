#!/bin/bash
# System test of OCI layout import with layers made by GNU tar (./ prefixes, hard links, device
# nodes, set-uid bits, whiteouts, opaque dirs; gzip, plain and zstd), from a directory and from a
# tar file; then a container rootfs from it runs busybox. Needs root (exit 77 otherwise).
#   SF_IMAGE_TEST=build/tests/unit/image/sf-image-test tests/system/image-oci.sh
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
for need in /bin/busybox tar zstd sha256sum; do
        if ! command -v "$need" >/dev/null; then
                echo "SKIP: needs $need"
                exit 77
        fi
done

tmp=$(mktemp -d /var/tmp/sf-image-oci.XXXXXX)
passed=0
failed=0
cleanup() {
        local rc=$?
        [ -d "$tmp/c1" ] && "$SFI" - release "$tmp/c1" >/dev/null 2>&1 || true
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
check() {
        local what=$1
        shift
        if "$@"; then ok "$what"; else fail "$what"; fi
}

layout=$tmp/layout
mkdir -p "$layout/blobs/sha256"
blob() { # blob FILE -> prints "sha256:<hex> <size>" and stores the blob
        local h
        h=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "$layout/blobs/sha256/$h"
        echo "sha256:$h $(stat -c %s "$1")"
}

# Layer 1: a small busybox system, tarred by GNU tar with "./" prefixes.
b=$tmp/l1
mkdir -p "$b/bin" "$b/dev" "$b/etc" "$b/opt" "$b/usr/bin"
cp /bin/busybox "$b/bin/busybox"
ln -s busybox "$b/bin/sh"
ln "$b/bin/busybox" "$b/bin/cat" # a hard link
ln -s ../../bin/busybox "$b/usr/bin/env"
mknod "$b/dev/null" c 1 3
echo "remove me" >"$b/etc/remove-me"
echo "old" >"$b/opt/old"
echo "suid" >"$b/bin/suid"
chmod 4755 "$b/bin/suid"
tar -C "$b" --numeric-owner -czf "$tmp/l1.tar.gz" .
# Layer 2, plain tar: a whiteout and an opaque dir.
b=$tmp/l2
mkdir -p "$b/etc" "$b/opt"
: >"$b/etc/.wh.remove-me"
: >"$b/opt/.wh..wh..opq"
echo "new" >"$b/opt/new"
tar -C "$b" --numeric-owner -cf "$tmp/l2.tar" .
# Layer 3, zstd.
b=$tmp/l3
mkdir -p "$b/srv"
echo "hello from layer 3" >"$b/srv/hello"
tar -C "$b" --numeric-owner --zstd -cf "$tmp/l3.tar.zst" .

read -r d1 s1 < <(blob "$tmp/l1.tar.gz")
read -r d2 s2 < <(blob "$tmp/l2.tar")
read -r d3 s3 < <(blob "$tmp/l3.tar.zst")
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
cat >"$tmp/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"2025-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh","-c","cat /srv/hello"],"WorkingDir":"/srv"},
 "rootfs":{"type":"layers","diff_ids":["$d1","$d2","$d3"]}}
JSON
read -r dc sc < <(blob "$tmp/config.json")
cat >"$tmp/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$dc","size":$sc},
 "layers":[
  {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$d1","size":$s1},
  {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$d2","size":$s2},
  {"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"$d3","size":$s3}]}
JSON
read -r dm sm < <(blob "$tmp/manifest.json")
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$dm\",\"size\":$sm}]}" >"$layout/index.json"
tar -C "$layout" -cf "$tmp/layout.tar" .

store=$tmp/store
"$SFI" "$store" import-oci test/oci:dir "$layout"
"$SFI" "$store" import-oci test/oci:tar "$tmp/layout.tar"
r=$store/images/test+oci=dir/rootfs
check "both imports have the config digest as id" \
        test "$("$SFI" "$store" list | cut -f2 | sort -u)" = "$dc"
check "symlink kept" test "$(readlink "$r/bin/sh")" = busybox
check "hard link kept" test "$(stat -c %i "$r/bin/cat")" = "$(stat -c %i "$r/bin/busybox")"
check "device node kept" test -c "$r/dev/null" -a "$(stat -c %t:%T "$r/dev/null")" = 1:3
check "set-uid kept" test "$(stat -c %a "$r/bin/suid")" = 4755
check "whiteout applied" test ! -e "$r/etc/remove-me" -a ! -e "$r/etc/.wh.remove-me"
check "opaque dir applied" test ! -e "$r/opt/old" -a -f "$r/opt/new" -a ! -e "$r/opt/.wh..wh..opq"
check "zstd layer applied" test -f "$r/srv/hello"
check "Cmd from config" grep -q '"cat /srv/hello"' <("$SFI" "$store" inspect test/oci:dir)

rootfs=$("$SFI" "$store" prepare test/oci:tar "$tmp/c1")
check "container runs" test "$(chroot "$rootfs" /bin/sh -c 'cd /srv && cat hello')" = "hello from layer 3"
"$SFI" - release "$tmp/c1"
check "released" test ! -e "$tmp/c1/rootfs"

# A corrupted layer blob is refused and leaves nothing.
printf x >>"$layout/blobs/sha256/${d3#sha256:}"
if out=$("$SFI" "$store" import-oci test/oci:bad "$layout" 2>&1); then
        fail "corrupt layer refused"
else
        check "corrupt layer refused" grep -q "layer 2 .*descriptor says" <<<"$out"
fi
check "nothing left of the failed import" test ! -e "$store/images/test+oci=bad" -a -z "$(ls -A "$store/tmp")"
"$SFI" "$store" rm test/oci:dir
"$SFI" "$store" rm test/oci:tar
check "images removed" test -z "$("$SFI" "$store" list)"
