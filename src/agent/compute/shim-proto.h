/* What sf-shim and the agent share: the command line, the status line, and the files the shim
 * keeps in a container's state directory.
 *
 * The agent starts
 *   sf-shim --id ID --bundle DIR --state-dir DIR --runtime runc|crun --runtime-binary PATH
 *           --runtime-root DIR --log FILE [--status-fd N] [--timeout MS]
 * and reads one line from the status fd:
 *   "started <pid>\n"              the container runs; <pid> is its init in the root pid ns
 *   "error <errno> <message>\n"    it could not be started; <errno> is a positive errno value
 * EOF without a line means the shim died; shim.log says why.
 *
 * State directory (owned by the agent; the shim only adds the files below):
 *   shim.json      written before the runtime runs (pid 0), and again once the container runs;
 *                  atomically replaced, never partially written
 *   exit.json      written atomically when the container's init has exited; then the shim exits
 *   shim.log       the shim's own diagnostics
 *   runtime.log    the OCI runtime's --log (JSON lines)
 *   container.pid  the runtime's --pid-file
 * The container's own stdout and stderr go straight to the log file given with --log (opened
 * O_APPEND by the shim and handed to the container), so they survive the shim and the agent. */
#pragma once

#include <sys/types.h>

#include "lib/err.h"

#define SF_SHIM_STATE_FILE "shim.json"
#define SF_SHIM_EXIT_FILE "exit.json"
#define SF_SHIM_LOG_FILE "shim.log"
#define SF_SHIM_RUNTIME_LOG_FILE "runtime.log"
#define SF_SHIM_PID_FILE "container.pid"
/* The start gate: a FIFO the container's createRuntime hook (`sf-shim --wait-gate PATH`)
 * reads one byte from before the runtime executes the container's process: GO lets it run;
 * FAIL, or EOF (the agent died), fails the hook and so the start. */
#define SF_SHIM_GATE_FILE "start-gate"
#define SF_SHIM_GATE_GO "g"
#define SF_SHIM_GATE_FAIL "x"

/* The fd number the agent hands the status pipe to. */
#define SF_SHIM_STATUS_FD 3

typedef struct sf_shim_state {
        char *id;
        char *runtime;           /* "runc" or "crun" */
        pid_t shim_pid;
        uint64_t shim_starttime; /* /proc start time, see sf_proc_starttime() */
        pid_t pid;               /* container init; 0 until it runs */
        uint64_t pid_starttime;
        uint64_t started_usec;   /* CLOCK_REALTIME when the runtime reported it running */
} sf_shim_state;

void sf_shim_state_done(sf_shim_state *s);
#define _cleanup_shim_state_ _cleanup_(sf_shim_state_done)

char *sf_shim_state_format(const sf_shim_state *s);
int sf_shim_state_parse(const char *buf, size_t len, sf_shim_state *ret, sf_err *e);
/* -ENOENT when the shim never wrote one. */
int sf_shim_state_read(const char *state_dir, sf_shim_state *ret, sf_err *e);
int sf_shim_state_write(const char *state_dir, const sf_shim_state *s, sf_err *e);

typedef struct sf_exit_record {
        pid_t pid;
        int exit_code;           /* the exit status, or 128 + signal */
        int signal;              /* the terminating signal, 0 for a normal exit */
        bool core_dumped;
        uint64_t finished_usec;  /* CLOCK_REALTIME */
} sf_exit_record;

/* From a waitpid(2) status. */
void sf_exit_record_from_status(pid_t pid, int status, uint64_t finished_usec,
                                sf_exit_record *ret);
char *sf_exit_record_format(const sf_exit_record *r);
int sf_exit_record_parse(const char *buf, size_t len, sf_exit_record *ret, sf_err *e);
/* -ENOENT when there is no record (yet). */
int sf_exit_record_read(const char *state_dir, sf_exit_record *ret, sf_err *e);
int sf_exit_record_write(const char *state_dir, const sf_exit_record *r, sf_err *e);
