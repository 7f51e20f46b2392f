#!/bin/bash
# Nested containers across hosts with one encapsulation (issue #9), in a lab of two simulated
# hosts: a guest emulated on core-1 (a tap stand-in "sft<port>" on its network's bridge, the
# guest NIC in sftest-guest-*, a nested endpoint in sftest-nested-* tagged with the subport's
# VLAN by the same BPF programs, as trunk-bpf.sh does) reaches a container on core-2 on the
# subport's network. The subport is bound to core-1 (where its trunk's parent is), so core-2's
# agent sends to its MAC through core-1's VTEP (l2population). Captures: on the tap exactly
# one VLAN tag; on the underlay one VXLAN header with the subport network's VNI and no VLAN
# tag inside. Needs root, runc, tshark (exit 77 otherwise); the lab goes down on every exit.
. "$(dirname "$0")/../lib.sh"
need_root
for c in runc busybox tshark jq; do command -v $c >/dev/null || { echo "$c missing"; exit 77; }; done
VT="$B/tests/unit/net/sf-vlan-test"
[ -x "$VT" ] || die "sf-vlan-test not built ($VT)"

LAB="t$(( $$ % 10000 ))"
DIR="$T/lab"
G=sftest-guest-$$
N=sftest-nested-$$
export SUPERFLUID_TRUNK_DATAPATH=bpf # the lab's agents inherit it (a no-op without 8021q)
on_exit '"$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1 || true'
on_exit "ip netns del $G 2>/dev/null; ip netns del $N 2>/dev/null"
out=$("$SFCTL" lab up --name "$LAB" --dir "$DIR" --sites core:2 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
sf() { "$SFCTL" --endpoint "$U" "$@"; }
ns_of() { jq -r ".hosts[] | select(.name == \"$1\") | .netns" "$DIR/lab.json"; }
h1=$(ns_of core-1)
for n in $G $N; do ip netns add $n || die "netns $n"; ip -n $n link set lo up; done

note "networks; a container on core-2; the VM's port on core-1 and a trunk with one subport"
sf network create neta --cidr 10.41.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.42.0.0/24 -q >/dev/null || die "network b"
vnia=$(sf network show neta -o json | jq .vni)
vnib=$(sf network show netb -o json | jq .vni)
sf run --name cb --node core-2 --network netb busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run cb"
cbip=$(sf container show cb -o json | jq -r '.status.ips[0]')
sf port create vm1 --network neta --node core-1 --device-owner compute:sftest --device-id "$G" -q >/dev/null || die "parent port"
sf port create nested1 --network netb -q >/dev/null || die "subport"
wait_for 20 "network a's bridge on core-1" ip -n "$h1" link show "sfb$vnia"
vm1=$(sf port show vm1 -o json)
nested=$(sf port show nested1 -o json)
tap="sft$(echo "$vm1" | jq -r .id | tr -d - | cut -c1-12)"
ip -n "$h1" link add "$tap" type veth peer name eth0 netns "$G" || die "tap stand-in"
ip -n "$h1" link set "$tap" master "sfb$vnia" up || die "tap on the bridge"
ip -n "$G" link set eth0 address "$(echo "$vm1" | jq -r .mac_address)" up
ip -n "$G" link add n100 type veth peer name eth0 netns "$N" || die "nested veth"
ip -n "$G" link set n100 up
ip -n "$N" link set eth0 address "$(echo "$nested" | jq -r .mac_address)" up
nestedip=$(echo "$nested" | jq -r '.fixed_ips[0].ip_address')
ip -n "$N" addr add "$nestedip/24" dev eth0
ip netns exec "$G" "$VT" attach eth0 100:n100 || die "guest-side BPF"
sf trunk create t1 --port vm1 --subport nested1:100 -q >/dev/null || die "trunk"
wait_for 30 "trunk ACTIVE" sh -c "\"$SFCTL\" --endpoint $U trunk show t1 -o json | jq -e '.status == \"ACTIVE\"'"
[ "$(sf port show nested1 -o json | jq -r .node_id)" = "$(sf node show core-1 -o json | jq -r .id)" ] || die "subport not bound to core-1"

note "nested on core-1 -> container on core-2 (ping and TCP), and back"
wait_for 20 "nested -> cb across hosts" ip netns exec "$N" busybox ping -c 1 -W 1 "$cbip"
page=$(ip netns exec "$N" busybox wget -q -O - "http://$cbip/") || die "nested -> cb TCP"
echo "$page" | grep -qi busybox || die "unexpected page: $page"
sf exec cb -- ping -c 2 -W 2 "$nestedip" >/dev/null || die "cb -> nested"

note "captures: one VLAN tag on the tap; one VXLAN header (VNI $vnib) and no VLAN tag on the underlay"
tapcap="$T/tap.txt"
ulcap="$T/ul.txt"
ip netns exec "$h1" timeout 20 tshark -i "$tap" -f icmp -c 4 -T fields -e vlan.id -l > "$tapcap" 2>"$T/tap.err" &
p1=$!
ip netns exec "$h1" timeout 20 tshark -i ul0 -f 'udp port 4789 and ((udp[28:2] = 0x0800 and udp[39] = 1) or (udp[28:2] = 0x8100 and udp[32:2] = 0x0800 and udp[43] = 1))' -c 4 -O vxlan,vlan -l > "$ulcap" 2>"$T/ul.err" &
p2=$!
# tshark takes a while to start on a loaded machine: ping once both capture; the underlay
# filter keeps VXLAN frames carrying ICMPv4, tagged or not (not the IPv6 noise of new interfaces)
wait_for 15 "tshark capturing" sh -c "grep -q 'Capturing on' '$T/tap.err' && grep -q 'Capturing on' '$T/ul.err'"
sleep 0.5
ip netns exec "$N" busybox ping -c 4 -W 2 "$cbip" >/dev/null || die "ping during the capture"
wait $p1 $p2
[ "$(wc -l < "$tapcap")" -ge 4 ] || die "tap capture: $(cat "$tapcap")"
awk -F'\t' '$1 != "100" { bad = 1 } END { exit bad }' "$tapcap" || die "not exactly one VLAN tag 100 on the tap: $(cat "$tapcap")"
grep -q "VXLAN Network Identifier (VNI): $vnib" "$ulcap" || die "no VXLAN with VNI $vnib on the underlay: $(head -40 "$ulcap")"
[ "$(grep -c "Virtual eXtensible Local Area Network" "$ulcap")" -eq "$(grep -c "^Frame " "$ulcap")" ] || die "not one VXLAN header per frame"
grep -q "802.1Q" "$ulcap" && die "a VLAN tag inside the VXLAN frames: $(grep -m3 802.1Q "$ulcap")"

note "teardown"
sf trunk delete t1 --force >/dev/null || die "trunk delete"
wait_for 20 "no sfq devices on core-1" sh -c "! ip -n $h1 -o link show | grep -q ': sfq'"
[ "$(ip netns exec "$h1" "$VT" query "$tap")" = 0 ] || die "a VLAN program still on the tap"
"$SFCTL" lab down --dir "$DIR" --wait 5 >/dev/null || die "lab down: it lists what it could not remove"
echo OK
