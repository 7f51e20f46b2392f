/* Allocators: IP addresses (with a per-subnet cursor so allocation is O(1) amortised), MAC
 * addresses and VXLAN network identifiers. Uniqueness is enforced by primary keys, so even a
 * logic error cannot hand out a value twice. All of it runs inside a write transaction. */
#include <inttypes.h>
#include <sys/random.h>

#include "vim/vim-internal.h"

int sf_subnet_info_parse(json_t *subnet, struct sf_subnet_info *ret, sf_err *e)
{
        struct sf_subnet_info s = { 0 };
        const char *id = json_string_value(json_object_get(subnet, "id"));
        const char *cidr = json_string_value(json_object_get(subnet, "cidr"));
        const char *gw = json_string_value(json_object_get(subnet, "gateway_ip"));
        json_t *pools = json_object_get(subnet, "allocation_pools"), *p;
        size_t i;

        if (!id || !cidr || sf_prefix_parse(cidr, true, &s.cidr) < 0)
                return sf_err_set(e, -EIO, NULL, "stored subnet is corrupt");
        snprintf(s.id, sizeof(s.id), "%s", id);
        snprintf(s.name, sizeof(s.name), "%s", json_string_value(json_object_get(subnet, "name")) ?: id);
        if (gw) {
                if (sf_addr_parse(gw, &s.gateway) < 0)
                        return sf_err_set(e, -EIO, NULL, "stored subnet gateway is corrupt");
                s.has_gateway = true;
        }
        json_array_foreach(pools, i, p) {
                if (i >= ELEMENTSOF(s.pools))
                        break;
                if (sf_addr_parse(json_string_value(json_object_get(p, "start")),
                                  &s.pools[i].start) < 0 ||
                    sf_addr_parse(json_string_value(json_object_get(p, "end")), &s.pools[i].end) < 0)
                        return sf_err_set(e, -EIO, NULL, "stored allocation pool is corrupt");
                s.n_pools++;
        }
        *ret = s;
        return 0;
}

static struct ipam_hint *hint_for(sf_vim *v, const char *subnet_id)
{
        for (size_t i = 0; i < v->n_hints; i++)
                if (STREQ(v->hints[i].subnet_id, subnet_id))
                        return &v->hints[i];
        v->hints = xrealloc(v->hints, sizeof(*v->hints) * (v->n_hints + 1));
        memset(&v->hints[v->n_hints], 0, sizeof(*v->hints));
        snprintf(v->hints[v->n_hints].subnet_id, sizeof(v->hints->subnet_id), "%s", subnet_id);
        return &v->hints[v->n_hints++];
}

static int addr_taken(sf_tx *tx, const char *subnet_id, const char *addr, bool *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx), "SELECT 1 FROM ip_allocations WHERE subnet_id = ? AND address = ?",
                e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, subnet_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "ipam lookup", e);
        *ret = rc == SQLITE_ROW;
        return 0;
}

static int addr_insert(sf_tx *tx, const char *subnet_id, const char *addr, const char *port_id,
                       sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "INSERT INTO ip_allocations(subnet_id, address, port_id) VALUES (?, ?, ?)", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, subnet_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, port_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "ipam insert", e);
        return 0;
}

static u128 pools_size(const struct sf_subnet_info *s)
{
        u128 n = 0;
        for (size_t i = 0; i < s->n_pools; i++)
                n += sf_addr_to_u128(&s->pools[i].end) - sf_addr_to_u128(&s->pools[i].start) + 1;
        return n;
}

/* The k-th address of the concatenated pools. */
static sf_addr pools_nth(const struct sf_subnet_info *s, u128 k)
{
        for (size_t i = 0; i < s->n_pools; i++) {
                u128 a = sf_addr_to_u128(&s->pools[i].start);
                u128 n = sf_addr_to_u128(&s->pools[i].end) - a + 1;
                if (k < n)
                        return sf_addr_from_u128(s->cidr.addr.family, a + k);
                k -= n;
        }
        return s->pools[0].start;
}

int sf_ipam_allocate(sf_vim *v, sf_tx *tx, const struct sf_subnet_info *s, const char *port_id,
                     sf_addr *ret, sf_err *e)
{
        struct ipam_hint *h = hint_for(v, s->id);
        u128 size = pools_size(s), tried = 0;
        char buf[SF_PREFIX_STRLEN];
        int r;

        /* Walk the pools from the cursor; each probe is one primary-key lookup. A completely
         * full subnet costs one pass, which only happens when it really is exhausted. */
        for (; size && tried < size; tried++) {
                bool taken;
                sf_addr a;
                if (h->next >= size)
                        h->next = 0;
                a = pools_nth(s, h->next++);
                sf_addr_fmt(&a, buf);
                r = addr_taken(tx, s->id, buf, &taken, e);
                if (r < 0)
                        return r;
                if (taken)
                        continue;
                r = addr_insert(tx, s->id, buf, port_id, e);
                if (r < 0)
                        return r;
                *ret = a;
                return 0;
        }
        sf_prefix_fmt(&s->cidr, buf);
        return sf_err_set(e, -ENOSPC, NULL, "subnet '%s' (%s) is exhausted: no free address left",
                          s->name, buf);
}

int sf_ipam_reserve(sf_vim *v, sf_tx *tx, const struct sf_subnet_info *s, const char *port_id,
                    const sf_addr *a, sf_err *e)
{
        char buf[SF_ADDR_STRLEN], cbuf[SF_PREFIX_STRLEN];
        bool taken;
        int r;

        sf_addr_fmt(a, buf);
        sf_prefix_fmt(&s->cidr, cbuf);
        if (!sf_prefix_contains(&s->cidr, a))
                return sf_err_set(e, -EINVAL, "ip_address", "%s is not in subnet %s", buf, cbuf);
        if (a->family == AF_INET && s->cidr.len < 31) {
                sf_addr first = sf_prefix_first(&s->cidr), last = sf_prefix_last(&s->cidr);
                if (sf_addr_eq(a, &first))
                        return sf_err_set(e, -EINVAL, "ip_address",
                                          "%s is the network address of %s", buf, cbuf);
                if (sf_addr_eq(a, &last))
                        return sf_err_set(e, -EINVAL, "ip_address",
                                          "%s is the broadcast address of %s", buf, cbuf);
        } else if (a->family == AF_INET6) {
                sf_addr first = sf_prefix_first(&s->cidr);
                if (sf_addr_eq(a, &first))
                        return sf_err_set(e, -EINVAL, "ip_address",
                                          "%s is the subnet-router anycast address of %s", buf,
                                          cbuf);
        }
        if (s->has_gateway && sf_addr_eq(a, &s->gateway))
                return sf_err_set(e, -EINVAL, "ip_address", "%s is the gateway of %s", buf, cbuf);
        r = addr_taken(tx, s->id, buf, &taken, e);
        if (r < 0)
                return r;
        if (taken)
                return sf_err_set(e, -EEXIST, "ip_address",
                                  "%s is already allocated in subnet '%s' (%s)", buf, s->name, cbuf);
        (void) v;
        return addr_insert(tx, s->id, buf, port_id, e);
}

static int delete_by(sf_tx *tx, const char *sql, const char *key, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(sf_tx_conn(tx), sql, e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "release", e);
        return 0;
}

int sf_ipam_release_port(sf_tx *tx, const char *port_id, sf_err *e)
{
        return delete_by(tx, "DELETE FROM ip_allocations WHERE port_id = ?", port_id, e);
}

int sf_ipam_subnet_used(sf_tx *tx, const char *subnet_id, int64_t *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(sf_tx_conn(tx), "SELECT count(*) FROM ip_allocations WHERE subnet_id = ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, subnet_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "count", e);
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

int sf_ipam_subnet_usage(sf_rd *rd, const struct sf_subnet_info *s, u128 *ret_size,
                         u128 *ret_used, sf_err *e)
{
        /* Only addresses inside the pools count as used here; fixed IPs outside the pools do
         * not take pool space. */
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(rd->conn, "SELECT address FROM ip_allocations WHERE subnet_id = ?", e);
        u128 used = 0;
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                sf_addr a;
                if (sf_addr_parse((const char *) sqlite3_column_text(st, 0), &a) < 0)
                        continue;
                for (size_t i = 0; i < s->n_pools; i++)
                        if (sf_addr_cmp(&a, &s->pools[i].start) >= 0 &&
                            sf_addr_cmp(&a, &s->pools[i].end) <= 0) {
                                used++;
                                break;
                        }
        }
        if (rc != SQLITE_DONE)
                return sf_sql_err(rd->conn, rc, "usage", e);
        *ret_size = pools_size(s);
        *ret_used = used;
        return 0;
}

static int mac_insert(sf_tx *tx, const char *port_id, const char *mac, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx), "INSERT INTO mac_allocations(mac, port_id) VALUES (?, ?)", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, mac, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, port_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST;
        if (rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "mac insert", e);
        return 0;
}

int sf_mac_allocate(sf_tx *tx, const char *port_id, uint8_t ret[6], sf_err *e)
{
        /* 02:5f + 32 random bits; a collision (unlikely below millions of ports) retries. */
        for (int attempt = 0; attempt < 64; attempt++) {
                uint8_t m[6] = { SF_MAC_PREFIX0, SF_MAC_PREFIX1 };
                char buf[SF_MAC_STRLEN];
                int r;
                if (getrandom(m + 2, 4, 0) != 4)
                        return sf_err_errno(e, -errno, "getrandom");
                r = mac_insert(tx, port_id, sf_mac_fmt(m, buf), e);
                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return r;
                memcpy(ret, m, 6);
                return 0;
        }
        return sf_err_set(e, -ENOSPC, "mac_address", "no free MAC address after 64 attempts");
}

int sf_mac_reserve(sf_tx *tx, const char *port_id, const uint8_t mac[6], sf_err *e)
{
        char buf[SF_MAC_STRLEN];
        int r = mac_insert(tx, port_id, sf_mac_fmt(mac, buf), e);
        if (r == -EEXIST)
                return sf_err_set(e, -EEXIST, "mac_address", "%s is already in use", buf);
        return r;
}

int sf_mac_release_port(sf_tx *tx, const char *port_id, sf_err *e)
{
        return delete_by(tx, "DELETE FROM mac_allocations WHERE port_id = ?", port_id, e);
}

static int vni_insert(sf_tx *tx, const char *network_id, uint32_t vni, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx), "INSERT INTO vni_allocations(vni, network_id) VALUES (?, ?)", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, vni);
        sqlite3_bind_text(st, 2, network_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST;
        if (rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "vni insert", e);
        return 0;
}

int sf_vni_allocate(sf_vim *v, sf_tx *tx, const char *network_id, uint32_t *ret, sf_err *e)
{
        /* Start at 1000 so that small hand-picked VNIs stay free for users. */
        for (uint32_t tries = 0; tries < SF_VNI_MAX; tries++) {
                uint32_t vni;
                int r;
                if (v->vni_next < 1000 || v->vni_next > SF_VNI_MAX)
                        v->vni_next = 1000;
                vni = v->vni_next++;
                r = vni_insert(tx, network_id, vni, e);
                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return r;
                *ret = vni;
                return 0;
        }
        return sf_err_set(e, -ENOSPC, "vni", "no free VNI");
}

int sf_vni_reserve(sf_tx *tx, const char *network_id, uint32_t vni, sf_err *e)
{
        int r = vni_insert(tx, network_id, vni, e);
        if (r == -EEXIST)
                return sf_err_set(e, -EEXIST, "vni", "VNI %" PRIu32 " is already in use", vni);
        return r;
}

int sf_vni_release(sf_tx *tx, uint32_t vni, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(sf_tx_conn(tx), "DELETE FROM vni_allocations WHERE vni = ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, vni);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "vni release", e);
        return 0;
}
