/* QMP (the QEMU Machine Protocol) client: connects to a QEMU monitor socket, reads the
 * greeting, negotiates capabilities, executes commands and keeps the asynchronous events that
 * arrive between replies for the caller.
 *
 * Every read waits with poll() and a deadline: a command that QEMU does not answer in time
 * fails with -ETIMEDOUT (the connection is then unusable: a late reply would be taken for the
 * next command's, so it is closed). Errors from QEMU carry QEMU's own "desc" text.
 *
 * An sf_qmp is used by one thread at a time. All fds are O_CLOEXEC. */
#pragma once

#include <jansson.h>

#include "lib/err.h"

#define SF_QMP_DEFAULT_TIMEOUT_MS 10000
/* Events kept until the caller takes them; older ones are dropped beyond this. */
#define SF_QMP_MAX_EVENTS 256
/* Largest message accepted from QEMU. */
#define SF_QMP_MAX_MESSAGE (16 * 1024 * 1024)

typedef struct sf_qmp sf_qmp;

typedef struct sf_qmp_event {
        char *name;              /* "SHUTDOWN", "POWERDOWN", "RESET", "STOP", "RESUME", ... */
        json_t *data;            /* the event's "data" (a JSON object, may be NULL) */
        uint64_t timestamp_usec; /* QEMU's timestamp, CLOCK_REALTIME */
} sf_qmp_event;

void sf_qmp_event_free(sf_qmp_event *ev);
static inline void sf_qmp_event_freep(sf_qmp_event **ev) { sf_qmp_event_free(*ev); }
#define _cleanup_qmp_event_ _cleanup_(sf_qmp_event_freep)

/* Connects to the unix socket at path (paths longer than sun_path work too), reads the
 * greeting and sends qmp_capabilities. timeout_ms bounds the whole handshake and is the
 * default timeout of later commands (<= 0: SF_QMP_DEFAULT_TIMEOUT_MS). -ECONNREFUSED or
 * -ENOENT when nothing listens there. */
int sf_qmp_connect(const char *path, int timeout_ms, sf_qmp **ret, sf_err *e);
/* The same over an already connected stream socket; takes the fd (closed on failure too). */
int sf_qmp_open_fd(int fd, int timeout_ms, sf_qmp **ret, sf_err *e);
void sf_qmp_close(sf_qmp *q);
static inline void sf_qmp_closep(sf_qmp **q) { sf_qmp_close(*q); }
#define _cleanup_qmp_ _cleanup_(sf_qmp_closep)

/* The default timeout of sf_qmp_execute (milliseconds, > 0). */
void sf_qmp_set_timeout(sf_qmp *q, int timeout_ms);
/* The greeting's {"qemu": {"major":..}, "package": ..} object (borrowed). */
json_t *sf_qmp_version(sf_qmp *q);
/* The socket, to poll for events (POLLIN) between commands; then call sf_qmp_poll_events. */
int sf_qmp_fd(sf_qmp *q);

/* Runs cmd with args (a JSON object, borrowed; NULL for none) and waits for its reply;
 * events that arrive meanwhile are queued. *ret (may be NULL) gets the "return" value. An
 * error reply becomes -EIO (-EOPNOTSUPP for CommandNotFound, -ENOENT for DeviceNotFound)
 * with the message "qmp 'cmd': <desc>". -EPIPE when QEMU closed the connection (as it does
 * after "quit"), -ETIMEDOUT when it did not answer within the timeout. */
int sf_qmp_execute(sf_qmp *q, const char *cmd, json_t *args, json_t **ret, sf_err *e);
/* The same with an explicit timeout (< 0: the default). */
int sf_qmp_execute_timeout(sf_qmp *q, const char *cmd, json_t *args, int timeout_ms,
                           json_t **ret, sf_err *e);

/* Reads whatever has arrived (waiting at most timeout_ms, 0: not at all) and queues the
 * events. Returns the number of queued events; -EPIPE at EOF. */
int sf_qmp_poll_events(sf_qmp *q, int timeout_ms, sf_err *e);
/* Takes the oldest queued event. With none queued, waits up to timeout_ms for one (0: no
 * wait); -ETIMEDOUT if none came, -EPIPE at EOF. */
int sf_qmp_next_event(sf_qmp *q, int timeout_ms, sf_qmp_event **ret, sf_err *e);
/* Takes the oldest queued event named name (others stay queued), waiting up to timeout_ms. */
int sf_qmp_wait_event(sf_qmp *q, const char *name, int timeout_ms, sf_qmp_event **ret,
                      sf_err *e);
size_t sf_qmp_events_pending(sf_qmp *q);
/* Events dropped because the queue was full. */
uint64_t sf_qmp_events_dropped(sf_qmp *q);

/* Creates a listening unix socket at path (an existing socket file there is replaced), for
 * QEMU to inherit (-chardev socket,fd=N,server=on). O_CLOEXEC; the caller passes it on. */
int sf_qmp_listen(const char *path, sf_err *e);
