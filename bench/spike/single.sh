#!/bin/bash
# bench/spike/single.sh: one warm container start at a time, for comparing builds on the warm
# path's request -> network-ready latency (status.network_ready_at - the client's request),
# which a burst of 1 in bench/spike samples only REPS times.
#
# For each round, each build in turn: a fresh all-in-one sfd in a private network namespace, a
# network with a pool (min POOL_MIN, max POOL_MAX), then N single requests (sf-spike-bench
# --count 1 --connected), each after the pool has settled (every namespace ready and watched) and a
# second's pause, the container removed after it. Builds alternate round by round, so that
# the machine's drift falls on both.
# Prints, per build, the median (min-max) of each round and of all; writes one JSON line per
# start (the sf-spike-bench item, with "build" and "round") to OUT.
# Needs root. Everything lives in a private network namespace and temp dirs, removed at exit.
# Usage: bench/spike/single.sh [-o OUT_JSON] BUILD_DIR...
#        (env: ROUNDS=3, N=10, POOL_MIN=4, POOL_MAX=16; bench/spike's pool is 64 / 256)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/bench/lib/warm-pool.sh"
OUT=$top/bench/results/warm-single.json
if [ "${1:-}" = -o ]; then
        OUT=$2
        shift 2
fi
[ $# -ge 1 ] || { echo "usage: $0 [-o OUT_JSON] BUILD_DIR..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/spike/single.sh needs root" >&2; exit 1; }
ROUNDS=${ROUNDS:-3}
N=${N:-10}
POOL_MIN=${POOL_MIN:-4}
POOL_MAX=${POOL_MAX:-16}
for b in "$@"; do
        [ -x "$b/src/sfd/sfd" ] && [ -x "$b/bench/spike/sf-spike-bench" ] ||
                { echo "$b: no sfd or sf-spike-bench there (build it first)" >&2; exit 1; }
done
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
NS=sfbench-single-$$
RUN="" ST="" SFD_PID="" U="" B=""
NSX="nsenter --net=/run/netns/$NS"

stop_sfd() {
        if [ -n "$SFD_PID" ]; then
                $NSX "$B/src/cli/sfctl" --endpoint "$U" ps -q 2>/dev/null |
                        xargs -r $NSX "$B/src/cli/sfctl" --endpoint "$U" rm --force >/dev/null 2>&1
                sleep 2
                kill "$SFD_PID" 2>/dev/null
                wait "$SFD_PID" 2>/dev/null
                SFD_PID=""
        fi
        if [ -n "$RUN" ]; then
                grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
                rm -rf "$RUN" "$ST"
                RUN=""
        fi
        ip netns del "$NS" 2>/dev/null
}
trap stop_sfd EXIT

one_build() { # BUILD ROUND: N single starts on a fresh daemon
        local sf node i
        B=$1
        RUN=$(mktemp -d /run/sfbench.XXXXXX)
        ST=$(mktemp -d /tmp/sfbench.XXXXXX)
        ip netns add "$NS" && ip -n "$NS" link set lo up || return 1
        "$B/src/sfd/sfd" --netns "/run/netns/$NS" --run-dir "$RUN" --state-dir "$ST" --listen 127.0.0.1:0 \
                --url-file "$ST/url" --log-level warn --pools on 2>"$ST/sfd.log" &
        SFD_PID=$!
        for _ in $(seq 100); do [ -s "$ST/url" ] && break; sleep 0.1; done
        U=$(cat "$ST/url")
        sf="$NSX $B/src/cli/sfctl --endpoint $U"
        for _ in $(seq 100); do $sf node list -o json 2>/dev/null | jq -e '.[0].status.state=="Ready"' >/dev/null && break; sleep 0.1; done
        node=$($sf node list -o json | jq -r '.[0].name')
        $sf network create warm --cidr 10.78.0.0/16 --pool-min "$POOL_MIN" --pool-max "$POOL_MAX" --pool-batch 4 -q >/dev/null || return 1
        for i in $(seq "$N"); do
                warm_pool_settle "$sf" "$NSX curl -s $U/metrics" "warm.$node" "$POOL_MIN" "$POOL_MAX" || return 1
                sleep 1
                $NSX "$B/bench/spike/sf-spike-bench" --endpoint "$U" --network warm --count 1 --prefix "s$i" --connected |
                        jq -c --arg b "$B" --argjson r "$2" 'select(.summary | not) | . + {build: $b, round: $r}' >> "$OUT"
                $sf ps -q | xargs -r $sf rm --force >/dev/null 2>&1
        done
        stop_sfd
}

for r in $(seq "$ROUNDS"); do
        for b in "$@"; do
                one_build "$b" "$r" || { echo "round $r, $b: failed (sfd log above)" >&2; cat "$ST/sfd.log" >&2; exit 1; }
        done
done

python3 - "$OUT" "$@" <<'EOF'
import json, statistics as S, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for b in sys.argv[2:]:
    v = [r for r in rows if r["build"] == b]
    def fmt(xs):
        xs = [x["net_ready_ms"] for x in xs if x.get("net_ready_ms", -1) >= 0]
        return "%.3f (%.3f-%.3f, %d)" % (S.median(xs), min(xs), max(xs), len(xs)) if xs else "-"
    rounds = sorted({r["round"] for r in v})
    print("%s: network ready, ms, median (min-max, n): all %s; per round %s" %
          (b, fmt(v), "; ".join(fmt([x for x in v if x["round"] == k]) for k in rounds)))
EOF
