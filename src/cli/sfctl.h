/* sfctl internals: the client context, argument parsing, output, exit codes, and the command
 * tables each resource file provides. */
#pragma once

#include "lib/httpc.h"
#include "lib/json.h"

/* Exit codes: distinct for scripts. */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,      /* the request was refused as invalid (4xx other than below) */
        EXIT_USAGE = 2,     /* bad command line */
        EXIT_NOTFOUND = 3,  /* 404 */
        EXIT_CONFLICT = 4,  /* 409, 412 */
        EXIT_SERVER = 5,    /* 5xx */
        EXIT_UNREACHABLE = 6, /* cannot talk to sfd */
};

struct sfctl {
        sf_httpc *http;
        const char *endpoint;
        bool json;  /* -o json */
        bool quiet; /* -q: ids only */
};

/* ---- arguments ---- */
struct opt {
        const char *name;    /* long name without dashes; NULL ends a table */
        const char *metavar; /* NULL: a flag without value */
        const char *help;
        bool repeat;         /* may be given several times */
};

struct args {
        const struct opt *opts;
        char **keys;   /* parallel arrays of the options seen */
        char **values;
        size_t n;
        char **pos;    /* positionals */
        size_t n_pos;
        char **rest;   /* after "--" */
        size_t n_rest;
};

int args_parse(int argc, char **argv, const struct opt *opts, struct args *ret, const char *cmd);
void args_free(struct args *a);
const char *args_get(const struct args *a, const char *name);
bool args_has(const struct args *a, const char *name);
/* Values of a repeatable option, in order; returns their number. */
size_t args_all(const struct args *a, const char *name, const char ***ret);
void print_opts(FILE *f, const struct opt *opts);

/* ---- output ---- */
struct col {
        const char *header;
        const char *path;     /* "name", "capacity.cpu_millis", "fixed_ips[].ip_address" */
        const char *ref;      /* show the name of this kind (plural) instead of the id */
};
void out_table(struct sfctl *c, json_t *items, const struct col *cols);
void out_object(struct sfctl *c, json_t *obj);
/* Value at a path, rendered as text ("" when absent); malloc'd. */
char *json_path_text(json_t *obj, const char *path);

/* ---- errors ---- */
int fail(const sf_err *e); /* prints "sfctl: message (field: f)" and returns the exit code */
int usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);

/* ---- commands ---- */
struct verb {
        const char *name;
        const char *usage;   /* after "sfctl RESOURCE VERB" */
        const char *summary;
        const struct opt *opts;
        int (*run)(struct sfctl *c, const struct verb *v, struct args *a);
        const void *data;    /* the resource descriptor for generic verbs */
};

struct resource {
        const char *name;    /* "network" */
        const char *summary;
        const struct verb *verbs; /* ends with { NULL } */
};

/* Generic verbs over /v1/<plural>: data points to a struct crud. */
struct crud {
        const char *kind;
        const char *plural;
        const struct col *cols;
        /* Fill the body for create/update from the arguments. */
        int (*create_body)(struct sfctl *c, struct args *a, json_t *body, sf_err *e);
        int (*update_body)(struct sfctl *c, struct args *a, json_t *body, sf_err *e);
        /* Query string for list from the arguments ("" or "network=x&..."); malloc'd. */
        char *(*list_query)(struct args *a);
};
int crud_create(struct sfctl *c, const struct verb *v, struct args *a);
int crud_list(struct sfctl *c, const struct verb *v, struct args *a);
int crud_show(struct sfctl *c, const struct verb *v, struct args *a);
int crud_update(struct sfctl *c, const struct verb *v, struct args *a);
int crud_delete(struct sfctl *c, const struct verb *v, struct args *a);
extern const struct opt crud_ref_opts[];     /* show: NAME */
extern const struct opt crud_delete_opts[];  /* delete: NAME... [--force] */
/* "key=value&..." for the given option names that were set; malloc'd. */
char *query_from(struct args *a, const char *const *names);

/* Sets body[key] from option name when given: as string, or integer when integer is true. */
int body_str(struct args *a, const char *opt, json_t *body, const char *key);
int body_int(struct args *a, const char *opt, json_t *body, const char *key, sf_err *e);
int body_labels(struct args *a, json_t *body, sf_err *e);

extern const struct resource res_service, res_move, res_moves;
extern const struct resource res_site, res_node, res_network, res_subnet, res_port, res_events,
        res_run, res_ps, res_logs, res_exec, res_stop, res_start, res_rm, res_container, res_image,
        res_router, res_pool, res_trunk;
extern const struct resource res_lab;
extern const struct resource res_vnfd, res_nsd, res_ns; /* cmd-ns.c */
/* Follows an NS operation occurrence until it ends, printing its steps; the exit code. */
int ns_follow(struct sfctl *c, json_t *op, int timeout_s);
extern const struct resource res_vm, res_console;

/* cmd-vm.c: the VM parts of sfctl run --vm. */
int vm_run_body(struct args *a, json_t *body, sf_err *e);
int vm_run_wait(struct sfctl *c, const char *ref, const char *since, int timeout_s, json_t **ret,
                sf_err *e);
void vm_print_run(struct sfctl *c, json_t *o);
