/* .npy reader and atomic writer (atomic.h) (NumPy format 1.0/2.0/3.0).
 *
 * File layout: "\x93NUMPY", major, minor, header length (uint16 LE for v1,
 * uint32 LE for v2/v3), then an ASCII (v3: UTF-8) Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
 * spaces and a final '\n', then the raw little-endian C-order data. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collapse/atomic.h"
#include "collapse/mem.h"
#include "collapse/npy.h"

#define NPY_MAX_HEADER (1 << 20)

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static size_t dtype_size(cl_npy_dtype t)
{
    switch (t) {
    case CL_NPY_F32:
        return 4;
    case CL_NPY_F64:
        return 8;
    case CL_NPY_I32:
        return 4;
    case CL_NPY_I64:
        return 8;
    case CL_NPY_U8:
        return 1;
    }
    return 0;
}

static const char *dtype_descr(cl_npy_dtype t)
{
    switch (t) {
    case CL_NPY_F32:
        return "<f4";
    case CL_NPY_F64:
        return "<f8";
    case CL_NPY_I32:
        return "<i4";
    case CL_NPY_I64:
        return "<i8";
    case CL_NPY_U8:
        return "|u1";
    }
    return "?";
}

/* ---- header parsing: a tiny recursive-descent parser for the dict ---- */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") into buf; 0 on error. */
static int parse_str(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap) return 0;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[n] = 0;
    return 1;
}

static int parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A tuple of non-negative ints: (), (3,), (3, 4) ... */
static int parse_shape(cursor *c, int *ndim, int64_t *shape)
{
    if (!eat(c, '(')) return 0;
    *ndim = 0;
    for (;;) {
        if (eat(c, ')')) return 1;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
        if (*ndim >= 8) return 0;
        shape[(*ndim)++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return 1;
        return 0;
    }
}

static cl_status parse_header(const char *path, const char *h, size_t len, cl_npy *out)
{
    cursor c = {h, h + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0;
    char descr[32] = {0};
    if (!eat(&c, '{')) return cl_error(CL_EFORMAT, "%s: bad .npy header (no dict)", path);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return cl_error(CL_EFORMAT, "%s: bad .npy header (expected 'key':)", path);
        if (strcmp(key, "descr") == 0) {
            if (!parse_str(&c, descr, sizeof descr))
                return cl_error(CL_EFORMAT,
                                "%s: bad .npy header (descr is not a simple dtype)",
                                path);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True"))
                fortran = 1;
            else if (parse_word(&c, "False"))
                fortran = 0;
            else
                return cl_error(CL_EFORMAT, "%s: bad .npy header (fortran_order)", path);
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(&c, &out->ndim, out->shape))
                return cl_error(CL_EFORMAT,
                                "%s: bad .npy header (shape must be a tuple of "
                                "at most 8 ints)",
                                path);
            have_shape = 1;
        } else {
            return cl_error(CL_EFORMAT, "%s: bad .npy header (unknown key '%s')", path,
                            key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return cl_error(CL_EFORMAT, "%s: bad .npy header (expected ',' or '}')", path);
    }
    if (!have_descr || !have_fortran || !have_shape)
        return cl_error(CL_EFORMAT,
                        "%s: bad .npy header (needs descr, fortran_order, shape)", path);
    if (fortran)
        return cl_error(CL_EFORMAT,
                        "%s: Fortran-order array not supported (save C order, "
                        "e.g. np.ascontiguousarray)",
                        path);
    char order = descr[0];
    const char *t = descr + 1;
    if (strcmp(t, "u1") == 0 &&
        (order == '|' || order == '<' || order == '=' || order == '>'))
        out->dtype = CL_NPY_U8;
    else if (order == '>')
        return cl_error(CL_EFORMAT, "%s: big-endian dtype '%s' not supported", path,
                        descr);
    else if (order != '<')
        return cl_error(CL_EFORMAT,
                        "%s: unsupported dtype '%s' (want <f4 <f8 <i4 <i8 |u1)", path,
                        descr);
    else if (strcmp(t, "f4") == 0)
        out->dtype = CL_NPY_F32;
    else if (strcmp(t, "f8") == 0)
        out->dtype = CL_NPY_F64;
    else if (strcmp(t, "i4") == 0)
        out->dtype = CL_NPY_I32;
    else if (strcmp(t, "i8") == 0)
        out->dtype = CL_NPY_I64;
    else
        return cl_error(CL_EFORMAT,
                        "%s: unsupported dtype '%s' (want <f4 <f8 <i4 <i8 |u1)", path,
                        descr);
    int64_t count = 1;
    for (int i = 0; i < out->ndim; i++) {
        size_t prod;
        if (!cl_mul_ok((size_t)count, (size_t)out->shape[i], &prod) ||
            prod > (size_t)INT64_MAX)
            return cl_error(CL_EFORMAT, "%s: shape too large", path);
        count = (int64_t)prod;
    }
    out->count = count;
    return CL_OK;
}

cl_status cl_npy_read(const char *path, cl_npy *out)
{
    cl_status st = CL_OK;
    char *hdr = NULL;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));

    unsigned char pre[10];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = cl_error(CL_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6];
    size_t hlen, pos;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) goto truncated;
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
        pos = 10;
    } else if (major == 2 || major == 3) {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) goto truncated;
        hlen = (size_t)b[0] | ((size_t)b[1] << 8) | ((size_t)b[2] << 16) |
               ((size_t)b[3] << 24);
        pos = 12;
    } else {
        st = cl_error(CL_EFORMAT, "%s: unsupported .npy version %d.%d", path, major,
                      pre[7]);
        goto fail;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = cl_error(CL_EFORMAT, "%s: bad .npy header (length %zu)", path, hlen);
        goto fail;
    }
    /* Every size is checked against the file's length before allocating. */
    if (fseeko(f, 0, SEEK_END) != 0) {
        st = cl_error(CL_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    off_t fsize = ftello(f);
    if (fsize < 0 || fseeko(f, (off_t)pos, SEEK_SET) != 0) {
        st = cl_error(CL_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t)fsize < pos + hlen) goto truncated;
    hdr = cl_alloc(hlen + 1, path);
    if (!hdr) {
        st = CL_ENOMEM;
        goto fail;
    }
    if (fread(hdr, 1, hlen, f) != hlen) goto truncated;
    pos += hlen;
    if ((st = parse_header(path, hdr, hlen, out)) != CL_OK) goto fail;

    size_t esz = dtype_size(out->dtype), nbytes;
    if (!cl_mul_ok((size_t)out->count, esz, &nbytes)) {
        st = cl_error(CL_EFORMAT, "%s: shape too large", path);
        goto fail;
    }
    /* The data size must match the shape exactly. */
    if ((uint64_t)fsize - pos != (uint64_t)nbytes) {
        st = cl_error(CL_EFORMAT,
                      "%s: data is %lld bytes but shape needs %zu (truncated or "
                      "shape mismatch)",
                      path, (long long)((uint64_t)fsize - pos), nbytes);
        goto fail;
    }
    out->data = cl_alloc(nbytes, path);
    if (!out->data) {
        st = CL_ENOMEM;
        goto fail;
    }
    if (fread(out->data, 1, nbytes, f) != nbytes) goto truncated;
    cl_free(hdr);
    fclose(f);
    return CL_OK;

truncated:
    st = cl_error(CL_EFORMAT, "%s: truncated .npy file", path);
fail:
    cl_free(hdr);
    cl_free(out->data);
    out->data = NULL;
    fclose(f);
    return st;
}

void cl_npy_free(cl_npy *a)
{
    if (!a) return;
    cl_free(a->data);
    a->data = NULL;
}

static void copy_shape(const cl_npy *a, int *ndim, int64_t *shape)
{
    if (ndim) *ndim = a->ndim;
    if (shape)
        for (int i = 0; i < a->ndim; i++)
            shape[i] = a->shape[i];
}

/* A float array (<f4 or <f8) as want (CL_NPY_F32 or CL_NPY_F64),
 * converted when the file holds the other width. */
static cl_status read_float(const char *path, cl_npy_dtype want, void **data, int *ndim,
                            int64_t *shape)
{
    cl_npy a;
    *data = NULL;
    CL_TRY(cl_npy_read(path, &a));
    if (a.dtype != CL_NPY_F32 && a.dtype != CL_NPY_F64) {
        cl_npy_free(&a);
        return cl_error(CL_EFORMAT, "%s: expected a float array (<f4 or <f8), got %s",
                        path, dtype_descr(a.dtype));
    }
    if (a.dtype != want) {
        size_t elem = want == CL_NPY_F32 ? sizeof(float) : sizeof(double);
        void *d = cl_alloc_array((size_t)a.count, elem, path);
        if (!d) {
            cl_npy_free(&a);
            return CL_ENOMEM;
        }
        if (want == CL_NPY_F32) {
            float *o = d;
            const double *s = a.data;
            for (int64_t i = 0; i < a.count; i++)
                o[i] = (float)s[i];
        } else {
            double *o = d;
            const float *s = a.data;
            for (int64_t i = 0; i < a.count; i++)
                o[i] = s[i];
        }
        cl_npy_free(&a);
        a.data = d;
    }
    *data = a.data;
    copy_shape(&a, ndim, shape);
    return CL_OK;
}

cl_status cl_npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape)
{
    void *d;
    cl_status st = read_float(path, CL_NPY_F32, &d, ndim, shape);
    *data = d;
    return st;
}

cl_status cl_npy_read_f64(const char *path, double **data, int *ndim, int64_t *shape)
{
    void *d;
    cl_status st = read_float(path, CL_NPY_F64, &d, ndim, shape);
    *data = d;
    return st;
}

cl_status cl_npy_read_i32(const char *path, int32_t **data, int *ndim, int64_t *shape)
{
    cl_npy a;
    *data = NULL;
    CL_TRY(cl_npy_read(path, &a));
    if (a.dtype == CL_NPY_I32) {
        *data = a.data;
    } else if (a.dtype == CL_NPY_I64 || a.dtype == CL_NPY_U8) {
        int32_t *d = cl_alloc_array((size_t)a.count, sizeof(int32_t), path);
        if (!d) {
            cl_npy_free(&a);
            return CL_ENOMEM;
        }
        if (a.dtype == CL_NPY_U8) {
            const uint8_t *s = a.data;
            for (int64_t i = 0; i < a.count; i++)
                d[i] = s[i];
        } else {
            const int64_t *s = a.data;
            for (int64_t i = 0; i < a.count; i++) {
                if (s[i] < INT32_MIN || s[i] > INT32_MAX) {
                    long long v = (long long)s[i];
                    cl_free(d);
                    cl_npy_free(&a);
                    return cl_error(CL_EFORMAT,
                                    "%s: value %lld at index %lld does not fit "
                                    "in int32",
                                    path, v, (long long)i);
                }
                d[i] = (int32_t)s[i];
            }
        }
        cl_npy_free(&a);
        *data = d;
    } else {
        cl_npy_free(&a);
        return cl_error(CL_EFORMAT,
                        "%s: expected an integer array (<i4, <i8 or |u1), got %s", path,
                        dtype_descr(a.dtype));
    }
    copy_shape(&a, ndim, shape);
    return CL_OK;
}

cl_status cl_npy_write(const char *path, cl_npy_dtype dtype, const void *data, int ndim,
                       const int64_t *shape)
{
    CL_ASSERT(ndim >= 0 && ndim <= 8);
    char dict[512];
    int n =
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                 dtype_descr(dtype));
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        CL_ASSERT(shape[i] >= 0);
        if (!cl_mul_ok(count, (size_t)shape[i], &count))
            return cl_error(CL_EINVAL, "%s: shape too large", path);
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[i],
                      (ndim == 1 || i + 1 < ndim) ? "," : "");
        if (i + 1 < ndim) n += snprintf(dict + n, sizeof dict - (size_t)n, " ");
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Version 1.0 header, padded with spaces so the data starts on a 64-byte boundary. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    char hdr[640];
    memset(hdr, ' ', hlen);
    memcpy(hdr, dict, (size_t)n);
    hdr[hlen - 1] = '\n';

    size_t nbytes;
    if (!cl_mul_ok(count, dtype_size(dtype), &nbytes))
        return cl_error(CL_EINVAL, "%s: shape too large", path);

    cl_atomic_file a;
    CL_TRY(cl_atomic_open(&a, path));
    cl_atomic_put(&a, pre, 10);
    cl_atomic_put(&a, hdr, hlen);
    cl_atomic_put(&a, data, nbytes);
    return cl_atomic_commit(&a);
}
