/* VIM context and the helpers its kinds share: reference resolution, names, descriptions,
 * labels, merge patches; the port-taken listener (the all-in-one agent's word, inside the
 * transaction and again at its commit or abort, that a container takes a pooled port). */
#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

int sf_vim_new(sf_store *store, const struct sf_vim_options *opts, sf_vim **ret, sf_err *e)
{
        sf_vim *v = new0(sf_vim, 1);
        struct sf_kind *kinds[] = { &vim_site_kind,   &vim_node_kind,      &vim_network_kind,
                                    &vim_subnet_kind, &vim_port_kind,      &vim_router_kind,
                                    &vim_container_kind, &vim_pool_kind, &vim_trunk_kind,
                                    &vim_service_kind, &vim_move_kind };
        v->store = store;
        v->default_mtu = opts && opts->default_mtu ? opts->default_mtu : 1450;
        v->lease_ms = opts && opts->lease_ms ? opts->lease_ms : 15000;
        v->evict_ms = opts && opts->evict_ms ? opts->evict_ms : 60000;
        pthread_mutex_init(&v->move_lock, NULL);
        pthread_rwlock_init(&v->taken_lock, NULL);
        pthread_cond_init(&v->move_cond, NULL);
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                kinds[i]->ctx = v;
                v->kinds[i] = kinds[i];
        }
        sf_pool_init(v, opts ? &opts->pools : NULL);
        *ret = v;
        return 0;
}

int sf_vim_start(sf_vim *v, sf_err *e)
{
        int r = sf_pool_start(v, e);
        if (r >= 0)
                r = sf_sched_start(v, e);
        if (r >= 0)
                r = sf_lease_start(v, e);
        return r;
}

void sf_vim_stop(sf_vim *v)
{
        if (!v)
                return;
        v->stopping = true;
        sf_pool_stop(v);
        sf_store_shutdown(v->store);
        if (v->sched_running)
                pthread_join(v->sched_thread, NULL);
        if (v->lease_running)
                pthread_join(v->lease_thread, NULL);
        v->sched_running = v->lease_running = false;
}

void sf_vim_free(sf_vim *v)
{
        if (!v)
                return;
        sf_vim_stop(v);
        sf_pool_free(v);
        free(v->hints);
        pthread_rwlock_destroy(&v->taken_lock);
        free(v);
}

void sf_vim_set_port_taken(sf_vim *v, sf_vim_port_taken_fn fn, void *userdata)
{
        pthread_rwlock_wrlock(&v->taken_lock);
        v->taken_data = userdata;
        __atomic_store_n(&v->taken_fn, fn, __ATOMIC_RELEASE);
        pthread_rwlock_unlock(&v->taken_lock);
}

struct taken_hook {
        sf_vim *v;
        char node_id[SF_UUID_STRLEN], port_id[SF_UUID_STRLEN], workload_id[SF_UUID_STRLEN];
        int64_t revision;
};

static void taken_tell(struct taken_hook *h, enum sf_port_take phase)
{
        pthread_rwlock_rdlock(&h->v->taken_lock);
        if (h->v->taken_fn)
                h->v->taken_fn(h->v->taken_data, phase, h->node_id, h->port_id, h->workload_id, h->revision);
        pthread_rwlock_unlock(&h->v->taken_lock);
}

static void taken_commit(void *u) { taken_tell(u, SF_PORT_TAKE_COMMIT); }
static void taken_abort(void *u) { taken_tell(u, SF_PORT_TAKE_ABORT); }

void sf_vim_port_taken_tell(sf_vim *v, sf_tx *tx, const char *node_id, const char *port_id,
                            const char *workload_id, int64_t revision)
{
        struct taken_hook *h;
        /* Unlocked: a listener set meanwhile misses this one hint, no more. */
        if (!__atomic_load_n(&v->taken_fn, __ATOMIC_ACQUIRE))
                return;
        h = new0(struct taken_hook, 1);
        h->v = v;
        snprintf(h->node_id, sizeof(h->node_id), "%s", node_id);
        snprintf(h->port_id, sizeof(h->port_id), "%s", port_id);
        snprintf(h->workload_id, sizeof(h->workload_id), "%s", workload_id);
        h->revision = revision;
        sf_tx_on_commit_owned(tx, taken_commit, h);
        sf_tx_on_abort(tx, taken_abort, h);
        taken_tell(h, SF_PORT_TAKE_PREPARE);
}

struct sf_kind *const *sf_vim_kinds(sf_vim *v) { return v->kinds; }

int vim_resolve(sf_tx *tx, const char *kind, const char *ref, const char *field, json_t **ret,
                sf_err *e)
{
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, kind, ref, ret, e);
        if (r == -ENOENT)
                /* A dangling reference in a request is the request's fault: 400, not 404. */
                return sf_err_set(e, -EINVAL, field, "%s '%s' does not exist", kind, ref);
        return r;
}

int vim_check_description(json_t *in, sf_err *e)
{
        const char *d = NULL;
        int r = sf_json_str(in, "description", false, &d, e);
        if (r < 0)
                return r;
        if (d && strlen(d) > 1024)
                return sf_err_set(e, -EINVAL, "description", "must be at most 1024 characters");
        return 0;
}

int vim_check_labels(json_t *in, sf_err *e)
{
        json_t *labels = NULL, *v;
        const char *k;
        int r = sf_json_object(in, "labels", false, &labels, e);
        if (r < 0 || !labels)
                return r;
        if (json_object_size(labels) > 64)
                return sf_err_set(e, -EINVAL, "labels", "at most 64 labels");
        json_object_foreach(labels, k, v) {
                if (!sf_name_valid(k))
                        return sf_err_set(e, -EINVAL, "labels",
                                          "key '%.64s' is not valid: use 1-63 letters, digits, "
                                          "'.', '_' or '-'",
                                          k);
                if (!json_is_string(v) || json_string_length(v) > 255)
                        return sf_err_set(e, -EINVAL, "labels",
                                          "value of '%s' must be a string of at most 255 "
                                          "characters",
                                          k);
        }
        return 0;
}

int vim_take_name(json_t *in, json_t *obj, const char *kind, sf_err *e)
{
        const char *name = NULL;
        char id[SF_UUID_STRLEN];
        int r = sf_json_name(in, "name", false, &name, e);
        if (r < 0)
                return r;
        sf_uuid(id);
        json_object_set_new(obj, "id", json_string(id));
        if (name)
                json_object_set_new(obj, "name", json_string(name));
        else {
                _cleanup_free_ char *n = sf_kind_default_name(kind, id);
                json_object_set_new(obj, "name", json_string(n));
        }
        return 0;
}

int vim_patch_common(json_t *obj, json_t *patch, sf_err *e)
{
        const char *name = NULL;
        json_t *v;
        int r = sf_json_name(patch, "name", false, &name, e);
        if (r < 0)
                return r;
        if (name)
                json_object_set_new(obj, "name", json_string(name));
        r = vim_check_description(patch, e);
        if (r < 0)
                return r;
        r = vim_check_labels(patch, e);
        if (r < 0)
                return r;
        if ((v = json_object_get(patch, "description")))
                json_object_set(obj, "description", v);
        if ((v = json_object_get(patch, "labels")))
                json_object_set_new(obj, "labels",
                                    json_is_null(v) ? json_object() : json_deep_copy(v));
        return 0;
}

int vim_set_common(json_t *in, json_t *obj, const char *kind, sf_err *e)
{
        json_t *v;
        int r = vim_take_name(in, obj, kind, e);
        if (r < 0)
                return r;
        r = vim_check_description(in, e);
        if (r < 0)
                return r;
        r = vim_check_labels(in, e);
        if (r < 0)
                return r;
        v = json_object_get(in, "description");
        json_object_set_new(obj, "description", json_string(json_is_string(v) ? json_string_value(v) : ""));
        v = json_object_get(in, "labels");
        json_object_set_new(obj, "labels", json_is_object(v) ? json_deep_copy(v) : json_object());
        return 0;
}

json_t *vim_merge(json_t *cur, json_t *patch)
{
        json_t *n = json_deep_copy(cur);
        const char *k;
        json_t *v;
        json_object_foreach(patch, k, v) {
                if (json_is_null(v))
                        json_object_del(n, k);
                else
                        json_object_set(n, k, v);
        }
        return n;
}

int vim_check_patch_keys(json_t *patch, const char *const *writable, const char *const *all,
                         sf_err *e)
{
        const char *k;
        json_t *v;
        json_object_foreach(patch, k, v) {
                bool w = false, known = false;
                for (const char *const *a = writable; *a; a++)
                        w |= STREQ(*a, k);
                for (const char *const *a = all; *a; a++)
                        known |= STREQ(*a, k);
                if (!w && known)
                        return sf_err_set(e, -EINVAL, k, "cannot be changed");
        }
        return sf_json_only(patch, writable, e);
}
