#!/bin/bash
# Port pools steered by hand: sfctl pool list/show/resize/fill/drain, with the node's warm
# namespaces following every change, and the pools' statistics in the API and /metrics.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
make_ns sfpooldrain
start_sfd --pools on --pool-min 4 --pool-max 8 --pool-batch 4
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
node=$(sf node list -o json | jq -r '.[0].name')
pool=neta.$node
metric() { $NSX curl -s "$U/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
size() { sf pool show "$pool" -o json | jq .size; }
warm_is() { [ "$(metric 'sf_warm_namespaces{state="ready"}')" = "$1" ] && [ "$(ls "$RUN/warm" | grep -c json)" = "$1" ]; }

sf network create neta --cidr 10.91.0.0/24 -q >/dev/null || die "network"
wait_for 10 "pool" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show $pool -o json | jq .size) = 4 ]"
wait_for 30 "4 warm" warm_is 4
sf pool list | grep -q "^$pool " || die "pool list"
sf pool list --network neta -o json | jq -e 'length == 1' >/dev/null || die "filter by network"
sf pool list --node "$node" -o json | jq -e 'length == 1' >/dev/null || die "filter by node"
sf pool list --network nosuch -o json | jq -e 'length == 0' >/dev/null || die "filter by unknown network"

note "resize down: the excess is released, and its warm namespaces removed"
sf pool resize "$pool" --min 1 --max 2 >/dev/null || die "resize"
wait_for 10 "size 2" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show $pool -o json | jq .size) = 2 ]"
wait_for 30 "2 warm" warm_is 2
[ "$(sf pool show "$pool" -o json | jq -c '[.min, .max, .settings.min, .settings.max, .settings.batch]')" = "[1,2,1,2,null]" ] || die "settings: $(sf pool show "$pool" -o json | jq -c .settings)"

note "resize up: refilled in bulk, warm namespaces built"
sf pool resize "$pool" --min 6 --max 10 >/dev/null || die "resize"
wait_for 10 "size >= 6" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show $pool -o json | jq .size) -ge 6 ]"
n=$(size)
wait_for 30 "$n warm" warm_is "$n"

note "fill on request: --count more, never past max"
sf pool fill "$pool" --count 100 | grep -q "10 idle port(s)" || die "fill to max"
wait_for 30 "10 warm" warm_is 10

note "invalid resizes are refused with the field"
err=$(sf pool resize "$pool" --min 11 2>&1); [ $? = 1 ] && echo "$err" | grep -q "min" || die "min above max: $err"
err=$(sf pool resize "$pool" --max 99999 2>&1); [ $? = 1 ] && echo "$err" | grep -q "max" || die "max too big: $err"
api PATCH "/v1/pools/$pool" '{"node": "x"}'; expect_error 400 node "unknown" "read-only key"
api POST /v1/pools '{}'; expect_status 405 "pools are not created by hand"
api DELETE "/v1/pools/$pool"; expect_status 405 "pools are not deleted by hand"

note "drain: every idle port released, the pool disabled, new workloads plumbed cold"
sf pool drain "$pool" | grep -q "0 idle port(s).*disabled" || die "drain"
[ "$(sf port list -o json | jq '[.[] | select(.device_owner == "compute:pool")] | length')" = 0 ] || die "pooled ports left"
wait_for 30 "no warm namespace" warm_is 0
sf run --name cold1 --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run"
sf container show cold1 -o json | jq -e '.status.timings.warm == false' >/dev/null || die "cold1 should be cold"
sleep 1
[ "$(size)" = 0 ] || die "a drained pool must not refill"
err=$(sf pool fill "$pool" 2>&1); [ $? = 4 ] && echo "$err" | grep -q "disabled" || die "fill of a drained pool: $err"
sf rm cold1 >/dev/null || die "rm"
[ "$(size)" = 0 ] || die "a drained pool must not take recycled ports"

note "enabled again"
sf pool resize "$pool" --enable >/dev/null || die "enable"
wait_for 10 "refilled" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show $pool -o json | jq .size) -ge 6 ]"
n=$(size)
wait_for 30 "$n warm" warm_is "$n"
sf run --name w1 --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run"
sf container show w1 -o json | jq -e '.status.timings.warm == true' >/dev/null || die "w1 should be warm"

note "back to the network's and sfd's settings"
sf pool resize "$pool" --inherit >/dev/null || die "inherit"
[ "$(sf pool show "$pool" -o json | jq -c '[.min, .max, .batch, .enabled]')" = "[4,8,4,true]" ] || die "inherit: $(sf pool show "$pool" -o json | jq -c '[.min, .max, .batch, .enabled]')"

note "statistics in the API and in /metrics"
p=$(sf pool show "$pool" -o json)
echo "$p" | jq -c .stats
echo "$p" | jq -e '.stats.hits >= 1 and .stats.refills >= 3 and .stats.released >= 12 and .in_use == 1' >/dev/null || die "stats: $(echo "$p" | jq -c '.stats, .in_use')"
m=$($NSX curl -s "$U/metrics")
for k in "sf_pool_size{pool=\"$pool\"}" "sf_pool_hits_total{pool=\"$pool\"}" "sf_pool_misses_total{pool=\"$pool\"}" \
         "sf_pool_refill_latency_ms{pool=\"$pool\",quantile=\"0.5\"}" 'sf_port_allocations_total{path="refill"}' \
         'sf_warm_namespaces{state="ready"}' 'sf_warm_takes_total{result="hit"}'; do
        echo "$m" | grep -qF "$k " || die "metric $k missing"
done

sf rm w1 >/dev/null || die "rm"
sf network delete neta >/dev/null || die "network delete"
no_leaks() { [ -z "$(leaks)" ] && [ -z "$(ls "$RUN/warm")" ]; }
wait_for 30 "no leaks" no_leaks
stop_sfd || die "unclean stop"
echo OK
