/* Shared by the VIM unit tests: a store on a temporary file with a VIM on it, and helpers that
 * drive the kinds through their sf_kind function pointers inside transactions, as the API does.
 * Test JSON is written with single quotes ('{'name': 'n1'}') to keep it readable. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim.h"

struct vim_fx {
        char dir[64];
        sf_store *store;
        sf_vim *vim;
};

static struct vim_fx *fx;

static _unused_ int fx_setup(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        fx = new0(struct vim_fx, 1);
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/sf-test-vim-XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        path = xasprintf("%s/state.db", fx->dir);
        if (sf_store_open(path, NULL, &fx->store, &e) < 0 ||
            sf_vim_new(fx->store, NULL, &fx->vim, &e) < 0) {
                fprintf(stderr, "setup: %s\n", sf_err_msg(&e));
                return -1;
        }
        return 0;
}

static _unused_ int fx_teardown(void **state)
{
        sf_vim_free(fx->vim);
        sf_store_free(fx->store);
        sf_rm_rf(fx->dir, NULL);
        free(fx);
        fx = NULL;
        return 0;
}

/* Parses JSON written with ' for ". */
static _unused_ json_t *J(const char *s)
{
        _cleanup_free_ char *c = xstrdup(s);
        json_error_t je;
        json_t *j;
        for (char *p = c; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = json_loads(c, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                fail_msg("bad test JSON '%s': %s", c, je.text);
        return j;
}

static _unused_ json_t *Jf(const char *fmt, ...) _printf_(1, 2);
static _unused_ json_t *Jf(const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *s = NULL;
        va_start(ap, fmt);
        s = xvasprintf(fmt, ap);
        va_end(ap);
        return J(s);
}

static _unused_ struct sf_kind *kind(const char *name)
{
        for (struct sf_kind *const *k = sf_vim_kinds(fx->vim); *k; k++)
                if (STREQ((*k)->name, name))
                        return *k;
        fail_msg("no kind '%s'", name);
        return NULL;
}

static _unused_ const char *str(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static _unused_ int64_t num(json_t *o, const char *k)
{
        return json_integer_value(json_object_get(o, k));
}

/* Creates in its own transaction, committed on success and aborted on failure. Takes in. */
static _unused_ int create_in(const char *kname, json_t *in, json_t **ret, sf_err *e)
{
        struct sf_kind *k = kind(kname);
        json_auto_t *i = in;
        json_t *obj = NULL;
        sf_tx *tx = NULL;
        int r = sf_tx_begin(fx->store, &tx, e);
        if (r < 0)
                return r;
        r = k->create(k->ctx, tx, i, &obj, e);
        if (r < 0) {
                sf_tx_abort(tx);
                assert_null(obj);
                return r;
        }
        r = sf_tx_commit(tx, e);
        if (r < 0) {
                json_decref(obj);
                return r;
        }
        if (ret)
                *ret = obj;
        else
                json_decref(obj);
        return 0;
}

static _unused_ json_t *create_ok(const char *kname, const char *json)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *o = NULL;
        if (create_in(kname, J(json), &o, &e) < 0)
                fail_msg("create %s %s: %s (field %s)", kname, json, sf_err_msg(&e),
                         e.field ? e.field : "-");
        return o;
}

/* Asserts the error's code, field (NULL = none) and a substring of its message (NULL = any). */
static _unused_ void check_err(const sf_err *e, int code, const char *field, const char *msg)
{
        if (e->code != code)
                fail_msg("error %d (%s), expected %d", e->code, sf_err_msg(e), code);
        if (field && (!e->field || STRNEQ(e->field, field)))
                fail_msg("field '%s' (%s), expected '%s'", e->field ? e->field : "(none)",
                         sf_err_msg(e), field);
        if (!field && e->field)
                fail_msg("field '%s' (%s), expected none", e->field, sf_err_msg(e));
        if (msg && !strstr(sf_err_msg(e), msg))
                fail_msg("message '%s' does not contain '%s'", sf_err_msg(e), msg);
}

static _unused_ void create_fails(const char *kname, const char *json, int code,
                                  const char *field, const char *msg)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int64_t rev = sf_store_revision(fx->store);
        int r = create_in(kname, J(json), NULL, &e);
        if (r >= 0)
                fail_msg("create %s %s succeeded, expected %d", kname, json, code);
        assert_int_equal(r, e.code);
        check_err(&e, code, field, msg);
        assert_int_equal(sf_store_revision(fx->store), rev);
}

static _unused_ json_t *get(const char *kname, const char *ref)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *o = NULL;
        sf_rd_get(fx->store, &rd);
        if (sf_res_get(&rd, kname, ref, &o, &e) < 0)
                return NULL;
        return o;
}

static _unused_ int update(const char *kname, const char *ref, const char *patch, json_t **ret,
                           sf_err *e)
{
        struct sf_kind *k = kind(kname);
        json_auto_t *p = J(patch), *cur = NULL;
        json_t *obj = NULL;
        sf_tx *tx = NULL;
        sf_rd rd;
        int r = sf_tx_begin(fx->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, kname, ref, &cur, e);
        if (r >= 0)
                r = k->update(k->ctx, tx, cur, p, &obj, e);
        if (r < 0) {
                sf_tx_abort(tx);
                assert_null(obj);
                return r;
        }
        r = sf_tx_commit(tx, e);
        if (r < 0) {
                json_decref(obj);
                return r;
        }
        if (ret)
                *ret = obj;
        else
                json_decref(obj);
        return 0;
}

static _unused_ json_t *update_ok(const char *kname, const char *ref, const char *patch)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *o = NULL;
        if (update(kname, ref, patch, &o, &e) < 0)
                fail_msg("update %s '%s' %s: %s (field %s)", kname, ref, patch, sf_err_msg(&e),
                         e.field ? e.field : "-");
        return o;
}

/* Deletes with the given options (e.g. {'force': true}); returns what remove returned (1 when
 * the deletion completes later). */
static _unused_ int remove_opts(const char *kname, const char *ref, const char *opts, sf_err *e)
{
        struct sf_kind *k = kind(kname);
        json_auto_t *cur = NULL, *o = J(opts);
        sf_tx *tx = NULL;
        sf_rd rd;
        int r = sf_tx_begin(fx->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, kname, ref, &cur, e);
        if (r >= 0)
                r = k->remove(k->ctx, tx, cur, o, e);
        if (r < 0) {
                sf_tx_abort(tx);
                return r;
        }
        {
                int c = sf_tx_commit(tx, e);
                return c < 0 ? c : r;
        }
}

static _unused_ int remove_obj(const char *kname, const char *ref, sf_err *e)
{
        return remove_opts(kname, ref, "{}", e);
}

static _unused_ void remove_ok(const char *kname, const char *ref)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (remove_obj(kname, ref, &e) != 0)
                fail_msg("delete %s '%s': %s", kname, ref, sf_err_msg(&e));
}

/* The address of a port's i-th fixed IP. */
static _unused_ const char *ip_of(json_t *port, size_t i)
{
        return str(json_array_get(json_object_get(port, "fixed_ips"), i), "ip_address");
}

static _unused_ json_t *port_ok(const char *json)
{
        return create_ok("port", json);
}
