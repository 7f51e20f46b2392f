# Shared helpers for API and system tests (sourced). Starts a real sfd on a free loopback
# port with a temporary state directory and removes everything on exit. SF_BUILD names the
# build directory (default build); SF_KEEP_LOG=FILE keeps a copy of sfd's log, pass or fail.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B="$top/${SF_BUILD:-build}"
SFD="$B/src/sfd/sfd"
SFCTL="$B/src/cli/sfctl"
LOAD="$B/bench/api/sf-api-load"
T=$(mktemp -d /tmp/sftest.XXXXXX)
SFD_PID=""
CLEANUPS=()

die() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
on_exit() { CLEANUPS+=("$*"); }

_cleanup() {
        local rc=$?
        local ids=""
        # The containers this test's sfd made (while it still answers): a failed test may
        # leave some running, and agents leave workloads running by design when they stop.
        if [ -n "$SFD_PID" ] && [ -n "${U:-}" ]; then
                ids=$($NSX "$SFCTL" --endpoint "$U" events --since 0 --kinds container -o json 2>/dev/null |
                        jq -r 'select(.type == "created") | .id' 2>/dev/null | sort -u)
        fi
        for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[$i]}" || true; done
        stop_sfd
        kill_workloads $ids
        cleanup_run
        if [ $rc -ne 0 ] && [ -f "$T/sfd.log" ]; then
                echo "=== sfd log (tail) ==="; tail -n 40 "$T/sfd.log"
        fi
        [ -n "${SF_KEEP_LOG:-}" ] && [ -f "$T/sfd.log" ] && cp "$T/sfd.log" "$SF_KEEP_LOG"
        rm -rf "$T"
        exit $rc
}
trap _cleanup EXIT

# kill_workloads ID...: kills (by PID) every process left in those containers' cgroups and
# the shims of this test's run dir, and removes the cgroups.
kill_workloads() {
        local id d p dirs=()
        for id in "$@"; do
                for d in /sys/fs/cgroup/*/superfluid/"$id" /sys/fs/cgroup/*/superfluid/*/"$id"; do
                        [ -d "$d" ] && dirs+=("$d")
                done
        done
        for d in "${dirs[@]}"; do
                for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        done
        if [ -n "$RUN" ]; then
                for p in $(pgrep -f "sf-shim .*$RUN"); do kill -9 "$p" 2>/dev/null; done
        fi
        [ ${#dirs[@]} -gt 0 ] || return 0
        sleep 0.2
        for d in "${dirs[@]}"; do rmdir "$d" 2>/dev/null; done
        return 0
}

# Commands that must reach a daemon inside a test namespace run through $NSX (empty when
# sfd runs in the current namespace).
NSX=""
NS=""
RUN=""

# make_ns NAME: a network namespace for this test, removed on exit.
make_ns() {
        NS="$1-$$"
        ip netns add "$NS" || die "ip netns add $NS"
        ip -n "$NS" link set lo up
        NSX="nsenter --net=/run/netns/$NS"
        make_run
        CLEANUPS+=("cleanup_ns")
}

cleanup_ns() {
        [ -n "$NS" ] || return 0
        ip netns del "$NS" 2>/dev/null
        NS=""
}

# make_run: this test's own run directory for sfd (never the default /run/superfluid, where
# the agent would mount a tmpfs that outlives the test), removed on exit once sfd and the
# workloads are gone (_cleanup).
make_run() {
        [ -z "$RUN" ] || return 0
        RUN=$(mktemp -d /run/sftest.XXXXXX)
}

cleanup_run() {
        [ -n "$RUN" ] || return 0
        # Anything the agent left in its run dir (this is what the leak checks look at).
        grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$RUN"
}

# start_sfd [extra sfd args...]: starts sfd, waits for /healthz, sets U (the URL).
# Port pools are off unless a test asks for them (--pools on, as tests/system/pool-*.sh do):
# the other tests count ports and addresses, and API tests run the agent in the host's own
# namespace, where pre-plumbed namespaces have no business.
start_sfd() {
        rm -f "$T/url"
        local extra=()
        make_run
        extra=(--run-dir "$RUN")
        [ -n "$NS" ] && extra+=(--netns "/run/netns/$NS")
        "$SFD" --state-dir "$T/state" --listen 127.0.0.1:0 --url-file "$T/url" --pools off "${extra[@]}" "$@" \
                >>"$T/sfd.log" 2>&1 &
        SFD_PID=$!
        for _ in $(seq 1 200); do
                [ -s "$T/url" ] && break
                kill -0 "$SFD_PID" 2>/dev/null || die "sfd exited at start: $(tail -n 5 "$T/sfd.log")"
                sleep 0.05
        done
        U=$(cat "$T/url") || die "sfd did not start"
        export SUPERFLUID_ENDPOINT="$U"
        $NSX curl -sf "$U/healthz" >/dev/null || die "sfd not healthy"
}

# stop_sfd: SIGTERM and wait; fails the test if sfd does not exit cleanly (sanitizers report
# leaks at exit, so a non-zero status is a finding).
stop_sfd() {
        [ -n "$SFD_PID" ] || return 0
        if kill -0 "$SFD_PID" 2>/dev/null; then
                kill -TERM "$SFD_PID"
                local rc=0
                wait "$SFD_PID" || rc=$?
                SFD_PID=""
                [ $rc -eq 0 ] || { echo "sfd exited with status $rc"; tail -n 30 "$T/sfd.log"; return 1; }
        fi
        SFD_PID=""
}

kill9_sfd() {
        kill -9 "$SFD_PID" 2>/dev/null
        wait "$SFD_PID" 2>/dev/null
        SFD_PID=""
}

sf() { $NSX "$SFCTL" --endpoint "$U" "$@"; }

# api METHOD PATH [BODY] -> sets STATUS and BODY
api() {
        local m=$1 p=$2 d=${3:-}
        local out
        if [ -n "$d" ]; then
                out=$($NSX curl -s -o "$T/body" -w '%{http_code}' -X "$m" -H 'Content-Type: application/json' \
                        --data-binary "$d" "$U$p")
        else
                out=$($NSX curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$U$p")
        fi
        STATUS=$out
        BODY=$(cat "$T/body")
}

expect_status() { # expected, description
        [ "$STATUS" = "$1" ] || die "$2: expected HTTP $1, got $STATUS: $BODY"
}

expect_error() { # status, field (or -), message substring, description
        expect_status "$1" "$4"
        if [ "$2" != "-" ]; then
                local f
                f=$(echo "$BODY" | jq -r '.error.field // "-"')
                [ "$f" = "$2" ] || die "$4: expected field '$2', got '$f': $BODY"
        fi
        echo "$BODY" | jq -r .error.message | grep -qF -- "$3" || die "$4: message lacks '$3': $BODY"
}

need_root() {
        [ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
}

# lab_down_vms: takes the lab in $DIR down without waiting; VMs outlive their agents by design,
# so what the lab could not remove of lab $LAB (its run directory names it) goes by PID.
lab_down_vms() {
        local p
        "$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1 ||
                "$SFCTL" lab down --name "$LAB" --wait 0 >/dev/null 2>&1 || true
        for p in $(pgrep -f -- "/run/superfluid-lab/$LAB/"); do kill -9 "$p" 2>/dev/null; done
        return 0
}

# wait_for TIMEOUT_S DESCRIPTION COMMAND...: retries COMMAND every 0.1 s.
wait_for() {
        local t=$1 what=$2; shift 2
        local end=$(( $(date +%s) + t ))
        until "$@" >/dev/null 2>&1; do
                [ "$(date +%s)" -lt "$end" ] || die "timed out after ${t}s waiting for: $what"
                sleep 0.1
        done
}

# phase NAME: the container's status phase
phase() { sf container show "$1" -o json 2>/dev/null | jq -r .status.phase; }

# Kernel objects made by this test's agent: processes in superfluid cgroups, mounts and netns
# under $RUN, interfaces other than lo in $NS.
leaks() {
        local out=""
        local m; m=$(grep -c " $RUN/\(containers\|netns/\)" /proc/mounts)
        [ "$m" = 0 ] || out+="mounts: $(grep " $RUN/\(containers\|netns/\)" /proc/mounts | awk '{print $2}' | tr '\n' ' ')"$'\n'
        local n; n=$(ls "$RUN/netns" 2>/dev/null | wc -l)
        [ "$n" = 0 ] || out+="netns files: $(ls "$RUN/netns")"$'\n'
        # Per-workload interfaces (network bridges and VXLAN devices belong to networks: they
        # go when the network is deleted, checked separately).
        local l; l=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v -e '^lo$' -e '^sfb' -e '^sfx' | tr '\n' ' ')
        [ -z "$l" ] || out+="interfaces: $l"$'\n'
        # cgroups of the containers this test created (the event log has every one of them)
        local id c=""
        for id in $(sf events --since 0 --kinds container -o json | jq -r 'select(.type == "created") | .id' | sort -u); do
                c+=$(ls -d /sys/fs/cgroup/*/superfluid/"$id" 2>/dev/null | tr '\n' ' ')
        done
        [ -z "$c" ] || out+="cgroups: $c"$'\n'
        local p; p=$(pgrep -f "sf-shim .*$RUN" | tr '\n' ' ')
        [ -z "$p" ] || out+="shim processes: $p"$'\n'
        printf '%s' "$out"
}
