/* Process snapshots through a BPF task iterator: every task's thread group and network
 * namespace, read in one pass inside the kernel (src/net/bpf/task-netns.bpf.c, embedded and
 * loaded through libbpf). It replaces the /proc walk of sf_netns_tasks_scan (net/netns.h),
 * which costs about a millisecond per hundred processes on the hot path of a warm hand-out and
 * leaves a dentry behind for every /proc file it stats, which the kernel then has to invalidate
 * when that process exits: in a burst of container starts, every runc process that exits pays
 * for the scans that saw it.
 *
 * Needs CAP_BPF/CAP_SYS_ADMIN, a kernel with BPF task iterators (5.8+) and BTF
 * (/sys/kernel/btf/vmlinux), and the caller in the initial PID namespace (the iterator reports
 * global thread ids). */
#pragma once

#include "lib/err.h"

/* Loads the iterator once per process, checks that it sees the calling thread where /proc
 * does, and installs it as the lister of sf_netns_tasks_scan. Later calls return the first
 * call's result (e says why it is not available: the caller logs it and keeps /proc). */
int sf_task_iter_install(sf_err *e);
