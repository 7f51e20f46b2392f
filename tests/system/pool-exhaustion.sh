#!/bin/bash
# Port pools never starve real requests. On a small subnet (a /28: 13 addresses) with pools on
# two nodes, refills never take more than half of what is free, pools shrink as the subnet
# fills, a request that finds the subnet exhausted first reclaims an idle pooled port (here the
# other node's), a request for an address that a pool holds gets it, and only when no address
# is left at all does a request fail: 409 naming the subnet, at once (no timeout).
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
make_ns sfpoolexh
start_sfd --pools on
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
node=$(sf node list -o json | jq -r '.[0].name')

note "a second node (registered by hand, Ready, no agent) has a pool on the network too"
sf node create far -q >/dev/null || die "node"
api PATCH /v1/nodes/far '{"status": {"state": "Ready", "reason": "test"}}'; expect_status 200 "far Ready"
sf network create small --cidr 10.81.0.0/28 --pool-min 4 --pool-max 8 --pool-batch 4 -q >/dev/null || die "network"
wait_for 10 "both pools" sh -c "[ \$($NSX $SFCTL --endpoint $U pool list -o json | jq '[.[].size] | add') -ge 6 ]"
sf pool list
free() { sf subnet show small-v4 -o json | jq '.pool_size - .pool_used'; }
pooled() { sf pool list -o json | jq '[.[].size] | add'; }
[ "$(pooled)" -le 9 ] || die "pools took more than half of what was free"

note "13 requests on this node: every one gets an address, none twice"
ips=""
for i in $(seq 1 13); do
        f=$(free); p=$(pooled)
        sf run --name c$i --node "$node" --stop-grace 0 --network small busybox -- sleep 3600 >/dev/null || die "run c$i (free $f, pooled $p)"
        ip=$(sf container show c$i -o json | jq -r '.status.ips[0]')
        echo "c$i: $ip (before: $f free, $p pooled)"
        case " $ips " in *" $ip "*) die "$ip handed out twice" ;; esac
        ips="$ips $ip"
        # pools shrink to what is free: the idle ports never exceed what was free and pooled
        [ "$(pooled)" -le $((f + p)) ] || die "pools grew past the free addresses"
done
[ "$(free)" = 0 ] || die "the subnet should be full"
[ "$(pooled)" = 0 ] || die "no address may stay pooled when requests need them: $(pooled)"
reclaims=$($NSX curl -s "$U/metrics" | awk '$1 == "sf_pool_reclaims_total" { print $2 }')
[ "$reclaims" -ge 1 ] || die "the other node's idle ports were not reclaimed"
echo "reclaimed from pools: $reclaims"

note "really exhausted: 409 naming the subnet, at once"
t0=$(date +%s%N)
err=$(sf run --name c14 --node "$node" --stop-grace 0 --network small busybox -- sleep 3600 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "$err (exit $rc, $ms ms)"
[ $rc = 4 ] || die "expected exit 4 (conflict), got $rc: $err"
echo "$err" | grep -q "subnet 'small-v4' (10.81.0.0/28) is exhausted" || die "the error does not name the subnet: $err"
[ $ms -lt 5000 ] || die "the answer took $ms ms"
api POST /v1/containers '{"name":"c14","image":"busybox","node":"'"$node"'","networks":["small"]}'
expect_error 409 "networks[0]" "subnet 'small-v4' (10.81.0.0/28) is exhausted" "API"

note "a freed port goes back to its pool, and the next request gets it"
sf rm c1 >/dev/null || die "rm c1"
[ "$(sf pool show small."$node" -o json | jq .size)" = 1 ] || die "c1's port not recycled"
sf run --name c15 --node "$node" --stop-grace 0 --network small busybox -- sleep 3600 >/dev/null || die "run c15"

note "an address held by a pool is freed for a request that names it"
sf rm c2 >/dev/null || die "rm c2"
held=$(sf port list -o json | jq -r '.[] | select(.device_owner == "compute:pool") | .fixed_ips[0].ip_address' | head -1)
[ -n "$held" ] || die "no pooled address"
sf rm c3 >/dev/null || die "rm c3" # a free address for nothing: the named one must still come from the pool
sf run --name named --node "$node" --stop-grace 0 --network "small=$held" busybox -- sleep 3600 >/dev/null || die "run named"
[ "$(sf container show named -o json | jq -r '.status.ips[0]')" = "$held" ] || die "named did not get $held"

sf ps -q | xargs -r $NSX "$SFCTL" --endpoint "$U" rm >/dev/null || die "rm"
sf network delete small >/dev/null || die "network delete"
sf node delete far >/dev/null || die "node delete (its pool goes with it)"
no_leaks() { [ -z "$(leaks)" ] && [ -z "$(ls "$RUN/warm")" ]; }
wait_for 30 "no leaks" no_leaks
stop_sfd || die "unclean stop"
echo OK
