#!/bin/bash
# 1,000 ports created concurrently by 8 keep-alive clients (plus a burst of separate sfctl
# processes) on one /22 get 1,000+ distinct IPs and MACs; exhaustion is a 409 naming the subnet.
. "$(dirname "$0")/../lib.sh"
start_sfd
sf network create c22 --cidr 10.20.0.0/22 -q >/dev/null || die setup

note "8 clients x 125 creates"
"$LOAD" --endpoint "$U" --network c22 --count 1000 --clients 8 --ack-file "$T/acks" || die "load failed"
[ "$(wc -l < "$T/acks")" = 1000 ] || die "expected 1000 acks"
[ "$(cut -d' ' -f3 "$T/acks" | sort -u | wc -l)" = 1000 ] || die "duplicate IPs among acks"
[ "$(cut -d' ' -f2 "$T/acks" | sort -u | wc -l)" = 1000 ] || die "duplicate MACs among acks"

note "20 sfctl processes at once"
pids=()
for i in $(seq 1 20); do sf port create "cli$i" --network c22 -o json > "$T/cli$i" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || die "a concurrent sfctl create failed"; done

note "the store agrees"
sf port list --network c22 -o json > "$T/ports"
[ "$(jq length "$T/ports")" = 1020 ] || die "expected 1020 ports"
[ "$(jq -r '.[].fixed_ips[0].ip_address' "$T/ports" | sort -u | wc -l)" = 1020 ] || die "duplicate IPs in store"
[ "$(jq -r '.[].mac_address' "$T/ports" | sort -u | wc -l)" = 1020 ] || die "duplicate MACs in store"
jq -r '.[].fixed_ips[0].ip_address' "$T/ports" | grep -Eq '^10\.20\.0\.(0|1)$|^10\.20\.3\.255$' && die "reserved address handed out"

note "exhaustion: a /22 has 1021 usable addresses"
sf port create last --network c22 -q >/dev/null || die "the 1021st address should be free"
api POST /v1/ports '{"network":"c22"}'
expect_error 409 - "c22-v4" "exhaustion names the subnet"
echo "$BODY" | jq -e '.error.code == "exhausted"' >/dev/null || die "code should be exhausted"
sf port delete cli7 >/dev/null || die delete
sf port create again --network c22 -q >/dev/null || die "a freed address is reused"
stop_sfd || die "unclean stop"
echo OK
