/* sf_err: error values carried up the call chain. */
#include "lib/err.h"

void sf_oom(void)
{
        static const char m[] = "superfluid: out of memory\n";
        (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
        abort();
}

char *xvasprintf(const char *fmt, va_list ap)
{
        char *s;
        if (vasprintf(&s, fmt, ap) < 0)
                sf_oom();
        return s;
}

char *xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s;
        va_start(ap, fmt);
        s = xvasprintf(fmt, ap);
        va_end(ap);
        return s;
}

void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t strv_length(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

bool strv_contains(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

void strv_push(char ***v, char *s)
{
        size_t n = strv_length(*v);
        *v = xrealloc(*v, sizeof(char *) * (n + 2));
        (*v)[n] = s;
        (*v)[n + 1] = NULL;
}

void sf_err_clear(sf_err *e)
{
        if (!e)
                return;
        free(e->field);
        free(e->msg);
        *e = (sf_err) SF_ERR_INIT;
}

int sf_err_set(sf_err *e, int code, const char *field, const char *fmt, ...)
{
        va_list ap;
        if (!e)
                return code;
        sf_err_clear(e);
        e->code = code;
        e->field = xstrdup(field);
        va_start(ap, fmt);
        e->msg = xvasprintf(fmt, ap);
        va_end(ap);
        return code;
}

int sf_err_errno(sf_err *e, int code, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *m = NULL;
        if (!e)
                return code;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        return sf_err_set(e, code, NULL, "%s: %s", m, strerror(-code));
}

int sf_err_prefix(sf_err *e, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *p = NULL;
        char *m;
        if (!e)
                return -EIO; /* the caller's code is unknown here, but it was a failure */
        va_start(ap, fmt);
        p = xvasprintf(fmt, ap);
        va_end(ap);
        m = xasprintf("%s: %s", p, sf_err_msg(e));
        free(e->msg);
        e->msg = m;
        return e->code ? e->code : -EIO;
}

void sf_err_field_prefix(sf_err *e, const char *prefix)
{
        char *f;
        if (!e || !prefix)
                return;
        if (!e->field)
                f = xstrdup(prefix);
        else if (e->field[0] == '[')
                f = xasprintf("%s%s", prefix, e->field);
        else
                f = xasprintf("%s.%s", prefix, e->field);
        free(e->field);
        e->field = f;
}

void sf_err_move(sf_err *dst, sf_err *src)
{
        if (!dst) {
                sf_err_clear(src);
                return;
        }
        sf_err_clear(dst);
        *dst = *src;
        *src = (sf_err) SF_ERR_INIT;
}

const char *sf_err_msg(const sf_err *e)
{
        if (!e)
                return "unknown error";
        if (e->msg)
                return e->msg;
        if (e->code)
                return strerror(-e->code);
        return "no error";
}
