/* The lab: a multi-site Superfluid installation simulated on one machine, for demos and
 * tests. One controller in the root network namespace listens on a private underlay bridge;
 * each simulated host is a network namespace joined to that bridge by a veth, with its own
 * agent (sfd --role agent --netns ...), state directory and run directory.
 *
 * Everything the lab makes is named in its state file (DIR/lab.json), written before each
 * object is created, so that sf_lab_down() removes a lab that is up, half up, or whose
 * processes died, and leaves nothing behind: processes, containers (their processes and
 * cgroups), mounts, namespaces, interfaces, directories.
 *
 * Names: the underlay bridge is "sflab-ul" for the default lab and "sflab-NAME" for a named
 * one; host veth ends are "<bridge>-<i>" (i from 1); host namespaces are "sflab-<host>" for
 * the default lab and "sflab-NAME-<host>" otherwise; hosts are "<site>-<n>" (n from 1). */
#pragma once

#include <sys/types.h>

#include "lib/addr.h"
#include "lib/json.h"

#define SF_LAB_DEFAULT_NAME "default"
#define SF_LAB_STATE_ROOT "/var/lib/superfluid/lab" /* DIR default: <root>/<name> */
#define SF_LAB_RUN_ROOT "/run/superfluid-lab"       /* <root>/<name>/<host>: run dirs */
#define SF_LAB_NETNS_DIR "/run/netns"               /* as iproute2: `ip netns` lists them */
#define SF_LAB_CONTROLLER_PORT 7480
#define SF_LAB_AGENT_PORT 7481
#define SF_LAB_HOST_IFNAME "ul0" /* the underlay interface inside each host */
#define SF_LAB_SUBNET_POOL "10.254.0.0/16" /* default subnets: the first free /24 in it */
#define SF_LAB_MAX_HOSTS 250

/* A process the lab started: identified by pid and start time, so a recycled pid is never
 * signalled. */
typedef struct sf_lab_proc {
        pid_t pid;          /* 0: not started */
        uint64_t starttime; /* /proc/PID/stat field 22 */
        char *log;          /* stdout and stderr */
} sf_lab_proc;

typedef struct sf_lab_site {
        char *name;
        char *kind; /* core, aggregation or edge */
        unsigned hosts;
} sf_lab_site;

typedef struct sf_lab_host {
        char *name;       /* node name: "core-1" */
        char *site;
        char *netns;      /* "sflab-core-1" */
        char *netns_path; /* "/run/netns/sflab-core-1" */
        char *veth;       /* root-namespace end of the underlay veth: "sflab-ul-1" */
        sf_addr ip;       /* underlay address (ul0 inside the host) */
        char *state_dir;  /* DIR/hosts/<host>/state */
        char *run_dir;    /* /run/superfluid-lab/<name>/<host> */
        sf_lab_proc agent;
} sf_lab_host;

typedef struct sf_lab {
        char *name;
        char *dir;         /* state, logs, lab.json */
        char *run_root;    /* /run/superfluid-lab/<name> */
        char *phase;       /* "starting", "up", "failed", "down" (kept with --keep-state) */
        char *created_at;
        char *sfd;         /* absolute path of the sfd binary */
        char *runtime;     /* OCI runtime of the agents; NULL: sfd's default */
        unsigned lease_s;  /* controller --lease; 0: sfd's default */
        char *log_level;   /* sfd --log-level; NULL: default */
        char *bridge;      /* "sflab-ul" */
        sf_prefix subnet;  /* 10.254.0.0/24 */
        sf_addr bridge_ip; /* 10.254.0.1 */
        char *controller_url;
        char *controller_state_dir;
        sf_lab_proc controller;
        sf_lab_site *sites;
        size_t n_sites;
        sf_lab_host *hosts;
        size_t n_hosts;
} sf_lab;

void sf_lab_free(sf_lab *lab);
static inline void sf_lab_freep(sf_lab **l) { sf_lab_free(*l); }
#define _cleanup_lab_ _cleanup_(sf_lab_freep)

/* Lab names: "default", or 1 to 5 of [a-z0-9] starting with a letter (they become part of
 * interface names, which have at most 15 bytes). */
int sf_lab_name_check(const char *name, sf_err *e);

/* "core:2,edge:1", "paris:2:core,lyon:1:aggregation": SITE:HOSTS[:KIND], comma separated.
 * KIND may be left out when the site is named after it (core, aggregation, edge). Site
 * names follow the API's rules; at least one host per site. */
int sf_lab_parse_sites(const char *spec, sf_lab_site **ret, size_t *ret_n, sf_err *e);
void sf_lab_sites_free(sf_lab_site *v, size_t n);

/* Progress messages ("underlay bridge sflab-ul 10.254.0.1/24") for the user. */
typedef void (*sf_lab_progress_fn)(void *userdata, const char *msg);

typedef struct sf_lab_config {
        const char *name;      /* NULL: "default" */
        const char *dir;       /* NULL: SF_LAB_STATE_ROOT/<name> */
        const char *sites;     /* required: see sf_lab_parse_sites */
        const char *subnet;    /* NULL: the first /24 of SF_LAB_SUBNET_POOL that no route of
                                * the root namespace and no other lab uses */
        const char *sfd;       /* required: the sfd binary */
        const char *runtime;   /* runc or crun; NULL: sfd's default */
        unsigned lease_s;      /* 0: sfd's default */
        const char *log_level; /* NULL: sfd's default */
        int timeout_s;         /* to wait for the controller and for every node Ready; 0: 60 */
        sf_lab_progress_fn progress;
        void *userdata;
} sf_lab_config;

/* Works out the lab (names, addresses, directories) without creating anything. Fails with
 * -EEXIST when a lab of that name exists or one of its names is taken (bridge, veth, netns),
 * -EINVAL for bad input (naming the option in field: "sites", "subnet", "name", ...). */
int sf_lab_plan(const sf_lab_config *c, sf_lab **ret, sf_err *e);

/* Plans and brings a lab up: bridge with the first address of the subnet, controller
 * (sfd --role controller) listening on it, the sites, and per host a namespace, a veth into
 * it with the host's address, and an agent; then waits until every node is Ready in its
 * site. The daemons run in their own sessions and outlive the caller. On failure everything
 * is removed again (sf_lab_down), and the error says what failed, with the tail of the
 * failing daemon's log. Needs root. If DIR holds a lab that was taken down with keep_state,
 * it is reused (controller database, agents' image stores). */
int sf_lab_up(const sf_lab_config *c, sf_lab **ret, sf_err *e);

/* Finds a lab's state: DIR/lab.json when dir is given, otherwise the lab called name (NULL:
 * "default") through SF_LAB_RUN_ROOT/<name>/lab.json (a link to the state file, present
 * while the lab is up) or SF_LAB_STATE_ROOT/<name>/lab.json. -ENOENT when there is none. */
int sf_lab_load(const char *name, const char *dir, sf_lab **ret, sf_err *e);
/* A lab whose state file is gone (its directory removed, or a run killed before it wrote
 * one) but whose objects are not: works out what there is from the lab's names alone
 * (SF_LAB_RUN_ROOT/<name>/<host> run directories, "sflab-NAME-<host>" namespaces, the
 * bridge and its "<bridge>-N" veths) and finds its daemons by their command lines
 * (--run-dir=<run dir> for agents; --role=controller with --state-dir=<DIR>/controller,
 * DIR being where the dangling SF_LAB_RUN_ROOT/<name>/lab.json link points), so that
 * sf_lab_down() removes it (DIR too). -ENOENT when nothing of that name exists. */
int sf_lab_orphan(const char *name, sf_lab **ret, sf_err *e);
/* Writes DIR/lab.json (atomically). */
int sf_lab_save(const sf_lab *lab, sf_err *e);
json_t *sf_lab_to_json(const sf_lab *lab);
int sf_lab_from_json(json_t *j, sf_lab **ret, sf_err *e);

/* Every lab on this machine, as [{name, phase, dir, controller_url, hosts}], from
 * SF_LAB_RUN_ROOT and SF_LAB_STATE_ROOT; a run directory whose state file is gone is listed
 * with phase "orphaned" (dir: where the state file was; hosts: its host run directories). */
int sf_lab_list(json_t **ret, sf_err *e);

/* Exclusive lock on the lab's directory for commands that change it (up, down, agent
 * start/stop). Returns the fd holding the lock; -EBUSY when another command holds it. */
int sf_lab_lock(const char *dir, sf_err *e);

/* ---- processes ---- */

/* True when the process is there, is the one that was started (start time), and is not a
 * zombie. */
bool sf_lab_proc_alive(const sf_lab_proc *p);
/* SIGTERM (and SIGCONT, for a stopped process), SIGKILL after timeout_ms, and waits until it
 * has exited. A process that is gone already is fine. */
int sf_lab_proc_stop(sf_lab_proc *p, int timeout_ms, sf_err *e);

sf_lab_host *sf_lab_host_find(sf_lab *lab, const char *name);
/* Stops a host's agent (SIGTERM, then SIGKILL after timeout_ms). Its workloads keep running,
 * as with any agent: the node turns NotReady when its lease expires. */
int sf_lab_agent_stop(sf_lab *lab, sf_lab_host *h, int timeout_ms, sf_err *e);
/* Starts a host's agent again (it adopts its workloads); -EBUSY if it runs. Does not wait
 * for the node to be Ready. */
int sf_lab_agent_start(sf_lab *lab, sf_lab_host *h, sf_err *e);

/* ---- status ---- */

/* The state file's content plus what is live: controller {running, healthy, error}, per host
 * {agent_running, netns_present, node: {state, reason, heartbeat_at} or null}, and
 * "healthy": every process runs and every node is Ready. */
int sf_lab_status(sf_lab *lab, json_t **ret, sf_err *e);

/* ---- down ---- */

typedef struct sf_lab_down_opts {
        bool keep_state; /* keep DIR (database, images, logs); phase becomes "down" */
        int wait_s;      /* for the agents to remove the deleted containers; 0: 20, < 0: none */
        int stop_timeout_s; /* SIGTERM to SIGKILL for the daemons; 0: 10 */
        bool locked;     /* the caller holds sf_lab_lock() already */
        sf_lab_progress_fn progress;
        void *userdata;
} sf_lab_down_opts;

/* Takes the lab down and removes everything it made:
 *  1. with the controller up: every container is deleted through the API (force), and the
 *     agents get wait_s to remove them;
 *  2. the agents, then the controller, are stopped (by pid and start time);
 *  3. for each host, whatever is left: processes in its namespace, in the namespaces under
 *     its run dir and in the cgroups of its containers are killed, those cgroups removed,
 *     every mount under its run dir unmounted, the run dir, the veth and the namespace
 *     removed;
 *  4. the bridge, SF_LAB_RUN_ROOT/<name>, and DIR (unless keep_state).
 * Then it checks (sf_lab_leftovers) and fails with -EBUSY listing what could not be
 * removed. Steps go on after a failure; the first error is returned. */
int sf_lab_down(sf_lab *lab, const sf_lab_down_opts *o, sf_err *e);

/* What of the lab still exists in the system: lines such as "interface sflab-ul-1",
 * "netns sflab-core-1", "mount /run/superfluid-lab/default/core-1", "process 1234 (agent
 * core-1)", "cgroup /sys/fs/cgroup/memory/superfluid/<id>". *ret is NULL when nothing is
 * left. ids: container ids whose cgroups to look for (may be NULL). */
int sf_lab_leftovers(const sf_lab *lab, char *const *ids, char ***ret, sf_err *e);
