#!/bin/bash
# kill -9 of sfd in the middle of a burst of creates: after a restart every create that was
# acknowledged is present, and nothing is allocated twice.
. "$(dirname "$0")/../lib.sh"
start_sfd
sf network create k --cidr 10.30.0.0/18 -q >/dev/null || die setup

for round in 1 2 3; do
        note "round $round: burst, kill -9 at a random moment"
        "$LOAD" --endpoint "$U" --network k --count 20000 --clients 6 --ack-file "$T/acks$round" \
                >"$T/load$round" 2>&1 &
        lp=$!
        sleep "0.$((RANDOM % 6 + 3))"
        kill9_sfd
        wait "$lp" # fails: the server vanished mid-burst
        n=$(wc -l < "$T/acks$round")
        [ "$n" -gt 0 ] || die "no create was acknowledged before the kill"
        start_sfd
        sf port list --network k -o json | jq -r '.[].id' | sort > "$T/present"
        cut -d' ' -f1 "$T/acks$round" | sort > "$T/acked"
        missing=$(comm -23 "$T/acked" "$T/present" | wc -l)
        [ "$missing" = 0 ] || die "$missing of $n acknowledged creates are missing after kill -9"
        echo "$n acknowledged, all present"
done
sf port list --network k -o json > "$T/ports"
total=$(jq length "$T/ports")
[ "$(jq -r '.[].fixed_ips[0].ip_address' "$T/ports" | sort -u | wc -l)" = "$total" ] || die "duplicate IPs"
[ "$(jq -r '.[].mac_address' "$T/ports" | sort -u | wc -l)" = "$total" ] || die "duplicate MACs"
api GET /v1/subnets/k-v4; [ "$(echo "$BODY" | jq .pool_used)" = "$total" ] || die "allocation table disagrees with ports"
stop_sfd || die "unclean stop"
echo OK
