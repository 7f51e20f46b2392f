/* Small macros used everywhere: cleanup attributes, ownership transfer, allocation that
 * aborts on out-of-memory. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)
#define STRNEQ(a, b) (strcmp((a), (b)) != 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Move ownership out of a cleanup variable. */
#define TAKE_PTR(p)                     \
        ({                              \
                typeof(p) _tp_ = (p);   \
                (p) = NULL;             \
                _tp_;                   \
        })
#define TAKE_FD(fd)                     \
        ({                              \
                int _tfd_ = (fd);       \
                (fd) = -EBADF;          \
                _tfd_;                  \
        })

static inline void freep(void *p) { free(*(void **) p); }
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

_noreturn_ void sf_oom(void);

static inline void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                sf_oom();
        return p;
}

static inline void *xzalloc(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                sf_oom();
        return p;
}

static inline void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                sf_oom();
        return p;
}

static inline char *xstrdup(const char *s)
{
        char *p;
        if (!s)
                return NULL;
        p = strdup(s);
        if (!p)
                sf_oom();
        return p;
}

char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);

#define new0(type, n) ((type *) xzalloc(sizeof(type) * (n)))

/* A NULL-terminated array of strings. */
void strv_free(char **v);
static inline void strv_freep(char ***v) { strv_free(*v); }
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *v);
void strv_push(char ***v, char *s); /* takes ownership of s */
bool strv_contains(char *const *v, const char *s);
