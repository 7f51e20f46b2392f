/* Shared between the NFVO's lifecycle files (catalog, params, plan, ns, lcm); not for other
 * layers. The pure parts (params, plan, CIDR choice, operation states) are unit-tested. */
#pragma once

#include <pthread.h>

#include "lib/addr.h"
#include "nfvo/descriptor.h"
#include "nfvo/nfvo.h"

struct sf_nfvo {
        sf_store *store;
        sf_vim *vim;
        sf_vnfm *vnfm;
        sf_prefix pool;
        unsigned prefix;
        unsigned op_timeout_s;
        struct sf_kind *kinds[5];
        /* operations running in their threads */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned running;
        volatile bool stopping;
};

extern struct sf_kind nfvo_vnfd_kind, nfvo_nsd_kind, nfvo_ns_kind, nfvo_op_kind;

static inline const char *jstr(const json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

/* ---- catalog.c ---- */
/* Base64 (RFC 4648, padding optional, whitespace ignored) into a malloc'd buffer. */
int nfvo_b64_decode(const char *s, size_t len, char **ret, size_t *ret_len);
/* The onboarded VNFDs an NSD model refers to, as {vnfd id: stored vnfd object}; -EINVAL
 * naming the first one missing. */
int nfvo_vnfds_of(sf_rd *rd, const json_t *nsd_model, json_t **ret, sf_err *e);

/* ---- params.c: NS instantiation parameters ----
 * Input (YAML or JSON), as OSM's per-member-vnf-index parameters:
 *   site: SITE | node: NODE         default placement of every VNF
 *   vcpu-millis: N                  CPU request per virtual CPU (default 1000)
 *   stop-grace-seconds: N           SIGTERM to SIGKILL at deletion (default: the VIM's, 10)
 *   vnf: [{member-vnf-index, site | node, vdu: [{id, image, command}]}]
 *   vld: [{name: VL id, cidr, vim-network-name}]
 * Normalized:
 *   {"site", "node": string|null, "vcpu_millis": int, "stop_grace_seconds": int|null,
 *    "vnf": {member: {"site", "node", "vdu": {vdu id: {"image", "command"}}}},
 *    "vld": {vl id: {"cidr", "vim_network_name"}}} */
struct nfvo_exists {
        /* Whether an object of kind ("site", "node", "network") with that name exists. */
        bool (*fn)(void *u, const char *kind, const char *name);
        void *u;
};
int nfvo_params_check(json_t *in, const json_t *nsd, const json_t *vnfds, const struct nfvo_exists *x,
                      json_t **ret, sf_err *e);

/* ---- plan.c: what an NS instance is made of ---- */
/* "<a>-<b>-<c>-<d>" (NULL parts skipped) made a valid resource name: other characters become
 * '-', at most 63 characters (a long name keeps a hash of the whole). */
char *nfvo_name(const char *a, const char *b, const char *c, const char *d);
/* The first /prefix block of pool overlapping none of used (an array of CIDR strings);
 * -ENOSPC when the pool is exhausted. */
int nfvo_cidr_pick(const sf_prefix *pool, unsigned prefix, const json_t *used, char **ret, sf_err *e);
/* The deployment plan of an NS instance:
 * {"networks": [{"key", "vl", "member": m|null, "name", "cidr": c|null, "gateway": g|null,
 *                "external": bool}],
 *  "vnfs": [{"member", "name", "vnfd", "vnfd_ref", "flavour", "level", "site", "node",
 *            "aspects": [...], "ext_cpds": {id: {"vdu", "cpd"}},
 *            "vdus": [{"id", "pos" (index in the model), "kind", "count", "min", "max",
 *                      "model": the model's vdu, "over": {"image", "command"},
 *                      "cps": [{"cpd", "net": network key}],
 *                      "cloud_init": text|null, "cloud_init_file": name|null,
 *                      "write_files": [{"path", "content", "mode"}]}]}],
 *  "notes": [strings: what of the descriptors is not applied],
 *  "needs_ips": bool (a day-0 template refers to an address)}
 * Also checks every VDU with sf_vnfm_vdu_check when rd is not NULL, and every day-0 template
 * against the keys the instance will have. */
int nfvo_plan(sf_rd *rd, const char *ns_name, const char *ns_id, const json_t *nsd, const json_t *vnfds,
              const json_t *params, json_t **ret, sf_err *e);
/* The day-0 context shared by all instances (see README.md): ns.*, vl.*, vnf.*; from the plan
 * and what exists: nets {key: {"cidr", "gateway", "network"}}, vnfs {member: vnf_instance
 * record with instances and their cps}. Addresses not known yet are absent. */
json_t *nfvo_context(const json_t *plan, const char *ns_name, const char *ns_id, const json_t *nets,
                     const json_t *vnfs);
/* The day-0 files of one VDU instance: context ctx plus self.* for it; cps: [{"cpd", "ip"}]. */
int nfvo_day0_files(const json_t *pvdu, const json_t *ctx, const char *member, const char *vnf_name,
                    const char *inst_name, int64_t index, const json_t *cps, json_t **ret, sf_err *e);

/* ---- lcm.c: operation occurrences ---- */
#define OP_PROCESSING "PROCESSING"
#define OP_COMPLETED "COMPLETED"
#define OP_FAILED "FAILED"
#define OP_ROLLING_BACK "ROLLING_BACK"
#define OP_ROLLED_BACK "ROLLED_BACK"
bool nfvo_op_transition_ok(const char *from, const char *to);
bool nfvo_op_terminal(const char *state);
/* Creates an operation occurrence for ns in tx and marks ns busy with it; *ret is the op. */
int nfvo_op_begin(sf_nfvo *n, sf_tx *tx, json_t *ns, const char *type, json_t *params, json_t **ret,
                  sf_err *e);
/* Runs an operation (committed, PROCESSING) in its own thread. */
void nfvo_op_spawn(sf_nfvo *n, const char *op_id);
