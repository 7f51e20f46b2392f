/* libFuzzer target for the JSON request path of the API: sf_json_parse (as the API parses a
 * body) and then the validators of every VIM kind, create or update, inside a write
 * transaction that is always aborted, on a store in a temporary directory that holds one
 * committed object of each kind to update and refer to.
 *
 * Input: byte 0 picks the operation, the rest is the request body.
 *   byte0 % 14 = 0..6:  create a network, subnet, port, node, site, router, container
 *   byte0 % 14 = 7..13: update (merge patch) the fixture object of that kind
 * The fixtures: site 'site1', node 'node1' (Ready, in site1), network 'net1' (VNI 4242) with
 * subnets 'sub4' (10.0.0.0/24) and 'sub6' (fd00::/64), port 'port1' (10.0.0.10), router
 * 'rtr1' and container 'ctr1' on net1, placed on node1. Nothing must crash or leak, a failure
 * must carry its code and a message, and a success must return the object (which is then
 * decorated, as a GET would). SF_FUZZ_VERBOSE=1 prints each outcome. */
#include <ftw.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const kinds[] = { "network", "subnet", "port", "node", "site", "router",
                                     "container" };
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
static const char *const fixture_names[N_KINDS] = { "net1", "sub4", "port1", "node1", "site1",
                                                    "rtr1", "ctr1" };

static struct {
        char dir[64];
        sf_store *store;
        sf_vim *vim;
        struct sf_kind *kind[N_KINDS];
        bool verbose; /* SF_FUZZ_VERBOSE=1: print each outcome, to check what seeds reach */
} F;

static void die(const char *what, const sf_err *e)
{
        fprintf(stderr, "fuzz-api-json setup: %s: %s\n", what, sf_err_msg(e));
        abort();
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(p);
}

static void cleanup(void)
{
        sf_vim_free(F.vim);
        sf_store_free(F.store);
        nftw(F.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void fixture(const char *kind, const char *json)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *in = NULL, *out = NULL;
        struct sf_kind *k = NULL;
        sf_tx *tx = NULL;
        for (size_t i = 0; i < N_KINDS; i++)
                if (STREQ(kinds[i], kind))
                        k = F.kind[i];
        if (!k)
                return; /* a kind this build does not have */
        if (sf_json_parse(json, strlen(json), &in, &e) < 0)
                die(json, &e);
        if (sf_tx_begin(F.store, &tx, &e) < 0)
                die("begin", &e);
        if (k->create(k->ctx, tx, in, &out, &e) < 0) {
                sf_tx_abort(tx);
                die(json, &e);
        }
        if (sf_tx_commit(tx, &e) < 0)
                die("commit", &e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        const char *tmp = getenv("TMPDIR");

        sf_log_max_level = SF_LOG_ERROR;
        F.verbose = getenv("SF_FUZZ_VERBOSE") != NULL;
        snprintf(F.dir, sizeof(F.dir), "%s/sf-fuzz-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(F.dir))
                abort();
        path = xasprintf("%s/state.db", F.dir);
        if (sf_store_open(path, NULL, &F.store, &e) < 0)
                die("store", &e);
        if (sf_vim_new(F.store, NULL, &F.vim, &e) < 0)
                die("vim", &e);
        atexit(cleanup);
        for (struct sf_kind *const *k = sf_vim_kinds(F.vim); *k; k++)
                for (size_t i = 0; i < N_KINDS; i++)
                        if (STREQ((*k)->name, kinds[i]))
                                F.kind[i] = *k;

        fixture("site", "{\"name\": \"site1\", \"kind\": \"edge\"}");
        fixture("node", "{\"name\": \"node1\", \"site\": \"site1\", \"underlay_ip\": \"192.0.2.1\", "
                        "\"labels\": {\"role\": \"edge\"}, \"features\": [\"vxlan\", \"qemu\"], "
                        "\"capacity\": {\"cpu_millis\": 8000, \"memory_bytes\": 8589934592, "
                        "\"max_workloads\": 100}, \"status\": {\"state\": \"Ready\"}}");
        fixture("network", "{\"name\": \"net1\", \"vni\": 4242}");
        fixture("subnet", "{\"name\": \"sub4\", \"network\": \"net1\", \"cidr\": \"10.0.0.0/24\"}");
        fixture("subnet", "{\"name\": \"sub6\", \"network\": \"net1\", \"cidr\": \"fd00::/64\"}");
        fixture("port", "{\"name\": \"port1\", \"network\": \"net1\", "
                        "\"fixed_ips\": [{\"ip_address\": \"10.0.0.10\"}]}");
        fixture("router", "{\"name\": \"rtr1\", \"subnets\": [\"sub4\"]}");
        fixture("container", "{\"name\": \"ctr1\", \"image\": \"busybox\", \"networks\": [\"net1\"], "
                             "\"node\": \"node1\"}");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *in = NULL, *cur = NULL, *out = NULL;
        unsigned op;
        struct sf_kind *k;
        sf_tx *tx = NULL;
        sf_rd rd;
        int r;

        if (!F.store)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size < 1 || size > 64 * 1024)
                return 0;
        op = data[0] % (2 * N_KINDS);
        k = F.kind[op % N_KINDS];
        if (!k)
                return 0;
        /* As the API: parse, then only objects go on. */
        if (sf_json_parse((const char *) data + 1, size - 1, &in, &e) < 0)
                return 0;
        if (!json_is_object(in))
                return 0;
        if (sf_tx_begin(F.store, &tx, &e) < 0)
                abort();
        if (op < N_KINDS)
                r = k->create(k->ctx, tx, in, &out, &e);
        else {
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, k->name, fixture_names[op % N_KINDS], &cur, &e);
                if (r < 0)
                        abort(); /* the fixture must be there */
                r = k->update ? k->update(k->ctx, tx, cur, in, &out, &e) : 0;
        }
        /* A failure always says why; a success always returns the object. */
        if (r < 0 && (e.code != r || !e.msg))
                abort();
        if (r >= 0 && !json_is_object(out))
                abort();
        /* What a GET of the new object would add (pool usage for subnets). */
        if (r >= 0 && k->decorate) {
                sf_rd_from_tx(tx, &rd);
                k->decorate(k->ctx, &rd, out);
        }
        if (F.verbose)
                fprintf(stderr, "%s %s: %s%s%s\n", op < N_KINDS ? "create" : "update", k->name,
                        r < 0 ? sf_err_msg(&e) : "ok", e.field ? " field " : "", e.field ?: "");
        sf_tx_abort(tx);
        return 0;
}
