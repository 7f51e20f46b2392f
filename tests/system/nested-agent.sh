#!/bin/bash
# The Superfluid agent inside a VM (issue #9): a VM made with --nested-mode on core-1 of a lab
# of two simulated hosts; its guest (tools/mkguest.sh --agent: sfd, sf-shim, runc) starts the
# agent from the NoCloud seed, which reaches the controller through the VM's restricted
# management NIC and registers a node named after the VM, whose parent is the VM. Checks:
#   - the VM's node: parent, nested_mode, the VM's site; the scheduler puts nothing else there;
#   - nested-vlan: `sfctl run --host-vm` places a container in the VM, its port a subport of the
#     VM's trunk (VLAN id in the record), made by the guest's agent as a VLAN device on the
#     guest's NIC; it and a bare-metal container on network B on core-2 talk both ways;
#   - nested-macvlan (--nested-mode macvlan): a container on the VM's own network, allowed on the
#     VM's port (allowed_address_pairs), talks both ways with a bare-metal container on core-2;
#   - a capture on the VM's tap shows exactly one VLAN tag (the subport's);
#   - refusals, naming the field: a container in a VM that hosts none, a bad mode, macvlan on
#     another network, an existing port, moving it, deleting the VM while it hosts containers;
#   - removal: subports back to the trunk's pool (or deleted), pairs removed, nothing left in the
#     guest (sf-nest list), the VM's node goes with the VM, the lab leaves nothing.
# Needs root, QEMU, runc, socat, tshark, curl and the cloud kernel (exit 77 otherwise).
. "$(dirname "$0")/../lib.sh"
need_root
for c in qemu-system-x86_64 qemu-img runc busybox socat tshark jq curl; do
        command -v $c >/dev/null || { echo "$c missing"; exit 77; }
done
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }

# The guest with the agent of this build (rebuilt when sfd changes: the stamp covers it).
G=/var/cache/superfluid/guest-agent-$(echo "$B" | md5sum | cut -c1-8)
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" --agent "$B" "$G" >/dev/null || die "the test guest with the agent cannot be built"

LAB="a$(( $$ % 10000 ))"
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

sf image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" \
        --node core-1 >/dev/null || die "import"
sf network create neta --cidr 10.61.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.62.0.0/24 -q >/dev/null || die "network b"
sf run --name ca --node core-2 --network neta=10.61.0.10 busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run ca"
sf run --name cb --node core-2 --network netb=10.62.0.10 busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run cb"

note "refusals before the VM: a container in a container, a bad mode"
out=$(sf run --name bad --host-vm ca --network netb busybox -- true 2>&1) && die "host_vm of a container accepted"
echo "$out" | grep -q "host_vm: 'ca' is not a VM that hosts containers" || die "host_vm ca: $out"
out=$(sf run --vm --name bad --nested-mode vxlan --network neta sf-guest 2>&1) && die "nested mode vxlan accepted"
echo "$out" | grep -q "nested_mode: must be vlan or macvlan" || die "bad mode: $out"
out=$(sf run --name bad --nested-mode vlan --network netb busybox -- true 2>&1) && die "nested_mode without a VM accepted"
echo "$out" | grep -q "^sfctl: nested_mode: " || die "nested_mode without host_vm: $out"

note "the VM (nested-vlan by default) on network A; its guest's agent registers node 'xvm'"
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '._')
printf '#!/bin/sh\nsf-nest serve token=%s allow=10.61.0.1\n' "$TOKEN" >"$T/user-data"
t_vm=$(date +%s)
out=$(sf run --vm --name xvm --nested-mode vlan --network neta=10.61.0.20 --memory 512Mi --node core-1 \
        --user-data @"$T/user-data" sf-guest) || die "run --vm: $out"
echo "    $out"
vm_id=$(sf container show xvm -o json | jq -r .id)
sf trunk show xvm -o json | jq -e ".port_id == \"$(sf container show xvm -o json | jq -r '.port_ids[0]')\"" >/dev/null ||
        die "the VM's trunk is not on its port"
node_ready() { [ "$(sf node show xvm -o json 2>/dev/null | jq -r .status.state)" = Ready ]; }
wait_for 180 "node xvm Ready" node_ready
echo "    node xvm Ready $(( $(date +%s) - t_vm )) s after the VM's request"
node=$(sf node show xvm -o json)
echo "$node" | jq -e ".parent == \"$vm_id\" and .nested_mode == \"vlan\" and .underlay_ip == null" >/dev/null ||
        die "node xvm: $(echo "$node" | jq -c '{parent, nested_mode, underlay_ip}')"
[ "$(echo "$node" | jq -r .site_id)" = "$(sf node show core-1 -o json | jq -r .site_id)" ] || die "node xvm is not in core-1's site"
sf console xvm --tail all | grep -q "SF-GUEST: agent started" || die "console: $(sf console xvm --tail 30)"

note "the scheduler keeps other workloads off the VM's node"
for i in 1 2 3; do
        sf run --name s$i --network netb --detach busybox -- sleep 600 >/dev/null || die "run s$i"
        [ "$(sf container show s$i -o json | jq -r .node_id)" != "$(echo "$node" | jq -r .id)" ] || die "s$i placed in the VM"
done
sf rm s1 s2 s3 >/dev/null || die "rm s1-s3"

note "nested-vlan: n1 in the VM on network B <-> cb on core-2, both ways"
t_run=$(date +%s%N)
sf run --name n1 --host-vm xvm --network netb busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run n1: $(sf container show n1 -o json | jq -c .status)"
echo "    n1 Running in $(( ($(date +%s%N) - t_run) / 1000000 )) ms (TCG guest)"
n1=$(sf container show n1 -o json)
ip1=$(echo "$n1" | jq -r '.status.ips[0]')
p1=$(echo "$n1" | jq -r '.port_ids[0]')
vid1=$(echo "$n1" | jq -r ".nested.vlans[\"$p1\"]")
[ "$(echo "$n1" | jq -r .nested.mode)" = vlan ] && [ "$vid1" -ge 1 ] || die "n1's record: $(echo "$n1" | jq -c .nested)"
sf trunk show xvm -o json | jq -e ".sub_ports[] | select(.port_id == \"$p1\" and .segmentation_id == $vid1 and .pool == \"taken\")" >/dev/null ||
        die "n1's port is not a taken subport of the VM's trunk: $(sf trunk show xvm -o json | jq -c .sub_ports)"
sf exec cb -- ping -c 2 -W 3 "$ip1" >/dev/null || die "cb -> n1 ping"
sf exec cb -- wget -q -O - "http://$ip1/" | grep -qi busybox || die "cb -> n1 TCP"
sf exec n1 -- ping -c 2 -W 3 10.62.0.10 >/dev/null || die "n1 -> cb ping"
sf exec n1 -- wget -q -O - http://10.62.0.10/ | grep -qi busybox || die "n1 -> cb TCP"
sf exec n1 -- ping -c 1 -W 2 10.61.0.10 >/dev/null && die "n1 (network B) reached network A without a router"

note "one VLAN tag ($vid1) on the VM's tap"
vmp=$(sf container show xvm -o json | jq -r '.port_ids[0]')
tap="sft$(echo "$vmp" | tr -d - | cut -c1-12)"
ip -n "$h1" link show "$tap" >/dev/null || die "no tap $tap on core-1"
ip netns exec "$h1" timeout 40 tshark -i "$tap" -f icmp -c 4 -T fields -e vlan.id -e ip.src -e ip.dst -l >"$T/tap.txt" 2>"$T/tap.err" &
pc=$!
wait_for 30 "tshark capturing" grep -q 'Capturing on' "$T/tap.err"
sleep 0.5
sf exec cb -- ping -c 2 -W 3 "$ip1" >/dev/null || die "ping during the capture"
wait $pc
[ "$(wc -l <"$T/tap.txt")" -ge 4 ] || die "tap capture: $(cat "$T/tap.txt")"
awk -F'\t' -v v="$vid1" '$1 != v { bad = 1 } END { exit bad }' "$T/tap.txt" || die "not exactly one VLAN tag $vid1: $(cat "$T/tap.txt")"

note "nested-macvlan: n2 in the VM on network A <-> ca on core-2, both ways"
sf run --name n2 --host-vm xvm --nested-mode macvlan --network neta busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run n2"
n2=$(sf container show n2 -o json)
ip2=$(echo "$n2" | jq -r '.status.ips[0]')
mac2=$(sf port show "$(echo "$n2" | jq -r '.port_ids[0]')" -o json | jq -r .mac_address)
sf port show "$vmp" -o json | jq -e ".allowed_address_pairs[] | select(.ip_address == \"$ip2\" and .mac_address == \"$mac2\")" >/dev/null ||
        die "n2 is not allowed on the VM's port: $(sf port show "$vmp" -o json | jq -c .allowed_address_pairs)"
sf exec ca -- ping -c 2 -W 3 "$ip2" >/dev/null || die "ca -> n2 ping"
sf exec ca -- wget -q -O - "http://$ip2/" | grep -qi busybox || die "ca -> n2 TCP"
sf exec n2 -- wget -q -O - http://10.61.0.10/ | grep -qi busybox || die "n2 -> ca TCP"

note "the NS layer: a container VDU with superfluid-host-vm runs in the VM, on the NS's virtual link"
cat >"$T/vnfd.yaml" <<'EOF'
vnfd:
  id: innervm-vnf
  product-name: innervm-vnf
  version: "1.0"
  sw-image-desc:
  - id: busybox
    name: busybox
    image: busybox
    container-format: docker
    disk-format: raw
  vdu:
  - id: inner
    sw-image-desc: busybox
    int-cpd:
    - id: eth0-int
    configurable-properties:
    - key: superfluid-host-vm
      value: xvm
    - key: superfluid-command
      value: httpd -f -p 80 -h /var/www
  ext-cpd:
  - id: inner-ext
    int-cpd:
      vdu-id: inner
      cpd: eth0-int
  df:
  - id: default-df
    vdu-profile:
    - id: inner
      min-number-of-instances: 1
EOF
cat >"$T/nsd.yaml" <<'EOF'
nsd:
  nsd:
  - id: innervm-ns
    name: innervm-ns
    version: "1.0"
    vnfd-id:
    - innervm-vnf
    virtual-link-desc:
    - id: vl
      connectivity-type:
        layer-protocol:
        - ipv4
      df:
      - id: default
    df:
    - id: default-df
      virtual-link-profile:
      - id: vl
        virtual-link-desc-id: vl
        flavour-id: default
        virtual-link-protocol-data:
          l3-protocol-data:
            ip-version: ipv4
            cidr: 10.63.0.0/24
      vnf-profile:
      - id: "1"
        vnfd-id: innervm-vnf
        flavour-id: default-df
        virtual-link-connectivity:
        - virtual-link-profile-id: vl
          constituent-cpd-id:
          - constituent-base-element-id: "1"
            constituent-cpd-id: inner-ext
EOF
sf vnfd onboard "$T/vnfd.yaml" >/dev/null || die "onboard the VNFD: $(sf vnfd onboard "$T/vnfd.yaml" 2>&1)"
sf nsd onboard "$T/nsd.yaml" >/dev/null || die "onboard the NSD: $(sf nsd onboard "$T/nsd.yaml" 2>&1)"
sf ns create inner --nsd innervm-ns >/dev/null || die "ns create"
out=$(sf ns instantiate inner --timeout 180) || die "instantiate: $out"
ict=$(sf ns show inner -o json | jq -r '.vnfs[0].vdus[0].instances[0].name')
ic=$(sf container show "$ict" -o json)
[ "$(echo "$ic" | jq -r .node_id)" = "$(echo "$node" | jq -r .id)" ] && [ "$(echo "$ic" | jq -r .nested.mode)" = vlan ] ||
        die "the NS's VDU is not in the VM: $(echo "$ic" | jq -c '{node_id, nested}')"
sf exec "$ict" -- ping -c 1 -W 3 10.63.0.1 >/dev/null || die "the NS's VDU in the VM cannot reach its gateway"
sf ns terminate inner >/dev/null || die "ns terminate"
sf container show "$ict" >/dev/null 2>&1 && die "the NS's VDU outlived the NS"
sf ns delete inner >/dev/null || die "ns delete"

note "refusals with a VM: macvlan on another network, a port, a move, deleting the VM"
out=$(sf run --name bad --host-vm xvm --nested-mode macvlan --network netb busybox -- true 2>&1) && die "macvlan on B accepted"
echo "$out" | grep -q "networks\[0\].network: a nested-macvlan container of vm 'xvm' can only be on the VM's network" || die "macvlan on B: $out"
out=$(sf run --name bad --host-vm xvm --node core-2 --network netb busybox -- true 2>&1) && die "host_vm with node accepted"
echo "$out" | grep -q "^sfctl: node: " || die "host_vm with node: $out"
out=$(sf move n1 --to core-2 2>&1) && die "n1 moved out of its VM"
echo "$out" | grep -q "runs in vm 'xvm'" || die "move n1: $out"
out=$(sf rm xvm 2>&1) && die "the VM was deleted while it hosts containers"
echo "$out" | grep -q "vm 'xvm' hosts 2 containers" || die "rm xvm: $out"

note "removal: nothing left in the guest, subports and pairs given back, the node goes with the VM"
sf rm n1 n2 >/dev/null || die "rm n1 n2"
sf trunk show xvm -o json | jq -e '.sub_ports | length == 0' >/dev/null || die "subports left: $(sf trunk show xvm -o json | jq -c .sub_ports)"
sf port show "$vmp" -o json | jq -e '.allowed_address_pairs | length == 0' >/dev/null || die "pairs left"
list=$(ip netns exec "$h1" curl -s -m 30 -u "sf:$TOKEN" "http://10.61.0.20:7482/cgi-bin/nest?op=list") || die "guest list"
echo "$list" | grep -E '^(link|netns)=' | grep -v "^link=sfmgmt0$" && die "left in the guest: $list"
qpid=$(sf container show xvm -o json | jq .status.pid)
sf rm xvm >/dev/null || die "rm xvm"
sf node show xvm >/dev/null 2>&1 && die "node xvm outlived its VM"
sf trunk show xvm >/dev/null 2>&1 && die "trunk xvm outlived its VM"
[ -d "/proc/$qpid" ] && ! grep -q '^State:.*Z' "/proc/$qpid/status" && die "QEMU $qpid survived rm"
sf rm ca cb >/dev/null || die "rm ca cb"
out=$("$SFCTL" lab down --dir "$DIR" --wait 5 --keep-state 2>&1) || die "lab down: it lists what it could not remove: $out"
pgrep -f -- "/run/superfluid-lab/$LAB/" >/dev/null && die "processes left: $(pgrep -af -- "/run/superfluid-lab/$LAB/")"
ip netns list | grep -q "sflab-$LAB-" && die "namespaces left"
! grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$DIR"/logs/*.log ||
        die "sanitizer reports in the daemons' logs: $(grep -h -A20 "ERROR\|runtime error" "$DIR"/logs/*.log | head -60)"
echo "OK ($(($(date +%s) - t0)) s)"
