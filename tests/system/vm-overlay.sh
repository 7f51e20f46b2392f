#!/bin/bash
# VMs across nodes (issue #8): in a lab (`sfctl lab up`: a controller and two simulated hosts,
# core-1 and edge-1, in network namespaces joined by an underlay, with the VXLAN overlay), a VM
# on the edge node and a container at the core share one network: the guest reaches the
# container (ping and HTTP, from its day-0 user-data script) and the container reaches the
# guest, through the overlay. `sfctl lab down` then leaves nothing behind, QEMU included.
. "$(dirname "$0")/../lib.sh"
need_root
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing"; exit 77; }
command -v qemu-img >/dev/null || { echo "qemu-img missing"; exit 77; }
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }

G=/var/cache/superfluid/guest
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" "$G" >/dev/null || die "mkguest"

LAB="v$(( $$ % 10000 ))"
DIR="$T/lab"
lab() { "$SFCTL" lab "$@"; }
on_exit lab_down_vms

note "lab up: core-1 and edge-1, with the VXLAN overlay"
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:1,edge:1 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
edge_ns=$(jq -r '.hosts[] | select(.name == "edge-1") | .netns' "$DIR/lab.json")
core_ns=$(jq -r '.hosts[] | select(.name == "core-1") | .netns' "$DIR/lab.json")
"$SFCTL" node list -o json | jq -e '.[] | select(.name == "edge-1") | .features | index("qemu")' >/dev/null ||
        die "edge-1 offers no VMs"

note "the guest image on the edge node only; a VM goes where its image is"
"$SFCTL" image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" \
        --node edge-1 >/dev/null || die "import"
"$SFCTL" network create xnet --cidr 10.41.0.0/24 -q >/dev/null || die "network"
"$SFCTL" run --name web --node core-1 --network xnet=10.41.0.10 busybox -- httpd -f -p 80 -h /var/www \
        >/dev/null || die "run web"
cat >"$T/user-data" <<'EOF'
#!/bin/sh
if ping -c 1 -W 5 10.41.0.10 >/dev/null 2>&1; then echo ok >/www/ping.txt; else echo fail >/www/ping.txt; fi
wget -q -O /www/from-web.html http://10.41.0.10/ || echo fail >/www/from-web.html
EOF
out=$("$SFCTL" run --vm --name xvm --network xnet=10.41.0.20 --user-data @"$T/user-data" sf-guest) ||
        die "run --vm: $out"
echo "    $out"
echo "$out" | grep -q "on node edge-1" || die "the VM is not on edge-1: $out"
wait_for 120 "guest ready" sh -c "'$SFCTL' console xvm --tail all | grep -q 'SF-GUEST: ready'"

note "edge VM <-> core container through the overlay: ping and TCP both ways"
ip -n "$edge_ns" -o link show | grep -q " sft" || die "no tap on edge-1"
ip -n "$edge_ns" -d link show | grep -q "vxlan id" || die "no VXLAN device on edge-1"
ip -n "$core_ns" -d link show | grep -q "vxlan id" || die "no VXLAN device on core-1"
"$SFCTL" exec web -- ping -c 1 -W 2 10.41.0.20 >/dev/null || die "core container -> edge VM ping"
"$SFCTL" exec web -- wget -q -O - http://10.41.0.20/ | grep -q "hostname=xvm" || die "core container -> edge VM HTTP"
[ "$("$SFCTL" exec web -- wget -q -O - http://10.41.0.20/ping.txt)" = ok ] || die "edge VM -> core container ping"
"$SFCTL" exec web -- wget -q -O - http://10.41.0.20/from-web.html | grep -qi busybox ||
        die "edge VM -> core container HTTP"

note "lab down removes the VM too"
qpid=$("$SFCTL" container show xvm -o json | jq .status.pid)
lab down --dir "$DIR" >/dev/null || die "lab down"
[ -d "/proc/$qpid" ] && ! grep -q '^State:.*Z' "/proc/$qpid/status" && die "QEMU $qpid survived lab down"
pgrep -f -- "/run/superfluid-lab/$LAB/" >/dev/null && die "processes left: $(pgrep -af -- "/run/superfluid-lab/$LAB/")"
ip netns list | grep -q "sflab-$LAB-" && die "namespaces left"
echo OK
