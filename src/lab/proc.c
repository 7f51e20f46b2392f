/* The lab's daemons: started detached (own session, output to a log file), identified by pid
 * and start time, checked, stopped (SIGTERM, then SIGKILL), and restarted per host. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "lab/lab-internal.h"
#include "lib/spawn.h"
#include "lib/util.h"

void lab_progress(sf_lab_progress_fn fn, void *userdata, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *m = NULL;
        if (!fn)
                return;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        fn(userdata, m);
}

int lab_proc_spawn(char *const *argv, sf_lab_proc *p, sf_err *e)
{
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = xstrdup(p->log);
        pid_t pid;
        uint64_t st;
        int r;

        *strrchr(dir, '/') = 0;
        r = sf_mkdir_p(dir, 0755, e);
        if (r < 0)
                return r;
        fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", p->log);
        o.argv = argv;
        o.stdio[1] = fd;
        o.stdio[2] = fd;
        o.new_session = true;
        o.cwd = "/";
        r = sf_spawn(&o, &pid, e);
        if (r < 0)
                return r;
        /* It exists until someone reaps it, and only this process can. */
        r = sf_proc_starttime(pid, &st, e);
        if (r < 0)
                return r;
        p->pid = pid;
        p->starttime = st;
        return 0;
}

/* Field 3 of /proc/PID/stat: R, S, D, Z, T, ... ('?' when unreadable). */
char lab_proc_state(pid_t pid)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int) pid), *buf = NULL;
        char *p;
        if (sf_read_file(path, 64 * 1024, &buf, NULL, NULL) < 0)
                return '?';
        p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : '?';
}

bool sf_lab_proc_alive(const sf_lab_proc *p)
{
        _cleanup_close_ int fd = -EBADF;
        if (p->pid <= 0)
                return false;
        fd = sf_pidfd_open_verified(p->pid, p->starttime, NULL);
        if (fd < 0)
                return false;
        return lab_proc_state(p->pid) != 'Z';
}

bool lab_proc_exited(sf_lab_proc *p, char **ret_how)
{
        int status;
        pid_t r;
        if (p->pid <= 0)
                return false;
        r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
                if (ret_how)
                        *ret_how = sf_wait_status_str(status);
                return true;
        }
        if (r < 0 && !sf_lab_proc_alive(p)) { /* not our child (any more) */
                if (ret_how)
                        *ret_how = xstrdup("exited");
                return true;
        }
        return false;
}

int sf_lab_proc_stop(sf_lab_proc *p, int timeout_ms, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        int r;
        if (p->pid <= 0)
                return 0;
        fd = sf_pidfd_open_verified(p->pid, p->starttime, NULL);
        if (fd < 0)
                return 0; /* gone, or the pid is someone else's now */
        if (lab_proc_state(p->pid) != 'Z') {
                sf_pidfd_kill(fd, SIGTERM, NULL);
                sf_pidfd_kill(fd, SIGCONT, NULL);
                r = sf_pidfd_wait(fd, timeout_ms, NULL);
                if (r == -ETIMEDOUT) {
                        sf_pidfd_kill(fd, SIGKILL, NULL);
                        r = sf_pidfd_wait(fd, 10000, NULL);
                        if (r < 0)
                                return sf_err_set(e, r, NULL, "process %d did not exit after SIGKILL", (int) p->pid);
                }
        }
        (void) waitpid(p->pid, NULL, WNOHANG); /* our child only while 'lab up' runs */
        return 0;
}

char *lab_log_tail(const char *path, int lines)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        const char *start;
        int seen = 0;
        if (!path || sf_read_file(path, 16 * 1024 * 1024, &buf, &len, NULL) < 0 || len == 0)
                return xstrdup("");
        while (len > 0 && buf[len - 1] == '\n')
                buf[--len] = 0;
        start = buf + len;
        while (start > buf) {
                if (start[-1] == '\n' && ++seen == lines)
                        break;
                start--;
        }
        {
                /* Indent each line. */
                char *out = xstrdup(""), *tmp;
                _cleanup_free_ char *copy = xstrdup(start);
                char *save = NULL;
                for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        tmp = xasprintf("%s\n    %s", out, l);
                        free(out);
                        out = tmp;
                }
                return out;
        }
}

int lab_http(const sf_lab *lab, long timeout_ms, sf_httpc **ret, sf_err *e)
{
        sf_httpc *c;
        int r = sf_httpc_new(lab->controller_url, &c, e);
        if (r < 0)
                return r;
        sf_httpc_set_timeout(c, timeout_ms);
        *ret = c;
        return 0;
}

char **lab_agent_argv(const sf_lab *lab, const sf_lab_host *h)
{
        char ip[SF_ADDR_STRLEN];
        char **v = NULL;
        sf_addr_fmt(&h->ip, ip);
        strv_push(&v, xstrdup(lab->sfd));
        strv_push(&v, xstrdup("--role=agent"));
        strv_push(&v, xasprintf("--netns=%s", h->netns_path));
        strv_push(&v, xasprintf("--controller=%s", lab->controller_url));
        strv_push(&v, xasprintf("--node=%s", h->name));
        strv_push(&v, xasprintf("--site=%s", h->site));
        strv_push(&v, xasprintf("--underlay-ip=%s", ip));
        strv_push(&v, xasprintf("--listen=%s:%d", ip, SF_LAB_AGENT_PORT));
        strv_push(&v, xasprintf("--state-dir=%s", h->state_dir));
        strv_push(&v, xasprintf("--run-dir=%s", h->run_dir));
        strv_push(&v, xasprintf("--labels=lab=%s,site=%s", lab->name, h->site));
        /* The hosts share one kernel: each gets its own cgroup parent, or a workload on two of
         * them at once (a handover) would share a cgroup. */
        strv_push(&v, xasprintf("--cgroup-parent=superfluid/lab-%s-%s", lab->name, h->name));
        if (lab->runtime)
                strv_push(&v, xasprintf("--runtime=%s", lab->runtime));
        if (lab->log_level)
                strv_push(&v, xasprintf("--log-level=%s", lab->log_level));
        return v;
}

int sf_lab_agent_stop(sf_lab *lab, sf_lab_host *h, int timeout_ms, sf_err *e)
{
        int r = sf_lab_proc_stop(&h->agent, timeout_ms, e);
        if (r < 0)
                return sf_err_wrap(r, e, "stop the agent of '%s'", h->name);
        return 0;
}

int sf_lab_agent_start(sf_lab *lab, sf_lab_host *h, sf_err *e)
{
        _cleanup_strv_free_ char **argv = NULL;
        sf_lab_proc p = { .log = h->agent.log };
        int r;
        if (sf_lab_proc_alive(&h->agent))
                return sf_err_set(e, -EBUSY, NULL, "the agent of '%s' runs already (pid %d)", h->name,
                                  (int) h->agent.pid);
        if (access(h->netns_path, F_OK) < 0)
                return sf_err_set(e, -ENOENT, NULL, "host '%s' has no network namespace '%s': the lab is broken, "
                                  "take it down", h->name, h->netns_path);
        argv = lab_agent_argv(lab, h);
        r = lab_proc_spawn(argv, &p, e);
        if (r < 0)
                return sf_err_wrap(r, e, "start the agent of '%s'", h->name);
        h->agent.pid = p.pid;
        h->agent.starttime = p.starttime;
        return sf_lab_save(lab, e);
}
