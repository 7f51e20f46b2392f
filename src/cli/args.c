/* Command-line parsing for sfctl verbs: --name VALUE, --name=VALUE, flags, positionals and
 * everything after "--". */
#include "cli/sfctl.h"

static const struct opt *find(const struct opt *opts, const char *name)
{
        for (const struct opt *o = opts; o && o->name; o++)
                if (STREQ(o->name, name))
                        return o;
        return NULL;
}

int args_parse(int argc, char **argv, const struct opt *opts, struct args *ret, const char *cmd)
{
        struct args a = { .opts = opts };
        int i;

        for (i = 0; i < argc; i++) {
                const char *s = argv[i];
                const struct opt *o;
                _cleanup_free_ char *name = NULL;
                const char *val = NULL, *eq;

                if (STREQ(s, "--")) {
                        a.rest = argv + i + 1;
                        a.n_rest = argc - i - 1;
                        break;
                }
                if (strncmp(s, "--", 2) != 0 || s[2] == 0) {
                        if (s[0] == '-' && s[1] && s[1] != '-' && !(s[1] >= '0' && s[1] <= '9')) {
                                args_free(&a);
                                return usage_error(cmd, "unknown option '%s'", s);
                        }
                        a.pos = xrealloc(a.pos, sizeof(char *) * (a.n_pos + 1));
                        a.pos[a.n_pos++] = argv[i];
                        continue;
                }
                eq = strchr(s + 2, '=');
                name = eq ? strndup(s + 2, eq - s - 2) : xstrdup(s + 2);
                if (!name)
                        sf_oom();
                o = find(opts, name);
                if (!o) {
                        args_free(&a);
                        return usage_error(cmd, "unknown option '--%s'", name);
                }
                if (o->metavar) {
                        if (eq)
                                val = eq + 1;
                        else if (i + 1 < argc)
                                val = argv[++i];
                        else {
                                args_free(&a);
                                return usage_error(cmd, "option '--%s' needs a value (%s)", name,
                                                   o->metavar);
                        }
                } else if (eq) {
                        args_free(&a);
                        return usage_error(cmd, "option '--%s' takes no value", name);
                }
                if (!o->repeat)
                        for (size_t k = 0; k < a.n; k++)
                                if (STREQ(a.keys[k], name)) {
                                        args_free(&a);
                                        return usage_error(cmd, "option '--%s' given twice", name);
                                }
                a.keys = xrealloc(a.keys, sizeof(char *) * (a.n + 1));
                a.values = xrealloc(a.values, sizeof(char *) * (a.n + 1));
                a.keys[a.n] = TAKE_PTR(name);
                a.values[a.n] = xstrdup(val ? val : "");
                a.n++;
        }
        *ret = a;
        return 0;
}

void args_free(struct args *a)
{
        for (size_t i = 0; i < a->n; i++) {
                free(a->keys[i]);
                free(a->values[i]);
        }
        free(a->keys);
        free(a->values);
        free(a->pos);
        memset(a, 0, sizeof(*a));
}

const char *args_get(const struct args *a, const char *name)
{
        for (size_t i = a->n; i-- > 0;)
                if (STREQ(a->keys[i], name))
                        return a->values[i];
        return NULL;
}

bool args_has(const struct args *a, const char *name) { return args_get(a, name) != NULL; }

size_t args_all(const struct args *a, const char *name, const char ***ret)
{
        size_t n = 0;
        const char **v = NULL;
        for (size_t i = 0; i < a->n; i++)
                if (STREQ(a->keys[i], name)) {
                        v = xrealloc(v, sizeof(char *) * (n + 1));
                        v[n++] = a->values[i];
                }
        *ret = v;
        return n;
}

void print_opts(FILE *f, const struct opt *opts)
{
        for (const struct opt *o = opts; o && o->name; o++) {
                _cleanup_free_ char *left = o->metavar ? xasprintf("--%s %s", o->name, o->metavar)
                                                       : xasprintf("--%s", o->name);
                fprintf(f, "  %-26s %s%s\n", left, o->help, o->repeat ? " (repeatable)" : "");
        }
}
