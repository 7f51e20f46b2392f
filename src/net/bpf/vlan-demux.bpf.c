/* The BPF VLAN datapath of trunk ports (tc clsact, eBPF sched_cls), for hosts without 8021q:
 * one object per trunk device (a VM's tap), whose two programs share its maps.
 *
 *   sf_vlan_demux, on the trunk device's ingress: untagged frames pass (they belong to the
 *   parent port's network: the trunk device is on that network's bridge); a frame tagged with
 *   a subport's VLAN id is popped and redirected to the egress of that subport's veth end,
 *   whose peer is on the subport network's bridge; a frame tagged with any other VLAN id (or
 *   an 802.1ad outer tag) is dropped and counted (anti-spoofing). In filter mode (hosts with
 *   8021q, where kernel VLAN devices pop and push) known VLAN ids pass untouched instead.
 *   sf_vlan_mux, on each subport veth end's ingress (frames from the subport network): pushes
 *   that subport's VLAN tag and redirects to the trunk device's egress.
 *
 * Maps: sf_vlan_cfg (the trunk device and the mode), sf_vid2if (VLAN id -> veth ifindex, an
 * array indexed by VLAN id: one lookup per frame), sf_if2vid (veth ifindex -> VLAN id) and
 * sf_vlan_cnt (per-CPU packet and byte counters). Adding a subport is two map updates and one
 * filter on the new veth end; nothing is reloaded. The layouts are shared with src/net/vlan-bpf.c
 * through vlan-bpf-abi.h. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "vlan-bpf-abi.h"

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct sf_vlan_cfg);
} sf_vlan_cfg SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, SF_VLAN_VID_SLOTS);
        __type(key, __u32);
        __type(value, __u32);
} sf_vid2if SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, SF_VLAN_VID_SLOTS);
        __type(key, __u32);
        __type(value, __u32);
} sf_if2vid SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, SF_VLAN_CNT_MAX);
        __type(key, __u32);
        __type(value, struct sf_vlan_count);
} sf_vlan_cnt SEC(".maps");

static __always_inline void count(__u32 which, struct __sk_buff *skb)
{
        struct sf_vlan_count *c = bpf_map_lookup_elem(&sf_vlan_cnt, &which);
        if (c) {
                c->packets++;
                c->bytes += skb->len;
        }
}

SEC("tc")
int sf_vlan_demux(struct __sk_buff *skb)
{
        __u32 zero = 0, vid, *ifindex;
        struct sf_vlan_cfg *cfg;

        if (!skb->vlan_present) {
                /* The kernel takes the outer tag out of the frame before tc runs; a VLAN
                 * ethertype still in the frame means a tag it could not take. */
                if (skb->protocol == bpf_htons(ETH_P_8021Q) || skb->protocol == bpf_htons(ETH_P_8021AD)) {
                        count(SF_VLAN_CNT_DROP_OTHER, skb);
                        return TC_ACT_SHOT;
                }
                return TC_ACT_OK; /* untagged: the parent port's network */
        }
        if (skb->vlan_proto != bpf_htons(ETH_P_8021Q)) {
                count(SF_VLAN_CNT_DROP_OTHER, skb); /* 802.1ad (QinQ) is no subport */
                return TC_ACT_SHOT;
        }
        vid = skb->vlan_tci & 0x0fff;
        if (vid == 0) {
                /* Priority-tagged: an untagged frame with a priority. */
                if (bpf_skb_vlan_pop(skb))
                        return TC_ACT_SHOT;
                return TC_ACT_OK;
        }
        cfg = bpf_map_lookup_elem(&sf_vlan_cfg, &zero);
        ifindex = bpf_map_lookup_elem(&sf_vid2if, &vid);
        if (!cfg || !ifindex || !*ifindex) {
                count(SF_VLAN_CNT_DROP_UNKNOWN_VLAN, skb);
                return TC_ACT_SHOT;
        }
        count(SF_VLAN_CNT_DEMUX, skb);
        if (cfg->mode == SF_VLAN_MODE_FILTER)
                return TC_ACT_OK; /* the kernel's VLAN device takes it */
        if (bpf_skb_vlan_pop(skb)) {
                count(SF_VLAN_CNT_DROP_OTHER, skb);
                return TC_ACT_SHOT;
        }
        return bpf_redirect(*ifindex, 0);
}

SEC("tc")
int sf_vlan_mux(struct __sk_buff *skb)
{
        __u32 zero = 0, ifindex = skb->ifindex, *vid;
        struct sf_vlan_cfg *cfg = bpf_map_lookup_elem(&sf_vlan_cfg, &zero);

        vid = bpf_map_lookup_elem(&sf_if2vid, &ifindex);
        /* No subport here (being removed), or a frame already tagged on the subport's network:
         * a second tag would make it 802.1ad, which the guest does not expect. */
        if (!cfg || !cfg->trunk_ifindex || !vid || skb->vlan_present) {
                count(SF_VLAN_CNT_DROP_OTHER, skb);
                return TC_ACT_SHOT;
        }
        if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), (__u16) *vid)) {
                count(SF_VLAN_CNT_DROP_OTHER, skb);
                return TC_ACT_SHOT;
        }
        count(SF_VLAN_CNT_MUX, skb);
        return bpf_redirect(cfg->trunk_ifindex, 0);
}

char _license[] SEC("license") = "GPL";
