/* Regression targets in the data module: the mnist-pose generator (blob
 * centroids follow the drawn rotation and shift, determinism, target
 * variances on real MNIST), targets from arrays, subsets keeping targets,
 * and ordinal quantile bins. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/data.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "common.h"
#include "data_common.h"

/* n images 1 x 28 x 28, each a Gaussian blob (sd 1.2 px) at column offset
 * `off` right of the image centre (13.5, 13.5). */
static void blob_set(cl_dataset *d, int64_t n, double off)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->shape = (cl_shape){1, 28, 28};
    d->classes = 10;
    d->x = cl_alloc_array((size_t)n * 784, sizeof(float), "t");
    d->y = cl_alloc_array((size_t)n, sizeof(int32_t), "t");
    d->y_true = cl_alloc_array((size_t)n, sizeof(int32_t), "t");
    d->index = cl_alloc_array((size_t)n, sizeof(int64_t), "t");
    for (int64_t i = 0; i < n; i++) {
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++) {
                double dr = r - 13.5, dc = c - 13.5 - off;
                d->x[i * 784 + r * 28 + c] = (float)exp(-(dr * dr + dc * dc) / (2 * 1.44));
            }
        d->y[i] = d->y_true[i] = (int32_t)(i % 10);
        d->index[i] = i;
    }
}

static void centroid(const float *img, double *r, double *c)
{
    double s = 0, sr = 0, sc = 0;
    for (int a = 0; a < CL_POSE_CANVAS; a++)
        for (int b = 0; b < CL_POSE_CANVAS; b++) {
            double v = img[a * CL_POSE_CANVAS + b];
            s += v, sr += v * a, sc += v * b;
        }
    *r = sr / s;
    *c = sc / s;
}

Test(pose, blob_follows_rotation_and_shift)
{
    cl_dataset src, out;
    blob_set(&src, 40, 6.0);
    cr_assert_eq(cl_data_pose_make(&src, 5, &out), CL_OK, "%s", cl_errmsg());
    cr_assert(out.shape.c == 1 && out.shape.h == 36 && out.shape.w == 36);
    cr_assert_eq(out.tdim, 3);
    for (int64_t i = 0; i < out.n; i++) {
        const float *t = out.t + i * 3;
        double th = t[0] * 45.0 * 3.14159265358979323846 / 180.0, dx = t[1] * 8.0,
               dy = t[2] * 16.0;
        cr_assert(fabs(t[0]) <= 1 && fabs(dx) <= 4 && fabs(dy) <= 4);
        double r, c;
        centroid(out.x + i * 36 * 36, &r, &c);
        /* counter-clockwise on screen: a point right of the centre moves up */
        cr_expect(fabs(c - (17.5 + dx + 6 * cos(th))) < 0.05, "sample %lld col %g", (long long)i,
                  c);
        cr_expect(fabs(r - (17.5 + dy - 6 * sin(th))) < 0.05, "sample %lld row %g", (long long)i,
                  r);
        cr_assert_eq(out.y[i], src.y[i]);
    }
    cl_dataset again, other;
    cr_assert_eq(cl_data_pose_make(&src, 5, &again), CL_OK);
    cr_assert_eq(cl_data_pose_make(&src, 6, &other), CL_OK);
    cr_assert_eq(memcmp(out.x, again.x, sizeof(float) * 40 * 1296), 0);
    cr_assert_eq(memcmp(out.t, again.t, sizeof(float) * 40 * 3), 0);
    cr_assert_neq(memcmp(out.t, other.t, sizeof(float) * 40 * 3), 0);
    cl_dataset_free(&src);
    cl_dataset_free(&out);
    cl_dataset_free(&again);
    cl_dataset_free(&other);
}

Test(pose, mnist_pose_by_name_variances_and_subset, .timeout = TC_TIMEOUT)
{
    cl_dataset te;
    load_or_fail("mnist-pose", NULL, 0, &te);
    cr_assert_eq(te.n, 10000);
    cr_assert(te.shape.h == 36 && te.shape.w == 36 && te.tdim == 3 && te.classes == 10);
    const double want[3] = {1.0 / 3, 1.0 / 12, 1.0 / 48};
    for (int j = 0; j < 3; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < te.n; i++)
            s += te.t[i * 3 + j], s2 += (double)te.t[i * 3 + j] * te.t[i * 3 + j];
        double var = s2 / te.n - (s / te.n) * (s / te.n);
        cr_expect(fabs(var / want[j] - 1) < 0.05, "target %d variance %g", j, var);
    }
    /* a subset keeps each sample's targets */
    cl_dataset full;
    load_or_fail("mnist-pose", NULL, 0, &full);
    cl_data_opts o = cl_data_opts_default();
    o.train_per_class = 20;
    cr_assert_eq(cl_data_prepare(&te, NULL, &o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(te.n, 200);
    for (int64_t i = 0; i < te.n; i++)
        for (int j = 0; j < 3; j++)
            cr_assert_eq(te.t[i * 3 + j], full.t[te.index[i] * 3 + j]);
    cl_dataset_free(&te);
    cl_dataset_free(&full);
}

Test(pose, targets_and_ordinal_bins)
{
    cl_dataset tr, te;
    blob_set(&tr, 100, 0);
    blob_set(&te, 7, 0);
    float t[200], u[7];
    for (int i = 0; i < 100; i++)
        t[2 * i] = (float)((i * 37) % 100), t[2 * i + 1] = 1;
    cr_assert_eq(cl_data_ordinal_bins(&tr, NULL, 4, 0), CL_EINVAL); /* no targets yet */
    cr_assert_eq(cl_data_set_targets(&tr, t, 99, 2, "--targets x.npy"), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "x.npy"));
    cr_assert_eq(cl_data_set_targets(&tr, t, 100, 2, "--targets x.npy"), CL_OK);
    for (int i = 0; i < 7; i++)
        u[i] = (float)(i * 16 - 2); /* -2, 14, 30, ..., 94 */
    cr_assert_eq(cl_data_set_targets(&te, u, 7, 1, "--test-targets"), CL_OK);
    cr_assert_eq(cl_data_ordinal_bins(&tr, &te, 4, 1), CL_EINVAL); /* test has 1 column */
    cr_assert_eq(cl_data_ordinal_bins(&tr, &te, 4, 0), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(tr.classes, 4);
    cr_assert_str_eq(tr.class_names[3], "bin3");
    int64_t cnt[4] = {0};
    for (int i = 0; i < 100; i++) {
        cnt[tr.y[i]]++;
        cr_assert_eq(tr.y[i], (int)(t[2 * i] / 25), "value %g", t[2 * i]);
        cr_assert_eq(tr.y_true[i], tr.y[i]);
    }
    for (int q = 0; q < 4; q++)
        cr_assert_eq(cnt[q], 25);
    const int32_t want[7] = {0, 0, 1, 1, 2, 3, 3}; /* edges 25, 50, 75 */
    for (int i = 0; i < 7; i++)
        cr_assert_eq(te.y[i], want[i], "test value %g", u[i]);
    cl_dataset_free(&tr);
    cl_dataset_free(&te);
}

/* The CLI turns mnist-pose's theta into K ordered classes for a
 * classification run, and refuses targets of the wrong length. */
Test(pose, cli_ordinal_bins_and_targets_errors, .timeout = TC_TIMEOUT)
{
    static char out[1 << 14];
    cr_assert_eq(tc_run_capture("train --arch mlp --data mnist-pose --ordinal-bins 4 --epochs 1 "
                                "--train-per-class 5 --test-per-class 5 --max-steps 1",
                                out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "4 classes") && strstr(out, "ordinal-bins 4"), "%s", out);
    char dir[64], p[128], line[512];
    tc_tmpdir_make(dir, sizeof dir, "pose_cli");
    snprintf(p, sizeof p, "%s/y.npy", dir);
    float t[10] = {0};
    int64_t sh[2] = {10, 1};
    cr_assert_eq(cl_npy_write(p, CL_NPY_F32, t, 2, sh), CL_OK);
    snprintf(line, sizeof line,
             "train --arch mlp --data mnist --task regression --targets %s --epochs 1", p);
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--targets") && strstr(out, p) && strstr(out, "60000"), "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    tc_tmpdir_remove(dir);
}
