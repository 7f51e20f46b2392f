# bench/lib/warm-pool.sh: brings a network's port pool on a node back to the same starting line
# before a burst (bench/boot, bench/spike). Sourced.
#
# warm_pool_settle "SFCTL..." "METRICS..." POOL MIN MAX: SFCTL... runs sfctl against the
#   controller, METRICS... prints the controller's /metrics, POOL is NETWORK.NODE. Trims the
#   pool to MIN idle ports (its max down to MIN, then back to MAX), then waits (at most 2
#   minutes) until it holds exactly MIN ports and the node reports MIN warm namespaces ready
#   and MIN watched (armed). Returns 1, with a message, if it never does.
warm_pool_settle() {
        local sf=$1 metrics=$2 pool=$3 min=$4 max=$5 size="" ready="" watched="" m
        $sf pool resize "$pool" --max "$min" >/dev/null
        $sf pool resize "$pool" --max "$max" >/dev/null
        for _ in $(seq 1200); do
                size=$($sf pool show "$pool" -o json | jq .size)
                m=$($metrics)
                ready=$(echo "$m" | awk '$1 == "sf_warm_namespaces{state=\"ready\"}" { print $2 }')
                watched=$(echo "$m" | awk '$1 == "sf_warm_namespaces_watched" { print $2 }')
                [ "$size" = "$min" ] && [ "$ready" = "$min" ] && [ "$watched" = "$min" ] && return 0
                sleep 0.1
        done
        echo "warm pool $pool did not settle (size $size, ready $ready, watched $watched)" >&2
        return 1
}
