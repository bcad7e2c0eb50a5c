/* Regression targets: the mnist-pose generator, targets from a file, and
 * ordinal bins of a target column. See data.h for the definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

#define POSE_THETA 45.0 /* degrees: theta ~ U[-45, 45] */
#define POSE_SHIFT 4.0  /* pixels: dx, dy ~ U[-4, 4] */

/* Bilinear sample of img [H, W] at (r, c) (pixel centres at integers), 0 outside. */
static float bilinear(const float *img, int H, int W, double r, double c)
{
    int r0 = (int)floor(r), c0 = (int)floor(c);
    double fr = r - r0, fc = c - c0, v = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int rr = r0 + a, cc = c0 + b;
            if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
            v += (a ? fr : 1 - fr) * (b ? fc : 1 - fc) * img[rr * W + cc];
        }
    return (float)v;
}

/* One digit src [H, W] into dst [S, S]: output pixel p maps back to
 * R(-theta) (p - centre - (dx, dy)) + the source centre. */
static void warp(const float *src, int H, int W, double theta_deg, double dx, double dy,
                 float *dst)
{
    const int S = CL_POSE_CANVAS;
    const double th = theta_deg * 3.14159265358979323846 / 180.0, co = cos(th), si = sin(th);
    const double cs = (S - 1) / 2.0, chr = (H - 1) / 2.0, chc = (W - 1) / 2.0;
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S; c++) {
            double y = r - cs - dy, x = c - cs - dx;
            /* inverse rotation (the image rotates by +theta, counter-clockwise
             * on screen with rows pointing down) */
            double sx = co * x - si * y, sy = si * x + co * y;
            dst[r * S + c] = bilinear(src, H, W, sy + chr, sx + chc);
        }
}

cl_status cl_data_pose_make(const cl_dataset *src, uint64_t seed, cl_dataset *out)
{
    memset(out, 0, sizeof *out);
    const int S = CL_POSE_CANVAS, H = src->shape.h, W = src->shape.w;
    if (src->shape.c != 1 || H > S || W > S)
        return cl_error(CL_EINVAL, "%s: mnist-pose needs 1-channel images of at most %dx%d",
                        src->name, S, S);
    cl_shape sh = src->shape;
    sh.h = sh.w = S;
    CL_TRY(cl_data_alloc(out, src->n, sh));
    out->t = cl_alloc_array((size_t)src->n * 3, sizeof(float), "mnist-pose targets");
    if (!out->t) {
        cl_dataset_free(out);
        return CL_ENOMEM;
    }
    out->tdim = 3;
    if (src->yk) {
        out->yk = cl_alloc_array((size_t)src->n, (size_t)src->classes, "K-hot labels");
        if (!out->yk) {
            cl_dataset_free(out);
            return CL_ENOMEM;
        }
        memcpy(out->yk, src->yk, (size_t)src->n * (size_t)src->classes);
    }
    snprintf(out->name, sizeof out->name, "mnist-pose");
    out->classes = src->classes;
    memcpy(out->class_names, src->class_names, sizeof out->class_names);
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    for (int64_t i = 0; i < src->n; i++) {
        double th = POSE_THETA * (2 * cl_rng_uniform(&rng) - 1);
        double dx = POSE_SHIFT * (2 * cl_rng_uniform(&rng) - 1);
        double dy = POSE_SHIFT * (2 * cl_rng_uniform(&rng) - 1);
        warp(src->x + (size_t)i * H * W, H, W, th, dx, dy, out->x + (size_t)i * S * S);
        out->t[i * 3 + 0] = (float)(th / 45.0);
        out->t[i * 3 + 1] = (float)(dx / 8.0);
        out->t[i * 3 + 2] = (float)(dy / 16.0);
        out->y[i] = src->y[i];
        out->y_true[i] = src->y_true[i];
        out->index[i] = src->index[i];
    }
    return CL_OK;
}

cl_status cl_data_load_pose(const char *dir, int train, cl_dataset *out)
{
    cl_dataset m;
    CL_TRY(cl_data_load("mnist", dir, train, &m));
    cl_status st = cl_data_pose_make(&m, CL_POSE_SEED + (train ? 0u : 1u), out);
    cl_dataset_free(&m);
    return st;
}

cl_status cl_data_set_targets(cl_dataset *d, const float *t, int64_t n, int tdim,
                              const char *what)
{
    if (n != d->n)
        return cl_error(CL_EINVAL, "%s: %lld rows of targets, but the split has %lld samples",
                        what, (long long)n, (long long)d->n);
    if (tdim < 1) return cl_error(CL_EINVAL, "%s: no target columns", what);
    for (int64_t i = 0; i < n * tdim; i++)
        if (!isfinite(t[i]))
            return cl_error(CL_EINVAL, "%s: non-finite target at row %lld", what,
                            (long long)(i / tdim));
    float *c = cl_alloc_array((size_t)n * (size_t)tdim, sizeof(float), "targets");
    if (!c) return CL_ENOMEM;
    memcpy(c, t, (size_t)n * (size_t)tdim * sizeof(float));
    cl_free(d->t);
    d->t = c;
    d->tdim = tdim;
    return CL_OK;
}

static int cmp_f32(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void apply_bins(cl_dataset *d, const float *edge, int K, int col)
{
    for (int64_t i = 0; i < d->n; i++) {
        float v = d->t[i * d->tdim + col];
        int q = 0;
        while (q < K - 1 && edge[q] <= v)
            q++;
        d->y[i] = d->y_true[i] = q;
    }
    d->classes = K;
    memset(d->class_names, 0, sizeof d->class_names);
    for (int q = 0; q < K; q++)
        snprintf(d->class_names[q], sizeof d->class_names[q], "bin%d", q);
}

cl_status cl_data_ordinal_bins(cl_dataset *train, cl_dataset *test, int K, int col)
{
    if (K < 2 || K > CL_DATA_MAX_CLASSES)
        return cl_error(CL_EINVAL, "--ordinal-bins %d: need 2..%d bins", K, CL_DATA_MAX_CLASSES);
    if (train->yk || (test && test->yk))
        return cl_error(CL_EINVAL, "--ordinal-bins: %s has multi-label classes already",
                        train->name);
    const cl_dataset *ds[2] = {train, test};
    for (int s = 0; s < 2; s++)
        if (ds[s] && (!ds[s]->t || col < 0 || col >= ds[s]->tdim))
            return cl_error(CL_EINVAL,
                            "--ordinal-bins: the %s split of %s has no target column %d "
                            "(use a regression dataset such as mnist-pose, or --targets)",
                            s ? "test" : "training", ds[s]->name, col);
    if (train->n < K)
        return cl_error(CL_EINVAL, "--ordinal-bins %d: only %lld training samples", K,
                        (long long)train->n);
    float *v = cl_alloc_array((size_t)train->n, sizeof(float), "ordinal bins");
    if (!v) return CL_ENOMEM;
    for (int64_t i = 0; i < train->n; i++)
        v[i] = train->t[i * train->tdim + col];
    qsort(v, (size_t)train->n, sizeof(float), cmp_f32);
    float edge[CL_DATA_MAX_CLASSES];
    for (int q = 1; q < K; q++)
        edge[q - 1] = v[(size_t)(q * train->n / K)];
    /* bin q holds edge[q-1] <= t < edge[q]: ties at an edge would leave a
     * training class without samples */
    for (int q = 0; q < K - 1; q++)
        if (!(edge[q] > (q ? edge[q - 1] : v[0]))) {
            cl_free(v);
            return cl_error(CL_EINVAL,
                            "--ordinal-bins %d: target column %d has too many equal values "
                            "for %d quantile bins (bin %d would be empty)",
                            K, col, K, q);
        }
    cl_free(v);
    apply_bins(train, edge, K, col);
    if (test) apply_bins(test, edge, K, col);
    return CL_OK;
}
