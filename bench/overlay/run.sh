#!/bin/bash
# bench/overlay: the overlay's cost and its control plane's speed, in one lab run.
#  1. TCP throughput (iperf3, 3 x 5 s) and round-trip time (ping, 50 x 20 ms) between two
#     containers on the same node and on two nodes (VXLAN), as the overlay's overhead ratio.
#  2. l2population convergence: time from a port's creation (API request) to its FDB entry on
#     the VXLAN device of every other node hosting the network, for labs of N = 2, 4, 8 nodes,
#     20 ports each (p50, p99 of the time until the last node has it).
# Needs root, runc, iperf3. Usage: bench/overlay/run.sh [BUILD_DIR] [OUT_JSON]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/overlay.json}
SFCTL="$B/src/cli/sfctl"
mkdir -p "$(dirname "$OUT")"
T=$(mktemp -d /tmp/sfbench-ovl.XXXXXX)
LABDIR=""
cleanup() { [ -n "$LABDIR" ] && "$SFCTL" lab down --dir "$LABDIR" --wait 0 >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT

lab_up() { # NAME SITES
        LABDIR="$T/$1"
        out=$("$SFCTL" lab up --name "$1" --dir "$LABDIR" --sites "$2" --log-level warn 2>&1) || { echo "$out" >&2; exit 1; }
        U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
}
lab_down() { "$SFCTL" lab down --dir "$LABDIR" --wait 0 >/dev/null 2>&1; LABDIR=""; }
sf() { "$SFCTL" --endpoint "$U" "$@"; }

# --- 1. throughput and latency ---
lab_up bov1 core:2
img="$T/iperf3"; mkdir -p "$img/bin" "$img/usr/bin" "$img/tmp" "$img/etc"
cp "$(command -v busybox)" "$img/bin/busybox"; for a in sh ping sleep; do ln -s busybox "$img/bin/$a"; done
cp "$(command -v iperf3)" "$img/usr/bin/"
for l in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do mkdir -p "$img$(dirname "$l")"; cp -L "$l" "$img$l"; done
sf image import "$img" --name iperf3 --format rootfs >/dev/null
sf network create bn --cidr 10.73.0.0/24 -q >/dev/null
sf run --name srv --node core-1 --network bn iperf3 -- iperf3 -s >/dev/null
sf run --name same --node core-1 --network bn iperf3 -- sleep 3600 >/dev/null
sf run --name cross --node core-2 --network bn iperf3 -- sleep 3600 >/dev/null
srv=$(sf container show srv -o json | jq -r '.status.ips[0]')
measure() { # CLIENT -> "gbps_list rtt_ms"
        local g=() r
        for i in 1 2 3; do
                g+=("$(sf exec "$1" --timeout 60 -- iperf3 -c "$srv" -t 5 -J | jq '.end.sum_received.bits_per_second / 1e9')")
        done
        r=$(sf exec "$1" -- ping -c 50 -i 0.02 -q "$srv" | awk -F'/' '/min\/avg/ {print $4}')
        echo "[$(IFS=,; echo "${g[*]}")] $r"
}
read -r same_g same_rtt < <(measure same)
read -r cross_g cross_rtt < <(measure cross)
lab_down
echo "{\"throughput_gbps\":{\"same_node\":$same_g,\"cross_node\":$cross_g},\"rtt_avg_ms\":{\"same_node\":$same_rtt,\"cross_node\":$cross_rtt},\"l2pop\":[" > "$OUT"

# --- 2. l2population convergence ---
first=1
for n in 2 4 8; do
        lab_up "bl$n" "core:$n"
        sf network create l2 --cidr 10.74.0.0/16 -q >/dev/null
        # a workload on every node, so every node hosts the network
        for i in $(seq 1 "$n"); do sf run --name "w$i" --node "core-$i" --network l2 --stop-grace 0 busybox -- sleep 3600 >/dev/null; done
        vni=$(sf network show l2 -o json | jq .vni)
        mons=()
        for i in $(seq 2 "$n"); do
                ns=$(jq -r ".hosts[] | select(.name == \"core-$i\") | .netns" "$LABDIR/lab.json")
                ip netns exec "$ns" bridge -timestamp monitor fdb > "$T/mon-$n-$i" 2>/dev/null &
                mons+=($!)
        done
        sleep 1
        : > "$T/req-$n"
        for p in $(seq 1 20); do
                t=$(date +%s%6N)
                mac=$(sf port create --network l2 --node core-1 --device-owner compute:bench -o json | jq -r .mac_address)
                echo "$mac $t" >> "$T/req-$n"
                sleep 0.2
        done
        sleep 2
        for m in "${mons[@]}"; do kill "$m"; done
        wait "${mons[@]}" 2>/dev/null
        # per port: the time the last node had it
        lat=$(for i in $(seq 2 "$n"); do
                awk -v vx="sfx$vni" '/^Timestamp:/ { cmd = "date -d \"" $2" "$3" "$4" "$5" "$6"\" +%s"; cmd | getline s; close(cmd); ts = s * 1000000 + $7; next }
                     $0 ~ vx && $0 ~ /dst/ && $1 != "Deleted" { printf "%s %.0f\n", $1, ts }' "$T/mon-$n-$i"
              done | sort | awk 'NR==FNR { req[$1] = $2; next } ($1 in req) { d = $2 - req[$1]; if (d > worst[$1]) worst[$1] = d; seen[$1]++ }
                                 END { for (m in worst) if (seen[m] >= '"$((n - 1))"') print worst[m] / 1000.0 }' "$T/req-$n" - | sort -n)
        cnt=$(echo "$lat" | grep -c .)
        p50=$(echo "$lat" | awk -v c="$cnt" 'NR == int((c + 1) / 2) { print }')
        p99=$(echo "$lat" | awk -v c="$cnt" 'NR == (c > 1 ? c : 1) { print }')
        [ $first = 1 ] || echo "," >> "$OUT"; first=0
        echo "{\"nodes\":$n,\"ports\":$cnt,\"p50_ms\":${p50:-null},\"p99_ms\":${p99:-null},\"all_ms\":[$(echo "$lat" | paste -sd,)]}" >> "$OUT"
        echo "N=$n: $cnt ports, p50 ${p50} ms, p99 ${p99} ms" >&2
        lab_down
done
echo "]}" >> "$OUT"
jq . "$OUT" >&2
