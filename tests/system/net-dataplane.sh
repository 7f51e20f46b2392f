#!/bin/bash
# net-dataplane.sh: builds a real overlay with src/net (through the test tool sf-net-test) and
# checks it with ip(8)/bridge(8):
#   - two simulated hosts (network namespaces sftest-<id>-h1/h2 in /run/netns) on an underlay
#     bridge in the root namespace (no address there, never connected to eth0);
#   - in each host a VXLAN vx42 (VNI 42, nolearning) on bridge br42, FDB entries towards the
#     other host's VTEP and permanent neighbours in the containers (l2population, no flooding);
#   - containers' namespaces (under /run/sftest-<id>/netns) plumbed with the one-shot helper;
#   - ping container to container across the overlay (IPv4 and IPv6);
#   - the "clean namespace" check (sockets, neighbours, processes, conntrack), GARP, tap,
#     macvlan, sysctl, batch errors, kernel error texts;
#   - teardown through the library, then proof that no link, namespace or mount is left.
# Needs root (exit 77 otherwise). Cleans up in a trap on every exit path.
#
# Usage: tests/system/net-dataplane.sh [BUILD_DIR]
# The tool is $SF_NET_TEST, else BUILD_DIR/tests/unit/net/sf-net-test (BUILD_DIR: the argument,
# else $SF_BUILD as tests/run-all.sh sets it, else build-net/ or build/ in this repository).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root"
        exit 77
fi
for tool in ip bridge busybox nsenter; do
        if ! command -v "$tool" >/dev/null; then
                echo "SKIP: needs $tool"
                exit 77
        fi
done

here=$(cd "$(dirname "$0")/../.." && pwd)
T=${SF_NET_TEST:-}
BUILD=${1:-${SF_BUILD:-}}
if [ -z "$T" ] && [ -n "$BUILD" ]; then
        case $BUILD in
        /*) ;;
        *) BUILD=$here/$BUILD ;;
        esac
        T=$BUILD/tests/unit/net/sf-net-test
fi
if [ -z "$T" ]; then
        for b in "$here/build-net" "$here/build"; do
                if [ -x "$b/tests/unit/net/sf-net-test" ]; then
                        T="$b/tests/unit/net/sf-net-test"
                        break
                fi
        done
fi
if [ -z "$T" ] || [ ! -x "$T" ]; then
        echo "FAIL: sf-net-test not found ($T); build it (ninja -C BUILD tests/unit/net/sf-net-test)" >&2
        exit 1
fi

ID=$(($$ % 10000))
H1=sftest-$ID-h1
H2=sftest-$ID-h2
NS1=/run/netns/$H1
NS2=/run/netns/$H2
CROOT=/run/sftest-$ID
CDIR=$CROOT/netns
C1=$CDIR/c1
C2=$CDIR/c2
C3=$CDIR/c3
C5=$CDIR/c5
C6=$CDIR/c6
UB=sft${ID}ub # underlay bridge, root namespace
U1=sft${ID}u1 # root end of host 1's uplink
U2=sft${ID}u2
MAC1=02:42:0a:2a:00:01
MAC2=02:42:0a:2a:00:02
MAC3=02:42:0a:2a:00:03
MAC5=02:42:0a:2a:00:05

cleanup() {
        local rc=$?
        set +e
        trap - EXIT INT TERM
        [ -n "${bg_pids:-}" ] && kill $bg_pids 2>/dev/null
        for f in "$CDIR"/*; do
                [ -e "$f" ] && umount -l "$f" 2>/dev/null
        done
        umount -l "$NS1" 2>/dev/null
        umount -l "$NS2" 2>/dev/null
        rm -f "$NS1" "$NS2"
        ip link del "$U1" 2>/dev/null
        ip link del "$U2" 2>/dev/null
        ip link del "$UB" 2>/dev/null
        umount -l "$CDIR" 2>/dev/null
        umount -l "$CROOT/again/ns" 2>/dev/null
        umount -l "$CROOT/again" 2>/dev/null
        rm -rf "$CROOT"
        if [ $rc -eq 0 ]; then
                echo "PASS: net-dataplane"
        else
                echo "FAIL: net-dataplane (exit $rc)" >&2
        fi
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "== $*"; }
die() {
        echo "FAIL: $*" >&2
        exit 1
}
# expect_in WHAT HAYSTACK NEEDLE
expect_in() {
        case "$2" in
        *"$3"*) ;;
        *) die "$1: expected '$3' in: $2" ;;
        esac
}
expect_not_in() {
        case "$2" in
        *"$3"*) die "$1: did not expect '$3' in: $2" ;;
        *) ;;
        esac
}
in_ns() { # in_ns NETNS_PATH CMD...
        local ns=$1
        shift
        nsenter --net="$ns" "$@"
}
t1() { "$T" --netns "$NS1" "$@"; }
t2() { "$T" --netns "$NS2" "$@"; }

step "kernel features"
"$T" features

step "underlay: bridge $UB in the root namespace, one uplink per simulated host"
"$T" bridge "$UB" --up
for h in 1 2; do
        ns=/run/netns/sftest-$ID-h$h
        "$T" netns-add "$ns"
        "$T" veth "sft${ID}u$h" uplink --peer-netns "$ns" --master "$UB" --up
        "$T" --netns "$ns" set lo --up
        "$T" --netns "$ns" set uplink --up
        "$T" --netns "$ns" addr add uplink "198.18.0.$h/24"
done
expect_in "ip netns" "$(ip netns)" "$H1"
expect_in "underlay port" "$(ip -o link show "$U1")" "master $UB"
expect_in "uplink in h1" "$(ip -n "$H1" -o addr show uplink)" "198.18.0.1/24"

step "overlay: vx42 (VNI 42, nolearning) on br42 in each host"
for h in 1 2; do
        ns=/run/netns/sftest-$ID-h$h
        "$T" --netns "$ns" bridge br42 --up --mtu 1450
        "$T" --netns "$ns" vxlan vx42 42 --local "198.18.0.$h" --dev uplink --master br42 --up
done
out=$(ip -n "$H1" -d link show vx42)
expect_in "vx42" "$out" "vxlan id 42 local 198.18.0.1 dev uplink"
expect_in "vx42" "$out" "dstport 4789"
expect_in "vx42" "$out" "nolearning"
expect_in "vx42" "$out" "master br42"
expect_in "br42" "$(ip -n "$H1" -d link show br42)" "forward_delay 0"
expect_in "br42" "$(ip -n "$H1" -d link show br42)" "stp_state 0"

step "containers: one-shot plumbing"
out=$(t1 plumb --netns-path "$C1" --host sfc1 --bridge br42 --mac $MAC1 --mtu 1450 \
        --addr 10.42.0.1/24 --addr fd42::1/64 --gw 10.42.0.254 --gw fd42::fe \
        --route 192.0.2.0/24,via=10.42.0.254 --sysctl net.ipv4.conf.all.arp_notify=1)
echo "$out"
expect_in "plumb c1" "$out" "(new)"
t2 plumb --netns-path "$C2" --host sfc2 --bridge br42 --mac $MAC2 --mtu 1450 \
        --addr 10.42.0.2/24 --addr fd42::2/64 --gw 10.42.0.254
grep -q " $C1 nsfs" /proc/mounts || grep -q " $C1 " /proc/mounts || die "c1 is not mounted"
expect_in "c1 eth0" "$(in_ns "$C1" ip -o link show eth0)" "link/ether $MAC1"
expect_in "c1 eth0" "$(in_ns "$C1" ip -o link show eth0)" "mtu 1450"
expect_in "c1 eth0" "$(in_ns "$C1" ip -o link show eth0)" "state UP"
expect_in "c1 lo" "$(in_ns "$C1" ip -o link show lo)" "UP"
expect_in "c1 addr" "$(in_ns "$C1" ip -o addr show eth0)" "10.42.0.1/24 brd 10.42.0.255"
expect_in "c1 addr6" "$(in_ns "$C1" ip -o addr show eth0)" "fd42::1/64"
expect_in "c1 routes" "$(in_ns "$C1" ip route)" "default via 10.42.0.254 dev eth0"
expect_in "c1 routes" "$(in_ns "$C1" ip route)" "192.0.2.0/24 via 10.42.0.254 dev eth0"
expect_in "c1 routes6" "$(in_ns "$C1" ip -6 route)" "default via fd42::fe dev eth0"
expect_in "sfc1" "$(ip -n "$H1" -o link show sfc1)" "master br42"
expect_in "sfc1" "$(ip -n "$H1" -o link show sfc1)" "state UP"
[ "$("$T" --netns "$C1" sysctl net.ipv4.conf.all.arp_notify)" = 1 ] || die "arp_notify not set in c1"

step "l2population: FDB towards the remote VTEP, permanent neighbours, no flooding"
t1 fdb append vx42 $MAC2 --dst 198.18.0.2
t2 fdb append vx42 $MAC1 --dst 198.18.0.1
"$T" --netns "$C1" neigh replace eth0 10.42.0.2 $MAC2
"$T" --netns "$C1" neigh replace eth0 fd42::2 $MAC2
"$T" --netns "$C2" neigh replace eth0 10.42.0.1 $MAC1
"$T" --netns "$C2" neigh replace eth0 fd42::1 $MAC1
out=$(bridge -n "$H1" fdb show dev vx42)
expect_in "bridge fdb" "$out" "$MAC2 dst 198.18.0.2 self permanent"
expect_not_in "bridge fdb (no flooding)" "$out" "00:00:00:00:00:00"
expect_in "sf fdb list" "$(t1 fdb list vx42)" "$MAC2 dst 198.18.0.2 self PERMANENT"
expect_in "c1 neigh" "$(in_ns "$C1" ip neigh show 10.42.0.2)" "lladdr $MAC2 PERMANENT"
expect_in "c1 neigh6" "$(in_ns "$C1" ip -6 neigh show fd42::2)" "lladdr $MAC2 PERMANENT"

step "ping across the overlay"
in_ns "$C1" busybox ping -c 2 -W 2 10.42.0.2
in_ns "$C2" busybox ping -c 2 -W 2 10.42.0.1
in_ns "$C1" busybox ping -6 -c 2 -W 2 fd42::2
rx=$(ip netns exec "$H2" cat /sys/class/net/vx42/statistics/rx_packets)
[ "$rx" -ge 4 ] || die "vx42 in h2 received $rx packets, expected the pings to come through it"

step "BUM entry (all-zeros MAC) toward a remote VTEP"
t1 fdb append vx42 00:00:00:00:00:00 --dst 198.18.0.2
expect_in "bridge fdb" "$(bridge -n "$H1" fdb show dev vx42)" "00:00:00:00:00:00 dst 198.18.0.2 self permanent"
expect_in "sf fdb list" "$(t1 fdb list vx42)" "00:00:00:00:00:00 dst 198.18.0.2 self"
t1 fdb del vx42 00:00:00:00:00:00 --dst 198.18.0.2
expect_not_in "bridge fdb" "$(bridge -n "$H1" fdb show dev vx42)" "00:00:00:00:00:00"

step "errors: batch, kernel text, name length"
out=$(t1 batch-demo)
echo "$out"
expect_in "batch" "$out" "failed-index 1"
expect_in "batch" "$out" "(request 2 of 3): File exists"
expect_in "batch: later request still done" "$(ip -n "$H1" -o addr show lo)" "192.0.2.2/32"
out=$(t1 veth sfc1 sfdup 2>&1) && die "duplicate veth accepted"
echo "$out"
expect_in "duplicate veth" "$out" "create veth 'sfc1' (peer 'sfdup'): File exists"
out=$("$T" bridge sft0123456789abcd 2>&1) && die "long name accepted"
expect_in "long name" "$out" "the maximum is 15"
out=$(t1 ifindex sfnosuch 2>&1) && die "missing link found"
expect_in "missing link" "$out" "No such device"
t1 del sfnosuch --missing-ok

step "clean-namespace check"
out=$("$T" netns-check "$C1") || die "c1 not clean after plumbing and ping: $out"
expect_in "c1 clean" "$out" "clean"
# A clean namespace is told by its own conntrack counter; a dump (ctnetlink) lists entries.
echo "$out" | grep -Eq "conntrack source: (nf_conntrack_count|ctnetlink)" || die "conntrack source: $out"
out=$("$T" netns-check --hold-udp "$C1") && die "held socket not reported"
expect_in "held socket" "$out" "udp 127.0.0.1:40404"
out=$("$T" netns-check --hold-udp --ignore-held "$C1") || die "our own socket reported: $out"
in_ns "$C1" ip neigh replace 10.42.0.77 lladdr 02:00:00:00:00:77 dev eth0 nud reachable
out=$("$T" netns-check "$C1") && die "reachable neighbour not reported"
expect_in "neighbour" "$out" "10.42.0.77 ifindex"
expect_in "neighbour" "$out" "REACHABLE"
in_ns "$C1" ip neigh del 10.42.0.77 dev eth0
nsenter --net="$C1" sleep 30 &
sleeper=$!
sleep 0.3
expect_in "netns-pids" "$("$T" netns-pids "$C1")" "$sleeper"
out=$("$T" netns-check "$C1") && die "process not reported"
expect_in "process" "$out" "1 process (pid $sleeper)"
kill "$sleeper"
wait "$sleeper" 2>/dev/null || true
"$T" netns-check "$C1" >/dev/null || die "c1 not clean again"
# The same through the BPF task iterator (sfd's process snapshots), and a process of which
# only one thread is in the namespace: both scans must look at every thread.
out=$("$T" --bpf-tasks netns-check "$C1") || die "c1 not clean through the BPF task iterator: $out"
expect_in "lister" "$out" "processes from: the BPF task iterator"
nsenter --net="$C1" sleep 30 &
sleeper=$!
"$T" netns-thread "$C1" 30 > "$CROOT/thread.pid" &
threader=$!
bg_pids="$sleeper $threader"
for _ in $(seq 50); do [ -s "$CROOT/thread.pid" ] && break; sleep 0.1; done
[ "$(cat "$CROOT/thread.pid")" = "$threader" ] || die "netns-thread did not start: $(cat "$CROOT/thread.pid")"
for lister in "" --bpf-tasks; do
        out=$("$T" $lister netns-check "$C1") && die "processes not reported ($lister)"
        expect_in "processes ($lister)" "$out" "2 processes (pid $(printf '%s\n' "$sleeper" "$threader" | sort -n | paste -sd, | sed 's/,/, /'))"
        expect_in "netns-pids ($lister)" "$("$T" $lister netns-pids "$C1" | paste -sd' ')" "$(printf '%s\n' "$sleeper" "$threader" | sort -n | paste -sd' ')"
done
kill "$sleeper" "$threader"
wait "$sleeper" "$threader" 2>/dev/null || true
bg_pids=""
"$T" --bpf-tasks netns-check "$C1" >/dev/null || die "c1 not clean again (BPF task iterator)"

step "conntrack in a throwaway container (c3)"
t1 plumb --netns-path "$C3" --host sfc3 --bridge br42 --mac $MAC3 --addr 10.42.0.3/24
if command -v nft >/dev/null; then
        in_ns "$C3" nft add table ip sftest
        in_ns "$C3" nft add chain ip sftest out '{ type filter hook output priority 0; }'
        in_ns "$C3" nft add rule ip sftest out ct state new accept
        in_ns "$C3" busybox ping -c 1 -W 2 10.42.0.1
        out=$("$T" netns-check "$C3") && die "conntrack entry not reported"
        expect_in "conntrack" "$out" "conntrack entry (ipv4 proto 1 10.42.0.3 -> 10.42.0.1)"
        expect_in "neighbour learnt by ARP" "$out" "10.42.0.1 ifindex"
else
        echo "nft not installed: conntrack part skipped"
fi

step "nested kinds: a macvlan port made inside its namespace (nested-macvlan), VLAN without 8021q"
# made as sfc5 (the name must be free here), eth0 inside; an eth0 here does not get in the way
"$T" --netns "$NS1" veth eth0 sfc5x >/dev/null || die "veth eth0"
out=$(t1 plumb --netns-path "$C5" --host sfc5 --macvlan-on br42 --mac $MAC5 --mtu 1400 --addr 10.42.0.5/24 --gw 10.42.0.254)
echo "$out"
expect_in "c5 eth0" "$(in_ns "$C5" ip -d -o link show eth0)" "link/ether $MAC5"
expect_in "c5 eth0" "$(in_ns "$C5" ip -d -o link show eth0)" "macvlan mode bridge"
expect_in "c5 eth0" "$(in_ns "$C5" ip -d -o link show eth0)" "mtu 1400"
expect_in "c5 routes" "$(in_ns "$C5" ip route)" "default via 10.42.0.254 dev eth0"
expect_not_in "h1 links" "$(ip -n "$H1" -o link)" "sfc5@"
in_ns "$C5" busybox ping -c 1 -W 2 10.42.0.1 >/dev/null || die "c5 (macvlan on br42) cannot reach c1"
"$T" netns-del "$C5"
"$T" --netns "$NS1" del eth0
if out=$(t1 plumb --netns-path "$C6" --host sfc6 --vlan-on br42 --vlan-id 7 --mac $MAC5 --addr 10.42.0.6/24 2>&1); then
        expect_in "c6 eth0" "$(in_ns "$C6" ip -d -o link show eth0)" "vlan protocol 802.1Q id 7"
        "$T" netns-del "$C6"
else
        echo "$out"
        [ -e "$C6" ] && die "a failed VLAN plumb left its namespace"
fi
expect_not_in "nested devices left on h1" "$(ip -n "$H1" -o link)" "@br42"

step "gratuitous ARP and unsolicited NA from c1"
before=$(ip netns exec "$H1" cat /sys/class/net/sfc1/statistics/rx_packets)
"$T" --netns "$C1" garp eth0 10.42.0.1 --count 2
"$T" --netns "$C1" garp eth0 fd42::1
after=$(ip netns exec "$H1" cat /sys/class/net/sfc1/statistics/rx_packets)
[ $((after - before)) -ge 3 ] || die "GARP/NA: sfc1 received $((after - before)) packets, expected 3"

step "tap, macvlan, link changes, sysctl"
t1 tap sftap0 --persist --vnet-hdr --master br42 --mtu 1450 --up
out=$(ip -n "$H1" -d link show sftap0)
expect_in "tap" "$out" "tun type tap"
expect_in "tap" "$out" "persist on"
expect_in "tap" "$out" "master br42"
expect_in "tap" "$out" "mtu 1450"
t1 del sftap0
t1 macvlan mv0 uplink --target-netns "$C3" --mac 02:42:0a:2a:00:33 --up
out=$(in_ns "$C3" ip -d link show mv0)
expect_in "macvlan" "$out" "macvlan mode bridge"
expect_in "macvlan" "$out" "02:42:0a:2a:00:33"
"$T" --netns "$C3" del mv0
t1 set sfc3 --down --mtu 1400 --nomaster
out=$(ip -n "$H1" -o link show sfc3)
expect_in "set" "$out" "mtu 1400"
expect_not_in "set" "$out" "master"
expect_not_in "set" "$out" ",UP"
t1 set sfc3 --up --master br42 --mac 02:42:0a:2a:01:03 --name sfc3b
expect_in "set" "$(ip -n "$H1" -o link show sfc3b)" "master br42"
expect_in "set" "$(ip -n "$H1" -o link show sfc3b)" "link/ether 02:42:0a:2a:01:03"
root_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
"$T" --netns "$C3" sysctl net.ipv4.ip_forward 1
[ "$("$T" --netns "$C3" sysctl net.ipv4.ip_forward)" = 1 ] || die "ip_forward in c3"
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$root_fwd" ] || die "root namespace ip_forward changed"
"$T" --netns "$C3" sysctl net/ipv6/conf/eth0/disable_ipv6 1
[ "$(in_ns "$C3" ip -6 -o addr show eth0 | wc -l)" = 0 ] || die "IPv6 still on c3's eth0"

step "list by prefix"
out=$(t1 list sfc)
expect_in "list" "$out" "sfc1 veth"
expect_in "list" "$out" "sfc3b veth"
expect_not_in "list" "$out" "br42"

step "concurrency: 40 ports plumbed and unplumbed from 4 threads (each thread setns()s)"
t1 plumb-many --dir "$CDIR" --prefix sfm --bridge br42 --count 40 --threads 4
[ "$(ip -n "$H1" -o link show master br42 | grep -c ': sfm')" = 40 ] || die "not 40 ports on br42"
expect_in "port 39" "$(in_ns "$CDIR/sfm39" ip -o addr show eth0)" "10.99.0.40/16"
in_ns "$CDIR/sfm39" busybox ping -c 1 -W 2 10.99.0.1
t1 unplumb-many --dir "$CDIR" --prefix sfm --bridge br42 --count 40 --threads 4
expect_not_in "ports left" "$(ip -n "$H1" -o link)" "sfm"
t1 plumb-many --dir "$CDIR" --prefix sfa --bridge br42 --count 5
t1 unplumb-many --dir "$CDIR" --prefix sfa --bridge br42 --count 5 --async
# the kernel deletes them in the background: its netns cleanup work is global and, on a busy
# machine that just tore down many namespaces, can take seconds
for _ in $(seq 600); do
        # not "ip | grep -q": under pipefail, grep's early exit can kill ip with SIGPIPE and end
        # the wait while the ports are still there
        [[ $(ip -n "$H1" -o link) == *sfa* ]] || break
        sleep 0.1
done
expect_not_in "async ports left" "$(ip -n "$H1" -o link)" "sfa"

step "teardown through the library"
t1 unplumb sfc1 "$C1"
t1 unplumb sfc3b "$C3"
t2 unplumb sfc2 "$C2"
t2 unplumb sfc2 "$C2" # twice is fine
expect_not_in "h1 links" "$(ip -n "$H1" -o link)" "sfc"
for h in 1 2; do
        ns=/run/netns/sftest-$ID-h$h
        "$T" --netns "$ns" del vx42
        "$T" --netns "$ns" del br42
        "$T" del "sft${ID}u$h" # the uplink inside the host goes with it
        "$T" netns-del "$ns"
done
"$T" del "$UB"

step "a namespace directory removed and made again in one process"
"$T" netns-again "$CROOT/again/ns" || die "netns-again"
grep -q " $CROOT/again .*shared:" /proc/self/mountinfo || die "the directory made again is not a shared mount"
"$T" netns-del "$CROOT/again/ns"
umount "$CROOT/again"
umount "$CDIR" # the shared bind mount sf_netns_create made of the container directory
rm -rf "$CROOT"

step "nothing left"
[ -z "$("$T" list "sft$ID")" ] || die "links left: $("$T" list "sft$ID")"
expect_not_in "ip -o link" "$(ip -o link)" "sft$ID"
expect_not_in "ip netns" "$(ip netns)" "sftest-$ID"
expect_not_in "/proc/mounts" "$(cat /proc/mounts)" "sftest-$ID"
[ ! -e "$CROOT" ] || die "$CROOT left"
exit 0
