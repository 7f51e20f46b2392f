/* The record the BPF task iterator (task-netns.bpf.c) writes for every task, read by
 * src/net/task-iter.c. Shared by the BPF program and user space. */
#pragma once

#include <linux/types.h>

struct sf_task_netns_rec {
        __u32 tid;       /* the task (thread), in the initial PID namespace */
        __u32 tgid;      /* its thread group (process) */
        __u32 netns_ino; /* its network namespace's inode number (as stat of /proc/TID/ns/net) */
        __u32 pad;
};
