/* OCI image-layout JSON: index selection by platform, manifests, and the image config's
 * run-time defaults. No I/O here; the importer reads and verifies the blobs. */
#include <ctype.h>
#include <inttypes.h>

#include "agent/image/oci.h"
#include "lib/json.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

void sf_oci_desc_clear(sf_oci_desc *d)
{
        if (!d)
                return;
        free(d->media_type);
        free(d->digest);
        *d = (sf_oci_desc) { 0 };
}

void sf_oci_manifest_clear(sf_oci_manifest *m)
{
        if (!m)
                return;
        sf_oci_desc_clear(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                sf_oci_desc_clear(&m->layers[i]);
        free(m->layers);
        *m = (sf_oci_manifest) { 0 };
}

void sf_oci_config_clear(sf_oci_config *c)
{
        if (!c)
                return;
        free(c->created);
        free(c->os);
        free(c->architecture);
        json_decref(c->config);
        *c = (sf_oci_config) { 0 };
}

const char *sf_oci_host_arch(void)
{
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__i386__)
        return "386";
#elif defined(__arm__)
        return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64le";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#else
        return "unknown";
#endif
}

int sf_oci_digest_valid(const char *digest, sf_err *e)
{
        const char *colon = strchr(digest, ':');
        if (!colon || colon == digest)
                return sf_err_set(e, -EINVAL, NULL, "'%.100s' is not a digest (algorithm:hex)",
                                  digest);
        if ((size_t) (colon - digest) != 6 || strncmp(digest, "sha256", 6) != 0)
                return sf_err_set(e, -EOPNOTSUPP, NULL,
                                  "digest algorithm '%.*s' is not supported (only sha256)",
                                  (int) MIN((size_t) (colon - digest), 32u), digest);
        if (strlen(colon + 1) != 64)
                return sf_err_set(e, -EINVAL, NULL, "sha256 digest must have 64 hex digits");
        for (const char *p = colon + 1; *p; p++)
                if (!isdigit((unsigned char) *p) && !(*p >= 'a' && *p <= 'f'))
                        return sf_err_set(e, -EINVAL, NULL,
                                          "sha256 digest must be lower-case hex");
        return 0;
}

sf_oci_kind sf_oci_kind_of_media_type(const char *mt)
{
        if (!mt)
                return SF_OCI_UNKNOWN;
        if (STREQ(mt, MT_OCI_INDEX) || STREQ(mt, MT_DOCKER_LIST))
                return SF_OCI_INDEX;
        if (STREQ(mt, MT_OCI_MANIFEST) || STREQ(mt, MT_DOCKER_MANIFEST))
                return SF_OCI_MANIFEST;
        return SF_OCI_UNKNOWN;
}

static int load(const char *buf, size_t len, const char *what, json_t **ret, sf_err *e)
{
        json_error_t je;
        json_t *j;
        if (len > SF_OCI_JSON_MAX)
                return sf_err_set(e, -E2BIG, NULL, "%s is larger than %u bytes", what,
                                  SF_OCI_JSON_MAX);
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return sf_err_set(e, -EINVAL, NULL, "%s: malformed JSON at line %d, column %d: %s",
                                  what, je.line, je.column, je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return sf_err_set(e, -EINVAL, NULL, "%s: must be a JSON object", what);
        }
        *ret = j;
        return 0;
}

static int check_schema(json_t *j, sf_err *e)
{
        int64_t v = 0;
        int r = sf_json_int(j, "schemaVersion", true, 0, INT32_MAX, &v, e);
        if (r < 0)
                return r;
        if (v != 2)
                return sf_err_set(e, -EOPNOTSUPP, "schemaVersion", "must be 2, not %" PRId64, v);
        return 0;
}

static int parse_desc(json_t *j, sf_oci_desc *ret, sf_err *e)
{
        const char *mt = NULL, *digest = NULL;
        int64_t size = 0;
        int r;

        r = sf_json_is_object(j, NULL, e);
        if (r < 0)
                return r;
        r = sf_json_str(j, "mediaType", false, &mt, e);
        if (r >= 0)
                r = sf_json_str(j, "digest", true, &digest, e);
        if (r >= 0)
                r = sf_json_int(j, "size", true, 0, INT64_MAX, &size, e);
        if (r < 0)
                return r;
        r = sf_oci_digest_valid(digest, e);
        if (r < 0) {
                sf_err_field_prefix(e, "digest");
                return r;
        }
        *ret = (sf_oci_desc) { .media_type = xstrdup(mt), .digest = xstrdup(digest), .size = size };
        return 0;
}

int sf_oci_sniff(const char *buf, size_t len, sf_oci_kind *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        const char *mt = NULL;
        int r = load(buf, len, "blob", &j, e);
        if (r < 0)
                return r;
        r = sf_json_str(j, "mediaType", false, &mt, e);
        if (r < 0)
                return r;
        *ret = sf_oci_kind_of_media_type(mt);
        if (*ret == SF_OCI_UNKNOWN) {
                if (json_object_get(j, "manifests"))
                        *ret = SF_OCI_INDEX;
                else if (json_object_get(j, "layers") || json_object_get(j, "config"))
                        *ret = SF_OCI_MANIFEST;
        }
        return 0;
}

/* 3: platform matches; 1: no platform given; 0: another platform or not a manifest/index. */
static int platform_score(json_t *entry, const char *os, const char *arch)
{
        json_t *p = json_object_get(entry, "platform");
        const char *pos, *parch;
        if (!p || json_is_null(p))
                return 1;
        if (!json_is_object(p))
                return 0;
        pos = json_string_value(json_object_get(p, "os"));
        parch = json_string_value(json_object_get(p, "architecture"));
        if (!pos || !parch || STRNEQ(pos, os) || STRNEQ(parch, arch))
                return 0;
        return 3;
}

static bool ref_matches(json_t *entry, const char *ref)
{
        json_t *a = json_object_get(entry, "annotations");
        const char *n = json_string_value(json_object_get(a, "org.opencontainers.image.ref.name"));
        return ref && n && STREQ(n, ref);
}

int sf_oci_index_select(const char *buf, size_t len, const char *os, const char *arch,
                        const char *ref, sf_oci_desc *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *seen = NULL;
        json_t *manifests = NULL, *entry, *best = NULL;
        int best_score = 0, r;
        size_t i, best_i = 0;

        r = load(buf, len, "index", &j, e);
        if (r < 0)
                return r;
        r = check_schema(j, e);
        if (r >= 0)
                r = sf_json_array(j, "manifests", true, &manifests, e);
        if (r < 0)
                return r;
        if (json_array_size(manifests) == 0)
                return sf_err_set(e, -EINVAL, "manifests", "index lists no manifests");

        json_array_foreach(manifests, i, entry) {
                const char *mt;
                int score;
                if (!json_is_object(entry)) {
                        _cleanup_free_ char *f = xasprintf("manifests[%zu]", i);
                        return sf_err_set(e, -EINVAL, f, "must be an object");
                }
                mt = json_string_value(json_object_get(entry, "mediaType"));
                /* Skip what is surely not an image (attestations, artifacts). */
                if (mt && sf_oci_kind_of_media_type(mt) == SF_OCI_UNKNOWN)
                        continue;
                score = platform_score(entry, os, arch);
                if (score > 0 && ref_matches(entry, ref))
                        score++;
                if (score > best_score) {
                        best_score = score;
                        best = entry;
                        best_i = i;
                }
        }
        if (!best || (best_score < 3 && json_array_size(manifests) > 1 &&
                      !ref_matches(best, ref))) {
                /* Name what was offered, to make the error actionable. */
                json_array_foreach(manifests, i, entry) {
                        json_t *p = json_object_get(entry, "platform");
                        const char *pos = json_string_value(json_object_get(p, "os"));
                        const char *pa = json_string_value(json_object_get(p, "architecture"));
                        char *n = xasprintf("%s%s%.20s/%.20s", seen ? seen : "", seen ? ", " : "",
                                            pos ? pos : "?", pa ? pa : "?");
                        free(seen);
                        seen = n;
                        if (i >= 16)
                                break;
                }
                return sf_err_set(e, -EINVAL, "manifests", "no image for %s/%s in the index (offered: %s)",
                                  os, arch, seen ? seen : "none");
        }
        r = parse_desc(best, ret, e);
        if (r < 0) {
                _cleanup_free_ char *f = xasprintf("manifests[%zu]", best_i);
                sf_err_field_prefix(e, f);
        }
        return r;
}

static bool layer_type_ok(const char *mt, sf_err *e)
{
        size_t n;
        if (!mt)
                return true;
        n = strlen(mt);
        if (n > 10 && STREQ(mt + n - 10, "+encrypted")) {
                sf_err_set(e, -EOPNOTSUPP, "mediaType", "encrypted layers are not supported");
                return false;
        }
        if (strstr(mt, "image.layer.") || strstr(mt, "image.rootfs.") ||
            strstr(mt, "rootfs.diff.tar"))
                return true;
        sf_err_set(e, -EOPNOTSUPP, "mediaType", "'%.100s' is not a layer media type", mt);
        return false;
}

int sf_oci_manifest_parse(const char *buf, size_t len, sf_oci_manifest *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        json_t *cfg = NULL, *layers = NULL, *l;
        sf_oci_manifest m = { 0 };
        size_t i;
        int r;

        r = load(buf, len, "manifest", &j, e);
        if (r < 0)
                return r;
        r = check_schema(j, e);
        if (r >= 0)
                r = sf_json_object(j, "config", true, &cfg, e);
        if (r >= 0)
                r = sf_json_array(j, "layers", true, &layers, e);
        if (r < 0)
                return r;
        if (json_array_size(layers) > SF_OCI_MAX_LAYERS)
                return sf_err_set(e, -E2BIG, "layers", "more than %d layers", SF_OCI_MAX_LAYERS);

        r = parse_desc(cfg, &m.config, e);
        if (r < 0) {
                sf_err_field_prefix(e, "config");
                return r;
        }
        if (m.config.media_type && STRNEQ(m.config.media_type, MT_OCI_CONFIG) &&
            STRNEQ(m.config.media_type, MT_DOCKER_CONFIG)) {
                r = sf_err_set(e, -EOPNOTSUPP, "config.mediaType",
                               "'%.100s' is not a container image config (an OCI artifact?)",
                               m.config.media_type);
                sf_oci_manifest_clear(&m);
                return r;
        }
        m.layers = new0(sf_oci_desc, json_array_size(layers));
        json_array_foreach(layers, i, l) {
                r = parse_desc(l, &m.layers[i], e);
                if (r >= 0) {
                        m.n_layers = i + 1;
                        if (!layer_type_ok(m.layers[i].media_type, e))
                                r = e ? e->code : -EINVAL;
                }
                if (r < 0) {
                        _cleanup_free_ char *f = xasprintf("layers[%zu]", i);
                        sf_err_field_prefix(e, f);
                        sf_oci_manifest_clear(&m);
                        return r;
                }
        }
        *ret = m;
        return 0;
}

static int str_array(json_t *v, const char *key, json_t **ret, sf_err *e)
{
        json_t *x;
        size_t i;
        if (!json_is_array(v))
                return sf_err_set(e, -EINVAL, key, "must be an array of strings");
        json_array_foreach(v, i, x) {
                if (!json_is_string(x) || strlen(json_string_value(x)) != json_string_length(x)) {
                        _cleanup_free_ char *f = xasprintf("%s[%zu]", key, i);
                        return sf_err_set(e, -EINVAL, f, "must be a string");
                }
        }
        *ret = json_incref(v);
        return 0;
}

/* Copies the run-time defaults we use out of the image config's "config" object. */
static int parse_run_config(json_t *c, json_t **ret, sf_err *e)
{
        static const char *const arrays[] = { "Entrypoint", "Cmd", "Env" };
        static const char *const strings[] = { "WorkingDir", "User" };
        _cleanup_json_ json_t *out = json_object();
        json_t *v;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(arrays); i++) {
                json_t *a = NULL;
                v = json_object_get(c, arrays[i]);
                if (!v || json_is_null(v))
                        continue;
                r = str_array(v, arrays[i], &a, e);
                if (r < 0)
                        return r;
                json_object_set_new(out, arrays[i], a);
        }
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                const char *s = NULL;
                r = sf_json_str(c, strings[i], false, &s, e);
                if (r < 0)
                        return r;
                if (s && *s)
                        json_object_set_new(out, strings[i], json_string(s));
        }
        v = json_object_get(c, "ExposedPorts");
        if (v && !json_is_null(v)) {
                json_t *ports = json_object(), *x;
                const char *k;
                if (!json_is_object(v)) {
                        json_decref(ports);
                        return sf_err_set(e, -EINVAL, "ExposedPorts", "must be an object");
                }
                json_object_foreach(v, k, x)
                        json_object_set_new(ports, k, json_object());
                json_object_set_new(out, "ExposedPorts", ports);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int sf_oci_config_parse(const char *buf, size_t len, sf_oci_config *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        json_t *c = NULL, *rootfs = NULL, *diff_ids = NULL;
        const char *created = NULL, *os = NULL, *arch = NULL;
        sf_oci_config out = { .n_diff_ids = SIZE_MAX };
        int r;

        r = load(buf, len, "image config", &j, e);
        if (r < 0)
                return r;
        r = sf_json_str(j, "created", false, &created, e);
        if (r >= 0)
                r = sf_json_str(j, "os", false, &os, e);
        if (r >= 0)
                r = sf_json_str(j, "architecture", false, &arch, e);
        if (r >= 0)
                r = sf_json_object(j, "config", false, &c, e);
        if (r >= 0)
                r = sf_json_object(j, "rootfs", false, &rootfs, e);
        if (r >= 0 && rootfs) {
                r = sf_json_array(rootfs, "diff_ids", false, &diff_ids, e);
                if (r < 0)
                        sf_err_field_prefix(e, "rootfs");
        }
        if (r < 0)
                return r;
        if (c) {
                r = parse_run_config(c, &out.config, e);
                if (r < 0) {
                        sf_err_field_prefix(e, "config");
                        return r;
                }
        } else
                out.config = json_object();
        if (diff_ids)
                out.n_diff_ids = json_array_size(diff_ids);
        out.created = xstrdup(created);
        out.os = xstrdup(os);
        out.architecture = xstrdup(arch);
        *ret = out;
        return 0;
}
