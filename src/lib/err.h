/* Errors: a negative errno-style code, an optional field (a JSON path of the offending input)
 * and a message. Functions that can fail return the negative code and fill an sf_err that the
 * caller owns; NULL means the caller only wants the code. */
#pragma once

#include "lib/macro.h"

typedef struct sf_err {
        int code;    /* negative errno, 0 when unset */
        char *field; /* optional: which input field is wrong, e.g. "fixed_ips[0].ip_address" */
        char *msg;   /* human message, without the field */
} sf_err;

#define SF_ERR_INIT { 0, NULL, NULL }

/* Sets *e (replacing any previous error) and returns code. code must be negative. */
int sf_err_set(sf_err *e, int code, const char *field, const char *fmt, ...) _printf_(4, 5);
/* Like sf_err_set, with strerror(-code) appended: "open 'x': No such file or directory". */
int sf_err_errno(sf_err *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Prepends context to an existing message: "what: old message". Returns e->code (-EIO when e
 * is NULL or unset, never 0). To keep an exact code when e may be NULL, use sf_err_wrap. */
int sf_err_prefix(sf_err *e, const char *fmt, ...) _printf_(2, 3);
/* Adds context to e and returns r, whatever e is. */
#define sf_err_wrap(r, e, ...)                           \
        ({                                               \
                int _wr_ = (r);                          \
                sf_err_prefix((e), __VA_ARGS__);         \
                _wr_;                                    \
        })
/* Prepends a path to the field: field "b" becomes "a.b" (or "a[0].b" when prefix ends with ]). */
void sf_err_field_prefix(sf_err *e, const char *prefix);
void sf_err_clear(sf_err *e);
static inline void sf_err_clearp(sf_err *e) { sf_err_clear(e); }
#define _cleanup_err_ _cleanup_(sf_err_clearp)
/* Moves src into dst (dst cleared first). */
void sf_err_move(sf_err *dst, sf_err *src);
/* The message, or strerror of the code when no message was set. Never NULL. */
const char *sf_err_msg(const sf_err *e);
