/* The AVX-512 channel sums of the batch-norm kernels (bn_avx512.c) against
 * the portable loops (COLLAPSE_ISA=generic): the same bits for the
 * statistics, dgamma/dbeta, dx and the masked gradient, on planes with
 * every kind of tail (16-float steps, one 8-float step, single floats),
 * at 1 and 2 threads. (The double sums of a few hundred floats per lane
 * are close to exact, so the float results do not show a change of the
 * summation order; what this catches is a wrong lane, tail, mask or
 * operand.) Skipped where the CPU has no AVX-512 (the portable
 * path is then the only one). */
#include <criterion/criterion.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/isa.h"
#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"

/* [N, C, HW]: HW = 7 (tail only), 8, 16 + 8 + 3, 49, 1000 (8-step + 0),
 * 1024, and one size past the OpenMP threshold */
static const int SH[][3] = {{3, 2, 7}, {2, 3, 8}, {4, 3, 27}, {5, 4, 49},
                            {3, 2, 1000}, {2, 3, 1024}, {16, 3, 1000}};
#define NSH ((int)(sizeof SH / sizeof SH[0]))
#define CMAX 4

typedef struct {
    float mean[CMAX], var[CMAX], p[3][2][CMAX];
    float *g, *dx[3];
} bn_out;

static void run_all(const float *x, const float *y, const float *dy, const float *gam,
                    const float *bet, const float *is, int N, int C, int HW, bn_out *o)
{
    memset(o->p, 0, sizeof o->p);
    cl_bn_stats(x, N, C, HW, o->mean, o->var);
    cl_bn_backward(x, dy, o->dx[0], gam, o->mean, is, 1, N, C, HW, o->p[0][0], o->p[0][1]);
    cl_bn_backward_relu(x, y, dy, o->g, o->dx[1], gam, o->mean, is, 1, N, C, HW, o->p[1][0],
                        o->p[1][1]);
    cl_bn_backward_relu_x(x, dy, o->dx[2], gam, bet, o->mean, is, 1, N, C, HW, o->p[2][0],
                          o->p[2][1]);
}

static void expect_same(const bn_out *a, const bn_out *b, int64_t m, const char *what, int t)
{
    cr_assert(memcmp(a->mean, b->mean, sizeof a->mean) == 0 &&
                  memcmp(a->var, b->var, sizeof a->var) == 0,
              "%s, shape %d: statistics differ", what, t);
    cr_assert(memcmp(a->p, b->p, sizeof a->p) == 0, "%s, shape %d: dgamma/dbeta differ", what,
              t);
    cr_assert(memcmp(a->g, b->g, sizeof(float) * (size_t)m) == 0,
              "%s, shape %d: masked gradient differs", what, t);
    for (int k = 0; k < 3; k++)
        cr_assert(memcmp(a->dx[k], b->dx[k], sizeof(float) * (size_t)m) == 0,
                  "%s, shape %d: dx of variant %d differs", what, t, k);
}

static void alloc_out(bn_out *o, int64_t m, cl_rng *rng)
{
    memset(o, 0, sizeof *o);
    o->g = tc_randn(m, rng, 1, 0);
    for (int k = 0; k < 3; k++) o->dx[k] = tc_randn(m, rng, 1, 0);
}

static void free_out(bn_out *o)
{
    cl_free(o->g);
    for (int k = 0; k < 3; k++) cl_free(o->dx[k]);
}

Test(bn_isa, avx512_sums_same_bits_as_portable)
{
    if (cl_isa_best() < CL_ISA_AVX512) cr_skip_test("no AVX-512 on this CPU");
    const char *old = getenv("COLLAPSE_ISA");
    char *saved = old ? strdup(old) : NULL;
    int threads = omp_get_max_threads();
    cl_rng rng;
    cl_rng_seed(&rng, 29);
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        /* a large mean (the shifted sums), a ReLU mask about half on */
        float *x = tc_randn(m, &rng, 1, 3), *y = tc_randn(m, &rng, 1, 0),
              *dy = tc_randn(m, &rng, 1, 0);
        for (int64_t i = 0; i < m; i += 5) y[i] = 0.0f; /* the gradient at 0 is 0 */
        float gam[CMAX], bet[CMAX], is[CMAX];
        for (int c = 0; c < C; c++) {
            gam[c] = 0.5f + (float)cl_rng_uniform(&rng);
            bet[c] = (float)cl_rng_uniform(&rng) - 0.5f;
            is[c] = 0.7f + 0.5f * (float)cl_rng_uniform(&rng);
        }
        bn_out ref, got;
        alloc_out(&ref, m, &rng);
        alloc_out(&got, m, &rng);
        omp_set_num_threads(1);
        setenv("COLLAPSE_ISA", "generic", 1);
        run_all(x, y, dy, gam, bet, is, N, C, HW, &ref);
        setenv("COLLAPSE_ISA", "avx512", 1);
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            run_all(x, y, dy, gam, bet, is, N, C, HW, &got);
            expect_same(&ref, &got, m, th == 1 ? "avx512, 1 thread" : "avx512, 2 threads", t);
        }
        free_out(&ref);
        free_out(&got);
        cl_free(x), cl_free(y), cl_free(dy);
    }
    omp_set_num_threads(threads);
    if (saved) setenv("COLLAPSE_ISA", saved, 1);
    else unsetenv("COLLAPSE_ISA");
    free(saved);
}
