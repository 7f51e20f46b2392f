#!/bin/bash
# The Superfluidity demonstrator, end to end (`make demo`):
#  1. a lab on this machine: a controller and two hosts, one in site "core", one in site "edge"
#     (network namespaces joined by a private underlay bridge; nothing leaves this machine);
#  2. the 5G/MEC workloads built and imported as images on both hosts;
#  3. the SOL006 descriptors onboarded and the network service instantiated: RRH, BBU, EPC, TOF
#     and the UE at the edge, the MEO and the video service at the core, on one overlay;
#  4. the UE attaches and streams the video through RRH -> BBU -> EPC -> TOF -> video;
#  5. while it streams, the video service moves core -> edge (make-before-break, as an NS
#     operation), the MEO steers the edge TOF to the new instance, and the UE goes on;
#  6. the figures: failed segments (must be 0), the gap, the UE's latency before and after.
# The system stays up afterwards: `sfctl` works against it (the script prints the endpoint);
# `make demo-down` (examples/demo.sh --down) removes everything.
#
# Usage: examples/demo.sh [--down] [BUILD_DIR]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
DOWN=0
if [ "${1:-}" = "--down" ]; then DOWN=1; shift; fi
case "${1:-}" in -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
B="$top/${1:-build}"
SFCTL="$B/src/cli/sfctl"
LAB=${SF_DEMO_LAB:-demo}                      # tests/system/demo.sh runs it under another name
LABDIR=${SF_DEMO_DIR:-/var/lib/superfluid/lab/$LAB}
NS=mec

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the lab creates network namespaces and containers)"
[ -x "$SFCTL" ] || die "$SFCTL is missing: build first (make build)"

if [ "$DOWN" = 1 ]; then
        "$SFCTL" lab down --dir "$LABDIR"
        exit $?
fi

# A previous run's lab goes first: the demo starts from nothing.
if [ -f "$LABDIR/lab.json" ]; then
        say "removing the previous demo lab"
        "$SFCTL" lab down --dir "$LABDIR" >/dev/null || die "could not remove the previous lab"
fi

say "1. a lab: site core (host core-1) and site edge (host edge-1)"
out=$("$SFCTL" lab up --name "$LAB" --dir "$LABDIR" --sites core:1,edge:1 2>&1) || die "lab up: $out"
echo "$out" | grep -v '^$'
U=$(echo "$out" | sed -n 's/^export SUPERFLUID_ENDPOINT=//p')
export SUPERFLUID_ENDPOINT="$U"
sf() { "$SFCTL" --endpoint "$U" "$@"; }

say "2. the 5G/MEC workloads as images on every host"
"$top/tools/build-demo-images.sh" --out "$B/demo-images" --import --sfctl "$SFCTL" --endpoint "$U" \
        > "$LABDIR/logs/images.log" 2>&1 || die "images: $(tail -n 3 "$LABDIR/logs/images.log")"
sf image list

say "3. onboarding the SOL006 descriptors, instantiating the network service"
for f in "$top"/examples/5g-mec/descriptors/*-vnfd.yaml; do
        sf vnfd onboard "$f" >/dev/null || die "onboard $f"
done
sf nsd onboard "$top/examples/5g-mec/descriptors/sf-5g-mec-nsd.yaml" >/dev/null || die "onboard the NSD"
sf vnfd list
sf ns create "$NS" --nsd sf-5g-mec-ns --config "$top/examples/5g-mec/params.yaml" >/dev/null || die "ns create"
t0=$(date +%s%N)
sf ns instantiate "$NS" || die "instantiate: $(sf ns ops "$NS" | tail -1)"
echo "instantiated in $(( ($(date +%s%N) - t0) / 1000000 )) ms (7 VNFs, 2 sites)"
sf ns show "$NS"

ue=$NS-ue-ue-0
stats() { sf exec "$ue" -- wget -qO- http://127.0.0.1:9090/stats; }
say "4. the UE streams the video (one 2-second segment every 2 s, through the mobile network)"
for _ in $(seq 1 60); do
        n=$(stats 2>/dev/null | jq -r '.segments_ok // 0')
        [ "${n:-0}" -ge 4 ] && break
        sleep 1
done
[ "${n:-0}" -ge 4 ] || die "the UE does not stream: $(sf logs "$ue" --tail 5)"
before=$(stats)
echo "$before" | jq -c '{segments_ok, segments_failed, served_by_site, p50_latency_ms}'
sleep 6

say "5. moving the video service core -> edge while the UE streams"
sf container list | grep -- "-video-" || true
sf move "$NS-video" --to edge || die "the move failed"
# the UE keeps streaming; the MEO steers the edge TOF to the edge instance
for _ in $(seq 1 30); do
        stats | jq -e '.last_served_by_site == "edge" or (.served_by_site | tostring | test("edge"))' >/dev/null 2>&1 && break
        sleep 1
done
sleep 10
after=$(stats)

say "6. results"
log=$(sf logs "$ue")
lat() { # SITE -> p50 of the segments served from SITE (ms)
        echo "$log" | sed -n "s/.*segment [0-9]* (.*) ok: [0-9]* B in \([0-9.]*\) ms.*(site $1).*/\1/p" | sort -n |
                awk '{a[NR]=$1} END {if (NR) printf "%.1f ms (median of %d segments)", a[int((NR+1)/2)], NR; else print "-"}'
}
move=$(sf ns ops "$NS" -o json | jq -r '[.[] | select(.operation == "MOVE")] | last | .name')
mv=$(sf ns op "$move" -o json)
failed=$(echo "$after" | jq .segments_failed)
echo "UE: $(echo "$after" | jq .segments_ok) segments ok, $failed failed; during and after the move:" \
        "$(( $(echo "$after" | jq .segments_ok) - $(echo "$before" | jq .segments_ok) )) segments," \
        "$(( $(echo "$after" | jq .segments_failed) - $(echo "$before" | jq .segments_failed) )) failed," \
        "$(( $(echo "$after" | jq .retries) - $(echo "$before" | jq .retries) )) retried attempts"
echo "served by: $(echo "$after" | jq -c .served_by_site)"
echo "the move: $(echo "$mv" | jq -r '.moves[0] | "\(.strategy), \(.state), \(.total_ms | floor) ms from start to the old instance removed"')"
n0=$(echo "$before" | jq .segments_ok)
gap=$(echo "$log" | awk -v skip="$n0" '/ue: segment [0-9]* .* ok:/ {
        split($1, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]; n++
        if (n > skip && prev) { d = (s - prev) * 1000; if (d > g) g = d }
        prev = s } END {printf "%.0f", g}')
echo "gap the UE saw: longest time between two segments while streaming ${gap} ms (one segment every 2000 ms when nothing happens)"
echo "UE latency per segment, served from the core: $(lat core)"
echo "UE latency per segment, served from the edge: $(lat edge)"
echo "(this kernel has no netem: the sites share one flat underlay, so the latency difference is"
echo " only the overlay hop core <-> edge, not a real WAN's delay)"
[ "$failed" = 0 ] || { echo "demo: $failed failed segments" >&2; exit 1; }

cat <<EOF

The system is still up. Try:
  export SUPERFLUID_ENDPOINT=$U
  $SFCTL ns show $NS
  $SFCTL move $NS-video --to core        # and back
  $SFCTL logs $ue --tail 5
Take it down with: make demo-down
EOF
