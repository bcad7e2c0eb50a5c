/* Batch norm of channel-blocked tensors (kernels_blocked.h, bn_blocked.c)
 * against the NCHW kernels of kernels_dense.h through the layout
 * conversions: the apply with given statistics gives the same bits as
 * cl_bn_apply_act (the same float operations), the masked gradient g the
 * same bits as cl_bn_backward_relu's; statistics, running statistics, dx,
 * dgamma and dbeta agree to KTOL (sums in another order). Also: NaN
 * propagation, eval-mode backward, the mask read from y or recomputed from
 * x (and a residual), dx written over dy, the same bits on a second run at
 * one thread count, and the conversion with the residual add. And the BasicBlock's blocked path
 * against its NCHW path (train and eval). AVX-512 only (skipped
 * otherwise). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/isa.h"
#include "collapse/kernels_blocked.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

/* N, C, HW: one channel block (ResNet-20 stage 1) and several, planes of
 * 16 to 1024 pixels, sizes under and over the OpenMP threshold, and one of
 * 6.25 MiB (outputs written with non-temporal stores, bn_blocked.c) */
static const int SH[][3] = {
    {3, 16, 16}, {2, 32, 64}, {5, 48, 32}, {4, 16, 1024}, {3, 64, 64}, {100, 16, 1024}};
#define NSH ((int)(sizeof SH / sizeof SH[0]))

static void need_avx512(void)
{
    if (cl_isa_current() != CL_ISA_AVX512)
        cr_skip_test("the blocked kernels need the AVX-512 path (isa %s)",
                     cl_isa_name(cl_isa_current()));
}

static float *nans(int64_t n)
{
    float *a = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = NAN;
    return a;
}

static float *blocked(const float *x, int N, int C, int HW)
{
    float *b = nans((int64_t)N * C * HW);
    cl_to_blocked(x, N, C, HW, b);
    return b;
}

static void params(int C, cl_rng *r, float *g, float *b)
{
    for (int c = 0; c < C; c++) {
        g[c] = 0.5f + (float)cl_rng_uniform(r);
        b[c] = (float)cl_rng_uniform(r) - 0.5f;
    }
}

static int same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

/* Train forward (with and without a residual) and the eval apply, against
 * the NCHW kernels. */
Test(bn_blocked, forward_matches_nchw)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 21);
    for (int t = 0; t < NSH; t++) {
        const int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        const int64_t m = (int64_t)N * C * HW;
        float g[64], b[64], mu[64], is[64], mu0[64], is0[64];
        float rm[64], rv[64], rm0[64], rv0[64];
        params(C, &r, g, b);
        for (int c = 0; c < C; c++) rm[c] = rm0[c] = 0.1f * c, rv[c] = rv0[c] = 1.0f + 0.01f * c;
        float *x = tc_randn(m, &r, 2, 3), *res = tc_randn(m, &r, 1, 0);
        x[m / 3] = NAN; /* one channel's statistics and outputs become NaN */
        float *xb = blocked(x, N, C, HW), *resb = blocked(res, N, C, HW), *yb = nans(m);
        float *y = tc_randn(m, &r, 1, 0), *y0 = tc_randn(m, &r, 1, 0);
        for (int v = 0; v < 2; v++) {
            const int with_res = v == 0;
            cl_bn_running run = {rm, rv, 0.1, 1e-5}, run0 = {rm0, rv0, 0.1, 1e-5};
            cl_bnb_forward_train(xb, with_res ? resb : NULL, yb, g, b, &run, 1, N, C, HW, mu, is);
            cl_bn_forward_train(x, with_res ? res : NULL, y0, g, b, &run0, 1, N, C, HW, mu0,
                                is0);
            cl_from_blocked(yb, NULL, N, C, HW, y);
            const int nanc = (int)(m / 3 / HW % C);
            cr_assert(isnan(mu[nanc]) && isnan(y[m / 3]), "NaN lost");
            mu[nanc] = mu0[nanc] = is[nanc] = is0[nanc] = rm[nanc] = rm0[nanc] = 0;
            rv[nanc] = rv0[nanc] = 0;
            for (int64_t i = 0; i < m; i++)
                if (isnan(y[i]) && isnan(y0[i])) y[i] = y0[i] = 0;
            expect_near("mean", mu, mu0, C, KTOL);
            expect_near("invstd", is, is0, C, KTOL);
            expect_near("running mean", rm, rm0, C, KTOL);
            expect_near("running var", rv, rv0, C, KTOL);
            expect_near("y", y, y0, m, KTOL);
        }
        /* eval: the same statistics in, the same bits out */
        for (int c = 0; c < C; c++) mu[c] = 0.2f * c - 1, is[c] = 0.5f + 0.01f * c;
        x[m / 3] = -0.0f;
        cl_free(xb);
        xb = blocked(x, N, C, HW);
        cl_bnb_apply_act(xb, resb, yb, g, b, mu, is, 1, N, C, HW);
        cl_from_blocked(yb, NULL, N, C, HW, y);
        cl_bn_apply_act(x, res, y0, g, b, mu, is, 1, N, C, HW);
        cr_assert(same_bits(y, y0, m), "%dx%dx%d: eval apply not the NCHW bits", N, C, HW);
        cl_free(x), cl_free(res), cl_free(xb), cl_free(resb), cl_free(yb), cl_free(y), cl_free(y0);
    }
}

/* The backward with the mask from y, from x, and from x and a residual
 * (redone with the forward's operations), against the NCHW kernels; the
 * last one with dx written over dy. */
static void check_backward(int N, int C, int HW, int batch_stats, cl_rng *r)
{
    const int64_t m = (int64_t)N * C * HW;
    float g[64], b[64], mu[64], is[64];
    params(C, r, g, b);
    for (int c = 0; c < C; c++) mu[c] = 0.3f * ((float)cl_rng_uniform(r) - 0.5f), is[c] = 0.8f;
    float *x = tc_randn(m, r, 1, 0), *res = tc_randn(m, r, 1, 0), *dy = tc_randn(m, r, 1, 0);
    float *y = tc_randn(m, r, 1, 0);
    cl_bn_apply_act(x, res, y, g, b, mu, is, 1, N, C, HW); /* the forward's output */
    float *xb = blocked(x, N, C, HW), *resb = blocked(res, N, C, HW), *dyb = blocked(dy, N, C, HW);
    float *yb = blocked(y, N, C, HW), *gb = nans(m), *dxb = nans(m), *gn = nans(m), *dx = nans(m);
    float *g0 = tc_randn(m, r, 1, 0), *dx0 = tc_randn(m, r, 1, 0);
    for (int v = 0; v < 3; v++) {
        float p[2][64] = {{0}}, p0[2][64] = {{0}};
        const char *what = v == 0 ? "mask from y" : v == 1 ? "mask from x" : "mask from x + res";
        if (v == 0) {
            cl_bnb_backward_relu(xb, NULL, yb, dyb, gb, dxb, g, NULL, mu, is, batch_stats, N, C,
                                 HW, p[0], p[1]);
            cl_bn_backward_relu(x, y, dy, g0, dx0, g, mu, is, batch_stats, N, C, HW, p0[0], p0[1]);
        } else if (v == 1) {
            cl_bnb_backward_relu(xb, NULL, NULL, dyb, NULL, dxb, g, b, mu, is, batch_stats, N, C,
                                 HW, p[0], p[1]);
            cl_bn_backward_relu_x(x, dy, dx0, g, b, mu, is, batch_stats, N, C, HW, p0[0], p0[1]);
        } else {
            float *d = blocked(dy, N, C, HW); /* dx written over it */
            cl_bnb_backward_relu(xb, resb, NULL, d, gb, d, g, b, mu, is, batch_stats, N, C, HW,
                                 p[0], p[1]);
            memcpy(dxb, d, sizeof(float) * (size_t)m);
            cl_free(d);
            cl_bn_backward_relu(x, y, dy, g0, dx0, g, mu, is, batch_stats, N, C, HW, p0[0], p0[1]);
        }
        if (v != 1) {
            cl_from_blocked(gb, NULL, N, C, HW, gn);
            cr_assert(same_bits(gn, g0, m), "%dx%dx%d %s: g not the NCHW bits", N, C, HW, what);
        }
        cl_from_blocked(dxb, NULL, N, C, HW, dx);
        expect_near(what, dx, dx0, m, KTOL);
        expect_near("dgamma", p[0], p0[0], C, KTOL);
        expect_near("dbeta", p[1], p0[1], C, KTOL);
    }
    float *all[] = {x, res, dy, y, xb, resb, dyb, yb, gb, dxb, gn, dx, g0, dx0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
}

Test(bn_blocked, backward_matches_nchw)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 22);
    for (int t = 0; t < NSH; t++)
        for (int bs = 0; bs < 2; bs++) check_backward(SH[t][0], SH[t][1], SH[t][2], bs, &r);
}

/* Two runs at 2 threads give the same bits (forward and backward). */
Test(bn_blocked, same_bits_again)
{
    need_avx512();
    cl_rng r;
    cl_rng_seed(&r, 23);
    const int N = 8, C = 32, HW = 256;
    const int64_t m = (int64_t)N * C * HW;
    float g[32], b[32], mu[2][32], is[2][32], rm[32] = {0}, rv[32] = {0},
                                              p[2][2][32] = {{{0}}};
    params(C, &r, g, b);
    float *xb = tc_randn(m, &r, 1, 1), *dy = tc_randn(m, &r, 1, 0), *y[2], *dxb[2];
    const int saved = omp_get_max_threads();
    omp_set_num_threads(2);
    for (int k = 0; k < 2; k++) {
        cl_bn_running run = {rm, rv, 0.1, 1e-5};
        y[k] = tc_randn(m, &r, 1, 0), dxb[k] = tc_randn(m, &r, 1, 0);
        cl_bnb_forward_train(xb, NULL, y[k], g, b, &run, 1, N, C, HW, mu[k], is[k]);
        cl_bnb_backward_relu(xb, NULL, y[k], dy, NULL, dxb[k], g, b, mu[k], is[k], 1, N, C, HW,
                             p[k][0], p[k][1]);
    }
    omp_set_num_threads(saved);
    cr_assert(same_bits(y[0], y[1], m) && same_bits(dxb[0], dxb[1], m));
    cr_assert(memcmp(mu[0], mu[1], sizeof mu[0]) == 0 &&
              memcmp(p[0], p[1], sizeof p[0]) == 0);
    cl_free(xb), cl_free(dy), cl_free(y[0]), cl_free(y[1]), cl_free(dxb[0]),
        cl_free(dxb[1]);
}

/* from_blocked with add (both blocked): the plain conversion of the sum,
 * element for element (fast 16-pixel path and the general loop). */
Test(bn_blocked, convert_with_add)
{
    cl_rng r;
    cl_rng_seed(&r, 24);
    const int shapes[][3] = {{3, 32, 64}, {2, 16, 35}};
    for (int s = 0; s < 2; s++) {
        const int N = shapes[s][0], C = shapes[s][1], HW = shapes[s][2];
        const int64_t m = (int64_t)N * C * HW;
        float *x = tc_randn(m, &r, 1, 0), *add = tc_randn(m, &r, 1, 0);
        float *xb = blocked(x, N, C, HW), *addb = blocked(add, N, C, HW), *out = nans(m);
        cl_from_blocked(xb, addb, N, C, HW, out);
        for (int64_t i = 0; i < m; i++)
            cr_assert(out[i] == x[i] + add[i], "HW %d element %lld", HW, (long long)i);
        cl_free(x), cl_free(add), cl_free(xb), cl_free(addb), cl_free(out);
    }
}

/* ---- the BasicBlock's blocked path (layers/block.c) against its NCHW
 * path (COLLAPSE_CONV=winograd: the same F(4) arithmetic in NCHW) ---- */

typedef struct {
    float *y, *dx, *grads, *bufs;
} block_out;

/* One block (C channels in, OC out, stride S, H x W, batch n: identity or
 * projection) forward + backward from a fixed state; train or eval mode. */
static block_out run_block(int C, int OC, int S, int H, int W, int n, int train,
                           const char *conv_env)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = CL_LAYER_BLOCK, s.out = OC, s.stride = S;
    cl_rng r;
    cl_rng_seed(&r, 31);
    cl_model *m = NULL;
    cr_assert_eq(cl_model_create(&m, (cl_shape){C, H, W}, &s, 1, &r), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, n), CL_OK, "%s", cl_errmsg());
    for (int64_t i = 0; i < m->nparams; i++) m->params[i] += 0.2f * (float)cl_rng_normal(&r);
    for (int64_t i = 0; i < m->nbufs; i++) m->bufs[i] += 0.1f * (float)cl_rng_uniform(&r);
    const int64_t nx = (int64_t)n * C * H * W, ny = (int64_t)n * cl_shape_size(m->layers[0].out);
    float *x = tc_randn(nx, &r, 1, 0.2), *dy = tc_randn(ny, &r, 1, 0);
    block_out o = {nans(ny), nans(nx), nans(m->nparams), nans(m->nbufs)};
    if (conv_env) setenv("COLLAPSE_CONV", conv_env, 1);
    cl_layer *l = &m->layers[0];
    const cl_layer_ops *ops = cl_layer_ops_table[l->spec.kind];
    cl_run run = {.n = n, .train = train, .ws = m->ws};
    float *saved = m->saved + l->saved_off;
    cl_model_zero_grad(m);
    ops->forward(l, &run, m->params, m->bufs, x, o.y, saved);
    ops->backward(l, &run, m->params, x, o.y, saved, dy, o.dx, m->grads);
    if (conv_env) unsetenv("COLLAPSE_CONV");
    memcpy(o.grads, m->grads, sizeof(float) * (size_t)m->nparams);
    memcpy(o.bufs, m->bufs, sizeof(float) * (size_t)m->nbufs);
    cl_free(x), cl_free(dy);
    cl_model_destroy(m);
    return o;
}

Test(bn_blocked, block_matches_nchw_path)
{
    const char *e = getenv("COLLAPSE_CONV");
    if (cl_isa_current() != CL_ISA_AVX512 || (e && *e && strcmp(e, "auto")))
        cr_skip_test("the blocked path needs AVX-512 and COLLAPSE_CONV=auto");
    /* C, OC, stride, H, W, n: identity blocks, projections (conv2, the BNs
     * and the residual blocked; strided conv1 and shortcut NCHW) */
    const int shapes[][6] = {{16, 16, 1, 8, 8, 4},  {32, 32, 1, 4, 4, 6}, {16, 16, 1, 32, 32, 2},
                             {64, 64, 1, 8, 8, 3},  {16, 32, 2, 8, 8, 3}, {16, 32, 2, 32, 32, 2},
                             {32, 64, 2, 16, 16, 2}, {16, 32, 1, 8, 8, 2}};
    for (int t = 0; t < 8; t++)
        for (int train = 0; train < 2; train++) {
            const int C = shapes[t][0], OC = shapes[t][1], S = shapes[t][2], H = shapes[t][3],
                      W = shapes[t][4], n = shapes[t][5];
            const int OH = (H - 1) / S + 1, OW = (W - 1) / S + 1;
            const int64_t nx = (int64_t)n * C * H * W, ny = (int64_t)n * OC * OH * OW;
            const int64_t np = 9 * (int64_t)OC * (C + OC) + 4 * OC +
                               (C != OC || S != 1 ? (int64_t)OC * C + 2 * OC : 0);
            const int64_t nb = 4 * OC + (C != OC || S != 1 ? 2 * OC : 0);
            block_out b = run_block(C, OC, S, H, W, n, train, NULL);
            block_out r = run_block(C, OC, S, H, W, n, train, "winograd");
            cr_assert_not(same_bits(b.y, r.y, ny), "C%d->%d %dx%d: the blocked path did not run",
                          C, OC, H, W);
            expect_near("block y", b.y, r.y, ny, 1e-4);
            expect_near("block dx", b.dx, r.dx, nx, 1e-4);
            expect_near("block grads", b.grads, r.grads, np, 1e-4);
            expect_near("block running stats", b.bufs, r.bufs, nb, 1e-5);
            float *all[] = {b.y, b.dx, b.grads, b.bufs, r.y, r.dx, r.grads, r.bufs};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]);
        }
}
