/* Two-tier errors (see STYLE.md).
 *
 * Tier 1, programmer mistakes: CL_ASSERT(cond) is always on and aborts with
 * file:line. Use it only for invariants that no input can break.
 *
 * Tier 2, anything input or the environment can cause: functions return a
 * cl_status and set a thread-local one-line message, read with cl_errmsg().
 * The message names the file/flag/argument at fault. */
#ifndef COLLAPSE_ERROR_H
#define COLLAPSE_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum {
    CL_OK = 0,
    CL_EINVAL,     /* bad argument, flag, shape or config value */
    CL_ENOMEM,     /* allocation failed or size overflow */
    CL_EIO,        /* open/read/write/rename failed */
    CL_EFORMAT,    /* file content is malformed (magic, header, truncation) */
    CL_ENUMERIC,   /* non-finite loss/gradient, failed eigendecomposition */
    CL_EINTERRUPT, /* stopped by a signal (Ctrl-C) */
    CL_ESTATUS_COUNT
} cl_status;

/* Sets the thread-local message (printf-style) and returns `st`, so that
 * `return cl_error(CL_EIO, "%s: cannot open", path);` reads naturally. */
cl_status cl_error(cl_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last message set on this thread ("" if none). Never NULL. */
const char *cl_errmsg(void);

/* A short name for a status ("invalid argument", ...). */
const char *cl_status_name(cl_status st);

/* Clears the thread-local message. */
void cl_errclear(void);

#define CL_ASSERT(cond)                                                       \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Propagate a non-OK status: `CL_TRY(cl_foo(...));` inside a function that
 * has no cleanup to do. With cleanup, use `if ((st = f()) != CL_OK) goto fail;`. */
#define CL_TRY(expr)                                                          \
    do {                                                                      \
        cl_status cl_try_st_ = (expr);                                        \
        if (cl_try_st_ != CL_OK) return cl_try_st_;                           \
    } while (0)

#endif
