/* Batch norm fused with ReLU and the residual add (kernels/bn.c, the
 * BasicBlock): fast vs naive twins, bit-identity with the separate passes
 * it replaces, thread-count independence, and a block run twice giving the
 * same bits. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

/* [N, C, HW]: HW = 1, odd planes (tail lanes), planes longer than the
 * 256-float mask buffer, and a size past the OpenMP threshold. */
static const int SH[][3] = {{3, 5, 1}, {2, 3, 7}, {4, 17, 49}, {3, 2, 300}, {8, 5, 1000}};
#define NSH ((int)(sizeof SH / sizeof SH[0]))

static void params(int C, cl_rng *rng, float *g, float *b, float *mean, float *is)
{
    for (int c = 0; c < C; c++) {
        g[c] = 0.5f + (float)cl_rng_uniform(rng);
        b[c] = (float)cl_rng_uniform(rng) - 0.5f;
        mean[c] = 0.3f * ((float)cl_rng_uniform(rng) - 0.5f);
        is[c] = 0.7f + 0.5f * (float)cl_rng_uniform(rng);
    }
}

static int same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

Test(bn_fused, apply_act_matches_separate_passes_and_naive)
{
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    for (int t = 0; t < NSH; t++) {
        int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
        int64_t m = (int64_t)N * C * HW;
        float g[17], b[17], mu[17], is[17];
        params(C, &rng, g, b, mu, is);
        float *x = tc_randn(m, &rng, 1, 0), *res = tc_randn(m, &rng, 1, 0);
        x[m / 2] = NAN; /* propagates through every variant */
        float *y = tc_randn(m, &rng, 1, 0), *ref = tc_randn(m, &rng, 1, 0),
              *nv = tc_randn(m, &rng, 1, 0);
        for (int v = 0; v < 4; v++) {
            int use_res = v & 1, relu = v >> 1;
            cl_bn_apply_act(x, use_res ? res : NULL, y, g, b, mu, is, relu, N, C, HW);
            cl_bn_apply(x, ref, g, b, mu, is, N, C, HW);
            if (use_res)
                for (int64_t i = 0; i < m; i++) ref[i] = ref[i] + res[i];
            if (relu) cl_relu_forward(ref, ref, m);
            cr_assert(same_bits(y, ref, m), "shape %dx%dx%d res %d relu %d: not the bits of "
                      "apply + add + relu", N, C, HW, use_res, relu);
            cr_assert(isnan(y[m / 2]), "NaN lost (res %d relu %d)", use_res, relu);
            cl_bn_apply_act_naive(x, use_res ? res : NULL, nv, g, b, mu, is, relu, N, C, HW);
            y[m / 2] = nv[m / 2] = 0; /* nrel counts NaN as infinite */
            expect_near("apply_act vs naive", y, nv, m, KTOL);
        }
        cl_free(x), cl_free(res), cl_free(y), cl_free(ref), cl_free(nv);
    }
}

/* dx, dgamma, dbeta and the masked gradient of the fused backward against
 * relu backward + bn backward (bit for bit) and against the naive twin. */
static void check_backward(int N, int C, int HW, int batch_stats, cl_rng *rng)
{
    int64_t m = (int64_t)N * C * HW;
    float g[17], b[17], mu[17], is[17];
    params(C, rng, g, b, mu, is);
    float *x = tc_randn(m, rng, 1, 0), *y = tc_randn(m, rng, 1, 0), *dy = tc_randn(m, rng, 1, 0);
    y[0] = 0.0f; /* the gradient at 0 is 0 */
    float *gref = tc_randn(m, rng, 1, 0), *dxref = tc_randn(m, rng, 1, 0);
    float pref[2][17] = {{0}};
    cl_relu_backward(y, dy, gref, m);
    cl_bn_backward(x, gref, dxref, g, mu, is, batch_stats, N, C, HW, pref[0], pref[1]);
    for (int mode = 0; mode < 3; mode++) { /* g kept, g = NULL, g in place over dy */
        float *gk = tc_randn(m, rng, 1, 0), *dx = tc_randn(m, rng, 1, 0), *d = copy(dy, m);
        float p[2][17] = {{0}};
        float *gout = mode == 0 ? gk : mode == 1 ? NULL : d;
        cl_bn_backward_relu(x, y, d, gout, dx, g, mu, is, batch_stats, N, C, HW, p[0], p[1]);
        cr_assert(same_bits(dx, dxref, m), "%dx%dx%d mode %d: dx bits differ", N, C, HW, mode);
        cr_assert(memcmp(p, pref, sizeof p) == 0, "%dx%dx%d mode %d: dgamma/dbeta differ", N, C,
                  HW, mode);
        if (gout) cr_assert(same_bits(gout, gref, m), "%dx%dx%d mode %d: g differs", N, C, HW, mode);
        cl_free(gk), cl_free(dx), cl_free(d);
    }
    float *gn = tc_randn(m, rng, 1, 0), *dxn = tc_randn(m, rng, 1, 0);
    float pn[2][17] = {{0}};
    cl_bn_backward_relu_naive(x, y, dy, gn, dxn, g, mu, is, batch_stats, N, C, HW, pn[0], pn[1]);
    expect_near("backward_relu dx vs naive", dxref, dxn, m, KTOL);
    expect_near("backward_relu dgamma vs naive", pref[0], pn[0], C, KTOL);
    expect_near("backward_relu dbeta vs naive", pref[1], pn[1], C, KTOL);
    cr_assert(same_bits(gn, gref, m), "naive g differs");
    cl_bn_backward_relu_naive(x, y, dy, NULL, dxn, g, mu, is, batch_stats, N, C, HW, pn[0], pn[1]);
    expect_near("backward_relu naive without g", dxref, dxn, m, KTOL);
    cl_free(x), cl_free(y), cl_free(dy), cl_free(gref), cl_free(dxref), cl_free(gn), cl_free(dxn);
}

Test(bn_fused, backward_relu_matches_separate_passes_and_naive)
{
    cl_rng rng;
    cl_rng_seed(&rng, 12);
    for (int t = 0; t < NSH; t++)
        for (int bs = 0; bs < 2; bs++) check_backward(SH[t][0], SH[t][1], SH[t][2], bs, &rng);
}

/* The mask redone from x: the bits of ReLU backward (on the fused
 * forward's output) + BN backward, and near the naive twin. Some x sit
 * exactly where the normalised value is 0 (the gradient there is 0). */
Test(bn_fused, backward_relu_x_matches_mask_from_y)
{
    cl_rng rng;
    cl_rng_seed(&rng, 14);
    for (int t = 0; t < NSH; t++)
        for (int bs = 0; bs < 2; bs++) {
            int N = SH[t][0], C = SH[t][1], HW = SH[t][2];
            int64_t m = (int64_t)N * C * HW;
            float g[17], b[17], mu[17], is[17];
            params(C, &rng, g, b, mu, is);
            b[0] = 0.0f;
            float *x = tc_randn(m, &rng, 1, 0), *dy = tc_randn(m, &rng, 1, 0);
            x[0] = mu[0]; /* v = 0 exactly in channel 0 */
            float *y = tc_randn(m, &rng, 1, 0), *gr = tc_randn(m, &rng, 1, 0),
                  *dxr = tc_randn(m, &rng, 1, 0), *dx = tc_randn(m, &rng, 1, 0),
                  *dxn = tc_randn(m, &rng, 1, 0);
            float pr[2][17] = {{0}}, p[2][17] = {{0}}, pn[2][17] = {{0}};
            cl_bn_apply_act(x, NULL, y, g, b, mu, is, 1, N, C, HW);
            cl_relu_backward(y, dy, gr, m);
            cl_bn_backward(x, gr, dxr, g, mu, is, bs, N, C, HW, pr[0], pr[1]);
            cl_bn_backward_relu_x(x, dy, dx, g, b, mu, is, bs, N, C, HW, p[0], p[1]);
            cr_assert(same_bits(dx, dxr, m), "%dx%dx%d: dx bits differ", N, C, HW);
            cr_assert(memcmp(p, pr, sizeof p) == 0, "%dx%dx%d: dgamma/dbeta differ", N, C, HW);
            cl_bn_backward_relu_x_naive(x, dy, dxn, g, b, mu, is, bs, N, C, HW, pn[0], pn[1]);
            expect_near("backward_relu_x vs naive", dx, dxn, m, KTOL);
            expect_near("backward_relu_x dgamma vs naive", p[0], pn[0], C, KTOL);
            cl_free(x), cl_free(dy), cl_free(y), cl_free(gr), cl_free(dxr), cl_free(dx);
            cl_free(dxn);
        }
}

/* Threads own whole channels, so 1, 2 and 3 threads give the same bits. */
Test(bn_fused, thread_count_independent)
{
    cl_rng rng;
    cl_rng_seed(&rng, 13);
    int N = 8, C = 5, HW = 1000, saved = omp_get_max_threads();
    int64_t m = (int64_t)N * C * HW;
    float g[5], b[5], mu[5], is[5];
    params(C, &rng, g, b, mu, is);
    float *x = tc_randn(m, &rng, 1, 0), *res = tc_randn(m, &rng, 1, 0),
          *dy = tc_randn(m, &rng, 1, 0);
    float *y[3], *gk[3], *dx[3], *dx2[3], p[3][2][5], p2[3][2][5];
    memset(p, 0, sizeof p);
    memset(p2, 0, sizeof p2);
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k + 1);
        y[k] = tc_randn(m, &rng, 1, 0), gk[k] = tc_randn(m, &rng, 1, 0),
        dx[k] = tc_randn(m, &rng, 1, 0);
        cl_bn_apply_act(x, res, y[k], g, b, mu, is, 1, N, C, HW);
        cl_bn_backward_relu(x, y[k], dy, gk[k], dx[k], g, mu, is, 1, N, C, HW, p[k][0], p[k][1]);
        dx2[k] = tc_randn(m, &rng, 1, 0);
        cl_bn_backward_relu_x(x, dy, dx2[k], g, b, mu, is, 1, N, C, HW, p2[k][0], p2[k][1]);
    }
    omp_set_num_threads(saved);
    for (int k = 1; k < 3; k++) {
        cr_assert(same_bits(y[0], y[k], m), "y differs with %d threads", k + 1);
        cr_assert(same_bits(gk[0], gk[k], m), "g differs with %d threads", k + 1);
        cr_assert(same_bits(dx[0], dx[k], m), "dx differs with %d threads", k + 1);
        cr_assert(memcmp(p[0], p[k], sizeof p[0]) == 0, "dgamma/dbeta differ, %d threads", k + 1);
        cr_assert(same_bits(dx2[0], dx2[k], m), "relu_x dx differs with %d threads", k + 1);
        cr_assert(memcmp(p2[0], p2[k], sizeof p2[0]) == 0, "relu_x dgamma/dbeta differ");
    }
    for (int k = 0; k < 3; k++) cl_free(y[k]), cl_free(gk[k]), cl_free(dx[k]), cl_free(dx2[k]);
    cl_free(x), cl_free(res), cl_free(dy);
}

/* ---- the BasicBlock against its sub-layers run one by one ---- */

typedef struct {
    const cl_layer *u;
    float *out, *saved;
} stage;

static float *zalloc(int64_t n)
{
    float *p = cl_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1), "test buffer");
    cr_assert(p);
    memset(p, 0, sizeof(float) * (size_t)(n > 0 ? n : 1));
    return p;
}

static void sub_fwd(const stage *s, const cl_run *r, const float *P, float *B, const float *x)
{
    cl_layer_ops_table[s->u->spec.kind]->forward(s->u, r, P + s->u->param_off,
                                                 B + s->u->buf_off, x, s->out, s->saved);
}

static void sub_bwd(const stage *s, const cl_run *r, const float *P, const float *x,
                    const float *dy, float *dx, float *G)
{
    cl_layer_ops_table[s->u->spec.kind]->backward(s->u, r, P + s->u->param_off, x, s->out,
                                                  s->saved, dy, dx, G + s->u->param_off);
}

/* Forward and backward of one block through the model, against conv1, bn1,
 * relu1, conv2, bn2 [, sc_conv, sc_bn], add and ReLU run as separate
 * layers (what the block did before the fusion): the same bits for y, dx,
 * the parameter gradients and the running statistics; and the same bits
 * again on a second run. */
static void block_vs_layers(int out, int stride, cl_shape in, int n)
{
    cl_layer_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = CL_LAYER_BLOCK;
    sp.out = out;
    sp.stride = stride;
    cl_rng rng;
    cl_rng_seed(&rng, 21);
    cl_model *m;
    cr_assert(cl_model_create(&m, in, &sp, 1, &rng) == CL_OK);
    cr_assert(cl_model_alloc(m, n) == CL_OK);
    for (int64_t i = 0; i < m->nparams; i++) m->params[i] += 0.2f * (float)cl_rng_uniform(&rng);
    const cl_layer *l = &m->layers[0];
    int64_t nx = n * cl_shape_size(in), A = n * cl_shape_size(l->out), ws = 0;
    float *x = tc_randn(nx, &rng, 1, 0), *dy = tc_randn(A, &rng, 1, 0);
    float *B = copy(m->bufs, m->nbufs), *G = zalloc(m->nparams);
    stage s[7];
    for (int i = 0; i < l->nsub; i++) {
        const cl_layer *u = &l->sub[i];
        const cl_layer_ops *o = cl_layer_ops_table[u->spec.kind];
        s[i] = (stage){u, zalloc(A), zalloc(o->saved_floats(u, n))};
        if (o->ws_floats(u, n) > ws) ws = o->ws_floats(u, n);
    }
    cl_run r = {.n = n, .train = 1, .ws = zalloc(ws)};
    const float *P = m->params;
    /* the reference: separate layers */
    sub_fwd(&s[0], &r, P, B, x);
    for (int i = 1; i < 5; i++) sub_fwd(&s[i], &r, P, B, s[i - 1].out);
    const float *sc = x;
    if (l->nsub > 5) {
        sub_fwd(&s[5], &r, P, B, x);
        sub_fwd(&s[6], &r, P, B, s[5].out);
        sc = s[6].out;
    }
    float *yref = zalloc(A), *g = zalloc(A), *g1 = zalloc(A), *g2 = zalloc(A),
          *gx = zalloc(nx), *dxref = zalloc(nx);
    for (int64_t i = 0; i < A; i++) {
        float v = s[4].out[i] + sc[i];
        yref[i] = v < 0.0f ? 0.0f : v;
    }
    cl_relu_backward(yref, dy, g, A);
    sub_bwd(&s[4], &r, P, s[3].out, g, g1, G);
    sub_bwd(&s[3], &r, P, s[2].out, g1, g2, G);
    sub_bwd(&s[2], &r, P, s[1].out, g2, g2, G);
    sub_bwd(&s[1], &r, P, s[0].out, g2, g1, G);
    sub_bwd(&s[0], &r, P, x, g1, dxref, G);
    const float *gs = g;
    if (l->nsub > 5) {
        sub_bwd(&s[6], &r, P, s[5].out, g, g2, G);
        sub_bwd(&s[5], &r, P, x, g2, gx, G);
        gs = gx;
    }
    for (int64_t i = 0; i < nx; i++) dxref[i] += gs[i];
    /* the block, twice from the same state */
    float *bufs0 = copy(m->bufs, m->nbufs), *dx = zalloc(nx), *y1 = zalloc(A);
    for (int rep = 0; rep < 2; rep++) {
        memcpy(m->bufs, bufs0, sizeof(float) * (size_t)m->nbufs);
        cl_model_zero_grad(m);
        const float *y = cl_model_forward(m, x, n, 1);
        cl_layer_ops_table[CL_LAYER_BLOCK]->backward(l, &(cl_run){.n = n, .train = 1, .ws = m->ws}, m->params, x,
                                                    y, m->saved, dy, dx, m->grads);
        cr_assert(same_bits(y, yref, A), "block y differs from the separate layers (rep %d)", rep);
        cr_assert(same_bits(dx, dxref, nx), "block dx differs (rep %d)", rep);
        cr_assert(same_bits(m->grads, G, m->nparams), "block param grads differ (rep %d)", rep);
        cr_assert(same_bits(m->bufs, B, m->nbufs), "block running stats differ (rep %d)", rep);
        if (rep == 0) memcpy(y1, y, sizeof(float) * (size_t)A);
        else cr_assert(same_bits(y, y1, A), "second run differs");
    }
    for (int i = 0; i < l->nsub; i++) cl_free(s[i].out), cl_free(s[i].saved);
    cl_free(x), cl_free(dy), cl_free(B), cl_free(G), cl_free(r.ws), cl_free(yref), cl_free(g);
    cl_free(g1), cl_free(g2), cl_free(gx), cl_free(dxref), cl_free(bufs0), cl_free(dx);
    cl_free(y1);
    cl_model_destroy(m);
}

Test(bn_fused, block_identity_same_bits_as_separate_layers)
{
    block_vs_layers(4, 1, (cl_shape){4, 9, 9}, 3);
    block_vs_layers(8, 1, (cl_shape){8, 16, 16}, 16); /* past the OpenMP threshold */
}

Test(bn_fused, block_projection_same_bits_as_separate_layers)
{
    block_vs_layers(6, 2, (cl_shape){3, 9, 9}, 3);
    block_vs_layers(5, 1, (cl_shape){3, 6, 6}, 2);
}
