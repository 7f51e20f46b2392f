/* Log sink: one line per message, "LEVEL module: text", with a timestamp. */
#include <pthread.h>
#include <time.h>

#include "lib/log.h"

int sf_log_max_level = SF_LOG_INFO;
static char log_prefix[64];

void sf_log_set_prefix(const char *prefix)
{
        snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

int sf_log_parse_level(const char *s)
{
        if (STREQ(s, "error"))
                return SF_LOG_ERROR;
        if (STREQ(s, "warn") || STREQ(s, "warning"))
                return SF_LOG_WARN;
        if (STREQ(s, "info"))
                return SF_LOG_INFO;
        if (STREQ(s, "debug"))
                return SF_LOG_DEBUG;
        return -EINVAL;
}

void sf_log_emit(int level, const char *module, const char *fmt, ...)
{
        static const char *names[] = {
                [SF_LOG_ERROR] = "ERROR", [SF_LOG_WARN] = "WARN", [SF_LOG_INFO] = "INFO",
                [SF_LOG_DEBUG] = "DEBUG",
        };
        char line[4096];
        struct timespec ts;
        struct tm tm;
        va_list ap;
        int saved = errno, n;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s%s%-5s %s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_prefix,
                     log_prefix[0] ? " " : "", names[level] ? names[level] : "?", module);
        va_start(ap, fmt);
        errno = saved;
        if (n > 0 && (size_t) n < sizeof(line))
                n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(line) - 1)
                n = sizeof(line) - 2; /* truncated: still end the line */
        line[n++] = '\n';
        (void) !write(STDERR_FILENO, line, n);
        errno = saved;
}
