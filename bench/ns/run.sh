#!/bin/bash
# bench/ns: network-service instantiation time, from `ns instantiate` to every VDU instance
# Running (the operation occurrence COMPLETED), on an all-in-one sfd in a private network
# namespace, for
#   demo   the 3-VNF demo service (tests/data/descriptors/demo-*.yaml, 2 virtual links)
#   s20    a generated 20-VNF service (20 vnf-profiles of 2 VNFDs, 3 virtual links)
#   s20d0  the same with day-0 templates that name peers' addresses (so the NFVO reserves the
#          ports first, outside the pools)
#   mec    the 5G/MEC demonstrator (examples/5g-mec: 7 VNFs, 5 virtual links, day-0 templates
#          naming peers), when its images can be built (tools/build-demo-images.sh)
# each with port pools cold (sfd --pools off; the NS creates its networks) and warm (sfd --pools
# on --pool-min 20, the virtual links mapped to existing networks, made for the case, whose pools
# are full before each run). Each
# case: REPS instantiate/terminate cycles; times from the operation occurrence (server side:
# start_time -> end_time) and around the blocking `sfctl ns instantiate` (client side).
# Needs root. Usage: [REPS=5] [KEEP_LOG=FILE] bench/ns/run.sh [BUILD_DIR] [OUT_JSON]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B="$top/${1:-build}"
OUT=${2:-$top/bench/results/ns.json}
REPS=${REPS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/ns needs root" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
NS=sfbench-ns-$$
RUN=$(mktemp -d /run/sfbench.XXXXXX)
ST=$(mktemp -d /tmp/sfbench.XXXXXX)
SFD_PID=""
NSX="nsenter --net=/run/netns/$NS"
stop_sfd() {
        [ -n "$SFD_PID" ] || return 0
        kill "$SFD_PID"; wait "$SFD_PID"; SFD_PID=""
}
cleanup() {
        if [ -n "$SFD_PID" ]; then
                for n in $($SF ns list -q 2>/dev/null); do $SF ns terminate "$n" >/dev/null 2>&1; done
                $SF ps -q 2>/dev/null | xargs -r $SF rm --force >/dev/null 2>&1
                sleep 1
                stop_sfd
        fi
        grep -o " $RUN[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        [ -z "${KEEP_LOG:-}" ] || cp "$ST/sfd.log" "$KEEP_LOG" # sfd's warnings and errors, for a look
        rm -rf "$RUN" "$ST"
        ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up

start_sfd() { # extra sfd args
        rm -f "$ST/url"
        "$B/src/sfd/sfd" --netns "/run/netns/$NS" --run-dir "$RUN" --state-dir "$ST/state" --listen 127.0.0.1:0 \
                --url-file "$ST/url" --log-level warn --site core --node core-1 "$@" 2>>"$ST/sfd.log" &
        SFD_PID=$!
        for _ in $(seq 100); do [ -s "$ST/url" ] && break; sleep 0.1; done
        U=$(cat "$ST/url")
        SF="$NSX $B/src/cli/sfctl --endpoint $U"
        for _ in $(seq 200); do $SF node list -o json 2>/dev/null | jq -e '.[0].status.state=="Ready"' >/dev/null && break; sleep 0.1; done
}

# ---- the synthetic 20-VNF service ----
gen_synth() { # DIR DAY0(0|1)
        local d=$1 day0=$2
        mkdir -p "$d"
        for v in a b; do
                {
                        echo "vnfd:"
                        echo "  id: synth-$v"
                        echo "  version: '1.0'"
                        echo "  sw-image-desc: [{id: bb, image: busybox, container-format: docker}]"
                        echo "  virtual-compute-desc: [{id: c, virtual-cpu: {num-virtual-cpu: 1}, virtual-memory: {size: 0.03}}]"
                        echo "  vdu:"
                        echo "  - id: app"
                        echo "    sw-image-desc: bb"
                        echo "    virtual-compute-desc: c"
                        if [ $v = a ]; then
                                echo "    int-cpd: [{id: data-int, order: 0}]"
                        else
                                echo "    int-cpd: [{id: data-int, order: 0}, {id: ctl-int, order: 1}]"
                        fi
                        echo "    configurable-properties: [{key: superfluid-command, value: exec sleep 3600}]"
                        if [ "$day0" = 1 ]; then
                                echo "    cloud-init: |"
                                echo "      me={{self.name}} {{self.data-int.ip}}"
                                echo "      first={{vnf.1.data.ip}}"
                                echo "      data={{vl.data.cidr}}"
                        fi
                        echo "  ext-cpd:"
                        echo "  - {id: data, int-cpd: {vdu-id: app, cpd: data-int}}"
                        [ $v = b ] && echo "  - {id: ctl, int-cpd: {vdu-id: app, cpd: ctl-int}}"
                        echo "  df:"
                        echo "  - id: df"
                        echo "    vdu-profile: [{id: app, min-number-of-instances: 1, max-number-of-instances: 4}]"
                        echo "    instantiation-level: [{id: il, vdu-level: [{vdu-id: app, number-of-instances: 1}]}]"
                } >"$d/synth-$v.yaml"
        done
        {
                echo "nsd:"
                echo "  nsd:"
                echo "  - id: synth20"
                echo "    version: '1.0'"
                echo "    vnfd-id: [synth-a, synth-b]"
                echo "    virtual-link-desc: [{id: data}, {id: ctl}, {id: spare}]"
                echo "    df:"
                echo "    - id: df"
                echo "      vnf-profile:"
                for i in $(seq 1 20); do
                        local v=a; [ $((i % 2)) = 0 ] && v=b
                        echo "      - id: '$i'"
                        echo "        vnfd-id: synth-$v"
                        echo "        virtual-link-connectivity:"
                        echo "        - virtual-link-profile-id: data"
                        echo "          constituent-cpd-id: [{constituent-base-element-id: '$i', constituent-cpd-id: data}]"
                        if [ $v = b ]; then
                                echo "        - virtual-link-profile-id: ctl"
                                echo "          constituent-cpd-id: [{constituent-base-element-id: '$i', constituent-cpd-id: ctl}]"
                        fi
                done
        } >"$d/synth20.yaml"
}
gen_synth "$ST/s20" 0
gen_synth "$ST/s20d0" 1
MEC=0
if [ -x "$top/tools/build-demo-images.sh" ] && "$top/tools/build-demo-images.sh" --out "$ST/demo-images" >"$ST/images.log" 2>&1; then
        MEC=1
else
        echo "the 5G/MEC images could not be built: no 'mec' case ($(tail -n 1 "$ST/images.log"))" >&2
fi

ms_between() { # RFC 3339 timestamps -> ms
        python3 -c 'import sys,datetime as d
f=lambda s: d.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print(round((f(sys.argv[2])-f(sys.argv[1])).total_seconds()*1000, 1))' "$1" "$2"
}

results="[]"
failures=()
run_case() { # name pools(cold|warm) nsd vl-list
        local name=$1 pools=$2 nsd=$3 vls=$4 cfg="$ST/params-$1-$2.yaml" srv=() cli=() term=() disp=() i
        {
                echo "site: core"
                echo "vcpu-millis: 100"
                echo "stop-grace-seconds: 0"
                if [ "$pools" = warm ]; then
                        echo "vld:"
                        for vl in $vls; do echo "- {name: $vl, vim-network-name: warm-$vl}"; done
                fi
        } >"$cfg"
        if [ "$pools" = warm ]; then # existing networks for the case's virtual links, with pools
                local n=90
                for vl in $vls; do
                        $SF network create "warm-$vl" --cidr "10.$n.0.0/24" -q >/dev/null
                        n=$((n + 1))
                done
        fi
        $SF ns create "b-$name" --nsd "$nsd" --config "$cfg" >/dev/null || { echo "create $name failed" >&2; exit 1; }
        i=0
        while [ "$i" -lt "$REPS" ]; do
                i=$((i + 1))
                if [ "$pools" = warm ]; then # refilled, and every pool at its min, before each run
                        for _ in $(seq 300); do
                                $SF pool list -o json | jq -e 'length > 0 and all(.[]; .size >= .min)' >/dev/null && break
                                sleep 0.1
                        done
                fi
                local t0 t1 op
                t0=$(date +%s%N)
                if ! $SF ns instantiate "b-$name" >/dev/null 2>"$ST/err"; then
                        # a failed instantiation is rolled back: count it, say why, run again
                        failures+=("$name/$pools: $(tail -n 1 "$ST/err")")
                        echo "instantiate $name/$pools failed (rolled back): $(cat "$ST/err")" >&2
                        [ "${#failures[@]}" -lt 10 ] || exit 1
                        i=$((i - 1))
                        continue
                fi
                t1=$(date +%s%N)
                op=$($SF ns ops "b-$name" -o json | jq '.[-1]')
                srv+=("$(ms_between "$(echo "$op" | jq -r .start_time)" "$(echo "$op" | jq -r .end_time)")")
                # the NFVO's own part: until every network and container is requested
                disp+=("$(ms_between "$(echo "$op" | jq -r .start_time)" \
                        "$(echo "$op" | jq -r '[.log[] | select(.message | startswith("waiting for"))][0].time')")")
                cli+=("$(( (t1 - t0) / 100000 ))")
                t0=$(date +%s%N)
                $SF ns terminate "b-$name" >/dev/null || { echo "terminate $name failed" >&2; exit 1; }
                t1=$(date +%s%N)
                term+=("$(( (t1 - t0) / 1000000 ))")
        done
        $SF ns delete "b-$name" >/dev/null
        for n in $($SF network list -q); do $SF network delete "$n" >/dev/null; done
        local vdus
        vdus=$($SF nsd show "$nsd" -o json | jq '.model.vnf_profiles | length')
        results=$(echo "$results" | jq --arg n "$name" --arg p "$pools" --argjson v "$vdus" \
                --argjson s "$(printf '%s\n' "${srv[@]}" | jq -s .)" \
                --argjson c "$(printf '%s\n' "${cli[@]}" | jq -s 'map(. / 10)')" \
                --argjson t "$(printf '%s\n' "${term[@]}" | jq -s .)" \
                --argjson d "$(printf '%s\n' "${disp[@]}" | jq -s .)" \
                '. + [{case: $n, pools: $p, vnfs: $v, server_ms: $s, dispatch_ms: $d, cli_ms: $c, terminate_ms: $t}]')
        echo "$name/$pools: server ${srv[*]} ms; cli $(printf '%s\n' "${cli[@]}" | jq -s 'map(. / 10) | join(" ")' -r) ms" >&2
}

onboard_all() {
        for f in client router video; do $SF vnfd onboard "$top/tests/data/descriptors/demo-$f-vnfd.yaml" >/dev/null; done
        $SF nsd onboard "$top/tests/data/descriptors/demo-nsd.yaml" >/dev/null
        for v in a b; do $SF vnfd onboard "$ST/s20/synth-$v.yaml" >/dev/null; done
        $SF nsd onboard "$ST/s20/synth20.yaml" >/dev/null
}

for pools in cold warm; do
        for variant in plain day0; do
                rm -rf "$ST/state"
                if [ $pools = cold ]; then start_sfd --pools off; else start_sfd --pools on --pool-min 20 --pool-max 40 --pool-batch 20; fi
                if [ $variant = plain ]; then
                        onboard_all
                        if [ $MEC = 1 ]; then
                                $NSX "$top/tools/build-demo-images.sh" --out "$ST/demo-images" --import \
                                        --sfctl "$B/src/cli/sfctl" --endpoint "$U" >>"$ST/images.log" 2>&1 || MEC=0
                                for f in "$top"/examples/5g-mec/descriptors/*-vnfd.yaml; do $SF vnfd onboard "$f" >/dev/null; done
                                $SF nsd onboard "$top/examples/5g-mec/descriptors/sf-5g-mec-nsd.yaml" >/dev/null || MEC=0
                        fi
                else
                        for v in a b; do $SF vnfd onboard "$ST/s20d0/synth-$v.yaml" >/dev/null; done
                        $SF nsd onboard "$ST/s20d0/synth20.yaml" >/dev/null
                fi
                if [ $variant = plain ]; then
                        run_case demo $pools demo-ns "access-net core-net"
                        run_case s20 $pools synth20 "data ctl spare"
                        [ $MEC = 0 ] || run_case mec $pools sf-5g-mec-ns "radio fronthaul backhaul sgi mec"
                else
                        run_case s20d0 $pools synth20 "data ctl spare"
                fi
                stop_sfd
        done
done

echo "$results" | jq --arg reps "$REPS" --arg host "$(uname -r) $(nproc) CPUs" \
        --argjson f "$(printf '%s\n' "${failures[@]}" | jq -R . | jq -s 'map(select(length > 0))')" \
        '{reps: ($reps | tonumber), host: $host, cases: ., failed_runs: $f}' >"$OUT"
echo
echo "| service | VNFs | pools | instantiate -> all Running, p50 (min-max) ms | of which NFVO dispatch p50 ms | CLI wall p50 ms | terminate p50 ms |"
echo "|---|---|---|---|---|---|---|"
[ "${#failures[@]}" = 0 ] || printf 'failed (rolled back) and run again: %s\n' "${failures[@]}"
jq -r '.cases[] | def med: sort | .[(length / 2 | floor)]; "| \(.case) | \(.vnfs) | \(.pools) | \(.server_ms | med) (\(.server_ms | min)-\(.server_ms | max)) | \(.dispatch_ms | med) | \(.cli_ms | med) | \(.terminate_ms | med) |"' "$OUT"
