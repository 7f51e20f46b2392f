#!/bin/bash
# bench/vm: VM boot time, request -> guest reachable (answers ping from the node), through
# Superfluid vs QEMU started by hand with the same kernel, initrd, disk and arguments, in the
# same run, interleaved (raw, sf, sf, raw, raw, sf, ...), both timed by the same prober
# (sf-vm-bench time: one ICMP echo every 5 ms from the node's network namespace).
#   Superfluid: `sfctl run --vm --detach` (API request, scheduling, the agent's watch, tap on the
#               network's bridge, neighbour entry, qcow2 overlay, NoCloud seed, sf-vm-monitor,
#               QEMU, QMP handshake) -> first echo reply.
#   Raw QEMU:   the QEMU command line the driver used (vm.json), minus the two QMP channels,
#               on a tap on a bridge made by hand, with a seed and overlay made beforehand,
#               started directly -> first echo reply. The node has a neighbour entry for the
#               guest in both cases (the agent makes one; here it is made by hand).
# The accelerator is the one the driver picks (TCG here: KVM is not usable without vmx/svm).
# Needs root. Everything lives in a private network namespace and temp dirs, removed at exit.
# Usage: bench/vm/run.sh [BUILD_DIR] [OUT_JSON]      (RUNS=5 by default; the machine's load
# moves TCG boot times by tens of %: the orchestrator's own share is also reported from the
# agent's clock, request -> QEMU spawned)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/vm.json}
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/vm needs root" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null || { echo "bench/vm needs QEMU" >&2; exit 1; }
TOOL="$B/bench/vm/sf-vm-bench"
[ -x "$TOOL" ] || { echo "build $TOOL first" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

NS=sfbench-vm-$$
RUN=$(mktemp -d /run/sfbench-vm.XXXXXX)
ST=$(mktemp -d /tmp/sfbench-vm.XXXXXX)
NSX="nsenter --net=/run/netns/$NS"
SFD_PID=""
RAW_PID=""
cleanup() {
        [ -n "$RAW_PID" ] && kill -9 "$RAW_PID" 2>/dev/null
        if [ -n "$SFD_PID" ]; then
                $SF ps -q 2>/dev/null | xargs -r $SF rm >/dev/null 2>&1
                kill "$SFD_PID"; wait "$SFD_PID"
        fi
        # VMs outlive sfd by design: whatever is left of this run goes, by PID.
        for p in $(pgrep -f -- "$RUN/containers/") $(pgrep -f -- "$ST/raw/"); do kill -9 "$p" 2>/dev/null; done
        grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$RUN" "$ST"
        ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

G=/var/cache/superfluid/guest
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$ST/guest
"$top/tools/mkguest.sh" "$G" >/dev/null || exit 1

ip netns add "$NS" && ip -n "$NS" link set lo up
"$B/src/sfd/sfd" --netns "/run/netns/$NS" --run-dir "$RUN" --state-dir "$ST/state" --listen 127.0.0.1:0 \
        --url-file "$ST/url" --log-level warn 2>"$ST/sfd.log" &
SFD_PID=$!
for _ in $(seq 100); do [ -s "$ST/url" ] && break; sleep 0.1; done
U=$(cat "$ST/url")
SF="$NSX $B/src/cli/sfctl --endpoint $U"
for _ in $(seq 100); do $SF node list -o json 2>/dev/null | jq -e '.[0].status.state=="Ready"' >/dev/null && break; sleep 0.1; done
node=$($SF node list -o json | jq '.[0]')
accel=$(echo "$node" | jq -r .status.info.vm_accelerator)
why=$(echo "$node" | jq -r .status.info.vm_accelerator_reason)
CMDLINE="console=ttyS0 quiet panic=-1"
$SF image import "$G" --name sf-guest --format kernel --cmdline "$CMDLINE" -q >/dev/null || exit 1
$SF network create bench --cidr 10.78.0.0/24 -q >/dev/null || exit 1

vm_id() { $SF container show "$1" -o json | jq -r .id; }
wait_gone() { for _ in $(seq 600); do $SF container show "$1" >/dev/null 2>&1 || return 0; sleep 0.1; done; return 1; }

# Warm-up (not counted): fills the page cache, and gives the driver's QEMU command line.
$SF run --vm --name warm --network bench=10.78.0.9 sf-guest >/dev/null || { tail "$ST/sfd.log"; exit 1; }
wid=$(vm_id warm)
jq -r '.argv[]' "$RUN/containers/$wid/vm.json" >"$ST/argv.txt"
$SF rm warm >/dev/null && wait_gone warm

# The raw QEMU: same argv, the QMP channels dropped, own console, disk overlay, seed and tap.
mkdir -p "$ST/raw"
RAW_MAC=52:54:00:78:00:60 RAW_IP=10.79.0.60
ip -n "$NS" link add benchbr0 type bridge
ip -n "$NS" addr add 10.79.0.1/24 dev benchbr0
ip -n "$NS" link set benchbr0 up
ip -n "$NS" tuntap add dev benchtap0 mode tap vnet_hdr
ip -n "$NS" link set benchtap0 master benchbr0 up
ip -n "$NS" neigh replace "$RAW_IP" lladdr "$RAW_MAC" dev benchbr0 nud permanent
"$TOOL" seed "$ST/raw/seed.img" --hostname raw --mac "$RAW_MAC" --ip "$RAW_IP/24" --gateway 10.79.0.1
raw_argv=()
while IFS= read -r a; do
        case $a in
        -chardev) read -r next
                  case $next in socket,*) read -r _; read -r _; continue ;; esac # and its -mon
                  raw_argv+=(-chardev "$(echo "$next" | sed "s|path=[^,]*|path=$ST/raw/console.log|")"); continue ;;
        esac
        case $a in
        guest=*) a="guest=raw,debug-threads=on" ;;
        file=*disk.qcow2*) a=$(echo "$a" | sed "s|file=[^,]*|file=$ST/raw/disk.qcow2|") ;;
        file=*seed.img*) a=$(echo "$a" | sed "s|file=[^,]*|file=$ST/raw/seed.img|") ;;
        tap,id=net0,fd=*) a="tap,id=net0,ifname=benchtap0,script=no,downscript=no" ;;
        virtio-net-pci,*) a=$(echo "$a" | sed "s|mac=.*|mac=$RAW_MAC|") ;;
        esac
        raw_argv+=("$a")
done <"$ST/argv.txt"
BASE_DISK="$ST/state/vm-images/images/sf-guest=latest/disk.qcow2" # the orchestrated overlay's backing file
echo "raw QEMU: ${raw_argv[*]}" >"$ST/raw/argv.log"

raw_run() { # -> JSON line
        local out
        rm -f "$ST/raw/disk.qcow2" "$ST/raw/console.log"
        # The overlay is made beforehand, as by hand (the orchestrated time includes its own).
        qemu-img create -q -f qcow2 -F qcow2 -b "$BASE_DISK" "$ST/raw/disk.qcow2" || return 1
        out=$($NSX "$TOOL" time --ip "$RAW_IP" -- "${raw_argv[@]}") || return 1
        RAW_PID=$(echo "$out" | jq .cmd_pid)
        kill -9 "$RAW_PID"; while kill -0 "$RAW_PID" 2>/dev/null; do sleep 0.05; done; RAW_PID=""
        echo "$out"
}

sf_run() { # run number -> JSON line
        local out name=b$1 ip=10.78.0.$((20 + $1))
        out=$($NSX "$TOOL" time --ip "$ip" -- "$B/src/cli/sfctl" --endpoint "$U" run --vm --detach -q \
                --name "$name" --network "bench=$ip" sf-guest) || return 1
        # The agent's own view of the same boot, once it reported it.
        for _ in $(seq 200); do
                $SF container show "$name" -o json | jq -e '.status.guest == "reachable"' >/dev/null && break
                sleep 0.05
        done
        echo "$out" | jq -c --argjson st "$($SF container show "$name" -o json | jq -c .status)" \
                '. + {agent_boot_ms: $st.boot_ms, timings: $st.timings}'
        $SF rm "$name" >/dev/null && wait_gone "$name"
}

echo "{\"machine\":\"$(nproc) cores, $(awk '/MemTotal/{printf "%d GiB", $2/1048576}' /proc/meminfo), $(uname -r)\"," >"$OUT"
echo "\"qemu\":\"$(qemu-system-x86_64 --version | head -1)\",\"accelerator\":\"$accel\",\"accelerator_reason\":$(jq -Rn --arg w "$why" '$w')," >>"$OUT"
kver=$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1 | sed 's|.*vmlinuz-||')
echo "\"guest\":\"tools/mkguest.sh: Debian kernel $kver, busybox initramfs, 1 vCPU, 256 MiB\",\"runs\":[" >>"$OUT"
raws=(); sfs=(); pre=()
for i in $(seq 1 "$RUNS"); do
        # Alternating order (raw first in odd runs, Superfluid first in even ones), so that
        # whatever the machine does meanwhile does not favour one side.
        if [ $((i % 2)) = 1 ]; then
                r=$(raw_run) || { echo "raw run $i failed" >&2; exit 1; }
                s=$(sf_run "$i") || { echo "sf run $i failed" >&2; tail "$ST/sfd.log" >&2; exit 1; }
        else
                s=$(sf_run "$i") || { echo "sf run $i failed" >&2; tail "$ST/sfd.log" >&2; exit 1; }
                r=$(raw_run) || { echo "raw run $i failed" >&2; exit 1; }
        fi
        raws+=("$(echo "$r" | jq .reachable_ms)"); sfs+=("$(echo "$s" | jq .reachable_ms)")
        pre+=("$(echo "$s" | jq .timings.request_to_qemu_ms)")
        [ "$i" = 1 ] || echo "," >>"$OUT"
        echo "{\"run\":$i,\"raw\":$r,\"sf\":$s}" >>"$OUT"
        echo "run $i: raw QEMU $(echo "$r" | jq .reachable_ms) ms, superfluid $(echo "$s" | jq .reachable_ms) ms" \
             "(agent: $(echo "$s" | jq -c .timings))" >&2
done
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "{\"n\":%d,\"min\":%.1f,\"median\":%.1f,\"max\":%.1f}", NR, v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
rs=$(stats "${raws[@]}"); ss=$(stats "${sfs[@]}"); ps=$(stats "${pre[@]}")
echo "],\"raw\":$rs,\"sf\":$ss,\"sf_request_to_qemu\":$ps}" >>"$OUT"
jq . "$OUT" >/dev/null || { echo "bad JSON in $OUT" >&2; exit 1; }
rm_=$(echo "$rs" | jq .median); sm=$(echo "$ss" | jq .median)
echo "accelerator: $accel ($why)"
echo "raw QEMU:   $(echo "$rs" | jq -r '"median \(.median) ms, min \(.min), max \(.max) (n=\(.n))"')"
echo "superfluid: $(echo "$ss" | jq -r '"median \(.median) ms, min \(.min), max \(.max) (n=\(.n))"')"
echo "superfluid, request -> QEMU spawned (the agent's clock): $(echo "$ps" | jq -r '"median \(.median) ms, min \(.min), max \(.max)"')"
echo "overhead:   $(awk -v s="$sm" -v r="$rm_" 'BEGIN {printf "%.1f ms (%.1f%% of the total)", s - r, (s - r) * 100 / s}')"
echo "results in $OUT"
