/* The process snapshot through a BPF task iterator (see task-iter.h). One BPF link for the
 * life of the process: each snapshot opens an iterator instance on it and reads the records
 * (task-netns-abi.h) until the end of the walk. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/bpf/task-netns-abi.h"
#include "net/libbpf-setup.h"
#include "net/netns.h"
#include "net/task-iter.h"
#include "net/task-netns.bpf.h" /* generated: sf_task_netns_bpf_obj[], the compiled object */

SF_LOG_MODULE("task-iter");

static struct {
        struct bpf_object *obj;
        struct bpf_link *link;
        dev_t nsfs_dev; /* every namespace inode lives on the nsfs device */
        int error;
        char *message;
} it;

static int scan(sf_netns_tasks *t, pid_t skip_tid, sf_err *e)
{
        struct sf_task_netns_rec buf[256];
        size_t have = 0;
        ssize_t n;
        _cleanup_close_ int fd = bpf_iter_create(bpf_link__fd(it.link));
        if (fd < 0) /* libbpf 1.x returns -errno, 0.x -1 with errno set: errno holds it in both */
                return sf_err_errno(e, -errno, "start the BPF task iterator");
        for (;;) {
                n = read(fd, (char *) buf + have, sizeof(buf) - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sf_err_errno(e, -errno, "read the BPF task iterator");
                if (n == 0)
                        break;
                have += (size_t) n;
                for (size_t i = 0; i < have / sizeof(buf[0]); i++)
                        if ((pid_t) buf[i].tid != skip_tid)
                                sf_netns_tasks_add(t, (pid_t) buf[i].tgid, it.nsfs_dev, (ino_t) buf[i].netns_ino);
                /* a record split across reads (the kernel writes whole records: not expected) */
                memmove(buf, (char *) buf + have / sizeof(buf[0]) * sizeof(buf[0]), have % sizeof(buf[0]));
                have %= sizeof(buf[0]);
        }
        if (have)
                return sf_err_set(e, -EIO, NULL, "the BPF task iterator ended in the middle of a record");
        return 0;
}

static int lister(sf_netns_tasks *t, sf_err *e)
{
        return scan(t, gettid(), e);
}

/* Does the iterator see this thread, in this process and this network namespace, as /proc
 * does? (A wrong field offset or a PID namespace would say no.) */
static int self_test(sf_err *e)
{
        struct stat self;
        sf_netns_tasks *t;
        pid_t *pids = NULL;
        size_t n = 0;
        bool found = false;
        int r;

        if (stat("/proc/thread-self/ns/net", &self) < 0)
                return sf_err_errno(e, -errno, "stat /proc/thread-self/ns/net");
        it.nsfs_dev = self.st_dev;
        t = sf_netns_tasks_new();
        r = scan(t, 0, e);
        if (r >= 0)
                r = sf_netns_tasks_pids_in(t, &self, &pids, &n);
        sf_netns_tasks_free(t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                found |= pids[i] == getpid();
        free(pids);
        if (!found)
                return sf_err_set(e, -ENOENT, NULL,
                                  "the BPF task iterator does not list this process in its network namespace "
                                  "(not in the initial PID namespace?)");
        return 0;
}

static void install_once(void)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "sf_task_netns");
        struct bpf_program *prog;
        int r;

        sf_libbpf_setup();
        it.obj = bpf_object__open_mem(sf_task_netns_bpf_obj, sizeof(sf_task_netns_bpf_obj), &oo);
        if (!it.obj) {
                r = sf_err_errno(&e, -errno, "open the BPF task iterator object");
                goto fail;
        }
        r = bpf_object__load(it.obj);
        if (r < 0) {
                sf_err_errno(&e, r, "load the BPF task iterator (needs BTF at /sys/kernel/btf/vmlinux, "
                                    "kernel 5.8 or later, CAP_BPF)");
                goto fail;
        }
        prog = bpf_object__find_program_by_name(it.obj, "sf_task_netns");
        it.link = prog ? bpf_program__attach_iter(prog, NULL) : NULL;
        if (!it.link) {
                r = sf_err_errno(&e, -errno, "attach the BPF task iterator");
                goto fail;
        }
        r = self_test(&e);
        if (r < 0)
                goto fail;
        sf_netns_set_task_lister(lister, "the BPF task iterator");
        return;
fail:
        if (it.link)
                bpf_link__destroy(it.link);
        if (it.obj)
                bpf_object__close(it.obj);
        it.link = NULL;
        it.obj = NULL;
        it.error = r;
        it.message = xstrdup(sf_err_msg(&e));
}

int sf_task_iter_install(sf_err *e)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, install_once);
        if (it.error < 0)
                return sf_err_set(e, it.error, NULL, "%s", it.message);
        return 0;
}
