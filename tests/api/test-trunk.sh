#!/bin/bash
# Trunks over HTTP and sfctl (issue #9): create with subports, the actions (add_subports,
# remove_subports, get_subports, take_subport, release_subport), filters, status codes and
# error fields of the refusals, concurrent add_subports from many clients (distinct VLAN ids),
# and events for the agents. No root: nothing is plumbed (no node runs the trunk).
. "$(dirname "$0")/../lib.sh"
start_sfd

sf network create neta --cidr 10.61.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.62.0.0/22 -q >/dev/null || die "network b"
sf port create vm1 --network neta -q >/dev/null || die "parent"
for i in 1 2 3; do sf port create "s$i" --network netb -q >/dev/null || die "port s$i"; done

note "create, show, list, filters"
api POST /v1/trunks '{"name": "t1", "port": "vm1", "sub_ports": [{"port": "s1", "segmentation_type": "vlan", "segmentation_id": 100}, {"port": "s2"}]}'
expect_status 201 "trunk create"
[ "$(echo "$BODY" | jq -c '[.sub_ports[].segmentation_id]')" = "[1,100]" ] || die "VLAN ids: $BODY"
[ "$(echo "$BODY" | jq -r .status)" = DOWN ] || die "an unbound trunk is DOWN: $BODY"
[ "$(sf trunk list --port vm1 -o json | jq length)" = 1 ] || die "filter by parent port"
[ "$(sf trunk list --status ACTIVE -o json | jq length)" = 0 ] || die "filter by status"
sf trunk list | grep -q '^t1 ' || die "trunk list"
api GET /v1/trunks/t1/get_subports
expect_status 200 "get_subports"
[ "$(echo "$BODY" | jq '.sub_ports | length')" = 2 ] || die "get_subports: $BODY"

note "refusals name the field"
api POST /v1/trunks/t1/add_subports '{"sub_ports": [{"port": "s3", "segmentation_id": 4095}]}'
expect_error 400 "sub_ports[0].segmentation_id" "4095 is not a VLAN id (1-4094)" "VLAN 4095"
api POST /v1/trunks/t1/add_subports '{"sub_ports": [{"port": "s3", "segmentation_id": 100}]}'
expect_error 409 "sub_ports[0].segmentation_id" "VLAN 100 is already used in trunk 't1'" "VLAN taken"
api POST /v1/trunks '{"name": "t2", "port": "s1"}'
expect_error 409 port "port 's1' is already a subport of trunk 't1'" "a subport as parent"
sf port create vm2 --network neta -q >/dev/null
api POST /v1/trunks '{"name": "t2", "port": "vm2", "sub_ports": [{"port": "s3"}, {"port": "s1"}]}'
expect_error 409 "sub_ports[1].port" "port 's1' is already a subport of trunk 't1'" "a subport twice"
api DELETE /v1/trunks/t1
expect_error 409 - "has 2 subports" "delete with subports"
api DELETE /v1/ports/s1
expect_error 409 - "is a subport of trunk 't1'" "delete a subport"
api DELETE /v1/ports/vm1
expect_error 409 - "is the parent port of trunk 't1'" "delete a parent"
api PATCH /v1/trunks/t1 '{"sub_ports": []}'
expect_error 400 sub_ports "add_subports" "sub_ports by PATCH"
out=$(sf trunk add-subport t1 s3:0 2>&1); [ $? = 1 ] && echo "$out" | grep -q "0 is not a VLAN id" || die "sfctl VLAN 0: $out"

note "actions through sfctl"
sf trunk add-subport t1 s3 >/dev/null || die "add-subport"
[ "$(sf trunk show t1 -o json | jq -c '[.sub_ports[].segmentation_id]')" = "[1,2,100]" ] || die "allocated VLAN id"
sf trunk remove-subport t1 s2 s3 >/dev/null || die "remove-subport"
[ "$(sf trunk show t1 -o json | jq '.sub_ports | length')" = 1 ] || die "after remove"
[ "$(sf port show s2 -o json | jq -r .device_owner)" = "" ] || die "released subport keeps its owner"

note "subport pools: bulk, take, release"
sf trunk update t1 --subport-pool netb:4 >/dev/null || die "pool"
[ "$(sf trunk show t1 -o json | jq '[.sub_ports[] | select(.pool == "idle")] | length')" = 4 ] || die "4 idle"
took=$(sf trunk take-subport t1 --network netb --user nested-a -o json) || die "take"
[ "$(echo "$took" | jq -r .sub_port.user)" = nested-a ] || die "take: $took"
echo "$took" | jq -e '.sub_port.fixed_ips[0].ip_address and .sub_port.mac_address and .sub_port.segmentation_id' >/dev/null || die "take: $took"
[ "$(sf trunk show t1 -o json | jq '[.sub_ports[] | select(.pool == "idle")] | length')" = 4 ] || die "refilled"
sf trunk release-subport t1 "$(echo "$took" | jq -r .sub_port.port_name)" >/dev/null || die "release"

note "concurrent add_subports from 16 clients: distinct VLAN ids"
for i in $(seq 1 16); do sf port create "c$i" --network netb -q >/dev/null || die "port c$i"; done
pids=()
for i in $(seq 1 16); do
        $NSX curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
                --data "{\"sub_ports\": [{\"port\": \"c$i\"}]}" "$U/v1/trunks/t1/add_subports" > "$T/code$i" &
        pids+=($!)
done
wait "${pids[@]}" # not sfd
for i in $(seq 1 16); do [ "$(cat "$T/code$i")" = 200 ] || die "client $i: $(cat "$T/code$i")"; done
ids=$(sf trunk show t1 -o json | jq '[.sub_ports[].segmentation_id]')
[ "$(echo "$ids" | jq 'length')" = "$(echo "$ids" | jq 'unique | length')" ] || die "duplicate VLAN ids: $ids"

note "events for the agents, and deletion"
sf events --since 0 --kinds trunk -o json | jq -e 'select(.kind == "trunk")' >/dev/null || die "no trunk events"
sf trunk delete t1 --force >/dev/null || die "force delete"
[ "$(sf port show s1 -o json | jq -r .device_id)" = "" ] || die "subport not released"
[ "$(sf port list --network netb -o json | jq '[.[] | select(.device_owner == "trunk:subport")] | length')" = 0 ] || die "subports left owned"
echo OK
