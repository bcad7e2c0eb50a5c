/* cl_bn_forward_train (kernels/bn.c): the train-mode batch-norm forward in
 * one parallel region gives the bits of the separate steps it replaces
 * (cl_bn_stats, the running-statistics update of layers/batchnorm.c,
 * cl_bn_apply_act) at 1 and 2 threads, and matches its naive twin. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

/* [N, C, HW]: M = 1, BatchNorm1d, small planes, past the OpenMP threshold */
static const int SH[][3] = {{1, 3, 1}, {5, 4, 1}, {3, 2, 7}, {4, 3, 300}, {16, 3, 1024}};
#define NSH ((int)(sizeof SH / sizeof SH[0]))
#define CM 4

typedef struct {
    float rm[CM], rv[CM], mean[CM], invstd[CM];
    float *y;
} fwd_out;

/* what batchnorm.c did before cl_bn_forward_train */
static void separate(const float *x, const float *res, const float *g, const float *b, int relu,
                     int N, int C, int HW, fwd_out *o)
{
    double mom = 0.1, eps = 1e-5, M = (double)N * HW;
    cl_bn_stats(x, N, C, HW, o->mean, o->invstd);
    for (int c = 0; c < C; c++) {
        double var = o->invstd[c];
        o->rm[c] = (float)((1 - mom) * o->rm[c] + mom * o->mean[c]);
        if (M > 1) o->rv[c] = (float)((1 - mom) * o->rv[c] + mom * var * M / (M - 1));
        o->invstd[c] = (float)(1.0 / sqrt(var + eps));
    }
    cl_bn_apply_act(x, res, o->y, g, b, o->mean, o->invstd, relu, N, C, HW);
}

static void init_out(fwd_out *o, int64_t m)
{
    for (int c = 0; c < CM; c++) o->rm[c] = 0.25f * (float)c, o->rv[c] = 1.0f + 0.5f * (float)c;
    memset(o->mean, 0, sizeof o->mean);
    memset(o->invstd, 0, sizeof o->invstd);
    memset(o->y, 0, sizeof(float) * (size_t)m);
}

Test(bn_train, forward_same_bits_as_separate_steps_and_naive)
{
    cl_rng rng;
    cl_rng_seed(&rng, 41);
    int threads = omp_get_max_threads();
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        float *x = tc_randn(m, &rng, 1, 2), *res = tc_randn(m, &rng, 1, 0);
        float g[CM], b[CM];
        for (int c = 0; c < C; c++) {
            g[c] = 0.5f + (float)cl_rng_uniform(&rng);
            b[c] = (float)cl_rng_uniform(&rng) - 0.5f;
        }
        fwd_out ref, got, nv;
        ref.y = tc_randn(m, &rng, 1, 0), got.y = tc_randn(m, &rng, 1, 0);
        nv.y = tc_randn(m, &rng, 1, 0);
        for (int v = 0; v < 4; v++) {
            const float *r = v & 1 ? res : NULL;
            int relu = v >> 1;
            omp_set_num_threads(1);
            init_out(&ref, m);
            separate(x, r, g, b, relu, N, C, HW, &ref);
            for (int th = 1; th <= 2; th++) {
                omp_set_num_threads(th);
                init_out(&got, m);
                cl_bn_running run = {got.rm, got.rv, 0.1, 1e-5};
                cl_bn_forward_train(x, r, got.y, g, b, &run, relu, N, C, HW, got.mean,
                                    got.invstd);
                cr_assert(memcmp(ref.rm, got.rm, sizeof ref.rm) == 0 &&
                              memcmp(ref.rv, got.rv, sizeof ref.rv) == 0 &&
                              memcmp(ref.mean, got.mean, sizeof ref.mean) == 0 &&
                              memcmp(ref.invstd, got.invstd, sizeof ref.invstd) == 0,
                          "shape %d variant %d, %d threads: statistics differ", t, v, th);
                cr_assert(memcmp(ref.y, got.y, sizeof(float) * (size_t)m) == 0,
                          "shape %d variant %d, %d threads: y differs", t, v, th);
            }
            init_out(&nv, m);
            cl_bn_running rn = {nv.rm, nv.rv, 0.1, 1e-5};
            cl_bn_forward_train_naive(x, r, nv.y, g, b, &rn, relu, N, C, HW, nv.mean, nv.invstd);
            expect_near("forward_train vs naive: y", got.y, nv.y, m, KTOL);
            expect_near("forward_train vs naive: running var", got.rv, nv.rv, C, KTOL);
            expect_near("forward_train vs naive: running mean", got.rm, nv.rm, C, KTOL);
            if (N * HW == 1)
                cr_assert(got.rv[0] == 1.0f && got.rv[C - 1] == 1.0f + 0.5f * (float)(C - 1),
                          "M = 1: the running variance must stay");
        }
        cl_free(x), cl_free(res), cl_free(ref.y), cl_free(got.y), cl_free(nv.y);
    }
    omp_set_num_threads(threads);
}
