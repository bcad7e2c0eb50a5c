/* cl_train_forward_each: eval-mode passes in order; BN-train-mode passes in
 * a fixed seeded order with balanced batches, so that storage order (e.g. a
 * class-sorted PNG folder) cannot decide which samples share BN statistics. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/train.h"
#include "common.h"

#define N 203
#define DIN 5
#define K 3

/* linear-BN-relu-linear: features depend on batch-mates in BN train mode. */
static cl_model *bn_mlp(void)
{
    cl_layer_spec s[4] = {tc_spec(CL_LAYER_LINEAR, 7), tc_spec(CL_LAYER_BATCHNORM, 0),
                          tc_spec(CL_LAYER_RELU, 0), tc_spec(CL_LAYER_LINEAR, K)};
    s[3].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){DIN, 1, 1}, s, 4, &rng), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, 64), CL_OK);
    return m;
}

/* Class-sorted data: class c occupies a contiguous block, mean 2c. */
static void make_sorted(float *x, int32_t *y)
{
    cl_rng r;
    cl_rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        y[i] = i * K / N;
        for (int d = 0; d < DIN; d++) x[i * DIN + d] = (float)(2.0 * y[i] + cl_rng_normal(&r));
    }
}

typedef struct {
    int calls, nmin, nmax, mixed;
    int seen[N];
    int32_t order[N];
    int pos;
    float *H; /* [N, K] logits at dataset positions */
} probe;

static cl_status record(void *user, const cl_model *m, const cl_batch *b)
{
    probe *p = user;
    p->calls++;
    if (b->n < p->nmin) p->nmin = b->n;
    if (b->n > p->nmax) p->nmax = b->n;
    int first_class = b->y[0], mixed = 0;
    for (int i = 0; i < b->n; i++) {
        int64_t at = b->idx ? b->idx[i] : b->first + i;
        p->seen[at]++;
        p->order[p->pos++] = (int32_t)at;
        mixed |= b->y[i] != first_class;
        memcpy(p->H + at * K, m->acts[m->nlayers - 1] + (int64_t)i * K, sizeof(float) * K);
    }
    p->mixed += mixed;
    return CL_OK;
}

static probe *run(cl_model *m, const cl_train_data *ds, int bn_train)
{
    probe *p = calloc(1, sizeof *p);
    p->nmin = 1 << 30;
    p->H = calloc(N * K, sizeof(float));
    cr_assert_eq(cl_train_forward_each(m, ds, bn_train, record, p), CL_OK, "%s", cl_errmsg());
    return p;
}

static void probe_free(probe *p)
{
    free(p->H);
    free(p);
}

Test(train, forward_each_eval_mode_in_order)
{
    static float x[N * DIN];
    static int32_t y[N];
    make_sorted(x, y);
    cl_train_data ds = {N, {DIN, 1, 1}, K, x, y, NULL, NULL, NULL};
    cl_model *m = bn_mlp();
    probe *p = run(m, &ds, 0);
    cr_assert_eq(p->calls, 4); /* 64, 64, 64, 11 */
    for (int i = 0; i < N; i++) cr_assert_eq(p->order[i], i);
    probe_free(p);
    cl_model_destroy(m);
}

Test(train, forward_each_bn_train_permuted_balanced_deterministic)
{
    static float x[N * DIN];
    static int32_t y[N];
    make_sorted(x, y);
    cl_train_data ds = {N, {DIN, 1, 1}, K, x, y, NULL, NULL, NULL};
    cl_model *m = bn_mlp();
    float *bufs0 = malloc(sizeof(float) * (size_t)m->nbufs);
    memcpy(bufs0, m->bufs, sizeof(float) * (size_t)m->nbufs);
    probe *p = run(m, &ds, 1);
    cr_assert_eq(p->calls, 4);                  /* ceil(203 / 64) batches */
    cr_assert_leq(p->nmax - p->nmin, 1);        /* 51, 51, 51, 50: no tiny last batch */
    for (int i = 0; i < N; i++) cr_assert_eq(p->seen[i], 1, "sample %d", i);
    cr_assert_eq(p->mixed, 4, "every batch mixes classes"); /* sorted storage, shuffled visits */
    int in_order = 1;
    for (int i = 0; i < N; i++) in_order &= p->order[i] == i;
    cr_assert(!in_order);
    /* running statistics restored */
    cr_assert_eq(memcmp(bufs0, m->bufs, sizeof(float) * (size_t)m->nbufs), 0);
    /* the same order on every call */
    probe *q = run(m, &ds, 1);
    cr_assert_eq(memcmp(p->order, q->order, sizeof p->order), 0);
    cr_assert_eq(memcmp(p->H, q->H, sizeof(float) * N * K), 0);
    probe_free(p);
    probe_free(q);
    free(bufs0);
    cl_model_destroy(m);
}

/* The same samples stored class-sorted or shuffled give nearly the same
 * BN-train-mode separation (storage order used to decide the batches: a
 * class-sorted set then measured nc1 orders of magnitude too high). */
Test(train, forward_each_bn_train_storage_order_does_not_matter)
{
    static float xs[N * DIN], xp[N * DIN];
    static int32_t ys[N], yp[N];
    make_sorted(xs, ys);
    int32_t perm[N];
    for (int i = 0; i < N; i++) perm[i] = i;
    cl_rng r;
    cl_rng_seed(&r, 99);
    cl_rng_shuffle_i32(&r, perm, N);
    for (int i = 0; i < N; i++) {
        memcpy(xp + i * DIN, xs + perm[i] * DIN, sizeof(float) * DIN);
        yp[i] = ys[perm[i]];
    }
    cl_train_data sorted = {N, {DIN, 1, 1}, K, xs, ys, NULL, NULL, NULL};
    cl_train_data shuffled = {N, {DIN, 1, 1}, K, xp, yp, NULL, NULL, NULL};
    cl_model *m = bn_mlp();
    probe *a = run(m, &sorted, 1), *b = run(m, &shuffled, 1);
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result ra, rb;
    cr_assert_eq(cl_nc_analyze(a->H, N, K, ys, K, NULL, NULL, &o, &ra), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_nc_analyze(b->H, N, K, yp, K, NULL, NULL, &o, &rb), CL_OK, "%s", cl_errmsg());
    cr_assert(isfinite(ra.nc1) && isfinite(rb.nc1));
    cr_assert_lt(fabs(ra.nc1 - rb.nc1), 0.25 * rb.nc1, "sorted %g vs shuffled %g", ra.nc1,
                 rb.nc1);
    probe_free(a);
    probe_free(b);
    cl_model_destroy(m);
}
