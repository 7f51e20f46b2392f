#!/bin/bash
# Moves (issue: move running functions between sites without dropping users), in a lab with a
# core and an edge host:
# - make-before-break behind a service address: a client making requests without pause sees
#   0 failed requests while the server moves core -> edge;
# - handover: the function keeps its IP and MAC, a peer's ping gap is measured (and reported
#   by the move), its state goes over through the handover hook; and it moves back;
# - a move to a full site is refused with the reason, before anything is touched;
# - a target that fails mid-move (its agent frozen) rolls back: the original keeps serving, and
#   the half-made copy is removed once the agent is back.
. "$(dirname "$0")/../lib.sh"
need_root
for c in runc busybox jq nsenter; do command -v $c >/dev/null || { echo "$c missing"; exit 77; }; done

LAB="m$(( $$ % 10000 ))"
DIR="$T/lab"
on_exit '"$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1 || true'
out=$("$SFCTL" lab up --name "$LAB" --dir "$DIR" --sites core:1,edge:1 --lease 7 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
sf() { "$SFCTL" --endpoint "$U" "$@"; }
agent_pid() { jq -r ".hosts[] | select(.name == \"$1\") | .agent.pid" "$DIR/lab.json"; }
host_of() { sf node show "$(sf container show "$1" -o json | jq -r .node_id)" -o json | jq -r .name; }
cpid() { sf container show "$1" -o json | jq -r .status.pid; }
# after an agent was frozen: its node may have gone NotReady (lease); wait until it is back
ready() { wait_for 30 "$1 Ready" sh -c "\"$SFCTL\" --endpoint $U node show $1 -o json | jq -e '.status.state == \"Ready\"'"; }

sf network create mv --cidr 10.73.0.0/24 -q >/dev/null || die network

note "make-before-break: a continuous HTTP client sees no failed request"
sf run --name web --node core-1 --network mv --stop-grace 1 --file /www/index.html=hello busybox -- httpd -f -p 80 -h /www >/dev/null || die "run web"
sf service create websvc --network mv --port 80 --backend web -q >/dev/null || die "service"
vip=$(sf service show websvc -o json | jq -r .vip)
# the client: one request every 20 ms, counts in /tmp/c ("ok fail")
sf run --name client --node core-1 --network mv busybox -- sh -c \
        "ok=0; fail=0; while :; do if timeout 2 wget -q -O /dev/null http://$vip/; then ok=\$((ok+1)); else fail=\$((fail+1)); fi; echo \"\$ok \$fail\" > /tmp/c.new; mv /tmp/c.new /tmp/c; usleep 20000; done" >/dev/null || die "run client"
wait_for 10 "the client gets answers" sh -c "\"$SFCTL\" --endpoint $U exec client -- cat /tmp/c | awk '\$1 > 5 {f=1} END {exit !f}'"
ip_before=$(sf container show web -o json | jq -r '.status.ips[0]')
out=$(sf move web --to edge 2>&1) || die "move web: $out"
echo "$out" | tail -3
[ "$(host_of web)" = edge-1 ] || die "web runs on $(host_of web) after the move"
sleep 1
read -r ok fail < <(sf exec client -- cat /tmp/c)
echo "client: $ok requests answered, $fail failed"
[ "$fail" = 0 ] || die "$fail failed requests during a make-before-break move"
[ "$ok" -gt 20 ] || die "too few requests ($ok) to say anything"
mv_state=$(sf moves list -o json | jq -r '[.[] | select(.workload_name == "web")][0].state')
[ "$mv_state" = COMPLETED ] || die "move state $mv_state"
ip_after=$(sf container show web -o json | jq -r '.status.ips[0]')
[ "$ip_after" != "$ip_before" ] || die "make-before-break kept the address (it should be a new instance)"
sf exec client -- wget -q -O - "http://$vip/" | grep -q hello || die "the service does not answer after the move"
[ "$(sf service show websvc -o json | jq -r '.backend_ids | length')" = 1 ] || die "the service still lists the old instance"

note "handover: same IP and MAC, the peer's ping gap measured, state handed over"
sf run --name gw --node core-1 --network mv --stop-grace 1 --move-strategy handover \
        --handover-export 'cat /state; echo handed-over' --handover-import /state busybox -- \
        sh -c 'test -f /state || echo first > /state; exec httpd -f -p 80 -h /' >/dev/null || die "run gw"
gwip=$(sf container show gw -o json | jq -r '.status.ips[0]')
mac0=$(sf exec gw -- cat /sys/class/net/eth0/address)
sf run --name peer --node edge-1 --network mv busybox -- sleep 3600 >/dev/null || die "run peer"
ppid=$(cpid peer)
nsenter -t "$ppid" -n busybox ping -c 3 -W 1 "$gwip" >/dev/null || die "peer cannot ping gw"
for dest in edge core; do
        pingout="$T/ping-$dest.txt"
        nsenter -t "$ppid" -n busybox ping -i 0.01 "$gwip" > "$pingout" 2>&1 &
        pp=$!
        sleep 1
        out=$(sf move gw --to "$dest" 2>&1) || { kill "$pp"; die "handover to $dest: $out"; }
        sleep 1
        kill -INT "$pp"; wait "$pp"
        [ "$(host_of gw)" = "$dest-1" ] || die "gw runs on $(host_of gw), not $dest-1"
        [ "$(sf container show gw -o json | jq -r '.status.ips[0]')" = "$gwip" ] || die "the IP changed"
        [ "$(sf exec gw -- cat /sys/class/net/eth0/address)" = "$mac0" ] || die "the MAC changed"
        m=$(sf moves list -o json | jq -c '[.[] | select(.workload_name == "gw")] | sort_by(.started_at) | last')
        [ "$(echo "$m" | jq -r .state)" = COMPLETED ] || die "handover state: $m"
        gap=$(echo "$m" | jq .gap_ms)
        # the longest run of unanswered pings, one every 10 ms
        pgap=$(awk -F'seq=' '/bytes from/ {split($2, a, " "); q=a[1]; if (seen && (q-last-1)*10 > g) g=(q-last-1)*10; last=q; seen=1} END {printf "%d", g}' "$pingout")
        lost=$(sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p' "$pingout")
        echo "handover to $dest: gap reported $gap ms; the peer missed at most $pgap ms of pings (one every 10 ms), loss $lost%"
        [ -n "$pgap" ] && [ "$pgap" -lt 2000 ] || die "peer's ping gap $pgap ms: the handover took too long"
        nsenter -t "$ppid" -n timeout 2 busybox wget -q -O /dev/null "http://$gwip/state" || die "gw does not serve after the handover"
done
state=$(sf exec gw -- cat /state | tr '\n' ' ')
[ "$state" = "first handed-over handed-over " ] || die "the state was not handed over twice: '$state'"

note "a move to a full site is refused with the reason, and nothing changes"
sf run --name hog --node edge-1 --cpu 1900m busybox -- sleep 3600 >/dev/null || die "run hog"
sf run --name small --node core-1 --cpu 500m --network mv busybox -- sleep 3600 >/dev/null || die "run small"
n_before=$(sf container list -o json | jq length)
out=$(sf move small --to edge 2>&1) && die "a move to a full site was accepted: $out"
echo "refused: $out"
echo "$out" | grep -qi "cpu" || die "the refusal does not say why: $out"
[ "$(sf container list -o json | jq length)" = "$n_before" ] || die "a refused move created something"
[ "$(host_of small)" = core-1 ] && [ "$(phase small)" = Running ] || die "small was touched"
sf rm hog >/dev/null || die "rm hog"

note "a target failing mid-move: rolled back, the original keeps serving"
# web runs on edge-1 now: freeze the target, core-1
apid=$(agent_pid core-1)
on_exit "kill -CONT $apid 2>/dev/null || true"
kill -STOP "$apid"
out=$(sf move web --to core --timeout 3 2>&1)
rc=$?
kill -CONT "$apid"
echo "$out" | tail -2
[ "$rc" != 0 ] || die "a move to a frozen node succeeded: $out"
m=$(sf moves list -o json | jq -c '[.[] | select(.workload_name == "web")] | sort_by(.started_at) | last')
[ "$(echo "$m" | jq -r .state)" = ROLLED_BACK ] || die "not rolled back: $m"
[ "$(host_of web)" = edge-1 ] && [ "$(phase web)" = Running ] || die "the original is not serving on edge-1"
read -r ok1 fail1 < <(sf exec client -- cat /tmp/c)
sleep 1
read -r ok2 fail2 < <(sf exec client -- cat /tmp/c)
[ "$ok2" -gt "$ok1" ] || die "the service stopped answering"
echo "client during the failed move: $((fail2)) failed requests in all"
[ "$fail2" = 0 ] || die "requests failed while a move failed"
ready core-1
wait_for 30 "the half-made copy is gone" sh -c "[ \$(\"$SFCTL\" --endpoint $U container list -o json | jq '[.[] | select(.name | startswith(\"web-m\"))] | length') = 0 ]"

note "a handover whose target fails: rolled back, the original keeps its address and serves"
gwid=$(sf container show gw -o json | jq -r .id)
erun=$(jq -r '.hosts[] | select(.name == "edge-1") | .run_dir' "$DIR/lab.json")
apid=$(agent_pid edge-1)
on_exit "kill -CONT $apid 2>/dev/null || true"
kill -STOP "$apid"
out=$(sf move gw --to edge --timeout 3 2>&1)
rc=$?
kill -CONT "$apid"
[ "$rc" != 0 ] || die "a handover to a frozen node succeeded: $out"
m=$(sf moves list -o json | jq -c '[.[] | select(.workload_name == "gw")] | sort_by(.started_at) | last')
[ "$(echo "$m" | jq -r .state)" = ROLLED_BACK ] || die "handover not rolled back: $m"
[ "$(host_of gw)" = core-1 ] && [ "$(phase gw)" = Running ] || die "gw is not serving on core-1"
nsenter -t "$ppid" -n timeout 2 busybox wget -q -O /dev/null "http://$gwip/state" || die "gw does not serve after the failed handover"
# the target prepared nothing or removes what it prepared once it is back
wait_for 30 "edge-1 forgets the prepared copy" sh -c "[ ! -e '$erun/netns/$gwid' ]"
ready edge-1

note "moves inside a network service: NS operations, the descriptor's strategy, records follow"
D="$top/tests/data/descriptors"
for f in client router video; do sf vnfd onboard "$D/demo-$f-vnfd.yaml" >/dev/null || die "onboard $f"; done
sf nsd onboard "$D/demo-nsd.yaml" >/dev/null || die "onboard the NSD"
printf 'site: core\nvcpu-millis: 100\nstop-grace-seconds: 1\n' > "$T/demo.yaml"
sf ns create demo --nsd demo-ns --config "$T/demo.yaml" >/dev/null || die "ns create"
sf ns instantiate demo >/dev/null || die "instantiate: $(sf ns ops demo)"
vip0=$(sf container show demo-3-video-0 -o json | jq -r '.status.ips[0]')
cid0=$(sf container show demo-1-client-0 -o json | jq -r .id)
ports0=$(sf port list -o json | jq length)
out=$(sf container show demo-3-video-0 -o json | jq -r .move_strategy)
[ "$out" = handover ] || die "the VDU's superfluid-move-strategy did not reach its container: $out"
# the VIM refuses to move a VDU instance behind its NS's back
code=$(curl -s -o "$T/r.json" -w '%{http_code}' -X POST "$U/v1/containers/demo-3-video-0/move" -d '{"to": "edge"}')
[ "$code" = 409 ] && grep -q "move it through the NS" "$T/r.json" || die "a direct VIM move of a VDU instance: $code $(cat "$T/r.json")"
# a VNF instance by name: the whole VNF, by its descriptor's strategy (handover)
out=$(sf move demo-3 --to edge 2>&1) || die "move VNF demo-3: $out"
echo "$out" | tail -3
[ "$(host_of demo-3-video-0)" = edge-1 ] || die "video is on $(host_of demo-3-video-0)"
[ "$(sf container show demo-3-video-0 -o json | jq -r '.status.ips[0]')" = "$vip0" ] || die "handover changed the IP"
op=$(sf ns ops demo -o json | jq -c '[.[] | select(.operation == "MOVE")] | last')
[ "$(echo "$op" | jq -r .state)" = COMPLETED ] || die "MOVE operation: $op"
[ "$(echo "$op" | jq -r '.moves[0].strategy')" = handover ] || die "not a handover: $op"
[ "$(sf ns show demo -o json | jq -r '.config.vnf["3"].site')" = edge ] || die "the NS does not place VNF 3 at the edge now"
# a VDU instance by its container name, make-before-break: a new container, the record follows
out=$(sf move demo-1-client-0 --to edge-1 --strategy make-before-break 2>&1) || die "move demo-1-client-0: $out"
cid1=$(sf container show demo-1-client-0 -o json | jq -r .id)
[ "$cid1" != "$cid0" ] || die "make-before-break kept the container"
rec=$(sf ns show demo -o json | jq -r '.vnfs[] | select(.member_vnf_index == "1") | .vdus[0].instances[0] | "\(.container_id) \(.status.phase) \(.status.node)"')
[ "$rec" = "$cid1 Running edge-1" ] || die "the VNF record does not follow: $rec"
[ "$(sf port list -o json | jq length)" = "$ports0" ] || die "ports leaked by the move: $(sf port list)"
sf ns terminate demo >/dev/null || die "terminate"
sf ns delete demo >/dev/null || die "ns delete"
[ "$(sf port list -o json | jq '[.[] | select(.name | startswith("demo"))] | length')" = 0 ] || die "ports left: $(sf port list)"

note "bad input"
out=$(sf move web --to nowhere 2>&1) && die "moved to nowhere"
echo "$out" | grep -q "to" || die "no field in: $out"
out=$(sf move web --to edge-1 --strategy teleport 2>&1) && die "strategy teleport accepted"
echo "$out" | grep -q "strategy" || die "no field in: $out"
out=$(sf move web --to edge-1 2>&1) && die "moved to where it is"

note "lab down leaves nothing"
sf rm client web gw peer small >/dev/null 2>&1
"$SFCTL" lab down --dir "$DIR" >/dev/null || die "lab down"
echo "PASS"
