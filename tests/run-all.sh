#!/bin/bash
# Runs every test suite: unit and fuzz-corpus replay (plain and ASan/UBSan builds), API tests
# (real sfd on a free port, plain and sanitized), and system tests (root, real kernel).
# Usage: tests/run-all.sh [--only unit|fuzz|api|system] BUILD ASAN_BUILD
set -u
only=""
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
BUILD=${1:-build}
ASAN_BUILD=${2:-build-asan}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

pass=0; fail=0; skip=0
failed=()
results=$(mktemp)
trap 'rm -f "$results"' EXIT

want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

run() { # name, command...
        local name=$1; shift
        local t0 t1 rc log
        log=$(mktemp)
        t0=$(date +%s%N)
        "$@" >"$log" 2>&1
        rc=$?
        t1=$(date +%s%N)
        local dt=$(( (t1 - t0) / 1000000000 )).$(( ((t1 - t0) / 100000000) % 10 ))
        if [ $rc -eq 0 ]; then
                pass=$((pass + 1)); printf "PASS  %-48s %6ss\n" "$name" "$dt"
        elif [ $rc -eq 77 ]; then
                skip=$((skip + 1)); printf "SKIP  %-48s %6ss  (%s)\n" "$name" "$dt" "$(tail -n1 "$log")"
        else
                fail=$((fail + 1)); failed+=("$name")
                printf "FAIL  %-48s %6ss\n" "$name" "$dt"
                # The causes first (cmocka's failure lines, sanitizer reports, "not ok"), since
                # a long log is cut when it is shown; then the end of the log.
                grep -E -m 20 'error:|FAILED|ERROR|^not ok|FAIL:|runtime error|Sanitizer' "$log" |
                        sed 's/^/      ! /'
                sed 's/^/      | /' "$log" | tail -n 60
        fi
        rm -f "$log"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if want unit; then
        run "unit (plain)" meson test -C "$BUILD" --suite unit --print-errorlogs
        run "unit (asan+ubsan)" meson test -C "$ASAN_BUILD" --suite unit --print-errorlogs
fi
if want fuzz; then
        run "fuzz corpus replay (asan+ubsan)" meson test -C "$ASAN_BUILD" --suite fuzz --print-errorlogs
fi
if want api; then
        for t in tests/api/test-*.sh; do
                run "api $(basename "$t" .sh) (plain)" env SF_BUILD="$BUILD" "$t"
                run "api $(basename "$t" .sh) (asan+ubsan)" env SF_BUILD="$ASAN_BUILD" SF_SANITIZED=1 "$t"
        done
fi
if want system; then
        for t in tests/system/*.sh; do
                [ -e "$t" ] || continue
                run "system $(basename "$t" .sh)" env SF_BUILD="$BUILD" "$t"
        done
fi

echo
echo "passed: $pass  failed: $fail  skipped: $skip"
if [ $fail -gt 0 ]; then
        printf 'failed: %s\n' "${failed[@]}"
        exit 1
fi
exit 0
