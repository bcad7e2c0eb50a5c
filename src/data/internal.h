/* Internal helpers of the data module (not part of the public API, not
 * installed): shared by the files of src/data/ and, as the module's one
 * documented internal header, used by the data tests (tests/test_data_*.c)
 * for the loaders' building blocks (file reading, IDX, CIFAR, SHA-256). */
#ifndef COLLAPSE_DATA_INTERNAL_H
#define COLLAPSE_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "collapse/data.h"

#define CL_DATA_PATH 4096

/* ---- file.c: whole-file reading, raw or gzip (zlib) ---- */

/* 1 if `path` names an existing regular file. */
int cl_data_file_exists(const char *path);

/* Resolves `path`: itself if it exists, else path + ".gz" if that exists.
 * Writes the chosen name into out[cap]. CL_EIO naming both if neither. */
cl_status cl_data_resolve(const char *path, char *out, size_t cap);

/* Reads the whole file `path` (exactly that name), gunzipping it if it
 * starts with the gzip magic (multi-member streams are fine). *buf is
 * cl_alloc'ed (free with cl_free). Errors: CL_EIO (open/read), CL_EFORMAT
 * (corrupt or truncated gzip), CL_ENOMEM. */
cl_status cl_data_slurp(const char *path, unsigned char **buf, size_t *len);

/* Inflates the gzip stream src[n] (multi-member allowed) into a new
 * cl_alloc'ed buffer; `path` names it in errors (CL_EFORMAT, CL_ENOMEM). */
cl_status cl_data_gunzip(const char *path, const unsigned char *src, size_t n,
                         unsigned char **out, size_t *outlen);

/* 1 if buf starts with the gzip magic. */
static inline int cl_data_is_gz(const unsigned char *buf, size_t len)
{
    return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* Reads the file as is (no gunzip), for copying and hashing. */
cl_status cl_data_slurp_raw(const char *path, unsigned char **buf, size_t *len);

/* Writes buf to `path` as is (gz = 0) or gzip-compressed (gz = 1), with
 * fsync; the caller renames. CL_EIO naming the path. */
cl_status cl_data_write_file(const char *path, const void *buf, size_t len, int gz);

/* Byte -> float in [0, 1] table (x / 255). */
void cl_data_u8_table(float t[256]);

/* Allocates d->x [n, C*H*W] (NOT zeroed: the caller writes every pixel),
 * y, y_true, index (index[i] = i) and sets
 * n/shape; other fields untouched. */
cl_status cl_data_alloc(cl_dataset *d, int64_t n, cl_shape shape);

/* ---- prepare.c / imbalance.c: per-class subsets ---- */

/* Keeps, for each class c (by y_true), the first quota[c] samples of a
 * seeded shuffle of all samples (all of them if the class has fewer), in
 * source order. quota has CL_DATA_MAX_CLASSES entries. */
cl_status cl_data_keep_quota(cl_dataset *d, const int64_t *quota, cl_rng *rng);

/* Replaces d's arrays (x, y, y_true, index, t, yk) by the rows keep[0..m)
 * (ascending). */
cl_status cl_data_take_rows(cl_dataset *d, const int32_t *keep, int64_t m);

/* khot.c: --train-per-class N on multi-label data: per label set, the
 * largest sets keep N, every other set the same fraction of its samples
 * (rounded, at least 1); which ones is a seeded choice, kept in source
 * order. CL_EINVAL when the largest set has fewer than N. */
cl_status cl_data_subset_sets(cl_dataset *d, int64_t per, cl_rng *rng, const char *which);

/* Applies --imbalance / --long-tail to the training split (a no-op when
 * both are off). */
cl_status cl_data_imbalance(cl_dataset *d, const cl_data_opts *o, cl_rng *rng);
/* mlab.c: "mlab-mnist" by name (cl_data_load). */
cl_status cl_data_load_mlab(const char *dir, int train, cl_dataset *out);
/* idxdir.c: a folder of IDX files (train-/t10k- prefixes), with K-hot
 * labels when it has them (cl_data_load with a path). */
cl_status cl_data_load_idxdir(const char *dir, int train, cl_dataset *out);
/* pose.c: "mnist-pose" by name (cl_data_load). */
cl_status cl_data_load_pose(const char *dir, int train, cl_dataset *out);

/* ---- idx.c ---- */

typedef struct {
    int64_t n;
    int ndims;
    int64_t dims[3]; /* after the count: rows, cols for idx3 */
} cl_idx_header;

/* Checks an IDX buffer: magic (2049 labels / 2050 K-hot labels / 2051
 * images, expected via `want_dims` = 1, 2 or 3), header, exact size.
 * CL_EFORMAT naming path. */
cl_status cl_idx_parse(const char *path, const unsigned char *buf, size_t len,
                       int want_dims, cl_idx_header *h);

/* Loads an IDX pair; k > 0 fixes K (labels must be < k), k = 0 infers
 * K = max(10, max label + 1). Paths are exact (no .gz fallback). */
cl_status cl_idx_load_k(const char *images, const char *labels, int k, cl_dataset *out);

/* ---- cifar.c ---- */

/* Checks a CIFAR buffer of `record`-byte records (3073 or 3074): size a
 * multiple of the record, labels < k at label byte `label_off` (0 for
 * CIFAR-10; 0 coarse / 1 fine for CIFAR-100). Adds the label histogram to
 * hist[k] (may be NULL), returns the record count in *n. */
cl_status cl_cifar_check(const char *path, const unsigned char *buf, size_t len,
                         int record, int label_off, int k, int64_t *n, int64_t *hist);

/* Default class names of CIFAR-10. */
extern const char *const cl_cifar10_names[10];

/* ---- tar.c: ustar reader over a raw or gzip'ed tarball ---- */

/* For each regular file in the archive whose name want(user, name) accepts,
 * reads its content and calls got(user, name, data, size); a non-OK status
 * from got stops the walk and is returned. Errors: CL_EIO, CL_EFORMAT (bad
 * header checksum, truncated member, corrupt gzip). */
typedef int (*cl_tar_want_fn)(void *user, const char *name);
typedef cl_status (*cl_tar_got_fn)(void *user, const char *name,
                                   const unsigned char *data, size_t size);
cl_status cl_tar_each(const char *path, cl_tar_want_fn want, cl_tar_got_fn got,
                      void *user);

/* ---- sha256.c ---- */

/* hex[65] = lowercase hex digest of data[len]. */
void cl_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
