/* Whole-file reading for the loaders: raw files or gzip (one inflate pass
 * into a buffer sized from the gzip trailer), checked writes for fetch. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "collapse/mem.h"
#include "internal.h"

int cl_data_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

cl_status cl_data_resolve(const char *path, char *out, size_t cap)
{
    if (cl_data_file_exists(path)) {
        if ((size_t)snprintf(out, cap, "%s", path) >= cap)
            return cl_error(CL_EINVAL, "%s: path too long", path);
        return CL_OK;
    }
    if ((size_t)snprintf(out, cap, "%s.gz", path) >= cap)
        return cl_error(CL_EINVAL, "%s: path too long", path);
    if (cl_data_file_exists(out)) return CL_OK;
    return cl_error(CL_EIO, "%s: cannot open (nor %s.gz): no such file", path, path);
}

cl_status cl_data_slurp_raw(const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cl_error(CL_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = cl_alloc(n ? n : 1, path);
    if (!b) {
        close(fd);
        return cl_error(CL_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            cl_free(b);
            close(fd);
            return cl_error(CL_EIO, "%s: read failed: %s", path,
                            r ? strerror(e) : "short read");
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return CL_OK;
}

/* Inflates a (possibly multi-member) gzip stream src[n] into a new buffer. */
cl_status cl_data_gunzip(const char *path, const unsigned char *src, size_t n,
                         unsigned char **out, size_t *outlen)
{
    /* The trailer's ISIZE is the last member's size mod 2^32: a good first guess. */
    size_t cap = n >= 4 ? ((size_t)src[n - 4] | (size_t)src[n - 3] << 8 |
                           (size_t)src[n - 2] << 16 | (size_t)src[n - 1] << 24)
                        : 0;
    if (cap < n) cap = n * 2;
    if (cap / 1032 > n) cap = n * 1032; /* deflate's best ratio: a bogus trailer */
    cap += 1; /* room to notice more output than the guess without a retry */
    unsigned char *b = cl_alloc(cap, path);
    if (!b) return cl_error(CL_ENOMEM, "%s: out of memory (%zu bytes)", path, cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        cl_free(b);
        return cl_error(CL_ENOMEM, "%s: inflateInit failed", path);
    }
    size_t inpos = 0, outpos = 0;
    cl_status st = CL_OK;
    for (;;) {
        if (outpos == cap) {
            size_t ncap = cap * 2;
            unsigned char *nb = cl_realloc(b, cap, ncap, path);
            if (!nb) {
                st = cl_error(CL_ENOMEM, "%s: out of memory (%zu bytes)", path, ncap);
                break;
            }
            b = nb;
            cap = ncap;
        }
        size_t in_chunk = n - inpos, out_chunk = cap - outpos;
        if (in_chunk > (1u << 30)) in_chunk = 1u << 30;
        if (out_chunk > (1u << 30)) out_chunk = 1u << 30;
        z.next_in = (unsigned char *)src + inpos;
        z.avail_in = (uInt)in_chunk;
        z.next_out = b + outpos;
        z.avail_out = (uInt)out_chunk;
        int r = inflate(&z, Z_NO_FLUSH);
        inpos += in_chunk - z.avail_in;
        outpos += out_chunk - z.avail_out;
        if (r == Z_STREAM_END) {
            /* another member follows? (skip trailing zero padding) */
            while (inpos < n && src[inpos] == 0)
                inpos++;
            if (inpos >= n) break;
            if (n - inpos < 2 || src[inpos] != 0x1f || src[inpos + 1] != 0x8b) {
                st =
                    cl_error(CL_EFORMAT,
                             "%s: corrupt gzip: garbage after the compressed data", path);
                break;
            }
            inflateReset(&z);
            continue;
        }
        if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR) {
            st = cl_error(CL_EFORMAT, "%s: corrupt gzip data (%s)", path,
                          z.msg ? z.msg : "inflate error");
            break;
        }
        if (r == Z_MEM_ERROR) {
            st = cl_error(CL_ENOMEM, "%s: out of memory inflating", path);
            break;
        }
        if (inpos >= n && z.avail_out > 0) {
            st = cl_error(CL_EFORMAT, "%s: truncated gzip stream (ends after %zu bytes)",
                          path, n);
            break;
        }
    }
    inflateEnd(&z);
    if (st != CL_OK) {
        cl_free(b);
        return st;
    }
    *out = b;
    *outlen = outpos;
    return CL_OK;
}

cl_status cl_data_slurp(const char *path, unsigned char **buf, size_t *len)
{
    unsigned char *raw;
    size_t n;
    CL_TRY(cl_data_slurp_raw(path, &raw, &n));
    if (n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        cl_status st = cl_data_gunzip(path, raw, n, buf, len);
        cl_free(raw);
        return st;
    }
    *buf = raw;
    *len = n;
    return CL_OK;
}

cl_status cl_data_write_file(const char *path, const void *buf, size_t len, int gz)
{
    unsigned char *zbuf = NULL;
    const unsigned char *p = buf;
    size_t n = len;
    if (gz) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return cl_error(CL_ENOMEM, "%s: deflateInit failed", path);
        size_t cap = deflateBound(&z, (uLong)len) + 64;
        zbuf = cl_alloc(cap, path);
        if (!zbuf) {
            deflateEnd(&z);
            return cl_error(CL_ENOMEM, "%s: out of memory (%zu bytes)", path, cap);
        }
        z.next_in = (unsigned char *)buf;
        z.avail_in = (uInt)len;
        z.next_out = zbuf;
        z.avail_out = (uInt)cap;
        int r = deflate(&z, Z_FINISH);
        n = cap - z.avail_out;
        deflateEnd(&z);
        if (r != Z_STREAM_END) {
            cl_free(zbuf);
            return cl_error(CL_EIO, "%s: gzip compression failed", path);
        }
        p = zbuf;
    }
    cl_status st = CL_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = cl_error(CL_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = cl_error(CL_EIO, "%s: write failed: %s", path, strerror(errno));
            close(fd);
            goto fail;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        st = cl_error(CL_EIO, "%s: write failed: %s", path, strerror(errno));
fail:
    cl_free(zbuf);
    return st;
}

void cl_data_u8_table(float t[256])
{
    for (int i = 0; i < 256; i++)
        t[i] = (float)i / 255.0f;
}

/* Pixels are written in full by every loader right after allocation, so
 * they skip cl_alloc's zero fill (one pass less over up to 600 MB); the
 * block is still 64-byte aligned and freed by cl_free. */
static float *alloc_pixels(size_t count)
{
    size_t n;
    if (!cl_mul_ok(count, sizeof(float), &n) || !cl_add_ok(n, CL_ALIGN - 1, &n)) {
        cl_error(CL_ENOMEM, "dataset pixels: size overflow");
        return NULL;
    }
    n = n / CL_ALIGN * CL_ALIGN;
    float *p = aligned_alloc(CL_ALIGN, n ? n : CL_ALIGN);
    if (!p) cl_error(CL_ENOMEM, "dataset pixels: out of memory allocating %zu bytes", n);
    return p;
}

cl_status cl_data_alloc(cl_dataset *d, int64_t n, cl_shape shape)
{
    size_t dim = (size_t)cl_shape_size(shape), nx;
    if (n < 0 || !cl_mul_ok((size_t)n, dim, &nx))
        return cl_error(CL_ENOMEM, "%s: dataset too large", d->name);
    d->x = alloc_pixels(nx);
    d->y = cl_alloc_array((size_t)n, sizeof(int32_t), "dataset labels");
    d->y_true = cl_alloc_array((size_t)n, sizeof(int32_t), "dataset labels");
    d->index = cl_alloc_array((size_t)n, sizeof(int64_t), "dataset index");
    if (!d->x || !d->y || !d->y_true || !d->index) {
        cl_free(d->x);
        cl_free(d->y);
        cl_free(d->y_true);
        cl_free(d->index);
        d->x = NULL;
        d->y = d->y_true = NULL;
        d->index = NULL;
        return CL_ENOMEM;
    }
    d->n = n;
    d->shape = shape;
    for (int64_t i = 0; i < n; i++)
        d->index[i] = i;
    return CL_OK;
}
