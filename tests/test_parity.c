/* PyTorch parity: compares layers, losses and three SGD steps of a tiny
 * ResNet with fixtures written by tools/make_fixtures.py (torch 1.13, float64
 * reference math on float32 inputs). The suite itself never needs torch.
 *
 * Error measure: normwise relative error in the max norm,
 *     rel(a, b) = max_i |a_i - b_i| / max(max_i |b_i|, 1e-6)
 * with b the torch reference; every comparison must be <= 1e-4. Normwise
 * (not elementwise) because entries that are tiny by cancellation (BN input
 * gradients, near-zero gradients) have no meaningful elementwise relative
 * error in float32. Fixture layouts: see tools/make_fixtures.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/npy.h"
#include "collapse/optim.h"

#define TOL 1e-4

typedef struct {
    float *d;
    int64_t n;
    int ndim;
    int64_t shape[8];
} arr;

static arr load(const char *c, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "fixtures/torch/%s/%s.npy", c, name);
    arr a = {0};
    cl_status st = cl_npy_read_f32(path, &a.d, &a.ndim, a.shape);
    cr_assert_eq(st, CL_OK, "%s: %s", path, cl_errmsg());
    a.n = 1;
    for (int i = 0; i < a.ndim; i++) a.n *= a.shape[i];
    return a;
}

static int32_t *load_i32(const char *c, const char *name, int64_t *n)
{
    char path[256];
    snprintf(path, sizeof path, "fixtures/torch/%s/%s.npy", c, name);
    int32_t *d = NULL;
    int nd;
    int64_t sh[8];
    cl_status st = cl_npy_read_i32(path, &d, &nd, sh);
    cr_assert_eq(st, CL_OK, "%s: %s", path, cl_errmsg());
    *n = 1;
    for (int i = 0; i < nd; i++) *n *= sh[i];
    return d;
}

static double rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d; /* also catches NaN */
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / fmax(den, 1e-6);
}

static void expect_close(const char *what, const char *c, const float *got, const arr *want,
                         int64_t n)
{
    cr_assert_eq(n, want->n, "%s/%s: %lld values, fixture has %lld", c, what, (long long)n,
                 (long long)want->n);
    double e = rel_err(got, want->d, n);
    cr_assert(e <= TOL, "%s/%s: relative error %.3g > %g", c, what, e, TOL);
}

/* ---- losses ---- */

static void loss_case(const char *c, cl_loss_kind kind, double param)
{
    arr z = load(c, "logits"), L = load(c, "loss"), dz = load(c, "dlogits");
    int64_t ny;
    int32_t *y = load_i32(c, "labels", &ny);
    int n = (int)z.shape[0], k = (int)z.shape[1];
    cr_assert_eq(ny, n);
    cl_loss_cfg cfg = {kind, param};
    float *d = cl_alloc_array((size_t)z.n, sizeof(float), "dlogits");
    double loss;
    cr_assert_eq(cl_loss_compute(&cfg, z.d, y, n, k, &loss, d, NULL), CL_OK, "%s", cl_errmsg());
    float lf = (float)loss;
    expect_close("loss", c, &lf, &L, 1);
    expect_close("dlogits", c, d, &dz, z.n);
    cl_free(d);
    cl_free(z.d);
    cl_free(L.d);
    cl_free(dz.d);
    cl_free(y);
}

Test(parity, loss_ce) { loss_case("loss_ce", CL_LOSS_CE, 0); }
Test(parity, loss_mse_scale2) { loss_case("loss_mse", CL_LOSS_MSE, 2.0); }
Test(parity, loss_label_smoothing) { loss_case("loss_ls", CL_LOSS_LS, 0.1); }
Test(parity, loss_focal) { loss_case("loss_focal", CL_LOSS_FOCAL, 2.0); }

/* ---- optimizers on a flat vector with two groups ---- */

static void optim_case(const char *c, cl_optim_cfg oc)
{
    const cl_param_range R[2] = {{.off = 0, .len = 40, .group = 0},
                                 {.off = 40, .len = 10, .group = 1}};
    oc.wd[0] = 5e-4;
    oc.wd[1] = 1e-2;
    arr p = load(c, "params0"), lr = load(c, "lr");
    cr_assert_eq(p.n, 50);
    cl_optim *o = NULL;
    cr_assert_eq(cl_optim_create(&o, &oc, 50, R, 2), CL_OK, "%s", cl_errmsg());
    for (int st = 0; st < 3; st++) {
        char ng[16], np[16];
        snprintf(ng, sizeof ng, "g%d", st);
        snprintf(np, sizeof np, "params%d", st + 1);
        arr g = load(c, ng), want = load(c, np);
        cl_optim_step(o, p.d, g.d, lr.d[st]);
        expect_close(np, c, p.d, &want, 50);
        cl_free(g.d);
        cl_free(want.d);
    }
    cl_optim_destroy(o);
    cl_free(p.d);
    cl_free(lr.d);
}

Test(parity, optim_sgd) { optim_case("optim_sgd", cl_optim_cfg_default(CL_OPTIM_SGD)); }
Test(parity, optim_sgd_nesterov)
{
    cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
    c.nesterov = 1;
    optim_case("optim_sgd_nesterov", c);
}
Test(parity, optim_adam) { optim_case("optim_adam", cl_optim_cfg_default(CL_OPTIM_ADAM)); }
Test(parity, optim_adamw) { optim_case("optim_adamw", cl_optim_cfg_default(CL_OPTIM_ADAMW)); }

/* ---- single layers: run the layer's ops directly to get dx too ---- */

static cl_layer_spec spec(cl_layer_kind kind)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    return s;
}

static void layer_case(const char *c, cl_layer_spec s, int train)
{
    arr x = load(c, "x"), p = load(c, "params"), b = load(c, "bufs"), y = load(c, "y"),
        dy = load(c, "dy"), dx = load(c, "dx"), dp = load(c, "dparams"),
        b1 = load(c, "bufs_after");
    int n = (int)x.shape[0];
    cl_shape in = {(int)x.shape[1], x.ndim > 2 ? (int)x.shape[2] : 1,
                   x.ndim > 3 ? (int)x.shape[3] : 1};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m = NULL;
    cr_assert_eq(cl_model_create(&m, in, &s, 1, &rng), CL_OK, "%s: %s", c, cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, n), CL_OK, "%s", cl_errmsg());
    cl_layer *l = &m->layers[0];
    const cl_layer_ops *ops = cl_layer_ops_table[l->spec.kind];
    cr_assert_eq(l->nparams, p.n, "%s: %lld params, fixture %lld", c, (long long)l->nparams,
                 (long long)p.n);
    cr_assert_eq(l->nbufs, b.n, "%s: %lld bufs, fixture %lld", c, (long long)l->nbufs,
                 (long long)b.n);
    cr_assert_eq(cl_shape_size(l->out) * n, y.n, "%s: output size", c);
    if (p.n) memcpy(m->params + l->param_off, p.d, (size_t)p.n * sizeof(float));
    if (b.n) memcpy(m->bufs + l->buf_off, b.d, (size_t)b.n * sizeof(float));
    cl_model_zero_grad(m);
    cl_run run = {.n = n, .train = train, .ws = m->ws};
    float *out = m->acts[0], *saved = m->saved + l->saved_off;
    float *gx = cl_alloc_array((size_t)x.n, sizeof(float), "dx");
    ops->forward(l, &run, m->params + l->param_off, m->bufs + l->buf_off, x.d, out, saved);
    expect_close("y", c, out, &y, y.n);
    expect_close("bufs_after", c, m->bufs + l->buf_off, &b1, l->nbufs);
    ops->backward(l, &run, m->params + l->param_off, x.d, out, saved, dy.d, gx,
                  m->grads + l->param_off);
    expect_close("dx", c, gx, &dx, x.n);
    if (p.n) expect_close("dparams", c, m->grads + l->param_off, &dp, l->nparams);
    cl_free(gx);
    cl_model_destroy(m);
    arr *all[] = {&x, &p, &b, &y, &dy, &dx, &dp, &b1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cl_free(all[i]->d);
}

static cl_layer_spec conv(int out, int k, int stride, int pad, int bias)
{
    cl_layer_spec s = spec(CL_LAYER_CONV2D);
    s.out = out, s.k = k, s.stride = stride, s.pad = pad, s.bias = bias;
    return s;
}

static cl_layer_spec pool(cl_layer_kind kind, int k, int stride, int pad)
{
    cl_layer_spec s = spec(kind);
    s.k = k, s.stride = stride, s.pad = pad;
    return s;
}

static cl_layer_spec block(int out, int stride)
{
    cl_layer_spec s = spec(CL_LAYER_BLOCK);
    s.out = out, s.stride = stride;
    return s;
}

Test(parity, conv2d_bias) { layer_case("conv2d_bias", conv(4, 3, 2, 1, 1), 1); }
Test(parity, conv2d_nobias) { layer_case("conv2d_nobias", conv(4, 3, 2, 1, 0), 1); }
Test(parity, linear)
{
    cl_layer_spec s = spec(CL_LAYER_LINEAR);
    s.out = 4, s.bias = 1;
    layer_case("linear", s, 1);
}
Test(parity, bn2d_train) { layer_case("bn2d_train", spec(CL_LAYER_BATCHNORM), 1); }
Test(parity, bn2d_eval) { layer_case("bn2d_eval", spec(CL_LAYER_BATCHNORM), 0); }
Test(parity, bn1d_train) { layer_case("bn1d_train", spec(CL_LAYER_BATCHNORM), 1); }
Test(parity, bn1d_eval) { layer_case("bn1d_eval", spec(CL_LAYER_BATCHNORM), 0); }
Test(parity, maxpool_k3s2p1) { layer_case("maxpool_k3s2p1", pool(CL_LAYER_MAXPOOL, 3, 2, 1), 1); }
Test(parity, maxpool_k2s2) { layer_case("maxpool_k2s2", pool(CL_LAYER_MAXPOOL, 2, 2, 0), 1); }
Test(parity, avgpool_k3s2p1) { layer_case("avgpool_k3s2p1", pool(CL_LAYER_AVGPOOL, 3, 2, 1), 1); }
Test(parity, avgpool_k2s2) { layer_case("avgpool_k2s2", pool(CL_LAYER_AVGPOOL, 2, 2, 0), 1); }
Test(parity, block_identity) { layer_case("block_identity", block(4, 1), 1); }
Test(parity, block_projection) { layer_case("block_proj", block(8, 2), 1); }
/* 16 channels on 8x8 planes: the channel-blocked path of the block on
 * AVX-512 (layers/block.c), NCHW elsewhere */
Test(parity, block_identity16) { layer_case("block_identity16", block(16, 1), 1); }

/* ---- three SGD steps of the tiny ResNet ---- */

static void sgd_case(const char *c, int nesterov)
{
    cl_layer_spec s[8] = {conv(4, 3, 1, 1, 0), spec(CL_LAYER_BATCHNORM), spec(CL_LAYER_RELU),
                          block(4, 1),         block(8, 2),              spec(CL_LAYER_GAP),
                          spec(CL_LAYER_FLATTEN), spec(CL_LAYER_LINEAR)};
    s[7].out = 3, s[7].bias = 1, s[7].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m = NULL;
    cr_assert_eq(cl_model_create(&m, (cl_shape){3, 8, 8}, s, 8, &rng), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, 4), CL_OK, "%s", cl_errmsg());
    arr p0 = load(c, "params0"), b0 = load(c, "bufs0"), z0 = load(c, "logits0"),
        L = load(c, "loss");
    cr_assert_eq(m->nparams, p0.n, "%lld params, fixture %lld", (long long)m->nparams,
                 (long long)p0.n);
    cr_assert_eq(m->nbufs, b0.n, "%lld bufs, fixture %lld", (long long)m->nbufs, (long long)b0.n);
    memcpy(m->params, p0.d, (size_t)p0.n * sizeof(float));
    memcpy(m->bufs, b0.d, (size_t)b0.n * sizeof(float));
    cl_optim_cfg oc = cl_optim_cfg_default(CL_OPTIM_SGD); /* mu 0.9, wd 5e-4 */
    oc.nesterov = nesterov;
    cl_optim *o = NULL;
    cr_assert_eq(cl_optim_create(&o, &oc, m->nparams, m->ranges, m->nranges), CL_OK, "%s",
                 cl_errmsg());
    cl_loss_cfg lc = {CL_LOSS_CE, 0};
    float dz[4 * 3];
    for (int st = 0; st < 3; st++) {
        char nx[16], ny[16], np[16], nb[16];
        snprintf(nx, sizeof nx, "x%d", st);
        snprintf(ny, sizeof ny, "y%d", st);
        snprintf(np, sizeof np, "params%d", st + 1);
        snprintf(nb, sizeof nb, "bufs%d", st + 1);
        arr x = load(c, nx), pw = load(c, np), bw = load(c, nb);
        int64_t n;
        int32_t *y = load_i32(c, ny, &n);
        cr_assert_eq(n, 4);
        cl_model_zero_grad(m);
        const float *z = cl_model_forward(m, x.d, 4, 1);
        if (st == 0) expect_close("logits0", c, z, &z0, 12);
        double loss;
        cr_assert_eq(cl_loss_compute(&lc, z, y, 4, 3, &loss, dz, NULL), CL_OK);
        float lf = (float)loss;
        arr lw = {.d = &L.d[st], .n = 1};
        char what[32];
        snprintf(what, sizeof what, "loss step %d", st);
        expect_close(what, c, &lf, &lw, 1);
        cl_model_backward(m, x.d, dz, 4, 1);
        cl_optim_step(o, m->params, m->grads, 0.1);
        expect_close(np, c, m->params, &pw, m->nparams);
        expect_close(nb, c, m->bufs, &bw, m->nbufs);
        cl_free(x.d);
        cl_free(pw.d);
        cl_free(bw.d);
        cl_free(y);
    }
    cl_optim_destroy(o);
    cl_model_destroy(m);
    cl_free(p0.d);
    cl_free(b0.d);
    cl_free(z0.d);
    cl_free(L.d);
}

Test(parity, resnet_sgd_3_steps) { sgd_case("sgd", 0); }
Test(parity, resnet_sgd_nesterov_3_steps) { sgd_case("sgd_nesterov", 1); }
