/* Descriptor validation machinery: error and ignored-path collection, the schema walker that
 * checks keys and types level by level, and tolerant getters used by the semantic checks. */
#include <inttypes.h>

#include "lib/log.h"
#include "nfvo/desc-internal.h"
#include "nfvo/yaml.h"

SF_LOG_MODULE("nfvo");

void dc_init(dctx *c, json_t *pos, const sf_desc_opts *opts)
{
        *c = (dctx) {
                .errors = json_array(),
                .ignored = json_array(),
                .pos = pos ? json_incref(pos) : NULL,
                .opts = opts,
        };
        if (!c->errors || !c->ignored)
                sf_oom();
}

void dc_done(dctx *c)
{
        json_decref(c->errors);
        json_decref(c->ignored);
        json_decref(c->pos);
        *c = (dctx) { 0 };
}

/* The position of path, or of its nearest ancestor that has one. */
static json_int_t pos_of(dctx *c, const char *path)
{
        _cleanup_free_ char *p = xstrdup(path);
        char *cut;

        if (!c->pos)
                return 0;
        for (;;) {
                json_t *v = json_object_get(c->pos, p);
                if (v)
                        return json_integer_value(v);
                cut = NULL;
                for (char *s = p + strlen(p); s > p; s--)
                        if (s[-1] == '.' || s[-1] == '[') {
                                cut = s - 1;
                                break;
                        }
                if (!cut)
                        return 0;
                *cut = 0;
        }
}

void dc_err(dctx *c, const char *path, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *m = NULL;
        json_int_t p = pos_of(c, path);
        json_t *o;

        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        o = json_pack("{s:s, s:i, s:i, s:s}", "path", path, "line", sf_yaml_pos_line(p),
                      "column", sf_yaml_pos_column(p), "message", m);
        if (!o)
                sf_oom();
        json_array_append_new(c->errors, o);
}

void dc_ignore(dctx *c, const char *path)
{
        json_array_append_new(c->ignored, json_string(path));
}

size_t dc_nerrors(const dctx *c)
{
        return json_array_size(c->errors);
}

static int64_t err_key(json_t *o)
{
        int64_t l = json_integer_value(json_object_get(o, "line"));
        int64_t col = json_integer_value(json_object_get(o, "column"));
        if (l <= 0)
                return INT64_MAX;
        return (l << 32) | col;
}

void dc_sort_errors(dctx *c)
{
        size_t n = json_array_size(c->errors);
        json_t **v;
        json_t *sorted;

        if (n < 2)
                return;
        v = new0(json_t *, n);
        for (size_t i = 0; i < n; i++)
                v[i] = json_array_get(c->errors, i);
        /* Insertion sort: stable, and error lists are short. */
        for (size_t i = 1; i < n; i++) {
                json_t *x = v[i];
                int64_t k = err_key(x);
                size_t j = i;
                while (j > 0 && err_key(v[j - 1]) > k) {
                        v[j] = v[j - 1];
                        j--;
                }
                v[j] = x;
        }
        sorted = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append(sorted, v[i]);
        free(v);
        json_decref(c->errors);
        c->errors = sorted;
}

char *dc_key(const char *parent, const char *key)
{
        if (!parent || !*parent)
                return xstrdup(key);
        return xasprintf("%s.%s", parent, key);
}

char *dc_idx(const char *parent, size_t i)
{
        return xasprintf("%s[%zu]", parent, i);
}

/* --- values --- */

static bool digits_only(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

bool dc_value_uint(json_t *v, uint64_t *out)
{
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return false;
                *out = (uint64_t) json_integer_value(v);
                return true;
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                uint64_t u;
                char *end;
                if (!digits_only(s) || strlen(s) > 20)
                        return false;
                errno = 0;
                u = strtoull(s, &end, 10);
                if (errno)
                        return false;
                *out = u;
                return true;
        }
        return false;
}

bool dc_value_dec(json_t *v, double *out)
{
        if (json_is_integer(v) || json_is_real(v)) {
                *out = json_number_value(v);
                return true;
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v), *p = s;
                size_t before = 0, after = 0;
                while (*p >= '0' && *p <= '9')
                        p++, before++;
                if (*p == '.') {
                        p++;
                        while (*p >= '0' && *p <= '9')
                                p++, after++;
                }
                if (*p || before + after == 0 || before + after > 30)
                        return false;
                *out = strtod(s, NULL);
                return true;
        }
        return false;
}

static bool value_bool(json_t *v, bool *out)
{
        if (json_is_boolean(v)) {
                *out = json_is_true(v);
                return true;
        }
        if (json_is_string(v) && (STREQ(json_string_value(v), "true") ||
                                  STREQ(json_string_value(v), "false"))) {
                *out = STREQ(json_string_value(v), "true");
                return true;
        }
        return false;
}

static json_t *get(json_t *o, const char *k)
{
        json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;
        return json_is_null(v) ? NULL : v;
}

const char *dc_str(json_t *o, const char *k)
{
        json_t *v = get(o, k);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

bool dc_uint(json_t *o, const char *k, uint64_t *v)
{
        json_t *j = get(o, k);
        return j && dc_value_uint(j, v);
}

bool dc_dec(json_t *o, const char *k, double *v)
{
        json_t *j = get(o, k);
        return j && dc_value_dec(j, v);
}

int dc_bool(json_t *o, const char *k)
{
        json_t *j = get(o, k);
        bool b;
        if (!j || !value_bool(j, &b))
                return -1;
        return b;
}

json_t *dc_list(json_t *o, const char *k)
{
        json_t *j = get(o, k);
        return json_is_array(j) ? j : NULL;
}

json_t *dc_obj(json_t *o, const char *k)
{
        json_t *j = get(o, k);
        return json_is_object(j) ? j : NULL;
}

json_t *dc_index_by(json_t *list, const char *key)
{
        json_t *idx = json_object(), *e;
        size_t i;
        if (!idx)
                sf_oom();
        json_array_foreach(list, i, e) {
                const char *id = dc_str(e, key);
                if (id && !json_object_get(idx, id))
                        json_object_set(idx, id, e);
        }
        return idx;
}

json_t *dc_strs(json_t *o, const char *k)
{
        json_t *j = get(o, k), *out = json_array(), *e;
        size_t i;
        if (!out)
                sf_oom();
        if (json_is_string(j))
                json_array_append(out, j);
        else if (json_is_array(j))
                json_array_foreach(j, i, e)
                        if (json_is_string(e))
                                json_array_append(out, e);
        return out;
}

/* --- suggestions --- */

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t *prev, *cur, d;
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        prev = new0(size_t, lb + 1);
        cur = new0(size_t, lb + 1);
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        cur[j] = MIN(sub, MIN(del, ins));
                }
                memcpy(prev, cur, sizeof(size_t) * (lb + 1));
        }
        d = prev[lb];
        free(prev);
        free(cur);
        return d;
}

const char *dc_suggest(const char *word, const char *const *names)
{
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (; *names; names++) {
                size_t d;
                if (strcasecmp(word, *names) == 0)
                        return *names;
                d = edit_distance(word, *names);
                if (d < best_d) {
                        best_d = d;
                        best = *names;
                }
        }
        if (best && best_d <= 2 && best_d * 3 <= strlen(word))
                return best;
        return NULL;
}

/* --- the schema walker --- */

static const char *type_word(json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "a mapping";
        case JSON_ARRAY: return "a list";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}

static void check_string(dctx *c, const char *path, json_t *v, const dc_field *f)
{
        if (json_is_integer(v) || json_is_real(v)) {
                _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY);
                dc_err(c, path, "must be a string, not %s (quote it: \"%s\")", type_word(v),
                       s ? s : "");
                return;
        }
        if (!json_is_string(v)) {
                dc_err(c, path, "must be a string, not %s", type_word(v));
                return;
        }
        if ((f->flags & F_NONEMPTY) && json_string_length(v) == 0)
                dc_err(c, path, "must not be empty");
}

static void check_strs(dctx *c, const char *path, json_t *v, const dc_field *f)
{
        _cleanup_json_ json_t *seen = json_object();
        size_t i;
        json_t *e;

        if (!json_is_array(v)) {
                dc_err(c, path, "must be a list of strings, not %s", type_word(v));
                return;
        }
        if ((f->flags & F_NONEMPTY) && json_array_size(v) == 0)
                dc_err(c, path, "must not be empty");
        json_array_foreach(v, i, e) {
                _cleanup_free_ char *p = dc_idx(path, i);
                if (!json_is_string(e)) {
                        check_string(c, p, e, f);
                        continue;
                }
                if (json_object_get(seen, json_string_value(e)))
                        dc_err(c, p, "duplicate value '%s'", json_string_value(e));
                else
                        json_object_set_new(seen, json_string_value(e), json_true());
        }
}

static void check_list(dctx *c, const char *path, json_t *v, const dc_field *f)
{
        const dc_schema *s = f->sub;
        _cleanup_json_ json_t *seen = json_object();
        size_t i;
        json_t *e;

        if (!json_is_array(v)) {
                dc_err(c, path, "must be a list, not %s", type_word(v));
                return;
        }
        if ((f->flags & F_NONEMPTY) && json_array_size(v) == 0)
                dc_err(c, path, "must have at least one %s", s->what);
        json_array_foreach(v, i, e) {
                _cleanup_free_ char *p = dc_idx(path, i);
                const char *k;
                json_t *first;
                if (!json_is_object(e)) {
                        dc_err(c, p, "must be a mapping (one %s), not %s", s->what, type_word(e));
                        continue;
                }
                dc_check(c, p, e, s);
                if (!s->key || !(k = dc_str(e, s->key)))
                        continue;
                first = json_object_get(seen, k);
                if (first) {
                        _cleanup_free_ char *kp = dc_key(p, s->key);
                        dc_err(c, kp, "duplicate %s %s '%s' (first at %s[%" JSON_INTEGER_FORMAT "])",
                               s->what, s->key, k, path, json_integer_value(first));
                } else
                        json_object_set_new(seen, k, json_integer((json_int_t) i));
        }
}

static void check_value(dctx *c, const char *path, json_t *v, const dc_field *f)
{
        uint64_t u;
        double d;
        bool b;

        switch (f->type) {
        case T_STR:
                check_string(c, path, v, f);
                break;
        case T_UINT:
                if (!dc_value_uint(v, &u)) {
                        if (json_is_string(v))
                                dc_err(c, path, "must be an integer between %" PRIu64 " and %" PRIu64
                                       ", not '%s'", f->min, f->max, json_string_value(v));
                        else if (json_is_integer(v))
                                dc_err(c, path, "must be between %" PRIu64 " and %" PRIu64
                                       " (is %" JSON_INTEGER_FORMAT ")", f->min, f->max,
                                       json_integer_value(v));
                        else
                                dc_err(c, path, "must be an integer, not %s", type_word(v));
                } else if (u < f->min || u > f->max)
                        dc_err(c, path, "must be between %" PRIu64 " and %" PRIu64 " (is %" PRIu64 ")",
                               f->min, f->max, u);
                break;
        case T_DEC:
                if (!dc_value_dec(v, &d)) {
                        if (json_is_string(v))
                                dc_err(c, path, "must be a non-negative number, not '%s'",
                                       json_string_value(v));
                        else if (json_is_number(v))
                                dc_err(c, path, "must not be negative");
                        else
                                dc_err(c, path, "must be a number, not %s", type_word(v));
                } else if (d < 0)
                        dc_err(c, path, "must not be negative");
                else if (f->max && d > (double) f->max)
                        dc_err(c, path, "must be at most %" PRIu64, f->max);
                break;
        case T_BOOL:
                if (!value_bool(v, &b))
                        dc_err(c, path, "must be true or false, not %s", type_word(v));
                break;
        case T_ENUM:
                if (!json_is_string(v))
                        check_string(c, path, v, f);
                else {
                        bool ok = false;
                        for (const char *const *en = f->enums; *en; en++)
                                if (STREQ(*en, json_string_value(v)))
                                        ok = true;
                        if (!ok) {
                                _cleanup_free_ char *list = xstrdup("");
                                for (const char *const *en = f->enums; *en; en++) {
                                        char *n = xasprintf("%s%s%s", list, *list ? ", " : "", *en);
                                        free(list);
                                        list = n;
                                }
                                dc_err(c, path, "must be one of %s (not '%s')", list,
                                       json_string_value(v));
                        }
                }
                break;
        case T_STRS:
                check_strs(c, path, v, f);
                break;
        case T_STR_STRS:
                if (json_is_string(v))
                        check_string(c, path, v, f);
                else
                        check_strs(c, path, v, f);
                break;
        case T_LIST:
                check_list(c, path, v, f);
                break;
        case T_CONT:
                if (!json_is_object(v))
                        dc_err(c, path, "must be a mapping, not %s", type_word(v));
                else
                        dc_check(c, path, v, f->sub);
                break;
        case T_IGN:
                dc_ignore(c, path);
                break;
        }
}

void dc_check(dctx *c, const char *path, json_t *obj, const dc_schema *s)
{
        const char *key;
        json_t *v;

        json_object_foreach(obj, key, v) {
                _cleanup_free_ char *p = dc_key(path, key);
                const dc_field *f = NULL;
                for (const dc_field *x = s->fields; x->name; x++)
                        if (STREQ(x->name, key)) {
                                f = x;
                                break;
                        }
                if (!f) {
                        const char *names[256];
                        size_t n = 0;
                        const char *sug;
                        for (const dc_field *x = s->fields; x->name && n < ELEMENTSOF(names) - 1; x++)
                                names[n++] = x->name;
                        names[n] = NULL;
                        sug = dc_suggest(key, names);
                        if (sug)
                                dc_err(c, p, "unknown key '%s' in %s (did you mean '%s'?)", key,
                                       s->what, sug);
                        else
                                dc_err(c, p, "unknown key '%s' in %s", key, s->what);
                        continue;
                }
                if (json_is_null(v) && f->type != T_IGN)
                        continue; /* "key:" with no value reads as absent */
                check_value(c, p, v, f);
        }
        for (const dc_field *f = s->fields; f->name; f++) {
                json_t *x;
                if (!(f->flags & F_REQ))
                        continue;
                x = json_object_get(obj, f->name);
                if (!x || json_is_null(x))
                        dc_err(c, path, "missing required key '%s'", f->name);
        }
}

void dc_set_str(json_t *o, const char *k, const char *s)
{
        json_object_set_new(o, k, s ? json_string(s) : json_null());
}

void dc_set_int(json_t *o, const char *k, int64_t v)
{
        json_object_set_new(o, k, json_integer(v));
}

void dc_set_uint_or_null(json_t *o, const char *k, bool have, uint64_t v)
{
        json_object_set_new(o, k, have ? json_integer((json_int_t) v) : json_null());
}
