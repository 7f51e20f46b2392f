/* Container cgroups: host layout detection and leak-free removal under the "superfluid"
 * prefix in every hierarchy. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "agent/compute/cgroup.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("cgroup");

static bool is_fs(const char *path, long magic)
{
        struct statfs s;
        return statfs(path, &s) == 0 && s.f_type == magic;
}

int sf_cgroup_mode_detect(sf_cgroup_mode *ret, sf_err *e)
{
        if (is_fs(SF_CGROUP_ROOT, CGROUP2_SUPER_MAGIC))
                *ret = SF_CGROUP_UNIFIED;
        else if (is_fs(SF_CGROUP_ROOT "/unified", CGROUP2_SUPER_MAGIC))
                *ret = SF_CGROUP_HYBRID;
        else if (access(SF_CGROUP_ROOT, F_OK) == 0)
                *ret = SF_CGROUP_LEGACY;
        else
                return sf_err_errno(e, -errno, "'%s'", SF_CGROUP_ROOT);
        return 0;
}

const char *sf_cgroup_mode_str(sf_cgroup_mode m)
{
        switch (m) {
        case SF_CGROUP_LEGACY:
                return "legacy (v1)";
        case SF_CGROUP_HYBRID:
                return "hybrid (v1 + v2 at " SF_CGROUP_ROOT "/unified)";
        case SF_CGROUP_UNIFIED:
                return "unified (v2)";
        }
        return "unknown";
}

static char *cgroup_prefix;

void sf_cgroup_set_prefix(const char *prefix)
{
        free(cgroup_prefix);
        cgroup_prefix = prefix ? xstrdup(prefix) : NULL;
}

const char *sf_cgroup_prefix(void)
{
        return cgroup_prefix ? cgroup_prefix : SF_CGROUP_PREFIX;
}

char *sf_cgroup_path(const char *id)
{
        return xasprintf("/%s/%s", sf_cgroup_prefix(), id);
}

/* The mount points of all cgroup hierarchies, e.g. "/sys/fs/cgroup/memory". Symlinks such as
 * "cpu -> cpu,cpuacct" are skipped so each hierarchy appears once. */
static int hierarchies(const char *root, char ***ret, sf_err *e)
{
        _cleanup_strv_free_ char **v = NULL;
        DIR *d;
        struct dirent *de;

        if (!root)
                root = SF_CGROUP_ROOT;
        if (is_fs(root, CGROUP2_SUPER_MAGIC)) {
                strv_push(&v, xstrdup(root));
                *ret = TAKE_PTR(v);
                return 0;
        }
        d = opendir(root);
        if (!d)
                return sf_err_errno(e, -errno, "open '%s'", root);
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                struct stat st;
                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf("%s/%s", root, de->d_name);
                if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (!is_fs(p, CGROUP_SUPER_MAGIC) && !is_fs(p, CGROUP2_SUPER_MAGIC))
                        continue;
                strv_push(&v, TAKE_PTR(p));
        }
        closedir(d);
        if (!v)
                v = new0(char *, 1);
        *ret = TAKE_PTR(v);
        return 0;
}

int sf_cgroup_find(const char *root, const char *id, char ***ret_paths, sf_err *e)
{
        _cleanup_strv_free_ char **h = NULL, **found = NULL;
        int r = hierarchies(root, &h, e);
        if (r < 0)
                return r;
        for (char **p = h; *p; p++) {
                _cleanup_free_ char *c = xasprintf("%s/%s/%s", *p, sf_cgroup_prefix(), id);
                if (access(c, F_OK) == 0)
                        strv_push(&found, TAKE_PTR(c));
        }
        if (!found)
                found = new0(char *, 1);
        *ret_paths = TAKE_PTR(found);
        return 0;
}

/* rmdir of a cgroup and, first, of its child cgroups. */
static int rmdir_cgroup(const char *path, sf_err *e)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "open '%s'", path);
        while ((de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;
                if (de->d_type != DT_DIR || STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                sub = xasprintf("%s/%s", path, de->d_name);
                if (rmdir_cgroup(sub, e) < 0 && r == 0)
                        r = e ? e->code : -EBUSY;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (rmdir(path) < 0 && errno != ENOENT) {
                if (errno == EBUSY)
                        return sf_err_set(e, -EBUSY, NULL,
                                          "cgroup '%s' still has processes", path);
                return sf_err_errno(e, -errno, "remove cgroup '%s'", path);
        }
        return 0;
}

/* The last resort of removal: every process still in the container's cgroup (whatever the
 * runtime and the recorded pids say) is the container's, so it gets SIGKILL, by pid, and we
 * wait (pidfd) until each is gone. Returns how many were killed. */
static int kill_members(const char *cgroup, int timeout_ms)
{
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", cgroup);
        _cleanup_fclose_ FILE *f = fopen(procs, "re");
        char line[32];
        int n = 0;
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                char *end;
                long pid = strtol(line, &end, 10);
                int fd;
                if (pid <= 1 || (*end && *end != '\n'))
                        continue;
                fd = sf_pidfd_open((pid_t) pid, NULL);
                if (fd < 0)
                        continue;
                if (sf_pidfd_kill(fd, SIGKILL, NULL) == 0) {
                        sf_pidfd_wait(fd, timeout_ms, NULL);
                        n++;
                }
                close(fd);
        }
        return n;
}

int sf_cgroup_remove(const char *root, const char *id, sf_err *e)
{
        _cleanup_strv_free_ char **h = NULL;
        int r = hierarchies(root, &h, e), first = 0;
        if (r < 0)
                return r;
        for (char **p = h; *p; p++) {
                _cleanup_free_ char *c = xasprintf("%s/%s/%s", *p, sf_cgroup_prefix(), id);
                _cleanup_err_ sf_err err = SF_ERR_INIT;
                r = rmdir_cgroup(c, &err);
                if (r == -EBUSY && kill_members(c, 2000) > 0) {
                        log_warn("container '%s': killed processes left in its cgroup", id);
                        sf_err_clear(&err);
                        r = rmdir_cgroup(c, &err);
                }
                if (r < 0 && first == 0) {
                        first = r;
                        sf_err_move(e, &err);
                }
        }
        return first;
}

void sf_cgroup_remove_prefix(const char *root)
{
        _cleanup_strv_free_ char **h = NULL;
        if (hierarchies(root, &h, NULL) < 0)
                return;
        for (char **p = h; *p; p++) {
                _cleanup_free_ char *c = xasprintf("%s/%s", *p, sf_cgroup_prefix());
                /* Not empty (another container) or gone: both fine. */
                if (rmdir(c) < 0 && errno != ENOENT && errno != EBUSY && errno != ENOTEMPTY)
                        log_debug("remove cgroup '%s': %m, ignoring", c);
        }
}
