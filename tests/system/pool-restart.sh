#!/bin/bash
# Port pools across crashes (the pain of Kuryr users: leaked ports after controller crashes,
# pools recovered port by port, duplicated pools after a failover). sfd is killed with -9
# during bulk refills and restarted: every time, the store holds all of a refill or none of
# it, no port or address is leaked or duplicated, pools are recovered in one transaction, and
# the node's warm namespaces are recovered in bulk and match the pooled ports again.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
make_ns sfpoolrestart
ARGS=(--pools on --pool-min 4 --pool-max 600 --pool-batch 4)
start_sfd "${ARGS[@]}"
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
node=$(sf node list -o json | jq -r '.[0].name')
pool=neta.$node
metric() { $NSX curl -s "$U/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# The invariants, from the API only: pooled ports are exactly the pools' contents, every
# address and MAC is held once, every address allocation belongs to a port, one pool per key.
consistent() {
        local ports pools subnets
        ports=$(sf port list -o json) && pools=$(sf pool list -o json) && subnets=$(sf subnet list -o json) || { echo "API down"; return 1; }
        local pooled sizes
        pooled=$(echo "$ports" | jq '[.[] | select(.device_owner == "compute:pool")] | length')
        sizes=$(echo "$pools" | jq '[.[].size] | add // 0')
        [ "$pooled" = "$sizes" ] || { echo "pooled ports $pooled != pool sizes $sizes"; return 1; }
        [ "$(echo "$pools" | jq '[.[] | .node + "/" + .network] | unique | length')" = "$(echo "$pools" | jq length)" ] || { echo "duplicate pools"; return 1; }
        [ "$(echo "$ports" | jq '[.[].fixed_ips[].ip_address] | unique | length')" = "$(echo "$ports" | jq '[.[].fixed_ips[].ip_address] | length')" ] || { echo "duplicate addresses"; return 1; }
        [ "$(echo "$ports" | jq '[.[].mac_address] | unique | length')" = "$(echo "$ports" | jq length)" ] || { echo "duplicate MACs"; return 1; }
        local used held
        used=$(echo "$subnets" | jq '[.[].pool_used] | add // 0')
        held=$(echo "$ports" | jq '[.[].fixed_ips[]] | length')
        [ "$used" = "$held" ] || { echo "addresses allocated $used != held by ports $held (leak)"; return 1; }
        # container ports belong to existing containers
        local orphans
        orphans=$(echo "$ports" | jq --argjson c "$(sf ps -o json | jq '[.[].id]')" '[.[] | select(.device_owner == "compute:container" and ((.device_id as $d | $c | index($d)) | not))] | length')
        [ "$orphans" = 0 ] || { echo "$orphans container port(s) without a container"; return 1; }
        return 0
}
# The node agrees: one warm namespace (or one being built) per idle pooled port of this node,
# and no port interface that belongs to nothing.
node_matches() {
        local pooled warm ifs known
        pooled=$(sf port list --node "$node" -o json | jq -r '.[] | select(.device_owner == "compute:pool") | .id' | sort)
        warm=$(ls "$RUN/warm" | grep '\.json$' | sed 's/\.json$//' | sort)
        [ "$pooled" = "$warm" ] || return 1
        known=$(sf port list --node "$node" -o json | jq -r '.[].id' | tr -d - | cut -c1-12 | sed 's/^/sfv/' | sort)
        ifs=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^sfv' | sort)
        [ -z "$(comm -13 <(echo "$known") <(echo "$ifs"))" ]
}

sf network create neta --cidr 10.71.0.0/16 -q >/dev/null || die "network"
wait_for 10 "pool" sh -c "$NSX $SFCTL --endpoint $U pool show $pool >/dev/null 2>&1"
sf run --name keeper --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run keeper"
keeper_pid=$(sf container show keeper -o json | jq .status.pid)

for delay in 0.05 0.15 0.3; do
        note "kill -9 during a refill of 400 ports (after ${delay}s)"
        before=$(sf pool show "$pool" -o json | jq .size)
        ( $NSX "$SFCTL" --endpoint "$U" pool fill "$pool" --count 400 >/dev/null 2>&1 & )
        sleep "$delay"
        kill9_sfd
        start_sfd "${ARGS[@]}"
        grep -q "port pools recovered in" "$T/sfd.log" || die "no pool recovery logged"
        after=$(sf pool show "$pool" -o json | jq .size)
        echo "pool size $before -> $after (all or nothing: $before or $((before + 400)), plus what the refiller adds)"
        out=$(consistent) || die "inconsistent after restart: $out"
        [ "$(sf pool list -o json | jq length)" = 1 ] || die "pools duplicated"
        [ "$(sf container show keeper -o json | jq .status.pid)" = "$keeper_pid" ] || die "keeper not adopted"
        wait_for 60 "the node's warm namespaces match the pool" node_matches
done

note "recovery cost does not grow with the number of ports: one transaction, one directory read"
n_idle=$(sf pool show "$pool" -o json | jq .size)
[ "$n_idle" -ge 100 ] || { sf pool fill "$pool" --count 300 >/dev/null || die "fill"; n_idle=$(sf pool show "$pool" -o json | jq .size); }
wait_for 120 "all warm" node_matches
kill9_sfd
: >"$T/sfd.log.restart"
start_sfd "${ARGS[@]}"
line=$(grep "port pools recovered in" "$T/sfd.log" | tail -1)
echo "$line"
ms=$(echo "$line" | sed -n 's/.*recovered in \([0-9.]*\) ms.*/\1/p')
awk -v m="$ms" 'BEGIN { exit !(m < 2000) }' || die "pool recovery took $ms ms for $n_idle ports"
wline=$(grep "warm namespaces recovered in" "$T/sfd.log" | tail -1)
echo "$wline"
echo "$wline" | grep -q "$n_idle ready" || die "warm namespaces not all recovered: $wline (pool $n_idle)"
built=$(metric sf_warm_built_total)
sleep 2
[ "$(metric sf_warm_built_total)" = "$built" ] || die "recovered namespaces were rebuilt"
out=$(consistent) || die "inconsistent: $out"

note "the recovered namespaces are handed out as warm ones"
sf run --name after --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run after"
sf container show after -o json | jq -e .status.timings.warm >/dev/null || die "not warm after recovery: $(sf container show after -o json | jq -c .status.timings)"

note "agent-side crash between a hand-out's bind and its unbind: that namespace is not warm any more"
# The hand-out binds a warm namespace at its workload's path first, and removes its warm path
# and fingerprint after (both off the way to ready). Stopped in between, the agent must not
# offer it again on restart: it would be shared by two workloads.
wait_for 60 "all warm" node_matches
kill9_sfd
handed_port=$(ls "$RUN/warm" | grep '\.json$' | head -1 | sed 's/\.json$//')
[ -n "$handed_port" ] || die "no warm namespace to hand out"
touch "$RUN/netns/sftest-handed" && mount --bind "$RUN/warm/$handed_port" "$RUN/netns/sftest-handed" || die "simulate the bind"
handed_ino=$(stat -L -c %i "$RUN/netns/sftest-handed")
start_sfd "${ARGS[@]}"
grep "warm namespaces recovered" "$T/sfd.log" | tail -1
wait_for 120 "warm namespaces match again" node_matches
now_ino=$(stat -L -c %i "$RUN/warm/$handed_port" 2>/dev/null)
[ "$now_ino" != "$handed_ino" ] || die "the namespace bound at a workload's path was recovered as a warm one"
umount "$RUN/netns/sftest-handed" 2>/dev/null
rm -f "$RUN/netns/sftest-handed"
out=$(consistent) || die "inconsistent: $out"

note "agent-side crash in the middle of building: half-built namespaces are removed"
sf pool drain "$pool" >/dev/null || die "drain"
wait_for 60 "warm namespaces gone" sh -c "[ -z \"\$(ls $RUN/warm)\" ]"
sf pool resize "$pool" --enable --min 200 >/dev/null || die "resize"
wait_for 60 "building" sh -c "[ \$(ls $RUN/warm | grep -c json) -ge 20 ]"
kill9_sfd
start_sfd "${ARGS[@]}"
grep "warm namespaces recovered" "$T/sfd.log" | tail -1
wait_for 120 "warm namespaces match again" node_matches
out=$(consistent) || die "inconsistent: $out"

sf rm keeper after >/dev/null || die "rm"
sf network delete neta >/dev/null || die "network delete"
no_leaks() { [ -z "$(leaks)" ] && [ -z "$(ls "$RUN/warm")" ]; }
wait_for 60 "no leaks" no_leaks
stop_sfd || die "unclean stop"
echo OK
