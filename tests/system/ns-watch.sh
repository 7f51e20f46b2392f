#!/bin/bash
# The namespace watch (src/net/nswatch.c), which lets the warm pool hand out an armed namespace
# without entering it again: opened inside a namespace plumbed as a warm one is (eth0 with an
# address, a default route, a permanent neighbour for the gateway), it must stay silent while
# nothing happens in it (and while a process merely enters and leaves: processes are the
# agent's snapshot's business), and speak up for each way the namespace can change: an
# address, a route, a neighbour, a link change, a qdisc, a sysctl without a netconf
# notification, a socket held by a process inside, a socket made inside and held from outside
# (its process gone), a TIME_WAIT socket, a conntrack entry. Each case gets a fresh watch; each
# answer must name the kind of change. The agent-level behaviour (an armed namespace that was
# tampered with is refused) is tests/system/pool-recycle-clean.sh's.
. "$(dirname "$0")/../lib.sh"
need_root
NT="$B/tests/unit/net/sf-net-test"
[ -x "$NT" ] || die "no $NT"
W="sfwatch-$$"  # the watched namespace
H="sfwatchh-$$" # its host side (never the root namespace)
holder=""
on_exit 'for p in $holder; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; ip netns del '"$W"' 2>/dev/null; ip netns del '"$H"' 2>/dev/null'
ip netns add "$W" || die "netns $W"
ip netns add "$H" || die "netns $H"
ip -n "$H" link add sfwh0 type veth peer name eth0 netns "$W" || die "veth"
ip -n "$H" link set lo up && ip -n "$H" addr add 10.250.0.1/24 dev sfwh0 && ip -n "$H" link set sfwh0 up || die "host side"
hmac=$(ip -n "$H" -j link show sfwh0 | jq -r '.[0].address')
ip -n "$W" link set lo up && ip -n "$W" addr add 10.250.0.2/24 dev eth0 && ip -n "$W" link set eth0 up &&
        ip -n "$W" route add default via 10.250.0.1 &&
        ip -n "$W" neigh replace 10.250.0.1 lladdr "$hmac" dev eth0 nud permanent || die "watched side"
# As the agent does: arm once the kernel is done with the new links (carrier, IPv6 DAD).
sleep 3.5

# watch_case DESCRIPTION EXPECTED COMMAND: EXPECTED is "unchanged" or a substring of what
# the watch must say; COMMAND runs while the watch is open.
watch_case() {
        local desc=$1 want=$2 cmd=$3 line res rc
        sleep 0.3 # what earlier cases did (sockets are freed after an RCU grace period)
        coproc WATCH { "$NT" netns-watch "/run/netns/$W" net.ipv4.icmp_echo_ignore_all net.ipv4.ip_forward; }
        read -r -t 10 line <&"${WATCH[0]}" || die "$desc: the watch did not open"
        [ "$line" = armed ] || die "$desc: $line"
        eval "$cmd" || die "$desc: the change itself failed"
        sleep 0.3
        echo check >&"${WATCH[1]}"
        read -r -t 10 res <&"${WATCH[0]}" || die "$desc: no answer"
        wait "$WATCH_PID"
        rc=$?
        if [ "$want" = unchanged ]; then
                [ "$res" = unchanged ] && [ $rc = 0 ] || die "$desc: the watch says '$res' (exit $rc), expected nothing"
        else
                [ $rc = 3 ] && [[ $res == *"$want"* ]] || die "$desc: the watch says '$res' (exit $rc), expected '$want'"
        fi
        echo "ok: $desc: $res"
}
py_in() { ip netns exec "$W" python3 -c "$1"; }

watch_case "nothing happens" unchanged ":"
watch_case "a process enters and leaves" unchanged "ip netns exec $W true"
watch_case "an address" rtnetlink "ip -n $W addr add 10.250.0.9/32 dev lo"
ip -n "$W" addr del 10.250.0.9/32 dev lo
watch_case "a route" rtnetlink "ip -n $W route add 10.251.0.0/24 via 10.250.0.1"
ip -n "$W" route del 10.251.0.0/24
watch_case "a neighbour" rtnetlink "ip -n $W neigh replace 10.250.0.7 lladdr 02:00:00:00:00:07 dev eth0 nud reachable"
ip -n "$W" neigh del 10.250.0.7 dev eth0
# A removal alone is not reported (the kernel's garbage collector removes stale neighbours of
# every namespace when the shared table grows), but one done by hand announces the
# neighbour's change to FAILED first, and that is.
ip -n "$W" neigh replace 10.250.0.8 lladdr 02:00:00:00:00:08 dev eth0 nud reachable
watch_case "a neighbour removed by hand" rtnetlink "ip -n $W neigh del 10.250.0.8 dev eth0"
watch_case "an MTU" rtnetlink "ip -n $W link set eth0 mtu 1400"
ip -n "$W" link set eth0 mtu 1500
watch_case "a qdisc" rtnetlink "tc -n $W qdisc add dev eth0 clsact"
tc -n "$W" qdisc del dev eth0 clsact
watch_case "ip_forward (a netconf notification)" rtnetlink "ip netns exec $W sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'"
ip netns exec "$W" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'
watch_case "a sysctl without a notification" "sysctl net.ipv4.icmp_echo_ignore_all changed from 0 to 1" \
        "ip netns exec $W sh -c 'echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all'"
ip netns exec "$W" sh -c 'echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_all'

# Sockets: a process inside holding one; one made inside by a process that went back out
# and keeps it (as a privileged process could); a connection closed first by this side,
# which leaves a TIME_WAIT socket behind its process.
start_holder() { "$@" & holder="$holder $!"; sleep 0.5; }
stop_holders() { for p in $holder; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; holder=""; }
watch_case "a socket held by a process inside" "1 sockets besides" \
        "start_holder ip netns exec $W python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); time.sleep(60)'"
stop_holders
watch_case "a socket made inside, held from outside" "1 sockets besides" \
        "start_holder python3 -c 'import ctypes, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
me = os.open(\"/proc/self/ns/net\", os.O_RDONLY); ns = os.open(\"/run/netns/$W\", os.O_RDONLY)
assert libc.setns(ns, 0x40000000) == 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
assert libc.setns(me, 0x40000000) == 0
time.sleep(60)'"
stop_holders
# A conntrack entry (before the TIME_WAIT socket: the watch looks at sockets first).
if command -v nft >/dev/null; then
        ip netns exec "$W" nft add table ip sfw && ip netns exec "$W" nft add chain ip sfw out '{ type filter hook output priority 0; }' &&
                ip netns exec "$W" nft add rule ip sfw out ct state new accept || die "nft"
        watch_case "a conntrack entry" "conntrack entries" "ip netns exec $W busybox ping -c 1 -W 1 10.250.0.1 >/dev/null"
else
        echo "skip: a conntrack entry (no nft)"
fi
watch_case "a TIME_WAIT socket" "0 sockets besides the watch's own, 1 in TIME_WAIT" \
        "py_in 'import socket
l = socket.socket(); l.bind((\"127.0.0.1\", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
c.close(); a.close(); l.close()'"
echo OK
