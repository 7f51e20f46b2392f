/* OCI runtime driver (runc, crun): starts containers through sf-shim, and stops, deletes,
 * inspects, execs into and re-adopts them.
 *
 * Identity: a container is named by its id (a valid name, see sf_name_valid()) and owns a
 * state directory that the caller chooses and keeps (the shim writes shim.json, exit.json,
 * shim.log there, see shim-proto.h). Processes are always addressed through pidfds opened
 * from a pid *and* its recorded /proc start time, so a reused pid is never signalled.
 *
 * Threads: every function may be called from any thread, concurrently for different ids;
 * calls for the same id are serialised by the caller. An sf_runtime is shared, read-only
 * after sf_runtime_new() apart from an internal lock.
 *
 * Timeouts are in milliseconds; a negative value waits forever. */
#pragma once

#include <sys/types.h>

#include "agent/compute/shim-proto.h"
#include "lib/err.h"

typedef enum sf_runtime_kind {
        SF_RUNTIME_RUNC,
        SF_RUNTIME_CRUN,
} sf_runtime_kind;

int sf_runtime_kind_parse(const char *s, sf_runtime_kind *ret);
const char *sf_runtime_kind_str(sf_runtime_kind k);

typedef struct sf_runtime_config {
        sf_runtime_kind kind;
        const char *binary;    /* NULL: "runc"/"crun" from PATH (plus /usr/sbin, /sbin) */
        const char *root;      /* the runtime's --root; NULL: /run/superfluid/<kind> */
        const char *shim;      /* NULL: sf_shim_path() */
        const char *exec_dir;  /* scratch files of exec; NULL: /run/superfluid/exec */
        const char *cgroup_root; /* for cgroup clean-up; NULL: /sys/fs/cgroup (tests only) */
        int start_timeout_ms;  /* 0: 30000 */
        int cmd_timeout_ms;    /* state, kill, delete; 0: 10000 */
} sf_runtime_config;

typedef struct sf_runtime sf_runtime;

/* Finds sf-shim: $SF_SHIM, then <dir of /proc/self/exe>/../shim/sf-shim (build tree),
 * <dir of /proc/self/exe>/sf-shim, then SF_LIBEXECDIR/sf-shim. -ENOENT names every place
 * tried. */
int sf_shim_path(char **ret, sf_err *e);

/* Resolves the binaries and creates the root. For crun on a hybrid cgroup host it checks once
 * that the shim can hide the v2 tree; if it cannot, fails with -EOPNOTSUPP and a message
 * that says to use runc. */
int sf_runtime_new(const sf_runtime_config *c, sf_runtime **ret, sf_err *e);
void sf_runtime_free(sf_runtime *rt);
static inline void sf_runtime_freep(sf_runtime **rt) { sf_runtime_free(*rt); }
#define _cleanup_runtime_ _cleanup_(sf_runtime_freep)
sf_runtime_kind sf_runtime_get_kind(const sf_runtime *rt);
const char *sf_runtime_get_root(const sf_runtime *rt);
const char *sf_runtime_get_binary(const sf_runtime *rt);

/* Starts the container of bundle dir as id through a detached sf-shim. Returns once it runs
 * (*ret_pid is its init) or failed; the error carries the runtime's own message. Gives up
 * after the start timeout, killing the shim and removing what it left. All paths must be
 * absolute. state_dir is created if needed; shim.json and exit.json of a previous run in it
 * are removed. The container's stdout and stderr are appended to log_path. */
int sf_runtime_start(sf_runtime *rt, const char *id, const char *bundle, const char *state_dir,
                     const char *log_path, pid_t *ret_pid, sf_err *e);

/* Work to overlap with the runtime's creation of a container (see sf_runtime_start_gated). */
typedef struct sf_runtime_gate {
        int (*fn)(void *userdata, sf_err *e);
        void *userdata;
} sf_runtime_gate;

/* The createRuntime hook for a gated start: argv (free with strv_free) of
 * `sf-shim --wait-gate <state_dir>/start-gate`, and the hook's timeout in seconds (shorter
 * than the shim's own timeout on the runtime, so that the runtime reports it). */
char **sf_runtime_gate_hook(const sf_runtime *rt, const char *state_dir, uint32_t *ret_timeout_s);

/* sf_runtime_start() of a bundle made with sf_runtime_gate_hook(): creates the gate FIFO,
 * starts the shim, runs gate->fn while the runtime sets the container up, then writes the
 * verdict: GO lets the container's process run; FAIL (fn failed) fails the hook, so the
 * runtime fails too, and fn's error is returned once the shim has cleaned up. The FIFO is
 * removed before returning. gate NULL: sf_runtime_start(). */
int sf_runtime_start_gated(sf_runtime *rt, const char *id, const char *bundle,
                           const char *state_dir, const char *log_path,
                           const sf_runtime_gate *gate, pid_t *ret_pid, sf_err *e);

/* `<runtime> kill id sig`. */
int sf_runtime_kill(sf_runtime *rt, const char *id, int sig, sf_err *e);

/* SIGTERM to the container's init, SIGKILL after timeout_ms; returns once it has exited and
 * the shim has written the exit record. A container that already exited is fine. */
int sf_runtime_stop(sf_runtime *rt, const char *id, const char *state_dir, int timeout_ms,
                    sf_err *e);

/* `<runtime> delete [--force] id`, then checks that no cgroup of id is left in any hierarchy
 * (-EBUSY names one that still has processes) and removes the empty "superfluid" prefix
 * cgroups when no start is in flight. An unknown id is fine. Without force, a running
 * container fails with -EBUSY. */
int sf_runtime_delete(sf_runtime *rt, const char *id, bool force, sf_err *e);

typedef enum sf_container_status {
        SF_CONTAINER_UNKNOWN,
        SF_CONTAINER_CREATING,
        SF_CONTAINER_CREATED,
        SF_CONTAINER_RUNNING,
        SF_CONTAINER_PAUSED,
        SF_CONTAINER_STOPPED,
} sf_container_status;

const char *sf_container_status_str(sf_container_status s);

typedef struct sf_container_state {
        sf_container_status status;
        pid_t pid; /* 0 when not running */
} sf_container_state;

/* `<runtime> state id`. -ENOENT when the runtime does not know id. */
int sf_runtime_state(sf_runtime *rt, const char *id, sf_container_state *ret, sf_err *e);

/* `<runtime> exec` of argv (with extra "K=V" env) in container id; captures stdout and stderr
 * (bounded, see SF_CAPTURE_MAX). *ret_exit_code is the command's exit status (128 + signal
 * when killed; the runtime's own failures, such as a missing program, give 255 with the
 * reason on stderr). With ret_exit_code NULL a non-zero exit is an error carrying stderr. At
 * the timeout both the runtime and the process in the container are killed: -ETIMEDOUT. */
int sf_runtime_exec(sf_runtime *rt, const char *id, char *const *argv, char *const *env,
                    int timeout_ms, char **ret_out, char **ret_err, int *ret_exit_code,
                    sf_err *e);

/* What the state directory says about a container, checked against the live system. */
typedef struct sf_container_info {
        sf_container_status status; /* RUNNING, STOPPED, or UNKNOWN (never started / lost) */
        pid_t pid;                  /* container init (0 if it never ran) */
        uint64_t pid_starttime;
        pid_t shim_pid;
        bool shim_alive;            /* false: exit status will not be recorded */
        uint64_t started_usec;      /* CLOCK_REALTIME, 0 if unknown */
        bool exit_known;            /* status STOPPED with an exit record */
        sf_exit_record exit;
} sf_container_info;

/* After an agent restart: reads the shim's files in state_dir and decides whether the
 * container still runs (its pid is alive with the recorded start time) or has exited (the
 * exit record, waiting briefly for a shim that is just writing it). Without shim state, asks
 * the runtime. -ENOENT when neither knows id. */
int sf_runtime_adopt(sf_runtime *rt, const char *id, const char *state_dir,
                     sf_container_info *ret, sf_err *e);

/* A pidfd for the container's init (verified against the recorded start time) to poll for
 * its exit: POLLIN means it exited. Returns the fd; -ESRCH when it is already gone. */
int sf_runtime_pidfd(const char *state_dir, sf_err *e);

/* The exit record, waiting up to timeout_ms for the shim to write it (the shim exits right
 * after). Call it when the pidfd fires. -ENOENT when there is none and the shim is gone (it
 * was killed: the exit status is lost); -ETIMEDOUT when the shim is still waiting. */
int sf_runtime_wait_exit(const char *state_dir, int timeout_ms, sf_exit_record *ret,
                         sf_err *e);

/* Ids of all containers in the runtime root (for leak checks), sorted. */
int sf_runtime_list(sf_runtime *rt, char ***ret_ids, sf_err *e);
