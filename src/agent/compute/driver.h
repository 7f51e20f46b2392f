/* Compute drivers: one table of operations per workload kind, in the style of Open vSwitch's
 * netdev_class. The container driver (OCI runtime through sf-shim) implements it now; the VM
 * driver (QEMU) will implement the same table, so nothing here is container-specific.
 *
 * Ownership and lifetimes
 * -----------------------
 * - Driver tables are static const data. sf_compute_open() creates a driver *instance*
 *   (sf_compute), owned by the caller and released with sf_compute_close(). One instance
 *   serves every workload of its kind on the node.
 * - Operations may run concurrently on several threads for different workload ids. Operations
 *   on the same id are serialised by the caller (the agent reconciles one workload at a time).
 * - The sf_workload_spec passed to an operation is borrowed for the duration of the call; the
 *   driver keeps no pointer into it. Drivers hold no per-workload memory at all: a workload's
 *   state lives in the kernel and in its state directory, so an agent that restarts (or is
 *   killed) loses nothing.
 * - spec->state_dir belongs to the agent: it chooses it, keeps it across agent restarts and
 *   deletes it after remove(). The driver creates it if missing and writes only inside it
 *   (container: bundle/, and the shim's files, see shim-proto.h). The log file (spec->log_path,
 *   default <state_dir>/console.log) outlives the workload until the agent deletes it.
 * - Workloads outlive the agent process: a per-workload monitor (sf-shim; sf-vm-monitor for QEMU)
 *   is their parent and records their exit. After a restart the agent calls adopt() for each
 *   workload it knows, and list() to find leaks (ids the runtime knows and the agent does not).
 * - What comes back through ret_* (strings, string arrays, fds) is owned by the caller; out
 *   parameters are untouched on failure. sf_workload_status is a plain value.
 * - Restart policy is applied by the agent from exit statuses; drivers never restart.
 *
 * Lifecycle: prepare -> start -> (watch fd fires) -> reap -> ... -> stop -> remove.
 * prepare and remove are idempotent; stop on an exited workload is a no-op. */
#pragma once

#include <sys/types.h>

#include "lib/err.h"

typedef enum sf_workload_state {
        SF_WORKLOAD_UNKNOWN,  /* never started, or its monitor died before it ran */
        SF_WORKLOAD_CREATED,  /* exists in the runtime but not running yet */
        SF_WORKLOAD_RUNNING,
        SF_WORKLOAD_EXITED,
} sf_workload_state;

const char *sf_workload_state_str(sf_workload_state s);

typedef enum sf_restart_policy {
        SF_RESTART_NEVER,
        SF_RESTART_ON_FAILURE,
        SF_RESTART_ALWAYS,
} sf_restart_policy;

typedef struct sf_workload_mount {
        const char *source;      /* absolute host path, e.g. a day-0 configuration file */
        const char *destination; /* absolute path inside the workload */
        bool readonly;
} sf_workload_mount;

typedef struct sf_workload_spec {
        const char *id;          /* required; unique on the node, a valid name (it is the
                                  * runtime id and the cgroup name superfluid/<id>) */
        const char *name;        /* for people; NULL: the id */
        const char *kind;        /* "container" or "vm": selects the driver */
        const char *rootfs;      /* container: prepared root filesystem (absolute path);
                                  * vm: disk image */
        bool readonly_rootfs;

        char *const *args;       /* container: the command; vm: extra kernel arguments */
        char *const *env;        /* "K=V" */
        const char *cwd;
        uint32_t uid, gid;
        const char *hostname;    /* NULL: the id */

        uint32_t cpu_millicores; /* 1..64000; 0: no limit (containers) */
        uint64_t memory_bytes;   /* 0: no limit (containers); at least 4 MiB */
        uint32_t pids_limit;     /* 0: no limit */

        const char *netns_path;  /* container: network namespace to join (pre-plumbed) */
        /* Containers: work that start() overlaps with the runtime's creation of the
         * container, e.g. plumbing the network into netns_path (which must then exist). The
         * runtime sets the container up meanwhile; its process is executed only once this
         * returned 0 (a createRuntime hook waits on a FIFO for it), and its error fails the
         * start. NULL: none. The VM driver refuses it. */
        int (*while_creating)(void *userdata, sf_err *e);
        void *while_creating_data;
        const int *tap_fds;      /* vm: one open tap fd per NIC, borrowed */
        size_t n_tap_fds;

        const sf_workload_mount *mounts;
        size_t n_mounts;
        char *const *dns_servers;
        char *const *dns_search;
        char *const *hosts;      /* extra /etc/hosts lines, "10.0.0.5 vnf1" */

        const char *state_dir;   /* required; see the header comment */
        const char *log_path;    /* console output; NULL: <state_dir>/console.log */
        sf_restart_policy restart;

        /* VMs only (the container driver ignores them; zero means "not given"). */
        const char *const *tap_macs; /* one MAC per tap fd ("52:54:00:12:34:56"); NULL (or a
                                      * NULL entry): derived from id and NIC index */
        const char *kernel;      /* direct kernel boot: absolute path; NULL: boot the disk */
        const char *initrd;      /* with kernel; NULL: none */
        const char *cmdline;     /* with kernel; NULL: "console=ttyS0"; args are appended */
        const char *meta_data;   /* NoCloud seed (see vm-seed.h); NULL: instance-id = id and
                                  * local-hostname = hostname (or id) */
        const char *user_data;   /* NULL: "#cloud-config" with nothing in it */
        const char *network_config; /* network-config (v2); NULL: none (cloud-init's default) */
        /* A nested host (issue #9): the Superfluid agent runs in the guest and registers as a
         * node whose parent is this VM. The driver adds a management NIC (QEMU user
         * networking, restrict=on) whose only ways out are a guestfwd to the controller and,
         * with nested_agent_addr, a hostfwd to the guest agent's API, and writes the seed
         * file "superfluid-agent" for guest/init (see vm-qemu.h). */
        const char *nested_mode;       /* NULL: an ordinary VM; "vlan" or "macvlan" */
        const char *nested_controller; /* the controller's URL, http://HOST[:PORT] */
        const char *nested_node;       /* the guest agent's node name; NULL: name, else id */
        const char *nested_agent_addr; /* IPv4 address on the host for the forward to the guest
                                        * agent's API; NULL: no forward */
} sf_workload_spec;

typedef struct sf_workload_status {
        sf_workload_state state;
        pid_t pid;               /* the workload's main process (container init, QEMU) */
        bool exit_known;         /* EXITED with a recorded exit status */
        int exit_code;           /* the exit status, or 128 + signal */
        int exit_signal;         /* 0 for a normal exit */
        uint64_t started_usec;   /* CLOCK_REALTIME; 0 if unknown */
        uint64_t finished_usec;
} sf_workload_status;

/* Driver-specific settings for sf_compute_open(); each driver reads the fields it knows. */
typedef struct sf_compute_options {
        const char *runtime;        /* container: "runc" (default) or "crun" */
        const char *runtime_binary; /* container: NULL: from PATH */
        const char *runtime_root;   /* container: NULL: /run/superfluid/<runtime> */
        const char *shim;           /* container: NULL: sf_shim_path() */
        const char *exec_dir;       /* container: NULL: /run/superfluid/exec */
        int start_timeout_ms;       /* 0: the driver's default (30 s) */
        const char *qemu_binary;    /* vm: NULL: qemu-system-x86_64 from PATH */
        const char *vm_root;        /* vm: registry of VMs (list()); NULL: /run/superfluid/vm */
        const char *vm_monitor;     /* vm: NULL: sf_vm_monitor_path() */
        const char *vm_accel;       /* vm: "kvm", "tcg", NULL/"auto": $SF_VM_ACCEL, else KVM
                                     * when usable (see vm-qemu.h) */
        const char *vm_cpu;         /* vm: QEMU -cpu model; NULL: host (KVM) or max (TCG) */
} sf_compute_options;

typedef struct sf_compute sf_compute;

struct sf_compute_driver {
        const char *kind; /* "container", "vm" */

        int (*open)(const sf_compute_options *o, sf_compute **ret, sf_err *e);
        void (*close)(sf_compute *c);

        /* Validates the spec and writes what start needs (container: the OCI bundle). No
         * process is started. Field errors name the spec field ("memory", "mounts[0].source"). */
        int (*prepare)(sf_compute *c, const sf_workload_spec *w, sf_err *e);
        /* Starts a prepared workload; returns when it runs or failed with the real cause. */
        int (*start)(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                     sf_err *e);
        /* Graceful stop (SIGTERM or ACPI), forced after timeout_ms. Returns once exited. */
        int (*stop)(sf_compute *c, const sf_workload_spec *w, int timeout_ms, sf_err *e);
        /* Removes every trace outside state_dir (runtime state, cgroups, bundle); forces a
         * running workload down. An unknown workload is fine. */
        int (*remove)(sf_compute *c, const sf_workload_spec *w, sf_err *e);
        /* Status from the system, after an agent restart or at any time. */
        int (*adopt)(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                     sf_err *e);
        /* An fd that polls readable (POLLIN) when the workload exits; -ESRCH when it does
         * not run. Then call reap(). */
        int (*watch)(sf_compute *c, const sf_workload_spec *w, int *ret_fd, sf_err *e);
        /* The exit status once the watch fd fired (waits briefly for it to be recorded). */
        int (*reap)(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                    sf_err *e);
        /* Runs a command inside the workload and captures its output. */
        int (*exec)(sf_compute *c, const sf_workload_spec *w, char *const *argv,
                    char *const *env, int timeout_ms, char **ret_out, char **ret_err,
                    int *ret_exit_code, sf_err *e);
        /* Ids of all workloads this driver instance has in the system (leak checks). */
        int (*list)(sf_compute *c, char ***ret_ids, sf_err *e);
};

/* The base of every driver instance; drivers embed it as their first member. */
struct sf_compute {
        const struct sf_compute_driver *driver;
};

extern const struct sf_compute_driver sf_container_driver;

/* NULL when no driver handles kind. */
const struct sf_compute_driver *sf_compute_driver_find(const char *kind);
int sf_compute_open(const char *kind, const sf_compute_options *o, sf_compute **ret, sf_err *e);
void sf_compute_close(sf_compute *c);
static inline void sf_compute_closep(sf_compute **c) { sf_compute_close(*c); }
#define _cleanup_compute_ _cleanup_(sf_compute_closep)
