#!/bin/bash
# The agent with crun (`sfd --runtime crun`): crun needs a private mount namespace without the
# cgroup2 mount of this hybrid layout, which sf-shim gives it. Two containers on one network,
# the start gate (the network ready before the process runs), ping between them, removal
# without leftovers. Skipped where crun is not installed.
. "$(dirname "$0")/../lib.sh"
need_root
command -v crun >/dev/null || { echo "crun not installed"; exit 77; }
make_ns sfcrun
start_sfd --runtime crun
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
wait_for 10 "the node reports crun" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.info.runtime == \"crun\"'"

note "two containers through crun, the network ready before the process runs"
sf network create neta --cidr 10.31.0.0/24 -q >/dev/null || die "network"
sf run --name a --network neta busybox -- sh -c 'if ip -4 -o addr show dev eth0 | grep -q "inet 10.31.0."; then echo net-ready-at-start; else echo net-NOT-ready; fi; exec sleep 3600' >/dev/null || die "run a: $(sf container show a)"
sf run --name b --network neta busybox -- sleep 3600 >/dev/null || die "run b: $(sf container show b)"
[ "$(phase a)" = Running ] || die "a not running: $(sf container show a)"
wait_for 5 "a's first words" sh -c "$NSX $SFCTL --endpoint $U logs a | grep -q net-"
sf logs a | grep -q net-ready-at-start || die "a ran before its network was ready: $(sf logs a)"
[ "$(sf container show a -o json | jq .status.timings.network_overlapped)" = true ] || die "no start gate"
[ -n "$(crun --root "$RUN/crun" list 2>/dev/null | grep "$(sf container show a -o json | jq -r .id)")" ] || die "crun does not list a"
ip=$(sf container show a -o json | jq -r '.status.ips[0]')
sf exec b -- ping -c 1 -W 2 "$ip" >/dev/null || die "b cannot ping a ($ip)"

note "removal leaves nothing"
sf rm a b >/dev/null || die "rm"
[ -z "$(leaks)" ] || die "leaks: $(leaks)"
sf network delete neta >/dev/null || die "network delete"
echo OK
