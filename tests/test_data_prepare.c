/* Data module, prepare: subsets, random labels in both modes, random
 * pixels, area resize, normalisation. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "data_common.h"

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

/* SHUFFLE at P = 1: class counts exact, no repair, so about n_c^2 / n labels
 * per class stay put (200 of 2000 here: 10 x 200^2 / 2000; the count of fixed
 * points of a random arrangement has sd ~ sqrt(200 * 0.9) = 13.4), where
 * PERMUTE leaves none; seeded. */
Test(data_prepare, random_labels_shuffle_keeps_counts_without_repair)
{
    int64_t w[10];
    for (int k = 0; k < 10; k++)
        w[k] = 200;
    cl_data_opts o = cl_data_opts_default();
    o.random_labels = 1.0;
    o.random_labels_mode = CL_RANDLABEL_SHUFFLE;
    o.seed = 5;
    cl_dataset a, b, p;
    mnist_prepared(200, o, &a);
    assert_hist(&a, w);
    int64_t kept = 2000 - count_changed(&a);
    cr_assert(kept >= 140 && kept <= 260, "%lld labels kept", (long long)kept);
    mnist_prepared(200, o, &b);
    cr_assert_eq(memcmp(a.y, b.y, sizeof(int32_t) * 2000), 0);
    o.random_labels_mode = CL_RANDLABEL_PERMUTE;
    mnist_prepared(200, o, &p);
    cr_assert_eq(count_changed(&p), 2000);
    cl_randlabel_mode m;
    cr_assert_eq(cl_randlabel_mode_parse("shuffle", &m), CL_OK);
    cr_assert_eq(m, CL_RANDLABEL_SHUFFLE);
    cr_assert_str_eq(cl_randlabel_mode_name(m), "shuffle");
    cr_assert_eq(cl_randlabel_mode_parse("derange", &m), CL_EINVAL);
    cl_dataset_free(&a);
    cl_dataset_free(&b);
    cl_dataset_free(&p);
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
