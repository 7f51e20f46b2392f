#!/usr/bin/env python3
"""Regenerates the per-file list in docs/ARCHITECTURE.md (between the SOURCES markers) from
the comment at the top of each source file: its first sentence, on one line."""
import os, re, subprocess, sys

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
files = subprocess.run(["git", "ls-files", "src"], cwd=top, capture_output=True, text=True).stdout.split()
files += [f for f in subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "src"], cwd=top,
                                   capture_output=True, text=True).stdout.split()]
files = sorted(f for f in set(files) if f.endswith((".c", ".h")))

def summary(path):
    with open(os.path.join(top, path), errors="replace") as f:
        text = f.read(4000)
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    if not m:
        return "(no header comment)"
    body = " ".join(l.strip().lstrip("*").strip() for l in m.group(1).splitlines())
    body = re.sub(r"\s+", " ", body).strip()
    first = re.split(r"(?<=[a-z0-9)'\"])\. ", body, maxsplit=1)[0].rstrip(".")
    return first

out, folder = [], None
for f in files:
    d = os.path.dirname(f)
    if d != folder:
        out.append(f"\n**{d}/**\n")
        folder = d
    out.append(f"- `{os.path.basename(f)}`: {summary(f)}.")
doc = os.path.join(top, "docs/ARCHITECTURE.md")
text = open(doc).read()
new = re.sub(r"(<!-- SOURCES -->).*(<!-- /SOURCES -->)", lambda m: m.group(1) + "\n" + "\n".join(out) + "\n\n" + m.group(2),
             text, flags=re.S)
open(doc, "w").write(new)
print(f"{len(files)} files listed")
