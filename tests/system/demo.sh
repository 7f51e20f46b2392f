#!/bin/bash
# `make demo` stays true: examples/demo.sh runs the whole demonstrator (lab, images, NS, UE
# streaming, the video moving core -> edge) and must end with 0 failed segments; then
# `--down` must leave nothing of the lab behind.
. "$(dirname "$0")/../lib.sh"
need_root
for c in runc busybox jq gcc; do command -v $c >/dev/null || { echo "$c missing"; exit 77; }; done
export SF_DEMO_LAB="d$(( $$ % 10000 ))" SF_DEMO_DIR="$T/lab"
on_exit '"$SFCTL" lab down --dir "$SF_DEMO_DIR" --wait 0 >/dev/null 2>&1 || true'
"$top/examples/demo.sh" "${SF_BUILD:-build}" > "$T/demo.log" 2>&1 || { tail -n 40 "$T/demo.log"; die "the demo failed"; }
sed -n '/== 6. results/,/^(this kernel/p' "$T/demo.log"
grep -q "0 failed" "$T/demo.log" || die "no '0 failed' in the demo's results"
grep -q "served from the edge: [0-9]" "$T/demo.log" || die "no segment was served from the edge"
"$top/examples/demo.sh" --down "${SF_BUILD:-build}" > "$T/down.log" 2>&1 || die "demo --down: $(cat "$T/down.log")"
ip netns list | grep -q "sflab-$SF_DEMO_LAB" && die "lab namespaces left: $(ip netns list | grep "sflab-$SF_DEMO_LAB")"
ip link show "sflab-$SF_DEMO_LAB" >/dev/null 2>&1 && die "the lab's bridge is left"
echo PASS
