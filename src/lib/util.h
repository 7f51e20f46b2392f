/* Small utilities: ids, clocks, timestamps, files. */
#pragma once

#include <sched.h>
#include <time.h>

#include "lib/err.h"

#define SF_UUID_STRLEN 37

/* A random (version 4) UUID, lower-case. */
void sf_uuid(char buf[static SF_UUID_STRLEN]);
bool sf_uuid_valid(const char *s);

uint64_t sf_now_usec(void);      /* CLOCK_MONOTONIC */
/* The calling thread's nice value (not the process's: Linux schedules threads); 0 or a negative
 * errno (EACCES/EPERM without CAP_SYS_NICE for a value below the current one). */
int sf_thread_set_nice(int nice);
/* The calling thread at real-time priority (SCHED_FIFO 1, with SCHED_RESET_ON_FORK: a child
 * forked meanwhile starts at normal priority) for a short critical section that others wait
 * for, then back to its own policy, priority and nice value. A thread already at real-time
 * priority is left as it is (b->on false), so that sections nest. Returns 0 or -errno
 * (EPERM without CAP_SYS_NICE); the end, 0 or -errno. */
struct sf_rt_boost {
        bool on;
        int policy;
        struct sched_param param;
};
int sf_rt_boost_begin(struct sf_rt_boost *b);
int sf_rt_boost_end(const struct sf_rt_boost *b);
uint64_t sf_realtime_usec(void); /* CLOCK_REALTIME */
/* RFC 3339 UTC with microseconds: 2026-11-25T12:54:00.123456Z */
char *sf_timestamp(uint64_t realtime_usec);

/* mkdir -p with the given mode; existing directories are fine. */
int sf_mkdir_p(const char *path, mode_t mode, sf_err *e);
/* Writes data to path through a temporary file and rename(), fsync'd. */
int sf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, sf_err *e);
/* The same without fsync: for volatile state (the agent's run directory), which must survive
 * a crash of the process (rename is atomic) but not of the machine. Much cheaper when the run
 * directory is not on tmpfs. */
int sf_write_file_volatile(const char *path, const void *data, size_t len, mode_t mode, sf_err *e);
/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int sf_read_file(const char *path, size_t max, char **ret, size_t *ret_len, sf_err *e);
/* For fds kept long and in numbers (per workload, per warm namespace): moves fd to FD_SETSIZE
 * or above (close-on-exec), so that the low ones stay for libraries that still wait with
 * select(), where a higher fd aborts the process (libnftables does). Returns the new fd (fd
 * is closed), or -errno with fd untouched (-EMFILE: the open-file limit leaves no room). */
int sf_fd_move_high(int fd);
/* rm -rf that does not cross mount points; missing path is fine. */
int sf_rm_rf(const char *path, sf_err *e);
/* Parses a size such as "512Mi", "1G", "65536" into bytes. */
int sf_parse_size(const char *s, uint64_t *ret);
