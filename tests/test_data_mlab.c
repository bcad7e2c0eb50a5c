/* Data module, mlab-mnist (Multilabel-MNIST, Li et al. ICML 2024): counts
 * per digit and per pair at default and scaled sizes, the 45 pair label
 * sets, K-hot rows, determinism and the seed, the pixel-wise max rebuilt
 * from the source digits, the shift range, sampling without replacement,
 * subsets keep yk, the make -> load round trip, and bad flags. Small sizes
 * from the MNIST test split keep it fast. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "common.h"
#include "data_common.h"

TestSuite(data_mlab, .init = tc_tmp_init, .fini = tc_tmp_fini, .timeout = TC_TIMEOUT);

#define S CL_MLAB_CANVAS

/* mlab-mnist from the MNIST test split (loaded once per test). */
static void make(const cl_dataset *m, int64_t singles, int64_t pairs, uint64_t seed,
                 cl_dataset *d, cl_mlab_item *items)
{
    cr_assert_eq(cl_data_mlab_make(m, singles, pairs, seed, d, items), CL_OK, "%s",
                 cl_errmsg());
}

/* Per label set counts (sets as cl_data_label_sets numbers them), checking
 * rows have 1 or 2 ones, y is the lowest label and every pair is distinct. */
static int64_t set_counts(const cl_dataset *d, int64_t *cnt)
{
    int32_t *set = cl_alloc_array((size_t)d->n, sizeof(int32_t), "test");
    int64_t ns;
    cr_assert_eq(cl_data_label_sets(d->yk, d->n, 10, set, &ns, NULL), CL_OK);
    memset(cnt, 0, 55 * sizeof(int64_t));
    for (int64_t i = 0; i < d->n; i++) {
        const int m = cl_data_label_count(d, i);
        cr_assert(m == 1 || m == 2, "row %lld has %d labels", (long long)i, m);
        cr_assert(d->yk[i * 10 + d->y[i]] && !memchr(d->yk + i * 10, 1, (size_t)d->y[i]));
        cr_assert_lt(set[i], 55);
        cnt[set[i]]++;
    }
    cl_free(set);
    return ns;
}

Test(data_mlab, counts_sets_and_labels)
{
    cl_dataset m, d;
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, 31, 4, 5, &d, NULL);
    cr_assert_eq(d.n, 10 * 31 + 45 * 4);
    cr_assert_eq(d.classes, 10);
    cr_assert_eq(d.shape.c, 1);
    cr_assert_eq(d.shape.h, 56);
    cr_assert_eq(d.shape.w, 56);
    cr_assert_str_eq(d.class_names[7], "7");
    cr_assert_str_eq(d.name, "mlab-mnist");
    int64_t cnt[55];
    cr_assert_eq(set_counts(&d, cnt), 55);
    for (int s = 0; s < 55; s++) /* sets 0..9 single digits, 10..54 the 45 pairs */
        cr_assert_eq(cnt[s], s < 10 ? 31 : 4, "set %d: %lld", s, (long long)cnt[s]);
    /* rows come in set order: {0} first, then {0,1}, .., {8,9} last */
    cr_assert(d.yk[0] == 1 && cl_data_label_count(&d, 0) == 1);
    cr_assert(d.yk[310 * 10 + 0] && d.yk[310 * 10 + 1]);
    const int64_t last = d.n - 1;
    cr_assert(d.yk[last * 10 + 8] && d.yk[last * 10 + 9] && d.y[last] == 8);
    cl_dataset_free(&d);
    make(&m, 0, 3, 5, &d, NULL); /* pairs only: 45 sets of 2 */
    cr_assert_eq(set_counts(&d, cnt), 45);
    cl_dataset_free(&d);
    cl_dataset_free(&m);
}

/* The default training size (40,000 images) is the same code at other
 * numbers; this checks the default test size and loading by name. */
Test(data_mlab, default_sizes_by_name)
{
    cl_dataset m, d;
    /* by name: the test split, MNIST test digits, seed + 1 */
    cl_dataset n;
    int64_t cnt[55];
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, CL_MLAB_TEST_SINGLES, CL_MLAB_TEST_PAIRS, CL_MLAB_SEED + 1, &d, NULL);
    cr_assert_eq(cl_data_load("mlab-mnist", NULL, 0, &n), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(n.n, 10250);
    cr_assert_eq(set_counts(&n, cnt), 55);
    for (int s = 0; s < 55; s++)
        cr_assert_eq(cnt[s], s < 10 ? 800 : 50);
    cr_assert_eq(memcmp(n.x, d.x, (size_t)n.n * S * S * sizeof(float)), 0);
    cr_assert_eq(memcmp(n.yk, d.yk, (size_t)n.n * 10), 0);
    cl_dataset_free(&n);
    cl_dataset_free(&d);
    cl_dataset_free(&m);
}

/* Pixel (R, C) of the canvas from digit img placed at corner R0 with shift
 * (dy, dx), wrapping around the canvas; 0 where the digit does not land. */
static float placed(const float *img, int R0, int dy, int dx, int R, int C)
{
    int r = ((R - R0 - dy) % S + S) % S, c = ((C - R0 - dx) % S + S) % S;
    return r < 28 && c < 28 ? img[r * 28 + c] : 0.0f;
}

Test(data_mlab, pixelwise_max_shifts_and_sources)
{
    cl_dataset m, d;
    load_or_fail("mnist", NULL, 0, &m);
    enum { NS = 20, NP = 6 };
    cl_mlab_item it[10 * NS + 45 * NP];
    make(&m, NS, NP, 9, &d, it);
    int seen_dy[CL_MLAB_SHIFT + 1] = {0}, seen_dx[CL_MLAB_SHIFT + 1] = {0}, coin[2] = {0};
    for (int64_t i = 0; i < d.n; i++) {
        const cl_mlab_item *e = &it[i];
        const int two = cl_data_label_count(&d, i) == 2;
        cr_assert_eq(e->src[1] >= 0, two);
        for (int q = 0; q <= two; q++) {
            cr_assert_leq(e->dy[q], CL_MLAB_SHIFT);
            cr_assert_leq(e->dx[q], CL_MLAB_SHIFT);
            seen_dy[e->dy[q]]++;
            seen_dx[e->dx[q]]++;
            cr_assert(d.yk[i * 10 + m.y[e->src[q]]], "image %lld: source digit %d", (long long)i,
                      m.y[e->src[q]]);
        }
        if (two) {
            cr_assert_neq(m.y[e->src[0]], m.y[e->src[1]]);
            coin[m.y[e->src[0]] > m.y[e->src[1]]]++; /* the larger digit bottom-right? */
        } else {
            cr_assert_eq(m.y[e->src[0]], d.y[i]);
        }
        const float *a = m.x + (size_t)e->src[0] * 784;
        const float *b = two ? m.x + (size_t)e->src[1] * 784 : NULL;
        for (int R = 0; R < S; R++)
            for (int C = 0; C < S; C++) {
                float v = placed(a, 28, e->dy[0], e->dx[0], R, C);
                if (b) {
                    float w = placed(b, 0, e->dy[1], e->dx[1], R, C);
                    v = w > v ? w : v;
                }
                cr_assert_eq(d.x[i * S * S + R * S + C], v, "image %lld pixel (%d, %d)",
                             (long long)i, R, C);
            }
    }
    for (int s = 0; s <= CL_MLAB_SHIFT; s++)
        cr_assert(seen_dy[s] && seen_dx[s], "shift %d never drawn", s);
    cr_assert(coin[0] > 40 && coin[1] > 40, "coin %d/%d", coin[0], coin[1]);
    /* without replacement within a set: the 20 images of {3} use 20 digits */
    for (int i = 3 * NS; i < 4 * NS; i++)
        for (int j = 3 * NS; j < i; j++)
            cr_assert_neq(it[i].src[0], it[j].src[0]);
    cl_dataset_free(&d);
    cl_dataset_free(&m);
}

Test(data_mlab, deterministic_seeded_and_prefix)
{
    cl_dataset m, a, b, c, p;
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, 12, 3, 7, &a, NULL);
    make(&m, 12, 3, 7, &b, NULL);
    make(&m, 12, 3, 8, &c, NULL);
    make(&m, 5, 1, 7, &p, NULL);
    const size_t D = S * S;
    cr_assert_eq(memcmp(a.x, b.x, (size_t)a.n * D * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.yk, b.yk, (size_t)a.n * 10), 0);
    cr_assert_neq(memcmp(a.x, c.x, (size_t)a.n * D * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.yk, c.yk, (size_t)a.n * 10), 0); /* labels fixed by the sizes */
    /* smaller sizes: each set's first images are the same */
    for (int s = 0; s < 55; s++) {
        const int64_t ia = s < 10 ? s * 12 : 120 + (s - 10) * 3;
        const int64_t ip = s < 10 ? s * 5 : 50 + (s - 10);
        cr_assert_eq(memcmp(a.x + ia * D, p.x + ip * D, D * sizeof(float)), 0, "set %d", s);
    }
    cl_dataset_free(&a);
    cl_dataset_free(&b);
    cl_dataset_free(&c);
    cl_dataset_free(&p);
    cl_dataset_free(&m);
}

Test(data_mlab, subset_keeps_khot)
{
    cl_dataset m, d, full;
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, 40, 8, 2, &d, NULL);
    make(&m, 40, 8, 2, &full, NULL);
    cl_data_opts o = cl_data_opts_default();
    o.train_per_class = 10; /* 10 per digit, 8 * 10 / 40 = 2 per pair */
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(d.n, 10 * 10 + 45 * 2);
    int64_t cnt[55];
    cr_assert_eq(set_counts(&d, cnt), 55);
    for (int s = 0; s < 55; s++)
        cr_assert_eq(cnt[s], s < 10 ? 10 : 2);
    for (int64_t i = 0; i < d.n; i++) {
        const int64_t j = d.index[i]; /* the row of the full set */
        cr_assert_eq(memcmp(d.yk + i * 10, full.yk + j * 10, 10), 0);
        cr_assert_eq(memcmp(d.x + i * S * S, full.x + j * S * S, S * S * sizeof(float)), 0);
    }
    cl_dataset_free(&d);
    cl_dataset_free(&full);
    cl_dataset_free(&m);
}

static void same(const cl_dataset *a, const cl_dataset *b)
{
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(a->classes, b->classes);
    cr_assert_eq(a->shape.h, b->shape.h);
    cr_assert_eq(memcmp(a->x, b->x, (size_t)a->n * S * S * sizeof(float)), 0);
    cr_assert_eq(memcmp(a->yk, b->yk, (size_t)a->n * 10), 0);
    cr_assert_eq(memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t)), 0);
    cr_assert_eq(memcmp(a->index, b->index, (size_t)a->n * sizeof(int64_t)), 0);
    for (int k = 0; k < 10; k++)
        cr_assert_str_eq(a->class_names[k], b->class_names[k]);
}

Test(data_mlab, make_load_round_trip)
{
    cl_dataset m, tr, te, back;
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, 6, 2, 11, &tr, NULL);
    make(&m, 3, 1, 12, &te, NULL);
    const char *dir = tpath("made");
    cr_assert_eq(cl_data_save_idx(&tr, &te, dir), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(tc_count_entries(dir), 6); /* no temp file left */
    cr_assert_eq(cl_data_load(dir, NULL, 1, &back), CL_OK, "%s", cl_errmsg());
    same(&tr, &back);
    cl_dataset_free(&back);
    cr_assert_eq(cl_data_load(dir, NULL, 0, &back), CL_OK, "%s", cl_errmsg());
    same(&te, &back);
    cl_dataset_free(&back);
    cl_dataset_free(&tr);
    cl_dataset_free(&te);
    /* the CLI writes what the library makes (test split: MNIST test, seed + 1) */
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd,
             "data make mlab-mnist --to %s --seed 11 --train-sizes 2,1 --test-sizes 6,2",
             tpath("cli"));
    cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "train 65 (2 per digit, 1 per pair), test 150"), "%s", out);
    make(&m, 6, 2, 12, &te, NULL);
    cr_assert_eq(cl_data_load(tpath("cli"), NULL, 0, &back), CL_OK, "%s", cl_errmsg());
    same(&te, &back);
    cl_dataset_free(&back);
    snprintf(cmd, sizeof cmd, "data info %s --split test", tpath("cli"));
    cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "55 label sets, 90 images with more than one label"), "%s", out);
    cl_dataset_free(&te);
    cl_dataset_free(&m);
}

Test(data_mlab, bad_input_one_line)
{
    char cmd[1024], out[4096];
    static const char *const bad[][2] = {
        {"data make mlab-mnist --to %s --train-sizes 3", "--train-sizes: bad value '3'"},
        {"data make mlab-mnist --to %s --test-sizes 0,0", "--test-sizes: 0,0 makes no images"},
        {"data make mlab-mnist --to %s --train-sizes 5,x", "--train-sizes: bad value"},
        {"data make mlab-mnist --to %s --train-sizes -1,2", "--train-sizes: bad value"},
        {"data make cifar10 --to %s", "unknown dataset 'cifar10' (want mlab-mnist)"},
        {"data make mlab-mnist %s", "unexpected argument"},
        {"data make mlab-mnist --to %s --seed x", "--seed"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cmd, sizeof cmd, bad[k][0], tpath("never"));
        cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 2, "%s: %s", cmd, out);
        cr_assert(strstr(out, bad[k][1]), "%s: %s", cmd, out);
        cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    }
    cr_assert_eq(tc_run_capture("data make mlab-mnist", out, sizeof out), 2);
    cr_assert(strstr(out, "--to DIR is required"), "%s", out);
    cr_assert(!tc_exists(tpath("never")));
    /* the library */
    cl_dataset m, d;
    load_or_fail("mnist", NULL, 0, &m);
    cr_assert_eq(cl_data_mlab_make(&m, -1, 2, 1, &d, NULL), CL_EINVAL);
    cr_assert_null(d.x);
    cr_assert_eq(cl_data_mlab_make(&m, 0, 0, 1, &d, NULL), CL_EINVAL);
    make(&m, 2, 1, 1, &d, NULL);
    cl_dataset d2;
    cr_assert_eq(cl_data_mlab_make(&d, 2, 1, 1, &d2, NULL), CL_EINVAL); /* 56x56 K-hot */
    cr_assert(strstr(cl_errmsg(), "needs raw single-label 1x28x28"), "%s", cl_errmsg());
    /* a label file that disagrees with the K-hot rows; a dir under a file */
    d.y[0] = 9;
    cr_assert_eq(cl_data_save_idx(&d, NULL, tpath("bad")), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_data_load(tpath("bad"), NULL, 1, &d2), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "row 0 does not have 9"), "%s", cl_errmsg());
    tc_write_text(tpath("file"), "x");
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub", tpath("file"));
    cr_assert_neq(cl_data_save_idx(&d, NULL, sub), CL_OK);
    d.x[5] = 2.0f;
    cr_assert_eq(cl_data_save_idx(&d, NULL, tpath("px")), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "outside [0, 1]"), "%s", cl_errmsg());
    cr_assert(!tc_exists(tpath("px")));
    /* training refuses random labels on multi-label data */
    d.x[5] = 0.0f;
    d.y[0] = 0;
    cr_assert_eq(cl_data_save_idx(&d, &d, tpath("ok")), CL_OK, "%s", cl_errmsg());
    snprintf(cmd, sizeof cmd, "train --arch mlp --data %s --random-labels 0.5 --epochs 1 --out %s",
             tpath("ok"), tpath("run"));
    cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--random-labels is not defined for multi-label data"), "%s", out);
    cl_dataset_free(&d);
    cl_dataset_free(&m);
}

Test(data_mlab, train_and_features_on_an_idx_folder)
{
    cl_dataset m, d;
    load_or_fail("mnist", NULL, 0, &m);
    make(&m, 2, 1, 3, &d, NULL);
    cr_assert_eq(cl_data_save_idx(&d, &d, tpath("ml")), CL_OK, "%s", cl_errmsg());
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd,
             "train --arch mlp --feature-dim 16 --data %s --loss pal --epochs 1 --no-plots "
             "--no-layers --no-initial --no-features --out %s",
             tpath("ml"), tpath("run"));
    cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "features %s --out %s", tpath("run"), tpath("feat"));
    cr_assert_eq(tc_run_capture(cmd, out, sizeof out), 0, "%s", out);
    cl_npy a;
    cr_assert_eq(cl_npy_read(tpath("feat/labels_khot.npy"), &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.dtype, CL_NPY_U8);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(a.shape[0], 65);
    cr_assert_eq(a.shape[1], 10);
    cr_assert_eq(memcmp(a.data, d.yk, 650), 0);
    cl_npy_free(&a);
    cl_dataset_free(&d);
    cl_dataset_free(&m);
}
