/* What the VM driver and its monitor (sf-vm-monitor) share, and the pure parts of running
 * QEMU: the state directory layout and its JSON files, the fd numbers handed down, the
 * accelerator choice (KVM or TCG), disk image format detection and spec -> QEMU argv.
 *
 * State directory of a VM (owned by the agent, see driver.h):
 *   disk.qcow2    copy-on-write overlay on spec->rootfs (prepare); the VM's own disk state
 *   seed.img      NoCloud seed, a FAT image labelled cidata (prepare)
 *   vm.json       what start chose: accelerator and why, CPU model, vCPUs, memory, paths and
 *                 the QEMU command line (written by the driver before QEMU runs)
 *   monitor.json  the monitor's record: its pid, QEMU's pid and /proc start times, when QEMU
 *                 started and answered, run state (running/paused) and the last SHUTDOWN
 *                 event's reason (written by sf-vm-monitor, atomically)
 *   exit.json     QEMU's exit status (an sf_exit_record, as containers have), written by the
 *                 monitor when QEMU has exited
 *   qmp.sock      the QMP socket (bound by the driver, inherited by QEMU)
 *   qemu.log      QEMU's stdout and stderr; monitor.log: the monitor's own diagnostics
 *   console.log   the serial console, unless spec->log_path says otherwise
 *
 * The monitor is started as
 *   sf-vm-monitor --id ID --state-dir DIR [--timeout MS] [--pass-fd N]... -- QEMU ARGV...
 * with the status pipe on fd 3, QMP's listening socket on fd 4 and one tap per NIC from fd 6
 * on. It creates a socket pair for its own QMP channel and gives QEMU one end as fd 5. It
 * answers one line on fd 3, as sf-shim does: "started <qemu pid>" once QEMU's QMP greeting
 * arrived (QEMU is fully set up), or "error <errno> <message>" with QEMU's own words. */
#pragma once

#include <sys/types.h>

#include "agent/compute/driver.h"
#include "lib/err.h"

#define SF_VM_CONFIG_FILE "vm.json"
#define SF_VM_MONITOR_FILE "monitor.json"
#define SF_VM_EXIT_FILE "exit.json" /* = SF_SHIM_EXIT_FILE: the same record format */
#define SF_VM_QMP_SOCKET "qmp.sock"
#define SF_VM_OVERLAY_FILE "disk.qcow2"
#define SF_VM_SEED_FILE "seed.img"
#define SF_VM_QEMU_LOG "qemu.log"
#define SF_VM_MONITOR_LOG "monitor.log"
#define SF_VM_CONSOLE_LOG "console.log"

/* fd numbers in sf-vm-monitor and in QEMU. */
#define SF_VM_STATUS_FD 3
#define SF_VM_QMP_FD 4
#define SF_VM_EVENT_FD 5
#define SF_VM_TAP_FD_BASE 6
#define SF_VM_MAX_NICS 16

#define SF_VM_DEFAULT_MEMORY (512ULL << 20)
#define SF_VM_MIN_MEMORY (32ULL << 20)
#define SF_VM_MAX_MEMORY (1ULL << 40)
#define SF_VM_DEFAULT_CMDLINE "console=ttyS0"

/* ---- accelerator ---- */

typedef enum sf_vm_accel {
        SF_VM_ACCEL_TCG,
        SF_VM_ACCEL_KVM,
} sf_vm_accel;

const char *sf_vm_accel_str(sf_vm_accel a);

/* What the host offers. */
typedef struct sf_kvm_probe {
        int open_error;   /* 0, or the errno of open("/dev/kvm") */
        int create_error; /* 0, or the errno of KVM_GET_API_VERSION / KVM_CREATE_VM */
        bool hw_virt;     /* the CPU flags list vmx or svm (/proc/cpuinfo) */
} sf_kvm_probe;

void sf_kvm_probe_host(sf_kvm_probe *ret);

/* requested: "kvm", "tcg", or NULL / "auto". Auto takes KVM when /dev/kvm creates VMs and the
 * CPU reports hardware virtualisation; a /dev/kvm without vmx/svm is software-emulated
 * nested KVM, far slower than TCG, so auto takes TCG there. *ret_reason says why, for logs
 * and sf_vm_info (never a silent fallback). "kvm" without a usable /dev/kvm: -EOPNOTSUPP. */
int sf_vm_accel_choose(const char *requested, const sf_kvm_probe *p, sf_vm_accel *ret,
                       char **ret_reason, sf_err *e);

/* ---- images ---- */

/* "qcow2" or "raw" from the file's first bytes; other formats (vmdk, vhdx, vdi, vpc, luks)
 * are -EOPNOTSUPP. */
int sf_vm_image_format(const char *path, const char **ret, sf_err *e);
/* The backing file name recorded in a qcow2 header; *ret NULL when there is none. */
int sf_qcow2_backing_file(const char *path, char **ret, sf_err *e);

/* ---- spec -> QEMU ---- */

typedef struct sf_vm_host {
        const char *qemu;        /* the binary */
        const char *socat;       /* nested hosts: socat for the guestfwd to the controller */
        unsigned agent_fwd_port; /* nested hosts: host port forwarded to the guest agent's API
                                  * (on spec->nested_agent_addr); 0: none */
        sf_vm_accel accel;
        const char *cpu;         /* NULL: "host" with KVM, "max" with TCG */
        const char *disk_format; /* of spec->rootfs ("qcow2"/"raw"); NULL when none */
} sf_vm_host;

/* Checks a spec for the VM driver. Field errors name the spec field. */
int sf_vm_spec_check(const sf_workload_spec *w, sf_err *e);

unsigned sf_vm_vcpus(const sf_workload_spec *w);
uint64_t sf_vm_memory_mib(const sf_workload_spec *w);
/* MAC of NIC i: spec->tap_macs[i], else 52:54:00 plus three bytes hashed from id and i. */
void sf_vm_nic_mac(const sf_workload_spec *w, size_t i, char buf[static 18]);
/* The kernel command line: spec->cmdline (or SF_VM_DEFAULT_CMDLINE) and spec->args. */
char *sf_vm_kernel_cmdline(const sf_workload_spec *w);
/* Paths in the state directory (malloc'd). */
char *sf_vm_path(const sf_workload_spec *w, const char *file);
char *sf_vm_console_path(const sf_workload_spec *w);

/* ---- nested hosts (issue #9) ----
 * A VM whose spec has nested_mode gets a management NIC after its data NICs: QEMU user
 * networking with restrict=on, so that the guest reaches nothing through it but
 *   - SF_VM_MGMT_CONTROLLER_IP:80, a guestfwd whose per-connection command is
 *     "socat STDIO TCP:<controller host>:<port>" (so QEMU's sandbox allows spawning), and
 *   - with sf_vm_host.agent_fwd_port, the host forwards nested_agent_addr:port to the guest
 *     agent's API at SF_VM_MGMT_GUEST_IP:SF_VM_GUEST_AGENT_PORT.
 * The seed carries SF_VM_AGENT_SEED_FILE, key=value lines that guest/init reads: controller,
 * node, parent (the VM's id), mode, link_mac (the first data NIC), mgmt_mac, mgmt_ip and,
 * with the forward, agent_url. */
#define SF_VM_AGENT_SEED_FILE "superfluid-agent"
#define SF_VM_MGMT_MAC "52:54:00:5f:00:02"
#define SF_VM_MGMT_NET "10.0.2.0/24"
#define SF_VM_MGMT_HOST_IP "10.0.2.2"
#define SF_VM_MGMT_GUEST_IP "10.0.2.15"
#define SF_VM_MGMT_PREFIX 24
#define SF_VM_MGMT_CONTROLLER_IP "10.0.2.100"
#define SF_VM_MGMT_CONTROLLER_PORT 80
#define SF_VM_GUEST_AGENT_PORT 7470

/* Host and port of an http:// controller URL (IPv4, a DNS name, or [IPv6]; the host is
 * returned without brackets). Anything else, https:// included, is -EINVAL naming
 * "controller". */
int sf_vm_controller_target(const char *url, char **ret_host, unsigned *ret_port, sf_err *e);
/* The SF_VM_AGENT_SEED_FILE text of a checked nested-host spec. */
char *sf_vm_agent_config(const sf_workload_spec *w, unsigned agent_fwd_port);

/* The QEMU command line for a checked spec (deterministic: golden-tested). */
int sf_vm_qemu_argv(const sf_workload_spec *w, const sf_vm_host *h, char ***ret, sf_err *e);

/* ---- state files ---- */

typedef struct sf_vm_monitor_state {
        char *id;
        pid_t monitor_pid;
        uint64_t monitor_starttime;
        pid_t qemu_pid;           /* 0 until QEMU runs */
        uint64_t qemu_starttime;
        uint64_t started_usec;    /* CLOCK_REALTIME: QEMU spawned */
        uint64_t ready_usec;      /* QMP greeting received */
        char *run_state;          /* "starting", "running", "paused", "shutdown", "exited" */
        char *shutdown_reason;    /* of the last SHUTDOWN event: "guest-shutdown",
                                   * "host-qmp-quit", "host-signal", ...; NULL: none */
        bool shutdown_guest;
        unsigned resets;          /* RESET events (guest reboots, system_reset) */
} sf_vm_monitor_state;

void sf_vm_monitor_state_done(sf_vm_monitor_state *s);
#define _cleanup_vm_monitor_state_ _cleanup_(sf_vm_monitor_state_done)
char *sf_vm_monitor_state_format(const sf_vm_monitor_state *s);
int sf_vm_monitor_state_parse(const char *buf, size_t len, sf_vm_monitor_state *ret,
                              sf_err *e);
/* -ENOENT when there is none. */
int sf_vm_monitor_state_read(const char *state_dir, sf_vm_monitor_state *ret, sf_err *e);
int sf_vm_monitor_state_write(const char *state_dir, const sf_vm_monitor_state *s, sf_err *e);

/* Finds sf-vm-monitor: $SF_VM_MONITOR, then next to /proc/self/exe, then
 * <dir of /proc/self/exe>/../agent/compute/ (the build tree, for sfd), then
 * SF_LIBEXECDIR. -ENOENT names every place tried. */
int sf_vm_monitor_path(char **ret, sf_err *e);
