/* The BPF VLAN datapath of a trunk device (a VM's tap), for hosts without 8021q: untagged frames
 * stay on the device's own bridge, frames tagged with a subport's VLAN id are popped and sent
 * to that subport's veth end (whose peer is on the subport network's bridge), frames from a
 * veth end are tagged and sent to the trunk device, and frames tagged with any other VLAN id
 * are dropped and counted. One BPF object per trunk device (programs sf_vlan_demux and
 * sf_vlan_mux, maps sf_vlan_cfg, sf_vid2if, sf_if2vid and sf_vlan_cnt), compiled from
 * src/net/bpf/vlan-demux.bpf.c at build time and embedded; loaded through libbpf and attached
 * with tc clsact (bpf_tc_attach), never through tc(8). A subport is a map entry plus one
 * filter on its veth end, so adding one reloads nothing.
 *
 * Nothing is pinned: the kernel keeps programs and maps while a filter holds them, and a
 * restarted agent finds them again through the filter on the trunk device (sf_vlan_bpf_open).
 * Removing the filters (or deleting the devices) frees everything.
 *
 * Everything acts in the calling thread's network namespace. Needs CAP_NET_ADMIN and
 * CAP_BPF/CAP_SYS_ADMIN. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct sf_vlan_bpf sf_vlan_bpf;

/* tc handle and priority of our filters: how they are told from anyone else's. */
#define SF_VLAN_BPF_HANDLE 0x5f
#define SF_VLAN_BPF_PRIO 0x5f

/* How the VLAN tags are taken off and put on. */
typedef enum sf_vlan_bpf_mode {
        SF_VLAN_BPF_REDIRECT = 0, /* by the programs (no 8021q on the host) */
        SF_VLAN_BPF_FILTER = 1,   /* by kernel VLAN devices; the programs only drop and count
                                   * frames of unknown VLAN ids */
} sf_vlan_bpf_mode;

/* Loads a new object for trunk_ifindex, or (when one is attached there already, e.g. by an
 * agent before its restart) takes over its maps, so that nothing changes for the traffic.
 * create false: -ENOENT when none is attached. */
int sf_vlan_bpf_open(int trunk_ifindex, sf_vlan_bpf_mode mode, bool create, sf_vlan_bpf **ret,
                     sf_err *e);
/* Closes our file descriptors; what is attached stays in the kernel. Accepts NULL. */
void sf_vlan_bpf_free(sf_vlan_bpf *b);
static inline void sf_vlan_bpf_freep(sf_vlan_bpf **b) { sf_vlan_bpf_free(*b); }
#define _cleanup_vlan_bpf_ _cleanup_(sf_vlan_bpf_freep)

int sf_vlan_bpf_trunk_ifindex(const sf_vlan_bpf *b);
sf_vlan_bpf_mode sf_vlan_bpf_get_mode(const sf_vlan_bpf *b);

/* VLAN id vid (1-4094) is the subport behind port_ifindex: in redirect mode the veth end on
 * which sf_vlan_mux is attached (its ingress) and to which sf_vlan_demux sends; in filter mode
 * the kernel VLAN device (no program on it). Replaces an earlier entry of vid. */
int sf_vlan_bpf_set(sf_vlan_bpf *b, unsigned vid, int port_ifindex, sf_err *e);
/* Forgets vid (its frames are dropped and counted from now on) and takes sf_vlan_mux off its
 * device when that still exists. Missing: 0. */
int sf_vlan_bpf_unset(sf_vlan_bpf *b, unsigned vid, sf_err *e);

typedef struct sf_vlan_bpf_entry {
        unsigned vid;
        int ifindex;
} sf_vlan_bpf_entry;
/* The subports in the maps, sorted by VLAN id; *ret malloc'd (NULL when none). */
int sf_vlan_bpf_list(sf_vlan_bpf *b, sf_vlan_bpf_entry **ret, size_t *ret_n, sf_err *e);

typedef struct sf_vlan_bpf_stats {
        uint64_t demux_packets, demux_bytes;   /* from the trunk to a subport network */
        uint64_t mux_packets, mux_bytes;       /* from a subport network to the trunk */
        uint64_t drop_unknown_vlan_packets, drop_unknown_vlan_bytes; /* anti-spoofing */
        uint64_t drop_other_packets, drop_other_bytes; /* 802.1ad, double tags, failures */
} sf_vlan_bpf_stats;
/* The counters, summed over CPUs. */
int sf_vlan_bpf_get_stats(sf_vlan_bpf *b, sf_vlan_bpf_stats *ret, sf_err *e);

typedef struct sf_vlan_bpf_ids {
        uint32_t demux_prog, mux_prog;
        uint32_t cfg_map, vid2if_map, if2vid_map, cnt_map;
} sf_vlan_bpf_ids;
/* Kernel ids of the programs and maps (as bpftool shows them). */
void sf_vlan_bpf_get_ids(const sf_vlan_bpf *b, sf_vlan_bpf_ids *ret);

/* Takes everything off: sf_vlan_mux from every subport device that still exists, then
 * sf_vlan_demux and the clsact qdisc from the trunk device (when it still exists), and frees
 * b. The kernel frees programs and maps when the last filter and fd go. */
int sf_vlan_bpf_remove(sf_vlan_bpf *b, sf_err *e);

/* The id of our program on ifindex's ingress (sf_vlan_demux on a trunk device, sf_vlan_mux on a
 * subport veth end), 0 when there is none. */
int sf_vlan_bpf_query(int ifindex, uint32_t *ret_prog_id, sf_err *e);
/* Removes our filter from ifindex's ingress, and the clsact qdisc when remove_qdisc; missing:
 * 0. */
int sf_vlan_bpf_detach(int ifindex, bool remove_qdisc, sf_err *e);
