/* IDX files (MNIST, Fashion-MNIST): idx3 ubyte images + idx1 ubyte labels
 * (+ idx2 ubyte K-hot labels of multi-label folders, idxdir.c). */
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

cl_status cl_idx_parse(const char *path, const unsigned char *buf, size_t len,
                       int want_dims, cl_idx_header *h)
{
    memset(h, 0, sizeof *h);
    CL_ASSERT(want_dims >= 1 && want_dims <= 3);
    const uint32_t want_magic = 2048u + (uint32_t)want_dims; /* ubyte, want_dims dims */
    const char *what = want_dims == 1 ? "labels" : want_dims == 2 ? "K-hot labels" : "images";
    if (len < 4)
        return cl_error(CL_EFORMAT, "%s: truncated IDX header (%zu bytes)", path, len);
    uint32_t magic = be32(buf);
    if (magic != want_magic)
        return cl_error(CL_EFORMAT,
                        "%s: wrong magic %u (want %u: IDX %s, unsigned bytes)", path,
                        magic, want_magic, what);
    size_t hdr = 4 + 4 * (size_t)want_dims;
    if (len < hdr)
        return cl_error(CL_EFORMAT, "%s: truncated IDX header (%zu bytes)", path, len);
    h->n = be32(buf + 4);
    h->ndims = want_dims - 1;
    size_t per = 1;
    for (int i = 0; i < h->ndims; i++) {
        h->dims[i] = be32(buf + 8 + 4 * i);
        if (h->dims[i] <= 0 || h->dims[i] > 4096)
            return cl_error(CL_EFORMAT, "%s: bad image dimension %lld", path,
                            (long long)h->dims[i]);
        per *= (size_t)h->dims[i];
    }
    size_t body = len - hdr, want = (size_t)h->n * per;
    if (body < want)
        return cl_error(
            CL_EFORMAT,
            "%s: truncated: header says %lld %s but the data ends after %zu of %zu "
            "bytes",
            path, (long long)h->n, what, body, want);
    if (body > want)
        return cl_error(CL_EFORMAT, "%s: %zu unexpected bytes after the %lld %s", path,
                        body - want, (long long)h->n, what);
    return CL_OK;
}

cl_status cl_idx_load_k(const char *images, const char *labels, int k, cl_dataset *out)
{
    unsigned char *ib = NULL, *lb = NULL;
    size_t il, ll;
    cl_idx_header ih, lh;
    cl_status st;
    if ((st = cl_data_slurp(images, &ib, &il)) != CL_OK) goto fail;
    if ((st = cl_idx_parse(images, ib, il, 3, &ih)) != CL_OK) goto fail;
    if ((st = cl_data_slurp(labels, &lb, &ll)) != CL_OK) goto fail;
    if ((st = cl_idx_parse(labels, lb, ll, 1, &lh)) != CL_OK) goto fail;
    if (ih.n != lh.n) {
        st = cl_error(CL_EFORMAT, "%s: %lld labels but %s has %lld images", labels,
                      (long long)lh.n, images, (long long)ih.n);
        goto fail;
    }
    const unsigned char *lab = lb + 8;
    int maxl = 0;
    for (int64_t i = 0; i < lh.n; i++)
        if (lab[i] > maxl) maxl = lab[i];
    int K = k > 0 ? k : (maxl + 1 > 10 ? maxl + 1 : 10);
    if (maxl >= K || K > CL_DATA_MAX_CLASSES) {
        int64_t bad = 0;
        while (lab[bad] < K && lab[bad] < CL_DATA_MAX_CLASSES)
            bad++;
        st = cl_error(CL_EFORMAT, "%s: label %d of sample %lld is out of range [0, %d)",
                      labels, lab[bad], (long long)bad,
                      K < CL_DATA_MAX_CLASSES ? K : CL_DATA_MAX_CLASSES);
        goto fail;
    }
    cl_shape shape = {1, (int)ih.dims[0], (int)ih.dims[1]};
    if ((st = cl_data_alloc(out, ih.n, shape)) != CL_OK) goto fail;
    out->classes = K;
    float t[256];
    cl_data_u8_table(t);
    const unsigned char *px = ib + 16;
    const size_t total = (size_t)ih.n * (size_t)cl_shape_size(shape);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < total; i++)
        out->x[i] = t[px[i]];
    for (int64_t i = 0; i < ih.n; i++)
        out->y[i] = out->y_true[i] = lab[i];
    for (int c = 0; c < K; c++)
        snprintf(out->class_names[c], sizeof out->class_names[c], "%d", c);
fail:
    cl_free(ib);
    cl_free(lb);
    return st;
}

cl_status cl_data_load_idx(const char *images, const char *labels, cl_dataset *out)
{
    char ip[CL_DATA_PATH], lp[CL_DATA_PATH];
    memset(out, 0, sizeof *out);
    CL_TRY(cl_data_resolve(images, ip, sizeof ip));
    CL_TRY(cl_data_resolve(labels, lp, sizeof lp));
    const char *base = strrchr(images, '/');
    snprintf(out->name, sizeof out->name, "%.63s", base ? base + 1 : images);
    cl_status st = cl_idx_load_k(ip, lp, 0, out);
    if (st != CL_OK) cl_dataset_free(out);
    return st;
}
