/* -errno <-> HTTP status and code name. */
#include "lib/errcode.h"
#include "lib/macro.h"

static const struct {
        int code;
        unsigned status;
        const char *name;
} table[] = {
        { -EINVAL, 400, "invalid" },
        { -ENOENT, 404, "not_found" },
        { -EEXIST, 409, "conflict" },
        { -EBUSY, 409, "in_use" },
        { -ENOSPC, 409, "exhausted" },
        { -ESTALE, 412, "revision_mismatch" },
        { -E2BIG, 413, "too_large" },
        { -EPERM, 403, "forbidden" },
        { -EOPNOTSUPP, 501, "not_supported" },
        { -ENOSYS, 405, "method_not_allowed" },
        { -ETIMEDOUT, 504, "timeout" },
        { -EAGAIN, 503, "unavailable" },
        { -ECONNREFUSED, 502, "unreachable" },
        { -ENODATA, 410, "expired" },
        /* aliases: same answer, listed after their canonical entry */
        { -EDOM, 400, "invalid" },
        { -ENOTEMPTY, 409, "in_use" },
        { -EMSGSIZE, 413, "too_large" },
        { -EACCES, 403, "forbidden" },
        { -EHOSTUNREACH, 502, "unreachable" },
};

unsigned sf_errcode_status(int code)
{
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].code == code)
                        return table[i].status;
        return 500;
}

const char *sf_errcode_name(int code)
{
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].code == code)
                        return table[i].name;
        return "internal";
}

int sf_errcode_from_name(const char *name, unsigned status)
{
        if (name)
                for (size_t i = 0; i < ELEMENTSOF(table); i++)
                        if (STREQ(table[i].name, name))
                                return table[i].code;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].status == status)
                        return table[i].code;
        return -EIO;
}
