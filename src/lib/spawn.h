/* Starting and waiting for child processes in a multi-threaded daemon: posix_spawn only (no
 * bare fork), stdio and extra fds set up explicitly, a fresh session and clean signal state;
 * waiting through pidfds and poll() (never sleep-polling); running a command with a timeout
 * and capturing its output.
 *
 * Every fd the child gets is listed explicitly: all others are closed in the child, even those
 * opened without O_CLOEXEC by some library.
 *
 * Children are reaped by whoever started them (sf_spawn_wait, or sf_run_capture itself): the
 * rest of the process must never reap with waitpid(-1) or set SIGCHLD to SIG_IGN. */
#pragma once

#include <sys/types.h>

#include "lib/err.h"

/* Values for sf_spawn_opts.stdio[]. */
#define SF_SPAWN_DEVNULL (-1) /* /dev/null (the default, through SF_SPAWN_OPTS_INIT) */
#define SF_SPAWN_INHERIT (-2) /* the caller's own fd with the same number */

/* Output captured by sf_run_capture is bounded: the rest is read and dropped. */
#define SF_CAPTURE_MAX (1024 * 1024)

typedef struct sf_spawn_fd {
        int fd;     /* in the caller; left open */
        int target; /* its number in the child: >= 3 */
} sf_spawn_fd;

typedef struct sf_spawn_opts {
        char *const *argv;   /* required; argv[0] is looked up in PATH unless it has a '/' */
        char *const *envp;   /* NULL: the caller's environment */
        int stdio[3];        /* an fd of the caller, SF_SPAWN_DEVNULL or SF_SPAWN_INHERIT */
        const sf_spawn_fd *fds; /* extra fds to pass, n_fds of them */
        size_t n_fds;
        bool new_session;    /* setsid() in the child: no controlling tty, own process group */
        const char *cwd;     /* NULL: the caller's */
} sf_spawn_opts;

#define SF_SPAWN_OPTS_INIT { .stdio = { SF_SPAWN_DEVNULL, SF_SPAWN_DEVNULL, SF_SPAWN_DEVNULL } }

/* Starts a process. The child's signal mask is empty and every signal has its default
 * disposition. Fails (with the exec error, e.g. -ENOENT) when the program cannot be run. */
int sf_spawn(const sf_spawn_opts *o, pid_t *ret_pid, sf_err *e);

/* pidfd_open(2) with an error naming the pid. Returns the fd (O_CLOEXEC). */
int sf_pidfd_open(pid_t pid, sf_err *e);
/* Waits until the process behind pidfd has exited (it is not reaped). timeout_ms < 0 waits
 * forever. -ETIMEDOUT on timeout. */
int sf_pidfd_wait(int pidfd, int timeout_ms, sf_err *e);
/* Sends sig through the pidfd (no pid-reuse race). A process already gone is fine. */
int sf_pidfd_kill(int pidfd, int sig, sf_err *e);

/* Waits for the child pid to exit and reaps it; *ret_status is a waitpid(2) status.
 * timeout_ms < 0 waits forever. On timeout returns -ETIMEDOUT and leaves the child running
 * (and unreaped): the caller decides whether to kill it. */
int sf_spawn_wait(pid_t pid, int timeout_ms, int *ret_status, sf_err *e);

/* "exited with status 1", "killed by signal 9 (Killed)". */
char *sf_wait_status_str(int status);
/* Shell convention: the exit status, or 128 + signal. */
int sf_wait_status_code(int status);

/* Runs argv with stdin from /dev/null, captures stdout and stderr (each bounded by
 * SF_CAPTURE_MAX, NUL-terminated), and waits at most timeout_ms (< 0: forever). At the
 * timeout the process is killed (SIGKILL), reaped, and -ETIMEDOUT is returned with a message
 * saying so. With ret_status NULL, a process that does not exit with 0 is an error (-EIO)
 * whose message carries its stderr; with ret_status set, *ret_status is the waitpid(2) status
 * and the call succeeds whatever it is. ret_out and ret_err may be NULL. Output of
 * grandchildren that keep the pipes open after the child exits is not waited for. */
int sf_run_capture(char *const *argv, int timeout_ms, char **ret_out, char **ret_err,
                   int *ret_status, sf_err *e);
/* The same with spawn options (environment, cwd, extra fds, stdin); o->stdio[1] and [2] are
 * replaced by the capture pipes. */
int sf_run_capture_opts(const sf_spawn_opts *o, int timeout_ms, char **ret_out, char **ret_err,
                        int *ret_status, sf_err *e);

/* Start time of a process in clock ticks after boot (/proc/PID/stat field 22): together with
 * the pid it identifies one process across pid reuse. -ESRCH when there is no such process. */
int sf_proc_starttime(pid_t pid, uint64_t *ret, sf_err *e);
/* Opens a pidfd for pid and checks that it is still the process that had start time
 * starttime. -ESRCH when the process is gone (or the pid now belongs to another one). */
int sf_pidfd_open_verified(pid_t pid, uint64_t starttime, sf_err *e);
