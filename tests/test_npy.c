/* .npy reader/writer: round trips for every dtype, v1/v2/v3 headers, and
 * the errors (Fortran order, big-endian, bad magic, truncation, shape/count
 * mismatch, bad headers, int range). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "common.h"

TestSuite(npy, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* Writes a hand-made .npy: version `major`, header dict text `dict` (padded to
 * 64 bytes like NumPy), then `nbytes` of data. */
static void write_raw(const char *path, int major, const char *dict, const void *data,
                      size_t nbytes)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t n = strlen(dict);
    size_t total = (pre + n + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    char hdr[1024];
    cr_assert(hlen < sizeof hdr);
    memset(hdr, ' ', hlen);
    memcpy(hdr, dict, n);
    hdr[hlen - 1] = '\n';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char m[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    if (major == 1) {
        m[8] = (unsigned char)(hlen & 0xff);
        m[9] = (unsigned char)(hlen >> 8);
    } else {
        m[8] = (unsigned char)(hlen & 0xff);
        m[9] = (unsigned char)((hlen >> 8) & 0xff);
        m[10] = 0;
        m[11] = 0;
    }
    cr_assert_eq(fwrite(m, 1, pre, f), pre);
    cr_assert_eq(fwrite(hdr, 1, hlen, f), hlen);
    if (nbytes) cr_assert_eq(fwrite(data, 1, nbytes, f), nbytes);
    cr_assert_eq(fclose(f), 0);
}

static void expect_error(const char *path, cl_status want, const char *needle)
{
    cl_npy a;
    cl_errclear();
    cl_status st = cl_npy_read(path, &a);
    cr_assert_eq(st, want, "%s: got status %d (%s)", path, st, cl_errmsg());
    cr_assert_null(a.data);
    cr_assert(strstr(cl_errmsg(), path) != NULL, "message does not name the file: %s",
              cl_errmsg());
    if (needle)
        cr_assert(strstr(cl_errmsg(), needle) != NULL, "message '%s' lacks '%s'",
                  cl_errmsg(), needle);
}

Test(npy, round_trip_every_dtype)
{
    float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7e20f};
    double f64[6] = {1.5, -2.0, 0.1, 3.25, 1e-300, -7e200};
    int32_t i32[6] = {0, -1, 2147483647, -2147483647 - 1, 5, 6};
    int64_t i64[6] = {0, -1, 1LL << 40, -(1LL << 50), 5, 6};
    uint8_t u8[6] = {0, 1, 2, 127, 128, 255};
    const void *src[5] = {f32, f64, i32, i64, u8};
    size_t esz[5] = {4, 8, 4, 8, 1};
    cl_npy_dtype types[5] = {CL_NPY_F32, CL_NPY_F64, CL_NPY_I32, CL_NPY_I64, CL_NPY_U8};
    int64_t shape[2] = {2, 3};
    for (int t = 0; t < 5; t++) {
        const char *p = tpath("rt.npy");
        cr_assert_eq(cl_npy_write(p, types[t], src[t], 2, shape), CL_OK, "%s",
                     cl_errmsg());
        cl_npy a;
        cr_assert_eq(cl_npy_read(p, &a), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(a.dtype, types[t]);
        cr_assert_eq(a.ndim, 2);
        cr_assert_eq(a.shape[0], 2);
        cr_assert_eq(a.shape[1], 3);
        cr_assert_eq(a.count, 6);
        cr_assert_eq(memcmp(a.data, src[t], 6 * esz[t]), 0, "dtype %d", t);
        cl_npy_free(&a);
        cr_assert_null(a.data);
        /* No temp file left behind. */
        char tmp[200];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
        cr_assert_neq(access(tmp, F_OK), 0);
    }
}

Test(npy, header_is_numpy_style)
{
    const char *p = tpath("h.npy");
    float x[3] = {1, 2, 3};
    int64_t shape[1] = {3};
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, x, 1, shape), CL_OK);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    char buf[256] = {0};
    cr_assert_eq(fread(buf, 1, 128, f), 128);
    fclose(f);
    cr_assert_eq(memcmp(buf, "\x93NUMPY\x01\x00", 8), 0);
    int hlen = (unsigned char)buf[8] | ((unsigned char)buf[9] << 8);
    cr_assert_eq((10 + hlen) % 64, 0);
    cr_assert(
        strstr(buf + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") ==
        buf + 10);
    cr_assert_eq(buf[10 + hlen - 1], '\n');
}

Test(npy, scalar_and_empty)
{
    const char *p = tpath("s.npy");
    double v = 4.5;
    cr_assert_eq(cl_npy_write(p, CL_NPY_F64, &v, 0, NULL), CL_OK);
    cl_npy a;
    cr_assert_eq(cl_npy_read(p, &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(((double *)a.data)[0], 4.5);
    cl_npy_free(&a);
    int64_t shape[2] = {0, 5};
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, NULL, 2, shape), CL_OK);
    cr_assert_eq(cl_npy_read(p, &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.count, 0);
    cr_assert_eq(a.shape[1], 5);
    cl_npy_free(&a);
}

Test(npy, v2_and_v3_headers)
{
    int32_t d[4] = {7, 8, 9, 10};
    for (int major = 2; major <= 3; major++) {
        const char *p = tpath("v2.npy");
        write_raw(p, major, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }",
                  d, sizeof d);
        int32_t *out;
        int ndim;
        int64_t shape[8];
        cr_assert_eq(cl_npy_read_i32(p, &out, &ndim, shape), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(ndim, 2);
        cr_assert_eq(shape[0], 2);
        cr_assert_eq(shape[1], 2);
        cr_assert_eq(memcmp(out, d, sizeof d), 0);
        cl_free(out);
    }
}

Test(npy, header_key_order_and_quotes)
{
    const char *p = tpath("k.npy");
    uint8_t d[3] = {1, 2, 3};
    write_raw(p, 1, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|u1\"}", d,
              3);
    cl_npy a;
    cr_assert_eq(cl_npy_read(p, &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.dtype, CL_NPY_U8);
    cr_assert_eq(a.count, 3);
    cl_npy_free(&a);
}

Test(npy, converting_readers)
{
    const char *p = tpath("c.npy");
    double d[3] = {0.5, -1.25, 3e10};
    int64_t shape[1] = {3};
    cr_assert_eq(cl_npy_write(p, CL_NPY_F64, d, 1, shape), CL_OK);
    float *f;
    int ndim = -1;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f32(p, &f, &ndim, sh), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(ndim, 1);
    cr_assert_eq(sh[0], 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(f[i], (float)d[i]);
    cl_free(f);

    float g[3] = {0.5f, -1.25f, 7.0f};
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, g, 1, shape), CL_OK);
    double *dd;
    cr_assert_eq(cl_npy_read_f64(p, &dd, &ndim, sh), CL_OK, "%s", cl_errmsg());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(dd[i], (double)g[i]);
    cl_free(dd);

    int64_t l[3] = {0, 9, -4};
    cr_assert_eq(cl_npy_write(p, CL_NPY_I64, l, 1, shape), CL_OK);
    int32_t *iv;
    cr_assert_eq(cl_npy_read_i32(p, &iv, &ndim, sh), CL_OK, "%s", cl_errmsg());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(iv[i], l[i]);
    cl_free(iv);

    uint8_t u[3] = {0, 200, 255};
    cr_assert_eq(cl_npy_write(p, CL_NPY_U8, u, 1, shape), CL_OK);
    cr_assert_eq(cl_npy_read_i32(p, &iv, &ndim, sh), CL_OK, "%s", cl_errmsg());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(iv[i], u[i]);
    cl_free(iv);

    /* int64 out of int32 range, and wrong kinds, are errors naming the file. */
    l[1] = 1LL << 33;
    cr_assert_eq(cl_npy_write(p, CL_NPY_I64, l, 1, shape), CL_OK);
    cr_assert_eq(cl_npy_read_i32(p, &iv, &ndim, sh), CL_EFORMAT);
    cr_assert_null(iv);
    cr_assert(strstr(cl_errmsg(), p) && strstr(cl_errmsg(), "int32"), "%s", cl_errmsg());
    cr_assert_eq(cl_npy_read_f32(p, &f, &ndim, sh), CL_EFORMAT);
    cr_assert_null(f);
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, g, 1, shape), CL_OK);
    cr_assert_eq(cl_npy_read_i32(p, &iv, &ndim, sh), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), p), "%s", cl_errmsg());
}

Test(npy, reads_numpy_written_fixture)
{
    /* Written by NumPy (tools/make_fixtures.py): float32 [3, 5]. */
    cl_npy a;
    cr_assert_eq(cl_npy_read("fixtures/torch/linear/x.npy", &a), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(a.dtype, CL_NPY_F32);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.shape[1], 5);
    cl_npy_free(&a);
}

Test(npy, error_fortran_order)
{
    const char *p = tpath("fo.npy");
    float d[4] = {0};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", d,
              sizeof d);
    expect_error(p, CL_EFORMAT, "Fortran");
}

Test(npy, error_big_endian)
{
    const char *p = tpath("be.npy");
    float d[4] = {0};
    write_raw(p, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", d,
              sizeof d);
    expect_error(p, CL_EFORMAT, "big-endian");
}

Test(npy, error_unsupported_dtype)
{
    const char *p = tpath("dt.npy");
    short d[4] = {0};
    write_raw(p, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }", d,
              sizeof d);
    expect_error(p, CL_EFORMAT, "<i2");
    write_raw(p, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
              d, 8);
    expect_error(p, CL_EFORMAT, "descr");
}

Test(npy, error_bad_magic)
{
    const char *p = tpath("bm.npy");
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs("PK\x03\x04 this is a zip, not an npy", f);
    fclose(f);
    expect_error(p, CL_EFORMAT, "magic");
    f = fopen(p, "wb");
    fputs("\x93NUM", f);
    fclose(f);
    expect_error(p, CL_EFORMAT, "magic");
}

Test(npy, error_bad_version)
{
    const char *p = tpath("ver.npy");
    float d[1] = {0};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", d, 4);
    FILE *f = fopen(p, "r+b");
    fseek(f, 6, SEEK_SET);
    fputc(9, f);
    fclose(f);
    expect_error(p, CL_EFORMAT, "version");
}

Test(npy, error_truncated_data)
{
    const char *p = tpath("tr.npy");
    float d[5] = {1, 2, 3, 4, 5};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", d,
              sizeof d);
    expect_error(p, CL_EFORMAT, "truncated");
}

Test(npy, error_truncated_header)
{
    const char *p = tpath("th.npy");
    float d[1] = {0};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", d, 4);
    cr_assert_eq(truncate(p, 30), 0);
    expect_error(p, CL_EFORMAT, "truncated");
}

Test(npy, error_shape_count_mismatch)
{
    const char *p = tpath("mm.npy");
    float d[8] = {0};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", d,
              sizeof d);
    expect_error(p, CL_EFORMAT, "shape");
}

Test(npy, error_bad_headers)
{
    const char *p = tpath("bh.npy");
    float d[2] = {0};
    const char *bad[] = {
        "['descr', '<f4']",
        "{'descr': '<f4', 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ",
        "{'descr': '<f4 , 'fortran_order': False, 'shape': (2,), }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_raw(p, 1, bad[i], d, sizeof d);
        expect_error(p, CL_EFORMAT, "header");
    }
}

Test(npy, error_missing_file)
{
    expect_error(tpath("does_not_exist.npy"), CL_EIO, "cannot open");
}

Test(npy, write_failure_leaves_nothing)
{
    float d[1] = {0};
    int64_t shape[1] = {1};
    const char *p = tpath("no_such_dir/x.npy");
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, d, 1, shape), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "no_such_dir"), "%s", cl_errmsg());
    cr_assert_neq(access(p, F_OK), 0);
}
