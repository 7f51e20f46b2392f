/* What the BPF VLAN datapath's programs (vlan-demux.bpf.c) and their loader (src/net/vlan-bpf.c)
 * share: map value layouts, counter slots and modes. Plain C, included by both compilers. */
#pragma once

#include <linux/types.h>

#define SF_VLAN_VID_SLOTS 4096 /* VLAN ids 0-4095; 1-4094 are usable */

enum sf_vlan_mode {
        SF_VLAN_MODE_REDIRECT = 0, /* the programs pop/push and redirect (no 8021q) */
        SF_VLAN_MODE_FILTER = 1,   /* kernel VLAN devices pop/push; known VLAN ids pass */
};

struct sf_vlan_cfg {
        __u32 trunk_ifindex; /* where sf_vlan_mux sends frames */
        __u32 mode;          /* enum sf_vlan_mode */
        __u32 if2vid_map_id; /* for the loader only: sf_vlan_demux does not use sf_if2vid, so a
                              * restarted loader finds that map through here */
        __u32 reserved;
};

enum sf_vlan_counter {
        SF_VLAN_CNT_DEMUX = 0,        /* from the trunk, tagged with a subport's VLAN id */
        SF_VLAN_CNT_MUX = 1,          /* to the trunk, tagged */
        SF_VLAN_CNT_DROP_UNKNOWN_VLAN = 2, /* from the trunk, tagged with no subport's VLAN id */
        SF_VLAN_CNT_DROP_OTHER = 3,   /* 802.1ad, double tags, failed pushes or pops */
        SF_VLAN_CNT_MAX = 4,
};

struct sf_vlan_count {
        __u64 packets;
        __u64 bytes;
};
