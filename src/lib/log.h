/* Levelled logging to stderr with a module tag. Each .c file declares its tag once with
 * SF_LOG_MODULE("name"); the level is checked before any argument is evaluated. Library code
 * logs only at debug level; errors travel up as sf_err and are logged once by the caller. */
#pragma once

#include <time.h>

#include "lib/macro.h"

enum sf_log_level {
        SF_LOG_ERROR = 3,
        SF_LOG_WARN = 4,
        SF_LOG_INFO = 6,
        SF_LOG_DEBUG = 7,
};

extern int sf_log_max_level;

#define SF_LOG_MODULE(name) static const char *const sf_log_module_ _unused_ = name

void sf_log_emit(int level, const char *module, const char *fmt, ...) _printf_(3, 4);
int sf_log_parse_level(const char *s); /* -EINVAL when unknown */
void sf_log_set_prefix(const char *prefix); /* e.g. the node name, for lab logs */

#define sf_log(level, ...)                                                       \
        do {                                                                     \
                if ((level) <= sf_log_max_level)                                \
                        sf_log_emit((level), sf_log_module_, __VA_ARGS__);       \
        } while (0)

#define log_error(...) sf_log(SF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) sf_log(SF_LOG_WARN, __VA_ARGS__)
#define log_info(...) sf_log(SF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) sf_log(SF_LOG_DEBUG, __VA_ARGS__)

/* Rate-limited: at most one message per second from each call site. */
#define log_warn_rl(...)                                                         \
        do {                                                                     \
                static long _last_rl_;                                           \
                long _now_rl_ = (long) time(NULL);                              \
                if (_now_rl_ != _last_rl_) {                                     \
                        _last_rl_ = _now_rl_;                                    \
                        log_warn(__VA_ARGS__);                                   \
                }                                                                \
        } while (0)
