/* The compute driver registry: finds the driver table for a workload kind. */
#include "agent/compute/driver.h"
#include "agent/compute/vm-driver.h"

static const struct sf_compute_driver *const drivers[] = {
        &sf_container_driver,
        &sf_vm_driver,
};

const char *sf_workload_state_str(sf_workload_state s)
{
        switch (s) {
        case SF_WORKLOAD_UNKNOWN:
                return "unknown";
        case SF_WORKLOAD_CREATED:
                return "created";
        case SF_WORKLOAD_RUNNING:
                return "running";
        case SF_WORKLOAD_EXITED:
                return "exited";
        }
        return "unknown";
}

const struct sf_compute_driver *sf_compute_driver_find(const char *kind)
{
        for (size_t i = 0; kind && i < ELEMENTSOF(drivers); i++)
                if (STREQ(drivers[i]->kind, kind))
                        return drivers[i];
        return NULL;
}

int sf_compute_open(const char *kind, const sf_compute_options *o, sf_compute **ret, sf_err *e)
{
        static const sf_compute_options none = { 0 };
        const struct sf_compute_driver *d = sf_compute_driver_find(kind);
        if (!d)
                return sf_err_set(e, -EOPNOTSUPP, "kind", "no compute driver for '%s'",
                                  kind ? kind : "(null)");
        return d->open(o ? o : &none, ret, e);
}

void sf_compute_close(sf_compute *c)
{
        if (c)
                c->driver->close(c);
}
