/* Atomic result files: temp name, fsync, rename, folder fsync (atomic.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collapse/atomic.h"

static cl_status set_names(cl_atomic_file *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return cl_error(CL_EINVAL, "%.200s...: path too long", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
    return CL_OK;
}

cl_status cl_atomic_name(cl_atomic_file *a, const char *path) { return set_names(a, path); }

cl_status cl_atomic_open(cl_atomic_file *a, const char *path)
{
    CL_TRY(set_names(a, path));
    a->f = fopen(a->tmp, "wb");
    if (!a->f) return cl_error(CL_EIO, "%s: cannot create: %s", a->tmp, strerror(errno));
    return CL_OK;
}

void cl_atomic_failed(cl_atomic_file *a)
{
    if (!a->err) a->err = errno ? errno : -1;
}

void cl_atomic_put(cl_atomic_file *a, const void *p, size_t n)
{
    if (a->err || n == 0) return;
    errno = 0;
    if (!a->f || fwrite(p, 1, n, a->f) != n) cl_atomic_failed(a);
}

/* The rename itself becomes durable by this (atomic.h). */
int cl_atomic_sync_parent(const char *path)
{
    char dir[CL_ATOMIC_PATHMAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return 0;
    int rc = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
    close(fd);
    return rc;
}

/* Flush + fsync + close of the temp file; 0 or an errno (-1 unknown). */
static int finish_tmp(cl_atomic_file *a)
{
    int e = a->err;
    errno = 0;
    if (a->f) {
        if (!e && fflush(a->f) != 0) e = errno ? errno : -1;
        if (!e && fsync(fileno(a->f)) != 0) e = errno ? errno : -1;
        if (fclose(a->f) != 0 && !e) e = errno ? errno : -1;
        a->f = NULL;
        return e;
    }
    if (e) return e;
    int fd = open(a->tmp, O_RDONLY); /* written by name: sync it through a new descriptor */
    if (fd < 0) return errno;
    if (fsync(fd) != 0) e = errno ? errno : -1;
    close(fd);
    return e;
}

cl_status cl_atomic_commit(cl_atomic_file *a)
{
    int e = finish_tmp(a);
    if (!e && rename(a->tmp, a->path) != 0) e = errno ? errno : -1;
    if (e) {
        remove(a->tmp);
        return cl_error(CL_EIO, "%s: write failed: %s", a->path,
                        e > 0 ? strerror(e) : "unknown error");
    }
    if ((e = cl_atomic_sync_parent(a->path)) != 0)
        return cl_error(CL_EIO, "%s: write failed: cannot sync its folder: %s", a->path,
                        strerror(e));
    return CL_OK;
}

void cl_atomic_abort(cl_atomic_file *a)
{
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) remove(a->tmp);
    a->tmp[0] = 0;
}

cl_status cl_atomic_write_file(const char *path, const void *data, size_t len)
{
    cl_atomic_file a;
    CL_TRY(cl_atomic_open(&a, path));
    cl_atomic_put(&a, data, len);
    return cl_atomic_commit(&a);
}
