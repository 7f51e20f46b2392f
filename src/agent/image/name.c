/* Image names: validation and normalisation of references such as "busybox",
 * "busybox:1.35" or "registry.example:5000/x/y:tag", and the store's directory key for them. */
#include <ctype.h>

#include "agent/image/image-internal.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool all_printable(const char *s)
{
        for (; *s; s++)
                if (!isprint((unsigned char) *s) || *s == ' ')
                        return false;
        return true;
}

static int bad(sf_err *e, const char *name, const char *fmt, ...) _printf_(3, 4);
static int bad(sf_err *e, const char *name, const char *fmt, ...)
{
        _cleanup_free_ char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        if (all_printable(name))
                return sf_err_set(e, -EINVAL, NULL, "invalid image name '%.300s': %s", name, m);
        return sf_err_set(e, -EINVAL, NULL, "invalid image name: %s", m);
}

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
        return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int check_component(const char *name, const char *s, size_t n, sf_err *e)
{
        if (n == 0)
                return bad(e, name, "empty path component (a '/' at the start or end, or '//')");
        for (size_t i = 0; i < n; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return bad(e, name, "repository path '%.*s' must be lower-case", (int) n,
                                   s);
        if (!lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
                return bad(e, name, "path component '%.*s' must start and end with a letter or digit",
                           (int) n, s);
        for (size_t i = 0; i < n;) {
                if (lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                if (s[i] == '.')
                        j = i + 1;
                else if (s[i] == '_')
                        j = i + (i + 1 < n && s[i + 1] == '_' ? 2 : 1);
                else if (s[i] == '-')
                        while (j < n && s[j] == '-')
                                j++;
                else if (isprint((unsigned char) s[i]))
                        return bad(e, name, "character '%c' is not allowed in '%.*s'", s[i],
                                   (int) n, s);
                else
                        return bad(e, name, "contains a non-printable character");
                if (j >= n || !lower_alnum(s[j]))
                        return bad(e, name,
                                   "separators in '%.*s' must be one '.', one or two '_', or "
                                   "dashes, between letters or digits",
                                   (int) n, s);
                i = j;
        }
        return 0;
}

/* host[:port]; host = labels of [A-Za-z0-9-] not starting or ending with '-', joined by '.'. */
static int check_domain(const char *name, const char *s, size_t n, sf_err *e)
{
        const char *colon = memchr(s, ':', n);
        size_t hn = colon ? (size_t) (colon - s) : n;
        size_t start = 0;
        if (hn == 0)
                return bad(e, name, "registry host is empty");
        for (size_t i = 0; i <= hn; i++) {
                if (i < hn && s[i] != '.') {
                        if (!alnum(s[i]) && s[i] != '-')
                                return bad(e, name, "registry host '%.*s' has an invalid character",
                                           (int) hn, s);
                        continue;
                }
                if (i == start || s[start] == '-' || s[i - 1] == '-')
                        return bad(e, name,
                                   "registry host '%.*s' must be dot-separated labels that start "
                                   "and end with a letter or digit",
                                   (int) hn, s);
                start = i + 1;
        }
        if (colon) {
                size_t pn = n - hn - 1;
                if (pn == 0 || pn > 5)
                        return bad(e, name, "registry port must be 1-5 digits");
                for (size_t i = 0; i < pn; i++)
                        if (!isdigit((unsigned char) colon[1 + i]))
                                return bad(e, name, "registry port must be 1-5 digits");
        }
        return 0;
}

static int check_tag(const char *name, const char *t, sf_err *e)
{
        size_t n = strlen(t);
        if (n == 0)
                return bad(e, name, "tag after ':' is empty");
        if (n > TAG_MAX_LEN)
                return bad(e, name, "tag is longer than %d characters", TAG_MAX_LEN);
        if (!alnum(t[0]) && t[0] != '_')
                return bad(e, name, "tag must start with a letter, digit or '_'");
        for (size_t i = 0; i < n; i++)
                if (!alnum(t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
                        return bad(e, name, "tag may contain only letters, digits, '_', '.' and '-'");
        return 0;
}

int sf_image_name_normalize(const char *name, char **ret_canonical, sf_err *e)
{
        const char *slash, *colon, *repo, *tag = NULL;
        size_t len, repo_len;
        int r;

        if (!name || !*name)
                return sf_err_set(e, -EINVAL, NULL, "invalid image name: it is empty");
        len = strlen(name);
        if (len > NAME_MAX_LEN)
                return bad(e, name, "longer than %d characters", NAME_MAX_LEN);
        for (const char *p = name; *p; p++)
                if (!isprint((unsigned char) *p) || *p == ' ')
                        return bad(e, name, "contains a space or non-printable character");
        if (strchr(name, '@'))
                return bad(e, name,
                           "digest references ('name@sha256:...') are not supported, use a tag");

        slash = strrchr(name, '/');
        colon = strrchr(name, ':');
        if (colon && (!slash || colon > slash)) {
                tag = colon + 1;
                repo_len = colon - name;
                r = check_tag(name, tag, e);
                if (r < 0)
                        return r;
        } else
                repo_len = len;
        if (repo_len == 0)
                return bad(e, name, "repository name is empty");

        repo = name;
        const char *first_end = memchr(repo, '/', repo_len);
        if (first_end) {
                size_t fn = first_end - repo;
                bool domain = memchr(repo, '.', fn) || memchr(repo, ':', fn) ||
                              (fn == 9 && strncmp(repo, "localhost", 9) == 0);
                for (size_t i = 0; i < fn && !domain; i++)
                        if (repo[i] >= 'A' && repo[i] <= 'Z')
                                domain = true;
                if (domain) {
                        r = check_domain(name, repo, fn, e);
                        if (r < 0)
                                return r;
                        repo += fn + 1;
                        repo_len -= fn + 1;
                }
        }
        for (;;) {
                const char *end = memchr(repo, '/', repo_len);
                size_t n = end ? (size_t) (end - repo) : repo_len;
                if (memchr(repo, ':', n))
                        return bad(e, name, "':' is allowed only in the registry host and before the tag");
                r = check_component(name, repo, n, e);
                if (r < 0)
                        return r;
                if (!end)
                        break;
                repo += n + 1;
                repo_len -= n + 1;
        }

        if (tag)
                *ret_canonical = xstrdup(name);
        else {
                if (len + strlen(":latest") > NAME_MAX_LEN)
                        return bad(e, name, "longer than %d characters with ':latest' added",
                                   NAME_MAX_LEN);
                *ret_canonical = xasprintf("%s:latest", name);
        }
        return 0;
}

char *sf_image_key(const char *canonical)
{
        char *k = xstrdup(canonical);
        for (char *p = k; *p; p++) {
                if (*p == '/')
                        *p = '+';
                else if (*p == ':')
                        *p = '=';
        }
        return k;
}

int sf_image_name_key(const char *name, char **ret_canonical, char **ret_key, sf_err *e)
{
        _cleanup_free_ char *c = NULL;
        int r = sf_image_name_normalize(name, &c, e);
        if (r < 0)
                return r;
        *ret_key = sf_image_key(c);
        *ret_canonical = TAKE_PTR(c);
        return 0;
}

int sf_image_check_mount_path(const char *path, const char *what, sf_err *e)
{
        if (strpbrk(path, ",:\\\n"))
                return sf_err_set(e, -EINVAL, NULL,
                                  "%s '%s' must not contain ',', ':', '\\' or a newline "
                                  "(overlayfs mount options cannot carry them)",
                                  what, path);
        return 0;
}
