/* YAML to JSON: walks libfyaml's event stream with an explicit stack, resolves scalars with the
 * YAML 1.2 core schema, expands aliases and merge keys, and records where each node was. */
#include <inttypes.h>
#include <libfyaml.h>
#include <math.h>

#include "lib/log.h"
#include "nfvo/yaml.h"

SF_LOG_MODULE("nfvo");

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct frame {
        json_t *node;      /* object or array being filled */
        bool is_map;
        char *path;        /* "" for the root */
        char *anchor;      /* registered when the node completes */
        size_t nodes_at_start;
        size_t index;      /* next sequence index */
        char *key;         /* mapping: key waiting for its value */
        bool key_is_merge;
        bool had_merge;
        json_int_t key_pos;
        json_t *merges;    /* mapping: array of objects from merge keys, applied at the end */
} frame;

typedef struct conv {
        const char *input;
        frame *stack;
        size_t depth;
        size_t nodes;
        json_t *root;
        bool have_root;
        json_t *pos;       /* path -> position */
        json_t *anchors;   /* name -> [node, size] */
        sf_yaml_diag *diag;
        sf_err *e;
} conv;

void sf_yaml_diag_clear(sf_yaml_diag *d)
{
        if (!d)
                return;
        free(d->path);
        free(d->msg);
        *d = (sf_yaml_diag) { 0 };
}

static int fail_at(conv *c, int line, int column, const char *path, int code, const char *fmt, ...)
        _printf_(6, 7);
static int fail_at(conv *c, int line, int column, const char *path, int code, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *m = NULL;

        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        if (c->diag) {
                sf_yaml_diag_clear(c->diag);
                c->diag->line = line;
                c->diag->column = column;
                c->diag->path = xstrdup(path ? path : "");
                c->diag->msg = xstrdup(m);
        }
        if (line > 0)
                return sf_err_set(c->e, code, path && *path ? path : NULL, "line %d, column %d: %s",
                                  line, column, m);
        return sf_err_set(c->e, code, path && *path ? path : NULL, "%s", m);
}

static void mark_of(struct fy_event *ev, int *line, int *column)
{
        const struct fy_mark *m = fy_event_start_mark(ev);
        *line = m && m->line >= 0 ? m->line + 1 : 0;
        *column = m && m->column >= 0 ? m->column + 1 : 0;
}

/* Where a token starts (the tag of a node rather than its value). */
static void tok_mark(struct fy_token *t, int *line, int *column)
{
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        if (m && m->line >= 0) {
                *line = m->line + 1;
                *column = m->column + 1;
        }
}

static void frame_clear(frame *f)
{
        json_decref(f->node);
        json_decref(f->merges);
        free(f->path);
        free(f->anchor);
        free(f->key);
        *f = (frame) { 0 };
}

/* The text of a token as a string; NULL when there is none. */
static const char *tok_text(struct fy_token *t, size_t *len)
{
        const char *s;
        *len = 0;
        if (!t)
                return NULL;
        s = fy_token_get_text(t, len);
        if (!s)
                *len = 0;
        return s;
}

static char *tok_strdup(struct fy_token *t)
{
        size_t n;
        const char *s = tok_text(t, &n);
        return s ? strndup(s, n) : NULL;
}

static bool mem_in(const char *s, size_t n, const char *const *set)
{
        for (; *set; set++)
                if (strlen(*set) == n && memcmp(s, *set, n) == 0)
                        return true;
        return false;
}

static bool is_null_text(const char *s, size_t n)
{
        static const char *const set[] = { "~", "null", "Null", "NULL", NULL };
        return n == 0 || mem_in(s, n, set);
}

static int bool_text(const char *s, size_t n)
{
        static const char *const t[] = { "true", "True", "TRUE", NULL };
        static const char *const f[] = { "false", "False", "FALSE", NULL };
        if (mem_in(s, n, t))
                return 1;
        if (mem_in(s, n, f))
                return 0;
        return -1;
}

/* 1: an integer (stored in *v), 0: not integer syntax, -ERANGE: integer syntax out of range. */
static int int_text(const char *s, size_t n, int64_t *v)
{
        char buf[80];
        const char *p;
        char *end;
        size_t i = 0;

        if (n == 0)
                return 0;
        if (n >= sizeof(buf)) {
                for (i = (s[0] == '-' || s[0] == '+'); i < n; i++)
                        if (s[i] < '0' || s[i] > '9')
                                return 0;
                return -ERANGE;
        }
        memcpy(buf, s, n);
        buf[n] = 0;
        p = buf;
        if (n > 2 && p[0] == '0' && (p[1] == 'o' || p[1] == 'x')) {
                int base = p[1] == 'o' ? 8 : 16;
                const char *digits = base == 8 ? "01234567" : "0123456789abcdefABCDEF";
                uint64_t u;
                if (strspn(p + 2, digits) != n - 2)
                        return 0;
                errno = 0;
                u = strtoull(p + 2, &end, base);
                if (errno == ERANGE || u > INT64_MAX)
                        return -ERANGE;
                *v = (int64_t) u;
                return 1;
        }
        if (p[0] == '-' || p[0] == '+')
                i = 1;
        if (i >= n || strspn(p + i, "0123456789") != n - i)
                return 0;
        errno = 0;
        *v = strtoll(p, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        return 1;
}

/* 1: a float (in *v), 0: not float syntax, -ERANGE: not representable (inf, nan, overflow). */
static int float_text(const char *s, size_t n, double *v)
{
        static const char *const special[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                               "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                               NULL };
        char buf[128];
        size_t i = 0, digits = 0;
        char *end;

        if (mem_in(s, n, special))
                return -ERANGE;
        if (n == 0 || n >= sizeof(buf))
                return 0;
        /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
        if (s[i] == '-' || s[i] == '+')
                i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++, digits++;
        if (i < n && s[i] == '.') {
                i++;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++, digits++;
        }
        if (digits == 0)
                return 0;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                size_t ed = 0;
                i++;
                if (i < n && (s[i] == '-' || s[i] == '+'))
                        i++;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++, ed++;
                if (ed == 0)
                        return 0;
        }
        if (i != n)
                return 0;
        memcpy(buf, s, n);
        buf[n] = 0;
        *v = strtod(buf, &end);
        if (!isfinite(*v))
                return -ERANGE;
        return 1;
}

static int make_string(conv *c, const char *s, size_t n, int line, int column, const char *path,
                       json_t **ret)
{
        json_t *j;
        if (memchr(s, 0, n))
                return fail_at(c, line, column, path, -EINVAL,
                               "strings must not contain NUL characters");
        j = json_stringn(s, n);
        if (!j)
                return fail_at(c, line, column, path, -EINVAL, "invalid UTF-8 in string");
        *ret = j;
        return 0;
}

/* Resolves a scalar event to JSON. */
static int resolve_scalar(conv *c, struct fy_event *ev, const char *path, json_t **ret)
{
        size_t n, tn;
        const char *s = tok_text(ev->scalar.value, &n);
        const char *tag = tok_text(ev->scalar.tag, &tn);
        bool plain = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
        int line, column, b, r;
        int64_t iv;
        double dv;

        mark_of(ev, &line, &column);
        if (!s)
                s = "";

        if (tag && !(tn == 1 && tag[0] == '!')) {
                _cleanup_free_ char *t = strndup(tag, tn);
                const char *kind;
                if (!t)
                        sf_oom();
                if (strncmp(t, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
                        tok_mark(ev->scalar.tag, &line, &column);
                        return fail_at(c, line, column, path, -EINVAL, "unsupported tag '%s'", t);
                }
                kind = t + strlen(TAG_PREFIX);
                tok_mark(ev->scalar.tag, &line, &column);
                if (STREQ(kind, "str"))
                        return make_string(c, s, n, line, column, path, ret);
                if (STREQ(kind, "null")) {
                        if (!is_null_text(s, n))
                                return fail_at(c, line, column, path, -EINVAL,
                                               "'%.*s' is not a null", (int) MIN(n, 64), s);
                        *ret = json_null();
                        return 0;
                }
                if (STREQ(kind, "bool")) {
                        b = bool_text(s, n);
                        if (b < 0)
                                return fail_at(c, line, column, path, -EINVAL,
                                               "'%.*s' is not a boolean", (int) MIN(n, 64), s);
                        *ret = json_boolean(b);
                        return 0;
                }
                if (STREQ(kind, "int")) {
                        r = int_text(s, n, &iv);
                        if (r == -ERANGE)
                                return fail_at(c, line, column, path, -EINVAL,
                                               "integer out of range");
                        if (r == 0)
                                return fail_at(c, line, column, path, -EINVAL,
                                               "'%.*s' is not an integer", (int) MIN(n, 64), s);
                        *ret = json_integer(iv);
                        return 0;
                }
                if (STREQ(kind, "float")) {
                        r = int_text(s, n, &iv);
                        if (r == 1) {
                                *ret = json_real((double) iv);
                                return 0;
                        }
                        r = float_text(s, n, &dv);
                        if (r == -ERANGE)
                                return fail_at(c, line, column, path, -EINVAL,
                                               "'%.*s' cannot be represented in JSON",
                                               (int) MIN(n, 64), s);
                        if (r == 0)
                                return fail_at(c, line, column, path, -EINVAL,
                                               "'%.*s' is not a float", (int) MIN(n, 64), s);
                        *ret = json_real(dv);
                        return 0;
                }
                return fail_at(c, line, column, path, -EINVAL, "unsupported tag '%s'", t);
        }

        if (!plain || (tag && tn == 1))
                return make_string(c, s, n, line, column, path, ret);

        if (is_null_text(s, n)) {
                *ret = json_null();
                return 0;
        }
        b = bool_text(s, n);
        if (b >= 0) {
                *ret = json_boolean(b);
                return 0;
        }
        r = int_text(s, n, &iv);
        if (r == -ERANGE)
                return fail_at(c, line, column, path, -EINVAL,
                               "integer out of range (quote it to make it a string)");
        if (r == 1) {
                *ret = json_integer(iv);
                return 0;
        }
        r = float_text(s, n, &dv);
        if (r == -ERANGE)
                return fail_at(c, line, column, path, -EINVAL,
                               "'%.*s' cannot be represented in JSON (quote it to make it a string)",
                               (int) MIN(n, 64), s);
        if (r == 1) {
                *ret = json_real(dv);
                return 0;
        }
        return make_string(c, s, n, line, column, path, ret);
}

static const char *json_type_name(const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_OBJECT: return "a mapping";
        case JSON_ARRAY: return "a sequence";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a float";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}

static char *child_path(const frame *f)
{
        if (f->is_map)
                return *f->path ? xasprintf("%s.%s", f->path, f->key) : xstrdup(f->key);
        return xasprintf("%s[%zu]", f->path, f->index);
}

static int count_nodes(conv *c, size_t n, int line, int column, const char *path)
{
        c->nodes += n;
        if (c->nodes > SF_YAML_MAX_NODES)
                return fail_at(c, line, column, path, -E2BIG,
                               "more than %d nodes (aliases included)", SF_YAML_MAX_NODES);
        return 0;
}

static void register_anchor(conv *c, const char *name, json_t *node, size_t size)
{
        json_t *a;
        if (!name)
                return;
        a = json_pack("[O,I]", node, (json_int_t) size);
        if (!a)
                sf_oom();
        json_object_set_new(c->anchors, name, a);
}

/* Stores a completed value in the current container (or as the root). Takes value. */
static int attach(conv *c, json_t *value, int line, int column)
{
        frame *f;
        if (c->depth == 0) {
                c->root = value;
                c->have_root = true;
                return 0;
        }
        f = &c->stack[c->depth - 1];
        if (!f->is_map) {
                json_array_append_new(f->node, value);
                f->index++;
                return 0;
        }
        if (f->key_is_merge) {
                _cleanup_free_ char *p = child_path(f);
                size_t i;
                json_t *v;
                if (json_is_object(value))
                        json_array_append(f->merges, value);
                else if (json_is_array(value)) {
                        json_array_foreach(value, i, v) {
                                if (!json_is_object(v)) {
                                        int r = fail_at(c, line, column, p, -EINVAL,
                                                        "a merge key (<<) takes mappings, not %s",
                                                        json_type_name(v));
                                        json_decref(value);
                                        return r;
                                }
                                json_array_append(f->merges, v);
                        }
                } else {
                        int r = fail_at(c, line, column, p, -EINVAL,
                                        "a merge key (<<) takes a mapping or a sequence of "
                                        "mappings, not %s", json_type_name(value));
                        json_decref(value);
                        return r;
                }
                json_decref(value);
        } else
                json_object_set_new(f->node, f->key, value);
        free(f->key);
        f->key = NULL;
        f->key_is_merge = false;
        return 0;
}

/* A scalar or alias in key position. */
static int take_key(conv *c, frame *f, json_t *k, bool plain_merge, int line, int column)
{
        _cleanup_free_ char *p = NULL;
        const char *ks;
        json_t *prev_pos;

        if (!json_is_string(k)) {
                p = xstrdup(f->path);
                return fail_at(c, line, column, p, -EINVAL,
                               "mapping keys must be strings, not %s (quote the key)",
                               json_type_name(k));
        }
        ks = json_string_value(k);
        f->key = xstrdup(ks);
        f->key_is_merge = plain_merge;
        f->key_pos = sf_yaml_pos_make(line, column);
        p = child_path(f);
        if (plain_merge) {
                if (f->had_merge)
                        return fail_at(c, line, column, p, -EINVAL, "duplicate merge key (<<)");
                f->had_merge = true;
                return 0;
        }
        if (json_object_get(f->node, ks)) {
                prev_pos = json_object_get(c->pos, p);
                if (prev_pos) {
                        json_int_t pp = json_integer_value(prev_pos);
                        return fail_at(c, line, column, p, -EINVAL,
                                       "duplicate key '%s' (first at line %d, column %d)", ks,
                                       sf_yaml_pos_line(pp), sf_yaml_pos_column(pp));
                }
                return fail_at(c, line, column, p, -EINVAL, "duplicate key '%s'", ks);
        }
        json_object_set_new(c->pos, p, json_integer(f->key_pos));
        return 0;
}

static bool expecting_key(conv *c)
{
        return c->depth > 0 && c->stack[c->depth - 1].is_map && !c->stack[c->depth - 1].key;
}

/* Path of the value about to be attached. */
static char *value_path(conv *c)
{
        if (c->depth == 0)
                return xstrdup("");
        return child_path(&c->stack[c->depth - 1]);
}

static void record_item_pos(conv *c, int line, int column)
{
        frame *f;
        if (c->depth == 0)
                return;
        f = &c->stack[c->depth - 1];
        if (!f->is_map) {
                _cleanup_free_ char *p = child_path(f);
                json_object_set_new(c->pos, p, json_integer(sf_yaml_pos_make(line, column)));
        }
}

static int on_collection_start(conv *c, struct fy_event *ev, bool is_map)
{
        struct fy_token *tag = is_map ? ev->mapping_start.tag : ev->sequence_start.tag;
        struct fy_token *anchor = is_map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
        _cleanup_free_ char *path = NULL;
        int line, column, r;
        frame *f;

        mark_of(ev, &line, &column);
        if (expecting_key(c)) {
                path = xstrdup(c->stack[c->depth - 1].path);
                return fail_at(c, line, column, path, -EINVAL,
                               "mapping keys must be strings, not %s",
                               is_map ? "a mapping" : "a sequence");
        }
        path = value_path(c);
        if (tag) {
                size_t tn;
                const char *t = tok_text(tag, &tn);
                const char *want = is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq";
                if (!(tn == 1 && t[0] == '!') && !(tn == strlen(want) && memcmp(t, want, tn) == 0)) {
                        tok_mark(tag, &line, &column);
                        return fail_at(c, line, column, path, -EINVAL, "unsupported tag '%.*s'",
                                       (int) MIN(tn, 64), t);
                }
        }
        if (c->depth >= SF_YAML_MAX_DEPTH)
                return fail_at(c, line, column, path, -EINVAL,
                               "nested more than %d levels deep", SF_YAML_MAX_DEPTH);
        r = count_nodes(c, 1, line, column, path);
        if (r < 0)
                return r;
        record_item_pos(c, line, column);
        f = &c->stack[c->depth++];
        *f = (frame) {
                .node = is_map ? json_object() : json_array(),
                .is_map = is_map,
                .path = TAKE_PTR(path),
                .anchor = tok_strdup(anchor),
                .nodes_at_start = c->nodes - 1,
                .merges = is_map ? json_array() : NULL,
        };
        if (!f->node || (is_map && !f->merges))
                sf_oom();
        return 0;
}

static int on_collection_end(conv *c, struct fy_event *ev)
{
        frame f;
        int line, column;
        size_t i;
        json_t *m, *node;

        mark_of(ev, &line, &column);
        f = c->stack[--c->depth];
        if (f.is_map) {
                /* Merged keys never override keys written in the mapping; earlier mappings in the
                 * merge list win over later ones. */
                json_array_foreach(f.merges, i, m) {
                        const char *k;
                        json_t *v;
                        json_object_foreach(m, k, v) {
                                _cleanup_free_ char *kp = NULL;
                                json_t *copy;
                                if (json_object_get(f.node, k))
                                        continue;
                                copy = json_deep_copy(v);
                                if (!copy)
                                        sf_oom();
                                json_object_set_new(f.node, k, copy);
                                kp = *f.path ? xasprintf("%s.%s", f.path, k) : xstrdup(k);
                                if (!json_object_get(c->pos, kp))
                                        json_object_set_new(c->pos, kp,
                                                            json_integer(sf_yaml_pos_make(line, column)));
                        }
                }
        }
        register_anchor(c, f.anchor, f.node, c->nodes - f.nodes_at_start);
        node = json_incref(f.node);
        frame_clear(&f);
        return attach(c, node, line, column);
}

static int on_scalar(conv *c, struct fy_event *ev)
{
        _cleanup_free_ char *path = NULL, *anchor = NULL;
        json_t *v = NULL;
        int line, column, r;

        mark_of(ev, &line, &column);
        anchor = tok_strdup(ev->scalar.anchor);
        if (expecting_key(c)) {
                frame *f = &c->stack[c->depth - 1];
                size_t n;
                const char *s = tok_text(ev->scalar.value, &n);
                bool plain = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
                bool merge = plain && !ev->scalar.tag && n == 2 && s && memcmp(s, "<<", 2) == 0;
                path = xstrdup(f->path);
                r = resolve_scalar(c, ev, path, &v);
                if (r < 0)
                        return r;
                r = count_nodes(c, 1, line, column, path);
                if (r >= 0)
                        r = take_key(c, f, v, merge, line, column);
                if (r >= 0)
                        register_anchor(c, anchor, v, 1);
                json_decref(v);
                return r;
        }
        path = value_path(c);
        r = resolve_scalar(c, ev, path, &v);
        if (r < 0)
                return r;
        r = count_nodes(c, 1, line, column, path);
        if (r < 0) {
                json_decref(v);
                return r;
        }
        record_item_pos(c, line, column);
        register_anchor(c, anchor, v, 1);
        return attach(c, v, line, column);
}

static int on_alias(conv *c, struct fy_event *ev)
{
        _cleanup_free_ char *name = tok_strdup(ev->alias.anchor);
        _cleanup_free_ char *path = NULL;
        json_t *a, *node, *copy;
        int line, column, r;
        size_t size;

        mark_of(ev, &line, &column);
        path = expecting_key(c) ? xstrdup(c->stack[c->depth - 1].path) : value_path(c);
        a = name ? json_object_get(c->anchors, name) : NULL;
        if (!a)
                return fail_at(c, line, column, path, -EINVAL,
                               "unknown anchor '%s' (an alias must follow its anchor's node)",
                               name ? name : "");
        node = json_array_get(a, 0);
        size = (size_t) json_integer_value(json_array_get(a, 1));
        r = count_nodes(c, size, line, column, path);
        if (r < 0)
                return r;
        if (expecting_key(c))
                return take_key(c, &c->stack[c->depth - 1], node, false, line, column);
        copy = json_deep_copy(node);
        if (!copy)
                sf_oom();
        record_item_pos(c, line, column);
        return attach(c, copy, line, column);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
        uint32_t cp;
        size_t len, i;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0)
                len = 2, cp = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, cp = s[0] & 0x0f;
        else if ((s[0] & 0xf8) == 0xf0)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

/* The input must be UTF-8 without NUL characters (libfyaml would stop at a NUL). */
static int check_input(conv *c, const char *yaml, size_t len)
{
        const unsigned char *s = (const unsigned char *) yaml;
        int line = 1, column = 1;
        size_t i = 0;

        while (i < len) {
                size_t n;
                if (s[i] == 0)
                        return fail_at(c, line, column, NULL, -EINVAL, "NUL character in the input");
                n = utf8_seq(s + i, len - i);
                if (n == 0)
                        return fail_at(c, line, column, NULL, -EINVAL, "the input is not valid UTF-8");
                if (s[i] == '\n') {
                        line++;
                        column = 1;
                } else
                        column++;
                i += n;
        }
        return 0;
}

static int parser_error(conv *c, struct fy_diag *diag)
{
        void *it = NULL;
        struct fy_diag_error *de;

        while ((de = fy_diag_errors_iterate(diag, &it))) {
                if (de->msg)
                        return fail_at(c, de->line, de->column, NULL, -EINVAL, "%s", de->msg);
        }
        return fail_at(c, 0, 0, NULL, -EINVAL, "invalid YAML");
}

int sf_yaml_to_json_pos(const char *yaml, size_t len, json_t **ret, json_t **ret_pos,
                        sf_yaml_diag *diag, sf_err *e)
{
        struct fy_diag_cfg dcfg;
        struct fy_diag *fdiag = NULL;
        struct fy_parser *fyp = NULL;
        struct fy_event *ev;
        struct fy_parse_cfg pcfg = { 0 };
        conv c = { .input = yaml, .diag = diag, .e = e };
        int documents = 0, r = 0;
        bool done = false;

        if (diag)
                sf_yaml_diag_clear(diag);
        if (len > SF_YAML_MAX_SIZE)
                return fail_at(&c, 0, 0, NULL, -E2BIG, "input is %zu bytes, more than the %zu MiB limit",
                               len, SF_YAML_MAX_SIZE >> 20);

        r = check_input(&c, yaml, len);
        if (r < 0)
                return r;

        fy_diag_cfg_default(&dcfg);
        dcfg.fp = NULL;
        dcfg.colorize = false;
        dcfg.level = FYET_ERROR;
        fdiag = fy_diag_create(&dcfg);
        if (!fdiag)
                sf_oom();
        fy_diag_set_collect_errors(fdiag, true);
        pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE;
        pcfg.diag = fdiag;
        fyp = fy_parser_create(&pcfg);
        if (!fyp)
                sf_oom();
        if (fy_parser_set_string(fyp, len ? yaml : "", len) < 0) {
                r = fail_at(&c, 0, 0, NULL, -EINVAL, "cannot read input");
                goto out;
        }

        c.stack = new0(frame, SF_YAML_MAX_DEPTH + 1);
        c.pos = json_object();
        c.anchors = json_object();
        if (!c.pos || !c.anchors)
                sf_oom();

        while (!done && (ev = fy_parser_parse(fyp))) {
                int line, column;
                switch (ev->type) {
                case FYET_DOCUMENT_START:
                        if (++documents > 1) {
                                mark_of(ev, &line, &column);
                                r = fail_at(&c, line, column, NULL, -EINVAL,
                                            "more than one YAML document (a second one starts here)");
                        }
                        break;
                case FYET_MAPPING_START:
                        r = on_collection_start(&c, ev, true);
                        break;
                case FYET_SEQUENCE_START:
                        r = on_collection_start(&c, ev, false);
                        break;
                case FYET_MAPPING_END:
                case FYET_SEQUENCE_END:
                        r = on_collection_end(&c, ev);
                        break;
                case FYET_SCALAR:
                        r = on_scalar(&c, ev);
                        break;
                case FYET_ALIAS:
                        r = on_alias(&c, ev);
                        break;
                case FYET_STREAM_END:
                        done = true;
                        break;
                default:
                        break;
                }
                fy_parser_event_free(fyp, ev);
                if (r < 0)
                        goto out;
        }
        if (fy_parser_get_stream_error(fyp) || !done) {
                r = parser_error(&c, fdiag);
                goto out;
        }
        if (!c.have_root) {
                r = fail_at(&c, 0, 0, NULL, -EINVAL, "empty input: no YAML document");
                goto out;
        }
        *ret = TAKE_PTR(c.root);
        if (ret_pos)
                *ret_pos = TAKE_PTR(c.pos);
        r = 0;
out:
        while (c.depth > 0)
                frame_clear(&c.stack[--c.depth]);
        free(c.stack);
        json_decref(c.root);
        json_decref(c.pos);
        json_decref(c.anchors);
        fy_parser_destroy(fyp);
        fy_diag_destroy(fdiag);
        return r;
}

int sf_yaml_to_json(const char *yaml, size_t len, json_t **ret, sf_err *e)
{
        return sf_yaml_to_json_pos(yaml, len, ret, NULL, NULL, e);
}
