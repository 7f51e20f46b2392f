/* Shared between the agent's source files. Locking: a->lock guards the cache (desired state),
 * the local workload table and the job queue; work that talks to the kernel, the runtime or
 * the controller runs without it. */
#pragma once

#include <pthread.h>

#include "agent/agent.h"
#include "agent/compute/driver.h"
#include "agent/image/image.h"
#include "lib/httpc.h"
#include "lib/json.h"
#include "net/link.h"
#include "net/nl.h"
#include "net/plumb.h"

enum lw_state {
        LW_NEW,      /* known, nothing done yet */
        LW_RUNNING,
        LW_STOPPED,  /* stopped on request */
        LW_EXITED,   /* its process ended by itself */
        LW_FAILED,   /* could not be created or started */
        LW_GONE,     /* torn down */
        LW_PREPARED, /* handover target: ports plumbed and held down, waiting for cutover */
};

enum job_type { JOB_CREATE, JOB_START, JOB_STOP, JOB_DELETE, JOB_REAP,
                JOB_HO_PREPARE, JOB_HO_RELEASE, JOB_HO_CUTOVER };

struct lw {                     /* a workload on this node, as the node knows it */
        char id[40];
        char *name;
        json_t *spec;           /* the desired object it was made from */
        int64_t generation;     /* spec generation last acted on */
        enum lw_state state;
        bool busy;              /* a job runs for it */
        uint64_t busy_since;    /* when the current job was queued (monotonic usec) */
        bool reap_pending;      /* it exited while a job ran: reap after that job */
        bool deleting;
        bool finalized;
        /* handover (a move that keeps IP and MAC) */
        bool shadow;            /* the target's prepared copy: not this node's yet */
        bool ho_started;        /* its process already runs (interfaces down) */
        char *ho_move;          /* the move it was prepared or released for */
        bool ho_released;
        uint64_t ho_release_usec;
        sf_workload_status st;
        int exit_fd;            /* pidfd watched for exit, -1 */
        unsigned restarts;
        uint64_t retry_at;      /* monotonic usec: earliest restart or retry */
        char *message;
        json_t *timings;        /* ms per step of the last creation */
        char *network_ready_at, *started_at, *finished_at;
        json_t *ips;
        json_t *reported;       /* the last status sent, to send only changes */
        int64_t reported_rev;   /* the controller's revision of the object after that report */
        json_t *extra_status;   /* kind-specific status fields (vm.c), merged into reports */
};

struct job {
        enum job_type type;
        char id[40];
        struct job *next;
};

struct sf_agent {
        struct sf_agent_options o;
        int nested_ifindex; /* a nested node: o.nested_link's, resolved at start */
        char *node_name;
        char *node_id;
        char *self_url;
        sf_api *api;

        pthread_mutex_t lock;
        pthread_cond_t cond;       /* reconcile wakeups */
        pthread_cond_t job_cond;   /* workers */
        volatile bool stopping;
        bool dirty;                /* something changed: reconcile */
        uint64_t status_due;       /* a held-back status report is due then (monotonic usec) */

        /* desired state, from the controller (informer cache) */
        json_t *cache;             /* {kind: {id: object}} */
        int64_t revision;
        bool synced;               /* listed at least once */
        bool connected;

        /* actual state */
        struct lw **lws;
        size_t n_lws;
        struct job *jobs, *jobs_tail;
        unsigned creating;         /* container creations in progress (job_create) */
        unsigned ncpus;            /* CPUs it may run on, at start */

        sf_compute *containers;
        sf_image_store *images;
        json_t *image_names;       /* reported in node status */
        struct agent_vm *vm;       /* VMs: driver, boot prober (vm.c) */
        json_t *vm_image_names;    /* reported in node status (vm-image.c) */

        /* threads */
        pthread_t watch_thread, reconcile_thread, heartbeat_thread, exit_thread;
        pthread_t *workers;
        unsigned n_workers;
        int exit_epfd;
        int exit_wakefd;

        pthread_mutex_t dp_lock;   /* dataplane changes (bridges, policy) */
        char *nft_applied;         /* the policy ruleset last applied */
        json_t *dp_key;            /* the inputs of the last data plane sync */
        json_t *dp_last;           /* agent_dp_desired() as of the cache at dp_gen_built */
        uint64_t dp_gen, dp_gen_built; /* dp_gen: changes of the kinds the data plane reads */
        json_t *bridge_used;       /* bridge name -> monotonic usec it was last in use */
        json_t *dp_bridges_key;    /* bridges in use and known when no idle bridge was left */
        uint64_t dp_full_at;       /* monotonic usec of the last sync that listed every link */
        uint64_t dp_synced;        /* monotonic usec of that sync */
        json_t *features;
        uint64_t last_heartbeat_ok;
        struct agent_warm *warm;   /* warm.c: pre-plumbed namespaces of pooled ports */
        struct agent_trunks *trunks; /* trunk.c: VLAN subports of VM taps */
};

/* agent.c: a client of the controller for one thread: in process when the daemon is
 * all-in-one (o.controller_local), over HTTP otherwise. */
int agent_http_new(sf_agent *a, sf_httpc **ret, sf_err *e);
/* a->lock, raised to real-time priority from before the wait until after the unlock when
 * o.lock_rt (sf_rt_boost_begin; a thread already there stays as it is). */
void agent_lock(sf_agent *a);
bool agent_trylock(sf_agent *a); /* true: taken */
void agent_unlock(sf_agent *a);
/* The same priority without the lock, for a short step that others wait for as much (a warm
 * namespace's hand-out): from agent_raise to agent_lower, which nest with the lock. */
void agent_raise(sf_agent *a);
void agent_lower(sf_agent *a);

/* cache.c */
int agent_cache_start(sf_agent *a, sf_err *e);
json_t *agent_cache_get(sf_agent *a, const char *kind, const char *id); /* borrowed, lock held */
json_t *agent_cache_kind(sf_agent *a, const char *kind);               /* {id: obj}, lock held */
void agent_wake(sf_agent *a);                                          /* lock held */

/* reconcile.c */
int agent_reconcile_start(sf_agent *a, sf_err *e);
void agent_job_push(sf_agent *a, enum job_type t, const char *id);   /* lock held */
struct lw *agent_lw_find(sf_agent *a, const char *id);               /* lock held */
struct lw *agent_lw_add(sf_agent *a, const char *id);                /* lock held */
void agent_lw_remove(sf_agent *a, struct lw *w);                     /* lock held */
void agent_lw_set_message(struct lw *w, const char *fmt, ...) _printf_(2, 3);

/* workload.c: handover (lock held): acts on a workload with a handover in progress; true
 * when the caller must leave it alone */
bool agent_handover_dispatch(sf_agent *a, const char *id, json_t *c);

/* workload.c: jobs, run without the lock */
void agent_job_run(sf_agent *a, sf_httpc *http, struct job *j);
int agent_adopt_all(sf_agent *a, sf_err *e);
int agent_exit_watch_start(sf_agent *a, sf_err *e);
void agent_exit_watch_add(sf_agent *a, struct lw *w);                /* lock held */
char *agent_container_dir(sf_agent *a, const char *id);
char *agent_netns_path(sf_agent *a, const char *id);

/* dataplane.c */
int agent_dp_init(sf_agent *a, sf_err *e);
/* Ensures the bridge of a network exists, with the gateways of its subnets on it; returns
 * its ifindex. */
int agent_dp_network_up(sf_agent *a, sf_nl *nl, json_t *network, json_t *subnets, sf_err *e);
/* The data plane this node should have, computed from the cache (lock held): a private copy,
 * {"underlay": IP|null, "networks": {id: {"network", "subnets": [...], "local": [port...],
 * "remote": [{"mac", "ips", "vtep"}...], "vteps": [...]}}, "routers": {...}}. */
json_t *agent_dp_desired(sf_agent *a);
/* Makes the kernel match dp: bridges and gateways, VXLAN devices with FDB and neighbour
 * entries (l2population), removal of what is no longer needed, routing policy. Lock NOT
 * held. */
int agent_dp_sync(sf_agent *a, json_t *dp, sf_err *e);
char *agent_bridge_name(json_t *network);
void agent_gateway_mac(json_t *network, uint8_t mac[6]);
char *agent_host_ifname(const char *port_id);

/* node.c: registration and heartbeats */
int agent_node_register(sf_agent *a, sf_httpc *http, sf_err *e);
int agent_heartbeat_start(sf_agent *a, sf_err *e);
void agent_refresh_images(sf_agent *a);
/* Sends the node's status now (after an image import or removal: workloads of the image are
 * placed at once, not after the next heartbeat). */
int agent_node_report(sf_agent *a, sf_err *e);

/* service.c: service addresses (VIPs) held by this node */
json_t *agent_services_desired(sf_agent *a);                        /* lock held */
int agent_services_sync(sf_agent *a, sf_nl *nl, json_t *dp, sf_err *e);
void agent_services_routes(sf_agent *a);

/* http.c */
void agent_routes_register(sf_agent *a);

/* vm.c: VM workloads (kind "vm"): the same jobs as containers, through the VM driver, with
 * taps on the networks' bridges; boot probes; VM actions of the agent API. */
int agent_vm_init(sf_agent *a, sf_err *e);  /* after a->features; before adoption */
void agent_vm_stop(sf_agent *a);            /* after the workers stopped */
bool agent_spec_is_vm(json_t *spec);
/* The driver of a workload's kind (spec: lock held, or a private copy). */
sf_compute *agent_compute_for(sf_agent *a, json_t *spec);
/* Runs j when it is a VM's (true), else leaves it to workload.c (false). */
bool agent_vm_job_run(sf_agent *a, sf_httpc *http, struct job *j);
/* Adopts a VM found in the run directory (local: its local.json). */
int agent_vm_adopt(sf_agent *a, const char *id, json_t *local);
void agent_vm_node_info(sf_agent *a, json_t *info);                  /* lock held */
void agent_vm_routes_register(sf_agent *a);
char *agent_tap_name(const char *port_id);

/* vm-image.c: the VM image store, <state-dir>/vm-images */
int agent_vm_image_store_init(sf_agent *a, sf_err *e);
bool agent_vm_image_format(const char *format);                     /* qcow2, raw, kernel */
/* source: a disk image file (qcow2, raw) or a directory with vmlinuz, initrd.img and
 * optionally a disk and a "cmdline" file (kernel). */
int agent_vm_image_import(sf_agent *a, const char *name, const char *source, const char *format,
                          const char *cmdline, json_t **ret, sf_err *e);
/* {name, format, disk, disk_format, kernel, initrd, cmdline, size, ...} with absolute paths. */
int agent_vm_image_get(sf_agent *a, const char *name, json_t **ret, sf_err *e);
int agent_vm_image_list(sf_agent *a, json_t **ret, sf_err *e);
int agent_vm_image_rm(sf_agent *a, const char *name, sf_err *e);    /* -ENOENT: not a VM image */
void agent_vm_refresh_images(sf_agent *a);

/* workload.c: a port as this node plumbs it (also for warm.c). */
struct agent_port_plan {
        char id[40];
        char *host_if;
        char peer[8];
        uint8_t mac[6];
        unsigned mtu;
        sf_prefix addrs[4];
        size_t n_addrs;
        sf_addr gws[2];    /* default routes: the first port of a workload only */
        size_t n_gws;
        sf_route_cfg routes[8];
        size_t n_routes;
        json_t *network;
        json_t *subnets;
        json_t *ips;       /* ["10.0.0.5"] */
        uint16_t vlan_id;  /* a nested-vlan container's port: its trunk subport's VLAN id */
};
/* The plan of port_id as the index-th port of a workload (eth<index>), from the cache; hosts
 * and dns (may be NULL) collect /etc/hosts lines and DNS servers. Lock held. */
int agent_port_plan_make(sf_agent *a, const char *port_id, size_t index, struct agent_port_plan *pp,
                         const char *hostname, char ***hosts, char ***dns, sf_err *e);
void agent_port_plan_done(struct agent_port_plan *pp);
/* Plumbs a port into the namespace at netns (created when missing): the network's bridge,
 * the veth, addresses, routes, neighbour entries both ways. Lock NOT held. */
int agent_port_plumb(sf_agent *a, sf_nl *nl, struct agent_port_plan *pp, const char *netns,
                     sf_plumb_result *ret, sf_err *e);

/* warm.c: the node's warm pool. */
int agent_warm_start(sf_agent *a, sf_err *e);
void agent_warm_stop(sf_agent *a);
/* Matches the warm namespaces to the cache: one per idle pooled port of this node. Lock held;
 * the kernel work happens in the warm thread. */
void agent_warm_sync(sf_agent *a);
/* A port of a workload being created: when the node has a warm namespace for it that passes
 * the clean check, it is moved to netns: true. For the first port of a container the warm
 * thread's fast lane may have done so already, to agent_netns_path(wid), as soon as the
 * reconciler saw the workload. Otherwise false, and the port is plumbed cold (or the job fails
 * with -EAGAIN when info's "warm_miss" is "still being built"). info gets timings, the reason
 * of a miss, and "ready_at" (RFC 3339) when the namespace became the workload's. Lock NOT
 * held. */
bool agent_warm_take(sf_agent *a, const char *wid, const char *port_id, const char *netns, json_t *info);
/* sf_agent_port_taken: the port's ready warm namespace, claimed for wid at PREPARE and checked
 * by the fast lane meanwhile, is moved at COMMIT (and given back at ABORT); or, with no
 * PREPARE before, queued for wid at COMMIT (which the cache has from revision on) and handed
 * out then. Lock NOT held. */
void agent_warm_hint(sf_agent *a, enum sf_agent_take phase, const char *node_id, const char *port_id, const char *wid,
                     int64_t revision);

/* trunk.c: the host side of trunks (VLAN subports of VM taps): kernel VLAN devices where 8021q
 * exists, else the BPF VLAN datapath (src/net/vlan-bpf.c). */
int agent_trunk_init(sf_agent *a, sf_err *e);          /* after a->features; logs the choice */
void agent_trunk_free(sf_agent *a);                    /* the kernel keeps the datapath */
/* The trunks of this node as the data plane wants them (lock held): {id: {...}}. */
json_t *agent_trunk_desired(sf_agent *a);
/* Makes the kernel match dp["trunks"] (links: the node's "sf" links, listed by the caller)
 * and reports each trunk's status; from agent_dp_sync, after the networks' bridges and before
 * idle bridges are collected. Lock NOT held. */
void agent_trunk_sync(sf_agent *a, sf_nl *nl, json_t *dp, sf_link_info *links, size_t n);
/* Whether trunks need a sync besides the periodic one: some wanted, or some known here. */
bool agent_trunk_active(sf_agent *a, json_t *dp);
void agent_trunk_node_info(sf_agent *a, json_t *info); /* lock held: trunk_datapath, trunks */
void agent_trunk_route_list(void *a, sf_http_req *req, sf_http_resp *resp); /* GET /agent/v1/trunks */
void agent_trunk_metrics(void *a, FILE *out);
