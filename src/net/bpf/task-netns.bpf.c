/* A BPF task iterator (iter/task): for every task in the kernel, one record of its thread,
 * its thread group and the inode of its network namespace (task-netns-abi.h). The node's
 * process snapshot (src/net/task-iter.c) reads it in one pass instead of walking /proc.
 *
 * The kernel structures are declared here with only the fields read, and
 * preserve_access_index: libbpf relocates each access against the running kernel's BTF
 * (CO-RE), so no vmlinux.h is needed at build time and a kernel whose layout lacks a field
 * refuses the load (the caller then falls back to /proc). Tasks without an nsproxy (exiting)
 * are skipped; kernel threads are listed, in the initial namespace, as /proc lists them. */
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "task-netns-abi.h"

struct ns_common {
        unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
        struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
        struct net *net_ns;
} __attribute__((preserve_access_index));

struct task_struct {
        int pid;
        int tgid;
        struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
        struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
} __attribute__((preserve_access_index));

SEC("iter/task")
int sf_task_netns(struct bpf_iter__task *ctx)
{
        struct task_struct *t = ctx->task;
        struct sf_task_netns_rec r = {};
        struct nsproxy *nsp;

        if (!t)
                return 0; /* the end of the walk */
        nsp = t->nsproxy;
        if (!nsp)
                return 0;
        r.tid = (__u32) t->pid;
        r.tgid = (__u32) t->tgid;
        r.netns_ino = BPF_CORE_READ(nsp, net_ns, ns.inum);
        bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
        return 0;
}

char LICENSE[] SEC("license") = "GPL";
