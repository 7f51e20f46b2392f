#!/bin/bash
# Trunks on a node without 8021q (issue #9: containers nested in VMs without double
# encapsulation), without a VM: an all-in-one sfd in a test namespace, and a guest emulated by
# network namespaces. The VM's tap is a veth "sft<port>" on the parent network's bridge whose
# other end is the guest's NIC in sftest-guest-*; inside the guest (no 8021q there either) the
# same BPF programs, loaded by sf-vlan-test, tag the frames of a "nested container" namespace
# (sftest-nested-*) with the subport's VLAN id. Checks:
#   - the node reports the BPF datapath and logs why; the trunk goes ACTIVE;
#   - untagged guest traffic stays on the parent's network; the nested endpoint reaches a
#     container on the subport's network (ping and TCP), and back;
#   - a capture on the tap shows exactly one VLAN tag (the subport's);
#   - a subport added later (VLAN id allocated) works at once, one removed stops at once;
#   - a spoofed VLAN id from the guest is dropped and counted (agent listing, node status,
#     /metrics);
#   - an agent restart keeps the datapath (maps and counters taken over, traffic flows);
#   - refusals through sfctl (delete with subports, port in a trunk, bad VLAN id);
#   - removing the subports and the trunk, or losing the tap, leaves no veth, tc filter, BPF
#     program or map (bpftool when installed, else the agent's listing and tc).
# Needs root (exit 77 otherwise); cleans up in a trap on every exit path.
. "$(dirname "$0")/../lib.sh"
need_root
for c in runc busybox jq tc; do command -v $c >/dev/null || { echo "$c missing"; exit 77; }; done
VT="$B/tests/unit/net/sf-vlan-test"
[ -x "$VT" ] || die "sf-vlan-test not built ($VT)"
HAVE_BPFTOOL=0; command -v bpftool >/dev/null && HAVE_BPFTOOL=1
HAVE_TSHARK=0; command -v tshark >/dev/null && HAVE_TSHARK=1

make_ns sftest-trunk
G=sftest-guest-$$
N=sftest-nested-$$
N2=sftest-nested2-$$
N3=sftest-spoof-$$
for n in $G $N $N2 $N3; do
        ip netns add $n || die "netns $n"
        ip -n $n link set lo up
done
on_exit "for n in $G $N $N2 $N3; do ip netns del \$n 2>/dev/null; done"

# On a host with 8021q this forces the BPF datapath, which is what is tested here.
export SUPERFLUID_TRUNK_DATAPATH=bpf
start_sfd
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
node=$(sf node list -o json | jq -r '.[0].name')
nsx() { $NSX "$@"; }
# On every exit path, before sfd stops: trunks and containers go through the agent (so the
# test namespace is not kept alive by container processes), and whatever the agent could not
# remove is removed by hand.
trunk_cleanup() {
        if [ -n "$SFD_PID" ] && kill -0 "$SFD_PID" 2>/dev/null; then
                for t in t1 t3; do sf trunk delete "$t" --force >/dev/null 2>&1; done
                for c in ca cb cc; do timeout 30 $NSX "$SFCTL" --endpoint "$U" rm "$c" >/dev/null 2>&1; done
                for _ in $(seq 1 50); do ip -n "$NS" -o link show 2>/dev/null | grep -q ': sfq' || break; sleep 0.1; done
        fi
        ip -n "$NS" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^sfq' |
                while read -r l; do ip -n "$NS" link del "$l" 2>/dev/null; done
}
on_exit trunk_cleanup
agent_trunks() { nsx curl -sf "$U/agent/v1/trunks"; }

note "the node reports its trunk datapath (and says why when 8021q is missing)"
wait_for 15 "trunk_datapath in node status" sh -c "$NSX $SFCTL --endpoint $U node show $node -o json | jq -e '.status.info.trunk_datapath == \"bpf\"'"
if ! sf node show "$node" -o json | jq -e '.features | index("8021q")' >/dev/null; then
        grep -q "8021q is not available: trunk subports use the BPF VLAN datapath" "$T/sfd.log" || die "no fallback message in the log"
fi

note "networks, containers, the VM's port and a subport; the trunk"
sf network create neta --cidr 10.31.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.32.0.0/24 -q >/dev/null || die "network b"
sf network create netc --cidr 10.33.0.0/24 -q >/dev/null || die "network c"
sf run --name ca --network neta busybox -- sleep 3600 >/dev/null || die "run ca"
sf run --name cb --network netb busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run cb"
sf run --name cc --network netc busybox -- sleep 3600 >/dev/null || die "run cc"
caip=$(sf container show ca -o json | jq -r '.status.ips[0]')
cbip=$(sf container show cb -o json | jq -r '.status.ips[0]')
ccip=$(sf container show cc -o json | jq -r '.status.ips[0]')
sf port create vm1 --network neta --node "$node" --device-owner compute:sftest --device-id "$G" -q >/dev/null || die "parent port"
sf port create nested1 --network netb -q >/dev/null || die "subport"
sf port create nested2 --network netc -q >/dev/null || die "subport 2"
note "the emulated VM: a tap stand-in on network a's bridge, the guest NIC in $G"
vm1=$(sf port show vm1 -o json)
tap="sft$(echo "$vm1" | jq -r .id | tr -d - | cut -c1-12)"
vnia=$(sf network show neta -o json | jq .vni)
vnib=$(sf network show netb -o json | jq .vni)
ip -n "$NS" link add "$tap" type veth peer name eth0 netns "$G" || die "tap stand-in"
ip -n "$NS" link set "$tap" master "sfb$vnia" up || die "tap on the bridge"
ip -n "$G" link set eth0 address "$(echo "$vm1" | jq -r .mac_address)" up
ip -n "$G" addr add "$(echo "$vm1" | jq -r '.fixed_ips[0].ip_address')/24" dev eth0
# the nested container behind the guest NIC: its own namespace, the subport's MAC and address
plumb_nested() { # NETNS GUEST_IF PORT GATEWAY
        local p; p=$(sf port show "$3" -o json)
        ip -n "$G" link add "$2" type veth peer name eth0 netns "$1" || die "nested veth $2"
        ip -n "$G" link set "$2" up
        ip -n "$1" link set eth0 address "$(echo "$p" | jq -r .mac_address)" up
        ip -n "$1" addr add "$(echo "$p" | jq -r '.fixed_ips[0].ip_address')/24" dev eth0
        ip -n "$1" route add default via "$4"
}
sf trunk create t1 --port vm1 --subport nested1:100 -q >/dev/null || die "trunk create"
t1=$(sf trunk show t1 -o json)
[ "$(echo "$t1" | jq '.sub_ports[0].segmentation_id')" = 100 ] || die "VLAN id: $t1"
[ "$(sf port show nested1 -o json | jq -r .device_owner)" = "trunk:subport" ] || die "subport owner"
[ "$(sf port show nested1 -o json | jq -r .node_id)" = "$(sf port show vm1 -o json | jq -r .node_id)" ] || die "subport binding"

note "refusals"
out=$(sf trunk delete t1 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "has 1 subport" || die "delete with subports ($rc): $out"
out=$(sf port delete nested1 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "is a subport of trunk 't1'" || die "delete of a subport ($rc): $out"
out=$(sf trunk add-subport t1 nested2:4095 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "4095 is not a VLAN id (1-4094)" && echo "$out" | grep -q "sub_ports\[0\].segmentation_id" ||
        die "VLAN 4095 ($rc): $out"
sf port create vm2 --network neta -q >/dev/null || die "port vm2"
out=$(sf trunk create t2 --port vm2 --subport nested1 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "port 'nested1' is already a subport of trunk 't1'" || die "subport twice ($rc): $out"
sf port delete vm2 >/dev/null || die "delete vm2"

plumb_nested "$N" n100 nested1 10.32.0.1
ip netns exec "$G" "$VT" attach eth0 100:n100 || die "guest-side BPF"
nestedip=$(sf port show nested1 -o json | jq -r '.fixed_ips[0].ip_address')
wait_for 20 "trunk ACTIVE" sh -c "$NSX $SFCTL --endpoint $U trunk show t1 -o json | jq -e '.status == \"ACTIVE\" and .datapath == \"bpf\"'"
agent_trunks | jq -e '.trunks[0].bpf.mode == "redirect"' >/dev/null || die "agent listing: $(agent_trunks)"
qa=$(agent_trunks | jq -r '.trunks[0].subports[0].devices[0]')
qb=$(agent_trunks | jq -r '.trunks[0].subports[0].devices[1]')
[[ "$qa" == sfq*0100a && "$qb" == sfq*0100b ]] || die "veth names: $qa $qb"
ip -n "$NS" -o link show "$qb" | grep -q "master sfb$vnib" || die "$qb is not on network b's bridge"

note "untagged: the guest itself is on network a"
ip netns exec "$G" busybox ping -c 2 -W 2 "$caip" >/dev/null || die "guest -> ca (untagged)"

note "tagged: the nested endpoint is on network b (ping and TCP, both ways)"
ip netns exec "$N" busybox ping -c 3 -W 2 "$cbip" >/dev/null || die "nested -> cb"
page=$(ip netns exec "$N" busybox wget -q -O - "http://$cbip/") || die "nested -> cb TCP"
echo "$page" | grep -qi busybox || die "unexpected page: $page"
sf exec cb -- ping -c 2 -W 2 "$nestedip" >/dev/null || die "cb -> nested"
ip netns exec "$N" busybox ping -c 1 -W 1 "$caip" >/dev/null && die "nested (network b) reached network a without a router"

if [ $HAVE_TSHARK = 1 ]; then
        note "a capture on the tap: exactly one VLAN tag, the subport's"
        cap="$T/tap.txt"
        ip netns exec "$NS" timeout 20 tshark -i "$tap" -f icmp -c 4 -T fields -e vlan.id -e ip.src -e ip.dst -l > "$cap" 2>"$T/tap.err" &
        tp=$!
        wait_for 15 "tshark capturing" grep -q 'Capturing on' "$T/tap.err"
        sleep 0.5
        ip netns exec "$N" busybox ping -c 4 -W 2 "$cbip" >/dev/null
        wait $tp
        [ "$(wc -l < "$cap")" -ge 4 ] || die "capture: $(cat "$cap")"
        awk -F'\t' '$1 != "100" { bad = 1 } END { exit bad }' "$cap" || die "not exactly one VLAN tag 100 per frame: $(cat "$cap")"
fi

note "a subport added later: VLAN id allocated, working at once; removed: gone at once"
sf trunk add-subport t1 nested2 >/dev/null || die "add-subport"
vid2=$(sf trunk show t1 -o json | jq '.sub_ports[] | select(.network_id == "'"$(sf network show netc -o json | jq -r .id)"'") | .segmentation_id')
[ "$vid2" = 1 ] || die "allocated VLAN id $vid2 (expected the lowest free, 1)"
plumb_nested "$N2" n1 nested2 10.33.0.1
ip netns exec "$G" "$VT" attach eth0 1:n1 || die "guest-side VLAN 1"
wait_for 20 "VLAN 1 on the node" sh -c "$NSX curl -sf $U/agent/v1/trunks | jq -e '.trunks[0].subports | length == 2'"
wait_for 10 "nested2 -> cc" ip netns exec "$N2" busybox ping -c 1 -W 1 "$ccip"
sf trunk remove-subport t1 nested2 >/dev/null || die "remove-subport"
wait_for 20 "VLAN 1 gone" sh -c "! ip -n $NS link show ${qa%0100a}0001a"
ip netns exec "$N2" busybox ping -c 1 -W 1 "$ccip" >/dev/null && die "a removed subport still carries traffic"
[ "$(sf port show nested2 -o json | jq -r .device_owner)" = "" ] || die "removed subport still owned"

note "a spoofed VLAN id from the guest is dropped and counted"
before=$(agent_trunks | jq '.trunks[0].counters.dropped_unknown_vlan')
plumb_nested "$N3" n200 nested2 10.33.0.1   # claims network c through VLAN 200, which is no subport
ip -n "$N3" neigh add "$ccip" lladdr 02:00:00:00:00:01 dev eth0 # no ARP: exactly one frame per ping
ip netns exec "$G" "$VT" attach eth0 200:n200 || die "guest-side VLAN 200"
ip netns exec "$N3" busybox ping -c 5 -W 1 "$ccip" >/dev/null && die "VLAN 200 got through"
ip netns exec "$N3" busybox ping -c 1 -W 1 "$cbip" >/dev/null && die "VLAN 200 reached network b"
after=$(agent_trunks | jq '.trunks[0].counters.dropped_unknown_vlan')
[ "$after" -ge $((before + 5)) ] || die "spoofed frames not counted: $before -> $after"
nsx curl -sf "$U/metrics" | grep -q "^sf_trunk_vlan_dropped_total{trunk=\"t1\",reason=\"unknown_vlan\"} [1-9]" ||
        die "no drop counter in /metrics: $(nsx curl -sf "$U/metrics" | grep sf_trunk)"
wait_for 15 "counters in node status" sh -c "$NSX $SFCTL --endpoint $U node show $node -o json | jq -e '.status.info.trunks[].counters.dropped_unknown_vlan >= $after'"

note "an agent restart keeps the datapath: maps and counters taken over"
maps_before=$(agent_trunks | jq -c '.trunks[0].bpf.map_ids')
stop_sfd || die "sfd stop"
ip netns exec "$N" busybox ping -c 2 -W 2 "$cbip" >/dev/null || die "nested -> cb with the agent stopped"
start_sfd
wait_for 30 "trunk back in the agent" sh -c "$NSX curl -sf $U/agent/v1/trunks | jq -e '.trunks[0].status == \"ACTIVE\"'"
[ "$(agent_trunks | jq -c '.trunks[0].bpf.map_ids')" = "$maps_before" ] || die "maps not taken over: $maps_before -> $(agent_trunks | jq -c .trunks[0].bpf.map_ids)"
[ "$(agent_trunks | jq '.trunks[0].counters.dropped_unknown_vlan')" -ge "$after" ] || die "counters lost across the restart"
ip netns exec "$N" busybox ping -c 2 -W 2 "$cbip" >/dev/null || die "nested -> cb after the restart"

note "a subport pool: idle subports plumbed ahead, taken by a nested container, released"
N4=sftest-pooled-$$
ip netns add $N4 && ip -n $N4 link set lo up || die "netns $N4"
on_exit "ip netns del $N4 2>/dev/null"
sf trunk update t1 --subport-pool netc:2 >/dev/null || die "subport pool"
wait_for 20 "two pooled subports plumbed" sh -c "$NSX curl -sf $U/agent/v1/trunks | jq -e '.trunks[0].subports | length == 3'"
took=$(sf trunk take-subport t1 --network netc --user "$N4" -o json) || die "take-subport"
tvid=$(echo "$took" | jq .sub_port.segmentation_id)
tport=$(echo "$took" | jq -r .sub_port.port_name)
[ "$(echo "$took" | jq -r .sub_port.pool)" = taken ] || die "take-subport: $took"
plumb_nested "$N4" "p$tvid" "$tport" 10.33.0.1
ip netns exec "$G" "$VT" attach eth0 "$tvid:p$tvid" || die "guest-side VLAN $tvid"
# plumbed before it was taken: works at once (the refill adds one more idle subport meanwhile)
ip netns exec "$N4" busybox ping -c 2 -W 2 "$ccip" >/dev/null || die "pooled nested -> cc"
wait_for 20 "pool refilled on the node" sh -c "$NSX curl -sf $U/agent/v1/trunks | jq -e '.trunks[0].subports | length == 4'"
sf trunk release-subport t1 "$tport" >/dev/null || die "release-subport"
sf port show "$tport" >/dev/null 2>&1 && die "a released subport beyond the pool's min keeps its port"
sf trunk update t1 --subport-pool netc:0 >/dev/null || die "pool off"

note "removing the subports and the trunk leaves nothing"
ids=$(agent_trunks | jq -r '.trunks[0].bpf | (.prog_ids + .map_ids) | map(tostring) | join(" ")')
progs=$(agent_trunks | jq -r '.trunks[0].bpf.prog_ids | map(tostring) | join(" ")')
maps=$(agent_trunks | jq -r '.trunks[0].bpf.map_ids | map(tostring) | join(" ")')
sf trunk remove-subport t1 nested1 >/dev/null || die "remove-subport nested1"
sf trunk delete t1 >/dev/null || die "trunk delete"
wait_for 20 "trunk gone from the node" sh -c "$NSX curl -sf $U/agent/v1/trunks | jq -e '.trunks | length == 0'"
left=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^sfq' | tr '\n' ' ')
[ -z "$left" ] || die "devices left: $left"
[ -z "$(tc -n "$NS" filter show dev "$tap" ingress 2>/dev/null)" ] || die "tc filter left on $tap: $(tc -n "$NS" filter show dev "$tap" ingress)"
tc -n "$NS" qdisc show dev "$tap" | grep -q clsact && die "clsact qdisc left on $tap"
[ "$(ip netns exec "$NS" "$VT" query "$tap")" = 0 ] || die "a VLAN program still on $tap"
if [ $HAVE_BPFTOOL = 1 ]; then
        # The guest side still holds its own programs (other ids); the node's must be gone.
        for p in $progs; do bpftool prog show id "$p" >/dev/null 2>&1 && die "BPF program $p left"; done
        for m in $maps; do bpftool map show id "$m" >/dev/null 2>&1 && die "BPF map $m left"; done
fi
[ "$(sf port show nested1 -o json | jq -r .device_id)" = "" ] || die "subport still owned after removal"

note "a trunk whose tap goes: its devices go too"
sf trunk create t3 --port vm1 --subport nested1:100 -q >/dev/null || die "trunk t3"
wait_for 40 "t3 ACTIVE" sh -c "$NSX $SFCTL --endpoint $U trunk show t3 -o json | jq -e '.status == \"ACTIVE\"'"
progs=$(agent_trunks | jq -r '.trunks[0].bpf.prog_ids | map(tostring) | join(" ")')
ip -n "$NS" link del "$tap" || die "tap removal"
# The next sync (a change, or the 30 s drift check) notices the tap is gone.
wait_for 45 "t3 DOWN, its devices gone" sh -c "! ip -n $NS -o link show | grep -q ': sfq' && $NSX $SFCTL --endpoint $U trunk show t3 -o json | jq -e '.status == \"DOWN\"'"
if [ $HAVE_BPFTOOL = 1 ]; then
        for p in $progs; do bpftool prog show id "$p" >/dev/null 2>&1 && die "BPF program $p left with the tap gone"; done
fi
sf trunk delete t3 --force >/dev/null || die "trunk t3 delete"
sf port delete vm1 --force >/dev/null || die "port vm1"
for c in ca cb cc; do sf rm "$c" >/dev/null || die "rm $c"; done
[ -z "$(leaks)" ] || die "leaks after removal: $(leaks)"
sf port delete nested1 nested2 >/dev/null || die "ports"
sf network delete neta netb netc >/dev/null || die "network delete"
wait_for 10 "bridges gone" sh -c "[ -z \"\$(ip -n $NS -o link show | grep sfb)\" ]"
echo OK
