/* Schema migrations, applied in order; PRAGMA user_version is the number applied. */
#pragma once

#include <stddef.h>

const char *const *sf_store_migrations(size_t *ret_n);
