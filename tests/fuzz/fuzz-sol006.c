/* libFuzzer target for the SOL006 descriptor layer (src/nfvo): the input is parsed as a VNFD or
 * NSD YAML document by sf_desc_parse (YAML to JSON, validation, model), with a lookup that knows
 * one onboarded VNFD so that NSD references are followed too; an input that starts like a gzip
 * stream (1f 8b) is loaded as an OSM package by sf_desc_load_package_mem instead.
 * Besides "no crash, no leak", it checks the contract: a failure has a code, a message and a
 * non-empty error list whose entries have a path and a message; a success has a model of the
 * right kind whose ignored list is the descriptor's. */
#include "nfvo/descriptor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char onboarded_yaml[] =
        "vnfd:\n"
        "  id: demo-client-vnf\n"
        "  vdu:\n"
        "  - id: client\n"
        "    sw-image-desc: busybox\n"
        "    int-cpd:\n"
        "    - id: eth0-int\n"
        "  sw-image-desc:\n"
        "  - id: busybox\n"
        "    image: busybox\n"
        "    container-format: docker\n"
        "  ext-cpd:\n"
        "  - id: access-ext\n"
        "    int-cpd:\n"
        "      vdu-id: client\n"
        "      cpd: eth0-int\n"
        "  df:\n"
        "  - id: default-df\n"
        "    vdu-profile:\n"
        "    - id: client\n"
        "    instantiation-level:\n"
        "    - id: default\n"
        "      vdu-level:\n"
        "      - vdu-id: client\n";

static sf_desc *onboarded;

static const json_t *lookup(const char *id, void *userdata)
{
        return onboarded && STREQ(id, onboarded->id) ? onboarded->model : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        sf_err e = SF_ERR_INIT;
        if (sf_desc_parse(onboarded_yaml, sizeof(onboarded_yaml) - 1, NULL, &onboarded, NULL, &e) < 0) {
                fprintf(stderr, "fuzz-sol006: the onboarded VNFD does not parse: %s\n", sf_err_msg(&e));
                abort();
        }
        return 0;
}

static void check_failure(int r, const sf_err *e, const json_t *errors)
{
        size_t i;
        json_t *x;

        if (r >= 0 || e->code != r || !e->msg)
                abort();
        if (!json_is_array(errors) || json_array_size(errors) == 0)
                abort();
        json_array_foreach(errors, i, x)
                if (!json_is_string(json_object_get(x, "path")) ||
                    !json_is_string(json_object_get(x, "message")))
                        abort();
        free(sf_desc_errors_format(errors));
}

static void check_desc(const sf_desc *d)
{
        const char *kind = json_string_value(json_object_get(d->model, "kind"));
        char *s;

        if (!kind || STRNEQ(kind, sf_desc_kind_name(d->kind)) || !d->id ||
            json_object_get(d->model, "ignored") != d->ignored || !json_is_array(d->ignored))
                abort();
        s = json_dumps(d->model, JSON_COMPACT);
        if (!s)
                abort();
        free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        sf_desc_opts opts = { .vnfd_lookup = lookup };
        sf_err e = SF_ERR_INIT;
        json_t *errors = NULL;
        int r;

        if (!onboarded)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
                sf_desc_pkg *p = NULL;
                r = sf_desc_load_package_mem(data, size, &opts, &p, &errors, &e);
                if (r >= 0) {
                        if (!p || !p->desc || !json_is_object(p->files) || !p->descriptor)
                                abort();
                        check_desc(p->desc);
                        sf_desc_pkg_free(p);
                } else
                        check_failure(r, &e, errors);
        } else {
                sf_desc *d = NULL;
                r = sf_desc_parse((const char *) data, size, &opts, &d, &errors, &e);
                if (r >= 0) {
                        if (!d || errors)
                                abort();
                        check_desc(d);
                        sf_desc_free(d);
                } else
                        check_failure(r, &e, errors);
        }
        json_decref(errors);
        sf_err_clear(&e);
        return 0;
}
