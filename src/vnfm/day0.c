/* Day-0 templates: the {{placeholder}} syntax of cloud-init content and day-0 files, resolved
 * against a flat context of keys (ns.name, vnf.<member>.<cpd>.ip, ...) built by the caller. */
#include "lib/util.h"
#include "vnfm/vnfm.h"

/* Walks tmpl; for each placeholder calls fn with the trimmed key (NUL-terminated copy) and its
 * line; literal text goes to out (when not NULL). */
static int walk(const char *tmpl, FILE *out, int (*fn)(void *u, const char *key, unsigned line, FILE *out, sf_err *e),
                void *u, sf_err *e)
{
        unsigned line = 1;
        const char *p = tmpl;

        while (*p) {
                if (p[0] == '\\' && p[1] == '{' && p[2] == '{') {
                        if (out)
                                fputs("{{", out);
                        p += 3;
                        continue;
                }
                if (p[0] == '{' && p[1] == '{') {
                        const char *start = p + 2, *end = strstr(start, "}}"), *a, *b;
                        _cleanup_free_ char *key = NULL;
                        int r;
                        if (!end || memchr(start, '\n', end - start))
                                return sf_err_set(e, -EINVAL, NULL, "line %u: '{{' without '}}' on the same line",
                                                  line);
                        for (a = start; a < end && (*a == ' ' || *a == '\t'); a++)
                                ;
                        for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
                                ;
                        key = strndup(a, b - a);
                        if (!key)
                                sf_oom();
                        if (!*key)
                                return sf_err_set(e, -EINVAL, NULL, "line %u: empty placeholder '{{}}'", line);
                        for (const char *c = key; *c; c++)
                                if (*c == ' ' || *c == '{' || *c == '}' || *c == '\t')
                                        return sf_err_set(e, -EINVAL, NULL,
                                                          "line %u: '{{%s}}' is not a placeholder (keys have no spaces or braces)",
                                                          line, key);
                        r = fn(u, key, line, out, e);
                        if (r < 0)
                                return r;
                        p = end + 2;
                        continue;
                }
                if (*p == '\n')
                        line++;
                if (out)
                        fputc(*p, out);
                p++;
        }
        return 0;
}

/* Known keys starting with the first plen characters of key, at most 6, comma-separated. */
static char *keys_with_prefix(const json_t *ctx, const char *key, size_t plen)
{
        char *out = xstrdup("");
        const char *k;
        json_t *v;
        unsigned n = 0;
        json_object_foreach((json_t *) ctx, k, v) {
                char *x;
                if (strncmp(k, key, plen) != 0 || n == 6)
                        continue;
                x = xasprintf("%s%s%s", out, n ? ", " : "", k);
                free(out);
                out = x;
                n++;
        }
        return out;
}

/* A hint for an unknown key: known keys sharing its first two segments, else its first. */
static char *hint(const json_t *ctx, const char *key)
{
        const char *d1 = strchr(key, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        if (d2) {
                char *h = keys_with_prefix(ctx, key, d2 - key + 1);
                if (*h)
                        return h;
                free(h);
        }
        return d1 ? keys_with_prefix(ctx, key, d1 - key + 1) : xstrdup("");
}

static int resolve(void *u, const char *key, unsigned line, FILE *out, sf_err *e)
{
        const json_t *ctx = u;
        json_t *v = json_object_get(ctx, key);
        if (!json_is_string(v)) {
                _cleanup_free_ char *h = hint(ctx, key);
                return sf_err_set(e, -EINVAL, NULL, "line %u: unknown placeholder '{{%s}}'%s%s%s", line, key,
                                  *h ? " (known: " : "", h, *h ? ")" : "");
        }
        fputs(json_string_value(v), out);
        return 0;
}

int sf_day0_render(const char *tmpl, const json_t *ctx, char **ret, sf_err *e)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int r;
        if (!f)
                sf_oom();
        r = walk(tmpl, f, resolve, (void *) ctx, e);
        fclose(f);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

static int collect(void *u, const char *key, unsigned line, FILE *out, sf_err *e)
{
        json_object_set_new(u, key, json_true());
        return 0;
}

int sf_day0_refs(const char *tmpl, json_t *keys, sf_err *e)
{
        return walk(tmpl, NULL, collect, keys, e);
}
