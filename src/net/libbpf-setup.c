/* libbpf's messages go to our log, at debug level: its warnings are about things the callers
 * report themselves, with context. */
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdarg.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/libbpf-setup.h"

SF_LOG_MODULE("libbpf");

_printf_(2, 0) static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        _cleanup_free_ char *s = NULL;
        size_t n;
        if (level == LIBBPF_DEBUG)
                return 0;
        s = xvasprintf(fmt, ap);
        n = strlen(s);
        while (n && s[n - 1] == '\n')
                s[--n] = 0;
        log_debug("libbpf: %s", s);
        return 0;
}

static void libbpf_setup_once(void)
{
        libbpf_set_print(libbpf_log);
}

void sf_libbpf_setup(void)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, libbpf_setup_once);
}
