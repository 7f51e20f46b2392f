/* OCI runtime bundle generation: validated container settings -> config.json (runtime-spec
 * 1.0), plus the per-container /etc/hosts, /etc/resolv.conf and /etc/hostname files that are
 * bind-mounted into it.
 *
 * Defaults follow `runc spec` (mounts, masked and read-only paths, devices) and Docker
 * (capabilities, including CAP_NET_RAW so that ping works; net.ipv4.ping_group_range in a
 * container network namespace). All strings are borrowed: the config only needs to live for
 * the duration of the call. */
#pragma once

#include <jansson.h>

#include "lib/err.h"

#define SF_OCI_MEMORY_MIN (4ULL << 20)     /* 4 MiB */
#define SF_OCI_CPU_MAX_MILLICORES 64000    /* 64 cores */
#define SF_OCI_CPU_PERIOD_US 100000
#define SF_OCI_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct sf_oci_mount {
        const char *source;      /* absolute path on the host */
        const char *destination; /* absolute path in the container */
        bool readonly;
} sf_oci_mount;

typedef struct sf_oci_sysctl {
        const char *key;         /* "net.ipv4.ping_group_range" */
        const char *value;
} sf_oci_sysctl;

typedef struct sf_oci_config {
        const char *id;             /* required; a valid name (1-63 of [A-Za-z0-9._-]) */
        const char *rootfs;         /* required; absolute path */
        bool readonly_rootfs;

        char *const *args;          /* required, NULL-terminated */
        char *const *env;           /* "K=V"; PATH is added when missing */
        const char *cwd;            /* NULL: "/" */
        uint32_t uid, gid;
        const char *hostname;       /* NULL: the id */

        const char *netns_path;     /* join this network namespace ... */
        bool host_network;          /* ... or stay in the host's; neither: a new, empty one */

        uint32_t cpu_millicores;    /* 1 .. 64000; 0: no limit (best effort) */
        uint64_t memory_bytes;      /* 0: no limit; otherwise at least 4 MiB */
        uint32_t pids_limit;        /* 0: no limit */
        uint64_t nofile;            /* RLIMIT_NOFILE soft = hard; 0: inherited from the
                                     * runtime (the agent's limits) */

        const sf_oci_mount *mounts; /* extra bind mounts, e.g. day-0 configuration files */
        size_t n_mounts;
        const sf_oci_sysctl *sysctls;
        size_t n_sysctls;

        /* A createRuntime hook (runtime-spec "hooks"): argv, argv[0] an absolute path, run by
         * the runtime in the host's namespaces once the container's namespaces exist and
         * before its process is executed; the start fails if it fails. Superfluid uses it as
         * a start gate: the hook waits until the agent has plumbed the network. NULL: none. */
        char *const *create_hook;
        uint32_t create_hook_timeout_s; /* 0: no timeout */

        /* Host paths of the prepared files bind-mounted at /etc/hosts, /etc/resolv.conf and
         * /etc/hostname; NULL: not mounted. sf_oci_bundle_write() fills them. */
        const char *hosts_file;
        const char *resolv_file;
        const char *hostname_file;
} sf_oci_config;

/* Contents of the per-container /etc files. */
typedef struct sf_oci_etc {
        char *const *dns_servers;   /* "nameserver" lines; NULL: none */
        char *const *dns_search;    /* one "search" line */
        char *const *dns_options;   /* one "options" line, e.g. "ndots:2" */
        char *const *hosts;         /* extra /etc/hosts lines: "10.0.0.5 vnf1 vnf1.local" */
} sf_oci_etc;

/* Checks everything the runtime would reject or misbehave on; errors name the field, e.g.
 * field "memory": "must be at least 4 MiB". */
int sf_oci_config_validate(const sf_oci_config *c, sf_err *e);

/* The config.json document. Validates first. */
int sf_oci_spec_build(const sf_oci_config *c, json_t **ret, sf_err *e);

/* File contents (malloc'd). /etc/hosts has the localhost lines plus etc->hosts: the caller
 * adds "<ip> <hostname>" there when it knows the container's address. */
char *sf_oci_hosts_content(const sf_oci_etc *etc);
char *sf_oci_resolv_content(const sf_oci_etc *etc);

/* Writes a bundle: <dir>/config.json plus <dir>/etc/{hosts,resolv.conf,hostname}, which
 * config.json bind-mounts into the container. dir is created if needed; files are replaced
 * atomically. c->hosts_file, resolv_file and hostname_file are ignored (set to the files
 * written). etc may be NULL. */
int sf_oci_bundle_write(const char *dir, const sf_oci_config *c, const sf_oci_etc *etc,
                        sf_err *e);
