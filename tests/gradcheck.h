/* Finite-difference gradient checks for Criterion tests (header-only).
 *
 * The scalar loss is L = sum_i y_i * R_i with a fixed random R ~ N(0,1), so
 * dL/dy = R: backward is run with dy = R and its dx / dparams are compared
 * with central differences
 *     g_i ~ (L(v_i + h) - L(v_i - h)) / ((v_i + h) - (v_i - h))
 * where the denominator uses the float values actually stored (v_i +- h is
 * rounded to float). L is summed in double over the float32 outputs.
 *
 * Error measure (per tensor: dx, and dparams as one vector):
 *     err = ||g_analytic - g_fd||_2 / max(||g_fd||_2, 1e-12)
 * over the checked coordinates (all, or an evenly spread random subset).
 *
 * TOLERANCE (GC_TOL = 1e-2), why: the forward runs in float32. Each y_j has
 * a rounding error of about u*|y_j| (u = 6e-8), so L carries an absolute
 * error of roughly u*sqrt(m) (m outputs, |y|,|R| ~ 1), and the difference
 * quotient adds u*sqrt(m)/(2h): with h = 1e-2 and m ~ 500 that is ~1e-4 per
 * coordinate. The truncation error of central differences is h^2/6 * L''',
 * 0 for layers linear in the checked variable (linear, the weights of
 * conv), ~1e-5 relative for BN with unit-scale inputs. So correct layers
 * land around 1e-5..1e-3 (measured at h = 1e-2: linear 6e-6, BN 1d/2d
 * train 2e-5..3e-5, BN eval 5e-6; at h = 1e-3 BN rises to 2e-4, rounding
 * dominating); GC_TOL leaves a margin for problems of a few
 * thousand outputs, while real bugs (a missing term, a wrong sum) give
 * errors of order 1/N or 1. Keep the problems small and well conditioned:
 * inputs ~ N(0,1), a handful of samples and channels, h around 1e-2..1e-3
 * (smaller h trades truncation for rounding error). Piecewise-linear layers
 * (ReLU, max pool) have kinks: use kink_margin so no input lies within h of
 * one (inputs with |x| < margin are moved to +-margin), or for max pool pick
 * inputs without near-ties.
 *
 * Contract checks done on the way (reported as flags, not errors):
 *   dx_overwritten  dx was filled with NaN before backward: every entry
 *                   must be written (dx = ..., not dx += ...);
 *   dp_accumulated  dparams was pre-filled with 0.25: backward must add
 *                   (dp += ...), so the check subtracts 0.25 afterwards;
 *   ws and saved are filled with NaN before forward and ws again before
 *   backward, so a layer reading scratch it did not write shows up as NaN.
 * BN running statistics (bufs) are restored before every forward, so train
 * mode updates do not leak between the finite-difference evaluations.
 *
 * Usage:
 *   gc_opts o = gc_opts_default(4);           // batch 4, train mode
 *   gc_result r;
 *   cr_assert_eq(gc_layer(&spec, (cl_shape){3, 5, 5}, &o, &r), CL_OK, "%s", cl_errmsg());
 *   gc_assert(&r, "bn2d");                    // err_dx, err_dp <= GC_TOL, flags ok
 */
#ifndef COLLAPSE_TESTS_GRADCHECK_H
#define COLLAPSE_TESTS_GRADCHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"

#define GC_TOL 1e-2

typedef struct {
    int n;              /* batch size */
    int train;          /* cl_run.train */
    double h;           /* finite-difference step (0 = 1e-2) */
    int max_coords;     /* check at most this many coordinates of x and of
                           the params each (0 = all) */
    float kink_margin;  /* random inputs with |x| < margin become +-margin */
    float param_jitter; /* params += jitter * N(0,1) after init (e.g. so BN
                           gamma/beta are not 1/0) */
    float buf_jitter;   /* bufs += jitter * |N(0,1)| after init (keeps BN
                           running var positive) */
    const float *x;     /* input [n, in] to use; NULL = N(0,1) from seed */
    uint64_t seed;
} gc_opts;

typedef struct {
    double err_dx, err_dp; /* normwise relative errors (0 if nothing checked) */
    int64_t nx, np;        /* coordinates checked */
    int64_t worst_x, worst_p; /* coordinate with the largest abs difference */
    double ana_x, fd_x, ana_p, fd_p; /* analytic / numeric values there */
    int dx_overwritten;    /* 1 = every dx entry was written */
    int dp_accumulated;    /* 1 = dp was added to, not overwritten (see above) */
    int finite;            /* 1 = forward output had no NaN/Inf */
} gc_result;

static inline gc_opts gc_opts_default(int n)
{
    gc_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.train = 1;
    o.h = 1e-2;
    o.seed = 1234;
    return o;
}

static inline void gc_fill_nan(float *a, int64_t n)
{
    for (int64_t i = 0; i < n; i++) a[i] = NAN;
}

static inline double gc_dot(const float *y, const float *R, int64_t m)
{
    double s = 0;
    for (int64_t i = 0; i < m; i++) s += (double)y[i] * (double)R[i];
    return s;
}

/* Coordinates to check: all of [0, total) or `max` spread evenly, one random
 * pick per stride (no duplicates). idx must hold min(total, max) entries. */
static inline int64_t gc_pick(int64_t total, int max, cl_rng *rng, int64_t *idx)
{
    if (max <= 0 || total <= max) {
        for (int64_t i = 0; i < total; i++) idx[i] = i;
        return total;
    }
    for (int k = 0; k < max; k++) {
        int64_t lo = total * k / max, hi = total * (k + 1) / max;
        idx[k] = lo + (int64_t)cl_rng_below(rng, (uint64_t)(hi - lo));
    }
    return max;
}

/* Compares analytic g (full vector, indexed by idx) with numeric fd[k]. */
static inline double gc_compare(const float *g, const int64_t *idx, const double *fd, int64_t k,
                                int64_t *worst, double *ana, double *num)
{
    double dn = 0, fn = 0, wd = -1;
    for (int64_t j = 0; j < k; j++) {
        double a = g[idx[j]], d = a - fd[j];
        dn += d * d;
        fn += fd[j] * fd[j];
        if (!(fabs(d) <= wd)) {
            wd = isnan(d) ? INFINITY : fabs(d);
            *worst = idx[j];
            *ana = a;
            *num = fd[j];
        }
    }
    if (k == 0) return 0;
    double e = sqrt(dn) / fmax(sqrt(fn), 1e-12);
    return isnan(e) ? INFINITY : e;
}

/* Central difference of L with respect to v[i]; fwd(ctx) recomputes L. */
typedef double (*gc_eval_fn)(void *ctx);

static inline double gc_central(float *v, int64_t i, double h, gc_eval_fn f, void *ctx)
{
    float v0 = v[i], vp = (float)(v0 + h), vm = (float)(v0 - h);
    v[i] = vp;
    double lp = f(ctx);
    v[i] = vm;
    double lm = f(ctx);
    v[i] = v0;
    return (lp - lm) / ((double)vp - (double)vm);
}

/* ---- single layer through the ops table ---- */

typedef struct {
    const cl_layer_ops *ops;
    const cl_layer *l;
    cl_run r;
    float *p, *b, *b0, *x, *y, *saved, *R;
    int64_t nb, ny, nsaved, nws;
} gc_layer_ctx;

static inline double gc_layer_eval(void *vc)
{
    gc_layer_ctx *c = vc;
    if (c->nb) memcpy(c->b, c->b0, (size_t)c->nb * sizeof(float));
    gc_fill_nan(c->r.ws, c->nws);
    gc_fill_nan(c->saved, c->nsaved);
    c->ops->forward(c->l, &c->r, c->p, c->b, c->x, c->y, c->saved);
    return gc_dot(c->y, c->R, c->ny);
}

/* Builds the layer (infer + init from seed), runs forward/backward once and
 * compares dx and dparams with central differences. Returns CL_EINVAL if
 * infer rejects the spec (message from the layer), CL_ENOMEM. */
static inline cl_status gc_layer(const cl_layer_spec *spec, cl_shape in, const gc_opts *o,
                                 gc_result *res)
{
    memset(res, 0, sizeof *res);
    cl_layer l;
    memset(&l, 0, sizeof l);
    l.spec = *spec;
    const cl_layer_ops *ops = cl_layer_ops_table[spec->kind];
    CL_ASSERT(ops && o->n > 0);
    l.in = in;
    cl_status st = ops->infer(&l, in);
    if (st != CL_OK) return st;

    cl_rng rng;
    cl_rng_seed(&rng, o->seed);
    int n = o->n;
    double h = o->h > 0 ? o->h : 1e-2;
    int64_t nx = (int64_t)n * cl_shape_size(in), ny = (int64_t)n * cl_shape_size(l.out);
    gc_layer_ctx c = {.ops = ops, .l = &l, .nb = l.nbufs, .ny = ny,
                      .nsaved = ops->saved_floats(&l, n), .nws = ops->ws_floats(&l, n)};
    c.r.n = n;
    c.r.train = o->train;
    int64_t kmax = nx > l.nparams ? nx : l.nparams;
    float *dx = NULL, *dp = NULL;
    double *fd = NULL;
    int64_t *idx = NULL;
    st = CL_ENOMEM;
    c.p = cl_alloc_array((size_t)l.nparams + 1, sizeof(float), "gc params");
    c.b = cl_alloc_array((size_t)l.nbufs + 1, sizeof(float), "gc bufs");
    c.b0 = cl_alloc_array((size_t)l.nbufs + 1, sizeof(float), "gc bufs0");
    c.x = cl_alloc_array((size_t)nx, sizeof(float), "gc x");
    c.y = cl_alloc_array((size_t)ny, sizeof(float), "gc y");
    c.R = cl_alloc_array((size_t)ny, sizeof(float), "gc R");
    c.saved = cl_alloc_array((size_t)c.nsaved + 1, sizeof(float), "gc saved");
    c.r.ws = cl_alloc_array((size_t)c.nws + 1, sizeof(float), "gc ws");
    dx = cl_alloc_array((size_t)nx, sizeof(float), "gc dx");
    dp = cl_alloc_array((size_t)l.nparams + 1, sizeof(float), "gc dp");
    fd = cl_alloc_array((size_t)kmax + 1, sizeof(double), "gc fd");
    idx = cl_alloc_array((size_t)kmax + 1, sizeof(int64_t), "gc idx");
    if (!c.p || !c.b || !c.b0 || !c.x || !c.y || !c.R || !c.saved || !c.r.ws || !dx || !dp ||
        !fd || !idx)
        goto done;

    ops->init(&l, c.p, c.b0, &rng);
    for (int64_t i = 0; i < l.nparams; i++)
        c.p[i] += (float)(o->param_jitter * cl_rng_normal(&rng));
    for (int64_t i = 0; i < l.nbufs; i++)
        c.b0[i] += (float)(o->buf_jitter * fabs(cl_rng_normal(&rng)));
    for (int64_t i = 0; i < nx; i++) {
        float v = o->x ? o->x[i] : (float)cl_rng_normal(&rng);
        if (fabsf(v) < o->kink_margin) v = v < 0 ? -o->kink_margin : o->kink_margin;
        c.x[i] = v;
    }
    for (int64_t i = 0; i < ny; i++) c.R[i] = (float)cl_rng_normal(&rng);

    /* analytic */
    gc_layer_eval(&c);
    res->finite = 1;
    for (int64_t i = 0; i < ny; i++)
        if (!isfinite(c.y[i])) res->finite = 0;
    gc_fill_nan(dx, nx);
    for (int64_t i = 0; i < l.nparams; i++) dp[i] = 0.25f;
    gc_fill_nan(c.r.ws, c.nws);
    ops->backward(&l, &c.r, c.p, c.x, c.y, c.saved, c.R, dx, dp);
    res->dx_overwritten = 1;
    for (int64_t i = 0; i < nx; i++)
        if (isnan(dx[i])) res->dx_overwritten = 0;
    for (int64_t i = 0; i < l.nparams; i++) dp[i] -= 0.25f;
    /* an overwriting backward leaves these entries at -0.25 after the
     * subtraction: flagged below wherever the numeric gradient is not ~0 */
    res->dp_accumulated = 1;

    /* numeric, dx */
    res->nx = gc_pick(nx, o->max_coords, &rng, idx);
    for (int64_t j = 0; j < res->nx; j++) fd[j] = gc_central(c.x, idx[j], h, gc_layer_eval, &c);
    res->err_dx = gc_compare(dx, idx, fd, res->nx, &res->worst_x, &res->ana_x, &res->fd_x);

    /* numeric, dparams */
    res->np = gc_pick(l.nparams, o->max_coords, &rng, idx);
    for (int64_t j = 0; j < res->np; j++) {
        fd[j] = gc_central(c.p, idx[j], h, gc_layer_eval, &c);
        if (dp[idx[j]] == -0.25f && fabs(fd[j]) > 1e-3) res->dp_accumulated = 0;
    }
    res->err_dp = gc_compare(dp, idx, fd, res->np, &res->worst_p, &res->ana_p, &res->fd_p);
    st = CL_OK;

done:
    if (ops->destroy) ops->destroy(&l);
    cl_free(c.p);
    cl_free(c.b);
    cl_free(c.b0);
    cl_free(c.x);
    cl_free(c.y);
    cl_free(c.R);
    cl_free(c.saved);
    cl_free(c.r.ws);
    cl_free(dx);
    cl_free(dp);
    cl_free(fd);
    cl_free(idx);
    return st;
}

/* ---- whole model through cl_model_forward/backward (dparams only) ---- */

typedef struct {
    cl_model *m;
    const float *x;
    const float *R;
    float *b0;
    int n, train;
    int64_t ny;
} gc_model_ctx;

static inline double gc_model_eval(void *vc)
{
    gc_model_ctx *c = vc;
    if (c->m->nbufs) memcpy(c->m->bufs, c->b0, (size_t)c->m->nbufs * sizeof(float));
    const float *y = cl_model_forward(c->m, c->x, c->n, c->train);
    return gc_dot(y, c->R, c->ny);
}

/* Builds the model (cl_model_create + cl_model_alloc(n)), and checks
 * m->grads after cl_model_backward(dlogits = R) against central differences
 * over the params. err_dx/nx stay 0 (the model API has no input gradient);
 * dp_accumulated checks grads pre-filled with 0.25 the same way. */
static inline cl_status gc_model(const cl_layer_spec *specs, int nspecs, cl_shape in,
                                 const gc_opts *o, gc_result *res)
{
    memset(res, 0, sizeof *res);
    cl_rng rng;
    cl_rng_seed(&rng, o->seed);
    cl_model *m = NULL;
    cl_status st = cl_model_create(&m, in, specs, nspecs, &rng);
    if (st != CL_OK) return st;
    if ((st = cl_model_alloc(m, o->n)) != CL_OK) goto fail0;
    int n = o->n;
    double h = o->h > 0 ? o->h : 1e-2;
    cl_shape out = m->layers[m->nlayers - 1].out;
    int64_t nx = (int64_t)n * cl_shape_size(in), ny = (int64_t)n * cl_shape_size(out);
    float *x = cl_alloc_array((size_t)nx, sizeof(float), "gc x");
    float *R = cl_alloc_array((size_t)ny, sizeof(float), "gc R");
    float *b0 = cl_alloc_array((size_t)m->nbufs + 1, sizeof(float), "gc bufs0");
    double *fd = cl_alloc_array((size_t)m->nparams + 1, sizeof(double), "gc fd");
    int64_t *idx = cl_alloc_array((size_t)m->nparams + 1, sizeof(int64_t), "gc idx");
    st = CL_ENOMEM;
    if (!x || !R || !b0 || !fd || !idx) goto fail;

    for (int64_t i = 0; i < m->nparams; i++)
        m->params[i] += (float)(o->param_jitter * cl_rng_normal(&rng));
    for (int64_t i = 0; i < m->nbufs; i++)
        m->bufs[i] += (float)(o->buf_jitter * fabs(cl_rng_normal(&rng)));
    if (m->nbufs) memcpy(b0, m->bufs, (size_t)m->nbufs * sizeof(float));
    for (int64_t i = 0; i < nx; i++) {
        float v = o->x ? o->x[i] : (float)cl_rng_normal(&rng);
        if (fabsf(v) < o->kink_margin) v = v < 0 ? -o->kink_margin : o->kink_margin;
        x[i] = v;
    }
    for (int64_t i = 0; i < ny; i++) R[i] = (float)cl_rng_normal(&rng);

    gc_model_ctx c = {.m = m, .x = x, .R = R, .b0 = b0, .n = n, .train = o->train, .ny = ny};
    gc_model_eval(&c);
    const float *y = m->acts[m->nlayers - 1];
    res->finite = 1;
    for (int64_t i = 0; i < ny; i++)
        if (!isfinite(y[i])) res->finite = 0;
    for (int64_t i = 0; i < m->nparams; i++) m->grads[i] = 0.25f;
    cl_model_backward(m, x, R, n, o->train);
    for (int64_t i = 0; i < m->nparams; i++) m->grads[i] -= 0.25f;
    res->dx_overwritten = 1;
    res->dp_accumulated = 1;

    res->np = gc_pick(m->nparams, o->max_coords, &rng, idx);
    for (int64_t j = 0; j < res->np; j++) {
        fd[j] = gc_central(m->params, idx[j], h, gc_model_eval, &c);
        if (m->grads[idx[j]] == -0.25f && fabs(fd[j]) > 1e-3) res->dp_accumulated = 0;
    }
    res->err_dp = gc_compare(m->grads, idx, fd, res->np, &res->worst_p, &res->ana_p, &res->fd_p);
    st = CL_OK;
fail:
    cl_free(x);
    cl_free(R);
    cl_free(b0);
    cl_free(fd);
    cl_free(idx);
fail0:
    cl_model_destroy(m);
    return st;
}

/* Asserts both errors <= tol and the contract flags, with a message naming
 * `what` and the worst coordinate. */
static inline void gc_assert_tol(const gc_result *r, const char *what, double tol)
{
    cr_assert(r->finite, "%s: forward produced NaN/Inf", what);
    cr_assert(r->dx_overwritten, "%s: backward left dx entries unwritten (dx must be overwritten)",
              what);
    cr_assert(r->dp_accumulated, "%s: backward overwrote dparams (must accumulate, dp +=)", what);
    cr_assert(r->err_dx <= tol, "%s: dx relative error %.3g > %g (x[%lld]: analytic %.6g, numeric %.6g)",
              what, r->err_dx, tol, (long long)r->worst_x, r->ana_x, r->fd_x);
    cr_assert(r->err_dp <= tol,
              "%s: dparams relative error %.3g > %g (p[%lld]: analytic %.6g, numeric %.6g)", what,
              r->err_dp, tol, (long long)r->worst_p, r->ana_p, r->fd_p);
}

static inline void gc_assert(const gc_result *r, const char *what)
{
    gc_assert_tol(r, what, GC_TOL);
}

#endif
