/* Day-0 configuration of VMs: the cloud-init NoCloud seed.
 *
 * The seed is a small FAT12 (or FAT16) filesystem image labelled "cidata" holding meta-data,
 * user-data and, when given, network-config and vendor-data. cloud-init finds it by its label
 * on any block device (the VM driver attaches it as a read-only virtio disk), and so does the
 * test guest (guest/init). The image is written by this file, in-process: no mkfs, mtools or
 * genisoimage is needed on the host, and the bytes are reproducible (fixed timestamps, a
 * volume id derived from the content) so they can be compared in tests.
 *
 * The text renderers produce the subset of the formats that both cloud-init and the test
 * guest understand: meta-data with instance-id, local-hostname and public-keys; network-config
 * version 2 with static addresses, routes, MTU and name servers, matching each NIC by MAC. */
#pragma once

#include "lib/err.h"

#define SF_SEED_LABEL "cidata"
/* Largest seed file accepted (user-data scripts can be long; cloud-init's own limit is
 * higher, but a day-0 script this big belongs in an image). */
#define SF_SEED_FILE_MAX (4 * 1024 * 1024)

/* ---- text ---- */

/* meta-data: instance-id, local-hostname and, with keys (NULL-terminated, may be NULL), the
 * SSH public keys. Fails on a value cloud-init could not take (empty, control characters;
 * hostname: not an RFC 1123 host name). */
int sf_seed_meta_data(const char *instance_id, const char *hostname,
                      const char *const *ssh_keys, char **ret, sf_err *e);

typedef struct sf_seed_nic {
        const char *mac;                  /* required: which NIC ("52:54:00:12:34:56") */
        const char *name;                 /* set-name; NULL: "eth<index>" */
        const char *const *addresses;     /* "10.0.0.5/24", "fd00::5/64"; NULL-terminated */
        const char *gateway4;             /* default routes; NULL: none */
        const char *gateway6;
        unsigned mtu;                     /* 0: leave it */
        const char *const *dns_servers;   /* NULL-terminated, may be NULL */
        const char *const *dns_search;
        bool dhcp4;                       /* instead of (or besides) static addresses */
} sf_seed_nic;

/* network-config version 2 for the NICs. Field errors name "nics[i].addresses[j]" etc. */
int sf_seed_network_config(const sf_seed_nic *nics, size_t n, char **ret, sf_err *e);

/* ---- image ---- */

typedef struct sf_seed_file {
        const char *name; /* a plain file name in the root directory, at most 255 bytes */
        const void *data;
        size_t len;
} sf_seed_file;

/* A FAT image with the files in its root directory and the volume label (at most 11
 * characters; stored as given). *ret is malloc'd. */
int sf_fat_image_build(const char *label, const sf_seed_file *files, size_t n, uint8_t **ret,
                       size_t *ret_len, sf_err *e);

/* Writes the NoCloud seed image to path (atomically). meta_data and user_data are required
 * (cloud-init wants both files); network_config and vendor_data are left out when NULL. */
int sf_seed_write(const char *path, const char *meta_data, const char *user_data,
                  const char *network_config, const char *vendor_data, sf_err *e);
/* The same with extra files in the root directory (at most SF_SEED_EXTRA_MAX), e.g. the
 * "superfluid-agent" file of a nested host (vm-qemu.h). */
#define SF_SEED_EXTRA_MAX 4
int sf_seed_write_extra(const char *path, const char *meta_data, const char *user_data,
                        const char *network_config, const char *vendor_data,
                        const sf_seed_file *extra, size_t n_extra, sf_err *e);
