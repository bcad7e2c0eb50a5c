#include "collapse/error.h"

#include <stdarg.h>

static _Thread_local char cl_msg[1024];

cl_status cl_error(cl_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl_msg, sizeof cl_msg, fmt, ap);
    va_end(ap);
    return st;
}

const char *cl_errmsg(void) { return cl_msg; }

void cl_errclear(void) { cl_msg[0] = '\0'; }

const char *cl_status_name(cl_status st)
{
    static const char *const names[CL_ESTATUS_COUNT] = {
        [CL_OK] = "ok",
        [CL_EINVAL] = "invalid argument",
        [CL_ENOMEM] = "out of memory",
        [CL_EIO] = "I/O error",
        [CL_EFORMAT] = "bad file format",
        [CL_ENUMERIC] = "numerical error",
        [CL_EINTERRUPT] = "interrupted",
    };
    if ((int)st < 0 || st >= CL_ESTATUS_COUNT) return "unknown status";
    return names[st];
}
