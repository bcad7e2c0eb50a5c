/* A dataset as a folder of IDX files, both ways: cl_data_save_idx writes the
 * images, labels and (multi-label) K-hot labels of a train/test pair, all
 * through temp names renamed at the end; cl_data_load_idxdir reads such a
 * folder back (cl_data_load with its path). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/sys.h"
#include "internal.h"

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One file to write: name, its bytes (owned), temp and final paths. */
typedef struct {
    unsigned char *buf;
    size_t len;
    char tmp[CL_DATA_PATH], dst[CL_DATA_PATH];
    int written;
} out_file;

/* An IDX buffer: header (magic 2048 + ndim, n, dims) + body bytes to fill. */
static cl_status idx_buf(out_file *f, int ndim, int64_t n, const int64_t *dims, size_t body)
{
    const size_t hdr = 4 + 4 * (size_t)ndim;
    f->buf = cl_alloc(hdr + body, "IDX file");
    if (!f->buf) return CL_ENOMEM;
    f->len = hdr + body;
    put_be32(f->buf, 2048u + (uint32_t)ndim);
    put_be32(f->buf + 4, (uint32_t)n);
    for (int k = 1; k < ndim; k++)
        put_be32(f->buf + 4 + 4 * k, (uint32_t)dims[k - 1]);
    return CL_OK;
}

/* The (up to) three files of split d into f[0..3), returning how many. */
static cl_status split_files(const cl_dataset *d, const char *pre, out_file *f, int *nf)
{
    *nf = 0;
    if (!d) return CL_OK;
    if (d->shape.c != 1 || d->normalized || d->n > UINT32_MAX || d->classes > 256)
        return cl_error(CL_EINVAL,
                        "%s: only 1-channel, not normalised data of at most 256 classes "
                        "can be written as IDX files",
                        d->name);
    const size_t dim = (size_t)cl_shape_size(d->shape), n = (size_t)d->n;
    int64_t dims[2] = {d->shape.h, d->shape.w};
    CL_TRY(idx_buf(&f[0], 3, d->n, dims, n * dim));
    *nf = 1;
    unsigned char *px = f[0].buf + 16;
    for (size_t i = 0; i < n * dim; i++) {
        float v = d->x[i];
        if (!(v >= 0.0f && v <= 1.0f))
            return cl_error(CL_EINVAL, "%s: pixel %g of sample %zu is outside [0, 1]", d->name,
                            (double)v, i / dim);
        px[i] = (unsigned char)(v * 255.0f + 0.5f);
    }
    CL_TRY(idx_buf(&f[1], 1, d->n, NULL, n));
    *nf = 2;
    for (size_t i = 0; i < n; i++)
        f[1].buf[8 + i] = (unsigned char)d->y[i];
    if (d->yk) {
        int64_t k = d->classes;
        CL_TRY(idx_buf(&f[2], 2, d->n, &k, n * (size_t)d->classes));
        *nf = 3;
        memcpy(f[2].buf + 12, d->yk, n * (size_t)d->classes);
    }
    static const char *const kind[3] = {"images-idx3", "labels-idx1", "labels-idx2"};
    for (int i = 0; i < *nf; i++)
        snprintf(f[i].dst, sizeof f[i].dst, "%s-%s-ubyte.gz", pre, kind[i]);
    return CL_OK;
}

cl_status cl_data_save_idx(const cl_dataset *train, const cl_dataset *test, const char *dir)
{
    out_file f[6];
    memset(f, 0, sizeof f);
    int na = 0, nb = 0;
    cl_status st = split_files(train, "train", f, &na);
    if (st == CL_OK) st = split_files(test, "t10k", f + 3, &nb);
    if (st == CL_OK) st = cl_mkdir_p(dir);
    for (int i = 0; i < 6 && st == CL_OK; i++) {
        if (!f[i].buf) continue;
        char base[64];
        snprintf(base, sizeof base, "%s", f[i].dst);
        if ((size_t)snprintf(f[i].dst, sizeof f[i].dst, "%s/%s", dir, base) >= sizeof f[i].dst ||
            (size_t)snprintf(f[i].tmp, sizeof f[i].tmp, "%s/.%s.tmp%ld", dir, base,
                             (long)getpid()) >= sizeof f[i].tmp) {
            st = cl_error(CL_EINVAL, "%s: path too long", dir);
            break;
        }
        f[i].written = 1;
        st = cl_data_write_file(f[i].tmp, f[i].buf, f[i].len, 1);
    }
    for (int i = 0; i < 6 && st == CL_OK; i++) {
        if (!f[i].buf) continue;
        if (rename(f[i].tmp, f[i].dst) != 0)
            st = cl_error(CL_EIO, "%s: cannot rename to %s: %s", f[i].tmp, f[i].dst,
                          strerror(errno));
        else
            f[i].written = 0;
    }
    for (int i = 0; i < 6; i++) {
        if (f[i].written) unlink(f[i].tmp);
        cl_free(f[i].buf);
    }
    return st;
}

/* Attaches the K-hot file khot (exact path) to d: n rows as d, K columns
 * >= d's classes, the lowest label of each row equal to d's label. */
static cl_status attach_khot(cl_dataset *d, const char *khot)
{
    unsigned char *b = NULL;
    size_t len;
    cl_idx_header h;
    cl_status st;
    if ((st = cl_data_slurp(khot, &b, &len)) != CL_OK) return st;
    if ((st = cl_idx_parse(khot, b, len, 2, &h)) != CL_OK) goto done;
    const int K = (int)h.dims[0];
    if (h.n != d->n || K < 2 || K > CL_DATA_MAX_CLASSES) {
        st = cl_error(CL_EFORMAT, "%s: %lld rows of %d labels, want %lld rows of 2..%d", khot,
                      (long long)h.n, K, (long long)d->n, CL_DATA_MAX_CLASSES);
        goto done;
    }
    const unsigned char *yk = b + 12;
    for (int64_t i = 0; i < d->n; i++) {
        const int y = d->y[i];
        if (y >= K || !yk[(size_t)i * K + y] ||
            memchr(yk + (size_t)i * K, 1, (size_t)y) != NULL) {
            st = cl_error(CL_EFORMAT,
                          "%s: row %lld does not have %d (the label file's) as its lowest label",
                          khot, (long long)i, y);
            goto done;
        }
    }
    for (int c = d->classes; c < K; c++)
        snprintf(d->class_names[c], sizeof d->class_names[c], "%d", c);
    d->classes = K;
    st = cl_data_set_khot(d, yk, h.n, K, khot);
done:
    cl_free(b);
    return st;
}

cl_status cl_data_load_idxdir(const char *dir, int train, cl_dataset *out)
{
    memset(out, 0, sizeof *out);
    static const char *const kind[3] = {"images-idx3", "labels-idx1", "labels-idx2"};
    char p[3][CL_DATA_PATH], r[3][CL_DATA_PATH];
    for (int i = 0; i < 3; i++)
        if ((size_t)snprintf(p[i], CL_DATA_PATH, "%s/%s-%s-ubyte", dir,
                             train ? "train" : "t10k", kind[i]) >= CL_DATA_PATH)
            return cl_error(CL_EINVAL, "%s: path too long", dir);
    CL_TRY(cl_data_resolve(p[0], r[0], CL_DATA_PATH));
    CL_TRY(cl_data_resolve(p[1], r[1], CL_DATA_PATH));
    cl_status st = cl_idx_load_k(r[0], r[1], 0, out);
    if (st == CL_OK) {
        if (cl_data_resolve(p[2], r[2], CL_DATA_PATH) == CL_OK)
            st = attach_khot(out, r[2]);
        else
            cl_errclear(); /* single-label folder */
    }
    if (st != CL_OK) {
        cl_dataset_free(out);
        return st;
    }
    snprintf(out->name, sizeof out->name, "%.63s", dir);
    return CL_OK;
}
