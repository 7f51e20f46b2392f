/* The node agent: makes this node match the desired state the controller holds for it.
 * It registers the node, keeps its lease with heartbeats, watches the controller's event
 * stream (level-triggered: any change leads to a full comparison of desired and actual
 * state), plumbs networks through netlink, runs workloads through the compute drivers, and
 * reports status back. Workloads and networking keep running when the agent or the
 * controller stops; a restarted agent adopts what it finds. */
#pragma once

#include "api/api.h"
#include "lib/err.h"

typedef struct sf_agent sf_agent;

struct sf_agent_options {
        const char *controller;   /* controller URL, e.g. http://127.0.0.1:7480 */
        const char *agent_url;    /* where this agent's own API answers (exec, logs, images) */
        const char *node;         /* node name; NULL: the host name */
        const char *site;         /* site name or id; NULL: none */
        const char *underlay_ip;  /* VTEP address for the overlay; NULL: none (single node) */
        const char *state_dir;    /* persistent: images */
        const char *run_dir;      /* volatile: netns, runtime state, containers (tmpfs) */
        const char *runtime;      /* "runc" (default) or "crun" */
        unsigned workers;         /* parallel workload operations; 0: 16 */
        unsigned heartbeat_ms;    /* 0: 5000 */
        const char *labels;       /* "k=v,k2=v2" node labels; NULL: none */
        const char *cgroup_parent; /* cgroup under which containers go; NULL: "superfluid" */
        /* A nested node (the agent in a VM's guest): all three, or none. */
        const char *parent;       /* the VM (name or id) */
        const char *nested_mode;  /* "vlan" or "macvlan": the default of its containers */
        const char *nested_link;  /* the guest's NIC carrying the VM's port */
        /* The nice value of the agent's threads on a new workload's path (event watch,
         * reconciler, workers, warm hand-out lane); 0: the process's. The processes they
         * spawn drop back to the main thread's (sf_spawn). */
        int control_nice;
        /* The threads that wait for or hold the agent's lock, or hand a warm namespace over,
         * run at real-time priority meanwhile (sf_rt_boost_begin): a holder preempted by the
         * other threads of a burst, all at control_nice, would keep every hand-out and report
         * waiting. */
        bool lock_rt;
        /* The controller is in this process (sfd all-in-one, its server answering in process:
         * sf_http_server_serve_local): the agent's calls to it skip HTTP. */
        bool controller_local;
};

/* Starts the agent's threads; registers its routes (/agent/v1/...) on api. */
int sf_agent_start(const struct sf_agent_options *o, sf_api *api, sf_agent **ret, sf_err *e);
/* The controller's word, in the all-in-one daemon, that a workload on this node takes a pooled
 * port (sf_vim_set_port_taken's listener; agent is the sf_agent): the port's warm namespace,
 * when ready, is checked while the transaction commits and handed over at the commit, rather
 * than when the event watch brings the workload. A hint only: the watch still decides. Never
 * blocks on a lock but short ones. */
enum sf_agent_take {
        SF_AGENT_TAKE_PREPARE, /* inside the transaction that takes the port: the writer lock is held */
        SF_AGENT_TAKE_COMMIT,  /* it committed */
        SF_AGENT_TAKE_ABORT,   /* it ended without a commit */
};
void sf_agent_port_taken(sf_agent *a, enum sf_agent_take phase, const char *node_id, const char *port_id,
                         const char *workload_id, int64_t revision);
/* Stops the threads. Workloads keep running (they are not the agent's children). */
void sf_agent_stop(sf_agent *a);
