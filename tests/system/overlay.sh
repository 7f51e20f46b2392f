#!/bin/bash
# The overlay across hosts and sites (issue: sites and nodes), in a lab of three simulated
# hosts: containers on different nodes and sites reach each other over VXLAN (ping and TCP
# with iperf3), a capture on the underlay shows exactly one VXLAN header with the network's
# VNI, networks stay isolated across nodes and route when a router joins them, a controller
# cut off for 60 s leaves edge workloads serving and restarts nothing, and an unschedulable
# workload says why. `lab down` must leave nothing (checked by tests/system/lab.sh too).
. "$(dirname "$0")/../lib.sh"
need_root
for c in runc busybox iperf3 tshark; do command -v $c >/dev/null || { echo "$c missing"; exit 77; }; done

LAB="o$(( $$ % 10000 ))"
DIR="$T/lab"
lab() { "$SFCTL" lab "$@"; }
on_exit '"$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1 || true'
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:2,edge:1 --lease 7 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
sf() { "$SFCTL" --endpoint "$U" "$@"; }
ns_of() { jq -r ".hosts[] | select(.name == \"$1\") | .netns" "$DIR/lab.json"; }

note "an iperf3 image for every node (the Debian binary and its libraries, plus busybox)"
img="$T/iperf3-rootfs"
mkdir -p "$img/bin" "$img/usr/bin" "$img/tmp" "$img/etc"
cp "$(command -v busybox)" "$img/bin/busybox"
for a in sh ping wget sleep cat ip; do ln -s busybox "$img/bin/$a"; done
cp "$(command -v iperf3)" "$img/usr/bin/iperf3"
for l in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do mkdir -p "$img$(dirname "$l")"; cp -L "$l" "$img$l"; done
echo "root:x:0:0:root:/:/bin/sh" > "$img/etc/passwd"
sf image import "$img" --name iperf3 --format rootfs >/dev/null || die "image import"

note "one network across the three hosts (two sites)"
sf network create ovl --cidr 10.71.0.0/24 -q >/dev/null || die network
vni=$(sf network show ovl -o json | jq .vni)
sf run --name srv --node core-1 --network ovl iperf3 -- iperf3 -s >/dev/null || die "run srv"
sf run --name web --node core-1 --network ovl busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run web"
sf run --name cli2 --node core-2 --network ovl iperf3 -- sleep 3600 >/dev/null || die "run cli2"
sf run --name edge --node edge-1 --network ovl iperf3 -- sleep 3600 >/dev/null || die "run edge"
srv=$(sf container show srv -o json | jq -r '.status.ips[0]')
webip=$(sf container show web -o json | jq -r '.status.ips[0]')
for c in cli2 edge; do
        sf exec "$c" -- ping -c 2 -W 2 "$srv" >/dev/null || die "$c cannot ping srv across nodes"
        sf exec "$c" -- wget -q -O /dev/null "http://$webip/" || die "$c: no TCP to web"
done
res=$(sf exec edge --timeout 60 -- iperf3 -c "$srv" -t 2 -J) || die "iperf3 edge -> core failed"
bps=$(echo "$res" | jq '.end.sum_received.bits_per_second')
echo "iperf3 edge-1 -> core-1 over VXLAN: $(echo "$bps / 1000000" | bc) Mbit/s"
[ "$(echo "$bps > 1000000" | bc)" = 1 ] || die "throughput too low: $bps"
mtu=$(sf exec edge -- cat /sys/class/net/eth0/mtu)
[ "$mtu" = 1450 ] || die "container MTU $mtu (1450 fits VXLAN on a 1500-byte underlay)"
sf exec edge -- ping -c 1 -W 2 -s 1422 -M do "$srv" >/dev/null 2>&1 ||
        sf exec edge -- ping -c 1 -W 2 -s 1422 "$srv" >/dev/null || die "a full-size (1450) packet does not cross the overlay"

note "l2population: FDB and neighbour entries come from the controller, not from flooding"
ens=$(ns_of edge-1)
ip -n "$ens" -d link show "sfx$vni" | grep -q "nolearning" || die "VXLAN learns"
ip -n "$ens" -d link show "sfx$vni" | grep -q "proxy" || die "no ARP suppression on the VXLAN device"
srvmac=$(sf container show srv -o json | jq -r '.port_ids[0]' | xargs -I{} "$SFCTL" --endpoint "$U" port show {} -o json | jq -r .mac_address)
core1=$(jq -r '.hosts[] | select(.name == "core-1") | .underlay_ip' "$DIR/lab.json")
bridge -n "$ens" fdb show dev "sfx$vni" | grep -q "$srvmac dst $core1" || die "no FDB entry for srv on edge-1: $(bridge -n "$ens" fdb show dev "sfx$vni")"
ip -n "$ens" neigh show dev "sfx$vni" | grep -q "$srv lladdr $srvmac PERMANENT" || die "no neighbour entry for srv on edge-1"

note "a capture on the underlay shows one VXLAN header with VNI $vni"
cap="$T/cap.txt"
# (only VXLAN frames carrying ICMPv4, tagged or not: new interfaces send IPv6 noise)
ip netns exec "$ens" timeout 20 tshark -i ul0 -f 'udp port 4789 and ((udp[28:2] = 0x0800 and udp[39] = 1) or (udp[28:2] = 0x8100 and udp[32:2] = 0x0800 and udp[43] = 1))' -c 4 -O vxlan,vlan -l > "$cap" 2>"$T/cap.err" &
tp=$!
wait_for 15 "tshark capturing" grep -q 'Capturing on' "$T/cap.err"
sleep 0.5
sf exec edge -- ping -c 4 "$srv" >/dev/null
wait $tp
grep -q "VXLAN Network Identifier (VNI): $vni" "$cap" || die "no VXLAN with VNI $vni on the underlay: $(head -40 "$cap")"
[ "$(grep -c "Virtual eXtensible Local Area Network" "$cap")" -eq "$(grep -c "^Frame " "$cap")" ] || die "not one VXLAN header per frame"
grep -q "802.1Q" "$cap" && die "a VLAN tag inside the VXLAN frames"

note "two networks stay isolated across nodes; a router joins them"
sf network create ovl2 --cidr 10.72.0.0/24 -q >/dev/null || die network2
sf run --name other --node edge-1 --network ovl2 busybox -- sleep 3600 >/dev/null || die "run other"
sf exec other -- ping -c 1 -W 1 "$srv" >/dev/null && die "ovl2 reached ovl across nodes without a router"
sf router create rt --subnet ovl-v4 --subnet ovl2-v4 -q >/dev/null || die router
wait_for 15 "routed across nodes" "$SFCTL" --endpoint "$U" exec other -- ping -c 1 -W 1 "$srv"
sf exec other -- wget -q -O /dev/null "http://$webip/" || die "routed TCP across nodes"
sf router delete rt >/dev/null

note "an unschedulable workload says why"
err=$(sf run --name big --site edge --memory 100Ti busybox -- true 2>&1); rc=$?
[ $rc = 1 ] && echo "$err" | grep -q "memory: must be at most 4Ti" || {
        err=$(sf run --name big --site edge --memory 1Ti busybox -- true 2>&1); rc=$?
        [ $rc = 4 ] && echo "$err" | grep -q "site 'edge': 0/1 nodes fit: 1 without 1024 GiB free" || die "unschedulable ($rc): $err"; }
sf rm --force big >/dev/null 2>&1
err=$(sf run --name nowhere --site moon busybox -- true 2>&1); rc=$?
[ $rc = 4 ] && echo "$err" | grep -q "site 'moon' has no nodes" || die "unknown site ($rc): $err"
sf rm --force nowhere >/dev/null 2>&1

note "the controller cut off for 60 s: edge workloads keep serving, nothing restarts"
before=$(sf ps -o json | jq -c 'map({name, pid: .status.pid, restarts: .status.restarts}) | sort_by(.name)')
edgeid=$(sf container show edge -o json | jq -r .id)
cpid=$(jq -r .controller.pid "$DIR/lab.json")
kill -STOP "$cpid"
on_exit "kill -CONT $cpid 2>/dev/null"
# the edge container's own network namespace (exec needs the controller, which is frozen)
edgens=$(jq -r '.hosts[] | select(.name == "edge-1") | .run_dir' "$DIR/lab.json")/netns/$edgeid
for i in $(seq 1 12); do
        # traffic across nodes and sites, through the data plane the agents keep as it is
        nsenter --net="$edgens" busybox ping -c 1 -W 2 "$srv" >/dev/null || die "edge lost the overlay at ${i}x5 s without the controller"
        nsenter --net="$edgens" busybox wget -q -O /dev/null "http://$webip/" || die "edge lost TCP to core at ${i}x5 s"
        sleep 5
done
kill -CONT "$cpid"
wait_for 30 "nodes Ready again" sh -c "\"$SFCTL\" --endpoint $U node list -o json | jq -e 'map(.status.state == \"Ready\") | all'"
sleep 3
after=$(sf ps -o json | jq -c 'map({name, pid: .status.pid, restarts: .status.restarts}) | sort_by(.name)')
[ "$before" = "$after" ] || die "workloads changed across the outage: before $before after $after"
sf exec edge -- ping -c 1 -W 2 "$srv" >/dev/null || die "overlay after the outage"

note "lab down"
"$SFCTL" lab down --dir "$DIR" --wait 5 >/dev/null || die "lab down: it lists what it could not remove"
[ -z "$(ip netns list | grep "^sflab-$LAB-")" ] || die "namespaces left"
echo OK
