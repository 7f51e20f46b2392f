#!/bin/bash
# Containers nested in a real VM, with one encapsulation (issue #9), in a lab of two simulated
# hosts: a VM (QEMU, TCG) of the test guest (tools/mkguest.sh: 8021q and macvlan modules,
# sf-nest) on core-1, whose port is the parent of a trunk; bare-metal containers on core-2.
# Inside the guest, sf-nest makes nested containers (network namespaces held by a process)
# with an interface on the guest's NIC: at day-0 from the user-data script (a static subport),
# and at run time over HTTP (sf-nest serve, basic authentication with a token from day-0).
# Checks:
#   - nested-vlan: a nested container on network B (a trunk subport, VLAN 100) and a container
#     on network B on core-2 talk both ways (ping and TCP);
#   - nested-macvlan: a nested container on the VM's own network A (its own port, allowed on
#     the VM's port as an allowed address pair; l2population follows the pair) and a container
#     on network A on core-2, both ways;
#   - a subport taken from a subport pool at run time carries a new nested container;
#   - captures: on the VM's tap exactly one VLAN tag (100); on the underlay one VXLAN header
#     (network B's VNI) and no VLAN tag inside;
#   - a spoofed VLAN id from the guest is dropped and counted by the host;
#   - the guest helper refuses bad input (naming the field) and unauthenticated requests;
#   - removal leaves nothing in the guest (nested containers, links, namespaces) nor on the
#     host (sfq devices, the BPF program on the tap, the programs themselves, QEMU, the lab).
# Needs root, QEMU, runc, tshark, curl and the cloud kernel (exit 77 otherwise).
. "$(dirname "$0")/../lib.sh"
need_root
for c in qemu-system-x86_64 qemu-img runc busybox tshark jq curl; do
        command -v $c >/dev/null || { echo "$c missing"; exit 77; }
done
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }
VT="$B/tests/unit/net/sf-vlan-test"
[ -x "$VT" ] || die "sf-vlan-test not built ($VT)"
HAVE_BPFTOOL=0; command -v bpftool >/dev/null && HAVE_BPFTOOL=1

G=/var/cache/superfluid/guest
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" "$G" >/dev/null || { echo "the test guest cannot be built"; exit 77; }

LAB="n$(( $$ % 10000 ))"
DIR="$T/lab"
export SUPERFLUID_TRUNK_DATAPATH=bpf # the lab's agents inherit it (a no-op without 8021q)
on_exit lab_down_vms
t0=$(date +%s)

note "lab up: core-1 (the VM) and core-2 (bare-metal containers)"
out=$("$SFCTL" lab up --name "$LAB" --dir "$DIR" --sites core:2 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
sf() { "$SFCTL" --endpoint "$U" "$@"; }
ns_of() { jq -r ".hosts[] | select(.name == \"$1\") | .netns" "$DIR/lab.json"; }
h1=$(ns_of core-1)
agent1=$(jq -r '.hosts[] | select(.name == "core-1") | .agent_url' "$DIR/lab.json")
agent_trunks() { ip netns exec "$h1" curl -sf "$agent1/agent/v1/trunks"; }

note "networks A (the VM's) and B; containers on both at core-2; the VM's port, a trunk, a macvlan port"
sf image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" \
        --node core-1 >/dev/null || die "import"
sf network create neta --cidr 10.51.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.52.0.0/24 -q >/dev/null || die "network b"
vnib=$(sf network show netb -o json | jq .vni)
vnia=$(sf network show neta -o json | jq .vni)
sf run --name ca --node core-2 --network neta=10.51.0.10 busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run ca"
sf run --name cb --node core-2 --network netb=10.52.0.10 busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run cb"
sf port create vmp --network neta --ip 10.51.0.20 -q >/dev/null || die "VM port"
sf port create nb1 --network netb --ip 10.52.0.21 -q >/dev/null || die "subport"
sf trunk create t1 --port vmp --subport nb1:100 -q >/dev/null || die "trunk"
vmp_id=$(sf port show vmp -o json | jq -r .id)
sf port create nm1 --network neta --ip 10.51.0.31 --device-owner nested:macvlan --device-id "$vmp_id" -q >/dev/null ||
        die "macvlan port"
nb1mac=$(sf port show nb1 -o json | jq -r .mac_address)
nm1mac=$(sf port show nm1 -o json | jq -r .mac_address)
sf port update vmp --allowed-address "10.51.0.31,$nm1mac" >/dev/null || die "allowed address pair"

note "the VM: day-0 starts the helper and the nested container of the static subport (VLAN 100)"
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '._')
cat >"$T/user-data" <<EOF
#!/bin/sh
sf-nest serve token=$TOKEN allow=10.51.0.1
sf-nest add name=c1 mode=vlan vid=100 mac=$nb1mac ip=10.52.0.21/24 gw=10.52.0.1 mtu=1450 >/run/c1.out
EOF
out=$(sf run --vm --name xvm --port vmp --node core-1 --user-data @"$T/user-data" sf-guest) || die "run --vm: $out"
echo "    $out"
wait_for 120 "guest ready" sh -c "'$SFCTL' console xvm --tail all | grep -q 'SF-GUEST: ready'"
sf console xvm --tail all | grep -q "SF-GUEST: user-data ran" || die "user-data failed: $(sf console xvm --tail 20)"
wait_for 30 "trunk ACTIVE" sh -c "'$SFCTL' trunk show t1 -o json | jq -e '.status == \"ACTIVE\"'"
vmp=$(sf port show vmp -o json)
tap="sft$(echo "$vmp" | jq -r .id | tr -d - | cut -c1-12)"
ip -n "$h1" link show "$tap" >/dev/null || die "no tap $tap on core-1"

# The guest helper, over HTTP from core-1 (the only address it allows: network A's gateway).
nest() { # METHOD OP [FIELD=VALUE...] -> the answer; status in NEST_STATUS
        local m=$1 op=$2 data="op=$2" f
        shift 2
        for f in "$@"; do data+="&$f"; done
        if [ "$m" = GET ]; then
                NEST_OUT=$(ip netns exec "$h1" curl -s -m 60 -u "sf:$TOKEN" -o - -w '\n%{http_code}' "http://10.51.0.20:7482/cgi-bin/nest?$data")
        else
                NEST_OUT=$(ip netns exec "$h1" curl -s -m 60 -u "sf:$TOKEN" -o - -w '\n%{http_code}' --data "$data" "http://10.51.0.20:7482/cgi-bin/nest")
        fi
        NEST_STATUS=$(echo "$NEST_OUT" | tail -n1)
        NEST_OUT=$(echo "$NEST_OUT" | sed '$d')
        [ "$NEST_STATUS" = 200 ]
}
nest GET list || die "helper list ($NEST_STATUS): $NEST_OUT"
echo "$NEST_OUT" | grep -q "^container=c1 running=1 .*mode=vlan vid=100 mac=$nb1mac" || die "c1 not made at day-0: $NEST_OUT"

note "nested-vlan: c1 (network B through VLAN 100) <-> cb on core-2, ping and TCP both ways"
nest POST ping name=c1 to=10.52.0.10 count=2 || die "c1 -> cb ping ($NEST_STATUS): $NEST_OUT"
nest POST fetch name=c1 url=http://10.52.0.10/ || die "c1 -> cb TCP ($NEST_STATUS): $NEST_OUT"
echo "$NEST_OUT" | grep -qi busybox || die "c1 fetched: $NEST_OUT"
sf exec cb -- ping -c 2 -W 2 10.52.0.21 >/dev/null || die "cb -> c1 ping"
# full-size frames (MTU 1450: 1422 bytes of ICMP payload), tagged on the VM's link both ways
nest POST ping name=c1 to=10.52.0.10 count=2 size=1422 || die "c1 -> cb, full-size frames: $NEST_OUT"
sf exec cb -- wget -q -O - http://10.52.0.21/ | grep -q "SF-NESTED name=c1 mode=vlan" || die "cb -> c1 TCP"
nest POST ping name=c1 to=10.51.0.10 count=1 && die "c1 (network B) reached network A without a router"

note "nested-macvlan: c2 on the VM's network A (run time, over HTTP) <-> ca on core-2, both ways"
nest POST add name=c2 mode=macvlan mac="$nm1mac" ip=10.51.0.31/24 gw=10.51.0.1 mtu=1450 ||
        die "add c2 ($NEST_STATUS): $NEST_OUT"
nest POST ping name=c2 to=10.51.0.10 count=2 || die "c2 -> ca ping ($NEST_STATUS): $NEST_OUT"
nest POST fetch name=c2 url=http://10.51.0.10/ || die "c2 -> ca TCP ($NEST_STATUS): $NEST_OUT"
sf exec ca -- ping -c 2 -W 2 10.51.0.31 >/dev/null || die "ca -> c2 ping"
sf exec ca -- wget -q -O - http://10.51.0.31/ | grep -q "SF-NESTED name=c2 mode=macvlan" || die "ca -> c2 TCP"
h2=$(ns_of core-2)
ip -n "$h2" neigh show dev "sfx$vnia" | grep -q "10.51.0.31 lladdr $nm1mac" ||
        die "core-2 has no neighbour entry for the macvlan pair: $(ip -n "$h2" neigh show dev "sfx$vnia")"

note "captures: one VLAN tag on the tap; one VXLAN header (VNI $vnib) and no VLAN tag on the underlay"
tapcap="$T/tap.txt"
ulcap="$T/ul.txt"
ip netns exec "$h1" timeout 40 tshark -i "$tap" -f icmp -c 4 -T fields -e vlan.id -e ip.src -e ip.dst -l >"$tapcap" 2>"$T/tap.err" &
p1=$!
ip netns exec "$h1" timeout 40 tshark -i ul0 -f 'udp port 4789 and ((udp[28:2] = 0x0800 and udp[39] = 1) or (udp[28:2] = 0x8100 and udp[32:2] = 0x0800 and udp[43] = 1))' -c 4 -O vxlan,vlan -l >"$ulcap" 2>"$T/ul.err" &
p2=$!
wait_for 30 "tshark capturing" sh -c "grep -q 'Capturing on' '$T/tap.err' && grep -q 'Capturing on' '$T/ul.err'"
sleep 0.5
nest POST ping name=c1 to=10.52.0.10 count=4 || die "ping during the capture: $NEST_OUT"
wait $p1 $p2
[ "$(wc -l <"$tapcap")" -ge 4 ] || die "tap capture: $(cat "$tapcap")"
awk -F'\t' '$1 != "100" { bad = 1 } END { exit bad }' "$tapcap" || die "not exactly one VLAN tag 100 on the tap: $(cat "$tapcap")"
grep -q "VXLAN Network Identifier (VNI): $vnib" "$ulcap" || die "no VXLAN with VNI $vnib on the underlay: $(head -40 "$ulcap")"
[ "$(grep -c "Virtual eXtensible Local Area Network" "$ulcap")" -eq "$(grep -c "^Frame " "$ulcap")" ] || die "not one VXLAN header per frame"
grep -q "802.1Q" "$ulcap" && die "a VLAN tag inside the VXLAN frames: $(grep -m3 802.1Q "$ulcap")"

note "a subport pool: a pooled subport taken at run time carries a new nested container"
sf trunk update t1 --subport-pool netb:1 >/dev/null || die "subport pool"
wait_for 30 "the pooled subport plumbed" sh -c "ip netns exec $h1 curl -sf $agent1/agent/v1/trunks | jq -e '.trunks[0].subports | length == 2'"
took=$(sf trunk take-subport t1 --network netb --user c3 -o json) || die "take-subport"
vid3=$(echo "$took" | jq .sub_port.segmentation_id)
mac3=$(echo "$took" | jq -r .sub_port.mac_address)
ip3=$(echo "$took" | jq -r '.sub_port.fixed_ips[0].ip_address')
port3=$(echo "$took" | jq -r .sub_port.port_name)
nest POST add name=c3 mode=vlan vid="$vid3" mac="$mac3" ip="$ip3/24" gw=10.52.0.1 \
        mtu="$(echo "$took" | jq .sub_port.mtu)" || die "add c3 ($NEST_STATUS): $NEST_OUT"
nest POST ping name=c3 to=10.52.0.10 count=1 || die "c3 (VLAN $vid3) -> cb: $NEST_OUT"
nest POST del name=c3 || die "del c3: $NEST_OUT"
sf trunk release-subport t1 "$port3" >/dev/null || die "release-subport"
sf trunk update t1 --subport-pool netb:0 >/dev/null || die "pool off"

note "a spoofed VLAN id from the guest (3999, no subport) is dropped and counted"
before=$(agent_trunks | jq '.trunks[0].counters.dropped_unknown_vlan')
nest POST add name=spoof mode=vlan vid=3999 mac=02:00:5e:00:39:99 ip=10.52.0.99/24 || die "add spoof: $NEST_OUT"
nest POST ping name=spoof to=10.52.0.10 count=3 && die "VLAN 3999 got through"
after=$(agent_trunks | jq '.trunks[0].counters.dropped_unknown_vlan')
[ "$after" -ge $((before + 3)) ] || die "spoofed frames not counted: $before -> $after"
nest POST del name=spoof || die "del spoof: $NEST_OUT"

note "the helper refuses bad input, naming the field, and strangers"
nest POST add name=bad mode=vlan vid=4095 mac=02:00:00:00:00:01 ip=10.52.0.98/24 && die "VLAN 4095 accepted"
[ "$NEST_STATUS" = 400 ] && echo "$NEST_OUT" | grep -q "^field=vid" || die "vid 4095 ($NEST_STATUS): $NEST_OUT"
nest POST add name=c1 mode=vlan vid=100 mac=02:00:00:00:00:01 ip=10.52.0.98/24 && die "name taken twice"
[ "$NEST_STATUS" = 409 ] || die "duplicate name ($NEST_STATUS): $NEST_OUT"
nest POST add name=bad mode=vlan vid=7 mac=01:00:00:00:00:01 ip=10.52.0.98/24 && die "multicast MAC accepted"
echo "$NEST_OUT" | grep -q "^field=mac" || die "multicast MAC: $NEST_OUT"
code=$(ip netns exec "$h1" curl -s -o /dev/null -w '%{http_code}' -u sf:wrongtoken-wrongtoken "http://10.51.0.20:7482/cgi-bin/nest?op=list")
[ "$code" = 401 ] || die "a wrong token got $code"

note "removal: nested containers, then subports and trunk, then the VM; nothing left in guest or host"
progs=$(agent_trunks | jq -r '.trunks[0].bpf.prog_ids | map(tostring) | join(" ")')
nest POST del name=c1 || die "del c1: $NEST_OUT"
nest POST del name=c2 || die "del c2: $NEST_OUT"
nest GET list || die "list: $NEST_OUT"
[ -z "$(echo "$NEST_OUT" | grep -E '^(container|link|netns)=')" ] || die "left in the guest: $NEST_OUT"
sf trunk remove-subport t1 nb1 >/dev/null || die "remove-subport"
sf trunk delete t1 >/dev/null || die "trunk delete"
wait_for 20 "the trunk gone from core-1" sh -c "ip netns exec $h1 curl -sf $agent1/agent/v1/trunks | jq -e '.trunks | length == 0'"
wait_for 20 "no sfq devices on core-1" sh -c "! ip -n $h1 -o link show | grep -q ': sfq'"
[ "$(ip netns exec "$h1" "$VT" query "$tap")" = 0 ] || die "a VLAN program still on the tap"
if [ $HAVE_BPFTOOL = 1 ]; then
        # the kernel frees a detached program after an RCU grace period
        for p in $progs; do
                wait_for 10 "BPF program $p freed" sh -c "! bpftool prog show id $p >/dev/null 2>&1"
        done
fi
qpid=$(sf container show xvm -o json | jq .status.pid)
sf rm xvm >/dev/null || die "rm xvm"
wait_for 30 "the tap gone" sh -c "! ip -n $h1 link show $tap"
[ -d "/proc/$qpid" ] && ! grep -q '^State:.*Z' "/proc/$qpid/status" && die "QEMU $qpid survived rm"
sf rm ca cb >/dev/null || die "rm ca cb"
out=$("$SFCTL" lab down --dir "$DIR" --wait 5 --keep-state 2>&1) || die "lab down: it lists what it could not remove: $out"
pgrep -f -- "/run/superfluid-lab/$LAB/" >/dev/null && die "processes left: $(pgrep -af -- "/run/superfluid-lab/$LAB/")"
ip netns list | grep -q "sflab-$LAB-" && die "namespaces left"
# every daemon stopped cleanly (sanitizer builds report leaks and errors at exit)
! grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$DIR"/logs/*.log ||
        die "sanitizer reports in the daemons' logs: $(grep -h -A20 "ERROR\|runtime error" "$DIR"/logs/*.log | head -60)"
echo "OK ($(($(date +%s) - t0)) s)"
