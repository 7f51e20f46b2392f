/* ETSI SOL006 descriptors (VNFD and NSD, in YAML as OSM writes them): parsing, validation with
 * YAML paths, a normalized model for the NFVO lifecycle, and OSM packages.
 *
 * Input. A VNFD document has one top-level key `vnfd` (or `etsi-nfv-vnfd:vnfd`) holding the
 * VNFD; an NSD document has `nsd` (or `etsi-nfv-nsd:nsd`) holding `nsd: [ <one nsd> ]`.
 * Numbers may be written as YAML integers or as strings ("1", "2.0"), as YANG's JSON encoding
 * and OSM do.
 *
 * Validation. Every problem found is reported (not only the first), each with the YAML path of
 * the offending node, its position and a message:
 *     vnfd.df[0].vdu-profile[0].id: unknown vdu 'x'
 * Keys are checked against the SOL006 YANG models (plus the OSM extensions OSM descriptors use)
 * at every level the model below covers; an unknown key there is an error (with a suggestion
 * when one is close). Keys that are valid SOL006 but not acted on (day-1/day-2 configuration,
 * juju charms, KDUs, monitoring, affinity, security groups, ...) are accepted and listed in
 * `ignored`, as the path of the key ("vnfd.df[0].lcm-operations-configuration"); whatever is
 * below such a key is not checked. Nothing is dropped silently.
 *
 * Superfluid extensions are SOL006 VDU configurable properties whose key starts with
 * "superfluid-", so the descriptor stays valid SOL006 for other tools:
 *     vdu:
 *     - id: video
 *       configurable-properties:
 *       - key: superfluid-move-strategy
 *         value: handover          # or make-before-break (the default)
 *       - key: superfluid-command  # container VDUs: the command, run with /bin/sh -c
 *         value: httpd -f -p 80
 *       - key: superfluid-host-vm  # container VDUs: run inside this VM (one made with a
 *         value: vnf-host          # nested_mode), with one encapsulation
 *       - key: superfluid-nested-mode  # with superfluid-host-vm: vlan or macvlan instead of
 *         value: macvlan               # the VM's mode
 * Any other key starting with "superfluid-" is an error; other configurable properties are
 * listed as ignored.
 *
 * The normalized model (sf_desc.model), for a VNFD. Every key is always present; absent optional
 * values are null. Sizes are bytes (SOL006 GB are taken as GiB, 2^30 bytes).
 * {
 *   "kind": "vnfd",
 *   "id", "name" (product-name, else id), "description", "version", "provider",
 *   "product_name", "software_version": string|null,
 *   "vdus": [{
 *     "id", "name" (else id), "description",
 *     "kind": "container" | "vm"   (container when the image's container-format is docker),
 *     "sw_image": sw-image-desc id, "image": image name (sw-image-desc image, else its name),
 *     "image_version", "container_format" (default "bare"), "disk_format" (default "qcow2"),
 *     "virtual_compute": id|null, "vcpus": int|null, "memory_bytes": int|null,
 *     "virtual_storages": [ids], "storage_bytes": int|null (sum of the storages' sizes),
 *     "int_cpds": [{"id", "int_virtual_link": id|null, "description", "order": int|null}],
 *     "cloud_init_file": file name in the package's cloud_init/ | null,
 *     "cloud_init": the cloud-init text (inline, or filled in by sf_desc_load_package) | null,
 *     "move_strategy": "make-before-break" | "handover",
 *     "command": string | null   (container VDUs: run with /bin/sh -c; null: the image's own),
 *     "host_vm", "nested_mode": string | null   (container VDUs in a VM: its name, the mode),
 *     "min_instances", "max_instances", "initial_instances": int   (from the first df; 0 when
 *         the VDU has no vdu-profile there)
 *   }],
 *   "sw_images": [{"id", "name", "image", "version", "provider", "container_format",
 *                  "disk_format", "operating_system", "size_bytes", "min_disk_bytes",
 *                  "min_ram_bytes": int|null, "checksum": {"algorithm", "hash"}|null}],
 *   "virtual_computes": [{"id", "vcpus", "memory_bytes"}],
 *   "virtual_storages": [{"id", "type", "size_bytes"}],
 *   "int_virtual_links": [{"id", "description", "layer_protocols": [strings]}],
 *   "ext_cpds": [{"id", "description", "vdu": id|null, "int_cpd": id|null,
 *                 "int_virtual_link": id|null}]   (either vdu+int_cpd or int_virtual_link),
 *   "mgmt_cp": ext-cpd id|null,
 *   "df": id of the first deployment flavour (the one vdus[] and scaling_aspects[] describe),
 *   "instantiation_level": the level initial_instances come from | null,
 *   "scaling_aspects": [{"id", "name", "description", "max_scale_level": int,
 *                        "step_deltas": [delta ids],
 *                        "deltas": [{"id", "vdus": [{"id", "number_of_instances"}]}]}],
 *   "deployment_flavours": [{"id", "description", "default_instantiation_level": id|null,
 *                            "vdu_profiles": [{"id", "min_instances", "max_instances"}],
 *                            "instantiation_levels": [{"id", "description",
 *                                                      "vdus": [{"id", "number_of_instances"}]}],
 *                            "scaling_aspects": [as above]}],
 *   "ignored": [YAML paths]
 * }
 * For an NSD:
 * {
 *   "kind": "nsd",
 *   "id", "name" (else id), "description", "version", "designer": string|null,
 *   "vnfd_ids": [strings],
 *   "virtual_links": [{"id", "description", "mgmt_network": bool,
 *                      "vim_network_name": string|null, "layer_protocols": [strings],
 *                      "flavours": [ids]}],
 *   "df": id of the first deployment flavour,
 *   "vnf_profiles": [{"id" (OSM's member-vnf-index), "vnfd_id", "flavour_id": id|null,
 *                     "instantiation_level": id|null, "min_instances", "max_instances",
 *                     "connections": [{"virtual_link": virtual-link-desc id,
 *                                      "virtual_link_profile": id as written,
 *                                      "cpd": the VNFD's ext-cpd id}]}],
 *   "virtual_link_profiles": [{"id", "virtual_link", "flavour_id": id|null,
 *                              "l3": {"name", "ip_version", "cidr", "gateway_ip",
 *                                     "dhcp_enabled": bool|null,
 *                                     "ip_allocation_pools": [strings]} | null}],
 *   "deployment_flavours": [{"id", "vnf_profiles": [...], "virtual_link_profiles": [...]}],
 *   "ignored": [YAML paths]
 * }
 * vnf_profiles and virtual_link_profiles at the top are those of the first df. A connection's
 * virtual-link-profile-id may name a virtual-link-profile of the df or, as OSM writes it, a
 * virtual-link-desc directly. */
#pragma once

#include <jansson.h>

#include "lib/err.h"

#define SF_DESC_MAX_SIZE ((size_t) 4 << 20)          /* bytes of descriptor YAML */
#define SF_DESC_MAX_CLOUD_INIT ((size_t) 64 << 10)   /* bytes of one cloud-init file */

typedef enum sf_desc_kind {
        SF_DESC_VNFD = 1,
        SF_DESC_NSD = 2,
} sf_desc_kind;

typedef struct sf_desc {
        sf_desc_kind kind;
        char *id;        /* vnfd.id, or nsd.nsd[0].id */
        json_t *doc;     /* the document as JSON, as written (read-only) */
        json_t *model;   /* the normalized model above */
        json_t *ignored; /* array of YAML paths; the same array as model.ignored */
} sf_desc;

/* What an NSD's references are checked against. All optional: without them an NSD is only
 * checked for internal consistency. */
typedef struct sf_desc_opts {
        /* NULL-terminated ids of the onboarded VNFDs. */
        const char *const *vnfd_ids;
        /* Or a lookup: the model (sf_desc.model) of an onboarded VNFD, or NULL when none has that
         * id. With a model, vnf-profile flavour-id and instantiation-level and the
         * constituent-cpd-ids (the VNFD's ext-cpds) are checked too. */
        const json_t *(*vnfd_lookup)(const char *vnfd_id, void *userdata);
        void *userdata;
} sf_desc_opts;

/* Parses and validates a VNFD or NSD. opts may be NULL.
 * On failure returns a negative errno (-EINVAL for invalid input, -E2BIG over SF_DESC_MAX_SIZE or
 * too many nodes); sf_err has the first problem (field = its YAML path, message ending in
 * "(and N more errors)" when there are more) and, when ret_errors is not NULL, *ret_errors gets
 * all of them: an array of {"path", "line", "column", "message"} in document order (line and
 * column are 1-based, 0 when unknown; path is "" for the document itself). On success *ret is
 * set and *ret_errors is left untouched. */
int sf_desc_parse(const char *yaml, size_t len, const sf_desc_opts *opts, sf_desc **ret,
                  json_t **ret_errors, sf_err *e);

void sf_desc_free(sf_desc *d);
static inline void sf_desc_freep(sf_desc **d) { sf_desc_free(*d); }
#define _cleanup_desc_ _cleanup_(sf_desc_freep)

const char *sf_desc_kind_name(sf_desc_kind k); /* "vnfd", "nsd" */

/* One line per error, "LINE:COLUMN: PATH: MESSAGE\n" ("PATH: MESSAGE\n" without a position).
 * Returns a malloc'd string ("" for an empty list). */
char *sf_desc_errors_format(const json_t *errors);

/* An OSM package: a directory or a .tar.gz laid out as
 *     <name>/<name>.yaml   the descriptor (the only *.yaml or *.yml at that level)
 *     <name>/cloud_init/   files named by vdu cloud-init-file
 *     <name>/charms/, icons/, checksums.txt, ...   not used (listed in ignored_files)
 * (the top folder may be absent), or a bare .yaml/.yml file, whose cloud-init files are looked
 * for in cloud_init/ next to it. Archive entries are read into memory with size limits, never
 * written to disk; entries with absolute paths or ".." are refused, links are not followed. */
typedef struct sf_desc_pkg {
        sf_desc *desc;        /* with model vdus[].cloud_init filled in */
        char *descriptor;     /* path of the descriptor inside the package */
        json_t *files;        /* object: "cloud_init/<name>" -> content, the files that were used */
        json_t *ignored_files; /* array of package entries not used ("charms/", "icons/", ...) */
} sf_desc_pkg;

/* Loads a package from a path (directory, .tar.gz/.tgz/.tar, or .yaml/.yml). Errors as for
 * sf_desc_parse; a missing, oversized or unsafe cloud-init file is reported at the VDU's
 * cloud-init-file path. A failure with the package itself (not an archive, path traversal, no or
 * several descriptors, too large) has a one-entry error list with path "". */
int sf_desc_load_package(const char *path, const sf_desc_opts *opts, sf_desc_pkg **ret,
                         json_t **ret_errors, sf_err *e);
/* The same for a tar archive (optionally gzip-compressed) held in memory, e.g. an upload. */
int sf_desc_load_package_mem(const void *buf, size_t len, const sf_desc_opts *opts,
                             sf_desc_pkg **ret, json_t **ret_errors, sf_err *e);

void sf_desc_pkg_free(sf_desc_pkg *p);
static inline void sf_desc_pkg_freep(sf_desc_pkg **p) { sf_desc_pkg_free(*p); }
#define _cleanup_desc_pkg_ _cleanup_(sf_desc_pkg_freep)
