/* cl_etf_nonneg_margin (src/model/etf_reach.c): which classes a fixed
 * classifier can predict from nonnegative (post-ReLU) features, against
 * closed forms and an exhaustive slow twin. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/etf.h"
#include "collapse/modelcfg.h"
#include "collapse/nn.h"
#include "collapse/rng.h"

/* Slow twin: the QP min 1/2 |h|^2 s.t. A h >= 1, h >= 0 (rows a_j = w_k -
 * w_j) by every active set T and support S: the candidate is the min-norm
 * solution of A[T,S] h_S = 1 (h_S = B^T (B B^T)^-1 1, zero off S); the
 * optimum is the feasible candidate of least norm (KKT: h* = (A^T l)_+ with l
 * on linearly independent active rows). Returns m_k = 1/|h*|, 0 if none is
 * feasible. Exponential: small K and dim only. */
static double naive_margin(const float *W, int K, int dim, int k)
{
    enum { MAXM = 6, MAXD = 8 };
    cr_assert(K - 1 <= MAXM && dim <= MAXD);
    const int m = K - 1;
    double A[MAXM][MAXD];
    for (int j = 0, r = 0; j < K; j++)
        if (j != k) {
            for (int d = 0; d < dim; d++)
                A[r][d] = (double)W[k * dim + d] - (double)W[j * dim + d];
            r++;
        }
    double best = INFINITY;
    for (int T = 1; T < 1 << m; T++)
        for (int S = 1; S < 1 << dim; S++) {
            int t[MAXM], s[MAXD], nt = 0, ns = 0;
            for (int j = 0; j < m; j++)
                if (T >> j & 1) t[nt++] = j;
            for (int d = 0; d < dim; d++)
                if (S >> d & 1) s[ns++] = d;
            if (nt > ns) continue;
            double G[MAXM][MAXM + 1]; /* [B B^T | 1], Gaussian elimination */
            for (int a = 0; a < nt; a++) {
                for (int b = 0; b < nt; b++) {
                    double v = 0;
                    for (int c = 0; c < ns; c++)
                        v += A[t[a]][s[c]] * A[t[b]][s[c]];
                    G[a][b] = v;
                }
                G[a][nt] = 1;
            }
            int ok = 1;
            for (int c = 0; c < nt && ok; c++) {
                int p = c;
                for (int r = c + 1; r < nt; r++)
                    if (fabs(G[r][c]) > fabs(G[p][c])) p = r;
                if (fabs(G[p][c]) < 1e-10) {
                    ok = 0;
                    break;
                }
                for (int q = 0; q <= nt; q++) {
                    double x = G[c][q];
                    G[c][q] = G[p][q];
                    G[p][q] = x;
                }
                for (int r = 0; r < nt; r++)
                    if (r != c) {
                        double f = G[r][c] / G[c][c];
                        for (int q = c; q <= nt; q++)
                            G[r][q] -= f * G[c][q];
                    }
            }
            if (!ok) continue;
            double h[MAXD] = {0}, nn = 0;
            for (int c = 0; c < ns; c++) {
                for (int a = 0; a < nt; a++)
                    h[s[c]] += A[t[a]][s[c]] * G[a][nt] / G[a][a];
                if (h[s[c]] < -1e-12) ok = 0;
                nn += h[s[c]] * h[s[c]];
            }
            for (int j = 0; j < m && ok; j++) {
                double v = 0;
                for (int d = 0; d < dim; d++)
                    v += A[j][d] * h[d];
                if (v < 1 - 1e-9) ok = 0;
            }
            if (ok && nn < best) best = nn;
        }
    return isinf(best) ? 0 : 1 / sqrt(best);
}

static cl_etf_margin margin(const float *W, int K, int dim, int k)
{
    cl_etf_margin r;
    cr_assert_eq(cl_etf_nonneg_margin(W, K, dim, k, 100000, 1e-6, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert(r.lo <= r.hi, "bounds in order: %g %g", r.lo, r.hi);
    return r;
}

/* Zhu et al.'s zero-padded ETF: h = e_k is the best nonnegative feature,
 * margin sqrt(K/(K-1)) for every class, at any padding. */
Test(etf_reach, padded_etf_reaches_every_class_at_the_closed_form)
{
    const int Ks[] = {2, 3, 5, 10};
    for (int a = 0; a < 4; a++)
        for (int extra = 0; extra <= 4; extra += 4) {
            int K = Ks[a], dim = K + extra;
            float W[10 * 14];
            cr_assert_eq(cl_etf_fill(W, K, dim, CL_ETF_PAD, 1), CL_OK);
            double want = sqrt((double)K / (K - 1));
            for (int k = 0; k < K; k++) {
                cl_etf_margin r = margin(W, K, dim, k);
                cr_assert(r.converged, "K=%d dim=%d class %d: %d iterations", K, dim, k,
                          r.iters);
                cr_assert(r.lo >= want * (1 - 1e-5) && r.hi <= want * (1 + 1e-5),
                          "K=%d dim=%d class %d: [%.9f, %.9f], want %.9f", K, dim, k,
                          r.lo, r.hi, want);
            }
        }
}

/* Two classes, rows -(1,1)/sqrt2 and (1,1)/sqrt2: class 0 needs h0 + h1 < 0,
 * impossible for h >= 0 (certified: hi == 0); class 1 gets 2 at h =
 * (1,1)/sqrt2. */
Test(etf_reach, an_unreachable_class_is_certified)
{
    const float r = (float)sqrt(0.5);
    const float W[4] = {-r, -r, r, r};
    cl_etf_margin m0 = margin(W, 2, 2, 0), m1 = margin(W, 2, 2, 1);
    cr_assert(m0.converged && m0.hi == 0 && m0.lo == 0, "[%g, %g]", m0.lo, m0.hi);
    cr_assert(m1.converged && fabs(m1.lo - 2) < 1e-5 && fabs(m1.hi - 2) < 1e-5,
              "[%g, %g]", m1.lo, m1.hi);
}

/* Random classifiers and rotated ETFs against the exhaustive twin. Rotated
 * d = K ETFs with some unreachable class occur among these seeds (the
 * fixed-ETF hazard with ReLU features); the twin and the solver must agree
 * on which. */
Test(etf_reach, agrees_with_the_exhaustive_twin)
{
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    int unreachable_rot = 0, cases = 0, certified = 0;
    for (int c = 0; c < 60; c++) {
        int K = 3 + c % 3, dim = c < 30 ? K + c % 4 : K;
        if (dim > 8) dim = 8;
        float W[6 * 8];
        if (c < 30)
            for (int i = 0; i < K * dim; i++)
                W[i] = (float)cl_rng_normal(&rng);
        else
            cr_assert_eq(cl_etf_fill(W, K, dim, CL_ETF_ROTATE, (uint64_t)c), CL_OK);
        for (int k = 0; k < K; k++, cases++) {
            double want = naive_margin(W, K, dim, k);
            cl_etf_margin r = margin(W, K, dim, k);
            cr_assert(r.lo <= want * (1 + 1e-9) + 1e-12 && r.hi >= want * (1 - 1e-9),
                      "case %d class %d: [%.9g, %.9g] must hold %.9g", c, k, r.lo, r.hi,
                      want);
            if (want == 0) {
                /* a certificate (hi == 0) when the solver lands in the cone
                 * {l >= 0, A^T l <= 0}; else hi -> 0 as g(l) grows */
                cr_assert(r.lo == 0 && r.hi <= 1e-3,
                          "case %d class %d: unreachable, got [%g, %g]", c, k, r.lo,
                          r.hi);
                certified += r.hi == 0;
                unreachable_rot += c >= 30;
            } else {
                cr_assert(r.converged && r.lo > 0,
                          "case %d class %d: reachable (%g), [%g, %g]", c, k, want, r.lo,
                          r.hi);
                cr_assert(fabs(r.lo - want) <= 1e-5 * want,
                          "case %d class %d: %.9g vs %.9g", c, k, r.lo, want);
            }
        }
    }
    cr_assert(unreachable_rot > 0,
              "no rotated d = K ETF with an unreachable class in %d cases", cases);
    cr_log_info(
        "%d classes: %d unreachable in rotated ETFs, %d of all unreachable certified",
        cases, unreachable_rot, certified);
}

/* The common case: a rotated ETF in a wide feature space (K = 10, d = 512)
 * leaves every class reachable; the solver settles it well within its cap. */
Test(etf_reach, wide_rotated_etf_reaches_every_class)
{
    static float W[10 * 512];
    cr_assert_eq(cl_etf_fill(W, 10, 512, CL_ETF_ROTATE, 1), CL_OK);
    for (int k = 0; k < 10; k++) {
        cl_etf_margin r;
        cr_assert_eq(cl_etf_nonneg_margin(W, 10, 512, k, 20000, 1e-3, &r), CL_OK);
        cr_assert(r.converged && r.lo > 0.5 && r.hi <= 10.0 / 9 * (1 + 1e-6),
                  "class %d: [%g, %g] after %d iterations", k, r.lo, r.hi, r.iters);
    }
}

Test(etf_reach, bad_arguments_are_errors)
{
    float W[4] = {1, 0, 0, 1};
    cl_etf_margin r;
    cr_assert_eq(cl_etf_nonneg_margin(W, 1, 2, 0, 10, 1e-3, &r), CL_EINVAL);
    cr_assert_eq(cl_etf_nonneg_margin(W, 2, 2, 2, 10, 1e-3, &r), CL_EINVAL);
    cr_assert_eq(cl_etf_nonneg_margin(W, 2, 2, -1, 10, 1e-3, &r), CL_EINVAL);
    cr_assert_eq(cl_etf_nonneg_margin(W, 2, 0, 0, 10, 1e-3, &r), CL_EINVAL);
    cr_assert_eq(cl_etf_nonneg_margin(W, 2, 2, 0, 0, 1e-3, &r), CL_EINVAL);
    cr_assert_eq(cl_etf_nonneg_margin(W, 2, 2, 0, 10, 0, &r), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "nonnegative margin"), "%s", cl_errmsg());
}

/* Which models hand the classifier nonnegative features (the named
 * architectures: tests/test_builders.c). */
Test(etf_reach, features_nonneg_follows_the_layers_before_the_classifier)
{
    static const struct {
        const char *text;
        int nonneg;
    } cases[] = {
        {"[f]\nkind = flatten\n[a]\nkind = linear\nout = 8\n[r]\nkind = relu\n"
         "[fc]\nkind = linear\n",
         1},
        {"[f]\nkind = flatten\n[a]\nkind = linear\nout = 8\n[fc]\nkind = linear\n", 0},
        {"[f]\nkind = flatten\n[a]\nkind = linear\nout = 8\n[r]\nkind = relu\n"
         "[b]\nkind = batchnorm\n[fc]\nkind = linear\n",
         0},
        {"[c]\nkind = conv2d\nout = 4\nk = 3\npad = 1\n[r]\nkind = relu\n[p]\nkind = "
         "maxpool\nk = 2\n[g]\nkind = gap\n[f]\nkind = flatten\n[fc]\nkind = linear\n",
         1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cl_modelcfg c;
        cr_assert_eq(cl_modelcfg_parse_text(cases[i].text, "x.cfg", &c), CL_OK, "%s",
                     cl_errmsg());
        cl_head_opts h = {.classes = 3, .bias = 1};
        cl_rng rng;
        cl_rng_seed(&rng, 1);
        cl_model *m;
        cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 4, 4}, &h, &rng, &m, NULL),
                     CL_OK, "case %zu: %s", i, cl_errmsg());
        cr_assert_eq(cl_model_features_nonneg(m), cases[i].nonneg, "case %zu", i);
        cl_model_destroy(m);
        cl_modelcfg_free(&c);
    }
}
