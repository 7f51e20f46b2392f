#!/bin/bash
# System test of the VM compute driver (root, QEMU): boots the test guest (tools/mkguest.sh)
# on a tap in its own network namespace with day-0 configuration (hostname, static address,
# user-data script), checks the console, ping and HTTP, kills the "agent" (sf-vm-test) with
# SIGKILL and adopts the VM from a new process, pauses and resumes it, stops it through ACPI
# with the exit recorded, starts it again on the same disk overlay, and removes it with
# nothing left behind. Runs with TCG forced (the CI path), and again with the automatic
# accelerator choice when that is KVM (SF_VM_TEST_KVM=1 also forces a KVM run).
# Usage: tests/system/vm-driver.sh [BUILD_DIR]     (exit 77: skipped)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$top/${SF_BUILD:-build}}
case $B in /*) ;; *) B=$top/$B ;; esac
T="$B/tests/unit/vm/sf-vm-test"
export SF_VM_MONITOR="$B/src/agent/compute/sf-vm-monitor"

[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing"; exit 77; }
command -v qemu-img >/dev/null || { echo "qemu-img missing"; exit 77; }
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }
[ -x /bin/busybox ] || { echo "busybox-static missing"; exit 77; }
[ -x "$T" ] && [ -x "$SF_VM_MONITOR" ] || { echo "build $T and sf-vm-monitor first"; exit 1; }

W=$(mktemp -d /tmp/sftest-vm.XXXXXX)
NS=sftest-vm-$$
NSPATH=/run/netns/$NS
HOLDER=""
PIDS=()   # QEMU and monitor pids seen, to make sure none is left

die() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

cleanup() {
        local rc=$?
        [ -n "$HOLDER" ] && kill -9 "$HOLDER" 2>/dev/null
        for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
        if [ $rc -ne 0 ]; then
                for f in "$W"/vm/console.log "$W"/vm/qemu.log "$W"/vm/monitor.log "$W"/*.err; do
                        [ -s "$f" ] && { echo "=== $f (tail)"; tail -n 30 "$f"; }
                done
        fi
        ip netns del "$NS" 2>/dev/null
        rm -rf "$W"
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the guest: cached under /var/cache/superfluid/guest when that exists ---
G=/var/cache/superfluid/guest
if [ -d "$G" ] && [ -w "$G" ]; then
        "$top/tools/mkguest.sh" "$G" >/dev/null || die "mkguest"
else
        G=$W/guest
        "$top/tools/mkguest.sh" "$G" >/dev/null || die "mkguest"
fi
base_sum=$(sha256sum <"$G/disk.qcow2")

# --- a namespace with a bridge: the "host" side of the VM's network ---
ip netns add "$NS" || die "netns add"
ip -n "$NS" link set lo up
ip -n "$NS" link add sfbr0 type bridge
ip -n "$NS" addr add 10.77.0.1/24 dev sfbr0
ip -n "$NS" link set sfbr0 up
nsx() { ip netns exec "$NS" "$@"; }

cat >"$W/user-data" <<'EOF'
#!/bin/sh
echo "SF-USERDATA: hello from day-0" >/dev/console
echo ran >/www/user-data.txt
EOF

vm() { local c=$1; shift; "$T" --root "$W/root" "$c" --id vm1 --state-dir "$W/vm" "$@"; }
json() { jq -r "$1"; }
console_has() { grep -qF -- "$1" "$W/vm/console.log"; }
ready_count_ge() { [ "$(grep -c 'SF-GUEST: ready' "$W/vm/console.log")" -ge "$1" ]; }
pid_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

wait_for() { # seconds, description, command...
        local t=$1 what=$2; shift 2
        local end=$((SECONDS + t))
        until "$@"; do
                [ $SECONDS -lt $end ] || die "timeout: $what"
                sleep 0.1
        done
}

scenario() { # accelerator
        local accel=$1 out pid mon qpid info
        note "[$accel] start with day-0 config, the CLI stays alive as the agent"
        rm -rf "$W/vm" "$W/root"
        "$T" --root "$W/root" --accel "$accel" ${SF_VM_TEST_CPU:+--cpu-model "$SF_VM_TEST_CPU"} \
                start --id vm1 --state-dir "$W/vm" \
                --kernel "$G/vmlinuz" --initrd "$G/initrd.img" \
                --cmdline "console=ttyS0 quiet panic=-1" --disk "$G/disk.qcow2" \
                --netns "$NSPATH" --bridge sfbr0 --tap sftap0 --mac 52:54:00:77:00:05 \
                --ip 10.77.0.5/24 --gateway 10.77.0.1 --hostname guest-one \
                --user-data "$W/user-data" --memory 256Mi \
                --wait "SF-GUEST: ready" --ping 10.77.0.5 --timeout 240000 --hold \
                >"$W/start.out" 2>"$W/start.err" &
        HOLDER=$!
        wait_for 300 "boot" grep -q ping_ms "$W/start.out"
        kill -0 "$HOLDER" 2>/dev/null || die "start: $(cat "$W/start.err")"
        pid=$(head -n1 "$W/start.out" | json .pid)
        PIDS+=("$pid")
        info=$("$T" info --state-dir "$W/vm") || die "info"
        mon=$(echo "$info" | json .monitor_pid)
        PIDS+=("$mon")
        [ "$(echo "$info" | json .accel)" = "$accel" ] || [ "$accel" = auto ] ||
                die "accelerator: $(echo "$info" | json .accel)"
        [ "$(echo "$info" | json .qemu_pid)" = "$pid" ] || die "info pid"
        [ "$(echo "$info" | json .run_state)" = running ] || die "not running: $info"
        echo "    $(tail -n1 "$W/start.out") accel=$(echo "$info" | json .accel)"

        note "[$accel] day-0 applied (console), ping and HTTP from the namespace"
        console_has "SF-GUEST: hostname guest-one" || die "hostname not applied"
        console_has "SF-GUEST: network up 10.77.0.5/24" || die "address not applied"
        console_has "SF-GUEST: route default via 10.77.0.1" || die "gateway not applied"
        console_has "SF-USERDATA: hello from day-0" || die "user-data did not run"
        console_has "SF-GUEST: disk /dev/vda marker 'superfluid test disk' boots 1" ||
                die "overlay disk not seen"
        nsx busybox ping -c 1 -W 2 10.77.0.5 >/dev/null || die "ping"
        out=$(nsx timeout 10 busybox wget -q -Y off -O - http://10.77.0.5/) || die "HTTP"
        echo "$out" | grep -q "hostname=guest-one" || die "page: $out"
        [ "$(nsx timeout 10 busybox wget -q -Y off -O - http://10.77.0.5/user-data.txt)" = ran ] ||
                die "user-data output"
        [ "$(nsx cat /sys/class/net/sftap0/address 2>/dev/null)" != "" ] || die "no tap"

        note "[$accel] kill -9 the agent; the VM lives on and is adopted"
        kill -9 "$HOLDER"; wait "$HOLDER" 2>/dev/null; HOLDER=""
        pid_alive "$pid" || die "QEMU died with the agent"
        out=$(vm adopt) || die "adopt"
        [ "$(echo "$out" | json .state)" = running ] || die "adopt: $out"
        [ "$(echo "$out" | json .pid)" = "$pid" ] || die "adopt pid: $out"
        [ "$(vm list)" = vm1 ] || die "list: $(vm list)"
        nsx busybox ping -c 1 -W 2 10.77.0.5 >/dev/null || die "ping after adopt"

        note "[$accel] pause and resume"
        vm pause || die "pause"
        info=$("$T" info --state-dir "$W/vm")
        [ "$(echo "$info" | json .paused)" = true ] || die "not paused: $info"
        [ "$(vm adopt | json .state)" = running ] || die "adopt of a paused VM"
        ! nsx busybox ping -c 1 -W 1 10.77.0.5 >/dev/null 2>&1 || die "a paused VM answered"
        vm pause || die "pause twice"
        vm resume || die "resume"
        [ "$("$T" info --state-dir "$W/vm" | json .run_state)" = running ] || die "resume"
        wait_for 20 "ping after resume" nsx busybox ping -c 1 -W 1 10.77.0.5 >/dev/null

        note "[$accel] raw QMP, reboot"
        [ "$(vm qmp -- query-name | json .name)" = vm1 ] || die "qmp query-name"
        vm qmp -- no-such-command 2>"$W/qmp.err" && die "unknown QMP command succeeded"
        grep -q "has not been found" "$W/qmp.err" || die "QMP error text: $(cat "$W/qmp.err")"
        vm reboot || die "reboot"
        wait_for 120 "second boot" ready_count_ge 2
        console_has "boots 2" || die "the overlay lost the first boot's write"
        [ "$("$T" info --state-dir "$W/vm" | json .resets)" -ge 1 ] || die "no RESET recorded"

        note "[$accel] graceful stop (ACPI power button), exit recorded, watch fires"
        vm watch --timeout 120000 >"$W/watch.out" 2>"$W/watch.err" &
        local watcher=$!
        sleep 0.2
        vm stop --timeout 60000 || die "stop"
        wait "$watcher" || die "watch: $(cat "$W/watch.err")"
        pid_alive "$pid" && die "QEMU still runs after stop"
        console_has "SF-GUEST: power button, powering off" || die "no ACPI power-off in the guest"
        out=$(vm adopt)
        [ "$(echo "$out" | json .state)" = exited ] || die "adopt after stop: $out"
        [ "$(echo "$out" | json .exit_known)" = true ] || die "exit not recorded: $out"
        [ "$(echo "$out" | json .exit_code)" = 0 ] || die "exit code: $out"
        [ "$(json .state <"$W/watch.out")" = exited ] || die "watch: $(cat "$W/watch.out")"
        info=$("$T" info --state-dir "$W/vm")
        [ "$(echo "$info" | json .shutdown_reason)" = guest-shutdown ] || die "reason: $info"
        pid_alive "$mon" && die "monitor still runs"
        [ -e "$W/vm/qmp.sock" ] && die "stale QMP socket"
        vm stop || die "stop of a stopped VM"

        note "[$accel] start again on the same disk; SIGKILL from outside is recorded too"
        "$T" --root "$W/root" --accel "$accel" ${SF_VM_TEST_CPU:+--cpu-model "$SF_VM_TEST_CPU"} \
                start --id vm1 --state-dir "$W/vm" \
                --kernel "$G/vmlinuz" --initrd "$G/initrd.img" \
                --cmdline "console=ttyS0 quiet panic=-1" --disk "$G/disk.qcow2" \
                --hostname guest-one --memory 256Mi --wait "boots 3" --timeout 240000 \
                >"$W/start2.out" 2>"$W/start2.err" || die "second start: $(cat "$W/start2.err")"
        qpid=$(head -n1 "$W/start2.out" | json .pid)
        PIDS+=("$qpid" "$("$T" info --state-dir "$W/vm" | json .monitor_pid)")
        vm start --disk "$G/disk.qcow2" --kernel "$G/vmlinuz" 2>"$W/dup.err" &&
                die "a second start of a running VM succeeded"
        grep -q "runs already" "$W/dup.err" || die "double start: $(cat "$W/dup.err")"
        kill -9 "$qpid"
        wait_for 10 "exit record after SIGKILL" test -e "$W/vm/exit.json"
        out=$(vm adopt)
        [ "$(echo "$out" | json .exit_code)" = 137 ] || die "SIGKILL exit: $out"
        [ "$(echo "$out" | json .exit_signal)" = 9 ] || die "SIGKILL signal: $out"

        note "[$accel] remove: no process, no file, no tap"
        vm remove || die "remove"
        for p in "${PIDS[@]}"; do pid_alive "$p" && die "process $p left"; done
        for f in disk.qcow2 seed.img qmp.sock vm.json monitor.json exit.json; do
                [ -e "$W/vm/$f" ] && die "$f left in the state dir"
        done
        [ -z "$(vm list)" ] || die "still listed: $(vm list)"
        [ -z "$(ls -A "$W/root")" ] || die "registry not empty: $(ls -A "$W/root")"
        nsx ip link show sftap0 >/dev/null 2>&1 && die "tap left"
        vm remove || die "remove twice"
        ! grep -q "Sanitizer" "$W"/vm/monitor.log "$W"/*.err 2>/dev/null ||
                die "sanitizer report: $(grep -h -A5 Sanitizer "$W"/vm/monitor.log "$W"/*.err)"
        [ "$(sha256sum <"$G/disk.qcow2")" = "$base_sum" ] || die "the base image was written"
        PIDS=()
}

note "errors: QEMU's own message reaches the caller, nothing is left running"
rm -rf "$W/vm"
"$T" --root "$W/root" --accel tcg --cpu-model no-such-cpu start --id vm1 --state-dir "$W/vm" \
        --kernel "$G/vmlinuz" --initrd "$G/initrd.img" 2>"$W/bad.err" >/dev/null &&
        die "start with a bad CPU model succeeded"
grep -q "no-such-cpu" "$W/bad.err" || die "error lacks QEMU's message: $(cat "$W/bad.err")"
echo "    $(cat "$W/bad.err")"
out=$(vm adopt)
[ "$(echo "$out" | json .state)" = exited ] || die "failed start: $out"
vm remove || die "remove after a failed start"
for c in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' 2>/dev/null <"$c" | grep -qF -- "--state-dir $W/vm" &&
                die "a process of the failed start is left: $c"
done

scenario tcg
auto=$("$T" --root "$W/root" accel 2>/dev/null || true)
if [ "${SF_VM_TEST_KVM:-0}" = 1 ]; then
        scenario kvm
elif [ "$auto" = kvm ]; then
        scenario auto
else
        note "automatic choice is not KVM here: $("$T" --root "$W/root" accel-reason 2>&1)"
fi

ip netns del "$NS" || die "netns del"
[ -e "$NSPATH" ] && die "netns left"
echo "PASS"
