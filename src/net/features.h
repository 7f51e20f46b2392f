/* Runtime detection of the kernel networking features Superfluid can use, so a node can
 * report them and choose a fallback with a clear message (for example: no 8021q, so nested
 * VLAN subports use macvlan or the BPF VLAN demux instead). */
#pragma once

#include "lib/err.h"

typedef enum sf_feature {
        SF_FEAT_VETH = 1u << 0,
        SF_FEAT_BRIDGE = 1u << 1,
        SF_FEAT_VXLAN = 1u << 2,
        SF_FEAT_MACVLAN = 1u << 3,
        SF_FEAT_VLAN = 1u << 4,     /* 8021q */
        SF_FEAT_DUMMY = 1u << 5,
        SF_FEAT_GENEVE = 1u << 6,
        SF_FEAT_IPVLAN = 1u << 7,
        SF_FEAT_BRIDGE_VLAN_FILTERING = 1u << 8,
        SF_FEAT_CLSACT = 1u << 9,   /* tc clsact qdisc */
        SF_FEAT_CLS_BPF = 1u << 10, /* tc "bpf" classifier (checked with classic BPF) */
        SF_FEAT_BPF_SCHED_CLS = 1u << 11, /* eBPF sched_cls programs load and attach (da) */
        SF_FEAT_NETEM = 1u << 12,   /* tc netem qdisc */
        SF_FEAT_TUN = 1u << 13,     /* /dev/net/tun opens */
        SF_FEAT_KVM = 1u << 14,     /* /dev/kvm opens, API version 12, KVM_CREATE_VM works */
} sf_feature;
#define SF_FEAT_COUNT 15

typedef struct sf_features {
        uint32_t mask; /* sf_feature bits present */
        /* For each missing feature (index = bit number): why, usually the kernel's answer,
         * e.g. "create link kind '8021q': Operation not supported (kernel: Unknown device
         * type)". NULL for present features. */
        char *why[SF_FEAT_COUNT];
} sf_features;

/* Probes everything. Link kinds and qdiscs are tried for real: a throwaway link or qdisc is
 * created in a temporary network namespace (unshared by a short-lived thread, never mounted)
 * and deleted again, and the namespace disappears with the thread. Nothing is left behind in
 * any other namespace. Needs CAP_NET_ADMIN and CAP_SYS_ADMIN; fails only if the temporary
 * namespace cannot be made. Takes a few milliseconds. */
int sf_features_detect(sf_features *ret, sf_err *e);
void sf_features_done(sf_features *f);

/* Short name of one bit: "veth", "8021q", "bridge_vlan_filtering", "clsact", ...; NULL when
 * bit is not a single known feature. */
const char *sf_feature_name(uint32_t bit);
/* "veth bridge vxlan ..." for the bits in mask (space separated, malloc'd). */
char *sf_features_fmt(uint32_t mask);
