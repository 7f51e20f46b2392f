#!/bin/bash
# bench/nested: containers nested in a VM (issue #9), in one lab run: core-1 hosts a VM (QEMU,
# the test guest built with the agent and iperf3: tools/mkguest.sh --agent BUILD --extra
# iperf3; a nested host, --nested-mode vlan, so its guest's agent is node "xvm") whose port is
# the parent of a trunk, and a bare-metal container; core-2 hosts the iperf3 servers. Every
# client is on core-1 and every server on core-2, so every path crosses the VXLAN overlay once.
#  0. Nested container start through the guest's agent, subport pools warm vs cold, N each,
#     interleaved: `sfctl run --host-vm xvm --network netb busybox` from the request until the
#     guest's agent reports it Running (the VIM takes a subport from the VM's trunk's pool, or
#     makes one; the host's node plumbs it; the guest's agent makes the VLAN device and runs
#     the container with runc, in the TCG guest); then one ping from it to core-2 (counted).
#  1. Nested container start, subport pools warm vs cold (Kuryr's nested ports pool), N each,
#     sequential, interleaved (cold, warm, cold, ...). One start: `sfctl trunk take-subport`
#     (warm: an idle pooled subport, plumbed on the node already; cold: no pool, a new port,
#     VLAN id and subport made on the spot), then, in parallel, the guest makes the nested
#     container (sf-nest add over HTTP: VLAN device, MAC, address, MTU, namespace, process) and
#     the node plumbs the subport (measured by polling the agent's /agent/v1/trunks until the
#     VLAN id is in its BPF map). Ready = both done; then one ping from the nested container to
#     a container on core-2 must answer at once (counted). Between starts the pool is refilled
#     and the nested container removed (not timed).
#  2. TCP throughput (iperf3, RUNS x SECS s each, interleaved): a container nested in the VM
#     (VLAN subport on network B; macvlan on the VM's network A) vs a bare-metal container on
#     the same network on core-1, and the VM's own eth0 (untagged), each to a server on core-2;
#     plus the reverse direction (-R) for network B. Ratios of the medians.
# Needs root, QEMU, runc, iperf3, jq, curl. Usage: bench/nested/run.sh [BUILD_DIR] [OUT_JSON]
# Environment: N (starts per mode, default 10), RUNS (default 3), SECS (default 5), POOL (idle
# subports of the warm pool, default 2).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/nested.json}
N=${N:-10}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
POOL=${POOL:-2}
BURST=${BURST:-10}
BURSTS=${BURSTS:-3}
SFCTL="$B/src/cli/sfctl"
[ "$(id -u)" = 0 ] || { echo "bench/nested needs root" >&2; exit 1; }
for c in qemu-system-x86_64 qemu-img runc iperf3 jq curl busybox; do
        command -v $c >/dev/null || { echo "bench/nested needs $c" >&2; exit 1; }
done
[ -x "$SFCTL" ] || { echo "build $SFCTL first" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
T=$(mktemp -d /tmp/sfbench-nested.XXXXXX)
LAB="q$(( $$ % 10000 ))"
DIR="$T/lab"
cleanup() {
        local p
        "$SFCTL" lab down --dir "$DIR" --wait 0 >/dev/null 2>&1
        # VMs outlive their agents by design: if the lab could not remove them, by PID.
        for p in $(pgrep -f -- "/run/superfluid-lab/$LAB/"); do kill -9 "$p" 2>/dev/null; done
        rm -rf "$T"
}
trap cleanup EXIT
[ -z "${KEEP_RAW:-}" ] || mkdir -p "$KEEP_RAW"
trap 'exit 130' INT TERM
die() { echo "bench/nested: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
G=/var/cache/superfluid/guest-agent-iperf3-$(echo "$B" | md5sum | cut -c1-8)
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" --agent "$B" --extra iperf3 "$G" >/dev/null || die "mkguest --agent --extra iperf3"

export SUPERFLUID_TRUNK_DATAPATH=bpf # a no-op without 8021q (this kernel)
out=$("$SFCTL" lab up --name "$LAB" --dir "$DIR" --sites core:2 --log-level warn 2>&1) || die "lab up: $out"
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
sf() { "$SFCTL" --endpoint "$U" "$@"; }
h1=$(jq -r '.hosts[] | select(.name == "core-1") | .netns' "$DIR/lab.json")
agent1=$(jq -r '.hosts[] | select(.name == "core-1") | .agent_url' "$DIR/lab.json")
agent_trunks() { ip netns exec "$h1" curl -sf "$agent1/agent/v1/trunks"; }

# Images: the guest on core-1; iperf3 (busybox + iperf3 with its libraries) for containers.
sf image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" \
        --node core-1 >/dev/null || die "import guest"
img="$T/iperf3"; mkdir -p "$img/bin" "$img/usr/bin" "$img/tmp" "$img/etc" "$img/var/www"
cp "$(command -v busybox)" "$img/bin/busybox"; for a in sh ping sleep httpd; do ln -s busybox "$img/bin/$a"; done
echo superfluid >"$img/var/www/index.html"
cp "$(command -v iperf3)" "$img/usr/bin/"
for l in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do mkdir -p "$img$(dirname "$l")"; cp -L "$l" "$img$l"; done
sf image import "$img" --name iperf3 --format rootfs >/dev/null || die "import iperf3"

sf network create neta --cidr 10.61.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.62.0.0/16 -q >/dev/null || die "network b"
sf run --name sa --node core-2 --network neta=10.61.0.10 iperf3 -- iperf3 -s >/dev/null || die "run sa"
sf run --name sb --node core-2 --network netb=10.62.0.10 iperf3 -- iperf3 -s >/dev/null || die "run sb"
sf run --name bma --node core-1 --network neta=10.61.0.11 iperf3 -- sleep 100000 >/dev/null || die "run bma"
sf run --name bmb --node core-1 --network netb=10.62.0.11 iperf3 -- sleep 100000 >/dev/null || die "run bmb"
sf port create vmp --network neta --ip 10.61.0.20 -q >/dev/null || die "VM port"
sf port create nb1 --network netb --ip 10.62.0.21 -q >/dev/null || die "subport"
sf trunk create t1 --port vmp --subport nb1:100 -q >/dev/null || die "trunk"
vmp_id=$(sf port show vmp -o json | jq -r .id)
sf port create nm1 --network neta --ip 10.61.0.31 --device-owner nested:macvlan --device-id "$vmp_id" -q >/dev/null ||
        die "macvlan port"
nb1mac=$(sf port show nb1 -o json | jq -r .mac_address)
nm1mac=$(sf port show nm1 -o json | jq -r .mac_address)
sf port update vmp --allowed-address "10.61.0.31,$nm1mac" >/dev/null || die "allowed address pair"
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '._')
cat >"$T/user-data" <<EOF
#!/bin/sh
sf-nest serve token=$TOKEN allow=10.61.0.1
sf-nest add name=c1 mode=vlan vid=100 mac=$nb1mac ip=10.62.0.21/16 gw=10.62.0.1 mtu=1450
sf-nest add name=c2 mode=macvlan mac=$nm1mac ip=10.61.0.31/24 gw=10.61.0.1 mtu=1450
EOF
vmout=$(sf run --vm --name xvm --port vmp --node core-1 --nested-mode vlan --memory 512Mi \
        --user-data @"$T/user-data" sf-guest) || die "run --vm: $vmout"
for _ in $(seq 1200); do sf console xvm --tail all | grep -q 'SF-GUEST: ready' && break; sleep 0.1; done
sf console xvm --tail all | grep -q "SF-GUEST: user-data ran" || die "guest: $(sf console xvm --tail 30)"
for _ in $(seq 1200); do [ "$(sf node show xvm -o json 2>/dev/null | jq -r .status.state)" = Ready ] && break; sleep 0.1; done
[ "$(sf node show xvm -o json | jq -r .status.state)" = Ready ] || die "the guest's agent: $(sf console xvm --tail 30)"

nest() { # METHOD OP [FIELD=VALUE...] -> NEST_OUT; fails unless HTTP 200
        local m=$1 data="op=$2" f r
        shift 2
        for f in "$@"; do data+="&$f"; done
        if [ "$m" = GET ]; then
                r=$(ip netns exec "$h1" curl -s -m 120 -u "sf:$TOKEN" -w '\n%{http_code}' "http://10.61.0.20:7482/cgi-bin/nest?$data")
        else
                r=$(ip netns exec "$h1" curl -s -m 120 -u "sf:$TOKEN" -w '\n%{http_code}' --data "$data" "http://10.61.0.20:7482/cgi-bin/nest")
        fi
        NEST_OUT=$(echo "$r" | sed '$d')
        [ "$(echo "$r" | tail -n1)" = 200 ]
}
nest POST ping name=c1 to=10.62.0.10 count=1 || die "c1 -> sb: $NEST_OUT"
nest POST ping name=c2 to=10.61.0.10 count=1 || die "c2 -> sa: $NEST_OUT"

# ---- 1. nested container start: warm vs cold subport pools ----
# Is VLAN id $1 plumbed on core-1 (in its agent's listing)? One HTTP/1.0 GET through bash's
# /dev/tcp from the underlay's side, so that polling spawns no process (a few ms per poll).
agent_hp=${agent1#http://}; agent_hp=${agent_hp%%/*}
has_vid() { # VID...: all of them
        local body="" v
        exec 7<>"/dev/tcp/${agent_hp%:*}/${agent_hp##*:}" || die "agent $agent1 unreachable from here"
        printf 'GET /agent/v1/trunks HTTP/1.0\r\nHost: %s\r\n\r\n' "$agent_hp" >&7
        IFS= read -r -d '' -u 7 body
        exec 7>&-
        for v in "$@"; do [[ $body == *'"vid":'"$v"','* ]] || return 1; done
}
plumbed_count() { agent_trunks | jq '.trunks[0].subports | length'; }
settle() { # wait until the node has exactly $1 subports plumbed and the trunk is ACTIVE
        local i
        for i in $(seq 600); do
                [ "$(plumbed_count)" = "$1" ] && sf trunk show t1 -o json | jq -e '.status == "ACTIVE"' >/dev/null && return 0
                sleep 0.1
        done
        die "the trunk did not settle at $1 subports: $(agent_trunks)"
}
start_one() { # MODE I -> one JSON object
        local mode=$1 i=$2 t0 t1 t2 t3 took vid mac ip port mtu ok
        t0=$(now_ms)
        took=$(sf trunk take-subport t1 --network netb --user "n$i" -o json) || die "take-subport: $took"
        t1=$(now_ms)
        # fields by bash pattern matching, not jq: a process per field would cost more than
        # the node's plumbing being measured
        took=${took%%\"trunk\"*} # the sub_port object comes first
        vid=${took#*\"segmentation_id\":}; vid=${vid# }; vid=${vid%%[!0-9]*}
        [[ $took =~ \"mac_address\":\ *\"([0-9a-f:]{17})\" ]] && mac=${BASH_REMATCH[1]}
        [[ $took =~ \"ip_address\":\ *\"([0-9.]+)\" ]] && ip=${BASH_REMATCH[1]}
        [[ $took =~ \"mtu\":\ *([0-9]+) ]] && mtu=${BASH_REMATCH[1]}
        [[ $took =~ \"port_name\":\ *\"([^\"]+)\" ]] && port=${BASH_REMATCH[1]}
        [ -n "$vid" ] && [ -n "$mac" ] && [ -n "$ip" ] && [ -n "$mtu" ] && [ -n "$port" ] || die "take-subport answered: $took"
        rm -f "$T/add.end"
        ( nest POST add name="n$i" mode=vlan vid="$vid" mac="$mac" ip="$ip/16" gw=10.62.0.1 mtu="$mtu" &&
                now_ms >"$T/add.end" || echo "$NEST_OUT" >"$T/add.err" ) &
        local addpid=$!
        until has_vid "$vid"; do
                [ $(( $(now_ms) - t0 )) -lt 60000 ] || die "VLAN $vid not plumbed within 60 s"
        done
        t2=$(now_ms)
        wait $addpid
        [ -s "$T/add.end" ] || die "add n$i: $(cat "$T/add.err" 2>/dev/null)"
        t3=$(cat "$T/add.end")
        ok=0
        nest POST ping name="n$i" to=10.62.0.10 count=1 && ok=1
        nest POST del name="n$i" || die "del n$i: $NEST_OUT"
        sf trunk release-subport t1 "$port" >/dev/null || die "release $port"
        echo "{\"mode\":\"$mode\",\"i\":$i,\"vid\":$vid,\"take_ms\":$((t1 - t0)),\"plumbed_ms\":$((t2 - t0)),\"guest_ms\":$((t3 - t1)),\"ready_ms\":$(( (t2 > t3 ? t2 : t3) - t0 )),\"first_ping_ok\":$ok}"
}
# Lowering a pool's min does not give its idle subports back: that is done here by hand.
drain_pool() {
        local idle
        sf trunk update t1 --subport-pool netb:0 >/dev/null || die "pool off"
        idle=$(sf trunk show t1 -o json | jq -r '.sub_ports[] | select(.pool == "idle") | .port_id')
        if [ -n "$idle" ]; then
                sf trunk remove-subport t1 $idle >/dev/null || die "remove idle subports"
                sf port delete $idle >/dev/null || die "delete idle subports' ports"
        fi
}
# ---- 0. through the guest's agent ----
agent_start_one() { # MODE I -> one JSON object
        local mode=$1 i=$2 t0 t1 ok=0
        t0=$(now_ms)
        sf run --name "a$i" --host-vm xvm --network netb busybox -- sleep 100000 >/dev/null || die "run a$i"
        t1=$(now_ms)
        sf exec "a$i" --timeout 20 -- ping -c 1 -W 2 10.62.0.10 >/dev/null && ok=1
        sf rm "a$i" >/dev/null || die "rm a$i"
        echo "{\"mode\":\"$mode\",\"i\":$i,\"running_ms\":$((t1 - t0)),\"first_ping_ok\":$ok}"
}
echo "bench/nested: $N starts per mode through the guest's agent (cold, warm interleaved)" >&2
: >"$T/astarts"
for i in $(seq 1 "$N"); do
        drain_pool
        settle 1
        agent_start_one cold "$i" >>"$T/astarts"
        sf trunk update t1 --subport-pool "netb:$POOL" >/dev/null || die "pool on"
        settle $((1 + POOL))
        agent_start_one warm "$((N + i))" >>"$T/astarts"
done
drain_pool

echo "bench/nested: $N nested container starts per mode (cold, warm interleaved)" >&2
: >"$T/starts"
for i in $(seq 1 "$N"); do
        drain_pool
        settle 1
        start_one cold "$i" >>"$T/starts"
        sf trunk update t1 --subport-pool "netb:$POOL" >/dev/null || die "pool on"
        settle $((1 + POOL))
        start_one warm "$((N + i))" >>"$T/starts"
done
drain_pool

# A burst: K subports taken at once (concurrent requests), until all K are plumbed on the
# node (the node's side only: the guest's share is serial on its one vCPU and the same in both
# modes, see above). Kuryr's 50-pod measurement is of this kind.
burst_one() { # MODE K -> one JSON object
        local mode=$1 k=$2 t0 t1 t2 j v p vids=() ports=()
        rm -f "$T"/burst.*
        t0=$(now_ms)
        for j in $(seq 1 "$k"); do
                sf trunk take-subport t1 --network netb --user "b$j" -o json >"$T/burst.$j" &
        done
        wait
        t1=$(now_ms)
        while read -r v p; do vids+=("$v"); ports+=("$p"); done < <(jq -r '.sub_port | "\(.segmentation_id) \(.port_name)"' "$T"/burst.*)
        [ ${#vids[@]} = "$k" ] || die "burst: ${#vids[@]} of $k takes answered"
        until has_vid "${vids[@]}"; do
                [ $(( $(now_ms) - t0 )) -lt 120000 ] || die "burst: not plumbed within 120 s"
        done
        t2=$(now_ms)
        sf trunk release-subport t1 "${ports[@]}" >/dev/null || die "burst release"
        echo "{\"mode\":\"$mode\",\"k\":$k,\"takes_ms\":$((t1 - t0)),\"plumbed_ms\":$((t2 - t0))}"
}
echo "bench/nested: bursts of $BURST subports, $BURSTS per mode" >&2
: >"$T/bursts"
for i in $(seq 1 "$BURSTS"); do
        drain_pool
        settle 1
        burst_one cold "$BURST" >>"$T/bursts"
        drain_pool
        sf trunk update t1 --subport-pool "netb:$BURST" >/dev/null || die "pool on"
        settle $((1 + BURST))
        burst_one warm "$BURST" >>"$T/bursts"
done
drain_pool

# ---- 2. throughput ----
iperf_bm() { # CONTAINER SERVER [-R] -> Gbit/s
        sf exec "$1" --timeout 120 -- iperf3 -c "$2" -t "$SECS" ${3:-} -J | jq '.end.sum_received.bits_per_second / 1e9'
}
iperf_guest() { # NAME|"" SERVER [1] -> Gbit/s
        local n=()
        [ -n "$1" ] && n=(name="$1")
        nest POST iperf3 "${n[@]}" to="$2" t="$SECS" reverse="${3:-0}" || die "iperf3 in the guest: $NEST_OUT"
        echo "$NEST_OUT" | sed -n 's/^json=//p' | jq '.end.sum_received.bits_per_second / 1e9'
}
echo "bench/nested: throughput, $RUNS x $SECS s per path" >&2
: >"$T/tput"
for r in $(seq 1 "$RUNS"); do
        echo "{\"path\":\"baremetal_b\",\"gbps\":$(iperf_bm bmb 10.62.0.10)}" >>"$T/tput"
        echo "{\"path\":\"nested_vlan\",\"gbps\":$(iperf_guest c1 10.62.0.10)}" >>"$T/tput"
        echo "{\"path\":\"baremetal_a\",\"gbps\":$(iperf_bm bma 10.61.0.10)}" >>"$T/tput"
        echo "{\"path\":\"nested_macvlan\",\"gbps\":$(iperf_guest c2 10.61.0.10)}" >>"$T/tput"
        echo "{\"path\":\"vm_eth0\",\"gbps\":$(iperf_guest "" 10.61.0.10)}" >>"$T/tput"
        echo "{\"path\":\"baremetal_b_reverse\",\"gbps\":$(iperf_bm bmb 10.62.0.10 -R)}" >>"$T/tput"
        echo "{\"path\":\"nested_vlan_reverse\",\"gbps\":$(iperf_guest c1 10.62.0.10 1)}" >>"$T/tput"
done
counters=$(agent_trunks | jq -c '.trunks[0].counters')
[ -z "${KEEP_RAW:-}" ] || cp "$T/astarts" "$T/starts" "$T/bursts" "$T/tput" "$KEEP_RAW/"
# the nested containers go before the lab (nothing to check here: tests/system/nested-vm.sh does)
nest POST del name=c1 >/dev/null; nest POST del name=c2 >/dev/null

jq -n --slurpfile s "$T/starts" --slurpfile t "$T/tput" --slurpfile b "$T/bursts" --slurpfile a "$T/astarts" \
        --arg machine "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r)" \
        --arg qemu "$(qemu-system-x86_64 --version | head -n1)" \
        --arg accel "$(sf container show xvm -o json | jq -r '.status.accelerator // .status.info.accelerator // "tcg"')" \
        --arg guest "tools/mkguest.sh --agent --extra iperf3: kernel $(basename "$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -n1)"), busybox initramfs, 1 vCPU" \
        --argjson n "$N" --argjson runs "$RUNS" --argjson secs "$SECS" --argjson pool "$POOL" --argjson burst "$BURST" --argjson bursts "$BURSTS" \
        --argjson counters "$counters" --arg load0 "$LOAD_START" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" '
        def stats: sort as $v | ($v | length) as $k |
                {n: $k, min: $v[0], max: $v[-1],
                 median: (if $k % 2 == 1 then $v[($k - 1) / 2] else ($v[$k / 2 - 1] + $v[$k / 2]) / 2 end)};
        def r3: . * 1000 | round / 1000;
        def part($m; $f): [$s[] | select(.mode == $m) | .[$f]] | stats;
        def tp($p): [$t[] | select(.path == $p) | .gbps] | stats;
        {machine: $machine, load_avg_before: $load0, load_avg_after: $load1, qemu: $qemu, accelerator: $accel,
         guest: $guest,
         agent_start: ({n_per_mode: $n, warm_pool_idle: $pool,
                 cold: {running_ms: ([$a[] | select(.mode == "cold") | .running_ms] | stats),
                        first_ping_ok: ([$a[] | select(.mode == "cold") | .first_ping_ok] | add)},
                 warm: {running_ms: ([$a[] | select(.mode == "warm") | .running_ms] | stats),
                        first_ping_ok: ([$a[] | select(.mode == "warm") | .first_ping_ok] | add)},
                 runs: $a} |
                 .ratio_cold_over_warm = ((.cold.running_ms.median / .warm.running_ms.median) | r3)),
         start: ({n_per_mode: $n, warm_pool_idle: $pool,
                 cold: {ready_ms: part("cold"; "ready_ms"), take_ms: part("cold"; "take_ms"),
                        plumbed_ms: part("cold"; "plumbed_ms"), guest_ms: part("cold"; "guest_ms"),
                        first_ping_ok: ([$s[] | select(.mode == "cold") | .first_ping_ok] | add)},
                 warm: {ready_ms: part("warm"; "ready_ms"), take_ms: part("warm"; "take_ms"),
                        plumbed_ms: part("warm"; "plumbed_ms"), guest_ms: part("warm"; "guest_ms"),
                        first_ping_ok: ([$s[] | select(.mode == "warm") | .first_ping_ok] | add)},
                 runs: $s} |
                 .ratio_cold_over_warm = ((.cold.ready_ms.median / .warm.ready_ms.median) | r3) |
                 .ratio_cold_over_warm_node_plumbing = ((.cold.plumbed_ms.median / .warm.plumbed_ms.median) | r3)),
         burst: ({subports: $burst, per_mode: $bursts,
                  cold: {plumbed_ms: ([$b[] | select(.mode == "cold") | .plumbed_ms] | stats),
                         takes_ms: ([$b[] | select(.mode == "cold") | .takes_ms] | stats)},
                  warm: {plumbed_ms: ([$b[] | select(.mode == "warm") | .plumbed_ms] | stats),
                         takes_ms: ([$b[] | select(.mode == "warm") | .takes_ms] | stats)},
                  runs: $b} |
                 .ratio_cold_over_warm = ((.cold.plumbed_ms.median / .warm.plumbed_ms.median) | r3)),
         throughput: ({runs: $runs, seconds: $secs,
                 gbps: {baremetal_b: tp("baremetal_b"), nested_vlan: tp("nested_vlan"),
                        baremetal_a: tp("baremetal_a"), nested_macvlan: tp("nested_macvlan"),
                        vm_eth0: tp("vm_eth0"), baremetal_b_reverse: tp("baremetal_b_reverse"),
                        nested_vlan_reverse: tp("nested_vlan_reverse")},
                 samples: $t} |
                 .ratios = {nested_vlan_over_baremetal: ((.gbps.nested_vlan.median / .gbps.baremetal_b.median) | r3),
                            nested_macvlan_over_baremetal: ((.gbps.nested_macvlan.median / .gbps.baremetal_a.median) | r3),
                            nested_vlan_over_vm_eth0: ((.gbps.nested_vlan.median / .gbps.vm_eth0.median) | r3),
                            nested_macvlan_over_vm_eth0: ((.gbps.nested_macvlan.median / .gbps.vm_eth0.median) | r3),
                            nested_vlan_reverse_over_baremetal: ((.gbps.nested_vlan_reverse.median / .gbps.baremetal_b_reverse.median) | r3)}),
         trunk_counters: $counters}' >"$OUT" || die "writing $OUT"
jq -c '{agent_start: {cold: .agent_start.cold.running_ms, warm: .agent_start.warm.running_ms, ratio: .agent_start.ratio_cold_over_warm},
        start: {cold: .start.cold.ready_ms, warm: .start.warm.ready_ms, ratio: .start.ratio_cold_over_warm},
        burst: {cold: .burst.cold.plumbed_ms, warm: .burst.warm.plumbed_ms, ratio: .burst.ratio_cold_over_warm},
        throughput: .throughput.ratios}' "$OUT"
echo "bench/nested: results in $OUT" >&2
