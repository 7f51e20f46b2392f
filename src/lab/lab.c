/* The lab's plan and state: names, site specs, addressing (the subnet and each host's
 * address), the state file (lab.json) and how commands find it, the lab list, the lock. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "lab/lab-internal.h"
#include "lib/util.h"
#include "net/link.h"

/* ---- names ---- */

int sf_lab_name_check(const char *name, sf_err *e)
{
        size_t n = name ? strlen(name) : 0;
        if (name && STREQ(name, SF_LAB_DEFAULT_NAME))
                return 0;
        if (n < 1 || n > 5 || !islower((unsigned char) name[0]) || STREQ(name, "ul"))
                goto bad; /* "ul": the default lab's bridge is sflab-ul */
        for (size_t i = 0; i < n; i++)
                if (!islower((unsigned char) name[i]) && !isdigit((unsigned char) name[i]))
                        goto bad;
        return 0;
bad:
        return sf_err_set(e, -EINVAL, "name",
                          "'%.40s' is not a lab name: use '" SF_LAB_DEFAULT_NAME
                          "' or 1-5 lower-case letters and digits starting with a letter (it "
                          "becomes part of interface names)",
                          name ? name : "");
}

static bool is_site_kind(const char *s)
{
        return STREQ(s, "core") || STREQ(s, "aggregation") || STREQ(s, "edge");
}

void sf_lab_sites_free(sf_lab_site *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].kind);
        }
        free(v);
}

int sf_lab_parse_sites(const char *spec, sf_lab_site **ret, size_t *ret_n, sf_err *e)
{
        _cleanup_free_ char *copy = xstrdup(spec ? spec : "");
        sf_lab_site *v = NULL;
        size_t n = 0, total = 0;
        char *save = NULL, *tok;
        int r;

        if (!*copy)
                return sf_err_set(e, -EINVAL, "sites", "no sites: give SITE:HOSTS[:KIND],... such as core:2,edge:1");
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *c1 = strchr(tok, ':'), *c2, *end;
                const char *kind;
                unsigned long hosts;

                if (!c1) {
                        r = sf_err_set(e, -EINVAL, "sites",
                                       "'%.60s' is not SITE:HOSTS[:KIND] (e.g. core:2 or paris:1:edge)", tok);
                        goto fail;
                }
                *c1 = 0;
                c2 = strchr(c1 + 1, ':');
                if (c2)
                        *c2 = 0;
                if (!sf_name_valid(tok) || strlen(tok) > 32) {
                        r = sf_err_set(e, -EINVAL, "sites",
                                       "'%.60s' is not a site name: use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit",
                                       tok);
                        goto fail;
                }
                errno = 0;
                hosts = strtoul(c1 + 1, &end, 10);
                if (!isdigit((unsigned char) c1[1]) || *end || errno || hosts < 1 || hosts > SF_LAB_MAX_HOSTS) {
                        r = sf_err_set(e, -EINVAL, "sites", "site '%s': '%.20s' is not a number of hosts (1 to %d)",
                                       tok, c1 + 1, SF_LAB_MAX_HOSTS);
                        goto fail;
                }
                kind = c2 ? c2 + 1 : tok;
                if (!is_site_kind(kind)) {
                        r = c2 ? sf_err_set(e, -EINVAL, "sites",
                                            "site '%s': '%.20s' is not a site kind: use core, aggregation or edge", tok, kind)
                               : sf_err_set(e, -EINVAL, "sites",
                                            "site '%s': give its kind, e.g. %s:%lu:edge (core, aggregation or edge)",
                                            tok, tok, hosts);
                        goto fail;
                }
                for (size_t i = 0; i < n; i++)
                        if (STREQ(v[i].name, tok)) {
                                r = sf_err_set(e, -EINVAL, "sites", "site '%s' is given twice", tok);
                                goto fail;
                        }
                total += hosts;
                if (total > SF_LAB_MAX_HOSTS) {
                        r = sf_err_set(e, -EINVAL, "sites", "more than %d hosts", SF_LAB_MAX_HOSTS);
                        goto fail;
                }
                v = xrealloc(v, sizeof(*v) * (n + 1));
                v[n++] = (sf_lab_site) { .name = xstrdup(tok), .kind = xstrdup(kind), .hosts = hosts };
        }
        if (!n) {
                r = sf_err_set(e, -EINVAL, "sites", "no sites: give SITE:HOSTS[:KIND],... such as core:2,edge:1");
                goto fail;
        }
        *ret = v;
        *ret_n = n;
        return 0;
fail:
        sf_lab_sites_free(v, n);
        return r;
}

char *lab_bridge_name(const char *lab)
{
        return STREQ(lab, SF_LAB_DEFAULT_NAME) ? xstrdup("sflab-ul") : xasprintf("sflab-%s", lab);
}

char *lab_netns_name(const char *lab, const char *host)
{
        return STREQ(lab, SF_LAB_DEFAULT_NAME) ? xasprintf("sflab-%s", host)
                                               : xasprintf("sflab-%s-%s", lab, host);
}

/* ---- addressing ---- */

/* Routes of the root namespace (IPv4, /proc/net/route): any that overlaps p? */
static int route_overlap(const sf_prefix *p, char **ret_what)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
        char line[512];
        if (!f)
                return -errno;
        if (!fgets(line, sizeof(line), f)) /* header */
                return 0;
        while (fgets(line, sizeof(line), f)) {
                char ifname[IFNAMSIZ + 1];
                unsigned dst, gw, flags, refcnt, use, metric, mask;
                sf_prefix rp = { .addr = { .family = AF_INET } };
                if (sscanf(line, "%16s %x %x %x %u %u %u %x", ifname, &dst, &gw, &flags, &refcnt, &use,
                           &metric, &mask) != 8)
                        continue;
                if (mask == 0)
                        continue; /* a default route overlaps everything: not a conflict */
                rp.addr.v4.s_addr = dst;
                rp.len = __builtin_popcount(mask);
                if (sf_prefix_overlaps(p, &rp)) {
                        if (ret_what) {
                                char b[SF_PREFIX_STRLEN];
                                *ret_what = xasprintf("route %s on %s", sf_prefix_fmt(&rp, b), ifname);
                        }
                        return 1;
                }
        }
        return 0;
}

/* Subnets of the other labs of this machine (their state files). */
static bool lab_subnet_used(const sf_prefix *p, const char *self, char **ret_who)
{
        json_auto_t *labs = NULL;
        json_t *l;
        size_t i;
        if (sf_lab_list(&labs, NULL) < 0)
                return false;
        json_array_foreach(labs, i, l) {
                sf_prefix q;
                const char *s = json_string_value(json_object_get(l, "subnet"));
                const char *n = json_string_value(json_object_get(l, "name"));
                if (!s || !n || STREQ(n, self) || sf_prefix_parse(s, false, &q) < 0)
                        continue;
                if (sf_prefix_overlaps(p, &q)) {
                        if (ret_who)
                                *ret_who = xasprintf("lab '%s'", n);
                        return true;
                }
        }
        return false;
}

static bool private_prefix(const sf_prefix *p)
{
        static const char *const ranges[] = { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                              "198.18.0.0/15", NULL };
        for (const char *const *r = ranges; *r; r++) {
                sf_prefix q;
                sf_prefix_parse(*r, true, &q);
                if (p->len >= q.len && sf_prefix_contains(&q, &p->addr))
                        return true;
        }
        return false;
}

/* prefer: the subnet the lab had before (kept state), when it is still free. */
static int pick_subnet(const sf_lab_config *c, const char *name, size_t n_hosts, const sf_prefix *prefer,
                       sf_prefix *ret, sf_err *e)
{
        char b[SF_PREFIX_STRLEN];
        sf_prefix p;
        if (c->subnet) {
                _cleanup_free_ char *what = NULL;
                uint64_t size;
                if (sf_prefix_parse(c->subnet, true, &p) < 0 || p.addr.family != AF_INET)
                        return sf_err_set(e, -EINVAL, "subnet", "'%.60s' is not an IPv4 prefix such as 10.254.0.0/24", c->subnet);
                if (!private_prefix(&p))
                        return sf_err_set(e, -EINVAL, "subnet",
                                          "'%s' is not in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, "
                                          "100.64.0.0/10, 198.18.0.0/15): a lab must not shadow real addresses",
                                          c->subnet);
                if (p.len < 16 || p.len > 29)
                        return sf_err_set(e, -EINVAL, "subnet", "'%s': use a prefix length from /16 to /29", c->subnet);
                size = 1ULL << (32 - p.len);
                if (n_hosts + 3 > size)
                        return sf_err_set(e, -EINVAL, "subnet", "'%s' has room for %" PRIu64 " hosts, not %zu",
                                          c->subnet, size - 3, n_hosts);
                if (route_overlap(&p, &what) > 0)
                        return sf_err_set(e, -EEXIST, "subnet", "'%s' overlaps %s of this machine: choose another --subnet",
                                          c->subnet, what);
                if (lab_subnet_used(&p, name, &what))
                        return sf_err_set(e, -EEXIST, "subnet", "'%s' is used by %s", c->subnet, what);
                *ret = p;
                return 0;
        }
        if (prefer && n_hosts + 3 <= (1ULL << (32 - prefer->len)) && route_overlap(prefer, NULL) == 0 &&
            !lab_subnet_used(prefer, name, NULL)) {
                *ret = *prefer;
                return 0;
        }
        sf_prefix_parse(SF_LAB_SUBNET_POOL, true, &p);
        if (n_hosts + 3 > 256)
                return sf_err_set(e, -EINVAL, "subnet", "%zu hosts do not fit in a /24: give a --subnet", n_hosts);
        for (unsigned i = 0; i < 256; i++) {
                sf_prefix q = { .addr = p.addr, .len = 24 };
                q.addr.b[2] = (uint8_t) i;
                if (route_overlap(&q, NULL) > 0 || lab_subnet_used(&q, name, NULL))
                        continue;
                *ret = q;
                return 0;
        }
        return sf_err_set(e, -ENOSPC, "subnet", "every /24 of %s is in use: give a --subnet",
                          sf_prefix_fmt(&p, b));
}

/* ---- the plan ---- */

static char *abs_dir(const char *d)
{
        char cwd[4096];
        if (d[0] == '/' || !getcwd(cwd, sizeof(cwd)))
                return xstrdup(d);
        return xasprintf("%s/%s", cwd, d);
}

int sf_lab_plan(const sf_lab_config *c, sf_lab **ret, sf_err *e)
{
        _cleanup_lab_ sf_lab *lab = new0(sf_lab, 1), *prev = NULL;
        _cleanup_nl_ sf_nl *nl = NULL;
        const char *name = c->name ? c->name : SF_LAB_DEFAULT_NAME;
        u128 base;
        size_t k = 0, n_hosts = 0;
        int r;

        r = sf_lab_name_check(name, e);
        if (r < 0)
                return r;
        r = sf_lab_parse_sites(c->sites, &lab->sites, &lab->n_sites, e);
        if (r < 0)
                return r;
        if (c->runtime && !STREQ(c->runtime, "runc") && !STREQ(c->runtime, "crun"))
                return sf_err_set(e, -EINVAL, "runtime", "'%.40s' is not runc or crun", c->runtime);
        if (!c->sfd || c->sfd[0] != '/')
                return sf_err_set(e, -EINVAL, "sfd", "the sfd binary must be given by absolute path");
        lab->name = xstrdup(name);
        lab->dir = c->dir ? abs_dir(c->dir) : xasprintf(SF_LAB_STATE_ROOT "/%s", name);
        lab->run_root = xasprintf(SF_LAB_RUN_ROOT "/%s", name);
        lab->phase = xstrdup("starting");
        lab->created_at = sf_timestamp(sf_realtime_usec());
        lab->sfd = xstrdup(c->sfd);
        lab->runtime = xstrdup(c->runtime);
        lab->lease_s = c->lease_s;
        lab->log_level = xstrdup(c->log_level);
        lab->bridge = lab_bridge_name(name);
        for (size_t i = 0; i < lab->n_sites; i++)
                n_hosts += lab->sites[i].hosts;

        /* Nothing of it may exist: what the plan names is what sf_lab_down removes. Only the
         * kept state of a lab taken down with --keep-state is reused. */
        {
                _cleanup_free_ char *state = xasprintf("%s/lab.json", lab->dir);
                if (access(state, F_OK) == 0) {
                        if (sf_lab_load(NULL, lab->dir, &prev, NULL) < 0 || !STREQ(prev->phase, "down"))
                                return sf_err_set(e, -EEXIST, "name",
                                                  "lab '%s' exists (state in '%s'): 'sfctl lab down%s%s' first",
                                                  name, state, STREQ(name, SF_LAB_DEFAULT_NAME) ? "" : " --name ",
                                                  STREQ(name, SF_LAB_DEFAULT_NAME) ? "" : name);
                        if (!STREQ(prev->name, name))
                                return sf_err_set(e, -EEXIST, "dir", "'%s' holds the kept state of lab '%s', not '%s'",
                                                  lab->dir, prev->name, name);
                }
        }
        r = pick_subnet(c, name, n_hosts, prev ? &prev->subnet : NULL, &lab->subnet, e);
        if (r < 0)
                return r;
        base = sf_addr_to_u128(&lab->subnet.addr);
        lab->bridge_ip = sf_addr_from_u128(AF_INET, base + 1);
        {
                char b[SF_ADDR_STRLEN];
                lab->controller_url = xasprintf("http://%s:%d", sf_addr_fmt(&lab->bridge_ip, b),
                                                SF_LAB_CONTROLLER_PORT);
        }
        lab->controller_state_dir = xasprintf("%s/controller", lab->dir);
        lab->controller.log = xasprintf("%s/logs/controller.log", lab->dir);

        lab->hosts = new0(sf_lab_host, n_hosts);
        lab->n_hosts = n_hosts;
        for (size_t s = 0; s < lab->n_sites; s++)
                for (unsigned i = 1; i <= lab->sites[s].hosts; i++, k++) {
                        sf_lab_host *h = &lab->hosts[k];
                        h->name = xasprintf("%s-%u", lab->sites[s].name, i);
                        h->site = xstrdup(lab->sites[s].name);
                        h->netns = lab_netns_name(name, h->name);
                        h->netns_path = xasprintf(SF_LAB_NETNS_DIR "/%s", h->netns);
                        h->veth = xasprintf("%s-%zu", lab->bridge, k + 1);
                        h->ip = sf_addr_from_u128(AF_INET, base + 2 + k);
                        h->state_dir = xasprintf("%s/hosts/%s/state", lab->dir, h->name);
                        h->run_dir = xasprintf("%s/%s", lab->run_root, h->name);
                        h->agent.log = xasprintf("%s/logs/%s.log", lab->dir, h->name);
                        if (strlen(h->veth) >= IFNAMSIZ)
                                return sf_err_set(e, -EINVAL, "sites", "interface name '%s' is too long", h->veth);
                }

        if (access(lab->run_root, F_OK) == 0)
                return sf_err_set(e, -EEXIST, "name",
                                  "lab '%s' exists ('%s' is there): 'sfctl lab down%s%s' first", name, lab->run_root,
                                  STREQ(name, SF_LAB_DEFAULT_NAME) ? "" : " --name ",
                                  STREQ(name, SF_LAB_DEFAULT_NAME) ? "" : name);
        r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i <= lab->n_hosts; i++) {
                const char *ifn = i == 0 ? lab->bridge : lab->hosts[i - 1].veth;
                if (sf_link_ifindex(nl, ifn, NULL) > 0)
                        return sf_err_set(e, -EEXIST, "name", "interface '%s' exists already (another lab?)", ifn);
        }
        for (size_t i = 0; i < lab->n_hosts; i++)
                if (access(lab->hosts[i].netns_path, F_OK) == 0)
                        return sf_err_set(e, -EEXIST, "name", "network namespace '%s' exists already",
                                          lab->hosts[i].netns);
        *ret = TAKE_PTR(lab);
        return 0;
}

sf_lab_host *sf_lab_host_find(sf_lab *lab, const char *name)
{
        for (size_t i = 0; i < lab->n_hosts; i++)
                if (STREQ(lab->hosts[i].name, name))
                        return &lab->hosts[i];
        return NULL;
}

/* ---- state file ---- */

static void proc_free(sf_lab_proc *p) { free(p->log); }

void sf_lab_free(sf_lab *lab)
{
        if (!lab)
                return;
        free(lab->name);
        free(lab->dir);
        free(lab->run_root);
        free(lab->phase);
        free(lab->created_at);
        free(lab->sfd);
        free(lab->runtime);
        free(lab->log_level);
        free(lab->bridge);
        free(lab->controller_url);
        free(lab->controller_state_dir);
        proc_free(&lab->controller);
        sf_lab_sites_free(lab->sites, lab->n_sites);
        for (size_t i = 0; i < lab->n_hosts; i++) {
                sf_lab_host *h = &lab->hosts[i];
                free(h->name);
                free(h->site);
                free(h->netns);
                free(h->netns_path);
                free(h->veth);
                free(h->state_dir);
                free(h->run_dir);
                proc_free(&h->agent);
        }
        free(lab->hosts);
        free(lab);
}

static json_t *proc_json(const sf_lab_proc *p)
{
        return json_pack("{s:I, s:I, s:s?}", "pid", (json_int_t) p->pid, "starttime", (json_int_t) p->starttime,
                         "log", p->log);
}

json_t *sf_lab_to_json(const sf_lab *lab)
{
        char b1[SF_PREFIX_STRLEN], b2[SF_ADDR_STRLEN];
        json_t *j = json_object(), *sites = json_array(), *hosts = json_array(), *ctl;
        json_object_set_new(j, "version", json_integer(1));
        json_object_set_new(j, "name", json_string(lab->name));
        json_object_set_new(j, "phase", json_string(lab->phase));
        json_object_set_new(j, "created_at", json_string(lab->created_at));
        json_object_set_new(j, "dir", json_string(lab->dir));
        json_object_set_new(j, "run_dir", json_string(lab->run_root));
        json_object_set_new(j, "sfd", json_string(lab->sfd));
        sf_json_set_str(j, "runtime", lab->runtime);
        json_object_set_new(j, "lease", lab->lease_s ? json_integer(lab->lease_s) : json_null());
        sf_json_set_str(j, "log_level", lab->log_level);
        json_object_set_new(j, "subnet", json_string(sf_prefix_fmt(&lab->subnet, b1)));
        json_object_set_new(j, "bridge", json_pack("{s:s, s:s, s:i}", "name", lab->bridge, "address",
                                                   sf_addr_fmt(&lab->bridge_ip, b2), "prefix_len",
                                                   (int) lab->subnet.len));
        ctl = proc_json(&lab->controller);
        json_object_set_new(ctl, "url", json_string(lab->controller_url));
        json_object_set_new(ctl, "state_dir", json_string(lab->controller_state_dir));
        json_object_set_new(j, "controller", ctl);
        for (size_t i = 0; i < lab->n_sites; i++)
                json_array_append_new(sites, json_pack("{s:s, s:s, s:i}", "name", lab->sites[i].name, "kind",
                                                       lab->sites[i].kind, "hosts", (int) lab->sites[i].hosts));
        json_object_set_new(j, "sites", sites);
        for (size_t i = 0; i < lab->n_hosts; i++) {
                const sf_lab_host *h = &lab->hosts[i];
                json_t *hj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", h->name, "site",
                                       h->site, "netns", h->netns, "netns_path", h->netns_path, "veth", h->veth,
                                       "ifname", SF_LAB_HOST_IFNAME, "underlay_ip", sf_addr_fmt(&h->ip, b2),
                                       "state_dir", h->state_dir, "run_dir", h->run_dir);
                _cleanup_free_ char *url = xasprintf("http://%s:%d", b2, SF_LAB_AGENT_PORT);
                json_object_set_new(hj, "agent_url", json_string(url));
                json_object_set_new(hj, "agent", proc_json(&h->agent));
                json_array_append_new(hosts, hj);
        }
        json_object_set_new(j, "hosts", hosts);
        return j;
}

static char *jdup(json_t *o, const char *key) { return xstrdup(json_string_value(json_object_get(o, key))); }

static int proc_from_json(json_t *j, sf_lab_proc *p)
{
        p->pid = (pid_t) json_integer_value(json_object_get(j, "pid"));
        p->starttime = (uint64_t) json_integer_value(json_object_get(j, "starttime"));
        p->log = jdup(j, "log");
        return 0;
}

int sf_lab_from_json(json_t *j, sf_lab **ret, sf_err *e)
{
        _cleanup_lab_ sf_lab *lab = new0(sf_lab, 1);
        json_t *ctl = json_object_get(j, "controller"), *br = json_object_get(j, "bridge"), *x;
        size_t i;

        if (json_integer_value(json_object_get(j, "version")) != 1)
                return sf_err_set(e, -EINVAL, "version", "unknown lab state version");
        lab->name = jdup(j, "name");
        lab->phase = jdup(j, "phase");
        lab->created_at = jdup(j, "created_at");
        lab->dir = jdup(j, "dir");
        lab->run_root = jdup(j, "run_dir");
        lab->sfd = jdup(j, "sfd");
        lab->runtime = jdup(j, "runtime");
        lab->lease_s = (unsigned) json_integer_value(json_object_get(j, "lease"));
        lab->log_level = jdup(j, "log_level");
        lab->bridge = jdup(br, "name");
        if (!lab->name || !lab->phase || !lab->dir || !lab->run_root || !lab->bridge || !lab->sfd ||
            sf_lab_name_check(lab->name, NULL) < 0 ||
            sf_prefix_parse(json_string_value(json_object_get(j, "subnet")) ?: "", true, &lab->subnet) < 0 ||
            sf_addr_parse(json_string_value(json_object_get(br, "address")) ?: "", &lab->bridge_ip) < 0)
                return sf_err_set(e, -EINVAL, NULL, "the lab state is incomplete or damaged");
        lab->controller_url = jdup(ctl, "url");
        lab->controller_state_dir = jdup(ctl, "state_dir");
        proc_from_json(ctl, &lab->controller);
        json_array_foreach(json_object_get(j, "sites"), i, x) {
                lab->sites = xrealloc(lab->sites, sizeof(*lab->sites) * (lab->n_sites + 1));
                lab->sites[lab->n_sites++] = (sf_lab_site) { .name = jdup(x, "name"), .kind = jdup(x, "kind"),
                                                             .hosts = (unsigned) json_integer_value(json_object_get(x, "hosts")) };
        }
        lab->hosts = new0(sf_lab_host, json_array_size(json_object_get(j, "hosts")) + 1);
        json_array_foreach(json_object_get(j, "hosts"), i, x) {
                sf_lab_host *h = &lab->hosts[lab->n_hosts++];
                h->name = jdup(x, "name");
                h->site = jdup(x, "site");
                h->netns = jdup(x, "netns");
                h->netns_path = jdup(x, "netns_path");
                h->veth = jdup(x, "veth");
                h->state_dir = jdup(x, "state_dir");
                h->run_dir = jdup(x, "run_dir");
                proc_from_json(json_object_get(x, "agent"), &h->agent);
                if (!h->name || !h->site || !h->netns_path || !h->veth || !h->run_dir || !h->state_dir ||
                    sf_addr_parse(json_string_value(json_object_get(x, "underlay_ip")) ?: "", &h->ip) < 0)
                        return sf_err_set(e, -EINVAL, NULL, "the lab state is damaged: host %zu", i);
                /* Never act outside the lab's own places, whatever the file says. */
                if (strncmp(h->netns_path, SF_LAB_NETNS_DIR "/sflab-", strlen(SF_LAB_NETNS_DIR "/sflab-")) ||
                    strncmp(h->veth, "sflab", 5) || strncmp(h->run_dir, SF_LAB_RUN_ROOT "/", strlen(SF_LAB_RUN_ROOT "/")) ||
                    strstr(h->run_dir, "/../"))
                        return sf_err_set(e, -EINVAL, NULL, "the lab state is damaged: host '%s' has foreign names", h->name);
        }
        if (strncmp(lab->bridge, "sflab", 5) || strncmp(lab->run_root, SF_LAB_RUN_ROOT "/", strlen(SF_LAB_RUN_ROOT "/")))
                return sf_err_set(e, -EINVAL, NULL, "the lab state is damaged: foreign names");
        *ret = TAKE_PTR(lab);
        return 0;
}

int sf_lab_save(const sf_lab *lab, sf_err *e)
{
        json_auto_t *j = sf_lab_to_json(lab);
        _cleanup_free_ char *path = xasprintf("%s/lab.json", lab->dir);
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        _cleanup_free_ char *withnl = xasprintf("%s\n", text);
        return sf_write_file_atomic(path, withnl, strlen(withnl), 0644, e);
}

static int load_file(const char *path, sf_lab **ret, sf_err *e)
{
        _cleanup_free_ char *buf = NULL;
        json_auto_t *j = NULL;
        size_t len;
        int r = sf_read_file(path, 4 * 1024 * 1024, &buf, &len, e);
        if (r < 0)
                return r;
        r = sf_json_parse(buf, len, &j, e);
        if (r >= 0)
                r = sf_lab_from_json(j, ret, e);
        return r < 0 ? sf_err_wrap(r, e, "'%s'", path) : 0;
}

int sf_lab_load(const char *name, const char *dir, sf_lab **ret, sf_err *e)
{
        _cleanup_free_ char *p1 = NULL, *p2 = NULL;
        int r;
        if (dir) {
                _cleanup_free_ char *d = abs_dir(dir);
                p1 = xasprintf("%s/lab.json", d);
                if (access(p1, F_OK) < 0)
                        return sf_err_set(e, -ENOENT, "dir", "no lab in '%s' (no lab.json)", d);
                return load_file(p1, ret, e);
        }
        name = name ? name : SF_LAB_DEFAULT_NAME;
        r = sf_lab_name_check(name, e);
        if (r < 0)
                return r;
        p1 = xasprintf(SF_LAB_RUN_ROOT "/%s/lab.json", name);
        if (access(p1, F_OK) == 0)
                return load_file(p1, ret, e);
        p2 = xasprintf(SF_LAB_STATE_ROOT "/%s/lab.json", name);
        if (access(p2, F_OK) == 0)
                return load_file(p2, ret, e);
        return sf_err_set(e, -ENOENT, "name", "there is no lab '%s' (see 'sfctl lab list')", name);
}

static void list_dir(json_t *out, const char *root)
{
        DIR *d = opendir(root);
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *real = NULL;
                _cleanup_lab_ sf_lab *lab = NULL;
                json_t *x;
                size_t i;
                bool dup = false;
                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf("%s/%s/lab.json", root, de->d_name);
                real = realpath(p, NULL);
                if (!real && STREQ(root, SF_LAB_RUN_ROOT) && sf_lab_name_check(de->d_name, NULL) >= 0) {
                        /* a run directory without its state file: what 'lab down --name'
                         * can still remove (sf_lab_orphan) */
                        char buf[4096] = "";
                        ssize_t n = readlink(p, buf, sizeof(buf) - 1);
                        _cleanup_free_ char *hd = xasprintf("%s/%s", root, de->d_name);
                        DIR *hdir = opendir(hd);
                        struct dirent *he;
                        int hosts = 0;
                        while (hdir && (he = readdir(hdir)))
                                hosts += he->d_name[0] != '.' && he->d_type == DT_DIR;
                        if (hdir)
                                closedir(hdir);
                        buf[n > 0 ? n : 0] = 0;
                        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "name",
                                                             de->d_name, "phase", "orphaned", "dir", buf,
                                                             "state_file", "", "controller_url", "", "subnet", "",
                                                             "hosts", hosts, "controller_running", false));
                        continue;
                }
                if (!real || load_file(real, &lab, NULL) < 0)
                        continue;
                json_array_foreach(out, i, x)
                        if (STREQ(json_string_value(json_object_get(x, "state_file")), real))
                                dup = true;
                if (dup)
                        continue;
                {
                        char b[SF_PREFIX_STRLEN];
                        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "name", lab->name,
                                                             "phase", lab->phase, "dir", lab->dir, "state_file", real,
                                                             "controller_url", lab->controller_url, "subnet",
                                                             sf_prefix_fmt(&lab->subnet, b), "hosts", (int) lab->n_hosts,
                                                             "controller_running", sf_lab_proc_alive(&lab->controller)));
                }
        }
        closedir(d);
}

int sf_lab_list(json_t **ret, sf_err *e)
{
        json_t *out = json_array();
        list_dir(out, SF_LAB_RUN_ROOT);
        list_dir(out, SF_LAB_STATE_ROOT);
        *ret = out;
        return 0;
}

int sf_lab_lock(const char *dir, sf_err *e)
{
        _cleanup_free_ char *p = xasprintf("%s/lab.lock", dir);
        _cleanup_close_ int fd = -EBADF;
        int r = sf_mkdir_p(dir, 0755, e);
        if (r < 0)
                return r;
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", p);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK
                               ? sf_err_set(e, -EBUSY, NULL, "another 'sfctl lab' command is working on '%s'", dir)
                               : sf_err_errno(e, -errno, "lock '%s'", p);
        return TAKE_FD(fd);
}
