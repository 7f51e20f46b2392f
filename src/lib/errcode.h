/* The one table that maps -errno codes to HTTP statuses and error code names, used by the API
 * server to answer and by clients to turn an answer back into the same -errno. */
#pragma once

unsigned sf_errcode_status(int code);     /* -ENOENT -> 404; unknown -> 500 */
const char *sf_errcode_name(int code);    /* -ENOENT -> "not_found"; unknown -> "internal" */
int sf_errcode_from_name(const char *name, unsigned status); /* inverse; falls back on status */
