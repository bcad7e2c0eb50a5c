/* Result files written whole or not at all.
 *
 * Every file collapse writes as a result (CSV, .npy, PNG, config.json) goes
 * through one of these: the bytes go to PATH.tmp in the same folder, which
 * is flushed, fsync'ed, closed and renamed over PATH, then the folder is
 * fsync'ed. A reader (or a run killed at any moment) sees the old file or
 * the new one, never a mix; on any error PATH.tmp is removed and PATH is
 * left as it was.
 *
 *   cl_atomic_file a;
 *   CL_TRY(cl_atomic_open(&a, "run/W.npy"));
 *   cl_atomic_put(&a, header, hlen);
 *   cl_atomic_put(&a, data, nbytes);
 *   return cl_atomic_commit(&a);      // or cl_atomic_abort(&a) to drop it
 *
 * Writers that open files by name themselves (PLplot) use cl_atomic_name,
 * write a->tmp, then cl_atomic_commit. */
#ifndef COLLAPSE_ATOMIC_H
#define COLLAPSE_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "collapse/error.h"

#define CL_ATOMIC_PATHMAX 4096

typedef struct {
    FILE *f;                            /* the temp file; NULL after cl_atomic_name */
    char path[CL_ATOMIC_PATHMAX];       /* final name */
    char tmp[CL_ATOMIC_PATHMAX + 8];    /* path + ".tmp" */
    int err;                            /* errno of the first failed write, -1 if unknown */
} cl_atomic_file;

/* Creates path.tmp (truncated) for writing. Errors: CL_EINVAL (path too
 * long), CL_EIO naming path.tmp. Nothing to clean up on error. */
cl_status cl_atomic_open(cl_atomic_file *a, const char *path);

/* Only names path.tmp (a->f stays NULL): the caller writes that file by
 * name, then calls cl_atomic_commit or cl_atomic_abort. Errors: CL_EINVAL
 * (path too long). */
cl_status cl_atomic_name(cl_atomic_file *a, const char *path);

/* Appends n bytes to a->f; a failure is remembered and reported by
 * cl_atomic_commit (callers may also write a->f directly and call
 * cl_atomic_failed on a failed stdio call). */
void cl_atomic_put(cl_atomic_file *a, const void *p, size_t n);

/* Records a failed write on a->f (errno is read). */
void cl_atomic_failed(cl_atomic_file *a);

/* Flushes, fsyncs and closes the temp file, renames it over path and
 * fsyncs the folder. On any failure (including one remembered from
 * cl_atomic_put) removes the temp file; path keeps its old content.
 * Errors: CL_EIO "<path>: write failed: <reason>". */
cl_status cl_atomic_commit(cl_atomic_file *a);

/* Closes and removes the temp file. Safe to call twice. */
void cl_atomic_abort(cl_atomic_file *a);

/* fsyncs the folder holding path (so that a rename or mkdir there is
 * durable); 0, or the errno (a folder that cannot be synced, EINVAL, is 0). */
int cl_atomic_sync_parent(const char *path);

/* cl_atomic_open + put(data, len) + commit. Errors as those. */
cl_status cl_atomic_write_file(const char *path, const void *data, size_t len);

#endif
