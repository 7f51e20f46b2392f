/* Taking a lab down so that nothing is left: containers deleted through the API, daemons
 * stopped by pid and start time, then a sweep of whatever remains (processes in the lab's
 * namespaces and container cgroups, cgroups, mounts, run directories, namespaces, interfaces),
 * and a final check that lists anything still there. */
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <poll.h>

#include "lab/lab-internal.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_PREFIX "superfluid"

/* Keeps the first error. */
static void keep(sf_err *first, sf_err *e)
{
        if (first && !first->code && e->code)
                sf_err_move(first, e);
        sf_err_clear(e);
}

static void add_id(char ***ids, const char *id)
{
        if (id && sf_name_valid(id) && !strv_contains(*ids, id))
                strv_push(ids, xstrdup(id));
}

/* Names in dir (not "." or ".."). */
static void add_dir_entries(char ***ids, const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        if (!d)
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        add_id(ids, de->d_name);
        closedir(d);
}

/* Workload ids a host's agent knows of, from its run directory. */
static void host_ids(const sf_lab_host *h, char ***ids)
{
        static const char *const subdirs[] = { "containers", "netns", "runc", "crun", "vms", NULL };
        for (const char *const *s = subdirs; *s; s++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", h->run_dir, *s);
                add_dir_entries(ids, p);
        }
}

/* ---- processes ---- */

typedef struct nsid {
        dev_t dev;
        ino_t ino;
} nsid;

typedef struct sweep {
        nsid *ns; /* network namespaces whose processes go */
        size_t n_ns;
        char *const *ids; /* container ids whose cgroups' processes go */
} sweep;

static void sweep_add_ns(sweep *s, const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return;
        /* A namespace file that was unmounted is a plain file of the tmpfs/disk: skip it. */
        {
                struct statfs fs;
                if (statfs(path, &fs) < 0 || fs.f_type != NSFS_MAGIC)
                        return;
        }
        s->ns = xrealloc(s->ns, sizeof(*s->ns) * (s->n_ns + 1));
        s->ns[s->n_ns++] = (nsid) { st.st_dev, st.st_ino };
}

static void sweep_add_host(sweep *s, const sf_lab_host *h)
{
        _cleanup_free_ char *nsdir = xasprintf("%s/netns", h->run_dir);
        DIR *d;
        struct dirent *de;
        sweep_add_ns(s, h->netns_path);
        d = opendir(nsdir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf("%s/%s", nsdir, de->d_name);
                sweep_add_ns(s, p);
        }
        closedir(d);
}

/* Whether /proc/PID/cgroup puts the process in "superfluid/<id>" (or below) for one of ids. */
static bool in_container_cgroup(const char *pid, char *const *ids)
{
        _cleanup_free_ char *path = xasprintf("/proc/%s/cgroup", pid), *buf = NULL;
        char *save = NULL;
        if (!ids || !*ids || sf_read_file(path, 64 * 1024, &buf, NULL, NULL) < 0)
                return false;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *p = strstr(l, "/" CGROUP_PREFIX "/");
                if (!p)
                        continue;
                p += strlen("/" CGROUP_PREFIX "/");
                /* superfluid/<id>, or superfluid/lab-<lab>-<host>/<id> (the lab's agents) */
                for (int depth = 0; depth < 2 && p; depth++) {
                        for (char *const *id = ids; *id; id++) {
                                size_t n = strlen(*id);
                                if (strncmp(p, *id, n) == 0 && (p[n] == 0 || p[n] == '/'))
                                        return true;
                        }
                        p = strncmp(p, "lab-", 4) == 0 ? strchr(p, '/') : NULL;
                        if (p)
                                p++;
                }
        }
        return false;
}

static bool matches(const sweep *s, const char *pid)
{
        _cleanup_free_ char *nsp = xasprintf("/proc/%s/ns/net", pid);
        struct stat st;
        if (stat(nsp, &st) == 0)
                for (size_t i = 0; i < s->n_ns; i++)
                        if (s->ns[i].dev == st.st_dev && s->ns[i].ino == st.st_ino)
                                return true;
        return in_container_cgroup(pid, s->ids);
}

/* The pids (not zombies) the sweep covers. */
static pid_t *sweep_find(const sweep *s, size_t *ret_n)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t *v = NULL, self = getpid();
        size_t n = 0;
        if (!d) {
                *ret_n = 0;
                return NULL;
        }
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1 || pid == self)
                        continue;
                if (!matches(s, de->d_name) || lab_proc_state((pid_t) pid) == 'Z')
                        continue; /* a zombie is dead already; only its parent (or init) can reap it */
                v = xrealloc(v, sizeof(*v) * (n + 1));
                v[n++] = (pid_t) pid;
        }
        closedir(d);
        *ret_n = n;
        return v;
}

/* SIGKILL to every process the sweep covers, until none is left (a few rounds: a dying shim
 * may still start something). */
static int sweep_kill(const sweep *s, sf_err *e)
{
        for (int round = 0; round < 5; round++) {
                size_t n = 0;
                _cleanup_free_ pid_t *pids = sweep_find(s, &n);
                int *fds;
                if (!n)
                        return 0;
                fds = new0(int, n);
                for (size_t i = 0; i < n; i++) {
                        char buf[16];
                        fds[i] = sf_pidfd_open(pids[i], NULL);
                        snprintf(buf, sizeof(buf), "%d", (int) pids[i]);
                        /* Still the process that matched (the pidfd pins it)? */
                        if (fds[i] >= 0 && matches(s, buf))
                                sf_pidfd_kill(fds[i], SIGKILL, NULL);
                }
                for (size_t i = 0; i < n; i++)
                        if (fds[i] >= 0) {
                                sf_pidfd_wait(fds[i], 5000, NULL);
                                close(fds[i]);
                        }
                free(fds);
        }
        {
                size_t n = 0;
                _cleanup_free_ pid_t *pids = sweep_find(s, &n);
                if (n)
                        return sf_err_set(e, -EBUSY, NULL, "%zu processes survive SIGKILL (pid %d, ...)", n, (int) pids[0]);
        }
        return 0;
}

/* Stops several daemons at once: SIGTERM to all, then wait, then SIGKILL what is left. */
static void stop_all(sf_lab_proc **procs, size_t n, int timeout_ms)
{
        int *fds = new0(int, n);
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_ms * 1000;
        for (size_t i = 0; i < n; i++) {
                fds[i] = procs[i]->pid > 0 ? sf_pidfd_open_verified(procs[i]->pid, procs[i]->starttime, NULL) : -1;
                if (fds[i] >= 0) {
                        sf_pidfd_kill(fds[i], SIGTERM, NULL);
                        sf_pidfd_kill(fds[i], SIGCONT, NULL);
                }
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t now = sf_now_usec();
                if (fds[i] < 0)
                        continue;
                if (sf_pidfd_wait(fds[i], now < deadline ? (int) ((deadline - now) / 1000) : 0, NULL) == -ETIMEDOUT) {
                        sf_pidfd_kill(fds[i], SIGKILL, NULL);
                        sf_pidfd_wait(fds[i], 10000, NULL);
                }
                close(fds[i]);
                (void) waitpid(procs[i]->pid, NULL, WNOHANG); /* our child only while 'lab up' runs */
        }
        free(fds);
}

/* ---- cgroups ---- */

static char **cgroup_hierarchies(void)
{
        char **v = NULL;
        struct statfs fs;
        DIR *d;
        struct dirent *de;
        if (statfs(CGROUP_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
                strv_push(&v, xstrdup(CGROUP_ROOT));
                return v;
        }
        d = opendir(CGROUP_ROOT);
        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf(CGROUP_ROOT "/%s", de->d_name);
                if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) || statfs(p, &fs) < 0 ||
                    (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC))
                        continue;
                strv_push(&v, TAKE_PTR(p));
        }
        closedir(d);
        return v;
}

static int rmdir_tree(const char *path, sf_err *e)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int r = 0;
        if (!d)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "open '%s'", path);
        while ((de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                sub = xasprintf("%s/%s", path, de->d_name);
                if (rmdir_tree(sub, e) < 0)
                        r = -EBUSY;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (rmdir(path) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove cgroup '%s'", path);
        return 0;
}

/* Cgroups of ids that exist; with remove, removes them first. */
static void cgroups_of(char *const *ids, bool remove, char ***found, sf_err *first)
{
        _cleanup_strv_free_ char **h = cgroup_hierarchies();
        for (char **p = h; p && *p; p++) {
                /* superfluid/<id>, and superfluid/lab-<lab>-<host>/<id> under each lab agent's
                 * own cgroup parent (sfd --cgroup-parent) */
                _cleanup_strv_free_ char **parents = NULL;
                _cleanup_free_ char *top = xasprintf("%s/" CGROUP_PREFIX, *p);
                DIR *d = opendir(top);
                struct dirent *de;
                strv_push(&parents, xstrdup(top));
                while (d && (de = readdir(d)))
                        if (de->d_type == DT_DIR && strncmp(de->d_name, "lab-", 4) == 0)
                                strv_push(&parents, xasprintf("%s/%s", top, de->d_name));
                if (d)
                        closedir(d);
                for (char **par = parents; *par; par++)
                        for (char *const *id = ids; id && *id; id++) {
                                _cleanup_free_ char *c = xasprintf("%s/%s", *par, *id);
                                _cleanup_err_ sf_err le = SF_ERR_INIT;
                                if (remove && rmdir_tree(c, &le) < 0)
                                        keep(first, &le);
                                if (found && access(c, F_OK) == 0)
                                        strv_push(found, TAKE_PTR(c));
                        }
                /* the lab's own (now empty) parents go too */
                for (char **par = parents + 1; remove && *par; par++)
                        rmdir(*par);
        }
}

/* ---- mounts ---- */

/* Mount points at or below dir (from /proc/self/mountinfo), deepest first. */
static char **mounts_under(const char *dir)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL, **v = NULL;
        size_t cap = 0, n = 0, dl = strlen(dir);
        if (!f)
                return NULL;
        while (getline(&line, &cap, f) > 0) {
                char mp[4096], *o;
                const char *s;
                /* "36 35 98:0 /mnt1 /mnt/parent rw,... - ext3 /dev/root rw": field 5. */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                /* Undo the octal escapes (\040 for a space, ...). */
                for (s = mp, o = mp; *s; s++, o++) {
                        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
                                *o = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                                s += 3;
                        } else
                                *o = *s;
                }
                *o = 0;
                if (strncmp(mp, dir, dl) == 0 && (mp[dl] == 0 || mp[dl] == '/')) {
                        strv_push(&v, xstrdup(mp));
                        n++;
                }
        }
        free(line);
        /* Later mounts sit on top of earlier ones: undo them in reverse order. */
        for (size_t i = 0; i < n / 2; i++) {
                char *t = v[i];
                v[i] = v[n - 1 - i];
                v[n - 1 - i] = t;
        }
        return v;
}

static int umount_all(const char *dir, sf_err *e)
{
        for (int round = 0; round < 8; round++) {
                _cleanup_strv_free_ char **m = mounts_under(dir);
                if (!m || !*m)
                        return 0;
                for (char **p = m; *p; p++)
                        if (umount2(*p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                                return sf_err_errno(e, -errno, "unmount '%s'", *p);
        }
        return sf_err_set(e, -EBUSY, NULL, "mounts under '%s' keep coming back", dir);
}

/* ---- the steps ---- */

/* Deletes every container through the API and gives the agents time to remove them. */
static void delete_containers(sf_lab *lab, int wait_s, char ***ids, const sf_lab_down_opts *o)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        json_auto_t *list = NULL;
        json_t *c;
        size_t i, n = 0;
        uint64_t deadline;

        if (!sf_lab_proc_alive(&lab->controller) || lab_http(lab, 5000, &http, NULL) < 0 ||
            sf_httpc_call(http, "GET", "/v1/containers", NULL, &list, NULL) < 0)
                return;
        json_array_foreach(json_object_get(list, "items"), i, c) {
                const char *id = json_string_value(json_object_get(c, "id"));
                _cleanup_free_ char *path = NULL;
                if (!id || !sf_name_valid(id))
                        continue;
                add_id(ids, id);
                path = xasprintf("/v1/containers/%s?force=true", id);
                if (sf_httpc_call(http, "DELETE", path, NULL, NULL, NULL) >= 0)
                        n++;
        }
        if (!n || wait_s < 0)
                return;
        lab_progress(o->progress, o->userdata, "deleted %zu container%s; waiting up to %d s for the agents to remove them", n,
                     n == 1 ? "" : "s", wait_s);
        deadline = sf_now_usec() + (uint64_t) wait_s * 1000000;
        for (;;) {
                size_t busy = 0;
                for (size_t h = 0; h < lab->n_hosts; h++) {
                        _cleanup_strv_free_ char **left = NULL;
                        _cleanup_free_ char *dir = xasprintf("%s/containers", lab->hosts[h].run_dir);
                        if (!sf_lab_proc_alive(&lab->hosts[h].agent))
                                continue; /* the sweep does it */
                        add_dir_entries(&left, dir);
                        busy += strv_length(left);
                }
                if (!busy || sf_now_usec() > deadline)
                        return;
                usleep(100000);
        }
}

static void remove_host(sf_lab *lab, sf_lab_host *h, sf_nl *nl, sf_err *first)
{
        _cleanup_err_ sf_err le = SF_ERR_INIT;
        if (umount_all(h->run_dir, &le) < 0)
                keep(first, &le);
        if (sf_rm_rf(h->run_dir, &le) < 0)
                keep(first, &le);
        if (nl && sf_link_del(nl, SF_LINK_NAME(h->veth), SF_NL_MISSING_OK, &le) < 0)
                keep(first, &le);
        if (sf_netns_delete(h->netns_path, &le) < 0)
                keep(first, &le);
}

static bool is_lab_link(const sf_lab *lab, const char *name)
{
        size_t n = strlen(lab->bridge);
        if (STREQ(name, lab->bridge))
                return true;
        if (strncmp(name, lab->bridge, n) || name[n] != '-' || !name[n + 1])
                return false;
        for (const char *p = name + n + 1; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

int sf_lab_leftovers(const sf_lab *lab, char *const *ids, char ***ret, sf_err *e)
{
        _cleanup_strv_free_ char **out = NULL, **m = NULL, **cg = NULL;
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_link_info *links = NULL;
        size_t n_links = 0;
        sweep s = { .ids = ids };
        int r;

        r = sf_nl_open(&nl, e);
        if (r >= 0)
                r = sf_link_list(nl, "sflab", &links, &n_links, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_links; i++)
                if (is_lab_link(lab, links[i].name))
                        strv_push(&out, xasprintf("interface %s", links[i].name));
        sf_link_info_free_array(links, n_links);
        for (size_t i = 0; i < lab->n_hosts; i++) {
                if (access(lab->hosts[i].netns_path, F_OK) == 0)
                        strv_push(&out, xasprintf("netns %s", lab->hosts[i].netns));
                sweep_add_host(&s, &lab->hosts[i]);
        }
        m = mounts_under(lab->run_root);
        for (char **p = m; p && *p; p++)
                strv_push(&out, xasprintf("mount %s", *p));
        if (access(lab->run_root, F_OK) == 0)
                strv_push(&out, xasprintf("directory %s", lab->run_root));
        for (size_t i = 0; i <= lab->n_hosts; i++) {
                const sf_lab_proc *p = i == 0 ? &lab->controller : &lab->hosts[i - 1].agent;
                if (sf_lab_proc_alive(p))
                        strv_push(&out, xasprintf("process %d (%s%s)", (int) p->pid, i == 0 ? "controller" : "agent ",
                                                  i == 0 ? "" : lab->hosts[i - 1].name));
        }
        {
                size_t n = 0;
                _cleanup_free_ pid_t *pids = sweep_find(&s, &n);
                for (size_t i = 0; i < n; i++)
                        strv_push(&out, xasprintf("process %d (in a namespace or cgroup of the lab)", (int) pids[i]));
        }
        free(s.ns);
        cgroups_of(ids, false, &cg, NULL);
        for (char **p = cg; p && *p; p++)
                strv_push(&out, xasprintf("cgroup %s", *p));
        *ret = TAKE_PTR(out);
        return 0;
}

int sf_lab_down(sf_lab *lab, const sf_lab_down_opts *o, sf_err *e)
{
        _cleanup_close_ int lock = -EBADF;
        _cleanup_strv_free_ char **ids = NULL, **left = NULL;
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_err_ sf_err first = SF_ERR_INIT, le = SF_ERR_INIT;
        sf_lab_proc **agents;
        sweep s = { 0 };
        int stop_ms = (o->stop_timeout_s > 0 ? o->stop_timeout_s : 10) * 1000;

        if (geteuid() != 0)
                return sf_err_set(e, -EPERM, NULL, "taking a lab down needs root");
        if (!o->locked) {
                lock = sf_lab_lock(lab->dir, e);
                if (lock < 0)
                        return lock;
        }

        /* 1. Containers, politely, while the agents run. */
        delete_containers(lab, o->wait_s == 0 ? 20 : o->wait_s, &ids, o);

        /* 2. Daemons: agents first (they would report the controller's absence), then the
         * controller. */
        agents = new0(sf_lab_proc *, lab->n_hosts + 1);
        for (size_t i = 0; i < lab->n_hosts; i++)
                agents[i] = &lab->hosts[i].agent;
        stop_all(agents, lab->n_hosts, stop_ms);
        free(agents);
        if (sf_lab_proc_stop(&lab->controller, stop_ms, &le) < 0)
                keep(&first, &le);
        lab_progress(o->progress, o->userdata, "stopped the controller and the agent%s", lab->n_hosts == 1 ? "" : "s");

        /* 3. Whatever is left of the workloads: processes, cgroups. */
        for (size_t i = 0; i < lab->n_hosts; i++) {
                host_ids(&lab->hosts[i], &ids);
                sweep_add_host(&s, &lab->hosts[i]);
        }
        s.ids = ids;
        if (sweep_kill(&s, &le) < 0)
                keep(&first, &le);
        free(s.ns);
        cgroups_of(ids, true, NULL, &first);

        /* 4. Hosts: mounts, run dirs, veths, namespaces; then the bridge and the run root. */
        if (sf_nl_open(&nl, &le) < 0)
                keep(&first, &le);
        for (size_t i = 0; i < lab->n_hosts; i++)
                remove_host(lab, &lab->hosts[i], nl, &first);
        if (nl && sf_link_del(nl, SF_LINK_NAME(lab->bridge), SF_NL_MISSING_OK, &le) < 0)
                keep(&first, &le);
        if (umount_all(lab->run_root, &le) < 0 || sf_rm_rf(lab->run_root, &le) < 0)
                keep(&first, &le);
        rmdir(SF_LAB_RUN_ROOT); /* when it was the last lab */
        lab_progress(o->progress, o->userdata, "removed the host%s (namespaces, veths, run directories) and bridge %s",
                     lab->n_hosts == 1 ? "" : "s", lab->bridge);

        /* 5. The lab's directory. */
        if (o->keep_state) {
                free(lab->phase);
                lab->phase = xstrdup("down");
                lab->controller.pid = 0;
                for (size_t i = 0; i < lab->n_hosts; i++)
                        lab->hosts[i].agent.pid = 0;
                if (sf_lab_save(lab, &le) < 0)
                        keep(&first, &le);
        } else if (sf_rm_rf(lab->dir, &le) < 0)
                keep(&first, &le);
        else
                rmdir(SF_LAB_STATE_ROOT); /* when it was the last lab there */

        /* 6. The proof. */
        if (sf_lab_leftovers(lab, ids, &left, &le) < 0)
                keep(&first, &le);
        else if (left) {
                _cleanup_free_ char *list = xstrdup("");
                for (char **p = left; *p; p++) {
                        char *t = xasprintf("%s%s%s", list, *list ? ", " : "", *p);
                        free(list);
                        list = t;
                }
                if (first.code)
                        return sf_err_set(e, first.code, NULL, "%s; left behind: %s", sf_err_msg(&first), list);
                return sf_err_set(e, -EBUSY, NULL, "left behind: %s", list);
        }
        if (!o->keep_state && access(lab->dir, F_OK) == 0)
                return sf_err_set(e, first.code ? first.code : -EBUSY, NULL, "%s%sleft behind: directory %s",
                                  first.code ? sf_err_msg(&first) : "", first.code ? "; " : "", lab->dir);
        if (first.code) {
                int r = first.code;
                if (e)
                        sf_err_move(e, &first);
                return r;
        }
        return 0;
}
