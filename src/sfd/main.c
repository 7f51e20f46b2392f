/* sfd: the Superfluid daemon. One binary, three roles: controller (state store + REST API),
 * agent (makes this node match its desired state) or both (the all-in-one default). */
#include <ctype.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <fcntl.h>

#include "sf-config.h"
#include "agent/agent.h"
#include "api/api.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"
#include "nfvo/nfvo.h"
#include "vim/vim.h"

SF_LOG_MODULE("sfd");

#define DEFAULT_LISTEN "127.0.0.1:7480"
#define DEFAULT_STATE_DIR "/var/lib/superfluid"

enum role { ROLE_ALL, ROLE_CONTROLLER, ROLE_AGENT };

struct config {
        enum role role;
        const char *listen; /* NULL: by role */
        const char *state_dir;
        const char *run_dir;
        const char *netns;
        const char *url_file;
        bool sync_full;
        unsigned lease_s;
        unsigned evict_s;
        struct sf_pool_options pools; /* port pools (src/vim/pool.h) */
        const char *ns_cidr_pool; /* NFVO: where virtual links get CIDRs */
        /* agent */
        const char *controller;
        const char *node;
        const char *site;
        const char *underlay_ip;
        const char *runtime;
        const char *advertise;
        const char *labels;
        const char *cgroup_parent;
        const char *parent;
        const char *nested_mode;
        const char *nested_link;
        unsigned workers;
        int control_nice;
        bool locks_normal; /* --lock-priority normal */
        bool agent_http;   /* --agent-calls http */
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: sfd [OPTIONS]\n"
                "\n"
                "The Superfluid daemon: network-function orchestrator controller and node agent.\n"
                "\n"
                "Options:\n"
                "  --role ROLE         controller, agent or all (default: all)\n"
                "  --listen ADDR:PORT  where the REST API listens (default: " DEFAULT_LISTEN ");\n"
                "                      port 0 picks a free port (see --url-file)\n"
                "  --state-dir DIR     database and node state (default: " DEFAULT_STATE_DIR ")\n"
                "  --run-dir DIR       volatile node state: netns, containers, runtime\n"
                "                      (default: /run/superfluid)\n"
                "  --url-file FILE     write the API's URL there once it listens\n"
                "  --sync MODE         normal (survives a crash of sfd) or full (also survives\n"
                "                      power loss; slower writes). Default: normal\n"
                "  --lease SECONDS     controller: a node without heartbeat that long is NotReady\n"
                "                      (default: 15; agents beat three times per lease)\n"
                "  --evict-after SECONDS  controller: NotReady that much longer, workloads with\n"
                "                      reschedule=on-node-failure move elsewhere (default: 60)\n"
                "  --log-level LEVEL   error, warn, info or debug (default: info)\n"
                "  --control-nice N    nice value (-20 to 0) of the threads that handle API requests\n"
                "                      and of the agent's threads: above the runtimes a burst of\n"
                "                      starts saturates the CPU with; processes sfd starts keep\n"
                "                      the default priority (default: -20; 0: leave them all)\n"
                "  --lock-priority rt|normal  a thread that waits for or holds the store's writer\n"
                "                      lock or the agent's lock runs at real-time priority\n"
                "                      (SCHED_FIFO 1) meanwhile, so that a saturated CPU cannot keep\n"
                "                      it off while every other request waits (default: rt; normal:\n"
                "                      its own)\n"
                "  --agent-calls local|http  all-in-one: the agent's calls to its controller are\n"
                "                      answered in process, by the same handlers (default: local;\n"
                "                      http: over the API's socket, as a remote agent's)\n"
                "  --ns-cidr-pool CIDR controller: virtual links of NS instances without a CIDR get\n"
                "                      a /24 of this pool (default: 10.100.0.0/16)\n"
                "\n"
                "Port pools (controller; Kuryr's ports pool: ports allocated ahead, in bulk, per node\n"
                "and network; a network's \"port_pool\" and 'sfctl pool resize' override these):\n"
                "  --pools on|off      pool ports by default (default: on)\n"
                "  --pool-min N        idle ports a pool refills to (default: %d)\n"
                "  --pool-max N        idle ports a pool keeps at most (default: %d)\n"
                "  --pool-batch N      ports a refill allocates at least (default: %d)\n"
                "  --pool-refill-period SECONDS  every pool is checked that often, besides the\n"
                "                      refills that takes trigger (default: %d)\n"
                "\n"
                "Agent options (--role agent or all):\n"
                "  --controller URL    the controller (agent role; default http://127.0.0.1:7480)\n"
                "  --node NAME         this node's name (default: the host name)\n"
                "  --site SITE         the site this node belongs to\n"
                "  --underlay-ip IP    this node's underlay (VXLAN tunnel) address\n"
                "  --runtime NAME      OCI runtime: runc (default) or crun\n"
                "  --advertise-url URL where the controller reaches this agent (default: the\n"
                "                      listen address)\n"
                "  --labels K=V,...    node labels for placement\n"
                "  --workers N         parallel workload operations (default 16)\n"
                "  --cgroup-parent P   cgroup under which containers go (default: superfluid)\n"
                "  --netns PATH        run in this network namespace (a simulated host of the\n"
                "                      lab); only the network namespace changes\n"
                "\n"
                "Nested node (the agent in a VM's guest; the VM's driver starts it, see sfd(8)):\n"
                "  --parent VM         this node is VM's (a VM created with nested_mode); the\n"
                "                      node takes the VM's name and site\n"
                "  --nested-mode MODE  vlan (a VLAN device per container port, with its trunk\n"
                "                      subport's VLAN id) or macvlan, both on --nested-link;\n"
                "                      no bridges, overlay or port pools in the guest\n"
                "  --nested-link IF    the guest's NIC that carries the VM's port (eth0)\n"
                "  -h, --help          show this help\n"
                "  --version           show the version\n"
                "\n"
                "API: GET /healthz, GET /metrics, /v1/<resources>, GET /v1/events?since=REV.\n"
                "See sfd(8) and sfctl(1).\n",
                SF_POOL_DEFAULT_MIN, SF_POOL_DEFAULT_MAX, SF_POOL_DEFAULT_BATCH, SF_POOL_DEFAULT_PERIOD_S);
}

/* --pools on|off, --pool-min, --pool-max, --pool-batch, --pool-refill-period (which: 0..4). */
static int parse_pool_opt(int which, const char *arg, struct sf_pool_options *p)
{
        static const char *const names[] = { "pools", "pool-min", "pool-max", "pool-batch",
                                             "pool-refill-period" };
        unsigned long v;
        char *end;
        if (which == 0) {
                if (!STREQ(arg, "on") && !STREQ(arg, "off")) {
                        fprintf(stderr, "sfd: --pools: '%s' is not on or off\n", arg);
                        return -EINVAL;
                }
                p->enabled = STREQ(arg, "on");
                return 0;
        }
        errno = 0;
        v = strtoul(arg, &end, 10);
        if (!*arg || *end || errno || v > (which == 4 ? 3600 : SF_POOL_LIMIT) || (v == 0 && which >= 3)) {
                fprintf(stderr, "sfd: --%s: '%s' must be %d to %d\n", names[which], arg, which >= 3 ? 1 : 0,
                        which == 4 ? 3600 : SF_POOL_LIMIT);
                return -EINVAL;
        }
        switch (which) {
        case 1: p->min = (unsigned) v; break;
        case 2: p->max = (unsigned) v; break;
        case 3: p->batch = (unsigned) v; break;
        default: p->refill_period_s = (unsigned) v; break;
        }
        if (p->max && p->min > p->max) {
                fprintf(stderr, "sfd: --pool-min (%u) is above --pool-max (%u)\n", p->min, p->max);
                return -EINVAL;
        }
        return 0;
}

/* A flag with two values: off (false) or on (true); anything else is refused, named. */
static int parse_either(const char *flag, const char *arg, const char *off, const char *on, bool *ret)
{
        if (STREQ(arg, off))
                *ret = false;
        else if (STREQ(arg, on))
                *ret = true;
        else {
                fprintf(stderr, "sfd: %s: '%s' is not %s or %s\n", flag, arg, off, on);
                return -EINVAL;
        }
        return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
        enum { OPT_ROLE = 256, OPT_LISTEN, OPT_STATE, OPT_URLFILE, OPT_SYNC, OPT_LOG, OPT_VERSION,
               OPT_RUN, OPT_LEASE, OPT_CONTROLLER, OPT_NODE, OPT_SITE, OPT_UNDERLAY, OPT_RUNTIME,
               OPT_ADVERTISE, OPT_LABELS, OPT_WORKERS, OPT_NETNS, OPT_EVICT, OPT_CGROUP, OPT_POOLS, OPT_POOL_MIN,
               OPT_POOL_MAX, OPT_POOL_BATCH, OPT_POOL_PERIOD, OPT_NS_POOL, OPT_PARENT, OPT_NESTED_MODE,
               OPT_NESTED_LINK, OPT_CONTROL_NICE, OPT_LOCK_PRIORITY, OPT_AGENT_CALLS };
        static const struct option opts[] = {
                { "role", required_argument, NULL, OPT_ROLE },
                { "listen", required_argument, NULL, OPT_LISTEN },
                { "state-dir", required_argument, NULL, OPT_STATE },
                { "url-file", required_argument, NULL, OPT_URLFILE },
                { "sync", required_argument, NULL, OPT_SYNC },
                { "log-level", required_argument, NULL, OPT_LOG },
                { "run-dir", required_argument, NULL, OPT_RUN },
                { "lease", required_argument, NULL, OPT_LEASE },
                { "evict-after", required_argument, NULL, OPT_EVICT },
                { "controller", required_argument, NULL, OPT_CONTROLLER },
                { "node", required_argument, NULL, OPT_NODE },
                { "site", required_argument, NULL, OPT_SITE },
                { "underlay-ip", required_argument, NULL, OPT_UNDERLAY },
                { "runtime", required_argument, NULL, OPT_RUNTIME },
                { "advertise-url", required_argument, NULL, OPT_ADVERTISE },
                { "labels", required_argument, NULL, OPT_LABELS },
                { "workers", required_argument, NULL, OPT_WORKERS },
                { "netns", required_argument, NULL, OPT_NETNS },
                { "cgroup-parent", required_argument, NULL, OPT_CGROUP },
                { "pools", required_argument, NULL, OPT_POOLS },
                { "pool-min", required_argument, NULL, OPT_POOL_MIN },
                { "pool-max", required_argument, NULL, OPT_POOL_MAX },
                { "pool-batch", required_argument, NULL, OPT_POOL_BATCH },
                { "pool-refill-period", required_argument, NULL, OPT_POOL_PERIOD },
                { "ns-cidr-pool", required_argument, NULL, OPT_NS_POOL },
                { "parent", required_argument, NULL, OPT_PARENT },
                { "nested-mode", required_argument, NULL, OPT_NESTED_MODE },
                { "nested-link", required_argument, NULL, OPT_NESTED_LINK },
                { "control-nice", required_argument, NULL, OPT_CONTROL_NICE },
                { "lock-priority", required_argument, NULL, OPT_LOCK_PRIORITY },
                { "writer-priority", required_argument, NULL, OPT_LOCK_PRIORITY }, /* its former name */
                { "agent-calls", required_argument, NULL, OPT_AGENT_CALLS },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                {},
        };
        int o, lvl;

        while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (o) {
                case OPT_ROLE:
                        if (STREQ(optarg, "all"))
                                c->role = ROLE_ALL;
                        else if (STREQ(optarg, "controller"))
                                c->role = ROLE_CONTROLLER;
                        else if (STREQ(optarg, "agent"))
                                c->role = ROLE_AGENT;
                        else {
                                fprintf(stderr, "sfd: --role: '%s' is not controller, agent or all\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case OPT_LISTEN:
                        c->listen = optarg;
                        break;
                case OPT_STATE:
                        c->state_dir = optarg;
                        break;
                case OPT_URLFILE:
                        c->url_file = optarg;
                        break;
                case OPT_SYNC:
                        if (parse_either("--sync", optarg, "normal", "full", &c->sync_full) < 0)
                                return -EINVAL;
                        break;
                case OPT_LOG:
                        lvl = sf_log_parse_level(optarg);
                        if (lvl < 0) {
                                fprintf(stderr, "sfd: --log-level: '%s' is not error, warn, info or debug\n",
                                        optarg);
                                return -EINVAL;
                        }
                        sf_log_max_level = lvl;
                        break;
                case OPT_RUN:
                        c->run_dir = optarg;
                        break;
                case OPT_NS_POOL:
                        c->ns_cidr_pool = optarg;
                        break;
                case OPT_LEASE:
                case OPT_EVICT:
                case OPT_WORKERS: {
                        char *end;
                        unsigned long v;
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (!*optarg || *end || errno || v == 0 || v > 3600) {
                                fprintf(stderr, "sfd: --%s: '%s' must be 1 to 3600\n",
                                        o == OPT_LEASE ? "lease" : o == OPT_EVICT ? "evict-after" : "workers", optarg);
                                return -EINVAL;
                        }
                        if (o == OPT_LEASE)
                                c->lease_s = v;
                        else if (o == OPT_EVICT)
                                c->evict_s = v;
                        else
                                c->workers = v;
                        break;
                }
                case OPT_CONTROL_NICE: {
                        char *end;
                        long v;
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (!*optarg || *end || errno || v < -20 || v > 0) {
                                fprintf(stderr, "sfd: --control-nice: '%s' must be -20 to 0\n", optarg);
                                return -EINVAL;
                        }
                        c->control_nice = (int) v;
                        break;
                }
                case OPT_LOCK_PRIORITY:
                        if (parse_either("--lock-priority", optarg, "rt", "normal", &c->locks_normal) < 0)
                                return -EINVAL;
                        break;
                case OPT_AGENT_CALLS:
                        if (parse_either("--agent-calls", optarg, "local", "http", &c->agent_http) < 0)
                                return -EINVAL;
                        break;
                case OPT_CONTROLLER:
                        c->controller = optarg;
                        break;
                case OPT_NODE:
                        c->node = optarg;
                        break;
                case OPT_SITE:
                        c->site = optarg;
                        break;
                case OPT_UNDERLAY: {
                        struct in6_addr x;
                        if (inet_pton(AF_INET, optarg, &x) != 1 && inet_pton(AF_INET6, optarg, &x) != 1) {
                                fprintf(stderr, "sfd: --underlay-ip: '%s' is not an IP address\n", optarg);
                                return -EINVAL;
                        }
                        c->underlay_ip = optarg;
                        break;
                }
                case OPT_RUNTIME:
                        if (!STREQ(optarg, "runc") && !STREQ(optarg, "crun")) {
                                fprintf(stderr, "sfd: --runtime: '%s' is not runc or crun\n", optarg);
                                return -EINVAL;
                        }
                        c->runtime = optarg;
                        break;
                case OPT_NETNS:
                        c->netns = optarg;
                        break;
                case OPT_CGROUP: {
                        /* relative, of name components: "superfluid/lab-x-core-1" */
                        bool ok = *optarg && optarg[0] != '/' && !strstr(optarg, "..") && !strstr(optarg, "//");
                        for (const char *p = optarg; ok && *p; p++)
                                ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                     (*p >= '0' && *p <= '9') || strchr("._-/", *p);
                        if (!ok) {
                                fprintf(stderr, "sfd: --cgroup-parent: '%s' is not a relative cgroup path "
                                                "of letters, digits, '.', '_', '-'\n", optarg);
                                return -EINVAL;
                        }
                        c->cgroup_parent = optarg;
                        break;
                }
                case OPT_POOLS:
                case OPT_POOL_MIN:
                case OPT_POOL_MAX:
                case OPT_POOL_BATCH:
                case OPT_POOL_PERIOD:
                        if (parse_pool_opt(o - OPT_POOLS, optarg, &c->pools) < 0)
                                return -EINVAL;
                        break;
                case OPT_ADVERTISE:
                        c->advertise = optarg;
                        break;
                case OPT_LABELS:
                        c->labels = optarg;
                        break;
                case OPT_PARENT:
                        c->parent = optarg;
                        break;
                case OPT_NESTED_MODE:
                        if (!STREQ(optarg, "vlan") && !STREQ(optarg, "macvlan")) {
                                fprintf(stderr, "sfd: --nested-mode: '%s' is not vlan or macvlan\n", optarg);
                                return -EINVAL;
                        }
                        c->nested_mode = optarg;
                        break;
                case OPT_NESTED_LINK:
                        if (!*optarg || strlen(optarg) >= 16 || strchr(optarg, '/') || isspace((unsigned char) *optarg)) {
                                fprintf(stderr, "sfd: --nested-link: '%s' is not an interface name\n", optarg);
                                return -EINVAL;
                        }
                        c->nested_link = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                case OPT_VERSION:
                        printf("sfd %s\n", SF_VERSION);
                        exit(0);
                default:
                        fprintf(stderr, "Try 'sfd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "sfd: unexpected argument '%s'. Try 'sfd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        if (!!c->parent + !!c->nested_mode + !!c->nested_link != 0 &&
            (!c->parent || !c->nested_mode || !c->nested_link || c->role != ROLE_AGENT)) {
                fprintf(stderr, "sfd: a nested node needs --role agent with --parent, --nested-mode "
                                "and --nested-link together\n");
                return -EINVAL;
        }
        return 0;
}

/* The VIM's word to the agent in the same process (the two layers do not know each other). */
static void port_taken(void *agent, enum sf_port_take phase, const char *node_id, const char *port_id,
                       const char *workload_id, int64_t revision)
{
        enum sf_agent_take p = phase == SF_PORT_TAKE_PREPARE  ? SF_AGENT_TAKE_PREPARE
                               : phase == SF_PORT_TAKE_COMMIT ? SF_AGENT_TAKE_COMMIT
                                                              : SF_AGENT_TAKE_ABORT;
        sf_agent_port_taken(agent, p, node_id, port_id, workload_id, revision);
}

/* One sfd per state directory: a second one would share the database writer. */
static int lock_state_dir(const char *dir, sf_err *e)
{
        _cleanup_free_ char *p = xasprintf("%s/sfd.lock", dir);
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", p);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = -errno;
                close(fd);
                if (r == -EWOULDBLOCK)
                        return sf_err_set(e, -EBUSY, NULL,
                                          "another sfd is using state directory '%s'", dir);
                return sf_err_errno(e, r, "lock '%s'", p);
        }
        return fd; /* kept open (and locked) for the life of the process */
}

int main(int argc, char **argv)
{
        struct config c = { .role = ROLE_ALL, .state_dir = DEFAULT_STATE_DIR, .pools = { .enabled = true },
                            .control_nice = -20 };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_store_ sf_store *store = NULL;
        _cleanup_free_ char *db = NULL;
        sf_http_server *http = NULL;
        sf_agent *agent = NULL;
        sf_vim *vim = NULL;
        sf_vnfm *vnfm = NULL;
        sf_nfvo *nfvo = NULL;
        sf_api *api = NULL;
        sigset_t sigs;
        int sig, r, lockfd;

        if (parse_args(argc, argv, &c) < 0)
                return 2;
        if (!c.listen)
                c.listen = c.role == ROLE_AGENT ? "127.0.0.1:7481" : DEFAULT_LISTEN;
        if (c.role == ROLE_CONTROLLER && (c.node || c.site || c.underlay_ip || c.controller)) {
                fprintf(stderr, "sfd: --node, --site, --underlay-ip and --controller are agent "
                                "options; --role controller runs no agent\n");
                return 2;
        }
        if (c.role == ROLE_ALL && c.controller) {
                fprintf(stderr, "sfd: --controller is for --role agent; the all-in-one role is "
                                "its own controller\n");
                return 2;
        }

        /* Enter the node's network namespace before any thread exists, so every thread and
         * every socket lives there. Unlike `ip netns exec`, the mount namespace stays the
         * host's: the runtime needs the real cgroup and /sys mounts. */
        if (c.netns) {
                int fd = open(c.netns, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
                        fprintf(stderr, "sfd: --netns: cannot enter '%s': %m\n", c.netns);
                        return 1;
                }
                close(fd);
        }

        /* Signals are taken synchronously by the main thread; block them before any thread
         * starts so that every thread inherits the mask. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        sf_httpc_global_init();

        r = sf_mkdir_p(c.state_dir, 0700, &e);
        if (r < 0)
                goto fail;
        lockfd = lock_state_dir(c.state_dir, &e);
        if (lockfd < 0) {
                r = lockfd;
                goto fail;
        }
        if (c.role != ROLE_AGENT) {
                db = xasprintf("%s/sfd.db", c.state_dir);
                r = sf_store_open(db,
                                  &(struct sf_store_options) { .sync_full = c.sync_full,
                                                               .writer_rt = !c.locks_normal },
                                  &store, &e);
                if (r < 0)
                        goto fail;
                r = sf_vim_new(store, &(struct sf_vim_options) { .lease_ms = c.lease_s * 1000,
                                                          .evict_ms = c.evict_s * 1000,
                                                          .pools = c.pools },
                               &vim, &e);
                if (r < 0)
                        goto fail;
                r = sf_vnfm_new(store, vim, NULL, &vnfm, &e);
                if (r >= 0)
                        r = sf_nfvo_new(store, vim, vnfm, &(struct sf_nfvo_options) { .cidr_pool = c.ns_cidr_pool },
                                        &nfvo, &e);
                if (r < 0)
                        goto fail;
        }
        r = sf_api_new(store, &api, &e);
        if (r < 0)
                goto fail;
        if (vim) {
                sf_api_add_kinds(api, sf_vim_kinds(vim));
                sf_api_add_kinds(api, sf_vnfm_kinds(vnfm));
                sf_api_add_kinds(api, sf_nfvo_kinds(nfvo));
                sf_api_add_metrics(api, sf_vim_pool_metrics, vim);
        }
        r = sf_http_server_start(&(struct sf_http_options) { .listen = c.listen,
                                                             .handler = sf_api_handle,
                                                             .observe = sf_api_observe,
                                                             .thread_nice = c.control_nice,
                                                             .userdata = api },
                                 &http, &e);
        if (r < 0)
                goto fail;
        if (vim) {
                r = sf_vim_start(vim, &e);
                if (r >= 0)
                        r = sf_nfvo_start(nfvo, &e); /* resumes interrupted NS operations */
                if (r < 0)
                        goto fail;
        }
        if (c.role == ROLE_ALL && !c.agent_http)
                sf_http_server_serve_local(http);
        if (c.role != ROLE_CONTROLLER) {
                struct sf_agent_options ao = {
                        .controller = c.role == ROLE_ALL ? sf_http_server_url(http)
                                                         : c.controller ? c.controller
                                                                        : "http://127.0.0.1:7480",
                        .agent_url = c.advertise ? c.advertise : sf_http_server_url(http),
                        .node = c.node,
                        .site = c.site,
                        .underlay_ip = c.underlay_ip,
                        .state_dir = c.state_dir,
                        .run_dir = c.run_dir,
                        .runtime = c.runtime,
                        .workers = c.workers,
                        .control_nice = c.control_nice,
                        .lock_rt = !c.locks_normal,
                        .controller_local = c.role == ROLE_ALL && !c.agent_http,
                        .labels = c.labels,
                        .cgroup_parent = c.cgroup_parent,
                        .parent = c.parent,
                        .nested_mode = c.nested_mode,
                        .nested_link = c.nested_link,
                };
                r = sf_agent_start(&ao, api, &agent, &e);
                if (r < 0)
                        goto fail;
                /* The controller and the agent in one process: the agent hears of a pooled
                 * port's taking as it is committed (its watch still brings everything). */
                if (vim)
                        sf_vim_set_port_taken(vim, port_taken, agent);
        }
        log_info("sfd %s (%s) listening on %s, state in '%s'%s", SF_VERSION,
                 c.role == ROLE_ALL ? "all-in-one" : c.role == ROLE_AGENT ? "agent" : "controller",
                 sf_http_server_url(http), c.state_dir, store ? "" : " (no database: agent only)");
        if (c.url_file) {
                _cleanup_free_ char *u = xasprintf("%s\n", sf_http_server_url(http));
                r = sf_write_file_atomic(c.url_file, u, strlen(u), 0644, &e);
                if (r < 0)
                        goto fail;
        }

        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        log_info("SIGHUP: nothing to reload");
                        continue;
                }
                break;
        }
        log_info("%s received, shutting down (workloads keep running)",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
        sf_nfvo_stop(nfvo);
        if (vim)
                sf_vim_set_port_taken(vim, NULL, NULL); /* waits for the calls in flight */
        sf_agent_stop(agent);
        sf_vim_stop(vim);
        if (store)
                sf_store_shutdown(store);
        sf_http_server_stop(http);
        sf_api_free(api);
        sf_nfvo_free(nfvo);
        sf_vnfm_free(vnfm);
        sf_vim_free(vim);
        log_info("stopped");
        return 0;

fail:
        log_error("%s", sf_err_msg(&e));
        sf_nfvo_stop(nfvo);
        if (vim)
                sf_vim_set_port_taken(vim, NULL, NULL); /* waits for the calls in flight */
        sf_agent_stop(agent);
        sf_vim_stop(vim);
        if (store)
                sf_store_shutdown(store);
        sf_http_server_stop(http);
        sf_api_free(api);
        sf_nfvo_free(nfvo);
        sf_vnfm_free(vnfm);
        sf_vim_free(vim);
        return 1;
}
