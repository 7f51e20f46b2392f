/* sfctl lab: a multi-site lab of simulated hosts on this machine (src/lab does the work):
 * up, status, down, list, env, and stopping/starting one host's agent. */
#include <ctype.h>
#include <limits.h>
#include <sys/stat.h>

#include "cli/sfctl.h"
#include "lab/lab.h"
#include "lib/util.h"
#include "net/features.h"

#define NETEM_MISSING "netem is not available in this kernel: WAN delay between sites cannot be emulated"

static bool is_exe(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* sfd: --sfd, else next to this sfctl (build tree: src/cli/sfctl -> src/sfd/sfd; installed:
 * bin/sfctl -> sbin/sfd or the same directory), else PATH. */
static char *find_sfd(struct args *a, sf_err *e)
{
        char self[PATH_MAX];
        ssize_t n;
        const char *path;
        if (args_get(a, "sfd")) {
                char *p = realpath(args_get(a, "sfd"), NULL);
                if (!p || !is_exe(p)) {
                        free(p);
                        sf_err_set(e, -ENOENT, "--sfd", "'%s' is not an executable file", args_get(a, "sfd"));
                        return NULL;
                }
                return p;
        }
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                char *slash;
                self[n] = 0;
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        for (const char *const *rel = (const char *const[]) { "../sfd/sfd", "sfd", "../sbin/sfd", NULL };
                             *rel; rel++) {
                                _cleanup_free_ char *p = xasprintf("%s/%s", self, *rel);
                                char *real = realpath(p, NULL);
                                if (real && is_exe(real))
                                        return real;
                                free(real);
                        }
                }
        }
        path = getenv("PATH");
        if (path) {
                _cleanup_free_ char *copy = xstrdup(path);
                char *save = NULL;
                for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                        _cleanup_free_ char *p = xasprintf("%s/sfd", d);
                        if (d[0] == '/' && is_exe(p))
                                return realpath(p, NULL);
                }
        }
        sf_err_set(e, -ENOENT, "--sfd", "cannot find sfd next to sfctl ('%s') or in PATH: give --sfd PATH", self);
        return NULL;
}

static void progress(void *userdata, const char *msg)
{
        struct sfctl *c = userdata;
        if (!c->quiet && !c->json)
                fprintf(stderr, "  %s\n", msg);
}

static int load(struct args *a, sf_lab **ret)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (args_get(a, "name") && args_get(a, "dir"))
                return usage_error("lab", "give --name or --dir, not both"), -EXIT_USAGE;
        if (sf_lab_load(args_get(a, "name"), args_get(a, "dir"), ret, &e) < 0)
                return -fail(&e);
        return 0;
}

static const char *name_opt(const sf_lab *lab)
{
        static char buf[64];
        if (STREQ(lab->name, SF_LAB_DEFAULT_NAME))
                return "";
        snprintf(buf, sizeof(buf), " --name %s", lab->name);
        return buf;
}

/* One row per host for the tables of up and status. */
static json_t *host_rows(json_t *status)
{
        json_t *rows = json_array(), *h;
        size_t i;
        json_array_foreach(json_object_get(status, "hosts"), i, h) {
                json_t *node = json_object_get(h, "node");
                bool ar = json_is_true(json_object_get(h, "agent_running"));
                json_array_append_new(
                        rows, json_pack("{s:O, s:O, s:O, s:O, s:I, s:s, s:s, s:s}", "name", json_object_get(h, "name"),
                                        "site", json_object_get(h, "site"), "underlay_ip",
                                        json_object_get(h, "underlay_ip"), "netns",
                                        json_is_true(json_object_get(h, "netns_present")) ? json_object_get(h, "netns")
                                                                                          : json_string("(missing)"),
                                        "pid", json_integer_value(json_object_get(json_object_get(h, "agent"), "pid")),
                                        "agent", ar ? "running" : "stopped", "status",
                                        json_string_value(json_object_get(node, "state")) ?: "-", "reason",
                                        json_string_value(json_object_get(node, "reason")) ?: ""));
        }
        return rows;
}

static const struct col host_cols[] = {
        { "HOST", "name" },  { "SITE", "site" },   { "UNDERLAY", "underlay_ip" }, { "NETNS", "netns" },
        { "AGENT PID", "pid" }, { "AGENT", "agent" }, { "STATUS", "status" },       { "REASON", "reason" },
        { NULL },
};

static void print_hosts(struct sfctl *c, json_t *status)
{
        json_auto_t *rows = host_rows(status);
        struct sfctl plain = *c;
        plain.json = plain.quiet = false;
        out_table(&plain, rows, host_cols);
}

/* "20ms", "1.5ms", "100us", "0.2s" -> microseconds. */
static int parse_delay(const char *s, uint64_t *ret)
{
        char *end;
        double v;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || v < 0 || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        if (STREQ(end, "ms"))
                v *= 1000;
        else if (STREQ(end, "s"))
                v *= 1000000;
        else if (!STREQ(end, "us"))
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

static int lab_up(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_lab_ sf_lab *lab = NULL;
        _cleanup_free_ char *sfd = NULL;
        json_auto_t *st = NULL;
        sf_features f = { 0 };
        bool netem;
        unsigned long lease = 0, timeout = 0;

        if (a->n_pos)
                return usage_error("lab", "up takes no arguments (sites go in --sites)"), EXIT_USAGE;
        if (!args_get(a, "sites"))
                return usage_error("lab", "up needs --sites, e.g. --sites core:2,edge:1"), EXIT_USAGE;
        for (const char *const *o = (const char *const[]) { "lease", "timeout", NULL }; *o; o++) {
                const char *s = args_get(a, *o);
                char *end;
                unsigned long x;
                if (!s)
                        continue;
                errno = 0;
                x = strtoul(s, &end, 10);
                if (!isdigit((unsigned char) s[0]) || *end || errno || x < 1 || x > 3600)
                        return usage_error("lab", "--%s: '%s' must be 1 to 3600 (seconds)", *o, s), EXIT_USAGE;
                *(STREQ(*o, "lease") ? &lease : &timeout) = x;
        }
        if (args_get(a, "log-level") && !STREQ(args_get(a, "log-level"), "error") &&
            !STREQ(args_get(a, "log-level"), "warn") && !STREQ(args_get(a, "log-level"), "info") &&
            !STREQ(args_get(a, "log-level"), "debug"))
                return usage_error("lab", "--log-level: '%s' is not error, warn, info or debug", args_get(a, "log-level")),
                       EXIT_USAGE;
        if (lease && lease < 3 && !c->quiet)
                fprintf(stderr, "sfctl: warning: --lease %lu: agents beat at most once a second (a third of the "
                                "lease otherwise): healthy nodes may turn NotReady for a moment (3 or more is safe)\n",
                        lease);
        if (args_get(a, "wan-delay")) {
                uint64_t us;
                if (parse_delay(args_get(a, "wan-delay"), &us) < 0)
                        return usage_error("lab", "--wan-delay: '%s' is not a delay such as 20ms", args_get(a, "wan-delay")),
                               EXIT_USAGE;
        }
        if (geteuid() != 0) {
                sf_err_set(&e, -EPERM, NULL, "a lab needs root: it creates network namespaces, interfaces and containers");
                return fail(&e);
        }
        if (sf_features_detect(&f, &e) < 0)
                return fail(&e);
        netem = f.mask & SF_FEAT_NETEM;
        sf_features_done(&f);
        if (args_get(a, "wan-delay")) {
                if (!netem)
                        sf_err_set(&e, -EINVAL, NULL, NETEM_MISSING);
                else
                        sf_err_set(&e, -EOPNOTSUPP, NULL,
                                   "--wan-delay: netem is available, but WAN delay emulation is not implemented yet");
                fail(&e);
                return EXIT_FAIL;
        }
        sfd = find_sfd(a, &e);
        if (!sfd)
                return fail(&e);
        if (sf_lab_up(&(sf_lab_config) { .name = args_get(a, "name"),
                                         .dir = args_get(a, "dir"),
                                         .sites = args_get(a, "sites"),
                                         .subnet = args_get(a, "subnet"),
                                         .sfd = sfd,
                                         .runtime = args_get(a, "runtime"),
                                         .lease_s = (unsigned) lease,
                                         .log_level = args_get(a, "log-level"),
                                         .timeout_s = (int) timeout,
                                         .progress = progress,
                                         .userdata = c },
                      &lab, &e) < 0) {
                if (e.field && STREQ(e.field, "sites")) { /* name the option as the user typed it */
                        free(e.field);
                        e.field = xstrdup("--sites");
                } else if (e.field && (STREQ(e.field, "subnet") || STREQ(e.field, "name") || STREQ(e.field, "dir") ||
                                       STREQ(e.field, "runtime"))) {
                        char *f2 = xasprintf("--%s", e.field);
                        free(e.field);
                        e.field = f2;
                }
                return fail(&e);
        }
        if (sf_lab_status(lab, &st, &e) < 0)
                return fail(&e);
        if (c->json) {
                char *s = json_dumps(st, JSON_INDENT(2));
                puts(s);
                free(s);
                return EXIT_OK;
        }
        if (c->quiet) {
                printf("%s\n", lab->controller_url);
                return EXIT_OK;
        }
        printf("lab '%s' is up: %zu host%s in %zu site%s, controller %s (pid %d)\n\n", lab->name, lab->n_hosts,
               lab->n_hosts == 1 ? "" : "s", lab->n_sites, lab->n_sites == 1 ? "" : "s", lab->controller_url,
               (int) lab->controller.pid);
        print_hosts(c, st);
        printf("\nstate %s/lab.json, logs %s/logs/\n", lab->dir, lab->dir);
        if (!netem)
                printf("note: " NETEM_MISSING " (the sites share one flat underlay)\n");
        printf("take it down with 'sfctl lab down%s'; use it with:\n\nexport SUPERFLUID_ENDPOINT=%s\n", name_opt(lab),
               lab->controller_url);
        return EXIT_OK;
}

static int lab_status(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_lab_ sf_lab *lab = NULL;
        json_auto_t *st = NULL;
        json_t *ctl;
        int r = load(a, &lab);
        bool healthy;
        if (r < 0)
                return -r;
        if (sf_lab_status(lab, &st, &e) < 0)
                return fail(&e);
        healthy = json_is_true(json_object_get(st, "healthy"));
        if (c->json) {
                char *s = json_dumps(st, JSON_INDENT(2));
                puts(s);
                free(s);
                return healthy ? EXIT_OK : EXIT_FAIL;
        }
        if (STREQ(lab->phase, "down")) {
                printf("lab '%s' is down; its state is kept in %s ('sfctl lab up%s --sites ...' brings it back, "
                       "'sfctl lab down%s' removes it)\n",
                       lab->name, lab->dir, name_opt(lab), name_opt(lab));
                return EXIT_FAIL;
        }
        ctl = json_object_get(st, "controller");
        printf("lab '%s' (%s): %s\n", lab->name, lab->phase, healthy ? "healthy" : "DEGRADED");
        printf("controller: %s, pid %d, %s%s%s\n", lab->controller_url, (int) lab->controller.pid,
               json_is_true(json_object_get(ctl, "healthy"))   ? "healthy"
               : json_is_true(json_object_get(ctl, "running")) ? "running but unhealthy"
                                                                : "not running",
               json_is_true(json_object_get(ctl, "running")) && json_string_value(json_object_get(ctl, "error")) ? ": " : "",
               json_is_true(json_object_get(ctl, "running")) ? json_string_value(json_object_get(ctl, "error")) ?: "" : "");
        printf("underlay: bridge %s %s/%u%s\n", lab->bridge,
               json_string_value(json_object_get(json_object_get(st, "bridge"), "address")), lab->subnet.len,
               json_is_true(json_object_get(json_object_get(st, "bridge"), "present")) ? "" : " (MISSING)");
        printf("state: %s/lab.json\n\n", lab->dir);
        print_hosts(c, st);
        return healthy ? EXIT_OK : EXIT_FAIL;
}

static int lab_down(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_lab_ sf_lab *lab = NULL;
        int wait_s = 0, r;
        if (args_get(a, "wait")) {
                char *end;
                long x = strtol(args_get(a, "wait"), &end, 10);
                if (*end || x < 0 || x > 3600)
                        return usage_error("lab", "--wait: '%s' must be 0 to 3600 (seconds)", args_get(a, "wait")),
                               EXIT_USAGE;
                wait_s = x == 0 ? -1 : (int) x;
        }
        if (args_get(a, "name") && args_get(a, "dir"))
                return usage_error("lab", "give --name or --dir, not both"), EXIT_USAGE;
        r = sf_lab_load(args_get(a, "name"), args_get(a, "dir"), &lab, &e);
        if (r == -ENOENT && !args_get(a, "dir")) {
                /* No state file: whatever is left of a lab of that name, found by its names. */
                _cleanup_err_ sf_err oe = SF_ERR_INIT;
                if (sf_lab_orphan(args_get(a, "name"), &lab, &oe) < 0)
                        return fail(oe.code == -ENOENT ? &e : &oe);
                if (!c->quiet && !c->json)
                        fprintf(stderr, "  lab '%s' has no state file: removing what is left of it (%zu host%s, "
                                        "controller %s)\n",
                                lab->name, lab->n_hosts, lab->n_hosts == 1 ? "" : "s",
                                lab->controller.pid ? "running" : "not found");
        } else if (r < 0)
                return fail(&e);
        sf_err_clear(&e);
        if (sf_lab_down(lab,
                        &(sf_lab_down_opts) { .keep_state = args_has(a, "keep-state"),
                                              .wait_s = wait_s,
                                              .progress = progress,
                                              .userdata = c },
                        &e) < 0)
                return fail(&e);
        if (!c->quiet && !c->json)
                printf("lab '%s' is down%s\n", lab->name,
                       args_has(a, "keep-state") ? " (state kept: 'sfctl lab up' with the same name brings it back)"
                                                 : "; nothing of it is left");
        return EXIT_OK;
}

static const struct col list_cols[] = {
        { "NAME", "name" }, { "PHASE", "phase" }, { "CONTROLLER", "controller_url" }, { "SUBNET", "subnet" },
        { "HOSTS", "hosts" }, { "DIR", "dir" }, { NULL },
};

static int lab_list(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *labs = NULL;
        if (sf_lab_list(&labs, &e) < 0)
                return fail(&e);
        out_table(c, labs, list_cols);
        return EXIT_OK;
}

static int lab_env(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_lab_ sf_lab *lab = NULL;
        int r = load(a, &lab);
        if (r < 0)
                return -r;
        printf("export SUPERFLUID_ENDPOINT=%s\n", lab->controller_url);
        return EXIT_OK;
}

static int host_of(struct args *a, sf_lab *lab, sf_lab_host **ret)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (a->n_pos != 1)
                return usage_error("lab", "give one HOST (see 'sfctl lab status')"), -EXIT_USAGE;
        *ret = sf_lab_host_find(lab, a->pos[0]);
        if (!*ret) {
                sf_err_set(&e, -ENOENT, NULL, "lab '%s' has no host '%s'", lab->name, a->pos[0]);
                return -fail(&e);
        }
        return 0;
}

static int wait_ready(struct sfctl *c, sf_lab *lab, sf_lab_host *h, int timeout_s, sf_err *e)
{
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_s * 1000000;
        for (;;) {
                json_auto_t *st = NULL;
                json_t *x;
                size_t i;
                if (!sf_lab_proc_alive(&h->agent))
                        return sf_err_set(e, -EIO, NULL, "the agent of '%s' exited (log '%s')", h->name, h->agent.log);
                if (sf_lab_status(lab, &st, e) < 0)
                        return -EIO;
                json_array_foreach(json_object_get(st, "hosts"), i, x)
                        if (STREQ(json_string_value(json_object_get(x, "name")), h->name) &&
                            STREQ(json_string_value(json_object_get(json_object_get(x, "node"), "state")) ?: "", "Ready"))
                                return 0;
                if (sf_now_usec() > deadline)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "node '%s' not Ready after %d s (log '%s')", h->name,
                                          timeout_s, h->agent.log);
                usleep(100000);
        }
}

static int agent_cmd(struct sfctl *c, struct args *a, bool stop, bool start)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_lab_ sf_lab *lab = NULL;
        _cleanup_close_ int lock = -EBADF;
        sf_lab_host *h;
        int r = load(a, &lab), timeout = 60;
        if (r < 0)
                return -r;
        r = host_of(a, lab, &h);
        if (r < 0)
                return -r;
        if (args_get(a, "timeout")) {
                timeout = atoi(args_get(a, "timeout"));
                if (timeout < 1 || timeout > 3600)
                        return usage_error("lab", "--timeout: '%s' must be 1 to 3600 (seconds)", args_get(a, "timeout")),
                               EXIT_USAGE;
        }
        if (geteuid() != 0) {
                sf_err_set(&e, -EPERM, NULL, "starting and stopping lab agents needs root");
                return fail(&e);
        }
        lock = sf_lab_lock(lab->dir, &e);
        if (lock < 0)
                return fail(&e);
        if (stop) {
                bool was = sf_lab_proc_alive(&h->agent);
                if (sf_lab_agent_stop(lab, h, 10000, &e) < 0)
                        return fail(&e);
                if (!c->quiet && !start)
                        printf(was ? "stopped the agent of '%s' (pid %d); its workloads keep running\n"
                                   : "the agent of '%s' was not running (pid %d)\n",
                               h->name, (int) h->agent.pid);
        }
        if (start) {
                if (sf_lab_agent_start(lab, h, &e) < 0)
                        return fail(&e);
                if (!args_has(a, "no-wait") && wait_ready(c, lab, h, timeout, &e) < 0)
                        return fail(&e);
                if (!c->quiet)
                        printf("started the agent of '%s' (pid %d)%s\n", h->name, (int) h->agent.pid,
                               args_has(a, "no-wait") ? "" : "; its node is Ready");
        }
        return EXIT_OK;
}

static int lab_stop_agent(struct sfctl *c, const struct verb *v, struct args *a) { return agent_cmd(c, a, true, false); }
static int lab_start_agent(struct sfctl *c, const struct verb *v, struct args *a) { return agent_cmd(c, a, false, true); }
static int lab_restart_agent(struct sfctl *c, const struct verb *v, struct args *a) { return agent_cmd(c, a, true, true); }

#define WHICH_OPTS                                                                                          \
        { "name", "LAB", "the lab (default: '" SF_LAB_DEFAULT_NAME "')" },                                   \
        { "dir", "DIR", "the lab whose state is in DIR (for a lab brought up with --dir)" }

static const struct opt up_opts[] = {
        { "sites", "SPEC", "SITE:HOSTS[:KIND],... e.g. core:2,edge:1 (required)" },
        { "name", "LAB", "lab name: 1-5 of [a-z0-9] (default: '" SF_LAB_DEFAULT_NAME "'); labs can run side by side" },
        { "dir", "DIR", "state, logs, databases (default: " SF_LAB_STATE_ROOT "/LAB)" },
        { "subnet", "CIDR", "underlay subnet (default: the first free /24 of " SF_LAB_SUBNET_POOL ")" },
        { "runtime", "NAME", "OCI runtime of the agents: runc or crun (default: runc)" },
        { "lease", "SECONDS", "node lease of the controller (default: sfd's, 15); agents beat three times per lease" },
        { "log-level", "LEVEL", "sfd log level: error, warn, info, debug" },
        { "timeout", "SECONDS", "how long to wait for the controller and for every node Ready (default 60)" },
        { "sfd", "PATH", "the sfd binary (default: next to sfctl, then PATH)" },
        { "wan-delay", "DELAY", "delay between sites, e.g. 20ms (needs netem in the kernel)" },
        { NULL },
};
static const struct opt which_opts[] = { WHICH_OPTS, { NULL } };
static const struct opt down_opts[] = {
        WHICH_OPTS,
        { "keep-state", NULL, "keep DIR (controller database, images, logs); 'lab up' reuses it" },
        { "wait", "SECONDS", "how long the agents get to remove the containers before they are killed (default 20; 0: no wait)" },
        { NULL },
};
static const struct opt agent_stop_opts[] = { WHICH_OPTS, { NULL } };
static const struct opt agent_start_opts[] = {
        WHICH_OPTS,
        { "no-wait", NULL, "return at once instead of waiting until the node is Ready" },
        { "timeout", "SECONDS", "how long to wait for the node to be Ready (default 60)" },
        { NULL },
};

const struct resource res_lab = {
        "lab", "a multi-site lab of simulated hosts on this machine (root)",
        (const struct verb[]) {
                { "up",
                  "--sites SITE:HOSTS[:KIND],... [OPTIONS]\n"
                  "\n"
                  "Creates, on this machine, a lab: an underlay bridge (sflab-ul, or sflab-LAB) with the\n"
                  "first address of a private subnet (10.254.0.1/24 by default; it is connected to no\n"
                  "host interface, and nothing is routed or NATed); a controller (sfd --role controller)\n"
                  "listening on that address, port 7480; the sites; and per host a network namespace\n"
                  "(sflab-SITE-N, or sflab-LAB-SITE-N) joined to the bridge by a veth (ul0 inside, the\n"
                  "next addresses of the subnet) running an agent (sfd --role agent --netns ...) on\n"
                  "port 7481. Hosts are named SITE-N. KIND is core, aggregation or edge, and may be\n"
                  "left out when the site is named after it. Waits until every node is Ready, then\n"
                  "prints the hosts and the line to export SUPERFLUID_ENDPOINT. The daemons keep\n"
                  "running after sfctl returns; 'sfctl lab down' removes everything.\n"
                  "Example: sfctl lab up --sites core:2,edge:1; sfctl lab up --name b --sites paris:1:core",
                  "start a lab: a controller and hosts in network namespaces", up_opts, lab_up },
                { "status", "[--name LAB | --dir DIR]\n\nExit status 0 when the lab is up and healthy, 1 when not.",
                  "show the lab's hosts, agents, node status and controller health", which_opts, lab_status },
                { "down", "[--name LAB | --dir DIR] [--keep-state]\n"
                          "\n"
                          "Deletes every container through the API, stops the agents and the controller\n"
                          "(SIGTERM, SIGKILL after 10 s), kills whatever is left in the lab's namespaces and\n"
                          "container cgroups, removes those cgroups, the mounts and run directories, the\n"
                          "namespaces, the veths, the bridge and DIR; then checks that nothing is left and\n"
                          "fails, listing it, if something is. With --name, a lab whose state file is gone\n"
                          "(its directory removed) is still taken down: what is left of it is found by its\n"
                          "names (run directories, namespaces, bridge and veths; daemons by command line).",
                  "take the lab down and remove everything it made", down_opts, lab_down },
                { "list", "\n\nPhase \"orphaned\": a lab's run directory without its state file (its directory was\nremoved while it ran); 'sfctl lab down --name LAB' removes what is left of it.",
                  "list the labs of this machine", which_opts + 2, lab_list },
                { "env", "[--name LAB | --dir DIR]\n\nUse it as: eval \"$(sfctl lab env)\".",
                  "print the export line of SUPERFLUID_ENDPOINT for the lab", which_opts, lab_env },
                { "stop-agent", "HOST [--name LAB | --dir DIR]\n\nThe host's workloads keep running; its node turns NotReady when the lease expires.",
                  "stop one host's agent (simulates a host failure)", agent_stop_opts, lab_stop_agent },
                { "start-agent", "HOST [--name LAB | --dir DIR] [--no-wait]\n\nThe agent adopts the host's workloads.",
                  "start a stopped agent again and wait until its node is Ready", agent_start_opts, lab_start_agent },
                { "restart-agent", "HOST [--name LAB | --dir DIR] [--no-wait]", "stop and start one host's agent",
                  agent_start_opts, lab_restart_agent },
                { NULL },
        },
};
