#!/bin/bash
# Builds the Superfluid test guest from Debian packages only (linux-image-cloud-amd64,
# busybox-static, qemu-utils, e2fsprogs, cpio):
#   OUTDIR/vmlinuz      a copy of the cloud kernel
#   OUTDIR/initrd.img   an uncompressed busybox initramfs: guest/init, busybox applets, the
#                       kernel modules the guest needs (with their dependencies, loaded in
#                       dependency order from /etc/modules.load: virtio, 8021q with llc, stp,
#                       garp and mrp, macvlan, ...), and sf-nest, the nested-container helper
#   OUTDIR/disk.qcow2   a small qcow2 disk (ext4 with a marker file) to test the disk path
#   OUTDIR/stamp        what it was built from; rebuilds are skipped when it is unchanged
# Usage: tools/mkguest.sh [--force] [--extra PROGRAM]... [--agent BUILDDIR] OUTDIR
#   --extra PROGRAM     also put this host program (a name on PATH or a path) in the guest's
#                       /bin, with the shared libraries ldd lists for it (e.g. iperf3)
#   --agent BUILDDIR    a nested-host guest (issue #9): the Superfluid agent from a meson build
#                       directory (sfd, and sf-shim next to it in /bin, where sfd looks for it)
#                       and runc from the host's PATH, with their libraries, plus the kernel
#                       modules the agent and runc need (overlay, veth, bridge, nf_tables);
#                       guest/init starts the agent when the seed has a superfluid-agent file
# Environment: SF_GUEST_KVER (kernel version, default: the newest *-cloud-amd64 in /boot),
#              BUSYBOX (default: /bin/busybox).
#
# Containers nested in the guest (issue #9): /bin/sf-nest makes a nested container, a network
# namespace held by its process, with a VLAN subinterface (a trunk subport) or a macvlan (a port
# allowed on the VM's port) on the guest's NIC, moved in with the port's MAC, address and MTU.
# A user-data script calls it at day-0, or "sf-nest serve" answers the same operations over
# HTTP with basic authentication (see the comment at the top of sf-nest below).
set -euo pipefail

usage() { echo "usage: $0 [--force] [--extra PROGRAM]... [--agent BUILDDIR] OUTDIR" >&2; exit 2; }
force=0
extras=()
agent_build=""
while [ $# -gt 0 ]; do
        case $1 in
        --force) force=1; shift ;;
        --extra) [ $# -ge 2 ] || usage; extras+=("$2"); shift 2 ;;
        --extra=*) extras+=("${1#--extra=}"); shift ;;
        --agent) [ $# -ge 2 ] || usage; agent_build=$2; shift 2 ;;
        --agent=*) agent_build=${1#--agent=}; shift ;;
        --) shift; break ;;
        -*) echo "mkguest: unknown option '$1'" >&2; usage ;;
        *) break ;;
        esac
done
[ $# -eq 1 ] || usage
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

# --agent: the agent's programs become extras; its modules join the list.
if [ -n "$agent_build" ]; then
        for p in src/sfd/sfd src/shim/sf-shim; do
                [ -x "$agent_build/$p" ] || die "--agent '$agent_build': no $p (build it: meson compile -C $agent_build)"
                extras+=("$(cd "$agent_build" && pwd)/$p")
        done
        command -v runc >/dev/null || die "--agent: runc not found on PATH (install runc)"
        extras+=(runc)
        MODULES="$MODULES overlay veth bridge nf_tables"
fi

# /bin/sf-nest, the guest side of nested containers.
write_sf_nest() {
        cat >"$1" <<'SFNEST'
#!/bin/sh
# sf-nest: containers nested in the Superfluid test guest (issue #9). A nested container is a
# network namespace held by its process (busybox unshare -n; httpd serving a page with its
# name), with one interface made on the guest's NIC and moved in, renamed eth0:
#  - mode=vlan: a VLAN subinterface with the trunk subport's VLAN id (nested-vlan),
#  - mode=macvlan: a bridge-mode macvlan (nested-macvlan, the port allowed on the VM's port),
# either with the port's MAC, address, MTU and gateway. Driven at day-0 (a user-data script
# calls it for static subports) or over HTTP: "sf-nest serve" runs busybox httpd on the VM's
# own address with basic authentication (user "sf", the token from day-0), whose CGI takes
# the same operations as form fields (POST op=add&name=...; GET ?op=list).
#
#   sf-nest add name=N mode=vlan|macvlan mac=MAC ip=ADDR/LEN [vid=1-4094] [gw=ADDR] [mtu=N]
#               [link=eth0] [iperf3=1]
#   sf-nest del name=N
#   sf-nest list
#   sf-nest ping [name=N] to=ADDR [count=N] [size=BYTES]  (without a name: from the guest)
#   sf-nest fetch [name=N] url=http://ADDR[:PORT]/PATH
#   sf-nest iperf3 [name=N] to=ADDR [t=SECONDS] [reverse=1]
#   sf-nest serve token=TOKEN [port=7482] [allow=ADDR]
# Answers are key=value lines. Exit status (and HTTP status): 0 ok (200), 1 invalid (400,
# with error= and field=), 2 usage (400), 3 not found (404), 4 conflict (409), 5 failed (500).
# IPv4 only. Names: [a-z0-9][a-z0-9-]{0,9}; the guest-side device is sfn-NAME until it moves.
PATH=/bin:/sbin
RUN=/run/sfnest
HTTP=/run/sfnest-http

fail() { # STATUS FIELD MESSAGE
        echo "error=$3"
        [ "$2" = - ] || echo "field=$2"
        exit "$1"
}
matches() { echo "$1" | grep -Eq "$2"; }
is_ip4() {
        matches "$1" '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' || return 1
        local IFS=. o
        for o in $1; do [ "$o" -le 255 ] || return 1; done
}
check() { # FIELD VALUE
        local v=$2
        case $1 in
        name) matches "$v" '^[a-z0-9][a-z0-9-]{0,9}$' ||
                fail 1 name "'$v' is not a nested container name ([a-z0-9][a-z0-9-], at most 10)" ;;
        mode) [ "$v" = vlan ] || [ "$v" = macvlan ] || fail 1 mode "'$v' is not vlan or macvlan" ;;
        mac) matches "$v" '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' || fail 1 mac "'$v' is not a MAC address"
             [ $((0x${v%%:*} & 1)) = 0 ] || fail 1 mac "'$v' is a multicast MAC address" ;;
        ip) is_ip4 "${v%/*}" && matches "$v" '^[0-9.]+/[0-9]{1,2}$' && [ "${v#*/}" -ge 1 ] &&
                [ "${v#*/}" -le 32 ] || fail 1 ip "'$v' is not an IPv4 address with a prefix length (10.0.0.5/24)" ;;
        gw|to) is_ip4 "$v" || fail 1 "$1" "'$v' is not an IPv4 address" ;;
        allow) is_ip4 "$v" || fail 1 allow "'$v' is not an IPv4 address" ;;
        vid) matches "$v" '^[0-9]{1,4}$' && [ "$v" -ge 1 ] && [ "$v" -le 4094 ] ||
                fail 1 vid "'$v' is not a VLAN id (1-4094)" ;;
        mtu) matches "$v" '^[0-9]{2,4}$' && [ "$v" -ge 68 ] && [ "$v" -le 9000 ] ||
                fail 1 mtu "'$v' is not an MTU (68-9000)" ;;
        link) matches "$v" '^[a-zA-Z0-9._-]{1,15}$' && [ -e "/sys/class/net/$v" ] ||
                fail 1 link "'$v' is not an interface of the guest" ;;
        iperf3|reverse) [ "$v" = 0 ] || [ "$v" = 1 ] || fail 1 "$1" "'$v' is not 0 or 1" ;;
        size) matches "$v" '^[0-9]{1,4}$' && [ "$v" -ge 16 ] && [ "$v" -le 8972 ] || fail 1 size "'$v' is not 16-8972 bytes" ;;
        count) matches "$v" '^[0-9]{1,2}$' && [ "$v" -ge 1 ] && [ "$v" -le 20 ] || fail 1 count "'$v' is not 1-20" ;;
        t) matches "$v" '^[0-9]{1,2}$' && [ "$v" -ge 1 ] && [ "$v" -le 60 ] || fail 1 t "'$v' is not 1-60 seconds" ;;
        url) matches "$v" '^http://[0-9.]+(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?$' ||
                fail 1 url "'$v' is not http://ADDRESS[:PORT]/PATH" ;;
        token) matches "$v" '^[A-Za-z0-9._-]{16,128}$' || fail 1 token "the token must be 16-128 of [A-Za-z0-9._-]" ;;
        port) matches "$v" '^[0-9]{1,5}$' && [ "$v" -ge 1 ] && [ "$v" -le 65535 ] || fail 1 port "'$v' is not a port" ;;
        *) fail 1 "$1" "unknown field" ;;
        esac
}
# parse ALLOWED-KEYS ARGS...: sets k_<key> for each key=value; unknown keys are refused.
parse() {
        local allowed=" $1 " a k
        shift
        for a in "$@"; do
                case $a in *=*) ;; *) fail 2 - "'$a' is not key=value" ;; esac
                k=${a%%=*}
                case $allowed in *" $k "*) ;; *) fail 1 "$k" "unknown field for this operation" ;; esac
                check "$k" "${a#*=}"
                eval "k_$k=\${a#*=}"
        done
}
need() { for f in "$@"; do eval "[ -n \"\${k_$f:-}\" ]" || fail 1 "$f" "is required"; done; }
netns_of() { readlink "/proc/$1/ns/net" 2>/dev/null; }
# PIDs in a network namespace ("net:[inode]"), from one listing of /proc.
pids_in() { ls -l /proc/[0-9]*/ns/net 2>/dev/null | awk -v ns="$1" '$NF == ns { split($(NF-2), p, "/"); print p[3] }'; }
holder() { cat "$RUN/$1/pid" 2>/dev/null; }
running() { local p; p=$(holder "$1") && [ -n "$p" ] && [ "$(netns_of "$p")" = "$(cat "$RUN/$1/netns" 2>/dev/null)" ]; }

# Everything of a nested container goes: its processes (so its namespace, and the interface
# in it, with them), the interface if it never moved, its directory.
remove() {
        local d=$RUN/$1 ns p i
        ns=$(cat "$d/netns" 2>/dev/null)
        p=$(holder "$1")
        [ -z "$p" ] || [ -n "$ns" ] || kill -9 "$p" 2>/dev/null # made, not yet recorded
        if [ -n "$ns" ]; then
                for i in $(seq 1 100); do
                        p=$(pids_in "$ns")
                        [ -n "$p" ] || break
                        kill -9 $p 2>/dev/null
                        usleep 20000
                done
        fi
        ip link del "sfn-$1" 2>/dev/null
        rm -rf "$d"
}

op_add() {
        k_link=eth0
        parse "name mode mac ip vid gw mtu link iperf3" "$@"
        need name mode mac ip
        local d=$RUN/$k_name dev=sfn-$k_name pid ns i
        if [ "$k_mode" = vlan ]; then need vid; elif [ -n "${k_vid:-}" ]; then fail 1 vid "is for mode=vlan only"; fi
        [ "${k_iperf3:-0}" = 0 ] || command -v iperf3 >/dev/null || fail 1 iperf3 "this guest has no iperf3 (tools/mkguest.sh --extra iperf3)"
        mkdir -p "$RUN"
        mkdir "$d" 2>/dev/null || fail 4 name "nested container '$k_name' exists"
        trap 'remove "$k_name"' EXIT
        if [ "$k_mode" = vlan ]; then
                ip link add link "$k_link" name "$dev" type vlan id "$k_vid" ||
                        fail 5 vid "VLAN $k_vid on $k_link failed (is 8021q loaded?)"
        else
                ip link add link "$k_link" name "$dev" type macvlan mode bridge || fail 5 mode "macvlan on $k_link failed"
        fi
        ip link set dev "$dev" address "$k_mac" || fail 5 mac "setting MAC $k_mac failed"
        if [ -n "${k_mtu:-}" ]; then ip link set dev "$dev" mtu "$k_mtu" || fail 5 mtu "MTU $k_mtu is more than $k_link's"; fi
        mkdir "$d/www"
        echo "<html><body>SF-NESTED name=$k_name mode=$k_mode</body></html>" >"$d/www/index.html"
        # The container: its own network namespace, its process writes its pid once inside.
        setsid unshare -n sh -c "echo \$\$ >$d/pid.new && mv $d/pid.new $d/pid && exec httpd -f -p 80 -h $d/www" \
                </dev/null >/dev/null 2>&1 &
        for i in $(seq 1 250); do [ -s "$d/pid" ] && break; usleep 20000; done
        pid=$(holder "$k_name") && [ -n "$pid" ] || fail 5 - "the nested container's process did not start"
        ns=$(netns_of "$pid")
        [ -n "$ns" ] && [ "$ns" != "$(netns_of $$)" ] || fail 5 - "the nested container has no namespace of its own"
        echo "$ns" >"$d/netns"
        ip link set dev "$dev" netns "$pid" || fail 5 - "moving $dev into the container failed"
        nsenter -t "$pid" -n sh -ec "ip link set dev $dev name eth0; ip link set lo up; ip link set eth0 up
                ip addr add $k_ip dev eth0${k_gw:+; ip route add default via $k_gw}" ||
                fail 5 - "configuring the container's interface failed"
        if [ "${k_iperf3:-0}" = 1 ]; then
                nsenter -t "$pid" -n setsid iperf3 -s -D </dev/null >/dev/null 2>&1 || fail 5 iperf3 "iperf3 -s failed"
        fi
        printf 'mode=%s\nvid=%s\nmac=%s\nip=%s\ngw=%s\nlink=%s\n' "$k_mode" "${k_vid:-}" "$k_mac" "$k_ip" \
                "${k_gw:-}" "$k_link" >"$d/info"
        trap - EXIT
        echo "name=$k_name"
        echo "pid=$pid"
        echo "netns=$ns"
        cat "$d/info"
}

op_del() {
        parse "name" "$@"
        need name
        [ -d "$RUN/$k_name" ] || fail 3 name "no nested container '$k_name'"
        remove "$k_name"
        echo "deleted=$k_name"
}

# What is there: nested containers, then what a leak check needs (links of the guest's own
# namespace other than lo and its NICs, and every other network namespace with processes).
op_list() {
        parse "" "$@"
        local d n own
        for d in "$RUN"/*; do
                [ -d "$d" ] || continue
                n=${d##*/}
                echo "container=$n running=$(running "$n" && echo 1 || echo 0) pid=$(holder "$n")" \
                     "$(tr '\n' ' ' <"$d/info" 2>/dev/null)"
        done
        own=$(netns_of $$)
        ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); if ($2 != "lo" && $2 !~ /^eth[0-9]+$/) print "link=" $2 }'
        ls -l /proc/[0-9]*/ns/net 2>/dev/null | awk -v own="$own" '$NF != own { split($(NF-2), p, "/"); n[$NF] = n[$NF] " " p[3] }
                END { for (k in n) print "netns=" k " pids=" substr(n[k], 2) }'
}

# Where ping, fetch and iperf3 run: a nested container's namespace ($NSX), or the guest's
# own without a name (to compare).
target() {
        NSX=""
        [ -n "$1" ] || return 0
        running "$1" || fail 3 name "no running nested container '$1'"
        NSX="nsenter -t $(holder "$1") -n"
}
op_ping() {
        parse "name to count size" "$@"
        need to
        target "${k_name:-}"
        $NSX ping -c "${k_count:-1}" -s "${k_size:-56}" -W 2 "$k_to" >/tmp/sfnest-ping.$$ 2>&1
        local rc=$?
        sed 's/^/out=/' /tmp/sfnest-ping.$$; rm -f /tmp/sfnest-ping.$$
        [ $rc = 0 ] || fail 5 to "no answer from $k_to"
        echo "reachable=$k_to"
}
op_fetch() {
        parse "name url" "$@"
        need url
        target "${k_name:-}"
        $NSX timeout 10 wget -q -O /tmp/sfnest-fetch.$$ "$k_url" 2>/dev/null
        local rc=$?
        [ $rc = 0 ] || { rm -f /tmp/sfnest-fetch.$$; fail 5 url "fetching $k_url failed"; }
        sed 's/^/body=/' /tmp/sfnest-fetch.$$; rm -f /tmp/sfnest-fetch.$$
}
op_iperf3() {
        parse "name to t reverse" "$@"
        need to
        command -v iperf3 >/dev/null || fail 1 - "this guest has no iperf3 (tools/mkguest.sh --extra iperf3)"
        local r=""
        [ "${k_reverse:-0}" = 0 ] || r=-R
        target "${k_name:-}"
        $NSX iperf3 -c "$k_to" -t "${k_t:-5}" $r -J >/tmp/sfnest-iperf.$$ 2>&1
        local rc=$?
        # one line of JSON, for the caller's jq
        echo "json=$(tr -d '\n' </tmp/sfnest-iperf.$$)"; rm -f /tmp/sfnest-iperf.$$
        [ $rc = 0 ] || fail 5 to "iperf3 to $k_to failed"
}

op_serve() {
        k_port=7482
        parse "token port allow" "$@"
        need token
        [ ! -s "$HTTP/pid" ] || ! kill -0 "$(cat "$HTTP/pid")" 2>/dev/null || fail 4 - "already serving"
        mkdir -p "$HTTP/www/cgi-bin"
        printf '#!/bin/sh\nexec /bin/sf-nest cgi\n' >"$HTTP/www/cgi-bin/nest"
        chmod 755 "$HTTP/www/cgi-bin/nest"
        { [ -z "${k_allow:-}" ] || printf 'A:%s\nD:*\n' "$k_allow"
          echo "/cgi-bin:sf:$k_token"; } >"$HTTP/httpd.conf"
        chmod 600 "$HTTP/httpd.conf"
        setsid httpd -f -p "$k_port" -h "$HTTP/www" -c "$HTTP/httpd.conf" -r superfluid </dev/null >/dev/null 2>&1 &
        echo $! >"$HTTP/pid"
        echo "serving=$k_port"
}

# The HTTP front end (busybox httpd CGI): form fields from the query string (GET) or the body
# (POST, application/x-www-form-urlencoded), URL-decoded; the answer with its status line.
op_cgi() {
        local form out rc status
        form=${QUERY_STRING:-}
        if [ "${REQUEST_METHOD:-GET}" = POST ]; then
                [ "${CONTENT_LENGTH:-0}" -le 4096 ] 2>/dev/null || { printf 'HTTP/1.0 413 Too Large\r\n\r\n'; exit 0; }
                form=$(head -c "${CONTENT_LENGTH:-0}")
        fi
        set -f # the fields are split on white space, never globbed
        set -- $(echo "$form" | awk 'BEGIN { RS = "&"; hex = "0123456789abcdef" }
                function dec(s,   o, i, c) {
                        gsub(/\+/, " ", s); o = ""
                        for (i = 1; i <= length(s); i++) {
                                c = substr(s, i, 1)
                                if (c == "%" && i + 2 <= length(s)) {
                                        o = o sprintf("%c", (index(hex, tolower(substr(s, i + 1, 1))) - 1) * 16 + index(hex, tolower(substr(s, i + 2, 1))) - 1)
                                        i += 2
                                } else o = o c
                        }
                        return o
                }
                { sub(/\r?\n$/, ""); if ($0 != "") print dec($0) }')
        set +f
        local op=""
        case ${1:-} in op=*) op=${1#op=}; shift ;; esac
        case $op in
        add|del|ping|fetch|iperf3) [ "${REQUEST_METHOD:-}" = POST ] || { printf 'HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain\r\n\r\nerror=use POST for op=%s\n' "$op"; exit 0; } ;;
        list) ;;
        *) printf 'HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nerror=unknown op\nfield=op\n'; exit 0 ;;
        esac
        out=$(/bin/sf-nest "$op" "$@" 2>&1)
        rc=$?
        case $rc in 0) status="200 OK" ;; 1|2) status="400 Bad Request" ;; 3) status="404 Not Found" ;;
                    4) status="409 Conflict" ;; *) status="500 Internal Server Error" ;; esac
        printf 'HTTP/1.0 %s\r\nContent-Type: text/plain\r\n\r\n%s\n' "$status" "$out"
}

op=${1:-}
[ $# -gt 0 ] && shift
case $op in
add|del|list|ping|fetch|iperf3|serve|cgi) "op_$op" "$@" ;;
*) sed -n 's/^#   //p' "$0" >&2; exit 2 ;;
esac
SFNEST
        chmod 755 "$1"
}

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

# --extra programs: host ELF executables, with the shared libraries (and the loader) ldd
# lists for them, at the same paths in the guest.
extra_bins=()
extra_libs=()
for x in "${extras[@]}"; do
        case $x in
        */*) p=$x ;;
        *) p=$(command -v -- "$x" 2>/dev/null) || die "--extra '$x': no such program on PATH" ;;
        esac
        [ -f "$p" ] && [ -x "$p" ] || die "--extra '$x': $p is not an executable file"
        [ "$(head -c 4 "$p" | od -An -c | tr -d ' ')" = '177ELF' ] || die "--extra '$x': $p is not an ELF program"
        b=$(basename "$p")
        [[ $b =~ ^[A-Za-z0-9._+-]+$ ]] || die "--extra '$x': unusual program name '$b'"
        ldd_out=$(ldd "$p" 2>&1) || true
        if echo "$ldd_out" | grep -q "not found"; then
                die "--extra '$x': missing libraries: $(echo "$ldd_out" | grep "not found" | tr -s ' \t' ' ')"
        fi
        extra_bins+=("$p")
        for l in $(echo "$ldd_out" | grep -o '/[^ ]*'); do
                [ -f "$l" ] && extra_libs+=("$l")
        done
done

# Skip the build when nothing it depends on changed.
stamp=$( { echo "kernel $kver $(stat -c '%s %Y' "$kernel")";
           echo "busybox $(sha256sum <"$busybox")";
           echo "modules $MODULES";
           for f in "${extra_bins[@]}" "${extra_libs[@]}"; do echo "extra $f $(sha256sum <"$f")"; done;
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
for p in "${extra_bins[@]}"; do
        rm -f "$root/bin/$(basename "$p")" # an extra program replaces a busybox applet of its name
        cp "$p" "$root/bin/"
done
for l in "${extra_libs[@]}"; do
        mkdir -p "$root$(dirname "$l")"
        cp -L "$l" "$root$l"
done
[ ${#extra_bins[@]} = 0 ] || echo "mkguest: extra programs:" "${extra_bins[@]}" "(${#extra_libs[@]} libraries)"
write_sf_nest "$root/bin/sf-nest"
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
