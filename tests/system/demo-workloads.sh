#!/bin/bash
# The 5G/MEC demonstrator's workloads end to end, without the NS layer (issue #6): builds them
# (tools/build-demo-images.sh, with ASan+UBSan builds), validates the descriptors with the
# product's SOL006 parser when it is built, renders each VDU's day-0 template by hand with this
# test's addresses, and runs the programs with those day-0 files in plain network namespaces, one
# per function, joined by veth pairs (radio, fronthaul, backhaul, sgi) and a bridge (mec):
#
#   ue -radio- rrh -fronthaul- bbu -backhaul- epc -sgi- tof -mec- { meo, video-core, video-edge }
#
# The UE streams; every hop's counters (and the kernel's interface counters) must show the
# traffic; a second video instance (site edge) registers with the MEO, which steers the TOF to it
# mid-stream; a manual pin through the MEO API steers back to the core and releases again; the
# core instance is stopped with SIGTERM (deregisters, lingers, drains). The UE must see no failed
# segment and segments from both instances. Every program must exit 0 on SIGTERM (sanitizers
# report leaks at exit). Needs root (exit 77 otherwise).
#   SF_DEMO_BIN=static   run the static binaries instead of the sanitized ones
. "$(dirname "$0")/../lib.sh"
need_root
for t in gcc ip curl jq busybox; do command -v $t >/dev/null || { echo "$t missing"; exit 77; }; done

IMG="$B/demo-images"
D="$top/examples/5g-mec/descriptors"
PREFIX="sftest-$$"
SEG=262072 # bytes per segment (256 KiB rounded down to 188-byte TS packets)
NSS=()
PIDS=()
declare -A PID_OF NS_OF

note "build the workloads and images (static, and ASan+UBSan)"
"$top/tools/build-demo-images.sh" --out "$IMG" --asan >"$T/build.log" 2>&1 || { cat "$T/build.log"; die "build-demo-images"; }
for p in rrh bbu epc tof meo video ue; do
        file "$IMG/bin/$p" | grep -q "statically linked" || die "$p is not static"
        [ -x "$IMG/rootfs/sf-$p/usr/bin/$p" ] && [ -x "$IMG/rootfs/sf-$p/bin/busybox" ] || die "rootfs of sf-$p"
        "$IMG/bin/$p" --help >/dev/null || die "$p --help"
done
"$IMG/bin/rrh" --help | grep -q "RRH stand-in" || die "rrh --help does not say it is a stand-in"
BIN="$IMG/asan"
[ "${SF_DEMO_BIN:-asan}" = static ] && BIN="$IMG/bin"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

note "descriptors: the product's SOL006 parser and a check of every day-0 placeholder"
if [ -f "$B/src/nfvo/libsf-nfvo-desc.a" ] && [ -f "$B/src/lib/libsf-base.a" ]; then
        gcc -std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$top/src" -I"$B" -o "$T/check-descriptors" \
                "$top/tools/check-descriptors.c" "$B/src/nfvo/libsf-nfvo-desc.a" "$B/src/lib/libsf-base.a" \
                $(pkg-config --libs jansson libfyaml libarchive libcurl) -lpthread -lm || die "build check-descriptors"
        "$T/check-descriptors" "$D"/*.yaml || die "descriptors"
else
        echo "(no $B/src/nfvo/libsf-nfvo-desc.a: descriptor validation skipped)"
fi

# ---- topology ----

cleanup_all() {
        local p
        for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do
                for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$p" 2>/dev/null
        done
        for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
}
on_exit cleanup_all

mkns() { # short name
        ip netns add "$PREFIX-$1" || die "ip netns add $PREFIX-$1"
        NSS+=("$PREFIX-$1")
        ip -n "$PREFIX-$1" link set lo up
}
nsx() { local n=$1; shift; ip netns exec "$PREFIX-$n" "$@"; }
# link A IFA IPA/LEN B IFB IPB/LEN: a veth pair made directly inside the two namespaces
link() {
        ip -n "$PREFIX-$1" link add "$2" type veth peer name "$5" netns "$PREFIX-$4" || die "veth $1-$4"
        ip -n "$PREFIX-$1" addr add "$3" dev "$2"
        ip -n "$PREFIX-$4" addr add "$6" dev "$5"
        ip -n "$PREFIX-$1" link set "$2" up
        ip -n "$PREFIX-$4" link set "$5" up
}

note "topology: one namespace per function; radio, fronthaul, backhaul, sgi links; a mec bridge"
for n in ue rrh bbu epc tof mec meo vcore vedge; do mkns $n; done
link ue radio 10.61.1.10/24 rrh radio 10.61.1.2/24
link rrh fronthaul 10.61.2.1/24 bbu fronthaul 10.61.2.2/24
link bbu backhaul 10.61.3.1/24 epc backhaul 10.61.3.2/24
link epc sgi 10.61.4.1/24 tof sgi 10.61.4.2/24
ip -n "$PREFIX-mec" link add br0 type bridge || die "bridge"
ip -n "$PREFIX-mec" link set br0 up
i=0
for m in tof:10.61.5.1 meo:10.61.5.2 vcore:10.61.5.10 vedge:10.61.5.11; do
        n=${m%%:*} a=${m#*:}
        ip -n "$PREFIX-mec" link add "p$i" type veth peer name mec netns "$PREFIX-$n" || die "veth mec-$n"
        ip -n "$PREFIX-mec" link set "p$i" master br0 up
        ip -n "$PREFIX-$n" addr add "$a/24" dev mec
        ip -n "$PREFIX-$n" link set mec up
        i=$((i + 1))
done
nsx ue busybox ping -c 1 -W 2 10.61.1.2 >/dev/null || die "radio link"
nsx tof busybox ping -c 1 -W 2 10.61.5.11 >/dev/null || die "mec bridge"
nsx ue busybox ping -c 1 -W 1 10.61.2.2 >/dev/null 2>&1 && die "the UE reaches the BBU directly: the links are not separate"

# ---- day-0 files: each VDU's template from the descriptors, rendered with this test's addresses ----

# day0 VNFD-FILE: the cloud-init block of the (only) VDU
day0() {
        awk '/^    cloud-init: \|/ { on = 1; next }
             on && /^      / { sub(/^      /, ""); print; next }
             on { exit }' "$D/$1"
}
# render VNFD-FILE OUT KEY=VALUE...: replaces {{ KEY }}; fails on anything left unresolved
render() {
        local f=$1 out=$2; shift 2
        local text kv k v
        text=$(day0 "$f")
        [ -n "$text" ] || die "no cloud-init in $f"
        for kv in "$@"; do
                k=${kv%%=*} v=${kv#*=}
                text=$(printf '%s\n' "$text" | sed -E "s/\\{\\{ *${k//./\\.} *\\}\\}/$v/g")
        done
        printf '%s\n' "$text" | grep -q '{{' && die "unresolved placeholder in $f: $(printf '%s\n' "$text" | grep '{{')"
        printf '%s\n' "$text" >"$out"
}
render cran-rrh-vnfd.yaml "$T/rrh.conf" vnf.bbu.fronthaul-ext.ip=10.61.2.2
render cran-bbu-vnfd.yaml "$T/bbu.conf" vnf.epc.backhaul-ext.ip=10.61.3.2
render cran-epc-vnfd.yaml "$T/epc.conf" vnf.tof.sgi-ext.ip=10.61.4.2
render mec-tof-vnfd.yaml "$T/tof.conf" vnf.meo.mec-ext.ip=10.61.5.2 vnf.tof.site=edge
render mec-meo-vnfd.yaml "$T/meo.conf"
render video-vnfd.yaml "$T/vcore.conf" vnf.meo.mec-ext.ip=10.61.5.2 vnf.video.site=core self.name=video-core
render video-vnfd.yaml "$T/vedge.conf" vnf.meo.mec-ext.ip=10.61.5.2 vnf.video.site=edge self.name=video-edge
render ue-vnfd.yaml "$T/ue.conf" vnf.rrh.radio-ext.ip=10.61.1.2
grep -q "^upstream=10.61.2.2:2152$" "$T/rrh.conf" || die "rendered rrh.conf: $(cat "$T/rrh.conf")"

# ---- processes ----

# start NAME NS PROG [ARGS...]: runs PROG with its day-0 file $T/NAME.conf in namespace NS
start() {
        local name=$1 ns=$2 prog=$3; shift 3
        # a plain command in the background: $! is the program itself (ip netns exec execs it)
        ip netns exec "$PREFIX-$ns" "$BIN/$prog" --config "$T/$name.conf" --report-interval 2 "$@" \
                >"$T/$name.log" 2>&1 &
        PID_OF[$name]=$!
        NS_OF[$name]=$ns
        PIDS+=($!)
}
# stop NAME: SIGTERM, must exit 0 within 8 s
stop() {
        local name=$1 pid=${PID_OF[$1]} rc=0
        kill -TERM "$pid" 2>/dev/null || die "$name is not running: $(tail -n 20 "$T/$name.log")"
        for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && die "$name did not exit within 8 s of SIGTERM"
        wait "$pid" || rc=$?
        [ $rc = 0 ] || die "$name exited with status $rc: $(tail -n 40 "$T/$name.log")"
}
status() { nsx "${NS_OF[$1]}" curl -sf --max-time 2 "http://127.0.0.1:9090$2"; }
json() { status "$1" "$2" | jq -r "$3"; }
alive() { kill -0 "${PID_OF[$1]}" 2>/dev/null || die "$1 died: $(tail -n 40 "$T/$1.log")"; }

note "start MEO, TOF, EPC, BBU, RRH and the core video instance (each with its day-0 file)"
start meo meo meo
start tof tof tof
start epc epc epc
start bbu bbu bbu
start rrh rrh rrh
start vcore vcore video --segments 12
for n in meo tof epc bbu rrh vcore; do wait_for 10 "$n healthy" status $n /healthz; done
wait_for 10 "MEO steers the TOF to the core instance" \
        sh -c "ip netns exec $PREFIX-tof curl -sf http://127.0.0.1:9090/counters | jq -e '.services[0].target == \"10.61.5.10:8080\"'"

note "the UE attaches to the RRH and streams"
start ue ue ue --interval 0.25 --report-interval 5
wait_for 20 "10 segments at the UE" sh -c "[ \$(ip netns exec $PREFIX-ue curl -sf http://127.0.0.1:9090/stats | jq .segments_ok) -ge 10 ]"
for n in meo tof epc bbu rrh vcore ue; do alive $n; done
ok=$(json ue /stats .segments_ok)
for n in rrh bbu epc; do
        c=$(status $n /counters) || die "$n counters"
        [ "$(echo "$c" | jq .sessions_total)" -ge "$ok" ] || die "$n saw fewer sessions than the UE's $ok segments: $c"
        [ "$(echo "$c" | jq .bytes_down)" -ge $((ok * SEG)) ] || die "$n carried less than $ok segments down: $c"
        [ "$(echo "$c" | jq '.bytes_up > 0 and .packets_down > 0 and .protocol_errors == 0')" = true ] || die "$n: $c"
done
[ "$(json bbu /counters .downstream_framing)/$(json bbu /counters .upstream_framing)" = gtpu/gtpu ] || die "bbu framing"
[ "$(json tof /counters '.services[0].targets[] | select(.address == "10.61.5.10:8080") | .bytes_down')" -ge $((ok * SEG)) ] \
        || die "TOF per-target counters: $(status tof /counters)"
[ "$(json vcore /counters .segments_served)" -ge "$ok" ] || die "core video served too few: $(status vcore /counters)"
# the kernel agrees: the bytes crossed each link, in each namespace
for l in rrh:fronthaul bbu:backhaul epc:sgi; do
        rx=$(nsx "${l%%:*}" cat "/sys/class/net/${l#*:}/statistics/rx_bytes")
        [ "$rx" -ge $((ok * SEG)) ] || die "interface ${l#*:} in ${l%%:*} received only $rx bytes"
done

note "make-before-break: an edge instance registers, the MEO steers the TOF to it mid-stream"
start vedge vedge video --segments 12
wait_for 10 "TOF steered to the edge instance" \
        sh -c "ip netns exec $PREFIX-tof curl -sf http://127.0.0.1:9090/counters | jq -e '.services[0].target == \"10.61.5.11:8080\"'"
wait_for 10 "segments from the edge instance" \
        sh -c "ip netns exec $PREFIX-ue curl -sf http://127.0.0.1:9090/stats | jq -e '.served_by[\"video-edge\"] >= 4'"

note "manual steering through the MEO API: pin to the core instance, then back to automatic"
nsx tof curl -sf -X POST -d '{"service": "video", "to": "10.61.5.10:8080"}' http://10.61.5.2:9090/steer >/dev/null || die "pin"
wait_for 10 "TOF steered back to the core" \
        sh -c "ip netns exec $PREFIX-tof curl -sf http://127.0.0.1:9090/counters | jq -e '.services[0].target == \"10.61.5.10:8080\"'"
core_before=$(json ue /stats '.served_by["video-core"]')
wait_for 10 "segments from the core again" \
        sh -c "[ \$(ip netns exec $PREFIX-ue curl -sf http://127.0.0.1:9090/stats | jq '.served_by[\"video-core\"]') -ge $((core_before + 3)) ]"
nsx tof curl -sf -X POST -d '{"service": "video", "to": "auto"}' http://10.61.5.2:9090/steer >/dev/null || die "unpin"
wait_for 10 "TOF back on the edge instance" \
        sh -c "ip netns exec $PREFIX-tof curl -sf http://127.0.0.1:9090/counters | jq -e '.services[0].target == \"10.61.5.11:8080\"'"

note "the TOF's own control API refuses bad requests"
code=$(nsx tof curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"service": "nope", "to": "10.0.0.1:1"}' http://127.0.0.1:9090/steer)
[ "$code" = 404 ] || die "steer unknown service: HTTP $code"
code=$(nsx tof curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"service": "video", "to": "somewhere"}' http://127.0.0.1:9090/steer)
[ "$code" = 400 ] || die "steer to a name: HTTP $code"
code=$(nsx tof curl -s -o /dev/null -w '%{http_code}' -X POST -d 'not json' http://127.0.0.1:9090/steer)
[ "$code" = 400 ] || die "steer with a broken body: HTTP $code"

note "the core instance stops (SIGTERM: deregister, linger, drain) while the UE streams"
stop vcore
grep -q "deregistered from the MEO" "$T/vcore.log" || die "core video did not deregister: $(cat "$T/vcore.log")"
total=$(json ue /stats .segments_total)
wait_for 20 "8 more segments after the core instance stopped" \
        sh -c "[ \$(ip netns exec $PREFIX-ue curl -sf http://127.0.0.1:9090/stats | jq .segments_total) -ge $((total + 8)) ]"

note "results"
stats=$(status ue /stats) || die "UE stats"
echo "$stats" | jq -c '{segments_ok, segments_failed, retries, attempt_errors, p50_latency_ms, p99_latency_ms, max_gap_ms, served_by, server_switches}'
[ "$(echo "$stats" | jq .segments_failed)" = 0 ] || die "the UE saw failed segments: $stats"
[ "$(echo "$stats" | jq '.served_by["video-core"] > 0 and .served_by["video-edge"] > 0')" = true ] \
        || die "not served by both instances: $stats"
[ "$(echo "$stats" | jq .server_switches)" -ge 3 ] || die "expected core -> edge -> core -> edge: $stats"
[ "$(echo "$stats" | jq .playlists_ok)" -ge 1 ] || die "playlist: $stats"
tofc=$(status tof /counters)
echo "$tofc" | jq -c '.services[0] | {target, steers, sessions_total, targets: [.targets[] | {address, sessions_total, bytes_down}]}'
[ "$(echo "$tofc" | jq '[.services[0].targets[] | select(.sessions_total > 0)] | length')" = 2 ] || die "TOF targets: $tofc"
ok=$(echo "$stats" | jq .segments_ok)
for n in rrh bbu epc; do
        c=$(status $n /counters)
        echo "$n: $(echo "$c" | jq -c '{sessions_total, bytes_up, bytes_down, packets_up, packets_down, resets, connect_failures}')"
        [ "$(echo "$c" | jq .bytes_down)" -ge $((ok * SEG)) ] || die "$n carried less than the UE received: $c"
done
grep -q "RRH stand-in" "$T/rrh.log" && grep -q "BBU stand-in" "$T/bbu.log" && grep -q "EPC stand-in" "$T/epc.log" \
        || die "the stand-ins do not say what they are in their logs"
grep -q "tunnel teid 0x" "$T/bbu.log" || die "no tunnel in the BBU log"

note "every program exits 0 on SIGTERM"
for n in ue rrh bbu epc tof vedge meo; do stop $n; done
grep -q "summary: segments ok" "$T/ue.log" || die "UE summary"
PIDS=()
echo OK
