/* Fuzz target: the tar reader of `collapse data fetch` (cl_tar_each over a
 * raw or gzip'ed archive). The input is the archive. Every member handed
 * to the callback must have a NUL-terminated name and lie inside the
 * archive (ASan checks the read); a member named "*stop*" makes the
 * callback fail, which must stop the walk with that status.
 * FUZZ_ARGS: -max_len=16384 */
#include <string.h>

#include "../../src/data/internal.h"
#include "fuzz.h"

typedef struct {
    int wanted, got;
} tar_count;

static int want(void *user, const char *name)
{
    tar_count *c = user;
    FUZZ_CHECK(strlen(name) < CL_DATA_PATH);
    c->wanted++;
    return name[0] != 'x'; /* skip some, to take the not-wanted path too */
}

static cl_status got(void *user, const char *name, const unsigned char *data, size_t size)
{
    tar_count *c = user;
    c->got++;
    (void)fuzz_touch(data, size);
    if (strstr(name, "stop")) return cl_error(CL_EINVAL, "stop requested");
    return CL_OK;
}

int fuzz_tar(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_path(path, sizeof path, "in.tar");
    fuzz_write(path, data, size);
    tar_count c = {0, 0};
    cl_status st = cl_tar_each(path, want, got, &c);
    FUZZ_CHECK(c.got <= c.wanted);
    FUZZ_CHECK(st == CL_OK || st == CL_EFORMAT || st == CL_EINVAL || st == CL_ENOMEM);
    return 0;
}

CL_FUZZ_ENTRY(tar)
