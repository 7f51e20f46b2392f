/* The VNFM: turns each VNF instance of a network service into VDU instances (containers, or VMs
 * where the VIM runs them) with day-0 configuration, scales them by their VNFD's scaling
 * aspects, and reports their health. It works on the normalized VNFD model that the NFVO hands
 * it (see nfvo/descriptor.h) and drives the VIM through the VIM's kinds inside store
 * transactions; it knows nothing of NSDs or NS instances beyond the owner id and name it is
 * given.
 *
 * Dependency rule: nfvo -> vnfm -> vim -> store -> lib. A layer calls only the layers to its
 * right; the api layer registers the kinds of each (sf_vim_kinds, sf_vnfm_kinds,
 * sf_nfvo_kinds) and calls none of them otherwise.
 *
 * Kind served: "vnf_instance" (/v1/vnf_instances, read-only through the API; the NFVO creates,
 * changes and deletes them inside its operations):
 * {
 *   "name": "<ns>-<member-vnf-index>", "ns_instance_id", "ns", "member_vnf_index",
 *   "vnfd": VNFD id, "vnfd_ref": store id of the onboarded VNFD,
 *   "flavour", "instantiation_level", "site": site name|null, "node": node name|null,
 *   "scale_levels": {aspect id: level},
 *   "vdus": [{"id", "kind": "container"|"vm", "image", "count", "min", "max",
 *             "instances": [{"index", "name", "container_id",
 *                            "cps": [{"cpd", "network", "network_id", "ip", "mac",
 *                                     "port_id"}]}]}]
 * }
 * GET adds "health" ("healthy" when every VDU instance is Running, else "degraded", or
 * "unknown" without instances) and, per instance, "status" {"phase", "message", "node",
 * "site", "ips"} read from its container. */
#pragma once

#include "store/kind.h"
#include "vim/vim.h"

typedef struct sf_vnfm sf_vnfm;

struct sf_vnfm_options {
        unsigned delete_timeout_ms; /* 0: 30000; how long a node may take to confirm a deletion */
};

int sf_vnfm_new(sf_store *store, sf_vim *vim, const struct sf_vnfm_options *opts, sf_vnfm **ret,
                sf_err *e);
void sf_vnfm_free(sf_vnfm *m);
/* vnf_instance; terminated by NULL. */
struct sf_kind *const *sf_vnfm_kinds(sf_vnfm *m);
unsigned sf_vnfm_delete_timeout_ms(sf_vnfm *m);

/* ---- VDUs ---- */

/* The one check of whether a VDU (an entry of the VNFD model's vdus, index i) can run here:
 * container VDUs always; VM VDUs only once a node reports the "qemu" feature. Fails with
 * -EOPNOTSUPP, field "vnfd.vdu[i]", message "vnfd.vdu[i] 'x': VM VDUs are not supported yet
 * (...)". */
int sf_vnfm_vdu_check(sf_rd *rd, const json_t *vdu, size_t i, sf_err *e);

/* The container request for one VDU instance.
 *   vdu: the VNFD model's VDU; name: the instance's name (also its hostname);
 *   place: {"site", "node"} (either may be null); nets: in interface order, each
 *   {"network", "ip"?} (a new port) or {"port": id} (an existing port, attached); files: day-0 files [{"path", "content", "mode"}]; env: variables (may be NULL);
 *   labels: object (may be NULL); over: {"image", "command"} overrides (may be NULL);
 *   vcpu_millis: the CPU request per virtual CPU of the VDU's virtual-compute-desc;
 *   stop_grace: seconds between SIGTERM and SIGKILL at deletion (< 0: the VIM's default).
 * A VM VDU gets the day-0 file /etc/superfluid/cloud-init as its cloud-init user-data instead
 * of files, and no environment.
 * Returns a new object for the VIM's container kind. */
json_t *sf_vnfm_vdu_body(const json_t *vdu, const char *name, const json_t *place, const json_t *nets,
                         const json_t *files, const json_t *env, const json_t *labels,
                         const json_t *over, int64_t vcpu_millis, int64_t stop_grace, const char *description);

/* Creates one VDU instance through the VIM's container kind, in tx. *ret_cps gets its
 * connection points, one per port in the container's order (body.networks, then body.ports):
 * [{"network" (name), "network_id", "ip", "mac", "port_id"}]. */
int sf_vnfm_vdu_create(sf_vnfm *m, sf_tx *tx, json_t *body, json_t **ret_container,
                       json_t **ret_cps, sf_err *e);

/* The connection points of a container, as sf_vnfm_vdu_create gives them. */
int sf_vnfm_vdu_cps(sf_rd *rd, const json_t *container, json_t **ret_cps, sf_err *e);

/* Starts a move of the VDU instance container_id through the VIM's container kind (in: the
 * VIM's move request: to, strategy, timeout, drain_seconds, spec, dry_run; for_ns is set
 * here from the container's NS label). Returns what the VIM returns: 1 with *ret the move
 * resource, 0 with the checked plan for a dry run, -errno (nothing touched). */
int sf_vnfm_vdu_move(sf_vnfm *m, const char *container_id, json_t *in, json_t **ret, sf_err *e);

/* Waits until the move move_id ends (COMPLETED, FAILED or ROLLED_BACK); *ret gets it. -ETIMEDOUT
 * at deadline (sf_now_usec() clock), -ECANCELED when *stop becomes true. */
int sf_vnfm_move_wait(sf_vnfm *m, const char *move_id, uint64_t deadline_usec, const volatile bool *stop, json_t **ret,
                      sf_err *e);

/* Waits until every container of ids (an array of container ids) is Running. Fails at once when
 * one is Failed or Exited, or is gone; with -ETIMEDOUT at deadline (sf_now_usec() clock),
 * naming those not Running and why (e.g. the scheduler's reason for a Pending one); with
 * -ECANCELED when *stop becomes true. progress (may be NULL) is called whenever the count of
 * Running containers changes. */
int sf_vnfm_wait_running(sf_vnfm *m, const json_t *ids, uint64_t deadline_usec, const volatile bool *stop,
                         void (*progress)(void *u, size_t running, size_t total), void *u, sf_err *e);

/* Deletes the containers of ids (missing ones are fine) and waits until they are gone. Each is
 * deleted two-phase (its node's agent confirms); one whose node is not Ready, or has no node,
 * is purged at once (force), and any left after timeout_ms is purged too, so that this cannot
 * hang on a dead node. note (may be NULL) gets a line for each forced deletion. -ECANCELED when
 * *stop becomes true. */
int sf_vnfm_vdu_delete(sf_vnfm *m, const json_t *ids, unsigned timeout_ms, const volatile bool *stop,
                       void (*note)(void *u, const char *msg), void *u, sf_err *e);

/* ---- VNF instance records (kind vnf_instance), inside the NFVO's transactions ---- */
int sf_vnfm_vnf_insert(sf_tx *tx, json_t *vnf, sf_err *e);
int sf_vnfm_vnf_save(sf_tx *tx, json_t *vnf, sf_err *e);
int sf_vnfm_vnf_delete(sf_tx *tx, const char *id, sf_err *e);
/* The VNF instances of an NS instance, ordered by creation. */
int sf_vnfm_vnfs_of(sf_rd *rd, const char *ns_instance_id, json_t **ret, sf_err *e);
/* Adds "health" and per-instance "status" (see above) to a VNF instance object. */
void sf_vnfm_vnf_decorate(sf_rd *rd, json_t *vnf);

/* ---- scaling ---- */

/* New VDU counts after `steps` steps of a scaling aspect (steps > 0: out, < 0: in).
 *   aspects: the flavour's scaling_aspects (VNFD model); vdus: [{"id", "count", "min",
 *   "max"}] now; level: the aspect's current level.
 * *ret gets {vdu id: new count} for the VDUs that change, *ret_level the new level. Refuses
 * (field "aspect" or "steps") an unknown aspect, a level beyond 0..max-scale-level, and counts
 * outside a vdu-profile's min/max. */
int sf_vnfm_scale_plan(const json_t *aspects, const json_t *vdus, const char *aspect, int64_t level,
                       int64_t steps, json_t **ret, int64_t *ret_level, sf_err *e);

/* ---- day-0 templates ----
 * Text with placeholders {{KEY}} (spaces inside the braces are allowed), replaced by the value
 * of KEY in a flat context object {KEY: string}; \{{ writes a literal {{. An unknown key, an
 * empty or unterminated placeholder is an error naming the line. The NFVO documents the keys
 * it provides (ns.name, vnf.<member>.<cpd>.ip, vl.<id>.cidr, ...; see nfvo/README.md). */
int sf_day0_render(const char *tmpl, const json_t *ctx, char **ret, sf_err *e);
/* Adds every key the template refers to into keys (an object, key -> true). */
int sf_day0_refs(const char *tmpl, json_t *keys, sf_err *e);
