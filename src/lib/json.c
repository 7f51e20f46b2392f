/* jansson helpers for validated input and compact output. */
#include <ctype.h>
#include <inttypes.h>

#include "lib/json.h"

int sf_json_is_object(json_t *j, const char *field, sf_err *e)
{
        if (!json_is_object(j))
                return sf_err_set(e, -EINVAL, field, "must be an object");
        return 0;
}

int sf_json_only(json_t *obj, const char *const *allowed, sf_err *e)
{
        const char *key;
        json_t *v;

        json_object_foreach(obj, key, v) {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (STREQ(*a, key)) {
                                ok = true;
                                break;
                        }
                if (!ok) {
                        _cleanup_free_ char *known = xstrdup("");
                        for (const char *const *a = allowed; *a; a++) {
                                char *n = xasprintf("%s%s%s", known, *known ? ", " : "", *a);
                                free(known);
                                known = n;
                        }
                        return sf_err_set(e, -EINVAL, key, "unknown field (known: %s)", known);
                }
        }
        return 0;
}

static json_t *get(json_t *obj, const char *key, bool required, int *r, sf_err *e)
{
        json_t *v = json_object_get(obj, key);
        *r = 0;
        if (!v || json_is_null(v)) {
                if (required)
                        *r = sf_err_set(e, -EINVAL, key, "is required");
                return NULL;
        }
        return v;
}

int sf_json_str(json_t *obj, const char *key, bool required, const char **ret, sf_err *e)
{
        int r;
        json_t *v = get(obj, key, required, &r, e);
        if (!v)
                return r;
        if (!json_is_string(v))
                return sf_err_set(e, -EINVAL, key, "must be a string");
        if (strlen(json_string_value(v)) != json_string_length(v))
                return sf_err_set(e, -EINVAL, key, "must not contain NUL characters");
        *ret = json_string_value(v);
        return 0;
}

int sf_json_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                int64_t *ret, sf_err *e)
{
        int r;
        json_int_t i;
        json_t *v = get(obj, key, required, &r, e);
        if (!v)
                return r;
        if (!json_is_integer(v))
                return sf_err_set(e, -EINVAL, key, "must be an integer");
        i = json_integer_value(v);
        if (i < min || i > max)
                return sf_err_set(e, -EINVAL, key, "must be between %" PRId64 " and %" PRId64,
                                  min, max);
        *ret = i;
        return 0;
}

int sf_json_bool(json_t *obj, const char *key, bool required, bool *ret, sf_err *e)
{
        int r;
        json_t *v = get(obj, key, required, &r, e);
        if (!v)
                return r;
        if (!json_is_boolean(v))
                return sf_err_set(e, -EINVAL, key, "must be true or false");
        *ret = json_is_true(v);
        return 0;
}

int sf_json_array(json_t *obj, const char *key, bool required, json_t **ret, sf_err *e)
{
        int r;
        json_t *v = get(obj, key, required, &r, e);
        if (!v)
                return r;
        if (!json_is_array(v))
                return sf_err_set(e, -EINVAL, key, "must be an array");
        *ret = v;
        return 0;
}

int sf_json_object(json_t *obj, const char *key, bool required, json_t **ret, sf_err *e)
{
        int r;
        json_t *v = get(obj, key, required, &r, e);
        if (!v)
                return r;
        if (!json_is_object(v))
                return sf_err_set(e, -EINVAL, key, "must be an object");
        *ret = v;
        return 0;
}

bool sf_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || !isalnum((unsigned char) s[0]))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];
                if (!isalnum(c) && c != '-' && c != '_' && c != '.')
                        return false;
        }
        return true;
}

int sf_json_name(json_t *obj, const char *key, bool required, const char **ret, sf_err *e)
{
        const char *s = NULL;
        int r = sf_json_str(obj, key, required, &s, e);
        if (r < 0 || !s)
                return r;
        if (!sf_name_valid(s))
                return sf_err_set(e, -EINVAL, key,
                                  "'%.80s' is not a valid name: use 1-63 letters, digits, '.', '_' "
                                  "or '-', starting with a letter or digit",
                                  s);
        *ret = s;
        return 0;
}

int sf_json_parse(const char *buf, size_t len, json_t **ret, sf_err *e)
{
        json_error_t je;
        json_t *j;

        if (len == 0)
                return sf_err_set(e, -EINVAL, NULL, "request body is empty, expected JSON");
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return sf_err_set(e, -EINVAL, NULL, "malformed JSON at line %d, column %d: %s",
                                  je.line, je.column, je.text);
        *ret = j;
        return 0;
}

char *sf_json_dumps(const json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
                sf_oom();
        return s;
}

void sf_json_set_str(json_t *obj, const char *key, const char *s)
{
        json_object_set_new(obj, key, s ? json_string(s) : json_null());
}
