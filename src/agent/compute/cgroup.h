/* Container cgroups: the naming rule, the host's cgroup layout, and removal so that nothing is
 * left behind. Every container cgroup is "/superfluid/<id>" in each hierarchy (cgroup v1
 * controllers, the v1 name=systemd hierarchy and, in hybrid mode, the v2 tree at
 * /sys/fs/cgroup/unified). */
#pragma once

#include "lib/err.h"

#define SF_CGROUP_ROOT "/sys/fs/cgroup"
#define SF_CGROUP_PREFIX "superfluid"

typedef enum sf_cgroup_mode {
        SF_CGROUP_LEGACY,  /* v1 only */
        SF_CGROUP_HYBRID,  /* v1 controllers plus a v2 tree at /sys/fs/cgroup/unified */
        SF_CGROUP_UNIFIED, /* v2 only */
} sf_cgroup_mode;

/* Of SF_CGROUP_ROOT. */
int sf_cgroup_mode_detect(sf_cgroup_mode *ret, sf_err *e);
const char *sf_cgroup_mode_str(sf_cgroup_mode m);

/* The OCI cgroupsPath of container id: "/<prefix>/<id>", the prefix being "superfluid" unless
 * set (process-wide, once, before containers start): agents that share one kernel, as the
 * lab's simulated hosts do, each need their own, or a workload id present on two of them (a
 * handover) would share one cgroup. */
void sf_cgroup_set_prefix(const char *prefix);
const char *sf_cgroup_prefix(void);
char *sf_cgroup_path(const char *id);

/* The functions below take the cgroup file system root: NULL means SF_CGROUP_ROOT (tests
 * point it elsewhere). */

/* Paths of the hierarchies that hold a cgroup for id (e.g. "/sys/fs/cgroup/memory/superfluid/
 * c1"); an empty list when none. */
int sf_cgroup_find(const char *root, const char *id, char ***ret_paths, sf_err *e);

/* Removes the cgroup of id (and any child cgroups) from every hierarchy. A cgroup that is
 * already gone is fine; one that still has processes fails with -EBUSY naming it. */
int sf_cgroup_remove(const char *root, const char *id, sf_err *e);

/* Removes the "superfluid" prefix cgroup from every hierarchy where it is empty. The caller
 * makes sure no container start is in flight (it would race with the runtime's mkdir). */
void sf_cgroup_remove_prefix(const char *root);
