#!/bin/bash
# Runs every benchmark (each also runs on its own: bench/<name>/run.sh) and leaves the JSON
# results in bench/results/. Benchmarks need root for anything that starts containers.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
for b in "$top"/bench/*/run.sh; do
        echo "=== $(basename "$(dirname "$b")")"
        "$b" "$BUILD" || echo "benchmark $b failed" >&2
done
