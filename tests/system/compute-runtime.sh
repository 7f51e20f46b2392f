#!/bin/bash
# System test of the container compute path: OCI bundle -> sf-shim -> runc (and crun), with a
# busybox rootfs in a network namespace. Checks: HTTP from the netns, ping (CAP_NET_RAW),
# exec, the log file, cgroup limits, containers surviving the death of the agent (kill -9)
# and of their shim, adopt, stop with the exit record, delete, and that no process, cgroup,
# mount or runtime state is left. Needs root; exits 77 (skip) otherwise.
#
# Usage: tests/system/compute-runtime.sh [BUILD_DIR]   (default: $SF_BUILD under the repository, else build)
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root"
        exit 77
fi
for tool in runc ip busybox; do
        if ! command -v "$tool" >/dev/null; then
                echo "SKIP: $tool not installed"
                exit 77
        fi
done

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${SF_BUILD_DIR:-$REPO/${SF_BUILD:-build}}}
CLI=$BUILD/tests/unit/compute/sf-compute-test
export SF_SHIM=$BUILD/src/shim/sf-shim
[ -x "$CLI" ] && [ -x "$SF_SHIM" ] || { echo "FAIL: build $BUILD first (ninja -C $BUILD)"; exit 1; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy

T=$(mktemp -d /tmp/sf-compute-test.XXXXXX)
NS=sftest-$$
VH=sfct$$h                     # veth end in the root namespace (never eth0)
VC=sfct$$c                     # veth end in the test netns
NET=169.254.$((100 + $$ % 100))   # a /30 of link-local space for the veth
ID=sfct-$$-runc
ID2=sfct-$$-orphan
ID3=sfct-$$-fail
IDC=sfct-$$-crun
WATCH_PID=
FAILED=0
KEEP=${SF_TEST_KEEP:-}

cli() { "$CLI" --runtime-root "$T/runc" --exec-dir "$T/exec" "$@"; }
clic() { "$CLI" --runtime crun --runtime-root "$T/crun" --exec-dir "$T/exec" "$@"; }
ok() { echo "ok - $*"; }
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }

# A process exists and is not a zombie (exited shims wait for init to reap them).
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }

shim_pid_of() { sed -n 's/.*"shim_pid":\([0-9]*\).*/\1/p' "$1/shim.json"; }

cleanup() {
        local rc=$?
        set +e
        if [ $rc -ne 0 ] && [ -n "$KEEP" ]; then
                echo "SF_TEST_KEEP: leaving $T and netns $NS for $KEEP s"
                sleep "$KEEP"
        fi
        [ -n "$WATCH_PID" ] && kill -9 "$WATCH_PID" 2>/dev/null
        for id in "$ID" "$ID2" "$ID3"; do
                cli remove --id "$id" --state-dir "$T/$id" >/dev/null 2>&1
        done
        if command -v crun >/dev/null; then
                clic remove --id "$IDC" --state-dir "$T/$IDC" >/dev/null 2>&1
        fi
        # Shims exit with their container; make sure, by pid.
        for d in "$T/$ID" "$T/$ID2" "$T/$IDC"; do
                [ -f "$d/shim.json" ] || continue
                p=$(shim_pid_of "$d")
                [ -n "$p" ] && alive "$p" && grep -q sf-shim "/proc/$p/cmdline" 2>/dev/null &&
                        kill -9 "$p"
        done
        ip link del "$VH" 2>/dev/null
        ip netns del "$NS" 2>/dev/null
        rm -rf "$T"
        if [ $rc -ne 0 ] || [ $FAILED -ne 0 ]; then
                echo "compute-runtime: FAILED"
        fi
        exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# GET a URL, from the test netns or (with ns "") from the root namespace. busybox 1.35's
# wget crashes with -T (timeout), hence timeout(1).
http_get() {
        local ns=$1 url=$2
        rm -f "$T/http.out"
        if [ -n "$ns" ]; then
                timeout 5 ip netns exec "$ns" busybox wget -q -O "$T/http.out" "$url" 2>/dev/null || return 1
        else
                timeout 5 busybox wget -q -O "$T/http.out" "$url" 2>/dev/null || return 1
        fi
        cat "$T/http.out"
}

# Waits up to 5 s for a file to contain a pattern.
wait_for() {
        for _ in $(seq 100); do
                grep -q "$2" "$1" 2>/dev/null && return 0
                sleep 0.05
        done
        return 1
}

# --- a busybox rootfs, and a netns with a veth to the root namespace -----------------------
mkdir -p "$T/rootfs/bin" "$T/rootfs/etc" "$T/rootfs/www" "$T/exec" "$T/day0"
cp /bin/busybox "$T/rootfs/bin/"
chroot "$T/rootfs" /bin/busybox --install -s /bin
echo "hello from superfluid" >"$T/rootfs/www/index.html"
echo "mode=edge" >"$T/day0/vnf.conf"

ip netns add "$NS"
ip -n "$NS" link set lo up
ip link add "$VH" type veth peer name "$VC" netns "$NS"
ip addr add "$NET.1/30" dev "$VH"
ip link set "$VH" up
ip -n "$NS" addr add "$NET.2/30" dev "$VC"
ip -n "$NS" link set "$VC" up

cg_before=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name superfluid | wc -l)

# --- start through the driver, with the test CLI standing in for the agent ------------------
# The CLI stays to watch the container (pidfd), like the agent's event loop.
cli start --id "$ID" --rootfs "$T/rootfs" --state-dir "$T/$ID" --log "$T/$ID.log" \
        --netns "/run/netns/$NS" --cpu 500 --memory 64Mi --pids 64 --hostname web1 \
        --dns 192.0.2.53 --host "$NET.2 web1" --mount "$T/day0/vnf.conf:/etc/vnf.conf:ro" \
        --wait -- sh -c 'echo container-started; echo container-stderr >&2; trap "exit 42" TERM;
                         httpd -f -vv -p 8080 -h /www & wait' >"$T/watch.out" 2>&1 &
WATCH_PID=$!
wait_for "$T/watch.out" "state=running" || { cat "$T/watch.out"; fail "container did not start"; }
CPID=$(sed -n 's/.*state=running pid=\([0-9]*\).*/\1/p' "$T/watch.out")
ok "started with runc through sf-shim, pid $CPID"

# HTTP from inside the netns and from the root namespace through the veth.
ok_http=
for _ in $(seq 50); do
        if out=$(http_get "$NS" http://127.0.0.1:8080/index.html); then
                ok_http=1
                break
        fi
        sleep 0.05
done
[ -n "$ok_http" ] && [ "$out" = "hello from superfluid" ] || fail "httpd does not answer in the netns"
ok "httpd answers from the netns"
out=$(http_get "" "http://$NET.2:8080/index.html") || fail "no answer over the veth"
[ "$out" = "hello from superfluid" ] || fail "wrong answer over the veth: $out"
ok "httpd answers over a veth from the root namespace"

# ping needs CAP_NET_RAW (Docker's default set); ping_group_range allows ICMP sockets too.
out=$(cli exec --id "$ID" --state-dir "$T/$ID" -- ping -c 1 -W 2 127.0.0.1) ||
        fail "ping inside the container: $out"
ok "ping works inside the container"
out=$(cli exec --id "$ID" --state-dir "$T/$ID" -- ping -c 1 -W 2 "$NET.1") ||
        fail "ping to the root namespace: $out"
ok "ping to the veth peer works"
out=$(cli exec --id "$ID" --state-dir "$T/$ID" -- cat /proc/sys/net/ipv4/ping_group_range)
[ "$(echo $out)" = "0 2147483647" ] || fail "ping_group_range is '$out'"
ok "net.ipv4.ping_group_range set in the container netns"

# exec: output, exit code, files prepared for the container.
set +e
out=$(cli exec --id "$ID" --state-dir "$T/$ID" -- sh -c 'echo exec-ok; exit 3')
rc=$?
set -e
[ "$out" = "exec-ok" ] && [ $rc -eq 3 ] || fail "exec: '$out' rc=$rc"
ok "exec returns output and exit code"
out=$(cli exec --id "$ID" --state-dir "$T/$ID" -- sh -c \
        'hostname; cat /etc/resolv.conf /etc/vnf.conf; grep web1 /etc/hosts; { echo x >/etc/vnf.conf; } 2>/dev/null || echo ro')
grep -q '^web1$' <<< "$out" || fail "hostname: $out"
grep -q '^nameserver 192.0.2.53$' <<< "$out" || fail "resolv.conf: $out"
grep -q '^mode=edge$' <<< "$out" || fail "day-0 mount: $out"
grep -q "^$NET.2 web1$" <<< "$out" || fail "hosts: $out"
grep -q '^ro$' <<< "$out" || fail "day-0 mount is not read-only: $out"
ok "hostname, /etc/hosts, /etc/resolv.conf and a read-only day-0 file are in place"
set +e
out=$(cli exec --id "$ID" --state-dir "$T/$ID" --timeout 300 -- sleep 30 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "did not finish within 300 ms" <<< "$out" || fail "exec timeout: $out"
sleep 0.2
[[ $(cli exec --id "$ID" --state-dir "$T/$ID" -- ps) == *'sleep 30'* ]] && fail "exec timeout left 'sleep 30' behind"
ok "exec times out and kills the command in the container"

# The log: the container writes straight to it.
wait_for "$T/$ID.log" "container-started" || fail "no output in the log file"
grep -q "container-stderr" "$T/$ID.log" || fail "no stderr in the log file"
ok "container stdout and stderr are in the log file"

# cgroup limits, under the superfluid/ prefix.
[ "$(cat /sys/fs/cgroup/memory/superfluid/$ID/memory.limit_in_bytes)" = 67108864 ] || fail "memory limit"
[ "$(cat /sys/fs/cgroup/cpu/superfluid/$ID/cpu.cfs_quota_us)" = 50000 ] || fail "cpu quota"
[ "$(cat /sys/fs/cgroup/pids/superfluid/$ID/pids.max)" = 64 ] || fail "pids limit"
ok "cgroup limits (memory 64Mi, cpu 500m, pids 64) in superfluid/$ID"

# --- the agent dies (kill -9): the container and its shim survive ---------------------------
SHIM=$(shim_pid_of "$T/$ID")
[ "$(ps -o ppid= -p "$SHIM" | tr -d ' ')" != "$WATCH_PID" ] || fail "the shim is a child of the agent"
kill -9 "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=
sleep 0.2
alive "$CPID" || fail "the container died with the agent"
alive "$SHIM" || fail "the shim died with the agent"
http_get "$NS" http://127.0.0.1:8080/index.html >/dev/null ||
        fail "httpd stopped answering after the agent died"
ok "container and shim survive kill -9 of the agent"

out=$(cli adopt --id "$ID" --state-dir "$T/$ID")
[ "$out" = "state=running pid=$CPID" ] || fail "adopt: $out"
ok "adopt after the agent restart: $out"

# A new agent watches again, then stops it: SIGTERM -> the trap exits 42.
cli watch --id "$ID" --state-dir "$T/$ID" >"$T/watch2.out" 2>&1 &
WATCH_PID=$!
sleep 0.1
out=$(cli stop --id "$ID" --state-dir "$T/$ID" --timeout 5000)
[ "$out" = "state=exited pid=$CPID exit_code=42 signal=0" ] || fail "stop: $out"
wait "$WATCH_PID" || fail "watch failed"
WATCH_PID=
grep -q "state=exited pid=$CPID exit_code=42" "$T/watch2.out" || fail "watch: $(cat "$T/watch2.out")"
grep -q '"exit_code":42' "$T/$ID/exit.json" || fail "exit record: $(cat "$T/$ID/exit.json")"
alive "$SHIM" && fail "the shim is still running after the container exited"
ok "stop: exit code 42 recorded by the shim, seen by the watching agent"

cli remove --id "$ID" --state-dir "$T/$ID"
cli remove --id "$ID" --state-dir "$T/$ID" || fail "remove is not idempotent"
ok "remove (twice)"

# --- the shim dies (kill -9): the container survives, its exit status is lost ----------------
cli start --id "$ID2" --rootfs "$T/rootfs" --state-dir "$T/$ID2" --cpu 100 -- sleep 1000 >"$T/o2"
CPID2=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$T/o2")
SHIM2=$(shim_pid_of "$T/$ID2")
kill -9 "$SHIM2"
sleep 0.1
alive "$CPID2" || fail "the container died with its shim"
out=$(cli adopt --id "$ID2" --state-dir "$T/$ID2")
[ "$out" = "state=running pid=$CPID2" ] || fail "adopt without shim: $out"
out=$(cli stop --id "$ID2" --state-dir "$T/$ID2" --timeout 500)
[ "$out" = "state=exited pid=$CPID2 exit_code=unknown" ] || fail "stop without shim: $out"
cli remove --id "$ID2" --state-dir "$T/$ID2"
ok "without its shim a container keeps running, is adopted and stopped (exit code lost)"

# --- a start that fails: the runtime's own message, nothing left ------------------------------
set +e
out=$(cli start --id "$ID3" --rootfs "$T/rootfs" --state-dir "$T/$ID3" -- /no/such/program 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q 'runc run failed: .*/no/such/program.*no such file or directory' <<< "$out" ||
        fail "failed start: $out"
[ -z "$(find /sys/fs/cgroup -mindepth 3 -maxdepth 3 -path "*/superfluid/$ID3")" ] || fail "failed start left cgroups"
ok "a failed start reports the runtime's error: ${out#*: }"

# --- nothing left behind ---------------------------------------------------------------------
check_clean() {
        local id=$1 root=$2 pid=$3
        alive "$pid" && fail "$id: process $pid still exists"
        left=$(find /sys/fs/cgroup -mindepth 3 -maxdepth 3 -path "*/superfluid/$id" 2>/dev/null)
        [ -z "$left" ] || fail "$id: cgroups left: $left"
        [ -z "$(ls "$root" 2>/dev/null)" ] || fail "$id: runtime state left in $root: $(ls "$root")"
        if grep -q "$T" /proc/self/mountinfo; then
                fail "mounts left: $(grep "$T" /proc/self/mountinfo)"
        fi
}
check_clean "$ID" "$T/runc" "$CPID"
check_clean "$ID2" "$T/runc" "$CPID2"
check_clean "$ID3" "$T/runc" 0
[ -z "$(runc --root "$T/runc" list -q)" ] || fail "runc still lists containers"
[ -z "$(cli list)" ] || fail "the driver still lists containers"
if [ "$cg_before" = 0 ]; then
        [ -z "$(ls -d /sys/fs/cgroup/*/superfluid 2>/dev/null)" ] || fail "superfluid/ prefix cgroups left"
fi
ok "no process, cgroup (any hierarchy), mount or runc state left"

# --- crun, through the shim's private mount namespace ----------------------------------------
if ! command -v crun >/dev/null; then
        echo "ok - crun not installed, skipped"
else
        set +e
        out=$(clic start --id "$IDC" --rootfs "$T/rootfs" --state-dir "$T/$IDC" \
                --netns "/run/netns/$NS" --cpu 250 --memory 32Mi \
                -- sh -c 'echo crun-started; exec httpd -f -p 8081 -h /www' 2>&1)
        rc=$?
        set -e
        if [ $rc -ne 0 ]; then
                echo "$out"
                grep -q "use runc" <<< "$out" || fail "crun: unexpected failure"
                echo "ok - crun cannot run here, with a clear message (see above)"
        else
                CPIDC=$(echo "$out" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
                ok "started with crun, pid $CPIDC"
                sleep 0.1
                ok_http=
                for _ in $(seq 50); do
                        http_get "$NS" http://127.0.0.1:8081/index.html >/dev/null && ok_http=1 && break
                        sleep 0.05
                done
                [ -n "$ok_http" ] || fail "crun: httpd does not answer"
                out=$(clic exec --id "$IDC" --state-dir "$T/$IDC" -- ping -c 1 -W 2 127.0.0.1) ||
                        fail "crun: ping: $out"
                [ "$(cat /sys/fs/cgroup/memory/superfluid/$IDC/memory.limit_in_bytes)" = 33554432 ] ||
                        fail "crun: memory limit"
                # The shim itself stays in the host mount namespace.
                SHIMC=$(shim_pid_of "$T/$IDC")
                [ "$(readlink /proc/$SHIMC/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] ||
                        fail "crun: the shim left the host mount namespace"
                out=$(clic stop --id "$IDC" --state-dir "$T/$IDC" --timeout 1000)
                grep -q "state=exited pid=$CPIDC exit_code=137 signal=9" <<< "$out" || fail "crun stop: $out"
                clic remove --id "$IDC" --state-dir "$T/$IDC"
                check_clean "$IDC" "$T/crun" "$CPIDC"
                if [ "$cg_before" = 0 ]; then
                        [ -z "$(ls -d /sys/fs/cgroup/*/superfluid 2>/dev/null)" ] ||
                                fail "crun: superfluid/ prefix cgroups left"
                fi
                ok "crun: http, ping, memory limit, stop (137), remove, nothing left"
        fi
fi

echo "compute-runtime: PASS"
