#!/bin/bash
# CRUD over the API and sfctl: networks, subnets, ports, sites, nodes; filters; revisions and
# If-Match; the event watch; health and metrics; clean shutdown.
. "$(dirname "$0")/../lib.sh"
start_sfd

note "network and subnet through sfctl"
sf network create net1 --cidr 10.1.0.0/24 -q >/dev/null || die "network create"
sf network create net2 --mtu 1400 -q >/dev/null || die "network create net2"
sf subnet create net2-v6 --network net2 --cidr fd00:2::/64 -q >/dev/null || die "v6 subnet"
[ "$(sf network show net2 -o json | jq .mtu)" = 1400 ] || die "mtu"
v1=$(sf network show net1 -o json | jq .vni); v2=$(sf network show net2 -o json | jq .vni)
[ "$v1" != "$v2" ] || die "VNIs must differ ($v1)"
sf network list | grep -q '^net1 ' || die "network list"

note "ports: automatic and requested addresses, names, filters"
p1=$(sf port create web --network net1 -o json) || die "port create"
ip1=$(echo "$p1" | jq -r '.fixed_ips[0].ip_address')
[ "$ip1" = 10.1.0.2 ] || die "first address should be 10.1.0.2 (gateway .1), got $ip1"
echo "$p1" | jq -r .mac_address | grep -Eq '^02:5f:([0-9a-f]{2}:){3}[0-9a-f]{2}$' || die "MAC format"
sf port create db --network net1 --ip 10.1.0.50 -q >/dev/null || die "requested ip"
p6=$(sf port create v6 --network net2 -o json) || die "v6 port"
echo "$p6" | jq -r '.fixed_ips[0].ip_address' | grep -q '^fd00:2::' || die "v6 address: $p6"
[ "$(sf port list --network net1 -o json | jq length)" = 2 ] || die "filter by network"
[ "$(sf port list --network net2 -o json | jq length)" = 1 ] || die "filter by network 2"
[ "$(sf port list --network nosuch -o json | jq length)" = 0 ] || die "filter by unknown network"
sf port update web --device-id abc --device-owner network:test -q >/dev/null || die "port update"
[ "$(sf port list --device-id abc -o json | jq -r '.[0].name')" = web ] || die "filter by device_id"

note "sites and nodes"
sf site create edge1 --kind edge -q >/dev/null || die "site"
sf node create n1 --site edge1 --cpu 4000 --memory 8Gi --underlay-ip 192.168.50.2 -q >/dev/null || die "node"
[ "$(sf node list --site edge1 -o json | jq length)" = 1 ] || die "node filter"
# a status write (a heartbeat) is answered with the controller's lease (default 15 s)
api PATCH /v1/nodes/n1 '{"status": {"state": "Ready", "heartbeat_at": "2026-01-01T00:00:00Z"}}'
expect_status 200 "heartbeat"
[ "$(echo "$BODY" | jq .status.lease_seconds)" = 15 ] || die "heartbeat answer without the lease: $BODY"
api PATCH /v1/nodes/n1 '{"status": {"state": "Ready", "lease_seconds": 1}}'
expect_error 400 status.lease_seconds "unknown field" "a client setting the lease"
sf port update web --node n1 -q >/dev/null || die "bind port"
[ "$(sf port list --node n1 -o json | jq -r '.[0].name')" = web ] || die "filter by node"
api DELETE /v1/nodes/n1; expect_error 409 - "bound port" "delete node with ports"
api DELETE /v1/sites/edge1; expect_error 409 - "node" "delete site with nodes"

note "revisions, ETag and If-Match"
api GET /v1/ports/web; expect_status 200 "get"
rev=$(echo "$BODY" | jq .revision)
etag=$(curl -sI "$U/v1/ports/web" | tr -d '\r' | awk 'tolower($1)=="etag:"{print $2}')
[ "$etag" = "\"$rev\"" ] || die "ETag $etag != revision $rev"
out=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "If-Match: \"$((rev - 1))\"" -d '{"description":"x"}' "$U/v1/ports/web")
[ "$out" = 412 ] || die "stale If-Match should be 412, got $out"
out=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "If-Match: \"$rev\"" -d '{"description":"x"}' "$U/v1/ports/web")
[ "$out" = 200 ] || die "matching If-Match should be 200, got $out"
sf port update web --description y --if-match "$rev"; [ $? = 4 ] || die "sfctl stale --if-match should exit 4"

note "events: list and long-poll watch"
r0=$(curl -s "$U/healthz" | jq .revision)
api GET "/v1/events?since=0"; expect_status 200 "events"
[ "$(echo "$BODY" | jq '.events | length')" -ge 8 ] || die "events since 0"
( sleep 0.5; sf port create late --network net1 -q >/dev/null ) &
bg=$!
t0=$(date +%s%N)
api GET "/v1/events?since=$r0&timeout=10&kinds=port"; expect_status 200 "watch"
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $bg
[ "$(echo "$BODY" | jq -r '.events[0].object.name')" = late ] || die "watch did not return the new port: $BODY"
[ "$dt" -lt 5000 ] || die "watch took ${dt} ms: long-poll did not wake up"
[ "$(echo "$BODY" | jq -r '.events[0].type')" = created ] || die "event type"

note "delete frees addresses"
sf port delete db >/dev/null || die "delete"
sf port create db2 --network net1 --ip 10.1.0.50 -q >/dev/null || die "address not freed"
api DELETE /v1/networks/net1; expect_error 409 - "still has" "delete network with ports"
echo "$BODY" | jq -r .error.message | grep -q "'web'" || die "409 should list the ports: $BODY"
for p in web late db2; do sf port delete $p >/dev/null || die "delete $p"; done
sf network delete net1 >/dev/null || die "delete network"
[ "$(sf subnet list -o json | jq length)" = 1 ] || die "subnets of deleted network should be gone"

note "health and metrics"
curl -sf "$U/healthz" | jq -e '.status == "ok"' >/dev/null || die healthz
m=$(curl -sf "$U/metrics")
echo "$m" | grep -q 'sf_http_requests_total{route="/v1/ports",method="POST",code="2xx"}' || die "request counter"
echo "$m" | grep -q 'sf_http_request_duration_seconds_bucket{route="/v1/ports/{id}",method="GET",le="0.001"}' || die "latency histogram"
echo "$m" | grep -q 'sf_resources{kind="port"} 1' || die "resources per kind: $(echo "$m" | grep sf_resources)"

note "restart keeps everything"
before=$(sf port list -o json | jq -c '[.[] | {id, mac_address, fixed_ips}]')
stop_sfd || die "sfd did not stop cleanly"
start_sfd
after=$(sf port list -o json | jq -c '[.[] | {id, mac_address, fixed_ips}]')
[ "$before" = "$after" ] || die "state changed across restart"
stop_sfd || die "sfd did not stop cleanly"
echo OK
