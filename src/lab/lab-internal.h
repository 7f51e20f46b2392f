/* Shared between the lab's source files. */
#pragma once

#include "lab/lab.h"
#include "lib/httpc.h"
#include "net/nl.h"

/* Starts argv as a daemon: own session, cwd /, stdin /dev/null, stdout and stderr appended
 * to p->log; fills p->pid and p->starttime. */
int lab_proc_spawn(char *const *argv, sf_lab_proc *p, sf_err *e);
/* For a child of this process (during up): true when it has exited, reaping it, with a
 * description ("exited with status 1") in *ret_how. */
bool lab_proc_exited(sf_lab_proc *p, char **ret_how);
/* Field 3 of /proc/PID/stat: R, S, D, Z, T, ... ('?' when unreadable). */
char lab_proc_state(pid_t pid);
/* The last lines of a log, indented, for error messages ("" when unreadable). */
char *lab_log_tail(const char *path, int lines);

/* Names of a lab's objects (see lab.h): its underlay bridge, a host's namespace. */
char *lab_bridge_name(const char *lab);
char *lab_netns_name(const char *lab, const char *host);

/* An HTTP client of the lab's controller with a short timeout. */
int lab_http(const sf_lab *lab, long timeout_ms, sf_httpc **ret, sf_err *e);

/* The argv of a host's agent (strv). */
char **lab_agent_argv(const sf_lab *lab, const sf_lab_host *h);

void lab_progress(sf_lab_progress_fn fn, void *userdata, const char *fmt, ...) _printf_(3, 4);
