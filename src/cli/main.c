/* sfctl: the Superfluid command-line client. It only talks to sfd's REST API. */
#include "sf-config.h"
#include "cli/sfctl.h"

static const struct resource *const resources[] = {
        &res_run,   &res_ps,        &res_logs,  &res_exec,  &res_stop,    &res_start,
        &res_rm,    &res_container, &res_image, &res_network, &res_subnet, &res_port,
        &res_router, &res_service, &res_move, &res_moves, &res_pool, &res_trunk, &res_site,     &res_node,  &res_events,  &res_lab, &res_vm, &res_console,
        &res_vnfd,  &res_nsd,       &res_ns,    NULL,
};

static void main_usage(FILE *f)
{
        fprintf(f,
                "Usage: sfctl [GLOBAL OPTIONS] RESOURCE VERB [ARGS...]\n"
                "\n"
                "Command-line client of Superfluid, the network-function orchestrator.\n"
                "\n"
                "Resources:\n");
        for (const struct resource *const *r = resources; *r; r++)
                fprintf(f, "  %-10s %s\n", (*r)->name, (*r)->summary);
        fprintf(f,
                "\n"
                "Global options:\n"
                "  --endpoint URL   sfd API (default: $SUPERFLUID_ENDPOINT or http://127.0.0.1:7480)\n"
                "  -o, --output FMT table (default) or json\n"
                "  -q, --quiet      print only names or ids\n"
                "  -h, --help       this help; 'sfctl RESOURCE --help' lists its verbs\n"
                "  --version        print the version\n"
                "\n"
                "Exit codes: 0 ok, 1 request refused, 2 usage, 3 not found, 4 conflict,\n"
                "            5 server error, 6 sfd unreachable.\n"
                "\n"
                "Examples:\n"
                "  sfctl network create net1 --cidr 10.1.0.0/24\n"
                "  sfctl run --name web --network net1 busybox -- httpd -f -p 80\n"
                "  sfctl exec web -- ip addr\n"
                "  sfctl port create --network net1\n"
                "  sfctl port list --network net1 -o json\n");
}

static void resource_usage(FILE *f, const struct resource *r)
{
        fprintf(f, "Usage: sfctl %s VERB [ARGS...]\n\n%s.\n\nVerbs:\n", r->name, r->summary);
        for (const struct verb *v = r->verbs; v->name; v++)
                fprintf(f, "  %-8s %s\n", v->name, v->summary);
        fprintf(f, "\nTry 'sfctl %s VERB --help'.\n", r->name);
}

static void verb_usage(FILE *f, const struct resource *r, const struct verb *v)
{
        if (STREQ(r->name, v->name))
                fprintf(f, "Usage: sfctl %s %s\n\n%s.\n", r->name, v->usage, v->summary);
        else
                fprintf(f, "Usage: sfctl %s %s %s\n\n%s.\n", r->name, v->name, v->usage, v->summary);
        if (v->opts && v->opts->name) {
                fprintf(f, "\nOptions:\n");
                print_opts(f, v->opts);
        }
}

static bool want_help(int argc, char **argv)
{
        for (int i = 0; i < argc; i++) {
                if (STREQ(argv[i], "--"))
                        return false;
                if (STREQ(argv[i], "--help") || STREQ(argv[i], "-h"))
                        return true;
        }
        return false;
}

/* Takes a global option at argv[*i] (advancing *i over its value). Returns 1 when it was one,
 * 0 when not, or a negative value after printing a usage error. */
static int global_opt(struct sfctl *c, int argc, char **argv, int *i)
{
        const char *o = argv[*i];
        if (STREQ(o, "-q") || STREQ(o, "--quiet")) {
                c->quiet = true;
                return 1;
        }
        if (STREQ(o, "-o") || STREQ(o, "--output") || strncmp(o, "--output=", 9) == 0 ||
            STREQ(o, "--endpoint") || strncmp(o, "--endpoint=", 11) == 0) {
                bool is_ep = strncmp(o, "--endpoint", 10) == 0;
                const char *eq = strchr(o, '=');
                const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
                if (!v) {
                        fprintf(stderr, "sfctl: %s needs a value\n", o);
                        return -1;
                }
                if (is_ep)
                        c->endpoint = v;
                else if (STREQ(v, "json"))
                        c->json = true;
                else if (STREQ(v, "table"))
                        c->json = false;
                else {
                        fprintf(stderr, "sfctl: -o: '%s' is not table or json\n", v);
                        return -1;
                }
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct sfctl c = { .endpoint = getenv("SUPERFLUID_ENDPOINT") };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const struct resource *res = NULL;
        const struct verb *verb = NULL;
        struct args a = { 0 };
        char **rest = NULL; /* argv without global options; a.rest points into it */
        int i = 1, rc;

        /* Global options come before the resource. */
        for (; i < argc && argv[i][0] == '-'; i++) {
                const char *o = argv[i];
                if (STREQ(o, "-h") || STREQ(o, "--help")) {
                        main_usage(stdout);
                        return EXIT_OK;
                } else if (STREQ(o, "--version")) {
                        printf("sfctl %s\n", SF_VERSION);
                        return EXIT_OK;
                } else {
                        int g = global_opt(&c, argc, argv, &i);
                        if (g < 0)
                                return EXIT_USAGE;
                        if (g > 0)
                                continue;
                        fprintf(stderr, "sfctl: unknown global option '%s'. Try 'sfctl --help'.\n", o);
                        return EXIT_USAGE;
                }
        }
        if (i >= argc) {
                main_usage(stderr);
                return EXIT_USAGE;
        }
        for (const struct resource *const *r = resources; *r; r++)
                if (STREQ((*r)->name, argv[i]) ||
                    (strlen(argv[i]) == strlen((*r)->name) + 1 && argv[i][strlen(argv[i]) - 1] == 's' &&
                     strncmp(argv[i], (*r)->name, strlen((*r)->name)) == 0))
                        res = *r;
        if (!res) {
                fprintf(stderr, "sfctl: unknown resource '%s'. Try 'sfctl --help'.\n", argv[i]);
                return EXIT_USAGE;
        }
        i++;
        if (i >= argc || STREQ(argv[i], "--help") || STREQ(argv[i], "-h")) {
                /* A resource with a single verb runs it without naming it. */
                if (res->verbs[0].name && !res->verbs[1].name) {
                        if (i < argc) {
                                verb_usage(stdout, res, &res->verbs[0]);
                                return EXIT_OK;
                        }
                        verb = &res->verbs[0];
                } else {
                        resource_usage(i >= argc ? stderr : stdout, res);
                        return i >= argc ? EXIT_USAGE : EXIT_OK;
                }
        } else {
                for (const struct verb *v = res->verbs; v->name; v++)
                        if (STREQ(v->name, argv[i]) && !STREQ(v->name, res->name))
                                verb = v;
                /* A resource with a single verb is the verb: "sfctl logs web". */
                if (!verb && !res->verbs[1].name)
                        verb = &res->verbs[0];
                else if (!verb) {
                        fprintf(stderr, "sfctl: %s has no verb '%s'. Try 'sfctl %s --help'.\n",
                                res->name, argv[i], res->name);
                        return EXIT_USAGE;
                } else
                        i++;
        }
        if (want_help(argc - i, argv + i)) {
                verb_usage(stdout, res, verb);
                return EXIT_OK;
        }
        {
                /* Global options may also follow the verb (before any "--"). */
                int n = 0, j;
                rest = new0(char *, argc - i + 1);
                for (j = i; j < argc && !STREQ(argv[j], "--"); j++) {
                        int g = global_opt(&c, argc, argv, &j);
                                if (g < 0) {
                                free(rest);
                                return EXIT_USAGE;
                        }
                        if (g == 0)
                                rest[n++] = argv[j];
                }
                for (; j < argc; j++)
                        rest[n++] = argv[j];
                rc = args_parse(n, rest, verb->opts, &a, res->name);
                if (rc < 0) {
                        free(rest);
                        return EXIT_USAGE;
                }
        }

        sf_httpc_global_init();
        if (sf_httpc_new(c.endpoint ? c.endpoint : "http://127.0.0.1:7480", &c.http, &e) < 0) {
                args_free(&a);
                free(rest);
                return fail(&e);
        }
        rc = verb->run(&c, verb, &a);
        args_free(&a);
        free(rest);
        sf_httpc_free(c.http);
        return rc;
}
