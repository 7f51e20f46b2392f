#!/bin/bash
# Node agent end to end (issue: networked containers through an OCI runtime): an all-in-one
# sfd inside a test network namespace runs real containers with runc.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
make_ns sfagent
start_sfd
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"

note "two containers on one network: ping and TCP"
sf network create neta --cidr 10.11.0.0/24 -q >/dev/null || die "network"
sf network create netb --cidr 10.12.0.0/24 -q >/dev/null || die "network"
sf run --name web --network neta busybox -- httpd -f -p 80 -h /var/www >/dev/null || die "run web"
sf run --name cli --network neta busybox -- sleep 3600 >/dev/null || die "run cli"
[ "$(phase web)" = Running ] || die "web not running: $(sf container show web)"
webip=$(sf container show web -o json | jq -r '.status.ips[0]')
[[ "$webip" == 10.11.0.* ]] || die "web IP $webip"
sf exec cli -- ping -c 2 -W 2 "$webip" >/dev/null || die "ping web from cli"
page=$(sf exec cli -- wget -q -O - "http://$webip/") || die "wget web from cli"
echo "$page" | grep -qi busybox || die "unexpected page: $page"

note "the kernel agrees: veth named eth0 with the port's MAC, default route via the gateway"
cid=$(sf container show web -o json | jq -r .id)
mac=$(sf port list --device-id "$cid" -o json | jq -r '.[0].mac_address')
ip -n "$NS" link show sfb"$(sf network show neta -o json | jq .vni)" >/dev/null || die "bridge missing"
out=$(sf exec web -- ip link show eth0) || die "exec ip link"
echo "$out" | grep -q "$mac" || die "eth0 MAC is not the port's ($mac): $out"
echo "$out" | grep -q "mtu 1450" || die "eth0 MTU: $out"
sf exec web -- ip route | grep -q "default via 10.11.0.1" || die "default route"
[ -e "$RUN/netns/$cid" ] || die "netns not bind-mounted under the run dir"
br=sfb"$(sf network show neta -o json | jq .vni)"
# host ends are bridge ports without IPv6 addresses (no DAD, RS or MLD flooded to the others)
hosts=$(ip -n "$NS" -o link show master "$br" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
[ "$(echo "$hosts" | wc -w)" -ge 2 ] || die "host ends on $br: '$hosts'"
for h in $hosts; do
        [ -z "$(ip -n "$NS" -6 -o addr show dev "$h")" ] || die "host end $h has IPv6 addresses: $(ip -n "$NS" -6 -o addr show dev "$h")"
        ip -n "$NS" -d link show dev "$h" | grep -q 'addrgenmode none' || die "host end $h: addrgenmode is not none"
done

note "the network is plumbed while runc creates the container, and ready before its process runs"
# a first command that says whether its address and default route were there when it started
netcheck='if ip -4 -o addr show dev eth0 | grep -q "inet 10.11.0." && ip route | grep -q "^default via 10.11.0.1"; then echo net-ready-at-start; else echo net-NOT-ready-at-start; fi; exec sleep 3600'
sf run --name early --network neta busybox -- sh -c "$netcheck" >/dev/null || die "run early"
wait_for 5 "early's first words" sh -c "$NSX $SFCTL --endpoint $U logs early | grep -q net-"
sf logs early | grep -q net-ready-at-start || die "the process ran before its network was ready: $(sf logs early)"
timings=$(sf container show early -o json | jq -c .status.timings)
[ "$(echo "$timings" | jq .network_overlapped)" = true ] || die "plumbing did not overlap the runtime: $timings"
sf rm --force early >/dev/null || die "rm early"

note "a burst: creations beyond the CPU count plumb first and start without the gate, and still run with their network"
ncpu=$(nproc)
nb=$(( ncpu * 4 < 12 ? ncpu * 4 : 12 ))
pids=()
for i in $(seq 1 "$nb"); do
        $NSX "$SFCTL" --endpoint "$U" run --name "early$i" --network neta -q busybox -- sh -c "$netcheck" >/dev/null &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "run of the burst"; done
ungated=0
for i in $(seq 1 "$nb"); do
        wait_for 20 "early$i's first words" sh -c "$NSX $SFCTL --endpoint $U logs early$i 2>/dev/null | grep -q net-"
        sf logs "early$i" | grep -q net-ready-at-start || die "early$i ran before its network was ready: $(sf logs "early$i")"
        [ "$(sf container show "early$i" -o json | jq '.status.timings | .network_overlapped == false and .warm != true')" = true ] &&
                ungated=$((ungated + 1))
done
# on two to four CPUs a burst of 4x their number always has creations beyond them in flight
[ "$ncpu" -gt 4 ] || [ "$ungated" -gt 0 ] || die "no creation of a burst of $nb on $ncpu CPUs went without the start gate"
note "  $ungated of $nb started without the gate"
for i in $(seq 1 "$nb"); do sf rm --force "early$i" >/dev/null || die "rm early$i"; done

note "isolation between networks, and routing when a router joins them"
sf run --name other --network netb busybox -- sleep 3600 >/dev/null || die "run other"
otherip=$(sf container show other -o json | jq -r '.status.ips[0]')
sf exec other -- ping -c 1 -W 1 "$webip" >/dev/null && die "network B reached network A without a router"
sf router create r1 --subnet neta-v4 --subnet netb-v4 -q >/dev/null || die "router"
wait_for 10 "routed ping" $NSX "$SFCTL" --endpoint "$U" exec other -- ping -c 1 -W 1 "$webip"
sf exec other -- wget -q -O /dev/null "http://$webip/" || die "routed TCP"
sf router delete r1 >/dev/null || die "router delete"
wait_for 10 "isolation back" sh -c "! $NSX $SFCTL --endpoint $U exec other -- ping -c 1 -W 1 $webip"

note "logs and exec"
sf run --name talker --network neta busybox -- sh -c 'echo hello-from-talker; echo oops >&2; sleep 3600' >/dev/null || die "run talker"
wait_for 5 "logs" sh -c "$NSX $SFCTL --endpoint $U logs talker | grep -q hello-from-talker"
sf logs talker | grep -q oops || die "stderr not in logs"
sf exec talker -- sh -c 'exit 3'; [ $? = 3 ] || die "exec should return the command's status"
[ "$(sf exec talker -- hostname)" = talker ] || die "hostname"
# sfd's request threads run at --control-nice (-20 by default), and `sfctl exec` is served by
# one of them: neither the exec'd process nor the container's own may inherit that priority.
# The listening thread too: it accepts, and each connection's thread starts with its priority.
mhd_nice=$(for t in /proc/$SFD_PID/task/*; do case "$(cat "$t/comm")" in MHD-*) awk '{ print $19 }' "$t/stat" ;; esac; done | sort -n | uniq)
[ "$mhd_nice" = -20 ] || die "sfd's listening and request threads should all run at nice -20, not '$mhd_nice'"
[ "$(sf exec talker -- sh -c 'cut -d" " -f19 /proc/self/stat')" = 0 ] || die "exec'd process inherited a raised priority"
[ "$(sf exec talker -- sh -c 'cut -d" " -f19 /proc/1/stat')" = 0 ] || die "the container's process inherited a raised priority"
# Nor the real-time priority of a thread holding the store's writer lock or the agent's lock
# (--lock-priority): field 41 of stat is the scheduling policy, 0 for SCHED_OTHER.
[ "$(sf exec talker -- sh -c 'cut -d" " -f41 /proc/self/stat')" = 0 ] || die "exec'd process inherited a real-time policy"
[ "$(sf exec talker -- sh -c 'cut -d" " -f41 /proc/1/stat')" = 0 ] || die "the container's process inherited a real-time policy"

note "restart policies, stop and start"
sf run --name crash --restart on-failure --network neta busybox -- sh -c 'sleep 0.3; exit 2' >/dev/null || die "run crash"
wait_for 20 "a restart" sh -c "[ \$($NSX $SFCTL --endpoint $U container show crash -o json | jq .status.restarts) -ge 1 ]"
sf run --name once --restart never busybox -- sh -c 'exit 5' >/dev/null
wait_for 10 "Exited" sh -c "[ \$($NSX $SFCTL --endpoint $U container show once -o json | jq -r .status.phase) = Exited ]"
[ "$(sf container show once -o json | jq .status.exit_code)" = 5 ] || die "exit code"
sf stop talker >/dev/null || die "stop"
[ "$(phase talker)" = Stopped ] || die "talker should be Stopped"
sf start talker >/dev/null || die "start"
[ "$(phase talker)" = Running ] || die "talker should be Running again"

note "bad input: clear errors"
err=$(sf run --name x busybox-nope -- true 2>&1); rc=$?
[ $rc = 1 ] && echo "$err" | grep -q "^sfctl: image: 'busybox-nope' is in no node's image store" || die "unknown image ($rc): $err"
err=$(sf run --name x --memory 100Gi busybox -- true 2>&1); rc=$?
[ $rc = 4 ] && echo "$err" | grep -q "is Pending: 0/1 nodes fit: 1 without 100 GiB free" || die "no capacity ($rc): $err"
sf rm x >/dev/null || die "rm pending"
err=$(sf run --name web busybox -- true 2>&1); [ $? = 4 ] && echo "$err" | grep -q "already exists" || die "name clash: $err"
err=$(sf run --name y --memory 1Mi busybox -- true 2>&1); [ $? = 1 ] && echo "$err" | grep -q "memory: must be at least 4Mi" || die "limits: $err"
err=$(sf run --name y --cpu lots busybox -- true 2>&1); [ $? = 1 ] && echo "$err" | grep -q "^sfctl: cpu:" || die "cpu: $err"
err=$(sf run --name y --network nosuch busybox -- true 2>&1); [ $? = 1 ] && echo "$err" | grep -q "networks\[0\].network: network 'nosuch' does not exist" || die "network: $err"
sf node create elsewhere -q >/dev/null
sf port create foreign --network neta --node elsewhere -q >/dev/null || die "foreign port"
err=$(sf run --name y --port foreign --node "$(sf node list -o json | jq -r '.[] | select(.name != "elsewhere") | .name')" busybox -- true 2>&1)
[ $? = 1 ] && echo "$err" | grep -q "bound to another node" || die "port on another node: $err"
sf port delete foreign >/dev/null; sf node delete elsewhere >/dev/null

note "agent kill -9: containers survive and are adopted, logs kept"
pid_before=$(sf container show web -o json | jq .status.pid)
kill9_sfd
kill -0 "$pid_before" || die "container died with the agent"
start_sfd
wait_for 20 "adoption" sh -c "[ \$($NSX $SFCTL --endpoint $U container show web -o json | jq .status.pid) = $pid_before ]"
[ "$(phase web)" = Running ] || die "web after restart"
sf logs talker | grep -q hello-from-talker || die "logs lost across agent restart"
sf exec cli -- wget -q -O /dev/null "http://$webip/" || die "traffic after agent restart"
grep -q "adopted container 'web'" "$T/sfd.log" || die "no adoption in the log"

note "agent kill -9 in the middle of a start (plumbing, runc, the start gate): the restarted agent finishes it, once"
mids=""
for d in 0.01 0.03 0.06; do
        n=mid${d#0.}
        sf run --detach --name "$n" --network neta busybox -- sleep 3600 >/dev/null || die "run $n"
        sleep "$d"
        kill9_sfd
        start_sfd
        mids+=" $n"
done
for n in $mids; do
        wait_for 30 "$n Running after the agent's restart" sh -c "[ \"\$($NSX $SFCTL --endpoint $U container show $n -o json | jq -r .status.phase)\" = Running ]"
        cid=$(sf container show "$n" -o json | jq -r .id)
        [ "$(runc --root "$RUN/runc" list -q 2>/dev/null | grep -c "^$cid\$")" = 1 ] || die "$n: not exactly one runc container: $(runc --root "$RUN/runc" list 2>&1)"
        ip=$(sf container show "$n" -o json | jq -r '.status.ips[0]')
        sf exec cli -- ping -c 1 -W 2 "$ip" >/dev/null || die "$n ($ip) unreachable after the restart"
        [ ! -e "$RUN/containers/$cid/start-gate" ] || die "$n: start gate FIFO left behind"
done

note "removal is total"
for c in web cli other talker crash once $mids; do sf rm "$c" >/dev/null || die "rm $c"; done
[ -z "$(leaks)" ] || die "leaks after removal: $(leaks)"

note "100 create/delete cycles leave nothing behind"
for i in $(seq 1 100); do
        sf run --name "c$i" --stop-grace 0 --network neta busybox -- sleep 3600 >/dev/null || die "run c$i"
        sf rm "c$i" >/dev/null || die "rm c$i"
done
[ -z "$(leaks)" ] || die "leaks after 100 cycles: $(leaks)"
[ "$(sf port list -o json | jq length)" = 0 ] || die "ports left: $(sf port list)"

note "deleting the networks removes their bridges"
sf network delete neta netb >/dev/null || die "network delete"
wait_for 10 "bridges gone" sh -c "[ -z \"\$(ip -n $NS -o link show | grep sfb)\" ]"
stop_sfd || die "unclean stop"
echo OK
