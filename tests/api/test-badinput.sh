#!/bin/bash
# Bad input gets a 4xx naming the field and the reason, and never hurts the daemon.
. "$(dirname "$0")/../lib.sh"
start_sfd
sf network create n1 --cidr 10.9.0.0/24 -q >/dev/null || die setup
sf node create node1 -q >/dev/null || die setup

check() { # method path body status field msg
        api "$1" "$2" "$3"
        expect_error "$4" "$5" "$6" "$1 $2 $3"
}

note "malformed and oversize bodies"
check POST /v1/networks '{"name":' 400 - "malformed JSON" 
check POST /v1/networks '' 400 - "empty"
check POST /v1/networks '[1,2]' 400 - "must be a JSON object"
check POST /v1/networks '{"name":"a","name":"b"}' 400 - "duplicate"
{ printf '{"name":"x","description":"'; head -c 1100000 /dev/zero | tr '\0' 'a'; printf '"}'; } > "$T/big.json"
api POST /v1/networks "@$T/big.json"; expect_status 413 "oversize body"
check POST /v1/networks "{\"name\":\"x\",\"description\":\"$(head -c 2000 /dev/zero | tr '\0' 'a')\"}" 400 description "at most 1024"

note "unknown fields and wrong types"
check POST /v1/networks '{"name":"x","colour":"red"}' 400 colour "unknown field"
check POST /v1/networks '{"name":"x","mtu":"big"}' 400 mtu "integer"
check POST /v1/networks '{"name":"x","mtu":10}' 400 mtu "between 68 and 9000"
check POST /v1/networks '{"name":"x","vni":0}' 400 vni "between"
check POST /v1/networks '{"name":"x","vni":16777216}' 400 vni "between"
check POST /v1/networks '{"name":"bad name"}' 400 name "not a valid name"
check POST /v1/networks '{"name":""}' 400 name "not a valid name"
check POST /v1/networks '{"name":7}' 400 name "must be a string"
check POST /v1/networks '{"name":"n1"}' 409 name "already exists"
api POST /v1/networks '{"name":"vx","vni":4242}'; expect_status 201 "vni"
check POST /v1/networks '{"name":"vy","vni":4242}' 409 vni "already in use"

note "subnets"
check POST /v1/subnets '{"network":"n1"}' 400 cidr "required"
check POST /v1/subnets '{"cidr":"10.0.0.0/24"}' 400 network "required"
check POST /v1/subnets '{"network":"nope","cidr":"10.0.0.0/24"}' 400 network "does not exist"
check POST /v1/subnets '{"network":"n1","cidr":"10.0.0.0"}' 400 cidr "not a CIDR"
check POST /v1/subnets '{"network":"n1","cidr":"10.0.0.0/33"}' 400 cidr "not a CIDR"
check POST /v1/subnets '{"network":"n1","cidr":"300.0.0.0/24"}' 400 cidr "not a CIDR"
check POST /v1/subnets '{"network":"n1","cidr":"10.0.0.7/24"}' 400 cidr "did you mean 10.0.0.0/24"
check POST /v1/subnets '{"network":"n1","cidr":"10.9.0.128/25"}' 409 cidr "overlaps"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","gateway_ip":"10.8.0.1"}' 400 gateway_ip "not in"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","gateway_ip":"10.7.0.255"}' 400 gateway_ip "broadcast"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","allocation_pools":[{"start":"10.7.0.1","end":"10.7.0.9"}]}' 400 "allocation_pools[0]" "gateway"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","allocation_pools":[{"start":"10.7.0.9","end":"10.7.0.5"}]}' 400 "allocation_pools[0].end" "before start"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","allocation_pools":[{"start":"10.7.0.5","end":"10.7.1.5"}]}' 400 "allocation_pools[0].end" "not in"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","allocation_pools":[{"start":"10.7.0.5","end":"10.7.0.20"},{"start":"10.7.0.10","end":"10.7.0.30"}]}' 400 "allocation_pools[1]" "overlaps"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","dns_nameservers":["8.8.8"]}' 400 "dns_nameservers[0]" "IP address"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","host_routes":[{"destination":"x","nexthop":"10.7.0.1"}]}' 400 "host_routes[0].destination" "not a CIDR"
check POST /v1/subnets '{"network":"n1","cidr":"10.7.0.0/24","ip_version":6}' 400 ip_version "does not match"

note "ports"
check POST /v1/ports '{}' 400 network "required"
check POST /v1/ports '{"network":"n1","mac_address":"zz:00:00:00:00:00"}' 400 mac_address "not a unicast MAC"
check POST /v1/ports '{"network":"n1","mac_address":"01:00:5e:00:00:01"}' 400 mac_address "not a unicast MAC"
check POST /v1/ports '{"network":"n1","mac_address":"00:00:00:00:00:00"}' 400 mac_address "not a unicast MAC"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"10.9.1.5"}]}' 400 "fixed_ips[0].ip_address" "no subnet"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"10.9.0.1"}]}' 400 "fixed_ips[0].ip_address" "gateway"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"10.9.0.0"}]}' 400 "fixed_ips[0].ip_address" "network address"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"10.9.0.255"}]}' 400 "fixed_ips[0].ip_address" "broadcast"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"nope"}]}' 400 "fixed_ips[0].ip_address" "not an IP"
check POST /v1/ports '{"network":"n1","fixed_ips":[{}]}' 400 "fixed_ips[0]" "needs a subnet"
check POST /v1/ports '{"network":"n1","fixed_ips":"10.9.0.5"}' 400 fixed_ips "must be an array"
check POST /v1/ports '{"network":"n1","allowed_address_pairs":[{"mac_address":"02:00:00:00:00:01"}]}' 400 "allowed_address_pairs[0].ip_address" "required"
check POST /v1/ports '{"network":"n1","node":"ghost"}' 400 node "does not exist"
api POST /v1/ports '{"name":"p1","network":"n1","mac_address":"02:11:22:33:44:55","fixed_ips":[{"ip_address":"10.9.0.5"}]}'; expect_status 201 "port"
check POST /v1/ports '{"network":"n1","mac_address":"02:11:22:33:44:55"}' 409 mac_address "already in use"
check POST /v1/ports '{"network":"n1","fixed_ips":[{"ip_address":"10.9.0.5"}]}' 409 "fixed_ips[0].ip_address" "already allocated"
check PATCH /v1/ports/p1 '{"mac_address":"02:11:22:33:44:56"}' 400 mac_address "cannot be changed"
check PATCH /v1/ports/p1 '{"network":"vx"}' 400 network "cannot be changed"
check PATCH /v1/ports/p1 '{"status":"HAPPY"}' 400 status "must be"
check PATCH /v1/ports/p1 '{"nonsense":1}' 400 nonsense "unknown field"
# a failed create must not leak what it allocated before failing
api POST /v1/ports '{"network":"n1","mac_address":"02:aa:aa:aa:aa:aa","fixed_ips":[{"ip_address":"10.9.0.6"},{"ip_address":"10.9.0.5"}]}'
expect_status 409 "second address taken"
api POST /v1/ports '{"network":"n1","mac_address":"02:aa:aa:aa:aa:aa","fixed_ips":[{"ip_address":"10.9.0.6"}]}'
expect_status 201 "a rolled-back create frees its MAC and addresses"

note "sites and nodes"
check POST /v1/sites '{"name":"s","kind":"moon"}' 400 kind "not a site kind"
check POST /v1/nodes '{"name":"x","underlay_ip":"1.2.3"}' 400 underlay_ip "not an IP"
check POST /v1/nodes '{"name":"x","capacity":{"cpu_millis":-1}}' 400 capacity.cpu_millis "between"
check POST /v1/nodes '{"name":"x","capacity":{"gpus":1}}' 400 capacity.gpus "unknown field"
check POST /v1/nodes '{"name":"x","status":{"state":"Happy"}}' 400 status.state "must be"
check POST /v1/nodes '{"name":"x","agent_url":"ftp://x"}' 400 agent_url "http"
check POST /v1/nodes '{"name":"x","labels":{"a b":"c"}}' 400 labels "not valid"

note "paths, methods, queries"
api GET /v1/nothing; expect_error 404 - "no resource type" "unknown kind"
api GET /nothing; expect_error 404 - "under /v1" "outside /v1"
api GET /v1/ports/doesnotexist; expect_error 404 - "not found" "missing object"
api PUT /v1/ports/p1 '{}'; expect_error 405 - "PATCH" "PUT"
api GET "/v1/ports?colour=red"; expect_error 400 colour "unknown filter" "unknown filter"
api GET "/v1/ports?limit=0"; expect_error 400 limit "1 to 100000" "bad limit"
api GET "/v1/events?since=abc"; expect_error 400 since "revision" "bad since"
api GET "/v1/events?since=0&timeout=9999"; expect_error 400 timeout "0 to 300" "bad timeout"
out=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'If-Match: banana' -d '{}' "$U/v1/ports/p1")
[ "$out" = 400 ] || die "bad If-Match should be 400, got $out"

note "sfctl usage errors and exit codes"
sf port create --bogus 2>/dev/null; [ $? = 2 ] || die "unknown option should exit 2"
sf frobnicate 2>/dev/null; [ $? = 2 ] || die "unknown resource should exit 2"
sf port show ghost 2>/dev/null; [ $? = 3 ] || die "not found should exit 3"
sf network create n1 2>/dev/null; [ $? = 4 ] || die "conflict should exit 4"
sf network create x --mtu 5 2>/dev/null; [ $? = 1 ] || die "invalid should exit 1"
sf network create y --mtu five 2>/dev/null; [ $? = 1 ] || die "bad integer should exit 1"
"$SFCTL" --endpoint http://127.0.0.1:1 network list 2>/dev/null; [ $? = 6 ] || die "unreachable should exit 6"
msg=$(sf network create x --mtu 5 2>&1); echo "$msg" | grep -q "^sfctl: mtu: must be between 68 and 9000" || die "CLI message: $msg"

note "sfd's own flags: refused before anything starts, the flag and the range named"
for bad in "--control-nice 5" "--control-nice -21" "--control-nice x" "--workers 0" "--pool-min x" "--sync maybe" "--lock-priority fast" "--agent-calls tcp"; do
        # shellcheck disable=SC2086
        msg=$("$SFD" $bad --state-dir "$T/never" --listen 127.0.0.1:0 2>&1) && die "sfd $bad started"
        flag=${bad%% *}
        echo "$msg" | grep -q -- "^sfd: ${flag}: " || die "sfd $bad: message does not name ${flag}: $msg"
        [ ! -e "$T/never" ] || die "sfd $bad created its state directory"
done

note "the daemon survived all of it"
curl -sf "$U/healthz" >/dev/null || die "daemon died"
stop_sfd || die "unclean stop"
echo OK
