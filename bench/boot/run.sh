#!/bin/bash
# bench/boot: container start time through Superfluid vs the bare OCI runtime, in one run.
#   Orchestrated: API request -> process running and answering ping from a peer (the node),
#                 for 1, 10 and 50 containers started at once, plus 20 one after another.
#   Bare runtime, two baselines, same concurrency, no network:
#     - minimal: `runc run -d` of `runc spec`'s bundle on a busybox rootfs (a new empty network
#       namespace, no overlay, no bind mounts, no limits);
#     - same bundle: `runc run -d` of the config.json the agent generates (bench/lib/same-bundle.sh:
#       its overlay root filesystem, /etc bind mounts, cgroup, sysctl, masked paths), with a new
#       empty network namespace instead of the prepared one and no start-gate hook.
# Needs root. Everything lives in a private network namespace and temp dirs, removed at exit.
# Superfluid is measured two ways: on a network with pools off (the cold path: the port is
# allocated on request and plumbed during the runtime's work) and on a network whose port pool
# holds POOL_MIN idle ports with their namespaces built and armed on the node before each burst
# (the warm path, pools on as by default but sized for the burst; bench/spike varies the burst
# around the pool's size).
# Every measurement waits for a quiet machine first (bench/lib/quiet.sh), and the order of the
# four (bare, same bundle, cold, warm) rotates from one burst to the next.
# Usage: bench/boot/run.sh [BUILD_DIR] [OUT_JSON]
# Environment: REPS (repetitions of each burst, default 3), POOL_MIN (default 64), SFD_ARGS
# (extra sfd options, e.g. "--workers 64").
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/bench/lib/same-bundle.sh"
. "$top/bench/lib/warm-pool.sh"
. "$top/bench/lib/quiet.sh"
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/boot.json}
REPS=${REPS:-3}
POOL_MIN=${POOL_MIN:-64}
[ "$(id -u)" = 0 ] || { echo "bench/boot needs root" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
NS=sfbench-boot-$$
RUN=$(mktemp -d /run/sfbench.XXXXXX)
ST=$(mktemp -d /tmp/sfbench.XXXXXX)
SFD_PID=""
cleanup() {
        [ -n "$SFD_PID" ] && { $NSX "$B/src/cli/sfctl" --endpoint "$U" ps -q 2>/dev/null | xargs -r $NSX "$B/src/cli/sfctl" --endpoint "$U" rm --force >/dev/null 2>&1; sleep 2; kill "$SFD_PID"; wait "$SFD_PID"; }
        for id in $(runc --root "$RUN/bare" list -q 2>/dev/null); do runc --root "$RUN/bare" delete -f "$id"; done
        same_bundle_cleanup
        grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
        rm -rf "$RUN" "$ST"
        ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up
NSX="nsenter --net=/run/netns/$NS"
"$B/src/sfd/sfd" --netns "/run/netns/$NS" --run-dir "$RUN" --state-dir "$ST" --listen 127.0.0.1:0 \
        --url-file "$ST/url" --log-level warn ${SFD_ARGS:-} 2>"$ST/sfd.log" &
SFD_PID=$!
for _ in $(seq 100); do [ -s "$ST/url" ] && break; sleep 0.1; done
U=$(cat "$ST/url")
SF="$NSX $B/src/cli/sfctl --endpoint $U"
for _ in $(seq 100); do $SF node list -o json 2>/dev/null | jq -e '.[0].status.state=="Ready"' >/dev/null && break; sleep 0.1; done
# the cold path: no port pools; the warm path: a pool of POOL_MIN (refills of 32, up to 256)
$SF network create bench --cidr 10.77.0.0/16 --pool off -q >/dev/null || { echo "network create failed" >&2; exit 1; }
$SF network create warm --cidr 10.78.0.0/16 --pool-min "$POOL_MIN" --pool-max 256 --pool-batch 32 -q >/dev/null ||
        { echo "network create (warm) failed" >&2; exit 1; }
node=$($SF node list -o json | jq -r '.[0].name')

# A bare bundle: the same busybox image, `sleep 3600`, no network namespace to join.
rootfs=$(ls -d "$ST"/images/images/busybox*/rootfs)
mkdir -p "$ST/bare/rootfs"
cp -a "$rootfs/." "$ST/bare/rootfs/"
( cd "$ST/bare" && runc spec && jq '.process.args=["sleep","3600"] | .process.terminal=false | .root.readonly=true' config.json > c.json && mv c.json config.json )

same_bundle_init "$SF" bench "$RUN" "$ST" || { echo "same-bundle baseline: set-up failed" >&2; exit 1; }

bare_run() { # N -> wall ms for N concurrent `runc run -d`
        local n=$1 t0 t1 pids=()
        t0=$(date +%s%N)
        for i in $(seq 1 "$n"); do runc --root "$RUN/bare" run -d --bundle "$ST/bare" "bare-$i" >/dev/null 2>&1 </dev/null & pids+=($!); done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(date +%s%N)
        for i in $(seq 1 "$n"); do runc --root "$RUN/bare" delete -f "bare-$i" >/dev/null 2>&1; done
        echo $(( (t1 - t0) / 1000 ))
}

sf_clean() { # removes every container and waits until the node is clean again
        $SF ps -q | xargs -r $SF rm --force >/dev/null 2>&1
        for _ in $(seq 300); do [ "$(ls "$RUN/containers" | wc -l)" = 0 ] && break; sleep 0.1; done
}

sf_run() { # N prefix -> JSON lines (cold path)
        $NSX "$B/bench/boot/sf-boot-bench" --endpoint "$U" --network bench --count "$1" --prefix "$2" --base-ip "10.77.$3.10"
        sf_clean
}

sf_run_warm() { # N prefix -> JSON lines (warm path: addresses from the pool)
        # the pool back at exactly POOL_MIN idle ports, each namespace built and armed
        warm_pool_settle "$SF" "$NSX curl -s $U/metrics" "warm.$node" "$POOL_MIN" 256
        sleep 1
        $NSX "$B/bench/boot/sf-boot-bench" --endpoint "$U" --network warm --count "$1" --prefix "$2"
        sf_clean
}

echo "{\"machine\":\"$(nproc) cores, $(awk '/MemTotal/{printf "%d GiB", $2/1048576}' /proc/meminfo), $(uname -r)\",\"runc\":\"$(runc --version | head -1)\",\"runs\":[" > "$OUT"
# Each measurement starts on a quiet machine (bench/lib/quiet.sh), and the order of the four
# rotates, so that none always follows another's aftermath.
measure() { # MODE N REP -> the mode's result (bare, same: wall us; cold, warm: JSON lines)
        quiet >/dev/null
        case $1 in
        bare) bare_run "$2" ;;
        same) same_bundle_run "$2" ;;
        cold) sf_run "$2" "r$3-n$2" "$net" ;;
        warm) sf_run_warm "$2" "w$3-n$2" ;;
        esac
}
order_of() { # I -> the order of the four for the I-th measurement
        case $(( $1 % 4 )) in
        0) echo "bare same cold warm" ;; 1) echo "same cold warm bare" ;;
        2) echo "cold warm bare same" ;; *) echo "warm bare same cold" ;;
        esac
}
first=1
net=1
k=0
for rep in $(seq 1 "$REPS"); do
        for n in 1 10 50; do
                for mode in $(order_of $k); do
                        case $mode in
                        bare) b=$(measure bare "$n" "$rep") ;;
                        same) sb=$(measure same "$n" "$rep") ;;
                        cold) res=$(measure cold "$n" "$rep"); net=$((net + 1)) ;;
                        warm) resw=$(measure warm "$n" "$rep") ;;
                        esac
                done
                k=$((k + 1))
                [ $first = 1 ] || echo "," >> "$OUT"; first=0
                echo "{\"rep\":$rep,\"n\":$n,\"bare_all_us\":$b,\"same_bundle_all_us\":$sb,\"sf\":[$(echo "$res" | paste -sd,)],\"sf_warm\":[$(echo "$resw" | paste -sd,)]}" >> "$OUT"
                echo "rep $rep n=$n: bare $((b / 1000)) ms, same bundle $((sb / 1000)) ms, superfluid cold $(echo "$res" | jq -r 'select(.summary) | .all_ready_ms') ms, warm $(echo "$resw" | jq -r 'select(.summary) | .all_ready_ms') ms (all ready)" >&2
        done
done
# Sequential: 20 single starts.
seqbare=(); seqsame=(); seqsf=(); seqwarm=()
for i in $(seq 1 20); do
        for mode in $(order_of $k); do
                case $mode in
                bare) seqbare+=("$(measure bare 1 "seq$i")") ;;
                same) seqsame+=("$(measure same 1 "seq$i")") ;;
                cold) res=$(measure cold 1 "seq$i"); net=$((net + 1))
                      seqsf+=("$(echo "$res" | jq -c 'select(.summary|not)')") ;;
                warm) res=$(measure warm 1 "seq$i")
                      seqwarm+=("$(echo "$res" | jq -c 'select(.summary|not)')") ;;
                esac
        done
        k=$((k + 1))
done
echo ",{\"sequential\":true,\"bare_us\":[$(IFS=,; echo "${seqbare[*]}")],\"same_bundle_us\":[$(IFS=,; echo "${seqsame[*]}")],\"sf\":[$(IFS=,; echo "${seqsf[*]}")],\"sf_warm\":[$(IFS=,; echo "${seqwarm[*]}")]}" >> "$OUT"
echo "]}" >> "$OUT"
jq . "$OUT" >/dev/null && echo "results in $OUT" >&2
