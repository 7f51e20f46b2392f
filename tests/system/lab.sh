#!/bin/bash
# The lab (issue: sites and nodes): `sfctl lab up` makes a controller and simulated hosts in
# network namespaces, sites and nodes come up Ready, containers run on each site, a stopped or
# hung agent turns its node NotReady within the lease and Ready again when it is back, and
# `sfctl lab down` leaves nothing behind, also when the daemons were killed.
. "$(dirname "$0")/../lib.sh"
need_root
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
command -v busybox >/dev/null || { echo "busybox missing"; exit 77; }

LAB="t$(( $$ % 10000 ))"      # a named lab: never the user's default one
DIR="$T/lab"
LEASE=7                       # agents beat three times per lease
PIDS="" IDS="" CPIDS=""
BUSYBOX=$(command -v busybox)
lab() { "$SFCTL" lab "$@"; }
labdown() { # by its directory, or (removed by the orphan test) by its name
        "$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1 ||
                "$SFCTL" lab down --name "$LAB" --wait 0 >/dev/null 2>&1 || true
}
on_exit labdown

# Everything a lab called $LAB can leave behind; ids: container ids whose cgroups to look for.
lab_leaks() {
        local out="" x
        x=$(ip netns list | awk '{print $1}' | grep "^sflab-$LAB-" | tr '\n' ' ')
        [ -z "$x" ] || out+="netns: $x"$'\n'
        x=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^sflab-$LAB(-[0-9]+)?$" | tr '\n' ' ')
        [ -z "$x" ] || out+="interfaces: $x"$'\n'
        x=$(awk '{print $2}' /proc/mounts | grep "^/run/superfluid-lab/$LAB\(/\|$\)" | tr '\n' ' ')
        [ -z "$x" ] || out+="mounts: $x"$'\n'
        [ ! -e "/run/superfluid-lab/$LAB" ] || out+="run dir: /run/superfluid-lab/$LAB"$'\n'
        [ -n "${KEEP:-}" ] || [ ! -e "$DIR" ] || out+="lab dir: $DIR"$'\n'
        # processes: the daemons (by pid and start time) and anything started from the run dirs
        local p st
        for p in $PIDS; do
                st=$(awk '{print $22}' "/proc/${p%:*}/stat" 2>/dev/null)
                state=$(awk '{print $3}' "/proc/${p%:*}/stat" 2>/dev/null)
                [ "$st" = "${p#*:}" ] && [ "$state" != Z ] && out+="process: ${p%:*}"$'\n'
        done
        x=$(pgrep -f "/run/superfluid-lab/$LAB/" | tr '\n' ' ')
        [ -z "$x" ] || out+="processes using the run dirs: $x"$'\n'
        for p in $CPIDS; do
                [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ] && out+="container process: $p"$'\n'
        done
        local id
        for id in $IDS; do
                x=$(ls -d /sys/fs/cgroup/*/superfluid/"$id" 2>/dev/null | tr '\n' ' ')
                [ -z "$x" ] || out+="cgroups: $x"$'\n'
        done
        # the agents' cgroup parents (sfd --cgroup-parent superfluid/lab-LAB-HOST)
        x=$(ls -d /sys/fs/cgroup/*/superfluid/lab-"$LAB"-* 2>/dev/null | tr '\n' ' ')
        [ -z "$x" ] || out+="cgroups: $x"$'\n'
        printf '%s' "$out"
}

# Remembers the lab's daemons (pid:starttime) from its state file.
record_pids() {
        PIDS=$(jq -r '[.controller] + [.hosts[].agent] | .[] | "\(.pid):\(.starttime)"' "$DIR/lab.json")
}

note "--wan-delay without netem: a clear refusal, nothing created"
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:1 --wan-delay 20ms 2>&1); rc=$?
[ $rc = 1 ] || die "--wan-delay: exit $rc: $out"
echo "$out" | grep -q "netem is not available in this kernel: WAN delay between sites cannot be emulated" ||
        die "--wan-delay message: $out"
[ ! -e "$DIR" ] && [ -z "$(lab_leaks)" ] || die "--wan-delay left: $(lab_leaks)"
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:1,paris:1 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "site 'paris': give its kind" || die "bad --sites ($rc): $out"

note "lab up: core:2,edge:1"
t0=$(date +%s%N)
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:2,edge:1 --lease $LEASE 2>&1) || die "lab up: $out"
echo "lab up took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "$out" | grep -q "^export SUPERFLUID_ENDPOINT=http://" || die "no export line: $out"
[ "$(echo "$out" | grep -c "netem is not available")" = 1 ] || die "the netem note should be there once: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
[ "$(lab env --dir "$DIR")" = "export SUPERFLUID_ENDPOINT=$U" ] || die "lab env"
record_pids
for h in core-1 core-2 edge-1; do echo "$out" | grep -qE "^$h +" || die "host $h missing from: $out"; done

note "the kernel agrees: bridge, namespaces, veths, addresses, daemons in their namespaces"
br=$(jq -r .bridge.name "$DIR/lab.json")
[ "$br" = "sflab-$LAB" ] || die "bridge name $br"
ip -o addr show dev "$br" | grep -q "inet $(jq -r .bridge.address "$DIR/lab.json")/24" || die "bridge address"
ip -o link show dev "$br" | grep -q "master" && die "the bridge must not be enslaved"
[ "$(cat /proc/sys/net/ipv4/conf/"$br"/forwarding)" = 0 ] || die "the lab bridge must not forward"
[ -z "$(ip -o link show master "$br" | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v "^sflab-$LAB-[0-9]*$")" ] ||
        die "foreign ports on the lab bridge: $(ip -o link show master "$br")"
for i in 0 1 2; do
        h=$(jq -r ".hosts[$i].name" "$DIR/lab.json")
        ns=$(jq -r ".hosts[$i].netns" "$DIR/lab.json")
        ulip=$(jq -r ".hosts[$i].underlay_ip" "$DIR/lab.json")
        pid=$(jq -r ".hosts[$i].agent.pid" "$DIR/lab.json")
        [ "$ns" = "sflab-$LAB-$h" ] || die "netns name $ns"
        ip -n "$ns" -o addr show dev ul0 | grep -q "inet $ulip/24" || die "$h: ul0 address"
        ip -n "$ns" -o link show lo | grep -q "UP" || die "$h: lo down"
        [ -z "$(ip -n "$ns" route show default)" ] || die "$h: a default route leads out of the lab"
        [ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec "$ns" readlink /proc/self/ns/net)" ] ||
                die "agent of $h is not in its namespace"
        ip netns exec "$ns" "$BUSYBOX" ping -c 1 -W 2 "$(jq -r .bridge.address "$DIR/lab.json")" >/dev/null || die "$h cannot reach the controller"
done
[ "$(jq -r '.hosts[0].underlay_ip' "$DIR/lab.json")" != "$(jq -r '.hosts[1].underlay_ip' "$DIR/lab.json")" ] || die "same IP"

note "nodes Ready, in their sites; sites have their kinds"
[ "$("$SFCTL" site list -o json | jq -r 'map("\(.name)=\(.kind)") | sort | join(",")')" = "core=core,edge=edge" ] ||
        die "sites: $("$SFCTL" site list)"
nodes=$("$SFCTL" node list -o json)
sites=$("$SFCTL" site list -o json)
for hs in core-1:core core-2:core edge-1:edge; do
        h=${hs%:*}; s=${hs#*:}
        sid=$(echo "$sites" | jq -r ".[] | select(.name == \"$s\") | .id")
        echo "$nodes" | jq -e ".[] | select(.name == \"$h\") | .site_id == \"$sid\" and .status.state == \"Ready\"" \
                >/dev/null || die "node $h not Ready in site $s: $nodes"
        echo "$nodes" | jq -e ".[] | select(.name == \"$h\") | .underlay_ip == \"$(jq -r ".hosts[] | select(.name == \"$h\") | .underlay_ip" "$DIR/lab.json")\"" \
                >/dev/null || die "node $h underlay IP"
done

note "lab status and list"
st=$(lab status --dir "$DIR") || die "status not healthy: $st"
for h in core-1 core-2 edge-1; do echo "$st" | grep -E "^$h " | grep -q " Ready " || die "status of $h: $st"; done
echo "$st" | grep -q "healthy" || die "status: $st"
lab status --dir "$DIR" -o json | jq -e '.healthy and .controller.healthy and (.hosts | map(.agent_running and .netns_present and .node.state == "Ready") | all)' \
        >/dev/null || die "status json: $(lab status --dir "$DIR" -o json)"
lab list | grep -qE "^$LAB +up " || die "lab list: $(lab list)"
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:1 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "exists" || die "second lab up with the same name ($rc): $out"

note "containers on each site (and on a network, on one node each)"
"$SFCTL" network create labnet --cidr 10.77.0.0/24 -q >/dev/null || die "network"
"$SFCTL" run --name on-edge --site edge --stop-grace 1 busybox -- sleep 3600 >/dev/null || die "run on edge"
"$SFCTL" run --name on-core --site core --stop-grace 1 busybox -- sleep 3600 >/dev/null || die "run on core"
"$SFCTL" run --name net-edge --site edge --network labnet --stop-grace 1 busybox -- httpd -f -p 80 >/dev/null || die "run net-edge"
"$SFCTL" run --name net-core --node core-2 --network labnet --stop-grace 1 busybox -- sleep 3600 >/dev/null || die "run net-core"
node_name() { "$SFCTL" node list -o json | jq -r ".[] | select(.id == \"$1\") | .name"; }
for cs in on-edge:edge on-core:core net-edge:edge net-core:core; do
        c=${cs%:*}; s=${cs#*:}
        o=$("$SFCTL" container show "$c" -o json)
        [ "$(echo "$o" | jq -r .status.phase)" = Running ] || die "$c not running: $o"
        n=$(node_name "$(echo "$o" | jq -r .node_id)")
        [[ "$n" == "$s"-* ]] || die "$c runs on $n, not in site $s"
        # its processes really run, from that host's agent
        cpid=$(echo "$o" | jq -r .status.pid)
        kill -0 "$cpid" || die "$c: pid $cpid not alive"
        CPIDS+=" $cpid"
        IDS+=" $(echo "$o" | jq -r .id)"
        [ -n "$(ls -d /run/superfluid-lab/"$LAB"/"$n"/containers/"$(echo "$o" | jq -r .id)")" ] || die "$c not in $n's run dir"
done
[ "$("$SFCTL" exec on-edge -- echo hi)" = hi ] || die "exec through the controller to the edge agent"
"$SFCTL" exec net-edge -- ip -o addr show eth0 | grep -q "10.77.0." || die "net-edge has no address on labnet"

note "image import reaches every lab node"
mkdir -p "$T/rootfs/bin"; cp "$BUSYBOX" "$T/rootfs/bin/busybox"; ln -s busybox "$T/rootfs/bin/sh"
out=$("$SFCTL" image import "$T/rootfs" --name labimg:1 --format rootfs) || die "image import: $out"
[ "$(echo "$out" | grep -c "^imported labimg:1 on node")" = 3 ] || die "image import: $out"

note "a stopped agent: NotReady within the lease, workloads keep running, back to Ready"
edge_pid=$("$SFCTL" container show on-edge -o json | jq -r .status.pid)
lab stop-agent edge-1 --dir "$DIR" | grep -q "stopped the agent of 'edge-1'" || die "stop-agent"
t0=$(date +%s)
wait_for $((LEASE + 5)) "edge-1 NotReady" sh -c "\"$SFCTL\" node show edge-1 -o json | jq -e '.status.state == \"NotReady\"'"
echo "edge-1 NotReady after $(( $(date +%s) - t0 )) s (lease $LEASE s)"
"$SFCTL" node show edge-1 -o json | jq -r .status.reason | grep -q "no heartbeat" || die "NotReady reason"
out=$(lab status --dir "$DIR"); rc=$?
[ $rc = 1 ] && echo "$out" | grep -E "^edge-1 " | grep -q "stopped *NotReady" || die "status with edge-1 down ($rc): $out"
kill -0 "$edge_pid" || die "the edge container died with its agent"
for h in core-1 core-2; do
        [ "$("$SFCTL" node show $h -o json | jq -r .status.state)" = Ready ] || die "$h should stay Ready"
done
lab start-agent edge-1 --dir "$DIR" | grep -q "its node is Ready" || die "start-agent"
[ "$("$SFCTL" container show on-edge -o json | jq -r .status.pid)" = "$edge_pid" ] || die "on-edge not adopted"
record_pids

note "a hung agent (SIGSTOP): NotReady, then Ready again after SIGCONT"
core2=$(jq -r '.hosts[] | select(.name == "core-2") | .agent.pid' "$DIR/lab.json")
kill -STOP "$core2"
wait_for $((LEASE + 5)) "core-2 NotReady" sh -c "\"$SFCTL\" node show core-2 -o json | jq -e '.status.state == \"NotReady\"'"
kill -CONT "$core2"
wait_for 10 "core-2 Ready" sh -c "\"$SFCTL\" node show core-2 -o json | jq -e '.status.state == \"Ready\"'"
lab restart-agent core-1 --dir "$DIR" >/dev/null || die "restart-agent"
record_pids
lab status --dir "$DIR" >/dev/null || die "lab not healthy again: $(lab status --dir "$DIR")"

note "lab down --keep-state: nothing left but the lab's directory"
t0=$(date +%s%N)
out=$(lab down --dir "$DIR" --keep-state 2>&1) || die "lab down: $out"
echo "lab down took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
leaks=$(KEEP=1 lab_leaks)
[ -z "$leaks" ] || die "left behind after lab down: $leaks"
[ "$(jq -r .phase "$DIR/lab.json")" = down ] || die "phase after down --keep-state"
# every daemon stopped cleanly (sanitizer builds report leaks and errors at exit)
! grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$DIR"/logs/*.log ||
        die "sanitizer reports in the daemons' logs: $(grep -h -A20 "ERROR\|runtime error" "$DIR"/logs/*.log | head -60)"
out=$(lab status --dir "$DIR" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "is down; its state is kept" || die "status of a kept lab ($rc): $out"

note "lab up on the kept state, then lab down after the daemons were killed (kill -9)"
out=$(lab up --name "$LAB" --dir "$DIR" --sites edge:2 --lease $LEASE 2>&1) || die "lab up again: $out"
[ "$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')" = "$U" ] || die "the kept lab should get its subnet back: $out"
"$SFCTL" network show labnet >/dev/null || die "the controller's database was not kept"
record_pids
IDS=""; CPIDS=""
"$SFCTL" network create labnet2 --cidr 10.78.0.0/24 -q >/dev/null || die "network"
for n in edge-1 edge-2; do
        "$SFCTL" run --name "k-$n" --node "$n" --network labnet2 busybox -- sleep 3600 >/dev/null || die "run k-$n"
        "$SFCTL" run --name "p-$n" --node "$n" busybox -- sleep 3600 >/dev/null || die "run p-$n"
done
for c in k-edge-1 k-edge-2 p-edge-1 p-edge-2; do
        o=$("$SFCTL" container show "$c" -o json)
        IDS+=" $(echo "$o" | jq -r .id)"; CPIDS+=" $(echo "$o" | jq -r .status.pid)"
done
ns=$(jq -r '.hosts[0].netns' "$DIR/lab.json")
(ip netns exec "$ns" sleep 3600 >/dev/null 2>&1 &)   # somebody's shell in a host namespace
for p in $PIDS; do kill -9 "${p%:*}"; done
out=$(lab down --dir "$DIR" 2>&1) || die "lab down after kill -9: $out"
wait 2>/dev/null
leaks=$(lab_leaks)
[ -z "$leaks" ] || die "left behind after kill -9 and lab down: $leaks"
out=$(lab status --dir "$DIR" 2>&1); [ $? = 3 ] || die "status of a removed lab: $out"

note "a lab whose directory was removed while it ran: lab down --name finds what is left"
out=$(lab up --name "$LAB" --dir "$DIR" --sites core:1,edge:1 --lease $LEASE 2>&1) || die "lab up: $out"
record_pids
IDS=""; CPIDS=""
"$SFCTL" network create labnet3 --cidr 10.79.0.0/24 -q >/dev/null || die "network"
"$SFCTL" run --name o1 --node edge-1 --network labnet3 busybox -- sleep 3600 >/dev/null || die "run o1"
o=$("$SFCTL" container show o1 -o json)
IDS=$(echo "$o" | jq -r .id); CPIDS=$(echo "$o" | jq -r .status.pid)
rm -rf "$DIR" # the daemons, the container, namespaces, mounts and cgroups stay
out=$(lab status --name "$LAB" 2>&1); [ $? = 3 ] || die "status without a state file: $out"
out=$("$SFCTL" -o json lab list | jq -c ".[] | select(.name == \"$LAB\") | [.phase, .hosts]")
[ "$out" = '["orphaned",2]' ] || die "lab list does not show the orphaned lab: $out"
out=$(lab down --name "$LAB" 2>&1) || die "lab down --name without a state file: $out"
echo "$out" | grep -q "has no state file: removing what is left of it (2 hosts, controller running)" ||
        die "lab down of an orphan: $out"
wait 2>/dev/null
leaks=$(lab_leaks)
[ -z "$leaks" ] || die "left behind by lab down of an orphaned lab: $leaks"
out=$(lab down --name "$LAB" 2>&1); [ $? = 3 ] && echo "$out" | grep -q "there is no lab '$LAB'" || die "a second down: $out"
echo OK
