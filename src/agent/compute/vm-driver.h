/* The VM compute driver (kind "vm"): QEMU without libvirt, one sf-vm-monitor per VM as its
 * parent, QMP for control. It implements struct sf_compute_driver (driver.h); this header
 * adds what only VMs have: reboot, pause and resume, raw QMP, and information about a VM
 * (accelerator, QEMU pid, sockets, logs, boot times).
 *
 * Supervision: QEMU is started by sf-vm-monitor, a tiny per-VM process (the VM twin of
 * sf-shim) that detaches from the agent into its own session, stays QEMU's parent, follows
 * QEMU's events on a private QMP channel and writes QEMU's exit status to exit.json. This was
 * chosen over "QEMU alone with a pidfile": only a parent can learn a process's exit status,
 * and QEMU's status matters (0 after a guest power-off or a quit, 1 when it failed, a signal
 * when it was killed). With QEMU reparented to init, an agent that was down when QEMU exited
 * would find nothing; QMP events alone cannot be relied on either, since nobody listens
 * while the agent is away. The monitor also turns QEMU's start-up errors into the start
 * error (QEMU's own message from qemu.log), and records the reason of the last SHUTDOWN
 * event ("guest-shutdown", "host-qmp-quit", "host-signal"), which the exit status alone does
 * not tell. It costs one small process per VM (~1 MB RSS).
 *
 * fds: tap fds (spec->tap_fds, borrowed) and QMP's listening socket are handed to the
 * monitor at spawn and by it to QEMU; nothing else leaks (sf_spawn closes every other fd).
 * The QMP socket is bound by the driver before QEMU runs, so it exists from the start and
 * its path may be longer than sun_path.
 *
 * Networking: one virtio-net NIC per tap fd, MAC from spec->tap_macs. Taps belong to the
 * agent: the driver never creates or deletes them.
 *
 * Day-0: prepare() writes the NoCloud seed (seed.img, FAT labelled cidata, see vm-seed.h)
 * from spec->meta_data, user_data and network_config, attached as a read-only virtio disk.
 *
 * Disk: spec->rootfs (qcow2 or raw, detected from its header) is never written: prepare()
 * creates a qcow2 overlay on it in the state directory (qemu-img create -b), which keeps the
 * VM's writes across stop/start until remove(). With readonly_rootfs the image itself is
 * attached read-only instead, without an overlay.
 *
 * Status: a paused VM is SF_WORKLOAD_RUNNING (the process runs); sf_vm_info_read() tells
 * running from paused. exec() is not supported (-EOPNOTSUPP: there is no guest agent). */
#pragma once

#include <jansson.h>

#include "agent/compute/driver.h"

extern const struct sf_compute_driver sf_vm_driver;

/* The accelerator this driver instance uses ("kvm" or "tcg") and why (never NULL). */
const char *sf_vm_accel_get(sf_compute *c, const char **ret_reason);

/* ACPI reset (QMP system_reset): the guest reboots at once, without shutting down. */
int sf_vm_reboot(sf_compute *c, const sf_workload_spec *w, sf_err *e);
/* Stops the vCPUs (QMP stop) / lets them run again (QMP cont). Both are idempotent. */
int sf_vm_pause(sf_compute *c, const sf_workload_spec *w, sf_err *e);
int sf_vm_resume(sf_compute *c, const sf_workload_spec *w, sf_err *e);
/* Runs any QMP command (args: an object, borrowed, or NULL); *ret (may be NULL) gets the
 * "return" value. For what the driver does not wrap (migration, hot-plug, query-*). */
int sf_vm_qmp(sf_compute *c, const sf_workload_spec *w, const char *cmd, json_t *args,
              json_t **ret, sf_err *e);

typedef struct sf_vm_info {
        char accel[8];         /* "kvm" or "tcg" */
        char *accel_reason;    /* why that accelerator ("no KVM (/dev/kvm: ...): using TCG") */
        char *cpu;             /* QEMU -cpu model */
        unsigned vcpus;
        uint64_t memory_bytes;
        pid_t qemu_pid;        /* 0 if it never ran */
        pid_t monitor_pid;
        bool running;          /* QEMU's process is alive (it may be paused) */
        bool paused;
        char *run_state;       /* QMP query-status when live (running, paused, shutdown,
                                * ...), else the monitor's record (exited, ...) */
        char *qmp_socket;
        char *console_log;
        uint64_t console_offset; /* size of console_log when this run started: its output
                                  * begins there (the log is appended to across runs) */
        char *qemu_log;
        uint64_t started_usec; /* CLOCK_REALTIME: QEMU spawned */
        uint64_t ready_usec;   /* QEMU answered on QMP (devices set up, guest starting) */
        char *shutdown_reason; /* last SHUTDOWN event's reason; NULL: none */
        bool shutdown_guest;   /* the guest asked for it (power-off from inside) */
        unsigned resets;
} sf_vm_info;

void sf_vm_info_done(sf_vm_info *i);
#define _cleanup_vm_info_ _cleanup_(sf_vm_info_done)

/* What the state directory says about a VM and, with live, what QEMU answers on QMP now
 * (the process is checked by pid and start time either way). -ENOENT when it never started. */
int sf_vm_info_read(const char *state_dir, bool live, sf_vm_info *ret, sf_err *e);

/* The last max bytes (at most) of the serial console log, from a line start when possible. */
int sf_vm_console_tail(const sf_workload_spec *w, size_t max, char **ret, sf_err *e);
