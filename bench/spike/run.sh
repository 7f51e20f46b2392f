#!/bin/bash
# bench/spike: Kuryr's ports-pool experiment repeated on this machine, in one session. Bursts
# of N containers posted at once (1, 5, 10, 20, 30, 40, 50, 100, 200), four ways:
#   warm  - a network with port pools (min 64, max 256, batch 32): pooled ports with
#           pre-plumbed namespaces; bursts above 64 take the cold path for the rest while
#           bulk refills run (the spike case);
#   cold  - a network with pools off: every port allocated and plumbed on request;
#   bare  - the bare OCI runtime: `runc run -d` of a minimal busybox bundle (`runc spec`), no network;
#   same  - the bare OCI runtime starting Superfluid's own bundle without network
#           (bench/lib/same-bundle.sh: the agent's config.json, its overlay root filesystem,
#           /etc bind mounts and cgroup; a new empty network namespace; no start-gate hook).
# Measured: request -> all running (and reachable by ping from the node for warm/cold);
# network-ready latency (the client's request -> status.network_ready_at); the calls to the
# network control plane during the burst. Each request goes on its own connection, opened
# before the burst starts (sf-spike-bench --connected), as a controller or an API client that
# keeps its connection does. Results: JSON lines in OUT, a table on stdout, and
# a plot (gnuplot) at docs/spike.png.
# Needs root. Everything lives in a private network namespace and temp dirs, removed at exit.
# Usage: bench/spike/run.sh [BUILD_DIR] [OUT_JSON]    (env: REPS=2, BURSTS="1 5 ...")
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/bench/lib/same-bundle.sh"
. "$top/bench/lib/warm-pool.sh"
. "$top/bench/lib/quiet.sh"
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/spike.json}
REPS=${REPS:-2}
BURSTS=${BURSTS:-"1 5 10 20 30 40 50 100 200"}
POOL_MIN=${POOL_MIN:-64}
PLOT=${PLOT:-$top/docs/spike.png}
[ "$(id -u)" = 0 ] || { echo "bench/spike needs root" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
NS=sfbench-spike-$$
RUN=$(mktemp -d /run/sfbench.XXXXXX)
ST=$(mktemp -d /tmp/sfbench.XXXXXX)
SFD_PID=""
U=""
NSX="nsenter --net=/run/netns/$NS"
SF="$NSX $B/src/cli/sfctl"
cleanup() {
        if [ -n "$SFD_PID" ]; then
                $SF --endpoint "$U" ps -q 2>/dev/null | xargs -r $SF --endpoint "$U" rm --force >/dev/null 2>&1
                sleep 2
                kill "$SFD_PID" 2>/dev/null
                wait "$SFD_PID" 2>/dev/null
        fi
        for id in $(runc --root "$RUN/bare" list -q 2>/dev/null); do runc --root "$RUN/bare" delete -f "$id" >/dev/null 2>&1; done
        same_bundle_cleanup
        grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$RUN" "$ST"
        ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up
"$B/src/sfd/sfd" --netns "/run/netns/$NS" --run-dir "$RUN" --state-dir "$ST" --listen 127.0.0.1:0 \
        --url-file "$ST/url" --log-level warn --pools on 2>"$ST/sfd.log" &
SFD_PID=$!
for _ in $(seq 100); do [ -s "$ST/url" ] && break; sleep 0.1; done
U=$(cat "$ST/url")
SF="$SF --endpoint $U"
for _ in $(seq 100); do $SF node list -o json 2>/dev/null | jq -e '.[0].status.state=="Ready"' >/dev/null && break; sleep 0.1; done
node=$($SF node list -o json | jq -r '.[0].name')
$SF network create warm --cidr 10.78.0.0/16 --pool-min "$POOL_MIN" --pool-max 256 --pool-batch 32 -q >/dev/null
$SF network create cold --cidr 10.79.0.0/16 --pool off -q >/dev/null

# A bare bundle: the same busybox image, `sleep 3600`.
rootfs=$(ls -d "$ST"/images/images/busybox*/rootfs)
mkdir -p "$ST/bare/rootfs"
cp -a "$rootfs/." "$ST/bare/rootfs/"
( cd "$ST/bare" && runc spec && jq '.process.args=["sleep","3600"] | .process.terminal=false | .root.readonly=true' config.json > c.json && mv c.json config.json )

same_bundle_init "$SF" cold "$RUN" "$ST" || { echo "same-bundle baseline: set-up failed" >&2; exit 1; }

bare_run() { # N -> wall ms until every `runc run -d` returned (the process is running)
        local n=$1 t0 t1 pids=()
        t0=$(date +%s%N)
        for i in $(seq 1 "$n"); do runc --root "$RUN/bare" run -d --bundle "$ST/bare" "bare-$i" >/dev/null 2>&1 </dev/null & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(date +%s%N)
        for i in $(seq 1 "$n"); do runc --root "$RUN/bare" delete -f "bare-$i" >/dev/null 2>&1; done
        echo $(( (t1 - t0) / 1000 ))
}

# Back to the starting line: no containers, the warm pool at exactly its min, every idle port
# with a built and armed (watched) namespace, and a quiet moment.
settle() {
        $SF ps -q | xargs -r $SF rm --force >/dev/null 2>&1
        for _ in $(seq 600); do [ "$(ls "$RUN/containers" | wc -l)" = 0 ] && break; sleep 0.1; done
        warm_pool_settle "$SF" "$NSX curl -s $U/metrics" "warm.$node" "$POOL_MIN" 256
        sleep 1
}

sf_run() { # N network prefix -> JSON lines
        $NSX "$B/bench/spike/sf-spike-bench" --endpoint "$U" --network "$2" --count "$1" --prefix "$3" --connected
}

: > "${OUT%.json}.detail.json"
echo "{\"machine\":\"$(nproc) cores, $(awk '/MemTotal/{printf "%d GiB", $2/1048576}' /proc/meminfo), $(uname -r)\",\"load_at_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"runc\":\"$(runc --version | head -1)\",\"pool_min\":$POOL_MIN}" > "$OUT"
settle
for rep in $(seq 1 "$REPS"); do
        for n in $BURSTS; do
                # rotate the order so that no mode always runs first
                case $(( (rep + n) % 4 )) in
                0) order="bare same cold warm" ;; 1) order="same cold warm bare" ;;
                2) order="cold warm bare same" ;; *) order="warm bare same cold" ;;
                esac
                for mode in $order; do
                        cpu=$(quiet)
                        case $mode in
                        bare)
                                b=$(bare_run "$n")
                                echo "{\"rep\":$rep,\"n\":$n,\"mode\":\"bare\",\"load\":$(cut -d' ' -f1 /proc/loadavg),\"busy_before\":$cpu,\"all_running_ms\":$((b / 1000)).$(printf %03d $((b % 1000)))}" >> "$OUT"
                                echo "rep $rep n=$n bare: $((b / 1000)) ms" >&2
                                ;;
                        same)
                                b=$(same_bundle_run "$n")
                                echo "{\"rep\":$rep,\"n\":$n,\"mode\":\"same\",\"load\":$(cut -d' ' -f1 /proc/loadavg),\"busy_before\":$cpu,\"all_running_ms\":$((b / 1000)).$(printf %03d $((b % 1000)))}" >> "$OUT"
                                echo "rep $rep n=$n same bundle: $((b / 1000)) ms" >&2
                                ;;
                        *)
                                res=$(sf_run "$n" "$mode" "r$rep-$mode-$n")
                                sum=$(echo "$res" | jq -c 'select(.summary)')
                                echo "$res" | jq -c --argjson rep "$rep" --arg mode "$mode" --argjson n "$n" 'select(.summary | not) | {rep: $rep, mode: $mode, n: $n} + {name, ack_ms, ready_ms, running_ms, started_ms, net_ready_ms, warm: .agent.warm, network_ms: .agent.network_ms, lane: .agent.warm_lane, watched: .agent.netns_watched, warm_take_ms: .agent.warm_take_ms, at_commit: .agent.warm_at_commit, process_scan_ms: .agent.process_scan_ms, netns_check_ms: .agent.netns_check_ms, netns_bind_ms: .agent.netns_bind_ms, unwatched: .agent.netns_unwatched}' >> "${OUT%.json}.detail.json"
                                echo "$sum" | jq -c --argjson rep "$rep" --arg mode "$mode" --arg load "$(cut -d' ' -f1 /proc/loadavg)" --argjson busy "$cpu" '{rep: $rep, mode: $mode, n: .count, load: ($load | tonumber), busy_before: $busy} + .' >> "$OUT"
                                echo "rep $rep n=$n $mode: $(echo "$sum" | jq -r '"all ready \(.all_ready_ms|floor) ms, started \(.all_started_ms|floor) ms, net ready p50 \(.net_ready_p50_ms) max \(.net_ready_max_ms) ms, warm \(.warm), failed \(.failed), cp calls \(.cp_cold_allocations + .cp_refill_transactions + .cp_reclaims)"')" >&2
                                settle
                                ;;
                        esac
                done
        done
done
grep -c . "$ST/sfd.log" >/dev/null && grep -E "WARN|ERROR" "$ST/sfd.log" | head -5 >&2

# ---- summary: medians over the repetitions ----
jq -s -r '
  def med: sort | if length == 0 then null else .[(length / 2 | floor)] end;
  def r1: if . == null then null else (. * 10 | round / 10) end;
  def r2: if . == null then null else (. * 100 | round / 100) end;
  [.[] | select(.mode)] as $r
  | ($r | map(.n) | unique) as $ns
  | ["n", "bare_ms", "cold_started_ms", "warm_started_ms", "warm_over_bare", "cold_over_bare",
     "cold_ready_ms", "warm_ready_ms", "cold_netready_p50", "warm_netready_p50", "netready_p50_ratio",
     "cold_netready_max", "warm_netready_max", "netready_max_ratio", "warm_got_warm",
     "cold_cp_calls", "warm_cp_calls", "cold_port_writes", "warm_port_writes",
     "same_bundle_ms", "warm_over_same", "cold_over_same"] ,
    ($ns[] as $n
     | ($r | map(select(.n == $n))) as $x
     | ($x | map(select(.mode == "bare") | .all_running_ms) | med) as $bare
     | ($x | map(select(.mode == "same") | .all_running_ms) | med) as $same
     | ($x | map(select(.mode == "cold"))) as $c
     | ($x | map(select(.mode == "warm"))) as $w
     | ($c | map(.all_started_ms) | med) as $cs
     | ($w | map(.all_started_ms) | med) as $ws
     | [$n, ($bare | r1), ($cs | r1), ($ws | r1), ($ws / $bare | r2), ($cs / $bare | r2),
        ($c | map(.all_ready_ms) | med | r1), ($w | map(.all_ready_ms) | med | r1),
        ($c | map(.net_ready_p50_ms) | med | r1), ($w | map(.net_ready_p50_ms) | med | r1),
        (($c | map(.net_ready_p50_ms) | med) / ($w | map(.net_ready_p50_ms) | med) | r1),
        ($c | map(.net_ready_max_ms) | med | r1), ($w | map(.net_ready_max_ms) | med | r1),
        (($c | map(.net_ready_max_ms) | med) / ($w | map(.net_ready_max_ms) | med) | r1),
        ($w | map(.warm) | med),
        ($c | map(.cp_cold_allocations + .cp_refill_transactions + .cp_reclaims) | med),
        ($w | map(.cp_cold_allocations + .cp_refill_transactions + .cp_reclaims) | med),
        ($c | map(.port_rows_created + .port_rows_updated + .port_rows_deleted) | med),
        ($w | map(.port_rows_created + .port_rows_updated + .port_rows_deleted) | med),
        ($same | r1), (if $same then ($ws / $same | r2) else null end),
        (if $same then ($cs / $same | r2) else null end)])
  | @tsv' "$OUT" > "${OUT%.json}.tsv"
column -t "${OUT%.json}.tsv"

if command -v gnuplot >/dev/null; then
        gnuplot <<EOF
set terminal pngcairo size 1100,480 font "sans,10"
set output "$PLOT"
set multiplot layout 1,2 title "Superfluid port pools: bursts of N containers ($(nproc) cores, same session; medians of $REPS runs)"
set datafile separator "\t"
set key top left
set logscale x 2
set logscale y 10
set grid
set xlabel "containers started at once"
set ylabel "ms from the first request until every process runs"
set title "time to start the burst"
plot "${OUT%.json}.tsv" every ::1 using 1:2 with linespoints lw 2 title "bare runc run -d, minimal bundle, no network", \
     "" every ::1 using 1:20 with linespoints lw 2 dt 3 title "bare runc run -d, Superfluid's bundle, no network", \
     "" every ::1 using 1:4 with linespoints lw 2 title "warm pools (min $POOL_MIN)", \
     "" every ::1 using 1:3 with linespoints lw 2 title "pools off (cold)"
set title "network-ready latency (request -> namespace ready)"
set ylabel "ms"
plot "${OUT%.json}.tsv" every ::1 using 1:10 with linespoints lw 2 title "warm, median", \
     "" every ::1 using 1:13 with linespoints lw 2 dt 2 title "warm, slowest", \
     "" every ::1 using 1:9 with linespoints lw 2 title "cold, median", \
     "" every ::1 using 1:12 with linespoints lw 2 dt 2 title "cold, slowest"
unset multiplot
EOF
        echo "plot in $PLOT" >&2
fi
echo "results in $OUT (summary ${OUT%.json}.tsv)" >&2
