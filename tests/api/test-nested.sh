#!/bin/bash
# Containers in VMs, the controller's side (issue #9; the guest side is
# tests/system/nested-agent.sh): a VM with nested_mode gets a trunk; its node registers with
# the VM as parent; containers with host_vm get a subport of the VM's trunk (from its subport
# pool when one is set) or a port allowed on the VM's port; the scheduler keeps other
# workloads off that node; refusals name the field; removal gives everything back. No QEMU:
# the VM is placed on a node registered by hand, which no agent runs.
. "$(dirname "$0")/../lib.sh"
start_sfd

sf network create neta --cidr 10.71.0.0/24 -q >/dev/null || die "network a"
sf network create netb --cidr 10.72.0.0/24 -q >/dev/null || die "network b"
api POST /v1/nodes '{"name": "h1", "features": ["qemu"], "status": {"state": "Ready"}, "capacity": {"cpu_millis": 8000, "memory_bytes": 8589934592}}'
expect_status 201 "node h1"

note "a VM that hosts containers: validation, its trunk"
api POST /v1/containers '{"name": "xvm", "kind": "vm", "image": "sf-guest", "node": "h1", "nested_mode": "vxlan", "networks": ["neta"]}'
expect_error 400 nested_mode "must be vlan or macvlan" "a bad mode"
api POST /v1/containers '{"name": "xvm", "kind": "vm", "image": "sf-guest", "node": "h1", "nested_mode": "vlan"}'
expect_error 400 networks "needs a network" "no network"
api POST /v1/containers '{"name": "h1", "kind": "vm", "image": "sf-guest", "node": "h1", "nested_mode": "vlan", "networks": ["neta"]}'
expect_error 409 name "a node named 'h1' exists" "the name of a node"
api POST /v1/containers '{"name": "xvm", "kind": "vm", "image": "sf-guest", "node": "h1", "nested_mode": "vlan", "networks": ["neta"]}'
expect_status 201 "the VM"
vm_id=$(echo "$BODY" | jq -r .id)
vmp=$(echo "$BODY" | jq -r '.port_ids[0]')
[ "$(echo "$BODY" | jq -r .nested_mode)" = vlan ] || die "nested_mode: $BODY"
[ "$(sf trunk show xvm -o json | jq -r .port_id)" = "$vmp" ] || die "the VM's trunk is not on its port"

note "before its node registers: containers in it are refused with the reason"
api POST /v1/containers '{"name": "n1", "image": "busybox", "host_vm": "xvm", "networks": ["netb"]}'
expect_error 409 host_vm "vm 'xvm' has no node yet" "no node yet"
api POST /v1/containers '{"name": "n1", "image": "busybox", "host_vm": "h1", "networks": ["netb"]}'
expect_error 400 host_vm "container 'h1' does not exist" "host_vm of a node"
api POST /v1/containers '{"name": "n1", "kind": "vm", "image": "sf-guest", "host_vm": "xvm", "networks": ["netb"]}'
expect_error 400 host_vm "is for containers only" "a VM in a VM"
api POST /v1/containers '{"name": "n1", "image": "busybox", "nested_mode": "vlan", "networks": ["netb"]}'
expect_error 400 nested_mode "host_vm" "nested_mode without a VM"

note "its node: named after it, parent and mode from the VM"
api POST /v1/nodes "{\"name\": \"other\", \"parent\": \"xvm\"}"
expect_error 400 name "must be named after it" "a node of the VM with another name"
api POST /v1/nodes "{\"name\": \"h2\", \"parent\": \"h1\"}"
expect_error 400 parent "container 'h1' does not exist" "a parent that is not a container"
api POST /v1/nodes '{"name": "xvm", "parent": "xvm", "status": {"state": "Ready"}, "capacity": {"cpu_millis": 2000, "memory_bytes": 536870912}}'
expect_status 201 "the VM's node"
echo "$BODY" | jq -e ".parent == \"$vm_id\" and .nested_mode == \"vlan\"" >/dev/null || die "node: $BODY"
xnode=$(echo "$BODY" | jq -r .id)

note "the scheduler keeps other workloads off it"
for i in 1 2 3 4; do
        api POST /v1/containers "{\"name\": \"s$i\", \"image\": \"busybox\", \"networks\": [\"netb\"]}"
        expect_status 201 "s$i"
        [ "$(echo "$BODY" | jq -r .node_id)" != "$xnode" ] || die "s$i placed in the VM: $BODY"
done

note "nested-vlan: a subport of the VM's trunk, its VLAN id in the record"
api POST /v1/containers '{"name": "n1", "image": "busybox", "host_vm": "xvm", "networks": ["netb"]}'
expect_status 201 "n1"
p1=$(echo "$BODY" | jq -r '.port_ids[0]')
vid1=$(echo "$BODY" | jq -r ".nested.vlans[\"$p1\"]")
[ "$(echo "$BODY" | jq -r .node_id)" = "$xnode" ] && [ "$(echo "$BODY" | jq -r .nested.mode)" = vlan ] || die "n1: $BODY"
sf trunk show xvm -o json | jq -e ".sub_ports[] | select(.port_id == \"$p1\" and .segmentation_id == $vid1 and .pool == \"taken\")" >/dev/null ||
        die "n1's subport: $(sf trunk show xvm -o json | jq -c .sub_ports)"
[ "$(sf port show "$p1" -o json | jq -r .node_id)" = "$(sf node show h1 -o json | jq -r .id)" ] || die "the subport is not bound where the VM is"
api POST /v1/containers '{"name": "n9", "image": "busybox", "node": "xvm", "networks": ["netb"]}'
expect_status 201 "node naming the VM's node"
[ "$(echo "$BODY" | jq -r .nested.vm)" = "$vm_id" ] || die "node xvm is not host_vm xvm: $BODY"

note "subport pools (Kuryr's nested pools): a container takes an idle pooled subport"
sf trunk update xvm --subport-pool netb:2 >/dev/null || die "subport pool"
idle=$(sf trunk show xvm -o json | jq -r '[.sub_ports[] | select(.pool == "idle") | .port_id] | sort | .[0]')
[ "$(sf trunk show xvm -o json | jq '[.sub_ports[] | select(.pool == "idle")] | length')" = 2 ] || die "pool not filled"
api POST /v1/containers '{"name": "n2", "image": "busybox", "host_vm": "xvm", "networks": ["netb"]}'
expect_status 201 "n2"
p2=$(echo "$BODY" | jq -r '.port_ids[0]')
sf trunk show xvm -o json | jq -e "[.sub_ports[] | select(.pool == \"idle\") | .port_id] | index(\"$p2\") == null" >/dev/null || die "n2's subport still idle"
sf trunk show xvm -o json | jq -e "[.sub_ports[] | select(.pool == \"taken\") | .port_id] | index(\"$p2\") != null" >/dev/null || die "n2's subport not taken"
[ "$(sf trunk show xvm -o json | jq '[.sub_ports[] | select(.pool == "idle")] | length')" = 2 ] || die "pool not refilled"

note "nested-macvlan: a port on the VM's network, allowed on the VM's port"
api POST /v1/containers '{"name": "n3", "image": "busybox", "host_vm": "xvm", "nested_mode": "macvlan", "networks": ["netb"]}'
expect_error 400 "networks[0].network" "can only be on the VM's network" "macvlan on another network"
api POST /v1/containers '{"name": "n3", "image": "busybox", "host_vm": "xvm", "nested_mode": "macvlan", "networks": ["neta"]}'
expect_status 201 "n3"
p3=$(echo "$BODY" | jq -r '.port_ids[0]')
ip3=$(sf port show "$p3" -o json | jq -r '.fixed_ips[0].ip_address')
mac3=$(sf port show "$p3" -o json | jq -r .mac_address)
sf port show "$vmp" -o json | jq -e ".allowed_address_pairs == [{\"ip_address\": \"$ip3\", \"mac_address\": \"$mac3\"}]" >/dev/null ||
        die "pairs: $(sf port show "$vmp" -o json | jq -c .allowed_address_pairs)"

note "refusals with a node: addresses of vlan ports, placement fields, ports, reschedule, moves, VM deletion"
api POST /v1/containers '{"name": "bad", "image": "busybox", "host_vm": "xvm", "networks": [{"network": "netb", "ip": "10.72.0.50"}]}'
expect_error 400 "networks[0].ip" "cannot be chosen" "an address for a subport"
api POST /v1/containers '{"name": "bad", "image": "busybox", "host_vm": "xvm", "site": "core", "networks": ["netb"]}'
expect_error 400 site "placed by its VM" "site with host_vm"
sf port create free1 --network netb -q >/dev/null
api POST /v1/containers '{"name": "bad", "image": "busybox", "host_vm": "xvm", "ports": ["free1"]}'
expect_error 400 ports "takes networks" "ports with host_vm"
api POST /v1/containers '{"name": "bad", "image": "busybox", "host_vm": "xvm", "reschedule": "on-node-failure", "networks": ["netb"]}'
expect_error 400 reschedule "stays in it" "reschedule with host_vm"
api POST /v1/containers/n1/move '{"to": "h1"}'
expect_error 400 - "runs in vm 'xvm'" "moving a nested container"
api POST /v1/containers/xvm/move '{"to": "h1"}'
expect_error 400 - "hosts containers" "moving a VM that hosts containers"
api DELETE /v1/containers/xvm
expect_error 409 - "vm 'xvm' hosts 4 containers" "deleting the VM"

note "the NS layer: superfluid-host-vm on a container VDU (validated at onboarding)"
vnfd() { # HOST_VM_VALUE NESTED_MODE_LINES FORMAT
        cat <<EOF
vnfd:
  id: nested-vnf
  product-name: nested-vnf
  version: "1.0"
  sw-image-desc:
  - id: img
    name: busybox
    image: busybox
    container-format: $3
    disk-format: raw
  vdu:
  - id: c
    sw-image-desc: img
    configurable-properties:
    - key: superfluid-host-vm
      value: $1
$2
  df:
  - id: default-df
    vdu-profile:
    - id: c
      min-number-of-instances: 1
EOF
}
vnfd xvm "" docker >"$T/v1.yaml"
sf vnfd onboard "$T/v1.yaml" >/dev/null || die "onboard: $(sf vnfd onboard "$T/v1.yaml" 2>&1)"
sf vnfd show nested-vnf -o json | jq -e '.model.vdus[0].host_vm == "xvm" and .model.vdus[0].nested_mode == null' >/dev/null ||
        die "host_vm not in the model: $(sf vnfd show nested-vnf -o json | jq -c .model.vdus)"
sf vnfd delete nested-vnf >/dev/null || die "vnfd delete"
vnfd "'x y'" "" docker >"$T/v2.yaml"
out=$(sf vnfd onboard "$T/v2.yaml" 2>&1) && die "a bad host VM name accepted"
echo "$out" | grep -q "configurable-properties\[0\].value.*must be the name of a VM that hosts containers" || die "bad name: $out"
vnfd xvm "    - key: superfluid-nested-mode
      value: vxlan" docker >"$T/v3.yaml"
out=$(sf vnfd onboard "$T/v3.yaml" 2>&1) && die "a bad nested mode accepted"
echo "$out" | grep -q "must be vlan or macvlan (not 'vxlan')" || die "bad mode: $out"
vnfd xvm "" bare >"$T/v4.yaml"
out=$(sf vnfd onboard "$T/v4.yaml" 2>&1) && die "host VM for a VM VDU accepted"
echo "$out" | grep -q "superfluid-host-vm applies to container vdus only" || die "VM VDU: $out"

note "removal gives back what it took; the VM's node goes with the VM"
for c in n1 n2 n3 n9; do
        api DELETE "/v1/containers/$c?force=true"
        [ "$STATUS" = 200 ] || [ "$STATUS" = 204 ] || die "delete $c: $STATUS $BODY"
done
[ "$(sf trunk show xvm -o json | jq '[.sub_ports[] | select(.pool != "idle")] | length')" = 0 ] || die "taken subports left"
[ "$(sf port show "$vmp" -o json | jq '.allowed_address_pairs | length')" = 0 ] || die "pairs left"
h1_id=$(sf node show h1 -o json | jq -r .id)
for i in 1 2 3 4; do # the all-in-one node's agent cleans up its own; h1 has no agent
        if [ "$(sf container show s$i -o json | jq -r .node_id)" = "$h1_id" ]; then
                api DELETE "/v1/containers/s$i?force=true"
        else
                sf rm s$i >/dev/null || die "rm s$i"
        fi
done
api DELETE "/v1/containers/xvm?force=true"
[ "$STATUS" = 200 ] || [ "$STATUS" = 204 ] || die "delete xvm: $STATUS $BODY"
api GET /v1/nodes/xvm
expect_status 404 "the VM's node after the VM"
api GET /v1/trunks/xvm
expect_status 404 "the VM's trunk after the VM"
api POST /v1/nodes '{"name": "xvm", "parent": "xvm"}'
expect_error 400 parent "container 'xvm' does not exist" "a node for a deleted VM"
[ "$(sf port list -o json | jq "[.[] | select(.network_id == \"$(sf network show netb -o json | jq -r .id)\" and .device_owner != \"compute:container\")] | length")" = 1 ] ||
        die "ports left on netb: $(sf port list -o json | jq -c '[.[] | {name, device_owner}]')"
stop_sfd || die "sfd did not stop cleanly"
echo "OK"
