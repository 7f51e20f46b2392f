/* Helpers private to src/net. */
#pragma once

#include "lib/err.h"

/* Adds context to e and returns r. Unlike `return sf_err_prefix(e, ...)`, this keeps the
 * error code when the caller passed e == NULL (sf_err_prefix then returns 0). */
#define sf_err_prefix_ret(r, e, ...)                     \
        ({                                               \
                int _pr_ = (r);                          \
                sf_err_prefix((e), __VA_ARGS__);         \
                _pr_;                                    \
        })
