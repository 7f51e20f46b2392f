#!/usr/bin/env python3
"""Summarises bench/boot results (JSON from run.sh) as a markdown table: per concurrency, the
median (min-max) of the bare runtime and of Superfluid (request -> running and answering ping),
their ratio, and the breakdown of one start (control plane, network plumbing, root filesystem,
runtime)."""
import json, statistics, sys

d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "bench/results/boot.json"))
def mmm(v):
    return f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
print(f"Machine: {d['machine']}; {d['runc']}.\n")
print("| containers at once | bare runc, all started (ms) | Superfluid, all running + answering ping (ms) | ratio (medians) |")
print("|---|---|---|---|")
rows = {}
for r in d["runs"]:
    if r.get("sequential"):
        continue
    s = [x for x in r["sf"] if x.get("summary")][0]
    rows.setdefault(r["n"], ([], []))
    rows[r["n"]][0].append(r["bare_all_us"] / 1000)
    rows[r["n"]][1].append(s["all_ready_ms"])
for n, (b, s) in sorted(rows.items()):
    print(f"| {n} | {mmm(b)} | {mmm(s)} | {statistics.median(s) / statistics.median(b):.2f} |")
seq = [r for r in d["runs"] if r.get("sequential")][0]
bare = [x / 1000 for x in seq["bare_us"]]
ready = [x["ready_ms"] for x in seq["sf"]]
print(f"| 1, sequential x{len(ready)} | {mmm(bare)} | {mmm(ready)} | {statistics.median(ready) / statistics.median(bare):.2f} |")
print()
print("Breakdown of a sequential start (medians, ms):\n")
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
