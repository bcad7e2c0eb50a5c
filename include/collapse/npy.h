/* .npy files (NumPy format 1.0/2.0/3.0): the exchange format for features,
 * labels and classifier weights, and for test fixtures.
 * Reading accepts little-endian, C-order arrays of float32/float64 ('<f4',
 * '<f8') and int32/int64/uint8 ('<i4', '<i8', '|u1'); anything else (Fortran
 * order, big-endian, other dtypes, bad header, truncated data) is CL_EFORMAT
 * with a message naming the file. Writing is atomic: a temp file renamed into
 * place, so a failed write leaves nothing behind. */
#ifndef COLLAPSE_NPY_H
#define COLLAPSE_NPY_H

#include <stdint.h>

#include "collapse/error.h"

typedef enum { CL_NPY_F32, CL_NPY_F64, CL_NPY_I32, CL_NPY_I64, CL_NPY_U8 } cl_npy_dtype;

typedef struct {
    cl_npy_dtype dtype;
    int ndim;            /* 0..8 */
    int64_t shape[8];
    int64_t count;       /* product of shape */
    void *data;          /* count elements of dtype, cl_alloc'ed; owned */
} cl_npy;

cl_status cl_npy_read(const char *path, cl_npy *out);
void cl_npy_free(cl_npy *a);

/* Converting readers: any float dtype -> float32 / float64, any int dtype ->
 * int32 (values must fit). *data is cl_alloc'ed, caller frees with cl_free.
 * shape/ndim are written to the out-params (shape needs room for 8). */
cl_status cl_npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape);
cl_status cl_npy_read_f64(const char *path, double **data, int *ndim, int64_t *shape);
cl_status cl_npy_read_i32(const char *path, int32_t **data, int *ndim, int64_t *shape);

/* Writers (atomic.h: PATH.tmp, fsync, rename). Errors: CL_EINVAL (shape too
 * large), CL_EIO "<path>: write failed: <reason>" (nothing left behind). */
cl_status cl_npy_write(const char *path, cl_npy_dtype dtype, const void *data, int ndim,
                       const int64_t *shape);

#endif
