/* Fuzz target: the .npy reader (cl_npy_read and the converting readers).
 * The input is the file. A file that reads is written back with
 * cl_npy_write and read again: same dtype, shape and bytes.
 * FUZZ_ARGS: -max_len=4096 */
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "fuzz.h"

static size_t esize(cl_npy_dtype t)
{
    return t == CL_NPY_F64 || t == CL_NPY_I64 ? 8 : t == CL_NPY_U8 ? 1 : 4;
}

static void check_read(const char *path, const char *back)
{
    cl_npy a;
    if (cl_npy_read(path, &a) != CL_OK) {
        FUZZ_CHECK(a.data == NULL);
        return;
    }
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= 8);
    int64_t count = 1;
    for (int i = 0; i < a.ndim; i++) {
        FUZZ_CHECK(a.shape[i] >= 0);
        count *= a.shape[i];
    }
    FUZZ_CHECK(count == a.count);
    size_t nbytes = (size_t)a.count * esize(a.dtype);
    (void)fuzz_touch(a.data, nbytes);
    FUZZ_CHECK(cl_npy_write(back, a.dtype, a.data, a.ndim, a.shape) == CL_OK);
    cl_npy b;
    FUZZ_CHECK(cl_npy_read(back, &b) == CL_OK);
    FUZZ_CHECK(b.dtype == a.dtype && b.ndim == a.ndim && b.count == a.count);
    FUZZ_CHECK(memcmp(b.shape, a.shape, sizeof(int64_t) * (size_t)a.ndim) == 0);
    FUZZ_CHECK(nbytes == 0 || memcmp(a.data, b.data, nbytes) == 0);
    cl_npy_free(&b);
    cl_npy_free(&a);
}

int fuzz_npy(const uint8_t *data, size_t size)
{
    char path[512], back[512];
    fuzz_path(path, sizeof path, "in.npy");
    fuzz_path(back, sizeof back, "back.npy");
    fuzz_write(path, data, size);
    check_read(path, back);
    /* one converting reader per run, chosen by the size */
    int ndim = -1;
    int64_t shape[8];
    cl_status st;
    void *out = NULL;
    switch (size % 3) {
    case 0:
        st = cl_npy_read_f32(path, (float **)&out, &ndim, shape);
        break;
    case 1:
        st = cl_npy_read_f64(path, (double **)&out, &ndim, shape);
        break;
    default:
        st = cl_npy_read_i32(path, (int32_t **)&out, &ndim, shape);
        break;
    }
    if (st == CL_OK) FUZZ_CHECK(ndim >= 0 && ndim <= 8);
    else FUZZ_CHECK(out == NULL);
    cl_free(out);
    return 0;
}

CL_FUZZ_ENTRY(npy)
