#!/bin/bash
# Builds the 5G/MEC demonstrator workloads (examples/5g-mec/src) as static binaries and one root
# filesystem per image (sf-rrh, sf-bbu, sf-epc, sf-tof, sf-meo, sf-video, sf-ue): busybox with its
# applets for debugging, /etc files, the program at /usr/bin/<name>. Idempotent: binaries are
# rebuilt only when a source changed, root filesystems are rebuilt in a staging dir and swapped in.
# With --import, imports them into every node's image store through sfctl (existing images are
# kept unless --replace). See examples/5g-mec/README.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src="$top/examples/5g-mec/src"
out="$top/build/demo-images"
do_import=0
replace=0
asan=0
sfctl="$top/build/src/cli/sfctl"
node=""
endpoint=""
busybox=/bin/busybox
CC=${CC:-gcc}
PROGRAMS="rrh bbu epc tof meo video ue"

usage() {
        cat <<EOF
Usage: tools/build-demo-images.sh [OPTIONS]

Builds the 5G/MEC demonstrator workloads and their image root filesystems.

  --out DIR         build directory (default: build/demo-images)
                    DIR/bin/<prog>          static binaries
                    DIR/rootfs/sf-<prog>/   one root filesystem per image
                    DIR/asan/<prog>         with --asan: ASan+UBSan builds (dynamic), for tests
  --asan            also build the sanitized binaries (no images from them)
  --import          import every image into the nodes' image stores (sfctl image import
                    DIR --name sf-<prog> --format rootfs); existing ones are kept
  --replace         with --import: remove and re-import images that already exist
  --sfctl PATH      sfctl to use (default: build/src/cli/sfctl, else sfctl from PATH)
  --endpoint URL    sfd API endpoint for sfctl (default: SUPERFLUID_ENDPOINT or sfctl's)
  --node NODE       import into this node only (default: every node)
  --busybox PATH    static busybox to put in the images (default: /bin/busybox)
  --help            this text

Images: $(for p in $PROGRAMS; do printf 'sf-%s ' "$p"; done)
EOF
}

while [ $# -gt 0 ]; do
        case "$1" in
        --out) out=$2; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        --asan) asan=1; shift ;;
        --import) do_import=1; shift ;;
        --replace) replace=1; shift ;;
        --sfctl) sfctl=$2; shift 2 ;;
        --endpoint) endpoint=$2; shift 2 ;;
        --node) node=$2; shift 2 ;;
        --busybox) busybox=$2; shift 2 ;;
        --help|-h) usage; exit 0 ;;
        *) echo "build-demo-images: unknown argument '$1' (try --help)" >&2; exit 2 ;;
        esac
done

die() { echo "build-demo-images: $*" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

command -v "$CC" >/dev/null || die "no C compiler '$CC' (apt-get install gcc)"
[ -x "$busybox" ] || die "no busybox at '$busybox' (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q "statically linked" ||
        { ldd "$busybox" >/dev/null 2>&1 && die "'$busybox' is dynamically linked: use busybox-static"; }

# ---- binaries ----

CFLAGS_COMMON="-std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Werror"
common_srcs="sfw.c sfw-http.c sfw-relay.c sfw.h"

sources_of() { # program -> its source files (relative to $src)
        case "$1" in
        rrh|bbu|epc) echo "$1.c sfw-hop.c sfw-hop.h $common_srcs" ;;
        *) echo "$1.c $common_srcs" ;;
        esac
}

# build DIR FLAGS...: builds every program into DIR when a source is newer than the binary
build() {
        local dir=$1; shift
        mkdir -p "$dir"
        local p f newer csrcs
        for p in $PROGRAMS; do
                newer=0
                [ -x "$dir/$p" ] || newer=1
                csrcs=""
                for f in $(sources_of "$p"); do
                        [ "$src/$f" -nt "$dir/$p" ] && newer=1
                        case "$f" in *.c) csrcs+=" $src/$f" ;; esac
                done
                [ "$0" -nt "$dir/$p" ] && newer=1
                [ $newer = 1 ] || continue
                # shellcheck disable=SC2086
                "$CC" $CFLAGS_COMMON "$@" -o "$dir/$p.tmp" $csrcs -lm || die "compiling $p failed"
                mv -f "$dir/$p.tmp" "$dir/$p"
                echo "built $dir/$p"
        done
}

build "$out/bin" -O2 -static
for p in $PROGRAMS; do
        file "$out/bin/$p" | grep -q "statically linked" || die "$out/bin/$p is not statically linked"
done
[ $asan = 1 ] && build "$out/asan" -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined

# ---- root filesystems ----

applets=$("$busybox" --list-full 2>/dev/null || true)
full=1
if [ -z "$applets" ]; then
        applets=$("$busybox" --list)
        full=0
fi

# The part every image shares: directories, busybox and its applets, /etc files.
make_base() { # dir
        local dir=$1 a up
        rm -rf "$dir"
        mkdir -p "$dir"
        cd "$dir"
        mkdir -p bin sbin usr/bin usr/sbin etc/superfluid dev proc sys tmp root run var/tmp var/log
        chmod 1777 tmp var/tmp
        chmod 0700 root
        chmod 0555 proc sys
        cp "$busybox" bin/busybox
        chmod 0755 bin/busybox
        for a in $applets; do
                if [ $full = 1 ]; then
                        case "$a" in
                        bin/*) up="" ;;
                        sbin/*) up="../bin/" ;;
                        usr/bin/*|usr/sbin/*) up="../../bin/" ;;
                        *) continue ;;
                        esac
                else
                        a="bin/$a"; up=""
                fi
                [ "${a##*/}" = busybox ] && continue
                [ -e "$a" ] || [ -L "$a" ] || ln -s "${up}busybox" "$a"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
        printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
        printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > etc/hosts
        : > etc/resolv.conf
        chmod 0644 etc/passwd etc/group etc/hosts etc/resolv.conf
        cd - >/dev/null
}

make_rootfs() { # prog
        local p=$1 img="sf-$1" dir stage
        dir="$out/rootfs/$img"
        stage="$out/rootfs/.$img.new"
        rm -rf "$stage"
        cp -a "$out/rootfs/.base" "$stage"
        install -m 0755 "$out/bin/$p" "$stage/usr/bin/$p"
        printf '%s\n' "$img" > "$stage/etc/hostname"
        printf 'NAME="Superfluid demo workload"\nID=superfluid-demo\nPRETTY_NAME="%s (Superfluid 5G/MEC demonstrator)"\n' \
                "$img" > "$stage/etc/os-release"
        printf 'Image %s of the Superfluid 5G/MEC demonstrator: /usr/bin/%s (static), busybox for debugging.\nRun: /usr/bin/%s --config /etc/superfluid/cloud-init   (the day-0 file the NS layer writes; also $SF_CONFIG)\n     /usr/bin/%s --help\n' \
                "$img" "$p" "$p" "$p" > "$stage/etc/superfluid/README"
        chmod 0644 "$stage/etc/hostname" "$stage/etc/os-release" "$stage/etc/superfluid/README"
        rm -rf "$dir.old"
        if [ -d "$dir" ]; then mv "$dir" "$dir.old"; fi
        mv "$stage" "$dir"
        rm -rf "$dir.old"
}

mkdir -p "$out/rootfs"
make_base "$out/rootfs/.base"
for p in $PROGRAMS; do
        make_rootfs "$p"
done
rm -rf "$out/rootfs/.base"
echo "root filesystems in $out/rootfs: $(cd "$out/rootfs" && echo sf-*)"

# ---- import ----

if [ $do_import = 0 ]; then
        echo "to import them into every node's image store:"
        for p in $PROGRAMS; do
                echo "  sfctl image import $out/rootfs/sf-$p --name sf-$p --format rootfs"
        done
        exit 0
fi

if [ ! -x "$sfctl" ]; then
        sfctl=$(command -v sfctl) || die "no sfctl (build it, or pass --sfctl PATH)"
fi
sf=("$sfctl")
[ -n "$endpoint" ] && sf+=(--endpoint "$endpoint")
nodeargs=()
[ -n "$node" ] && nodeargs=(--node "$node")

have_image() { # canonical name -> 0 when some (selected) node has it
        "${sf[@]}" image list "${nodeargs[@]}" -o json 2>/dev/null |
                jq -e --arg n "$1" 'map(select(.name == $n)) | length > 0' >/dev/null
}

for p in $PROGRAMS; do
        img="sf-$p"
        if have_image "$img:latest"; then
                if [ $replace = 0 ]; then
                        echo "$img: already imported, kept (--replace to re-import)"
                        continue
                fi
                "${sf[@]}" image rm "$img" "${nodeargs[@]}" || die "cannot remove $img (containers still use it?)"
        fi
        "${sf[@]}" image import "$out/rootfs/$img" --name "$img" --format rootfs "${nodeargs[@]}" ||
                die "import of $img failed"
done
