#!/bin/bash
# VMs next to containers (issue #8), end to end through an all-in-one sfd inside a test network
# namespace: the test guest (tools/mkguest.sh) imported as VM image sf-guest; a VM and a
# container on one network exchange ping and TCP both ways; day-0 configuration (hostname,
# static address, gateway, SSH key, user-data script) applied; VM status (accelerator, QEMU
# pid, boot time, console); pause, resume, reboot, stop and start; agent kill -9 with adoption
# of the running VM (same QEMU pid, still reachable); removal leaves no process, tap, file,
# socket or neighbour entry behind. TCG is fine (KVM is used when the host offers it).
# Across nodes through the VXLAN overlay: vm-overlay.sh; in a network service: vm-ns.sh.
. "$(dirname "$0")/../lib.sh"
need_root
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing"; exit 77; }
command -v qemu-img >/dev/null || { echo "qemu-img missing"; exit 77; }
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }

# The guest, cached across runs (rebuilt only when its inputs change; about 3 s).
G=/var/cache/superfluid/guest
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" "$G" >/dev/null || die "mkguest"

make_ns sftest-vm
# On failure, VMs outlive sfd (as designed): stop QEMU and its monitor by PID (the run dir is
# this test's own, so the match is exact).
kill_vms() {
        local p
        for p in $(pgrep -f -- "--state-dir $RUN/containers/") $(pgrep -f -- "qemu-system.*$RUN/containers/"); do
                kill -9 "$p" 2>/dev/null
        done
        return 0
}
on_exit kill_vms
start_sfd
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"

vm() { sf container show "$1" -o json; }
st() { vm "$1" | jq -r ".status.$2"; }
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
cexec() { sf exec "$@"; }

note "the node offers VMs: feature qemu, accelerator and why, in its status"
node=$(sf node list -o json | jq '.[0]')
echo "$node" | jq -e '.features | index("qemu")' >/dev/null || die "no qemu feature: $node"
accel=$(echo "$node" | jq -r .status.info.vm_accelerator)
[ "$accel" = tcg ] || [ "$accel" = kvm ] || die "vm_accelerator: $node"
echo "    accelerator $accel: $(echo "$node" | jq -r .status.info.vm_accelerator_reason)"
grep -q "VM driver: accelerator $accel" "$T/sfd.log" || die "accelerator not logged"

note "VM images: import the guest (direct kernel boot), reported at once"
sf image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" >/dev/null ||
        die "import sf-guest"
sf node list -o json | jq -e '.[0].status.info.vm_images | index("sf-guest:latest")' >/dev/null ||
        die "vm_images not reported: $(sf node list -o json | jq -c '.[0].status.info')"
sf image list -o json | jq -e '.[] | select(.name == "sf-guest:latest" and .kind == "vm" and .format == "kernel")' \
        >/dev/null || die "image list: $(sf image list -o json)"
qemu-img convert -q -f qcow2 -O raw "$G/disk.qcow2" "$T/disk.raw"
sf image import "$T/disk.raw" --name raw-disk --format raw >/dev/null || die "import raw"
sf image import "$G/disk.qcow2" --name qcow-disk >/dev/null || die "import qcow2 (guessed)"
sf image list -o json | jq -e '.[] | select(.name == "qcow-disk:latest" and .format == "qcow2")' >/dev/null ||
        die "qcow2 not guessed"
err=$(sf image import "$G/disk.qcow2" --name busybox 2>&1) && die "a VM image took a container image's name"
echo "$err" | grep -q "container image" || die "name clash: $err"
err=$(sf image import "$G/disk.qcow2" --name sf-guest 2>&1) && die "import twice"
echo "$err" | grep -q "exists" || die "import twice: $err"
err=$(sf image import "$T/disk.raw" --name x --format qcow2 2>&1) && die "raw imported as qcow2"
echo "$err" | grep -q "is a raw image, not qcow2" || die "format check: $err"
sf image rm raw-disk >/dev/null && sf image rm qcow-disk >/dev/null || die "image rm"
sf image list -o json | jq -e '.[] | select(.name == "raw-disk:latest")' >/dev/null && die "raw-disk still listed"

note "bad requests: clear errors, nothing silently ignored"
sf network create vmnet --cidr 10.21.0.0/24 -q >/dev/null || die "network"
err=$(sf run --vm --name x --network vmnet nosuch-image 2>&1); [ $? = 1 ] || die "unknown VM image: $err"
echo "$err" | grep -q "in no node's image store" || die "unknown VM image: $err"
err=$(sf run --vm --name x --env A=b sf-guest 2>&1); [ $? = 1 ] && echo "$err" | grep -q "env: is for containers only" ||
        die "env on a VM: $err"
err=$(sf run --name x --user-data hi busybox -- true 2>&1); [ $? = 1 ] && echo "$err" | grep -q "are for VMs" ||
        die "user-data on a container: $err"
api POST /v1/containers '{"name":"x","image":"busybox","user_data":"x"}'
expect_error 400 user_data "is for VMs" "user_data for a container"
api POST /v1/containers '{"name":"x","kind":"vm","image":"sf-guest","ssh_keys":["a\nb"]}'
expect_error 400 "ssh_keys[0]" "one line" "multi-line ssh key"

note "a container and a VM on one network; day-0 through the seed"
sf run --name web --network vmnet=10.21.0.10 busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run web"
cat >"$T/user-data" <<'EOF'
#!/bin/sh
echo "SF-USERDATA: hello from day-0" >/dev/console
cat /sys/class/net/eth0/address >/www/mac.txt
# The guest reaches the container: ICMP and TCP.
if ping -c 1 -W 5 10.21.0.10 >/dev/null 2>&1; then echo ok >/www/ping.txt; else echo fail >/www/ping.txt; fi
wget -q -O /www/from-web.html http://10.21.0.10/ || echo fail >/www/from-web.html
EOF
key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOAgGBrdFSDmUvBqWnkHVCtfNnb2dzrWMbDhtZlA0uGk test@superfluid"
out=$(sf run --vm --name vm1 --network vmnet=10.21.0.20 --vcpus 1 --memory 256Mi --hostname guest-one \
        --user-data @"$T/user-data" --ssh-key "$key" sf-guest) || die "run --vm: $out"
echo "    $out"
echo "$out" | grep -q "guest reachable" || die "run --vm output: $out"
o=$(vm vm1)
id=$(echo "$o" | jq -r .id)
[ "$(echo "$o" | jq -r .kind)" = vm ] || die "kind"
[ "$(echo "$o" | jq -r .status.phase)" = Running ] || die "phase: $o"
[ "$(echo "$o" | jq -r .status.guest)" = reachable ] || die "guest: $o"
[ "$(echo "$o" | jq -r .status.vm_state)" = running ] || die "vm_state: $o"
[ "$(echo "$o" | jq -r .status.accelerator)" = "$accel" ] || die "accelerator: $o"
echo "$o" | jq -e '.status.accelerator_reason | length > 0' >/dev/null || die "no accelerator reason"
echo "$o" | jq -e '.status.boot_ms > 0 and .status.timings.qemu_ms > 0 and .status.timings.guest_ms > 0' \
        >/dev/null || die "boot times: $(echo "$o" | jq -c .status)"
[ "$(echo "$o" | jq .vcpus)" = 1 ] && [ "$(echo "$o" | jq .memory)" = $((256 << 20)) ] || die "size: $o"
qpid=$(echo "$o" | jq .status.pid)
alive "$qpid" && grep -q qemu-system "/proc/$qpid/cmdline" || die "status.pid $qpid is not QEMU"
echo "    boot $(echo "$o" | jq .status.boot_ms) ms (request -> guest answers ping), timings $(echo "$o" | jq -c .status.timings)"
sf vm show vm1 | grep -q "^accelerator: $accel" || die "vm show: $(sf vm show vm1)"
sf vm list -o json | jq -e 'length == 1 and .[0].name == "vm1"' >/dev/null || die "vm list"
sf ps -o json | jq -e 'length == 2' >/dev/null || die "ps shows containers and VMs"

note "day-0 applied: hostname, address, gateway, user-data (console and network)"
# Reachable (the address answers) comes before the guest's init has run user-data and httpd.
wait_for 120 "guest ready" sh -c "$NSX $SFCTL --endpoint $U console vm1 --tail all | grep -q 'SF-GUEST: ready'"
con=$(sf console vm1 --tail all)
for s in "SF-GUEST: hostname guest-one" "SF-GUEST: network up 10.21.0.20/24" \
         "SF-GUEST: route default via 10.21.0.1" "SF-USERDATA: hello from day-0" "SF-GUEST: ready"; do
        echo "$con" | grep -qF "$s" || die "console lacks '$s'"
done
[ "$(sf console vm1 --tail 3 | wc -l)" -le 3 ] || die "console --tail"
strings "$RUN/containers/$id/seed.img" | grep -qF "$key" || die "SSH key not in the seed"

note "VM <-> container: ping and TCP both ways"
page=$(cexec web -- wget -q -O - http://10.21.0.20/) || die "container -> VM HTTP"
echo "$page" | grep -q "hostname=guest-one" || die "guest page: $page"
cexec web -- ping -c 1 -W 2 10.21.0.20 >/dev/null || die "container -> VM ping"
[ "$(cexec web -- wget -q -O - http://10.21.0.20/ping.txt)" = ok ] || die "VM -> container ping"
cexec web -- wget -q -O - http://10.21.0.20/from-web.html | grep -qi busybox || die "VM -> container HTTP"

note "the VM's port: a tap on the network's bridge; guest NIC MAC = port MAC, tap MAC differs"
port=$(sf port list --device-id "$id" -o json | jq '.[0]')
pmac=$(echo "$port" | jq -r .mac_address)
tap=sft$(echo "$port" | jq -r .id | tr -d - | cut -c1-12)
br=sfb$(sf network show vmnet -o json | jq .vni)
ip -n "$NS" -d link show "$tap" | grep -q "tun type tap" || die "$tap is not a tap: $(ip -n "$NS" -d link show "$tap")"
ip -n "$NS" link show "$tap" | grep -q "master $br" || die "$tap not on $br"
[ "$(cexec web -- wget -q -O - http://10.21.0.20/mac.txt)" = "$pmac" ] || die "guest MAC is not the port's ($pmac)"
[ "$(ip netns exec "$NS" cat "/sys/class/net/$tap/address")" != "$pmac" ] || die "the tap has the guest's MAC"
ip -n "$NS" neigh show 10.21.0.20 dev "$br" | grep -q "$pmac PERMANENT" || die "no neighbour entry: $(ip -n "$NS" neigh show dev "$br")"

note "exec is refused for VMs; VM actions are refused for containers"
err=$(sf exec vm1 -- true 2>&1); [ $? = 5 ] && echo "$err" | grep -q "not supported" || die "exec in a VM: $err"
err=$(sf vm pause web 2>&1); [ $? = 1 ] || die "pause a container: $err"
api POST /v1/containers/web/pause
expect_error 400 - "only VMs" "pause a container"

note "pause, resume, reboot"
sf vm pause vm1 >/dev/null || die "pause"
[ "$(st vm1 vm_state)" = paused ] && [ "$(st vm1 message)" = paused ] || die "not paused: $(vm vm1 | jq -c .status)"
cexec web -- ping -c 1 -W 1 10.21.0.20 >/dev/null 2>&1 && die "a paused VM answered"
sf vm resume vm1 >/dev/null || die "resume"
[ "$(st vm1 vm_state)" = running ] || die "not resumed"
wait_for 20 "ping after resume" $NSX "$SFCTL" --endpoint "$U" exec web -- ping -c 1 -W 1 10.21.0.20
out=$(sf vm reboot vm1) || die "reboot: $out"
echo "    reboot: $out"
echo "$out" | grep -q "guest reachable" || die "reboot: $out"
wait_for 120 "second boot" sh -c "$NSX $SFCTL --endpoint $U console vm1 --tail all | grep -q \"marker 'superfluid test disk' boots 2\""
[ "$(st vm1 pid)" = "$qpid" ] || die "reboot changed the QEMU process"

note "agent kill -9: the VM runs on and is adopted through QMP"
boot_before=$(st vm1 boot_ms)
kill9_sfd
alive "$qpid" || die "QEMU died with the agent"
start_sfd
wait_for 30 "adoption" sh -c "[ \"\$($NSX $SFCTL --endpoint $U container show vm1 -o json | jq -r '.status.pid')\" = $qpid ]"
grep -q "adopted vm 'vm1' (running, QEMU pid $qpid)" "$T/sfd.log" || die "no adoption in the log"
[ "$(st vm1 phase)" = Running ] && [ "$(st vm1 guest)" = reachable ] || die "after adoption: $(vm vm1 | jq -c .status)"
[ "$(st vm1 boot_ms)" = "$boot_before" ] || die "boot time lost in adoption"
cexec web -- wget -q -O - http://10.21.0.20/ | grep -q "hostname=guest-one" || die "VM unreachable after adoption"
sf vm pause vm1 >/dev/null && sf vm resume vm1 >/dev/null || die "QMP after adoption"

note "stop (ACPI) and start: same disk, taps made again"
sf stop vm1 >/dev/null || die "stop"
[ "$(st vm1 phase)" = Stopped ] && [ "$(st vm1 vm_state)" = stopped ] || die "stop: $(vm vm1 | jq -c .status)"
alive "$qpid" && die "QEMU runs after stop"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && die "tap left after stop"
sf start vm1 >/dev/null || die "start"
wait_for 300 "guest after start" sh -c "[ \"\$($NSX $SFCTL --endpoint $U container show vm1 -o json | jq -r .status.guest)\" = reachable ]"
wait_for 120 "third boot" sh -c "$NSX $SFCTL --endpoint $U console vm1 --tail all | grep -q 'boots 3'"
qpid2=$(st vm1 pid)
wait_for 120 "guest ready again" sh -c "[ \$($NSX $SFCTL --endpoint $U console vm1 --tail all | grep -c 'SF-GUEST: ready') -ge 3 ]"
cexec web -- wget -q -O - http://10.21.0.20/ | grep -q "hostname=guest-one" || die "VM unreachable after start"

note "an image in use cannot be removed"
err=$(sf image rm sf-guest 2>&1); [ $? = 4 ] && echo "$err" | grep -q "used by 'vm1'" || die "image rm in use: $err"

note "removal leaves nothing behind: no QEMU or monitor, tap, overlay, seed, socket, neighbour"
mon=$(jq -r .monitor_pid "$RUN/containers/$id/monitor.json")
sf rm vm1 web >/dev/null || die "rm"
for p in "$qpid2" "$mon"; do alive "$p" && die "process $p left"; done
pgrep -f "sf-vm-monitor .*$RUN" >/dev/null && die "a monitor is left: $(pgrep -af "sf-vm-monitor .*$RUN")"
pgrep -f "qemu-system.*$RUN" >/dev/null && die "a QEMU is left"
[ -e "$RUN/containers/$id" ] && die "state dir left: $(ls -la "$RUN/containers/$id")"
[ -z "$(ls -A "$RUN/vm" 2>/dev/null)" ] || die "VM registry not empty: $(ls -A "$RUN/vm")"
ip -n "$NS" -o link show | grep -q " sft" && die "tap left: $(ip -n "$NS" -o link show | grep sft)"
ip -n "$NS" neigh show 10.21.0.20 | grep -q PERMANENT && die "neighbour entry left"
for _ in $(seq 100); do [ -z "$(leaks)" ] && break; sleep 0.1; done
[ -z "$(leaks)" ] || die "leaks: $(leaks)"
sf image rm sf-guest >/dev/null || die "image rm after the VMs"

note "deleting the network removes its bridge"
sf network delete vmnet >/dev/null || die "network delete"
wait_for 10 "bridge gone" sh -c "[ -z \"\$(ip -n $NS -o link show | grep sfb)\" ]"
stop_sfd || die "unclean stop"
echo OK
