#!/bin/bash
# A network service mixing a VM VDU and a container VDU (issues #6 and #8), through the NS
# layer only (SOL006 descriptors, sfctl vnfd/nsd/ns): the VM VDU's cloud-init-file reaches the
# guest as cloud-init user-data (with its day-0 placeholders resolved), both VDUs get ports on
# the NS virtual link, the VM and the container talk over it both ways, and terminate leaves
# nothing behind (QEMU, tap, files included).
. "$(dirname "$0")/../lib.sh"
need_root
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing"; exit 77; }
command -v qemu-img >/dev/null || { echo "qemu-img missing"; exit 77; }
command -v runc >/dev/null || { echo "runc missing"; exit 77; }
ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 || { echo "linux-image-cloud-amd64 missing"; exit 77; }

G=/var/cache/superfluid/guest
mkdir -p "$G" 2>/dev/null && [ -w "$G" ] || G=$T/guest
"$top/tools/mkguest.sh" "$G" >/dev/null || die "mkguest"

make_ns sftest-vmns
kill_vms() { # VMs outlive sfd by design: on failure, by PID (this test's own run dir)
        local p
        for p in $(pgrep -f -- "$RUN/containers/"); do kill -9 "$p" 2>/dev/null; done
        return 0
}
on_exit kill_vms
start_sfd
wait_for 20 "node Ready" sh -c "$NSX $SFCTL --endpoint $U node list -o json | jq -e '.[0].status.state == \"Ready\"'"
sf image import "$G" --name sf-guest --format kernel --cmdline "console=ttyS0 quiet panic=-1" >/dev/null ||
        die "import sf-guest"

note "descriptors: a VM VNF (package with a cloud-init file) and a container VNF, one virtual link"
mkdir -p "$T/pkg/vmweb_vnfd/cloud_init"
cat >"$T/pkg/vmweb_vnfd/vmweb_vnfd.yaml" <<'EOF'
vnfd:
  id: vmweb-vnf
  product-name: vmweb-vnf
  provider: Superfluid
  version: "1.0"
  description: A web page served by a VM
  sw-image-desc:
  - id: sf-guest
    name: sf-guest
    image: sf-guest
    version: latest
    container-format: bare
    disk-format: qcow2
  virtual-compute-desc:
  - id: small
    virtual-cpu:
      num-virtual-cpu: 1
    virtual-memory:
      size: 0.25
  vdu:
  - id: web
    name: web
    sw-image-desc: sf-guest
    virtual-compute-desc: small
    cloud-init-file: day0.sh
    int-cpd:
    - id: eth0-int
  ext-cpd:
  - id: web-ext
    int-cpd:
      vdu-id: web
      cpd: eth0-int
  mgmt-cp: web-ext
  df:
  - id: default-df
    vdu-profile:
    - id: web
      min-number-of-instances: 1
      max-number-of-instances: 1
    instantiation-level:
    - id: default
      vdu-level:
      - vdu-id: web
        number-of-instances: 1
EOF
cat >"$T/pkg/vmweb_vnfd/cloud_init/day0.sh" <<'EOF'
#!/bin/sh
echo "SF-USERDATA: NS {{ns.name}}" >/dev/console
echo "{{ns.name}}" >/www/ns.txt
# The container VNF's address, resolved at instantiation; it may start after this VM.
for i in $(seq 1 100); do
        wget -q -O /www/peer.html http://{{vnf.2.client-ext.ip}}/ && break
        usleep 200000
done
EOF
cat >"$T/client.yaml" <<'EOF'
vnfd:
  id: ctclient-vnf
  product-name: ctclient-vnf
  provider: Superfluid
  version: "1.0"
  description: A container next to the VM
  sw-image-desc:
  - id: busybox
    name: busybox
    image: busybox
    version: latest
    container-format: docker
    disk-format: raw
  virtual-compute-desc:
  - id: tiny
    virtual-cpu:
      num-virtual-cpu: 1
    virtual-memory:
      size: 0.0625
  vdu:
  - id: client
    name: client
    sw-image-desc: busybox
    virtual-compute-desc: tiny
    int-cpd:
    - id: eth0-int
    configurable-properties:
    - key: superfluid-command
      value: mkdir -p /www && echo container-page > /www/index.html && httpd -f -p 80 -h /www
  ext-cpd:
  - id: client-ext
    int-cpd:
      vdu-id: client
      cpd: eth0-int
  mgmt-cp: client-ext
  df:
  - id: default-df
    vdu-profile:
    - id: client
      min-number-of-instances: 1
      max-number-of-instances: 1
    instantiation-level:
    - id: default
      vdu-level:
      - vdu-id: client
        number-of-instances: 1
EOF
cat >"$T/nsd.yaml" <<'EOF'
nsd:
  nsd:
  - id: mixed-ns
    name: mixed-ns
    designer: Superfluid
    version: "1.0"
    description: A VM VNF and a container VNF on one virtual link
    vnfd-id:
    - vmweb-vnf
    - ctclient-vnf
    virtual-link-desc:
    - id: svc-net
      connectivity-type:
        layer-protocol:
        - ipv4
      df:
      - id: default
    df:
    - id: default-df
      virtual-link-profile:
      - id: svc
        virtual-link-desc-id: svc-net
        flavour-id: default
        virtual-link-protocol-data:
          l3-protocol-data:
            ip-version: ipv4
            cidr: 10.23.0.0/24
      vnf-profile:
      - id: "1"
        vnfd-id: vmweb-vnf
        flavour-id: default-df
        instantiation-level: default
        virtual-link-connectivity:
        - virtual-link-profile-id: svc
          constituent-cpd-id:
          - constituent-base-element-id: "1"
            constituent-cpd-id: web-ext
      - id: "2"
        vnfd-id: ctclient-vnf
        flavour-id: default-df
        instantiation-level: default
        virtual-link-connectivity:
        - virtual-link-profile-id: svc
          constituent-cpd-id:
          - constituent-base-element-id: "2"
            constituent-cpd-id: client-ext
EOF
out=$(sf vnfd onboard "$T/pkg/vmweb_vnfd") || die "onboard the VM VNF: $out"
echo "$out" | grep -q "1 VDU (web vm)" || die "not a VM VDU: $out"
sf vnfd onboard "$T/client.yaml" >/dev/null || die "onboard the container VNF"
sf nsd onboard "$T/nsd.yaml" >/dev/null || die "onboard the NSD"

note "instantiate: a VM and a container, on the NS virtual link"
sf ns create mixed --nsd mixed-ns >/dev/null || die "ns create"
out=$(sf ns instantiate mixed --timeout 300) || die "instantiate: $out"
js=$(sf ns show mixed -o json)
[ "$(echo "$js" | jq -r .state)" = INSTANTIATED ] || die "state: $js"
inst() { echo "$js" | jq -r --arg m "$1" '.vnfs[] | select(.member_vnf_index == $m) | .vdus[0].instances[0]'; }
vm_name=$(inst 1 | jq -r .name)
ct_name=$(inst 2 | jq -r .name)
[ "$(sf container show "$vm_name" -o json | jq -r .kind)" = vm ] || die "VDU web is not a VM: $(inst 1)"
[ "$(sf container show "$ct_name" -o json | jq -r .kind)" = container ] || die "VDU client is not a container"
[ "$(sf container show "$vm_name" -o json | jq .memory)" = $((256 << 20)) ] || die "VM memory from the VNFD"
vm_ip=$(inst 1 | jq -r '.cps[0].ip'); ct_ip=$(inst 2 | jq -r '.cps[0].ip')
[[ $vm_ip == 10.23.0.* && $ct_ip == 10.23.0.* ]] || die "addresses: vm $vm_ip, container $ct_ip"
# Its port may come from the node's pool with a pre-plumbed namespace (a veth with the same
# MAC): a VM's port is a tap, and that namespace must be gone.
vm_port=$(sf port list --device-id "$(sf container show "$vm_name" -o json | jq -r .id)" -o json | jq -r '.[0].id')
hex=$(echo "$vm_port" | tr -d - | cut -c1-12)
ip -n "$NS" link show "sft$hex" >/dev/null || die "no tap for the VM's port"
wait_for 10 "no veth for the VM's port" sh -c "! ip -n $NS link show sfv$hex >/dev/null 2>&1"
[ -e "$RUN/warm/$vm_port" ] && die "a warm namespace is left for the VM's port"
wait_for 300 "guest ready" sh -c "$NSX $SFCTL --endpoint $U console $vm_name --tail all | grep -q 'SF-GUEST: ready'"

note "the cloud-init file reached the guest as user-data, placeholders resolved"
sf console "$vm_name" --tail all | grep -q "SF-USERDATA: NS mixed" || die "user-data did not run: $(sf console "$vm_name")"
[ "$(sf exec "$ct_name" -- wget -q -O - "http://$vm_ip/ns.txt")" = mixed ] || die "container -> VM HTTP"
[ "$(sf exec "$ct_name" -- wget -q -O - "http://$vm_ip/peer.html")" = container-page ] || die "VM -> container HTTP"
sf exec "$ct_name" -- ping -c 1 -W 2 "$vm_ip" >/dev/null || die "container -> VM ping"

note "terminate: nothing left"
qpid=$(sf container show "$vm_name" -o json | jq .status.pid)
sf ns terminate mixed >/dev/null || die "terminate"
[ "$(sf ns show mixed -o json | jq -r .state)" = NOT_INSTANTIATED ] || die "state after terminate"
for _ in $(seq 100); do [ -z "$(leaks)" ] && ! [ -d "/proc/$qpid" ] && break; sleep 0.1; done
[ -d "/proc/$qpid" ] && die "QEMU $qpid survived terminate"
[ -z "$(ls -A "$RUN/containers" 2>/dev/null)" ] || die "state dirs left: $(ls "$RUN/containers")"
[ -z "$(leaks)" ] || die "leaks: $(leaks)"
sf ns delete mixed >/dev/null && sf nsd delete mixed-ns >/dev/null &&
        sf vnfd delete vmweb-vnf ctclient-vnf >/dev/null || die "cleanup"
stop_sfd || die "unclean stop"
echo OK
