/* Training-set control: balanced subsets, class imbalance (imbalance.c), area resize, random pixels, random
 * labels, per-channel normalisation. Every random choice comes from its own
 * stream split off cl_rng_seed(opts->seed), so each option is reproducible
 * on its own and independent of the others being on or off. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

cl_data_opts cl_data_opts_default(void)
{
    cl_data_opts o;
    memset(&o, 0, sizeof o);
    o.random_labels_mode = CL_RANDLABEL_PERMUTE;
    o.seed = 1;
    return o;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

cl_status cl_data_take_rows(cl_dataset *d, const int32_t *keep, int64_t m)
{
    cl_dataset nd = *d;
    nd.x = NULL;
    nd.y = nd.y_true = NULL;
    nd.index = NULL;
    nd.t = NULL;
    nd.yk = NULL;
    CL_TRY(cl_data_alloc(&nd, m, d->shape));
    if (d->yk) {
        const size_t K = (size_t)d->classes;
        nd.yk = cl_alloc_array((size_t)m, K, "subset K-hot labels");
        if (!nd.yk) {
            cl_dataset_free(&nd);
            return CL_ENOMEM;
        }
        for (int64_t i = 0; i < m; i++)
            memcpy(nd.yk + (size_t)i * K, d->yk + (size_t)keep[i] * K, K);
    }
    if (d->t) {
        nd.t = cl_alloc_array((size_t)m * (size_t)d->tdim, sizeof(float), "subset targets");
        if (!nd.t) {
            cl_dataset_free(&nd);
            return CL_ENOMEM;
        }
        for (int64_t i = 0; i < m; i++)
            memcpy(nd.t + (size_t)i * d->tdim, d->t + (size_t)keep[i] * d->tdim,
                   (size_t)d->tdim * sizeof(float));
    }
    const size_t dim = (size_t)cl_shape_size(d->shape);
    for (int64_t i = 0; i < m; i++) {
        memcpy(nd.x + (size_t)i * dim, d->x + (size_t)keep[i] * dim, dim * sizeof(float));
        nd.y[i] = d->y[keep[i]];
        nd.y_true[i] = d->y_true[keep[i]];
        nd.index[i] = d->index[keep[i]];
    }
    cl_dataset_free(d);
    *d = nd;
    return CL_OK;
}

cl_status cl_data_keep_quota(cl_dataset *d, const int64_t *quota, cl_rng *rng)
{
    if (d->n > INT32_MAX)
        return cl_error(CL_EINVAL, "%s: too many samples for a subset", d->name);
    int64_t took[CL_DATA_MAX_CLASSES] = {0};
    int32_t *perm = cl_alloc_array((size_t)d->n, sizeof(int32_t), "subset permutation");
    if (!perm) return CL_ENOMEM;
    for (int64_t i = 0; i < d->n; i++)
        perm[i] = (int32_t)i;
    cl_rng_shuffle_i32(rng, perm, d->n);
    int64_t m = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int c = d->y_true[perm[i]];
        if (took[c] < quota[c]) {
            took[c]++;
            perm[m++] = perm[i];
        }
    }
    qsort(perm, (size_t)m, sizeof(int32_t), cmp_i32);
    cl_status st = cl_data_take_rows(d, perm, m);
    cl_free(perm);
    return st;
}

/* The first `per` samples of each class (by y_true) in a seeded shuffle,
 * kept in their source order. */
static cl_status subset(cl_dataset *d, int64_t per, cl_rng *rng, const char *which)
{
    if (per <= 0) return CL_OK;
    if (d->yk) return cl_data_subset_sets(d, per, rng, which);
    if (d->n > INT32_MAX)
        return cl_error(CL_EINVAL, "%s: too many samples for a subset", d->name);
    int64_t have[CL_DATA_MAX_CLASSES] = {0}, quota[CL_DATA_MAX_CLASSES];
    for (int64_t i = 0; i < d->n; i++)
        have[d->y_true[i]]++;
    for (int c = 0; c < d->classes; c++)
        if (have[c] < per)
            return cl_error(
                CL_EINVAL,
                "%s: class %d (%s) has %lld %s samples, fewer than the %lld per class "
                "asked for",
                d->name, c, d->class_names[c], (long long)have[c], which, (long long)per);
    for (int c = 0; c < CL_DATA_MAX_CLASSES; c++)
        quota[c] = per;
    return cl_data_keep_quota(d, quota, rng);
}

/* Area weights of S output cells over L input cells: w[s*L + l] = overlap
 * of output cell s ([s L/S, (s+1) L/S) in input units) with input cell l,
 * divided by L/S, so each row sums to 1. */
static void area_weights(int L, int S, double *w)
{
    const double scale = (double)L / S;
    for (int s = 0; s < S; s++) {
        double a = s * scale, b = (s + 1) * scale;
        for (int l = 0; l < L; l++) {
            double lo = a > l ? a : l, hi = b < l + 1 ? b : l + 1;
            w[(size_t)s * L + l] = hi > lo ? (hi - lo) / scale : 0.0;
        }
    }
}

void cl_data_resize_area(const float *src, int C, int H, int W, int S, float *dst,
                         double *work)
{
    /* work: wy [S*H], wx [S*W], tmp [H*S] */
    double *wy = work, *wx = work + (size_t)S * H, *tmp = wx + (size_t)S * W;
    area_weights(H, S, wy);
    area_weights(W, S, wx);
    for (int c = 0; c < C; c++) {
        const float *img = src + (size_t)c * H * W;
        for (int h = 0; h < H; h++)
            for (int s = 0; s < S; s++) {
                double a = 0;
                const double *wr = wx + (size_t)s * W;
                for (int w = 0; w < W; w++)
                    a += wr[w] * img[(size_t)h * W + w];
                tmp[(size_t)h * S + s] = a;
            }
        float *out = dst + (size_t)c * S * S;
        for (int r = 0; r < S; r++)
            for (int s = 0; s < S; s++) {
                double a = 0;
                const double *wr = wy + (size_t)r * H;
                for (int h = 0; h < H; h++)
                    a += wr[h] * tmp[(size_t)h * S + s];
                out[(size_t)r * S + s] = (float)a;
            }
    }
}

static cl_status resize(cl_dataset *d, int S)
{
    if (S <= 0 || (S == d->shape.h && S == d->shape.w)) return CL_OK;
    cl_shape ns = {d->shape.c, S, S};
    const size_t dim = (size_t)cl_shape_size(d->shape), ND = (size_t)cl_shape_size(ns);
    float *nx = cl_alloc_array((size_t)d->n, ND * sizeof(float), "resized pixels");
    double *work =
        cl_alloc_array((size_t)S * (d->shape.h + d->shape.w) + (size_t)d->shape.h * S,
                       sizeof(double), "resize weights");
    if (!nx || !work) {
        cl_free(nx);
        cl_free(work);
        return CL_ENOMEM;
    }
    for (int64_t i = 0; i < d->n; i++)
        cl_data_resize_area(d->x + (size_t)i * dim, d->shape.c, d->shape.h, d->shape.w, S,
                            nx + (size_t)i * ND, work);
    cl_free(work);
    cl_free(d->x);
    d->x = nx;
    d->shape = ns;
    return CL_OK;
}

static void random_pixels(cl_dataset *d, cl_rng *rng)
{
    double mean[CL_DATA_MAX_CHANNELS], std[CL_DATA_MAX_CHANNELS];
    cl_data_channel_stats(d, mean, std);
    const int64_t HW = (int64_t)d->shape.h * d->shape.w;
    for (int64_t i = 0; i < d->n; i++)
        for (int c = 0; c < d->shape.c; c++) {
            float *p = d->x + (i * d->shape.c + c) * HW;
            for (int64_t q = 0; q < HW; q++)
                p[q] = (float)(mean[c] + std[c] * cl_rng_normal(rng));
        }
}

static const char *const randlabel_names[] = {"permute", "uniform", "shuffle"};

const char *cl_randlabel_mode_name(cl_randlabel_mode m)
{
    return (unsigned)m < 3 ? randlabel_names[m] : "?";
}

cl_status cl_randlabel_mode_parse(const char *text, cl_randlabel_mode *m)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, randlabel_names[i])) {
            *m = (cl_randlabel_mode)i;
            return CL_OK;
        }
    return CL_EINVAL;
}

/* Chooses m = round(p n) distinct samples (a seeded partial shuffle) and
 * relabels them: PERMUTE shuffles their labels among themselves, then
 * repairs fixed points by random swaps so that every chosen label changes
 * whenever the class balance allows (class counts stay exact); SHUFFLE
 * shuffles them without the repair; UNIFORM draws each new label uniformly
 * over K. Labels go to y; y_true is kept. */
static cl_status random_labels(cl_dataset *d, double p, cl_randlabel_mode mode,
                               cl_rng *rng)
{
    int64_t m = (int64_t)llround(p * (double)d->n);
    if (m <= 0) return CL_OK;
    int32_t *idx = cl_alloc_array((size_t)d->n, sizeof(int32_t), "random labels");
    int32_t *lab = cl_alloc_array((size_t)m, sizeof(int32_t), "random labels");
    if (!idx || !lab) {
        cl_free(idx);
        cl_free(lab);
        return CL_ENOMEM;
    }
    for (int64_t i = 0; i < d->n; i++)
        idx[i] = (int32_t)i;
    for (int64_t i = 0; i < m;
         i++) { /* partial Fisher-Yates: idx[0..m) is a random subset */
        int64_t j = i + (int64_t)cl_rng_below(rng, (uint64_t)(d->n - i));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    if (mode == CL_RANDLABEL_UNIFORM) {
        for (int64_t i = 0; i < m; i++)
            d->y[idx[i]] = (int32_t)cl_rng_below(rng, (uint64_t)d->classes);
    } else {
        for (int64_t i = 0; i < m; i++)
            lab[i] = d->y_true[idx[i]];
        cl_rng_shuffle_i32(rng, lab, m);
        /* PERMUTE: repair fixed points, swapping with a random partner when both change */
        if (m > 1 && mode == CL_RANDLABEL_PERMUTE)
            for (int64_t i = 0; i < m; i++) {
                const int32_t oi = d->y_true[idx[i]];
                for (int tries = 0; lab[i] == oi && tries < 1000; tries++) {
                    int64_t j = (int64_t)cl_rng_below(rng, (uint64_t)m);
                    const int32_t oj = d->y_true[idx[j]];
                    if (lab[j] != oi && lab[i] != oj) {
                        int32_t t = lab[i];
                        lab[i] = lab[j];
                        lab[j] = t;
                    }
                }
            }
        for (int64_t i = 0; i < m; i++)
            d->y[idx[i]] = lab[i];
    }
    cl_free(idx);
    cl_free(lab);
    return CL_OK;
}

static void normalize(cl_dataset *d, const double *mean, const double *std)
{
    const int64_t HW = (int64_t)d->shape.h * d->shape.w;
    for (int c = 0; c < d->shape.c; c++) {
        d->norm_mean[c] = (float)mean[c];
        d->norm_std[c] = (float)std[c];
    }
    d->normalized = 1;
    for (int64_t i = 0; i < d->n; i++)
        for (int c = 0; c < d->shape.c; c++) {
            float *p = d->x + (i * d->shape.c + c) * HW;
            const float m = (float)mean[c], inv = (float)(1.0 / std[c]);
            for (int64_t q = 0; q < HW; q++)
                p[q] = (p[q] - m) * inv;
        }
}

cl_status cl_data_prepare(cl_dataset *train, cl_dataset *test, const cl_data_opts *o)
{
    if (o->train_per_class < 0 || o->test_per_class < 0)
        return cl_error(CL_EINVAL, "samples per class must be >= 0");
    if (!(o->random_labels >= 0.0 && o->random_labels <= 1.0))
        return cl_error(CL_EINVAL, "random labels fraction %g is not in [0, 1]",
                        o->random_labels);
    if (o->random_labels_mode != CL_RANDLABEL_PERMUTE &&
        o->random_labels_mode != CL_RANDLABEL_UNIFORM &&
        o->random_labels_mode != CL_RANDLABEL_SHUFFLE)
        return cl_error(CL_EINVAL, "unknown random labels mode %d",
                        (int)o->random_labels_mode);
    if (o->resize < 0 || o->resize > 4096)
        return cl_error(CL_EINVAL, "resize %d is not in [0, 4096]", o->resize);
    if (train->shape.c > CL_DATA_MAX_CHANNELS)
        return cl_error(CL_EINVAL, "%s: %d channels (at most %d)", train->name,
                        train->shape.c, CL_DATA_MAX_CHANNELS);
    if (test && (test->shape.c != train->shape.c || test->shape.h != train->shape.h ||
                 test->shape.w != train->shape.w || test->classes != train->classes))
        return cl_error(CL_EINVAL, "%s: train and test splits differ in shape or classes",
                        train->name);
    CL_TRY(cl_data_imbalance_check(o, train->classes));
    if (train->yk && o->random_labels > 0)
        return cl_error(CL_EINVAL, "%s: --random-labels is not defined for multi-label data",
                        train->name);
    if (train->yk && (o->imbalance != 0 || o->long_tail != 0))
        return cl_error(CL_EINVAL, "%s: --%s is not defined for multi-label data", train->name,
                        o->imbalance != 0 ? "imbalance" : "long-tail");
    cl_rng root, r_sub_train, r_sub_test, r_pix, r_lab, r_imb;
    cl_rng_seed(&root, o->seed);
    r_sub_train = cl_rng_split(&root);
    r_sub_test = cl_rng_split(&root);
    r_pix = cl_rng_split(&root);
    r_lab = cl_rng_split(&root);
    r_imb = cl_rng_split(&root); /* split last: the other streams stay as they were */
    CL_TRY(subset(train, o->train_per_class, &r_sub_train, "training"));
    if (test) CL_TRY(subset(test, o->test_per_class, &r_sub_test, "test"));
    CL_TRY(cl_data_imbalance(train, o, &r_imb));
    CL_TRY(resize(train, o->resize));
    if (test) CL_TRY(resize(test, o->resize));
    if (o->random_pixels) random_pixels(train, &r_pix);
    CL_TRY(random_labels(train, o->random_labels, o->random_labels_mode, &r_lab));
    if (o->normalize) {
        double mean[CL_DATA_MAX_CHANNELS], std[CL_DATA_MAX_CHANNELS];
        cl_data_channel_stats(train, mean, std);
        for (int c = 0; c < train->shape.c; c++)
            if (!(std[c] > 0)) std[c] = 1.0; /* constant channel: only centre it */
        normalize(train, mean, std);
        if (test) normalize(test, mean, std);
    }
    return CL_OK;
}
