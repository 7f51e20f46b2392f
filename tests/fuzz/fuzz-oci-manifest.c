/* libFuzzer target for the OCI image-layout JSON parsers (src/agent/image/oci.c): the same input
 * is fed to the index selector, the blob sniffer, the manifest parser and the config parser.
 * Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=gnu17 -Isrc -I. \
 *           tests/fuzz/fuzz-oci-manifest.c src/agent/image/oci.c src/lib/err.c src/lib/json.c \
 *           -ljansson -o fuzz-oci-manifest
 * Replay without libFuzzer: add -DSF_FUZZ_REPLAY_MAIN (and drop -fsanitize=fuzzer), then
 *   ./fuzz-oci-manifest tests/fuzz/corpus/oci-manifest/ *.json */
#include "agent/image/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *) data;
        sf_oci_desc d = { 0 };
        sf_oci_manifest m = { 0 };
        sf_oci_config c = { 0 };
        sf_oci_kind kind;
        sf_err e = SF_ERR_INIT;

        if (sf_oci_index_select(buf, size, "linux", "amd64", "latest", &d, &e) >= 0) {
                (void) sf_oci_kind_of_media_type(d.media_type);
                sf_oci_desc_clear(&d);
        }
        sf_err_clear(&e);
        (void) sf_oci_sniff(buf, size, &kind, &e);
        sf_err_clear(&e);
        if (sf_oci_manifest_parse(buf, size, &m, &e) >= 0)
                sf_oci_manifest_clear(&m);
        sf_err_clear(&e);
        if (sf_oci_config_parse(buf, size, &c, &e) >= 0) {
                char *s = json_dumps(c.config, JSON_COMPACT);
                free(s);
                sf_oci_config_clear(&c);
        }
        sf_err_clear(&e);
        /* Digest syntax, on the raw bytes as a string. */
        if (size < 256) {
                char *s = strndup(buf, size);
                if (s) {
                        (void) sf_oci_digest_valid(s, &e);
                        sf_err_clear(&e);
                        free(s);
                }
        }
        return 0;
}

#ifdef SF_FUZZ_REPLAY_MAIN
int main(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "rbe");
                char *buf = NULL;
                size_t len = 0, cap = 0, n;
                if (!f) {
                        fprintf(stderr, "%s: cannot open\n", argv[i]);
                        return 1;
                }
                do {
                        if (cap - len < 4096)
                                buf = xrealloc(buf, cap = cap ? cap * 2 : 65536);
                        n = fread(buf + len, 1, cap - len, f);
                        len += n;
                } while (n > 0);
                fclose(f);
                LLVMFuzzerTestOneInput((const uint8_t *) buf, len);
                free(buf);
        }
        return 0;
}
#endif
