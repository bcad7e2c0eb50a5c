/* Sizes read from files (issue 11, resources): every size in an .npy header
 * is checked against the file's length before anything is allocated, and a
 * JSON text costs time and memory in proportion to its length (member names
 * checked for duplicates in O(n); at most CL_JSON_MAXFILE bytes), and so do
 * a CSV file's tables (sized by the lines that can be rows). The
 * memory tests cap the test's address space (tc_limit_memory), so a big
 * allocation would show as CL_ENOMEM instead of the expected CL_EFORMAT. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collapse/csv.h"
#include "collapse/json.h"
#include "collapse/npy.h"
#include "common.h"

TestSuite(io_sizes, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* An .npy file: v1 prefix with header length hlen, then `body` as is. */
static void write_npy(const char *path, unsigned hlen, const char *body)
{
    char buf[512];
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    size_t n = strlen(body);
    memcpy(buf + 10, body, n);
    tc_write_file(path, buf, 10 + n);
}

/* A v1 header dict padded to 64 bytes, plus `data` bytes of zeros. */
static void write_npy_shape(const char *path, const char *descr, const char *shape,
                            size_t data)
{
    char d[256];
    int n = snprintf(d, sizeof d, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    size_t hl = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64 - 10;
    memset(d + n, ' ', hl - (size_t)n - 1);
    d[hl - 1] = '\n';
    d[hl] = 0;
    char *buf = calloc(1, 10 + hl + data);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, d, hl);
    tc_write_file(path, buf, 10 + hl + data);
    free(buf);
}

Test(io_sizes, npy_header_longer_than_file)
{
    tc_limit_memory(256 << 20);
    const char *p = tpath("h.npy");
    write_npy(p, 60000, "{'descr': '<f4', ");
    cl_npy a;
    tc_expect_err(cl_npy_read(p, &a), CL_EFORMAT, "truncated", NULL);
    cr_assert_null(a.data);
}

Test(io_sizes, npy_shape_larger_than_file)
{
    tc_limit_memory(256 << 20);
    const char *p = tpath("s.npy");
    cl_npy a;
    /* 2 GB of float64 claimed, 16 bytes present */
    write_npy_shape(p, "<f8", "(16384, 16384)", 16);
    tc_expect_err(cl_npy_read(p, &a), CL_EFORMAT, "shape needs 2147483648", NULL);
    /* 4e9 x 4e9 elements: the byte count overflows */
    write_npy_shape(p, "<f4", "(4000000000, 4000000000)", 0);
    cl_status st = cl_npy_read(p, &a);
    cr_assert_eq(st, CL_EFORMAT, "%s", cl_errmsg());
    cr_assert_null(a.data);
    /* the typed readers refuse the same way */
    float *x = NULL;
    int nd;
    int64_t sh[8];
    write_npy_shape(p, "<f4", "(1000000000,)", 4);
    tc_expect_err(cl_npy_read_f32(p, &x, &nd, sh), CL_EFORMAT, "shape needs", NULL);
    cr_assert_null(x);
}

/* {"k0":0,"k1":0,...} with n members, then `last` (e.g. a duplicate). */
static char *object_text(int n, const char *last, size_t *len)
{
    char *t = malloc((size_t)n * 16 + 64);
    size_t l = 0;
    t[l++] = '{';
    for (int i = 0; i < n; i++) l += (size_t)sprintf(t + l, "%s\"k%d\":0", i ? "," : "", i);
    l += (size_t)sprintf(t + l, "%s}", last);
    *len = l;
    return t;
}

Test(io_sizes, json_many_members_in_linear_time)
{
    /* 60000 members (700 KB): 1.8e9 string compares with the old pairwise
     * check (about 8 s) */
    size_t len;
    char *t = object_text(60000, "", &len);
    clock_t c0 = clock();
    cl_json_value *v;
    cr_assert_eq(cl_json_parse(t, len, "big.json", &v), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(v->n, 60000);
    cr_assert_eq(cl_json_get(v, "k59999"), &v->items[59999]);
    cl_json_value_free(v);
    free(t);
    /* a duplicate after them is still found, at its name */
    t = object_text(60000, ",\"k4711\":1", &len);
    cl_status st = cl_json_parse(t, len, "big.json", &v);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    char want[64];
    snprintf(want, sizeof want, "big.json:1:%zu: duplicate member \"k4711\"", len - 9);
    tc_expect_err(st, CL_EFORMAT, want, NULL);
    cr_assert_null(v);
    cr_assert_lt(secs, 5.0, "%.1f s of CPU for 2 x 60000 members", secs);
    free(t);
}

/* "[0,0,...,0]" padded with blanks to exactly len bytes. */
static char *array_text(size_t len)
{
    char *t = malloc(len);
    memset(t, ' ', len);
    size_t l = 0;
    t[l++] = '[';
    while (l + 3 < len) {
        t[l++] = '0';
        t[l++] = ',';
    }
    t[l++] = '0';
    t[l] = ']';
    return t;
}

Test(io_sizes, json_text_limit)
{
    /* the widest tree of the largest text accepted fits in a few hundred MB */
    tc_limit_memory((size_t)512 << 20);
    char *t = array_text(CL_JSON_MAXFILE);
    cl_json_value *v;
    cr_assert_eq(cl_json_parse(t, CL_JSON_MAXFILE, "max.json", &v), CL_OK, "%s", cl_errmsg());
    cr_assert_gt(v->n, CL_JSON_MAXFILE / 2 - 2);
    cl_json_value_free(v);
    const char *p = tpath("max.json");
    tc_write_file(p, t, CL_JSON_MAXFILE);
    cr_assert_eq(cl_json_parse_file(p, &v), CL_OK, "%s", cl_errmsg());
    cl_json_value_free(v);
    free(t);
    /* one byte more is refused, from memory and from a file */
    t = array_text(CL_JSON_MAXFILE + 1);
    tc_expect_err(cl_json_parse(t, CL_JSON_MAXFILE + 1, "big.json", &v), CL_EFORMAT,
                  "big.json: larger than 1 MiB", NULL);
    cr_assert_null(v);
    tc_write_file(p, t, CL_JSON_MAXFILE + 1);
    tc_expect_err(cl_json_parse_file(p, &v), CL_EFORMAT, "larger than 1 MiB", NULL);
    cr_assert_null(v);
    free(t);
}

Test(io_sizes, csv_tables_sized_by_the_file)
{
    /* a 100-column header over 400000 one-cell lines (1 MB): the tables were
     * sized by the line count, 4e7 cells x 56 bytes = 2.2 GB, before the
     * first line was found short */
    tc_limit_memory(256 << 20);
    size_t n = 300 + 2 * 400000;
    char *t = malloc(n + 1);
    size_t l = 0;
    for (int c = 0; c < 100; c++) l += (size_t)sprintf(t + l, "%sc%d", c ? "," : "", c);
    t[l++] = '\n';
    while (l + 2 <= n) {
        t[l++] = '1';
        t[l++] = '\n';
    }
    const char *p = tpath("wide.csv");
    tc_write_file(p, t, l);
    free(t);
    cl_csv c;
    tc_expect_err(cl_csv_read(p, NULL, &c), CL_EFORMAT, "wide.csv:2: 1 cells, the header has 100",
                  NULL);
}
