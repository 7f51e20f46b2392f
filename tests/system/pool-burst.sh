#!/bin/bash
# Port pools under a spike: a burst larger than the pool. The first requests take pooled
# ports (with their pre-plumbed namespaces), the rest take the cold path at once while bulk
# refills run; no request fails, no address is handed out twice, and hand-out follows the
# pool's order (FIFO). Also: pools fill when a node joins and when a network gets a subnet.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
SPIKE="$B/bench/spike/sf-spike-bench"
[ -x "$SPIKE" ] || die "build $SPIKE first"
make_ns sfpoolburst
start_sfd --pools on --pool-min 2 --pool-max 16 --pool-batch 2
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
node=$(sf node list -o json | jq -r '.[0].name')
metric() { $NSX curl -s "$U/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
warm_ready() { [ "$(metric 'sf_warm_namespaces{state="ready"}')" = "$1" ]; }
pool_size() { sf pool show "$1" -o json | jq .size; }

note "a network with a subnet gets a pool on every Ready node, filled at once (sfd defaults)"
sf network create neta --cidr 10.61.0.0/16 -q >/dev/null || die "network"
wait_for 10 "pool filled" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show neta.$node -o json | jq .size) = 2 ]"
wait_for 20 "2 warm namespaces" warm_ready 2
[ "$(sf pool list -o json | jq length)" = 1 ] || die "one pool expected"
[ "$(sf port list -o json | jq '[.[] | select(.device_owner == "compute:pool")] | length')" = 2 ] || die "pooled ports"

note "per-network settings: min 8, max 64, batch 8 (2 + one refill of max(8, 8 - 2) = 10)"
sf network update neta --pool-min 8 --pool-max 64 --pool-batch 8 -q >/dev/null || die "network update"
wait_for 10 "pool of 10" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show neta.$node -o json | jq .size) = 10 ]"
wait_for 30 "10 warm namespaces" warm_ready 10

note "FIFO: sequential requests get the head of the queue, in order"
want=$(sf pool show neta."$node" -o json | jq -r '.next_ports[0:3] | join(" ")')
got=""
for i in 1 2 3; do
        sf run --name f$i --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run f$i"
        got="$got $(sf container show f$i -o json | jq -r '.port_ids[0]')"
done
[ "${got# }" = "$want" ] || die "not FIFO: wanted $want, got ${got# }"
for i in 1 2 3; do sf container show f$i -o json | jq -e .status.timings.warm >/dev/null || die "f$i not warm"; done

note "all-in-one: the agent hears of a pooled port's taking at the commit, not from its watch"
hinted=$(metric sf_warm_hinted_total)
echo "hand-outs queued on the controller's word: ${hinted:-none} of 3"
[ "${hinted:-0}" -ge 1 ] || die "no hand-out on the controller's word (sf_warm_hinted_total ${hinted:-missing})"
at_commit=$(metric sf_warm_handed_at_commit_total)
echo "of which handed out by the committing request's thread: ${at_commit:-none}"
[ "${at_commit:-0}" -ge 1 ] || die "no hand-out by a committing request's thread (sf_warm_handed_at_commit_total ${at_commit:-missing})"
prechecked=$(metric sf_warm_prechecked_total)
[ -n "$prechecked" ] || die "no sf_warm_prechecked_total in /metrics"
echo "of which checked clean by the fast lane before the commit: $prechecked"

note "a creation that fails after taking a pooled port (its name is taken): the port and its warm namespace go back"
head=$(sf pool show neta."$node" -o json | jq -r '.next_ports[0]')
ino=$(stat -L -c %i "$RUN/warm/$head") || die "no warm namespace for the pool's head port $head"
ready0=$(metric 'sf_warm_namespaces{state="ready"}')
out=$(sf run --name f1 --stop-grace 0 --network neta busybox -- sleep 3600 2>&1) && die "a name clash was accepted"
echo "$out"
[[ $out == *name* ]] || die "the error does not name the field: $out"
[ "$(sf pool show neta."$node" -o json | jq -r '.next_ports[0]')" = "$head" ] || die "port $head is not back at the head of its pool"
wait_for 10 "the namespace ready again" warm_ready "$ready0"
[ "$(stat -L -c %i "$RUN/warm/$head")" = "$ino" ] || die "the warm namespace of port $head was replaced"
[ -f "$RUN/warm/$head.json" ] || die "the fingerprint of port $head is gone"
[ "$(ls "$RUN/netns" | wc -l)" = 3 ] || die "netns files besides f1-f3's: $(ls "$RUN/netns")"
sf run --name f4 --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run f4"
[ "$(sf container show f4 -o json | jq -r '.port_ids[0]')" = "$head" ] || die "f4 did not get port $head"
sf container show f4 -o json | jq -e .status.timings.warm >/dev/null || die "f4 not warm: $(sf container show f4 -o json | jq -c .status.timings)"
note "created and force-deleted at once: a namespace handed out on that word goes too (leaks, below)"
for i in 1 2 3 4 5; do
        id=$(sf run --detach -q --name z$i --stop-grace 0 --network neta busybox -- sleep 3600) || die "run z$i"
        $NSX curl -sf -X DELETE "$U/v1/containers/$id?force=true" >/dev/null || die "force-delete z$i"
done
sf rm f1 f2 f3 f4 >/dev/null || die "rm"
wait_for 30 "pool refilled" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show neta.$node -o json | jq .size) -ge 8 ]"
size0=$(pool_size neta."$node")
wait_for 30 "warm namespaces rebuilt" warm_ready "$size0"

note "a burst of 40 on a pool of $size0: every request served, no address twice"
hits0=$(sf pool show neta."$node" -o json | jq .stats.hits)
misses0=$(sf pool show neta."$node" -o json | jq .stats.misses)
rev0=$($NSX curl -s "$U/v1/containers" | jq .revision)
$NSX "$SPIKE" --endpoint "$U" --network neta --count 40 --prefix b >"$T/burst.json" || die "burst failed: $(tail -1 "$T/burst.json")"
sum=$(tail -1 "$T/burst.json")
echo "$sum"
echo "$sum" | jq -e '.failed == 0 and .duplicate_ips == 0 and .count == 40' >/dev/null || die "burst: $sum"
# the API agrees: 40 running containers, 40 distinct addresses and MACs
[ "$(sf ps -o json | jq '[.[] | select(.status.phase == "Running")] | length')" = 40 ] || die "not 40 running"
[ "$(sf port list -o json | jq '[.[] | .fixed_ips[].ip_address] | unique | length')" = "$(sf port list -o json | jq '[.[] | .fixed_ips[].ip_address] | length')" ] || die "duplicate addresses"
[ "$(sf port list -o json | jq '[.[].mac_address] | unique | length')" = "$(sf port list -o json | jq 'length')" ] || die "duplicate MACs"
p=$(sf pool show neta."$node" -o json)
hits=$(( $(echo "$p" | jq .stats.hits) - hits0 )); misses=$(( $(echo "$p" | jq .stats.misses) - misses0 ))
echo "hits $hits, misses $misses, refills $(echo "$p" | jq .stats.refills)"
[ $((hits + misses)) = 40 ] || die "hits + misses should be 40: $hits + $misses"
[ "$hits" -ge "$size0" ] || die "the pool's $size0 ports were not all used: $hits hits"
[ "$misses" -ge 1 ] || die "a burst of 40 on $size0 should have had cold requests"
[ "$(echo "$sum" | jq .cp_cold_allocations)" = "$misses" ] || die "every miss is one cold allocation"
# nothing starved: the slowest request was served within a bound
echo "$sum" | jq -e '.all_ready_ms < 60000' >/dev/null || die "a request starved: $sum"
warm=$(echo "$sum" | jq .warm)
[ "$warm" -ge 1 ] || die "no container got a warm namespace"
echo "warm $warm of 40"

note "status reports: one per change, none repeated; a quick creation is reported once"
$NSX curl -s "$U/v1/events?since=$rev0&kinds=container&limit=5000" >"$T/events.json" || die "events"
# per container, the statuses its updates carried, in order, and how long its creation took
# on the node (the Running report's timings.total_ms)
jq '[.events[] | select(.type == "updated") | {id, s: .object.status}] | group_by(.id)
    | map({n: length, total_ms: (.[-1].s.timings.total_ms // 1e9),
           dups: ([range(1; length) as $i | select(.[$i].s == .[$i - 1].s)] | length),
           seq: map(.s.phase + (if .s.message != "" then ": " + .s.message else "" end))})' \
        "$T/events.json" >"$T/reports.json"
echo "status reports: $(jq 'map(.n) | add' "$T/reports.json") for 40 containers, $(jq '[.[] | select(.total_ms < 200)] | length' "$T/reports.json") created in less than 200 ms"
[ "$(jq 'length' "$T/reports.json")" = 40 ] || die "not 40 containers reported"
[ "$(jq 'map(.dups) | add' "$T/reports.json")" = 0 ] || die "a status was reported twice: $(cat "$T/reports.json")"
# Creating is reported after 250 ms of work: a creation that took less is one report (Running)
[ "$(jq '[.[] | select(.total_ms < 200 and .n != 1)] | length' "$T/reports.json")" = 0 ] ||
        die "a quick creation was reported more than once: $(cat "$T/reports.json")"

note "the pool refills in the background afterwards, in bulk"
wait_for 30 "pool back to its min" sh -c "[ \$($NSX $SFCTL --endpoint $U pool show neta.$node -o json | jq .size) -ge 8 ]"
[ "$(metric sf_pool_refill_transactions_total)" -lt 20 ] || die "too many refill transactions: $(metric sf_pool_refill_transactions_total)"

note "removal recycles up to max, the rest is released; the network takes its pools along"
sf ps -q | xargs -r $NSX "$SFCTL" --endpoint "$U" rm >/dev/null || die "rm"
[ "$(pool_size neta."$node")" -le 64 ] || die "pool above max"
sf network delete neta >/dev/null || die "network delete"
[ "$(sf pool list -o json | jq length)" = 0 ] || die "pool left"
[ "$(sf port list -o json | jq length)" = 0 ] || die "ports left"
no_leaks() { [ -z "$(leaks)" ] && [ -z "$(ls "$RUN/warm")" ]; }
wait_for 30 "no leaks" no_leaks
stop_sfd || die "unclean stop"
echo OK
