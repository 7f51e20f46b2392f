/* Labs without a state file: what is left of them, found by their names, so that `sfctl lab
 * down --name NAME` still removes a lab whose directory went (a killed test's temporary
 * directory, a hand-made rm -rf) while its namespaces, mounts, cgroups and processes stayed. */
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

#include "lab/lab-internal.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "net/link.h"

/* Whether /proc/PID/cmdline has every one of want (whole arguments). */
static bool cmdline_has(const char *pid, const char *const *want)
{
        _cleanup_free_ char *path = xasprintf("/proc/%s/cmdline", pid), *buf = NULL;
        size_t n = 0;
        if (sf_read_file(path, 64 * 1024, &buf, &n, NULL) < 0 || n == 0)
                return false;
        for (const char *const *w = want; *w; w++) {
                bool found = false;
                for (size_t off = 0; off < n && !found; off += strlen(buf + off) + 1)
                        found = STREQ(buf + off, *w);
                if (!found)
                        return false;
        }
        return true;
}

/* The first live process whose command line has every one of want, as an sf_lab_proc. */
static void find_proc(const char *const *want, sf_lab_proc *p)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                uint64_t st;
                if (*end || pid <= 1 || pid == getpid() || !cmdline_has(de->d_name, want) ||
                    lab_proc_state((pid_t) pid) == 'Z' || sf_proc_starttime((pid_t) pid, &st, NULL) < 0)
                        continue;
                p->pid = (pid_t) pid;
                p->starttime = st;
                break;
        }
        closedir(d);
}

/* Network namespaces of the labs that have a state file: a lab named "core" must not take
 * the default lab's "sflab-core-1" for one of its own. */
static char **netns_of_other_labs(void)
{
        json_auto_t *labs = NULL;
        json_t *x;
        size_t i;
        char **v = NULL;
        if (sf_lab_list(&labs, NULL) < 0)
                return NULL;
        json_array_foreach(labs, i, x) {
                _cleanup_lab_ sf_lab *l = NULL;
                if (sf_lab_load(NULL, json_string_value(json_object_get(x, "dir")), &l, NULL) < 0)
                        continue;
                for (size_t k = 0; k < l->n_hosts; k++)
                        strv_push(&v, xstrdup(l->hosts[k].netns));
        }
        return v;
}

static bool has_host(const sf_lab *lab, const char *name)
{
        for (size_t i = 0; i < lab->n_hosts; i++)
                if (STREQ(lab->hosts[i].name, name))
                        return true;
        return false;
}

static sf_lab_host *add_host(sf_lab *lab, const char *name)
{
        sf_lab_host *h;
        if (!sf_name_valid(name) || has_host(lab, name) || lab->n_hosts >= SF_LAB_MAX_HOSTS)
                return NULL;
        lab->hosts = xrealloc(lab->hosts, sizeof(*lab->hosts) * (lab->n_hosts + 1));
        h = &lab->hosts[lab->n_hosts++];
        *h = (sf_lab_host) { .name = xstrdup(name) };
        h->site = xstrdup("");
        h->netns = lab_netns_name(lab->name, name);
        h->netns_path = xasprintf(SF_LAB_NETNS_DIR "/%s", h->netns);
        h->run_dir = xasprintf("%s/%s", lab->run_root, name);
        h->state_dir = xasprintf("%s/hosts/%s/state", lab->dir, name);
        {
                _cleanup_free_ char *arg = xasprintf("--run-dir=%s", h->run_dir);
                find_proc((const char *const[]) { "--role=agent", arg, NULL }, &h->agent);
        }
        return h;
}

int sf_lab_orphan(const char *name, sf_lab **ret, sf_err *e)
{
        _cleanup_lab_ sf_lab *lab = new0(sf_lab, 1);
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ char *link = NULL, *target = NULL;
        sf_link_info *links = NULL;
        size_t n_links = 0, k = 0, n_found;
        bool bridge = false;
        DIR *d;
        struct dirent *de;
        int r;

        name = name ? name : SF_LAB_DEFAULT_NAME;
        r = sf_lab_name_check(name, e);
        if (r < 0)
                return r;
        lab->name = xstrdup(name);
        lab->run_root = xasprintf(SF_LAB_RUN_ROOT "/%s", name);
        lab->bridge = lab_bridge_name(name);
        lab->phase = xstrdup("orphaned");
        /* The state directory: where the (dangling) link in the run root pointed, else the
         * default; sf_lab_down() locks it (making it again) and removes it. */
        link = xasprintf("%s/lab.json", lab->run_root);
        target = realpath(link, NULL);
        if (!target) {
                char buf[4096];
                ssize_t n = readlink(link, buf, sizeof(buf) - 1);
                if (n > 0 && buf[0] == '/') {
                        buf[n] = 0;
                        target = xstrdup(buf);
                }
        }
        lab->dir = target ? xstrdup(dirname(target)) : xasprintf(SF_LAB_STATE_ROOT "/%s", name);
        lab->controller_state_dir = xasprintf("%s/controller", lab->dir);

        /* Hosts: the run directories, and (for a named lab, whose namespaces carry its name)
         * the namespaces. */
        d = opendir(lab->run_root);
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.' && de->d_type == DT_DIR)
                        add_host(lab, de->d_name);
        if (d)
                closedir(d);
        if (!STREQ(name, SF_LAB_DEFAULT_NAME)) {
                _cleanup_free_ char *prefix = lab_netns_name(name, "");
                _cleanup_strv_free_ char **others = netns_of_other_labs();
                d = opendir(SF_LAB_NETNS_DIR);
                while (d && (de = readdir(d)))
                        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && de->d_name[strlen(prefix)] &&
                            !strv_contains(others, de->d_name))
                                add_host(lab, de->d_name + strlen(prefix));
                if (d)
                        closedir(d);
        }

        /* The bridge, and the root ends of the hosts' veths ("<bridge>-N"): which host had
         * which does not matter, each goes. */
        n_found = lab->n_hosts;
        r = sf_nl_open(&nl, e);
        if (r >= 0)
                r = sf_link_list(nl, lab->bridge, &links, &n_links, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_links; i++) {
                const char *l = links[i].name, *suffix = l + strlen(lab->bridge);
                if (STREQ(l, lab->bridge))
                        bridge = true;
                else if (suffix[0] == '-' && suffix[1] && strspn(suffix + 1, "0123456789") == strlen(suffix + 1)) {
                        sf_lab_host *h = k < n_found ? &lab->hosts[k++] : add_host(lab, l);
                        /* (a veth beyond the hosts found is removed as a host of its own,
                         * whose namespace and run directory do not exist) */
                        if (h && !h->veth)
                                h->veth = xstrdup(l);
                }
        }
        sf_link_info_free_array(links, n_links);
        for (size_t i = 0; i < lab->n_hosts; i++)
                if (!lab->hosts[i].veth)
                        lab->hosts[i].veth = xstrdup(lab->bridge); /* it goes at the end anyway */

        if (!bridge && lab->n_hosts == 0 && access(lab->run_root, F_OK) < 0)
                return sf_err_set(e, -ENOENT, "name", "there is no lab '%s', nor anything left of one", name);

        /* The controller, by its state directory (only known through the link). Its URL stays
         * unknown: sf_lab_down() then skips deleting containers through the API, and the
         * sweep removes them (processes, cgroups, mounts). */
        if (target) {
                _cleanup_free_ char *arg = xasprintf("--state-dir=%s", lab->controller_state_dir);
                find_proc((const char *const[]) { "--role=controller", arg, NULL }, &lab->controller);
        }
        *ret = TAKE_PTR(lab);
        return 0;
}
