#!/usr/bin/env python3
"""Summarises bench/boot results (JSON from run.sh) as a markdown table: per concurrency, the
median (min-max) of the bare runtime (minimal bundle, and Superfluid's own bundle without
network) and of Superfluid (request -> running and answering ping) on the cold path (pools
off) and on the warm path (a pooled port), the ratios, and the breakdown of one cold start
(control plane, network plumbing, root filesystem, runtime)."""
import json, statistics, sys

d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "bench/results/boot.json"))
def mmm(v):
    return f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
print(f"Machine: {d['machine']}; {d['runc']}.\n")
def med(v):
    return statistics.median(v) if v else float("nan")
print("| containers at once | bare runc, minimal bundle (ms) | bare runc, Superfluid's bundle without network (ms) | Superfluid cold (pools off), all running + answering ping (ms) | Superfluid warm (pooled ports) (ms) | cold / minimal | cold / same bundle | warm / same bundle |")
print("|---|---|---|---|---|---|---|---|")
def r2(a, b):
    return f"{med(a) / med(b):.2f}" if a and b else "-"
rows = {}
for r in d["runs"]:
    if r.get("sequential"):
        continue
    s = [x for x in r["sf"] if x.get("summary")][0]
    rows.setdefault(r["n"], ([], [], [], []))
    rows[r["n"]][0].append(r["bare_all_us"] / 1000)
    if "same_bundle_all_us" in r:
        rows[r["n"]][1].append(r["same_bundle_all_us"] / 1000)
    rows[r["n"]][2].append(s["all_ready_ms"])
    w = [x for x in r.get("sf_warm", []) if x.get("summary")]
    if w and not w[0]["failed"]:
        rows[r["n"]][3].append(w[0]["all_ready_ms"])
for n, (b, sb, s, w) in sorted(rows.items()):
    print(f"| {n} | {mmm(b)} | {mmm(sb) if sb else '-'} | {mmm(s)} | {mmm(w) if w else '-'} | {r2(s, b)} | {r2(s, sb)} | {r2(w, sb)} |")
seq = [r for r in d["runs"] if r.get("sequential")][0]
bare = [x / 1000 for x in seq["bare_us"]]
same = [x / 1000 for x in seq.get("same_bundle_us", [])]
ready = [x["ready_ms"] for x in seq["sf"]]
wready = [x["ready_ms"] for x in seq.get("sf_warm", [])]
print(f"| 1, sequential x{len(ready)} | {mmm(bare)} | {mmm(same) if same else '-'} | {mmm(ready)} | {mmm(wready) if wready else '-'} | {r2(ready, bare)} | {r2(ready, same)} | {r2(wready, same)} |")
print()
print("Breakdown of a sequential cold start (medians, ms):\n")
agent = [x["agent"] for x in seq["sf"]]
net = [a["network_ms"] for a in agent]
rootfs = [a["rootfs_ms"] for a in agent]
rt = [a["runtime_ms"] for a in agent]
total = [a["total_ms"] for a in agent]
ctl = [x["running_ms"] - a["total_ms"] for x, a in zip(seq["sf"], agent)]
ack = [x["ack_ms"] for x in seq["sf"]]
overlapped = all(a.get("network_overlapped") for a in agent)
plumb = "network plumbing (during the runtime's work, inside its column)" if overlapped else "network plumbing"
print(f"| API ack | control plane (request to agent and status back) | {plumb} | root filesystem | runtime (bundle + shim + runc) | ready |")
print("|---|---|---|---|---|---|")
print(f"| {statistics.median(ack):.1f} | {statistics.median(ctl):.1f} | {statistics.median(net):.1f} | {statistics.median(rootfs):.1f} | {statistics.median(rt):.1f} | {statistics.median(ready):.1f} |")
