/* Which classes a fixed classifier can predict from nonnegative features.
 *
 * Features after a ReLU (or a pooling of one) lie in the orthant h >= 0. A
 * classifier without bias predicts class k at h iff w_k.h > w_j.h for every
 * j != k, so class k can be predicted at all iff the open cone of class k
 * meets the orthant. The zero-padded simplex ETF of Zhu et al. 2021 (their
 * code: W = sqrt(K/(K-1)) (I - 11^T/K), padded with zero columns) always
 * does: h = e_k. A rotated one (Yang et al. 2022) with d = K need not: a
 * class whose cone misses the orthant is never predicted, whatever the
 * network learns (issue 14, results/README.md, etf_fashion).
 *
 * The quantity: the nonnegative margin of class k,
 *   m_k = max { min_{j != k} (w_k - w_j).h : h >= 0, |h|_2 <= 1 },
 * > 0 iff class k is reachable (an unconstrained h gets K/(K-1) for a simplex
 * ETF of unit rows, at h = w_k). With A [(K-1), dim] the rows a_j = w_k - w_j,
 * m_k = 1 / |h*| where h* solves the QP
 *   P:  min 1/2 |h|^2  s.t.  A h >= 1, h >= 0      (infeasible iff m_k = 0),
 * whose dual is
 *   D:  max_{l >= 0} g(l) = 1^T l - 1/2 |(A^T l)_+|^2,   h(l) = (A^T l)_+.
 * Projected accelerated gradient ascent on D (FISTA with adaptive restart,
 * step 1/|A|_F^2 <= 1/L) gives, at every iterate, two rigorous bounds:
 *   upper  weak duality g(l) <= 1/(2 m_k^2)      ->  m_k <= 1/sqrt(2 g(l));
 *   lower  h(l) is nonnegative, so if min_j a_j.h(l) > 0,
 *          m_k >= min_j a_j.h(l) / |h(l)|;
 * and a certificate of unreachability: l != 0 with A^T l <= 0 everywhere
 * (then l^T A h <= 0 for every h >= 0, so some a_j.h <= 0; Gordan's
 * alternative). Iterations stop when the bounds agree to `rtol` or after
 * `max_iter`. The slow twin (exhaustive active sets) is in
 * tests/test_etf_reach.c. */
#include <math.h>
#include <string.h>

#include "collapse/etf.h"
#include "collapse/mem.h"

/* h = (A^T l)_+ [dim]; returns 1 if A^T l <= 0 everywhere. */
static int primal(const double *A, int m, int dim, const double *l, double *h)
{
    int all_nonpos = 1;
    for (int d = 0; d < dim; d++)
        h[d] = 0;
    for (int j = 0; j < m; j++)
        if (l[j] != 0)
            for (int d = 0; d < dim; d++)
                h[d] += l[j] * A[(int64_t)j * dim + d];
    for (int d = 0; d < dim; d++) {
        if (h[d] > 0)
            all_nonpos = 0;
        else
            h[d] = 0;
    }
    return all_nonpos;
}

/* Ah [m] = A h. */
static void times(const double *A, int m, int dim, const double *h, double *Ah)
{
    for (int j = 0; j < m; j++) {
        double s = 0;
        for (int d = 0; d < dim; d++)
            s += A[(int64_t)j * dim + d] * h[d];
        Ah[j] = s;
    }
}

cl_status cl_etf_nonneg_margin(const float *W, int K, int dim, int k, int max_iter,
                               double rtol, cl_etf_margin *out)
{
    if (K < 2 || dim < 1 || k < 0 || k >= K || max_iter < 1 || !(rtol > 0))
        return cl_error(CL_EINVAL,
                        "nonnegative margin: bad arguments (K=%d, dim=%d, k=%d)", K, dim,
                        k);
    const int m = K - 1;
    double *buf = cl_alloc_array((size_t)m * dim + 2 * (size_t)dim + 5 * (size_t)m,
                                 sizeof(double), "ETF margin");
    if (!buf) return CL_ENOMEM;
    double *A = buf, *h = A + (int64_t)m * dim, *hy = h + dim;
    double *l = hy + dim, *lp = l + m, *y = lp + m, *Ay = y + m, *Ah = Ay + m;
    double fro = 0;
    for (int j = 0, r = 0; j < K; j++) {
        if (j == k) continue;
        for (int d = 0; d < dim; d++) {
            double a = (double)W[(int64_t)k * dim + d] - (double)W[(int64_t)j * dim + d];
            A[(int64_t)r * dim + d] = a;
            fro += a * a;
        }
        r++;
    }
    cl_etf_margin r = {.lo = 0, .hi = INFINITY, .iters = 0, .converged = 0};
    if (fro == 0) { /* w_k equals every other row: never strictly ahead */
        r.hi = 0;
        r.converged = 1;
        goto done;
    }
    const double step = 1.0 / fro;
    memset(l, 0, sizeof(double) * (size_t)m);
    memset(lp, 0, sizeof(double) * (size_t)m);
    double t = 1, gprev = -INFINITY;
    for (int it = 1; it <= max_iter; it++) {
        r.iters = it;
        /* y = l + beta (l - lp); gradient step from y, projected on l >= 0 */
        double tn = 0.5 * (1 + sqrt(1 + 4 * t * t)), beta = (t - 1) / tn;
        for (int j = 0; j < m; j++)
            y[j] = l[j] + beta * (l[j] - lp[j]);
        primal(A, m, dim, y, hy);
        times(A, m, dim, hy, Ay);
        memcpy(lp, l, sizeof(double) * (size_t)m);
        int nonzero = 0;
        for (int j = 0; j < m; j++) {
            l[j] = fmax(0, y[j] + step * (1 - Ay[j]));
            nonzero |= l[j] > 0;
        }
        t = tn;
        int cone = primal(A, m, dim, l, h);
        if (nonzero && cone) { /* A^T l <= 0, l >= 0, l != 0 */
            r.hi = 0;
            r.converged = 1;
            break;
        }
        times(A, m, dim, h, Ah);
        double g = 0, hh = 0, mn = INFINITY;
        for (int j = 0; j < m; j++) {
            g += l[j];
            mn = fmin(mn, Ah[j]);
        }
        for (int d = 0; d < dim; d++)
            hh += h[d] * h[d];
        g -= 0.5 * hh;
        if (g > 0) r.hi = fmin(r.hi, 1 / sqrt(2 * g));
        if (mn > 0 && hh > 0) r.lo = fmax(r.lo, mn / sqrt(hh));
        if (r.lo > 0 && r.hi - r.lo <= rtol * r.hi) {
            r.converged = 1;
            break;
        }
        if (g < gprev) { /* adaptive restart (O'Donoghue & Candes 2015) */
            t = 1;
            memcpy(lp, l, sizeof(double) * (size_t)m);
        }
        gprev = g;
    }
    if (r.hi < r.lo) r.hi = r.lo; /* rounding only */
done:
    cl_free(buf);
    *out = r;
    return CL_OK;
}
