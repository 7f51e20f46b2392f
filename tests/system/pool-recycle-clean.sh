#!/bin/bash
# Port pools: a recycled port carries nothing from one workload to the next, and a warm
# namespace that was tampered with is never handed out. Tested the way an attacker would look
# for leftovers: the first workload (helped from the host, as a privileged or escaped workload
# could) leaves a listening socket, a lingering process, ARP and conntrack entries, changed
# sysctls, a route, an extra address and an extra interface; the next workload on the same
# port (same MAC and IP) must see none of it. Then state is planted directly in ready warm
# namespaces, once they are armed (their watch open: see src/net/nswatch.h): a sysctl, an
# address, a neighbour, an interface, a process, and a process of which only one thread is
# inside; each must be refused (the watch or the process snapshot sends the hand-out to the
# full check, which refuses) and the workload plumbed afresh, while an untouched armed one is
# handed out on its watch's word, even after a peer scanned them all with ARP requests: idle
# warm namespaces' bridge ports are disabled, so nothing reaches them. Last, state planted while
# the agent is down is found when the restarted agent arms the namespace: it is removed and
# built again; a port left open is closed again.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
make_ns sfpoolclean
start_sfd --pools on
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
metric() { $NSX curl -s "$U/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
warm_ready() { [ "$(metric 'sf_warm_namespaces{state="ready"}')" = "$1" ]; }
warm_watched() { [ "$(metric sf_warm_namespaces_watched)" = "$1" ]; }
in_ns() { local ns=$1; shift; nsenter --net="$ns" "$@"; }
lingering=""
on_exit '[ -n "$lingering" ] && kill $lingering 2>/dev/null'

note "a pool that keeps one port: the one a workload gives back"
sf network create neta --cidr 10.41.0.0/24 --pool-min 0 --pool-max 1 -q >/dev/null || die "network"
pool=neta.$(sf node list -o json | jq -r '.[0].name')
sf pool fill "$pool" --count 1 >/dev/null || die "fill"
wait_for 20 "a warm namespace" warm_ready 1
sf run --name a --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run a"
acid=$(sf container show a -o json | jq -r .id)
port=$(sf container show a -o json | jq -r '.port_ids[0]')
[ "$(sf container show a -o json | jq .status.timings.warm)" = true ] || die "a did not get the warm namespace: $(sf container show a -o json | jq -c .status.timings)"
aip=$(sf container show a -o json | jq -r '.status.ips[0]')
ans="$RUN/netns/$acid"

note "workload a leaves everything it can behind"
sf run --name peer --stop-grace 0 --network neta=10.41.0.200 busybox -- sleep 3600 >/dev/null || die "run peer"
peerip=$(sf container show peer -o json | jq -r '.status.ips[0]')
sf exec a -- sh -c 'busybox nc -l -p 7777 >/dev/null 2>&1 &' || die "listener"
sf exec a -- ping -c 1 -W 2 "$peerip" >/dev/null || die "ping peer (ARP entry)"
in_ns "$ans" sysctl -qw net.ipv4.ip_forward=1 || die "sysctl"
fresh_pgr=$(sf exec peer -- cat /proc/sys/net/ipv4/ping_group_range | tr -s '\t ' ' ')
in_ns "$ans" sysctl -qw net.ipv4.ping_group_range="100 200" || die "sysctl"
in_ns "$ans" ip route add 10.99.0.0/24 via 10.41.0.1 || die "route"
in_ns "$ans" ip addr add 10.41.0.250/32 dev eth0 || die "address"
in_ns "$ans" ip link add sfxa type veth peer name sfxb || die "interface"
in_ns "$ans" ip neigh replace 10.41.0.77 lladdr 02:00:00:00:00:77 dev eth0 nud reachable || die "neighbour"
if command -v nft >/dev/null; then
        in_ns "$ans" nft add table ip sfx && in_ns "$ans" nft add chain ip sfx out '{ type filter hook output priority 0; }' &&
                in_ns "$ans" nft add rule ip sfx out ct state new accept || die "nft"
        in_ns "$ans" busybox ping -c 1 -W 2 "$peerip" >/dev/null || die "ping through conntrack"
        [ "$(in_ns "$ans" cat /proc/sys/net/netfilter/nf_conntrack_count)" -ge 1 ] || die "no conntrack entry planted"
fi
# The peer answered a's pings through a neighbour entry for a's address that it would confirm
# with unicast ARP probes a few seconds later, to a's MAC: whichever namespace has that port
# then (b's, or a warm one) would learn the peer from them, a real change that the agent is
# right to refuse but that this test must not race with. The peer forgets a instead.
in_ns "$RUN/netns/$(sf container show peer -o json | jq -r .id)" ip neigh flush dev eth0 || die "peer's neighbours"
nsenter --net="$ans" sleep 3600 & # a process that outlives the workload, as an escape would
lingering=$!
sleep 0.2
in_ns "$ans" ip -o link | grep -q sfxa || die "plant check"

note "a goes; its port returns to the pool and gets a new namespace; b gets that port"
sf rm a >/dev/null || die "rm a"
wait_for 30 "the port back in the pool and warm again" sh -c "$NSX $SFCTL --endpoint $U pool show $pool -o json | jq -e '.size == 1' && $NSX curl -s $U/metrics | grep -q 'sf_warm_namespaces{state=\"ready\"} 1'"
sf run --name b --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run b"
[ "$(sf container show b -o json | jq -r '.port_ids[0]')" = "$port" ] || die "b did not get a's port"
[ "$(sf container show b -o json | jq -r '.status.ips[0]')" = "$aip" ] || die "b's address is not a's"
[ "$(sf container show b -o json | jq .status.timings.warm)" = true ] || die "b not warm: $(sf container show b -o json | jq -c .status.timings)"
bcid=$(sf container show b -o json | jq -r .id)
bns="$RUN/netns/$bcid"

note "b sees none of it"
[ "$(sf exec b -- cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || die "ip_forward leaked"
# (every container gets the runtime's ping_group_range, as with Docker: compare with a fresh one)
[ "$(sf exec b -- cat /proc/sys/net/ipv4/ping_group_range | tr -s '\t ' ' ')" = "$fresh_pgr" ] || die "ping_group_range leaked: $(sf exec b -- cat /proc/sys/net/ipv4/ping_group_range)"
sf exec b -- ip route | grep -q 10.99.0.0 && die "route leaked"
sf exec b -- ip addr | grep -q 10.41.0.250 && die "address leaked"
[ "$(sf exec b -- ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' ')" = "eth0 lo " ] || die "interfaces: $(sf exec b -- ip -o link)"
sf exec b -- ip neigh | grep -Eq "10.41.0.77|$peerip" && die "neighbour leaked: $(sf exec b -- ip neigh)"
sf exec b -- netstat -ltn | grep -q 7777 && die "listening socket leaked"
[ "$(in_ns "$bns" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)" = 0 ] || die "conntrack entries leaked"
[ "$(stat -L -c %i /proc/$lingering/ns/net)" != "$(stat -L -c %i "$bns")" ] || die "the lingering process is in b's namespace"
kill "$lingering"; lingering=""

note "state planted in ready warm namespaces: each is refused, the workload plumbed afresh"
sf rm b >/dev/null || die "rm b"
sf pool resize "$pool" --min 7 --max 7 >/dev/null || die "resize"
wait_for 30 "7 warm namespaces" warm_ready 7
wait_for 30 "7 armed" warm_watched 7
# The agent takes its process snapshots through the BPF task iterator where the kernel has
# one (this machine's does): the planted process and thread below must be seen that way.
if [ -r /sys/kernel/btf/vmlinux ]; then
        [ "$(metric 'sf_process_snapshot_info{source="bpf_task_iter"}')" = 1 ] ||
                die "process snapshots not through the BPF task iterator: $(grep -i 'process snapshots' "$T/sfd.log")"
fi
i=0
for f in "$RUN"/warm/*.json; do
        w=${f%.json}
        case $i in
        0) in_ns "$w" sysctl -qw net.ipv4.ip_forward=1 ;;
        1) in_ns "$w" ip addr add 10.41.0.251/32 dev eth0 ;;
        2) in_ns "$w" ip neigh replace 10.41.0.78 lladdr 02:00:00:00:00:78 dev eth0 nud reachable ;;
        3) in_ns "$w" ip link add sfxc type veth peer name sfxd ;;
        4) nsenter --net="$w" sleep 3600 & lingering=$! ;;
        5) "$B/tests/unit/net/sf-net-test" netns-thread "$w" 3600 >/dev/null & lingering="$lingering $!" ;;
        6) ;; # untouched
        esac || die "plant $i"
        i=$((i + 1))
done
[ $i = 7 ] || die "expected 7 warm namespaces, found $i"
# Idle warm namespaces are closed to the network, each a disabled port of the bridge: a scan
# of the subnet from a peer (ARP requests) reaches none of them, so none learns the peer, and
# the untouched one below is still handed out on its watch's word.
[ "$($NSX bridge -j link show | jq '[.[] | select(.state == "disabled")] | length')" = 7 ] ||
        die "the idle warm namespaces' ports are not all disabled: $($NSX bridge link show)"
ips=""
for f in "$RUN"/warm/*.json; do
        ips="$ips $(sf port show "$(basename "$f" .json)" -o json | jq -r '.fixed_ips[0].ip_address')"
done
answered=$(sf exec peer -- sh -c "for ip in $ips; do (arping -c 1 -w 1 -I eth0 \$ip >/dev/null 2>&1 && echo \$ip) & done; wait")
[ -z "$answered" ] || die "idle warm namespaces answered ARP: $answered"
sf exec peer -- arping -c 1 -w 1 -I eth0 10.41.0.1 >/dev/null || die "the scan's ARP requests reach nobody, not even the gateway"
sleep 0.2
refused0=$(metric 'sf_warm_takes_total{result="refused"}')
watched0=$(metric sf_warm_watched_total)
n_watched=0
seen=""
for c in c0 c1 c2 c3 c4 c5 c6; do
        sf run --name "$c" --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run $c"
        t=$(sf container show "$c" -o json | jq -c .status.timings)
        seen="$seen
$c: $t"
        # The seven pooled ports go first (the oldest first), in an order this test does not
        # know: six are refused, the untouched one is handed out on its watch's word.
        if echo "$t" | jq -e '.warm == true' >/dev/null; then
                echo "$t" | jq -e '.netns_watched == true' >/dev/null ||
                        die "$c: the untouched armed namespace was not handed out on its watch's word: $t"
                sf exec "$c" -- ping -c 1 -W 2 "$peerip" >/dev/null || die "$c: its port was not opened"
                n_watched=$((n_watched + 1))
        else
                echo "$t" | jq -e '.warm_miss | test("refused")' >/dev/null || die "$c got a tampered namespace: $t"
        fi
        [ "$(sf exec "$c" -- cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || die "$c: ip_forward"
        sf exec "$c" -- ip addr | grep -q 10.41.0.251 && die "$c: address"
        sf exec "$c" -- ip neigh | grep -q 10.41.0.78 && die "$c: neighbour"
        [ "$(sf exec "$c" -- ip -o link | wc -l)" = 2 ] || die "$c: interfaces"
done
[ $n_watched = 1 ] || die "$n_watched containers got an armed namespace, expected the untouched one; timings:$seen"
[ "$(metric sf_warm_watched_total)" = $((watched0 + 1)) ] || die "watched hand-outs not counted"
[ "$(metric 'sf_warm_takes_total{result="refused"}')" = $((refused0 + 6)) ] || die "refusals not counted"
[ "$(grep -c "refused for workload .*not empty: 1 process" "$T/sfd.log")" = 2 ] ||
        die "no refusal naming the process, or the process with one thread inside, in the log"
grep -q "refused for workload .*changed since it was built: .*ip_forward = 1" "$T/sfd.log" || die "no refusal naming the sysctl"
kill $lingering; lingering=""

note "state planted while the agent is down: found when the restarted agent arms the namespace"
sf rm c0 c1 c2 c3 c4 c5 c6 >/dev/null || die "rm c*"
sf pool resize "$pool" --min 2 --max 2 >/dev/null || die "resize"
# Exactly the two pooled ones on disk (the released ones removed), both armed.
two_armed() { [ "$(ls "$RUN"/warm/*.json 2>/dev/null | wc -l)" = 2 ] && warm_watched 2; }
wait_for 30 "2 armed, and only them" two_armed
stop_sfd || die "unclean stop"
f=$(ls -tr "$RUN"/warm/*.json | head -1)
w=${f%.json}
in_ns "$w" ip addr add 10.41.0.252/32 dev eth0 || die "plant while down"
# and a port left open, as by an agent stopped between a hand-out's check and its move
disabled() { $NSX bridge -j link show | jq '[.[] | select(.state == "disabled")] | length'; }
[ "$(disabled)" = 2 ] || die "the two idle ports are not disabled: $($NSX bridge link show)"
$NSX bridge link set dev "$($NSX bridge -j link show | jq -r '[.[] | select(.state == "disabled")][0].ifname')" state 3 ||
        die "open a port while down"
start_sfd --pools on
wait_for 30 "the tampered one found when armed" grep -q "warm namespace of port .* failed its check when armed: changed since it was built: .*10.41.0.252.*removed it" "$T/sfd.log"
wait_for 30 "2 armed again, and only them" two_armed
r=$(metric 'sf_warm_takes_total{result="refused"}'); [ "$r" = 1 ] || die "the removal was not counted as a refusal: $r"
[ "$(disabled)" = 2 ] || die "the port left open was not closed again: $($NSX bridge link show)"
for c in d0 d1; do
        sf run --name "$c" --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run $c"
        sf container show "$c" -o json | jq -e '.status.timings.warm == true' >/dev/null || die "$c not warm"
        sf exec "$c" -- ip addr | grep -q 10.41.0.252 && die "$c got the tampered namespace"
        sf exec "$c" -- ping -c 1 -W 2 "$peerip" >/dev/null || die "$c: its port was not opened"
done

note "everything goes with the network"
sf rm peer d0 d1 >/dev/null || die "rm"
sf network delete neta >/dev/null || die "network delete"
no_leaks() { [ -z "$(leaks)" ] && [ -z "$(ls "$RUN/warm")" ]; }
wait_for 20 "no leaks" no_leaks
stop_sfd || die "unclean stop"
echo OK
