/* Ordinal collapse keys (onc.h): the NumPy reference fixtures
 * (tools/onc_reference.py), the naive twin, the key table, errors, and the
 * unconstrained-features check: with fixed thresholds and small weight
 * decay, gradient descent puts the interior class-mean latents near the
 * threshold midpoints (Ma, Obuchi & Tanaka 2025). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/npy.h"
#include "collapse/onc.h"
#include "collapse/rng.h"
#include "common.h"
#include "nc_common.h"

#define OFIX "fixtures/onc/"

/* One fixture: H [N, dim], y [N], w [dim], b [K-1]. */
typedef struct {
    int64_t N;
    int dim, K;
    float *H, *w;
    double *b;
    int32_t *y;
} ocase;

static void *load(const char *name, const char *file, int f64, int64_t *sh, int *nd)
{
    char p[256];
    snprintf(p, sizeof p, OFIX "%s/%s", name, file);
    void *d = NULL;
    cl_status st = f64 ? cl_npy_read_f64(p, (double **)&d, nd, sh)
                       : cl_npy_read_f32(p, (float **)&d, nd, sh);
    cr_assert_eq(st, CL_OK, "%s", cl_errmsg());
    return d;
}

static void load_ocase(const char *name, ocase *c)
{
    int nd;
    int64_t sh[8];
    c->H = load(name, "H.npy", 0, sh, &nd);
    c->N = sh[0];
    c->dim = (int)sh[1];
    c->w = load(name, "w.npy", 0, sh, &nd);
    c->b = load(name, "b.npy", 1, sh, &nd);
    c->K = (int)sh[0] + 1;
    char p[256];
    snprintf(p, sizeof p, OFIX "%s/y.npy", name);
    cr_assert_eq(cl_npy_read_i32(p, &c->y, &nd, sh), CL_OK, "%s", cl_errmsg());
}

static void free_ocase(ocase *c)
{
    cl_free(c->H);
    cl_free(c->w);
    cl_free(c->b);
    cl_free(c->y);
}

static void expect(const char *name, const char *which, const cl_onc_result *r, const char *how)
{
    int nd;
    int64_t sh[8];
    char f[64];
    snprintf(f, sizeof f, "expected_%s.npy", which);
    double *e = load(name, f, 1, sh, &nd);
    cr_assert_eq(sh[0], cl_onc_nkeys());
    for (int i = 0; i < cl_onc_nkeys(); i++)
        cr_expect(close_rel(cl_onc_key_value(r, i), e[i], 1e-6),
                  "%s %s (%s): %s = %.12g, reference %.12g", name, which, how,
                  cl_onc_key_name(i), cl_onc_key_value(r, i), e[i]);
    cl_free(e);
}

Test(onc, keys_match_reference_order)
{
    FILE *f = fopen(OFIX "keys.txt", "r");
    cr_assert_not_null(f);
    char line[64];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        cr_assert_lt(i, cl_onc_nkeys());
        cr_assert_str_eq(cl_onc_key_name(i), line);
        i++;
    }
    fclose(f);
    cr_assert_eq(i, cl_onc_nkeys());
}

static void reference_case(const char *name)
{
    ocase c;
    load_ocase(name, &c);
    cl_nc_opts o = cl_nc_opts_default();
    cl_onc_result r, rn;
    double *z = cl_alloc_array((size_t)c.K, sizeof(double), "z");
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K, c.w, c.b, &o, z, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(r.N, c.N);
    expect(name, "unweighted", &r, "fast");
    int nd;
    int64_t sh[8];
    double *ze = load(name, "z.npy", 1, sh, &nd);
    for (int q = 0; q < c.K; q++)
        cr_expect(close_rel(z[q], ze[q], 1e-6), "%s: z[%d] = %.12g, reference %.12g", name, q,
                  z[q], ze[q]);
    cr_assert_eq(cl_onc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.w, c.b, &o, z, &rn), CL_OK);
    expect(name, "unweighted", &rn, "naive");
    o.weighted_mean = 1;
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K, c.w, c.b, &o, NULL, &r), CL_OK);
    expect(name, "weighted", &r, "fast");
    cr_assert_eq(cl_onc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.w, c.b, &o, NULL, &rn), CL_OK);
    expect(name, "weighted", &rn, "naive");
    cl_free(ze);
    cl_free(z);
    free_ocase(&c);
}

Test(onc, reference_means_near_a_line) { reference_case("line"); }
Test(onc, reference_shuffled_order) { reference_case("shuffled"); }
Test(onc, reference_two_classes_no_interior) { reference_case("k2"); }

Test(onc, errors)
{
    ocase c;
    load_ocase("line", &c);
    cl_onc_result r;
    double b[4];
    memcpy(b, c.b, sizeof b);
    b[2] = b[1]; /* not increasing */
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K, c.w, b, NULL, NULL, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "increasing"), "%s", cl_errmsg());
    float *w0 = cl_alloc_array((size_t)c.dim, sizeof(float), "w0");
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K, w0, c.b, NULL, NULL, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "zero"), "%s", cl_errmsg());
    /* a label beyond the K = 1 + thresholds classes: the analyzer's own check */
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K - 1, c.w, c.b, NULL, NULL, &r),
                 CL_EINVAL);
    cl_free(w0);
    free_ocase(&c);
}

/* Unconstrained features: K = 5 ordered classes, 4 samples each, h in R^3,
 * w in R^3, fixed thresholds b = (-1.5, -0.5, 0.5, 1.5) (spacing 1), loss =
 * mean CLM NLL + lam/(2N) sum ||h_i||^2 + lam/2 ||w||^2, full-batch gradient
 * descent (40000 steps). For an interior class the NLL of a latent z,
 * -log(sigmoid(b_q - z) - sigmoid(b_{q-1} - z)), is minimal exactly at the
 * midpoint (b_{q-1} + b_q)/2 (symmetric link); the weight decay pulls every
 * z toward 0, so the optimum sits slightly inside, off by O(lam): the
 * midpoints are approached, not reached. Measured: max |z_q - mid_q| =
 * 4.2e-4 at lam = 1e-3 and 5.8e-3 at lam = 1e-2; tau = 1; onc2 = 1
 * to 1e-12; within/between spread 2e-16. */
typedef struct {
    double z[5], worst, loss;
    cl_onc_result r;
} ufm_out;

static void ufm(double lam, ufm_out *u)
{
    enum { K = 5, PER = 4, N = K * PER, D = 3, T = K - 1 };
    const double lr = 0.5;
    double b[T];
    float p[T];
    cl_cumlink_set_even(p, T, 1.0);
    cl_cumlink_thresholds(p, T, b);
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    double h[N][D], w[D];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int d = 0; d < D; d++) h[i][d] = 0.1 * cl_rng_normal(&rng);
    }
    for (int d = 0; d < D; d++) w[d] = cl_rng_normal(&rng);
    cl_loss_cfg clm = {CL_LOSS_CLM, 0};
    float o[N * T], g[N * T];
    for (int it = 0; it < 40000; it++) {
        double dz[N];
        for (int i = 0; i < N; i++) {
            double z = 0;
            for (int d = 0; d < D; d++) z += w[d] * h[i][d];
            for (int q = 0; q < T; q++) o[i * T + q] = (float)(b[q] - z);
        }
        cr_assert_eq(cl_loss_compute(&clm, o, y, N, T, &u->loss, g, NULL), CL_OK);
        for (int i = 0; i < N; i++) {
            dz[i] = 0; /* o_q = b_q - z: dL/dz = -sum_q dL/do_q */
            for (int q = 0; q < T; q++) dz[i] -= g[i * T + q];
        }
        double gw[D] = {0};
        for (int i = 0; i < N; i++)
            for (int d = 0; d < D; d++) gw[d] += dz[i] * h[i][d];
        for (int i = 0; i < N; i++) /* step N * lr on h: the per-sample terms carry 1/N */
            for (int d = 0; d < D; d++) h[i][d] -= lr * N * (dz[i] * w[d] + lam / N * h[i][d]);
        for (int d = 0; d < D; d++) w[d] -= lr * (gw[d] + lam * w[d]);
    }
    /* the means lie on a line here (rank-1 Sb): cl_nc_analyze would call
     * that degenerate, so the keys come from the class means, and onc1's
     * within/between spread is measured directly */
    double mu[K * D] = {0}, spread = 0, between = 0;
    int64_t cnt[K] = {0};
    for (int i = 0; i < N; i++) {
        cnt[y[i]]++;
        for (int d = 0; d < D; d++) mu[y[i] * D + d] += h[i][d] / PER;
    }
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) spread += pow(h[i][d] - mu[y[i] * D + d], 2);
    for (int q = 0; q < K; q++)
        for (int d = 0; d < D; d++) between += mu[q * D + d] * mu[q * D + d];
    float wf[D];
    for (int d = 0; d < D; d++) wf[d] = (float)w[d];
    cr_assert_eq(cl_onc_from_means(mu, cnt, K, D, wf, b, NULL, spread / between, u->z, &u->r),
                 CL_OK, "%s", cl_errmsg());
    u->worst = 0;
    for (int q = 1; q < K - 1; q++)
        u->worst = fmax(u->worst, fabs(u->z[q] - 0.5 * (b[q - 1] + b[q])));
    cr_log_info("UFM lam %g: loss %.6g  z = %.5f %.5f %.5f %.5f %.5f  max |z_q - mid| %.3g  "
                "spread/between %.3g onc2 %.12f tau %g mid %.3g",
                lam, u->loss, u->z[0], u->z[1], u->z[2], u->z[3], u->z[4], u->worst, u->r.onc1,
                u->r.onc2, u->r.onc3_tau, u->r.onc3_mid);
    cr_assert_eq(u->r.onc3_tau, 1.0, "class-mean latents in order");
    cr_assert(u->r.onc2 > 1 - 1e-6, "class means along w: onc2 = %.9f", u->r.onc2);
    cr_assert(u->r.onc1 < 1e-6, "features collapsed: within/between = %.3g", u->r.onc1);
    cr_assert(u->z[0] < b[0] && u->z[K - 1] > b[T - 1], "outer classes beyond the end thresholds");
    for (int q = 1; q < K - 1; q++) /* pulled toward 0, never past the midpoint */
        cr_assert(fabs(u->z[q]) <= fabs(0.5 * (b[q - 1] + b[q])) + 1e-6, "z[%d] outside", q);
}

Test(onc, ufm_interior_latents_approach_midpoints, .timeout = TC_TIMEOUT)
{
    ufm_out small, big;
    ufm(1e-3, &small);
    ufm(1e-2, &big);
    cr_assert(small.worst < 1e-3, "lam 1e-3: interior latents %.3g from the midpoints",
              small.worst);
    /* the offset is the regularisation's: it shrinks with lam */
    cr_assert(big.worst > 4 * small.worst && big.worst < 5e-2,
              "offsets %.3g (lam 1e-2) vs %.3g (lam 1e-3)", big.worst, small.worst);
}

/* Exactly collinear class means (the analyzer's fixture nc/collinear: K = 5,
 * rank 1): onc1 is the trace quotient (NumPy's nc1_quotient of that
 * fixture, 1e-7), not a refusal; fast == naive on every onc key. */
Test(onc, collinear_means_give_onc1, .timeout = TC_TIMEOUT)
{
    ncase c;
    load_case("collinear", &c);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "collinear/expected_noW.npy", &e, &nd, sh), CL_OK);
    const double b[4] = {-1.5, -0.5, 0.5, 1.5};
    cl_onc_result r, n;
    double z[5];
    cr_assert_eq(cl_onc_analyze(c.H, c.N, c.dim, c.y, c.K, c.W, b, NULL, z, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_onc_analyze_naive(c.H, c.N, c.dim, c.y, c.K, c.W, b, NULL, NULL, &n), CL_OK,
                 "%s", cl_errmsg());
    cr_expect(close_rel(r.onc1, e[2], 1e-7), "onc1 %.12g, nc1_quotient %.12g", r.onc1, e[2]);
    cr_expect(isfinite(r.onc2) && isfinite(r.onc3_tau) && isfinite(r.onc3_mid));
    for (int i = 0; i < cl_onc_nkeys(); i++)
        cr_expect(close_rel(cl_onc_key_value(&r, i), cl_onc_key_value(&n, i), 1e-9), "%s",
                  cl_onc_key_name(i));
    cl_free(e);
    free_case(&c);
}
