/* Data module, small and broken IDX / CIFAR / gzip files built in a temp
 * folder, each error giving one line naming the file. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "common.h"

static void write_gz(const char *path, const void *p, size_t n)
{
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, p, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* IDX images file of n rows x cols images (pixel = (i + q) % 256), optional
 * `drop` bytes cut from the end. */
static void write_idx_images(const char *path, uint32_t magic, int n, int rows, int cols,
                             int drop)
{
    size_t len = 16 + (size_t)n * rows * cols;
    unsigned char *b = calloc(len, 1);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)rows);
    put_be32(b + 12, (uint32_t)cols);
    for (size_t q = 16; q < len; q++)
        b[q] = (unsigned char)(q % 256);
    tc_write_file(path, b, len - (size_t)drop);
    free(b);
}

static void write_idx_labels(const char *path, int n, const unsigned char *labels)
{
    unsigned char *b = calloc(8 + (size_t)n, 1);
    put_be32(b, 2049);
    put_be32(b + 4, (uint32_t)n);
    memcpy(b + 8, labels, (size_t)n);
    tc_write_file(path, b, 8 + (size_t)n);
    free(b);
}

/* ---- broken IDX / CIFAR / gzip files ---- */

TestSuite(data_bad, .init = tc_tmp_init, .fini = tc_tmp_fini);

static const unsigned char lab5[5] = {0, 1, 2, 3, 4};

Test(data_bad, idx_good_small_then_gz)
{
    write_idx_images(tpath("im"), 2051, 5, 3, 2, 0);
    write_idx_labels(tpath("lb"), 5, lab5);
    cl_dataset d;
    cr_assert_eq(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_OK, "%s",
                 cl_errmsg());
    cr_assert(d.n == 5 && d.shape.h == 3 && d.shape.w == 2 && d.classes == 10);
    cr_assert_eq(d.x[7], (16 + 7) / 255.0f);
    cl_dataset_free(&d);
    /* the same as .gz, found from the plain name */
    unsigned char *b;
    size_t n;
    cr_assert_eq(cl_data_slurp(tpath("im"), &b, &n), CL_OK);
    unlink(tpath("im"));
    write_gz(tpath("im.gz"), b, n);
    free(b);
    cr_assert_eq(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(d.x[7], (16 + 7) / 255.0f);
    cl_dataset_free(&d);
}

Test(data_bad, idx_errors_name_the_file)
{
    cl_dataset d;
    write_idx_labels(tpath("lb"), 5, lab5);
    write_idx_images(tpath("im"), 2049, 5, 3, 2, 0);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT, tpath("im"),
                  "wrong magic 2049");
    write_idx_images(tpath("im"), 2051, 5, 3, 2, 4);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT, tpath("im"),
                  "truncated");
    write_idx_images(tpath("im"), 2051, 6, 3, 2, 0);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT, tpath("lb"),
                  "5 labels but");
    tc_write_file(tpath("im"), "\0\0\x08", 3);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT, tpath("im"),
                  "truncated IDX header");
    tc_expect_err(cl_data_load_idx(tpath("missing"), tpath("lb"), &d), CL_EIO,
                  tpath("missing"), "cannot open");
    cr_assert_null(d.x);
    /* labels beyond K: 200 in a generic IDX pair, 10 in MNIST by name */
    const unsigned char big[5] = {0, 1, 200, 3, 4};
    write_idx_images(tpath("im"), 2051, 5, 3, 2, 0);
    write_idx_labels(tpath("lb"), 5, big);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT, tpath("lb"),
                  "label 200 of sample 2 is out of range");
    const unsigned char ten[5] = {0, 1, 2, 10, 4};
    write_idx_images(tpath("train-images-idx3-ubyte"), 2051, 5, 28, 28, 0);
    write_idx_labels(tpath("train-labels-idx1-ubyte"), 5, ten);
    tc_expect_err(cl_data_load("mnist", tc_tmpdir(), 1, &d), CL_EFORMAT,
                  tpath("train-labels-idx1-ubyte"),
                  "label 10 of sample 3 is out of range [0, 10)");
}

Test(data_bad, gzip_corrupt_and_truncated)
{
    write_idx_labels(tpath("lb"), 5, lab5);
    size_t n = 16 + 200 * 28 * 28;
    unsigned char *raw = malloc(n);
    for (size_t i = 0; i < n; i++)
        raw[i] = (unsigned char)(i * 2654435761u >> 13);
    put_be32(raw, 2051);
    put_be32(raw + 4, 200);
    put_be32(raw + 8, 28);
    put_be32(raw + 12, 28);
    write_gz(tpath("im.gz"), raw, n);
    unsigned char *gz;
    size_t gl;
    cr_assert_eq(cl_data_slurp_raw(tpath("im.gz"), &gz, &gl), CL_OK);
    cl_dataset d;
    tc_write_file(tpath("im.gz"), gz, gl / 2);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT,
                  tpath("im.gz"), "truncated gzip");
    for (size_t i = 100; i < 140; i++)
        gz[i] ^= 0x5a;
    tc_write_file(tpath("im.gz"), gz, gl);
    tc_expect_err(cl_data_load_idx(tpath("im"), tpath("lb"), &d), CL_EFORMAT,
                  tpath("im.gz"), "gzip");
    free(gz);
    free(raw);
}

static void write_cifar(const char *path, int n, int bad_label_at, int extra)
{
    size_t len = (size_t)n * 3073 + (size_t)extra;
    unsigned char *b = calloc(len, 1);
    for (int i = 0; i < n; i++) {
        b[(size_t)i * 3073] = (unsigned char)(i == bad_label_at ? 12 : i % 10);
        for (int q = 0; q < 3072; q++)
            b[(size_t)i * 3073 + 1 + q] = (unsigned char)(q + i);
    }
    tc_write_file(path, b, len);
    free(b);
}

Test(data_bad, cifar_records)
{
    cl_dataset d;
    write_cifar(tpath("test_batch.bin"), 4, -1, 0);
    tc_write_file(tpath("batches.meta.txt"), "a\nb\n\nc\n", 7);
    cr_assert_eq(cl_data_load_cifar10(tc_tmpdir(), 0, &d), CL_OK, "%s", cl_errmsg());
    cr_assert(d.n == 4 && d.y[3] == 3);
    cr_assert_str_eq(d.class_names[2], "c");
    cr_assert_str_eq(d.class_names[3], "cat"); /* defaults beyond the file */
    cr_assert_eq(d.x[3072 + 1024 + 5],
                 (float)((1024 + 5 + 1) % 256) / 255.0f); /* G plane */
    cl_dataset_free(&d);
    write_cifar(tpath("test_batch.bin"), 4, -1, 100);
    tc_expect_err(cl_data_load_cifar10(tc_tmpdir(), 0, &d), CL_EFORMAT,
                  tpath("test_batch.bin"), "truncated");
    write_cifar(tpath("test_batch.bin"), 4, 2, 0);
    tc_expect_err(cl_data_load_cifar10(tc_tmpdir(), 0, &d), CL_EFORMAT,
                  tpath("test_batch.bin"), "label 12 of record 2");
    tc_expect_err(cl_data_load_cifar10(tc_tmpdir(), 1, &d), CL_EIO,
                  tpath("data_batch_1.bin"), "cannot open");
    cr_assert_null(d.x);
}

Test(data_bad, cifar100_coarse_and_fine)
{
    unsigned char b[3 * 3074];
    for (int i = 0; i < 3; i++) {
        b[i * 3074] = (unsigned char)(i + 17);     /* coarse */
        b[i * 3074 + 1] = (unsigned char)(i * 40); /* fine */
        for (int q = 0; q < 3072; q++)
            b[i * 3074 + 2 + q] = (unsigned char)(q * 3 + i);
    }
    tc_write_file(tpath("test.bin"), b, sizeof b);
    tc_write_file(tpath("coarse_label_names.txt"), "c0\nc1\n", 6);
    cl_dataset d;
    cr_assert_eq(cl_data_load_cifar100(tc_tmpdir(), 0, 1, &d), CL_OK, "%s", cl_errmsg());
    cr_assert(d.n == 3 && d.classes == 100 && d.y[2] == 80);
    cr_assert_eq(d.x[2 * 3072 + 10], (float)((10 * 3 + 2) % 256) / 255.0f);
    cl_dataset_free(&d);
    cr_assert_eq(cl_data_load_cifar100(tc_tmpdir(), 0, 0, &d), CL_OK, "%s", cl_errmsg());
    cr_assert(d.classes == 20 && d.y[0] == 17 && d.y[2] == 19);
    cr_assert_str_eq(d.class_names[1], "c1");
    cl_dataset_free(&d);
    b[3074] = 20; /* coarse label out of range */
    tc_write_file(tpath("test.bin"), b, sizeof b);
    tc_expect_err(cl_data_load_cifar100(tc_tmpdir(), 0, 0, &d), CL_EFORMAT,
                  tpath("test.bin"), "label 20 of record 1 is out of range [0, 20)");
}
