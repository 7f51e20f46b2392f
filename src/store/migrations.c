/* The schema, as an append-only list of migrations. Never edit a released migration: add one. */
#include "store/migrations.h"

static const char *const migrations[] = {
        /* 1: resources, events, allocation tables */
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
        "CREATE TABLE resources ("
        "  kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,"
        "  revision INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
        "  owner TEXT, node TEXT, body TEXT NOT NULL,"
        "  UNIQUE (kind, id), UNIQUE (kind, name));"
        "CREATE INDEX resources_owner ON resources(kind, owner) WHERE owner IS NOT NULL;"
        "CREATE INDEX resources_node ON resources(kind, node) WHERE node IS NOT NULL;"
        "CREATE TABLE events ("
        "  revision INTEGER PRIMARY KEY, type TEXT NOT NULL, kind TEXT NOT NULL,"
        "  id TEXT NOT NULL, object TEXT NOT NULL);"
        /* IPAM: one row per address in use; the primary key makes double allocation
         * impossible even if the code had a bug. */
        "CREATE TABLE ip_allocations ("
        "  subnet_id TEXT NOT NULL, address TEXT NOT NULL, port_id TEXT NOT NULL,"
        "  PRIMARY KEY (subnet_id, address)) WITHOUT ROWID;"
        "CREATE INDEX ip_allocations_port ON ip_allocations(port_id);"
        "CREATE TABLE mac_allocations (mac TEXT PRIMARY KEY, port_id TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE vni_allocations (vni INTEGER PRIMARY KEY, network_id TEXT NOT NULL)",
        /* 2: port pools (src/vim/pool.c). The idle ports of each pool in FIFO order: taking
         * the oldest is one index lookup, and a port is in at most one pool. Rows change in
         * the same transactions as the port rows, so the two never disagree after a crash. */
        "CREATE TABLE pool_ports ("
        "  pool_id TEXT NOT NULL, seq INTEGER NOT NULL, port_id TEXT NOT NULL,"
        "  PRIMARY KEY (pool_id, seq)) WITHOUT ROWID;"
        "CREATE UNIQUE INDEX pool_ports_port ON pool_ports(port_id)",
        /* 3: trunks (src/vim/trunk.c). One row per port in a trunk: the primary key makes a
         * port a member of one trunk at most (as parent, segmentation_id NULL, or as subport),
         * and the unique key gives each VLAN id to one subport per trunk, even if the code
         * had a bug. */
        "CREATE TABLE trunk_ports ("
        "  port_id TEXT PRIMARY KEY, trunk_id TEXT NOT NULL,"
        "  segmentation_id INTEGER CHECK (segmentation_id BETWEEN 1 AND 4094),"
        "  UNIQUE (trunk_id, segmentation_id)) WITHOUT ROWID",
};

const char *const *sf_store_migrations(size_t *ret_n)
{
        *ret_n = sizeof(migrations) / sizeof(migrations[0]);
        return migrations;
}
