#!/bin/bash
# bench/move: moves between a core and an edge host of a lab, N per strategy (default 20),
# alternating core -> edge and edge -> core.
#  - make-before-break: an HTTP server behind a service address; a client in another
#    container makes one request after the other (each a new connection) for the whole run.
#    Reports per move the total time and the failed requests (the client's own count).
#  - handover: a busybox server keeping its IP and MAC; a peer container on the other host
#    pings it every 2 ms during each move. Reports the gap the move measured (release of the
#    old instance -> the new one confirmed running) and the peer's longest run of unanswered
#    pings (what a user of the function sees), and the same with a handover hook (a state
#    export through runc exec, written into the new instance before it starts).
# Needs root, runc, busybox. Usage: bench/move/run.sh [BUILD_DIR] [OUT_JSON]; N=20 by default.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/move.json}
N=${N:-20}
N_HOOK=${N_HOOK:-10}
SFCTL="$B/src/cli/sfctl"
mkdir -p "$(dirname "$OUT")"
T=$(mktemp -d /tmp/sfbench-move.XXXXXX)
LABDIR="$T/lab"
PINGPID=""
cleanup() {
        [ -n "$PINGPID" ] && kill "$PINGPID" 2>/dev/null
        "$SFCTL" lab down --dir "$LABDIR" --wait 0 >/dev/null 2>&1
        rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench/move: $*" >&2; exit 1; }

out=$("$SFCTL" lab up --name bmv --dir "$LABDIR" --sites core:1,edge:1 --log-level warn 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
sf() { "$SFCTL" --endpoint "$U" "$@"; }
last_move() { sf moves list -o json | jq -c "[.[] | select(.workload_name == \"$1\")] | sort_by(.started_at) | last"; }
sf network create bmv --cidr 10.74.0.0/24 -q >/dev/null || die network

# ---- make-before-break ----
sf run --name web --node core-1 --network bmv --stop-grace 1 --file /www/index.html=hello busybox -- httpd -f -p 80 -h /www >/dev/null || die "run web"
sf service create websvc --network bmv --port 80 --backend web -q >/dev/null || die service
vip=$(sf service show websvc -o json | jq -r .vip)
sf run --name client --node core-1 --network bmv busybox -- sh -c \
        "ok=0; fail=0; while :; do if timeout 2 wget -q -O /dev/null http://$vip/; then ok=\$((ok+1)); else fail=\$((fail+1)); fi; echo \"\$ok \$fail\" > /tmp/c.new; mv /tmp/c.new /tmp/c; done" >/dev/null || die "run client"
sleep 2
mbb="[]"
for i in $(seq 1 "$N"); do
        [ $((i % 2)) = 1 ] && dest=edge || dest=core
        read -r ok0 fail0 < <(sf exec client -- cat /tmp/c)
        sf move web --to "$dest" >/dev/null 2>&1 || die "mbb move $i: $(last_move web)"
        sleep 0.5
        read -r ok1 fail1 < <(sf exec client -- cat /tmp/c)
        m=$(last_move web)
        mbb=$(echo "$mbb" | jq -c --argjson m "$m" --argjson ok $((ok1 - ok0)) --argjson f $((fail1 - fail0)) \
                '. + [{to: $m.to, state: $m.state, total_ms: $m.total_ms, requests: $ok, failed: $f,
                       steps: [$m.steps[] | {step, ms}]}]')
        echo "mbb $i -> $dest: $(echo "$m" | jq -r .state) in $(echo "$m" | jq .total_ms) ms, $((ok1 - ok0)) requests, $((fail1 - fail0)) failed"
done

# ---- handover ----
handover_runs() { # NAME N -> JSON array on stdout
        local name=$1 n=$2 runs="[]" i dest m pgap
        local gwip ppid
        gwip=$(sf container show "$name" -o json | jq -r '.status.ips[0]')
        for i in $(seq 1 "$n"); do
                [ $((i % 2)) = 1 ] && dest=edge || dest=core
                # the peer on the other side of the move's destination
                ppid=$(sf container show "peer-$dest" -o json | jq -r .status.pid)
                nsenter -t "$ppid" -n busybox ping -i 0.002 "$gwip" > "$T/ping.txt" 2>&1 &
                PINGPID=$!
                sleep 0.5
                sf move "$name" --to "$dest" >/dev/null 2>&1 || die "handover $i: $(last_move "$name")"
                sleep 0.5
                kill -INT "$PINGPID"; wait "$PINGPID" 2>/dev/null; PINGPID=""
                m=$(last_move "$name")
                pgap=$(awk -F'seq=' '/bytes from/ {split($2, a, " "); q=a[1]; if (seen && (q-last-1)*2 > g) g=(q-last-1)*2; last=q; seen=1} END {printf "%d", g}' "$T/ping.txt")
                runs=$(echo "$runs" | jq -c --argjson m "$m" --argjson pg "$pgap" \
                        '. + [{to: $m.to, state: $m.state, gap_ms: $m.gap_ms, total_ms: $m.total_ms, peer_gap_ms: $pg,
                               steps: [$m.steps[] | {step, ms}]}]')
                echo "$name $i -> $dest: $(echo "$m" | jq -r .state), gap $(echo "$m" | jq .gap_ms) ms, peer missed ${pgap} ms" >&2
        done
        echo "$runs"
}
# peers: one on each host; each pings the moving function on the other host... and then on its own
sf run --name peer-edge --node core-1 --network bmv busybox -- sleep 36000 >/dev/null || die "run peer"
sf run --name peer-core --node edge-1 --network bmv busybox -- sleep 36000 >/dev/null || die "run peer"
sf run --name gw --node core-1 --network bmv --stop-grace 1 --move-strategy handover busybox -- httpd -f -p 80 -h / >/dev/null || die "run gw"
ho=$(handover_runs gw "$N")
sf run --name gwh --node core-1 --network bmv --stop-grace 1 --move-strategy handover \
        --handover-export 'cat /state 2>/dev/null; date +%s' --handover-import /state busybox -- httpd -f -p 80 -h / >/dev/null || die "run gwh"
hoh=$(handover_runs gwh "$N_HOOK")

stats() { # JQ_ARRAY FIELD -> {p50, p99, min, max}
        echo "$1" | jq -c --arg f "$2" '[.[][$f] | numbers] | sort | {n: length, p50: .[(length - 1) / 2 | floor], p99: .[((length - 1) * 0.99) | ceil], min: .[0], max: .[-1]}'
}
jq -n --arg date "$(date -u +%FT%TZ)" --arg host "$(uname -r), $(nproc) CPUs" \
        --argjson mbb "$mbb" --argjson ho "$ho" --argjson hoh "$hoh" \
        --argjson mbb_total "$(stats "$mbb" total_ms)" \
        --argjson ho_gap "$(stats "$ho" gap_ms)" --argjson ho_peer "$(stats "$ho" peer_gap_ms)" \
        --argjson ho_total "$(stats "$ho" total_ms)" \
        --argjson hoh_gap "$(stats "$hoh" gap_ms)" --argjson hoh_peer "$(stats "$hoh" peer_gap_ms)" \
        '{date: $date, machine: $host,
          make_before_break: {moves: ($mbb | length), completed: ([$mbb[] | select(.state == "COMPLETED")] | length),
                              failed_requests: ([$mbb[].failed] | add), requests: ([$mbb[].requests] | add),
                              total_ms: $mbb_total, runs: $mbb},
          handover: {moves: ($ho | length), completed: ([$ho[] | select(.state == "COMPLETED")] | length),
                     gap_ms: $ho_gap, peer_gap_ms: $ho_peer, total_ms: $ho_total, runs: $ho},
          handover_with_hook: {moves: ($hoh | length), gap_ms: $hoh_gap, peer_gap_ms: $hoh_peer, runs: $hoh},
          baselines: {qemu_default_migration_downtime_limit_ms: 300, ovn_kubernetes_live_migration_gap_ms: 500}}' > "$OUT"
jq -r '"make-before-break: \(.make_before_break.completed)/\(.make_before_break.moves) moves, \(.make_before_break.failed_requests) failed of \(.make_before_break.requests) requests, total p50 \(.make_before_break.total_ms.p50) ms",
       "handover: gap p50 \(.handover.gap_ms.p50) ms p99 \(.handover.gap_ms.p99) ms (min \(.handover.gap_ms.min), max \(.handover.gap_ms.max)); peer missed p50 \(.handover.peer_gap_ms.p50) ms p99 \(.handover.peer_gap_ms.p99) ms",
       "handover with hook: gap p50 \(.handover_with_hook.gap_ms.p50) ms p99 \(.handover_with_hook.gap_ms.p99) ms; peer missed p50 \(.handover_with_hook.peer_gap_ms.p50) ms"' "$OUT"
echo "results: $OUT"
