/* sfctl output: aligned tables (ids shown as names where a column says so), key/value views
 * and JSON; error reporting and exit codes. */
#include "cli/sfctl.h"

static char *scalar_text(json_t *v)
{
        if (!v || json_is_null(v))
                return xstrdup("");
        if (json_is_string(v))
                return xstrdup(json_string_value(v));
        if (json_is_integer(v))
                return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (json_is_real(v))
                return xasprintf("%g", json_real_value(v));
        if (json_is_true(v))
                return xstrdup("true");
        if (json_is_false(v))
                return xstrdup("false");
        return sf_json_dumps(v);
}

/* path: segments separated by '.'; a segment ending in "[]" maps over an array. */
static void collect(json_t *v, const char *path, char **out)
{
        const char *dot;
        _cleanup_free_ char *seg = NULL;
        size_t n;

        if (!v)
                return;
        if (!*path) {
                _cleanup_free_ char *t = scalar_text(v);
                char *j = xasprintf("%s%s%s", *out, **out && *t ? "," : "", t);
                free(*out);
                *out = j;
                return;
        }
        dot = strchr(path, '.');
        seg = dot ? strndup(path, dot - path) : xstrdup(path);
        if (!seg)
                sf_oom();
        n = strlen(seg);
        if (n > 2 && STREQ(seg + n - 2, "[]")) {
                json_t *arr, *x;
                size_t i;
                seg[n - 2] = 0;
                arr = json_object_get(v, seg);
                json_array_foreach(arr, i, x)
                        collect(x, dot ? dot + 1 : "", out);
                return;
        }
        collect(json_object_get(v, seg), dot ? dot + 1 : "", out);
}

char *json_path_text(json_t *obj, const char *path)
{
        char *out = xstrdup("");
        collect(obj, path, &out);
        return out;
}

static json_t *ref_map(struct sfctl *c, const char *plural)
{
        _cleanup_free_ char *path = xasprintf("/v1/%s", plural);
        json_auto_t *list = NULL;
        json_t *map = json_object(), *o;
        size_t i;
        if (sf_httpc_call(c->http, "GET", path, NULL, &list, NULL) < 0)
                return map;
        json_array_foreach(json_object_get(list, "items"), i, o)
                json_object_set(map, json_string_value(json_object_get(o, "id")),
                                json_object_get(o, "name"));
        return map;
}

void out_table(struct sfctl *c, json_t *items, const struct col *cols)
{
        size_t ncols = 0, nrows = json_array_size(items), *w;
        json_t *maps[16] = { 0 };
        char ***cells;

        if (c->json) {
                char *s = json_dumps(items, JSON_INDENT(2));
                puts(s);
                free(s);
                return;
        }
        if (c->quiet) {
                json_t *o;
                size_t i;
                json_array_foreach(items, i, o)
                        puts(json_string_value(json_object_get(o, "name")) ?: "");
                return;
        }
        while (cols[ncols].header)
                ncols++;
        w = new0(size_t, ncols);
        cells = new0(char **, nrows);
        for (size_t j = 0; j < ncols; j++) {
                w[j] = strlen(cols[j].header);
                if (cols[j].ref && j < ELEMENTSOF(maps))
                        maps[j] = ref_map(c, cols[j].ref);
        }
        for (size_t i = 0; i < nrows; i++) {
                json_t *o = json_array_get(items, i);
                cells[i] = new0(char *, ncols);
                for (size_t j = 0; j < ncols; j++) {
                        char *t = json_path_text(o, cols[j].path);
                        if (maps[j] && json_object_get(maps[j], t)) {
                                char *n = xstrdup(json_string_value(json_object_get(maps[j], t)));
                                free(t);
                                t = n;
                        }
                        cells[i][j] = t;
                        w[j] = MAX(w[j], strlen(t));
                }
        }
        for (size_t j = 0; j < ncols; j++)
                printf("%-*s%s", j + 1 < ncols ? (int) w[j] : 0, cols[j].header,
                       j + 1 < ncols ? "  " : "\n");
        for (size_t i = 0; i < nrows; i++) {
                for (size_t j = 0; j < ncols; j++) {
                        printf("%-*s%s", j + 1 < ncols ? (int) w[j] : 0, cells[i][j],
                               j + 1 < ncols ? "  " : "\n");
                        free(cells[i][j]);
                }
                free(cells[i]);
        }
        for (size_t j = 0; j < ELEMENTSOF(maps); j++)
                if (maps[j])
                        json_decref(maps[j]);
        free(cells);
        free(w);
}

static void print_value(const char *key, json_t *v, int indent)
{
        const char *k;
        json_t *x;
        size_t i;
        if (json_is_object(v)) {
                printf("%*s%s:%s\n", indent, "", key, json_object_size(v) ? "" : " {}");
                json_object_foreach(v, k, x)
                        print_value(k, x, indent + 2);
        } else if (json_is_array(v)) {
                bool scalars = true;
                json_array_foreach(v, i, x)
                        scalars &= !json_is_object(x) && !json_is_array(x);
                if (scalars) {
                        _cleanup_free_ char *joined = xstrdup("");
                        json_array_foreach(v, i, x) {
                                _cleanup_free_ char *t = scalar_text(x);
                                char *n = xasprintf("%s%s%s", joined, i ? ", " : "", t);
                                free(joined);
                                joined = n;
                        }
                        printf("%*s%s: %s\n", indent, "", key, json_array_size(v) ? joined : "[]");
                } else {
                        printf("%*s%s:\n", indent, "", key);
                        json_array_foreach(v, i, x) {
                                _cleanup_free_ char *idx = xasprintf("[%zu]", i);
                                print_value(idx, x, indent + 2);
                        }
                }
        } else {
                _cleanup_free_ char *t = scalar_text(v);
                printf("%*s%s: %s\n", indent, "", key, t);
        }
}

void out_object(struct sfctl *c, json_t *obj)
{
        const char *k;
        json_t *v;
        if (c->json) {
                char *s = json_dumps(obj, JSON_INDENT(2));
                puts(s);
                free(s);
                return;
        }
        if (c->quiet) {
                puts(json_string_value(json_object_get(obj, "id")) ?: "");
                return;
        }
        json_object_foreach(obj, k, v)
                print_value(k, v, 0);
}

int fail(const sf_err *e)
{
        int code = e->code;
        if (e->field)
                fprintf(stderr, "sfctl: %s: %s\n", e->field, sf_err_msg(e));
        else
                fprintf(stderr, "sfctl: %s\n", sf_err_msg(e));
        switch (code) {
        case -ENOENT:
                return EXIT_NOTFOUND;
        case -EEXIST:
        case -EBUSY:
        case -ENOSPC:
        case -ESTALE:
                return EXIT_CONFLICT;
        case -ECONNREFUSED:
        case -EHOSTUNREACH:
                return EXIT_UNREACHABLE;
        case -EIO:
        case -EAGAIN:
        case -ETIMEDOUT:
        case -EOPNOTSUPP:
                return EXIT_SERVER;
        default:
                return EXIT_FAIL;
        }
}

int usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "sfctl: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'sfctl %s --help'.\n", cmd);
        return -EXIT_USAGE;
}
