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
        /* 4: what the containers (workloads of every kind) on each node ask for, kept by
         * triggers in the transactions that change them, so that placing a workload reads one
         * row per node instead of parsing every workload on it (src/vim/scheduler.c). Rows
         * whose count drops to zero stay (a node's row is one lookup either way). */
        "CREATE TABLE node_usage ("
        "  node TEXT PRIMARY KEY, workloads INTEGER NOT NULL,"
        "  cpu INTEGER NOT NULL, memory INTEGER NOT NULL) WITHOUT ROWID;"
        "INSERT INTO node_usage"
        "  SELECT node, count(*), coalesce(sum(json_extract(body, '$.cpu')), 0),"
        "         coalesce(sum(json_extract(body, '$.memory')), 0)"
        "  FROM resources WHERE kind = 'container' AND node IS NOT NULL GROUP BY node;"
        "CREATE TRIGGER node_usage_insert AFTER INSERT ON resources"
        "  WHEN NEW.kind = 'container' AND NEW.node IS NOT NULL BEGIN"
        "  INSERT INTO node_usage VALUES (NEW.node, 1,"
        "    coalesce(json_extract(NEW.body, '$.cpu'), 0), coalesce(json_extract(NEW.body, '$.memory'), 0))"
        "  ON CONFLICT (node) DO UPDATE SET workloads = workloads + 1,"
        "    cpu = cpu + excluded.cpu, memory = memory + excluded.memory;"
        "END;"
        "CREATE TRIGGER node_usage_delete AFTER DELETE ON resources"
        "  WHEN OLD.kind = 'container' AND OLD.node IS NOT NULL BEGIN"
        "  UPDATE node_usage SET workloads = workloads - 1,"
        "    cpu = cpu - coalesce(json_extract(OLD.body, '$.cpu'), 0),"
        "    memory = memory - coalesce(json_extract(OLD.body, '$.memory'), 0)"
        "  WHERE node = OLD.node;"
        "END;"
        /* Status reports rewrite the body often: only a new node or new limits count. */
        "CREATE TRIGGER node_usage_update AFTER UPDATE OF node, body ON resources"
        "  WHEN NEW.kind = 'container' AND (OLD.node IS NOT NEW.node"
        "    OR json_extract(OLD.body, '$.cpu') IS NOT json_extract(NEW.body, '$.cpu')"
        "    OR json_extract(OLD.body, '$.memory') IS NOT json_extract(NEW.body, '$.memory')) BEGIN"
        "  UPDATE node_usage SET workloads = workloads - 1,"
        "    cpu = cpu - coalesce(json_extract(OLD.body, '$.cpu'), 0),"
        "    memory = memory - coalesce(json_extract(OLD.body, '$.memory'), 0)"
        "  WHERE node = OLD.node;"
        "  INSERT INTO node_usage SELECT NEW.node, 1,"
        "    coalesce(json_extract(NEW.body, '$.cpu'), 0), coalesce(json_extract(NEW.body, '$.memory'), 0)"
        "  WHERE NEW.node IS NOT NULL"
        "  ON CONFLICT (node) DO UPDATE SET workloads = workloads + 1,"
        "    cpu = cpu + excluded.cpu, memory = memory + excluded.memory;"
        "END",
};

const char *const *sf_store_migrations(size_t *ret_n)
{
        *ret_n = sizeof(migrations) / sizeof(migrations[0]);
        return migrations;
}
