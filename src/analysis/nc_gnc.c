/* The gnc group's classifier and class-mean keys (Jiang, Zhou et al. ICML
 * 2024, "Generalized neural collapse for a large number of classes"; Liu
 * et al. 2023 for the hyperspherical uniformity). gnc1 (NC1 of the
 * L2-normalised features) is accumulated by the two passes in nc.c.
 *
 * gnc2 = min_k rho_k on the row-normalised W, rho_k the distance from w_k
 * to the convex hull of the other rows. Jiang et al. define
 * rho_k = max_{||h|| = 1} min_{j != k} <w_k - w_j, h>; for w_k outside that
 * hull (always, for distinct unit rows) it equals the distance by minimax
 * duality (the optimal h is the unit vector from the nearest hull point to
 * w_k). The nearest point is the min-norm point of conv{w_j - w_k, j != k},
 * found exactly by Wolfe's algorithm (P. Wolfe, "Finding the nearest point
 * in a polytope", Math. Programming 11, 1976), in barycentric coordinates
 * over the Gram matrix of the normalised rows. Formulas: docs/METRICS.md. */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/mem.h"
#include "nc_internal.h"

/* Stop when x.x - min_i x.p_i <= NC_WOLFE_TOL * max_i ||p_i||^2 (Wolfe's Z1). */
#define NC_WOLFE_TOL 1e-13
/* A barycentric weight at most this is zero (Wolfe's Z2). */
#define NC_WOLFE_ZERO 1e-12

typedef struct {
    const double *G; /* [K, K] Gram of the normalised rows */
    int K, k;        /* p_i = w_{id(i)} - w_k, i < K - 1 */
    int *S;          /* [cap] corral: point indices */
    double *lam;     /* [cap] barycentric weights */
    double *alpha;   /* [cap + 1] affine minimizer of the corral, then the multiplier */
    double *kkt;     /* [(cap + 1)^2] */
    double *xp;      /* [K - 1] x . p_i */
    int n, cap;      /* corral size and limit (min(K - 1, dim + 1)) */
} wolfe;

static int pid(const wolfe *w, int i) { return i < w->k ? i : i + 1; }

/* p_i . p_j from the Gram matrix. */
static double q(const wolfe *w, int i, int j)
{
    const double *G = w->G;
    const int K = w->K, a = pid(w, i), b = pid(w, j), k = w->k;
    return G[a * K + b] - G[a * K + k] - G[b * K + k] + G[k * K + k];
}

/* Affine minimizer of the corral: [Q_S 1; 1^T 0] [alpha; mu] = [0; 1] by
 * Gaussian elimination with partial pivoting. 0 if (numerically) singular. */
static int affine_min(wolfe *w)
{
    const int n = w->n, m = n + 1;
    double *A = w->kkt, *x = w->alpha;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) A[i * m + j] = q(w, w->S[i], w->S[j]);
        A[i * m + n] = 1;
        A[n * m + i] = 1;
        x[i] = 0;
    }
    A[n * m + n] = 0;
    x[n] = 1;
    double scale = 1;
    for (int i = 0; i < m * m; i++) scale = fmax(scale, fabs(A[i]));
    for (int c = 0; c < m; c++) {
        int p = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(A[r * m + c]) > fabs(A[p * m + c])) p = r;
        if (fabs(A[p * m + c]) <= 1e-14 * scale) return 0;
        if (p != c) {
            for (int j = 0; j < m; j++) {
                double t = A[c * m + j];
                A[c * m + j] = A[p * m + j];
                A[p * m + j] = t;
            }
            double t = x[c];
            x[c] = x[p];
            x[p] = t;
        }
        for (int r = c + 1; r < m; r++) {
            double f = A[r * m + c] / A[c * m + c];
            for (int j = c; j < m; j++) A[r * m + j] -= f * A[c * m + j];
            x[r] -= f * x[c];
        }
    }
    for (int c = m - 1; c >= 0; c--) {
        double v = x[c];
        for (int j = c + 1; j < m; j++) v -= A[c * m + j] * x[j];
        x[c] = v / A[c * m + c];
    }
    return 1;
}

/* Wolfe's minor cycle: move lam toward the affine minimizer until every
 * weight is positive, dropping the points whose weight reaches zero.
 * Counts its steps in *it. 0 on a singular corral (then lam is kept). */
static int minor_cycle(wolfe *w, int64_t *it)
{
    for (;; (*it)++) {
        if (!affine_min(w)) return 0;
        int pos = 1;
        for (int s = 0; s < w->n; s++) pos &= w->alpha[s] > NC_WOLFE_ZERO;
        if (pos) {
            memcpy(w->lam, w->alpha, (size_t)w->n * sizeof(double));
            return 1;
        }
        double theta = 1;
        for (int s = 0; s < w->n; s++)
            if (w->alpha[s] <= NC_WOLFE_ZERO && w->lam[s] - w->alpha[s] > 0)
                theta = fmin(theta, w->lam[s] / (w->lam[s] - w->alpha[s]));
        int kept = 0;
        double drop = INFINITY;
        int worst = 0;
        for (int s = 0; s < w->n; s++) {
            double v = (1 - theta) * w->lam[s] + theta * w->alpha[s];
            if (v < drop) {
                drop = v;
                worst = s;
            }
            w->lam[s] = v;
        }
        for (int s = 0; s < w->n; s++)
            if (s != worst && w->lam[s] > NC_WOLFE_ZERO) {
                w->S[kept] = w->S[s];
                w->lam[kept++] = w->lam[s];
            }
        w->n = kept;
        double tot = 0;
        for (int s = 0; s < kept; s++) tot += w->lam[s];
        for (int s = 0; s < kept; s++) w->lam[s] /= tot;
    }
}

/* The min-norm point of conv{p_i}: its barycentric weights in w->S, w->lam.
 * Errors: CL_ENUMERIC (no convergence in `limit` steps). */
static cl_status min_norm_point(wolfe *w, int64_t limit)
{
    const int m = w->K - 1;
    double pmax = 0;
    int j0 = 0;
    for (int i = 0; i < m; i++) {
        double v = q(w, i, i);
        pmax = fmax(pmax, v);
        if (v < q(w, j0, j0)) j0 = i;
    }
    w->n = 1;
    w->S[0] = j0;
    w->lam[0] = 1;
    for (int64_t it = 0; it < limit; it++) {
        double xx = 0;
        int best = 0;
        for (int i = 0; i < m; i++) {
            double v = 0;
            for (int s = 0; s < w->n; s++) v += w->lam[s] * q(w, w->S[s], i);
            w->xp[i] = v;
            if (v < w->xp[best]) best = i;
        }
        for (int s = 0; s < w->n; s++) xx += w->lam[s] * w->xp[w->S[s]];
        if (xx - w->xp[best] <= NC_WOLFE_TOL * pmax) return CL_OK;
        for (int s = 0; s < w->n; s++)
            if (w->S[s] == best) return CL_OK; /* no progress left at this precision */
        if (w->n == w->cap) return CL_OK;     /* a full corral: x is its affine minimizer */
        w->S[w->n] = best;
        w->lam[w->n++] = 0;
        if (!minor_cycle(w, &it)) return CL_OK;
    }
    return cl_error(CL_ENUMERIC,
                    "nc: gnc2: Wolfe's min-norm point for class %d did not converge in %lld "
                    "steps",
                    w->k, (long long)limit);
}

cl_status cl_nc_gnc2(const double *W, int K, int dim, double *gnc2)
{
    const int cap = K - 1 < dim + 1 ? K - 1 : dim + 1;
    cl_status st = CL_OK;
    double *Wn = cl_alloc_array((size_t)K * dim, sizeof(double), "gnc2 rows");
    double *G = cl_alloc_array((size_t)K * K, sizeof(double), "gnc2 gram");
    double *work = cl_alloc_array((size_t)(cap + 2) * (cap + 2) + 3 * (size_t)K + 2,
                                  sizeof(double), "gnc2 work");
    int *S = cl_alloc_array((size_t)cap, sizeof(int), "gnc2 corral");
    if (!Wn || !G || !work || !S) {
        st = CL_ENOMEM;
        goto out;
    }
    for (int c = 0; c < K; c++) {
        double nn = 0;
        for (int d = 0; d < dim; d++) nn += W[(size_t)c * dim + d] * W[(size_t)c * dim + d];
        nn = nn > 0 ? 1 / sqrt(nn) : 0;
        for (int d = 0; d < dim; d++) Wn[(size_t)c * dim + d] = W[(size_t)c * dim + d] * nn;
    }
    cl_dgemm(0, 1, K, K, dim, 1.0, Wn, dim, Wn, dim, 0.0, G, K);
    wolfe w = {G, K, 0, S, work, work + cap, work + 2 * cap + 1,
               work + 2 * cap + 1 + (size_t)(cap + 1) * (cap + 1), 0, cap};
    double best = INFINITY;
    for (int k = 0; k < K; k++) {
        w.k = k;
        if ((st = min_norm_point(&w, 1000 + 50 * (int64_t)K)) != CL_OK) goto out;
        /* the distance from the weights, in the feature space (no Gram cancellation) */
        double dd = 0;
        for (int d = 0; d < dim; d++) {
            double x = -Wn[(size_t)k * dim + d];
            for (int s = 0; s < w.n; s++) x += w.lam[s] * Wn[(size_t)pid(&w, S[s]) * dim + d];
            dd += x * x;
        }
        best = fmin(best, sqrt(dd));
    }
    *gnc2 = best;
out:
    cl_free(Wn);
    cl_free(G);
    cl_free(work);
    cl_free(S);
    return st;
}

/* gnc3 (Jiang et al. 2024) and the log-kernel hyperspherical uniformity
 * (Liu et al. 2023) from G = A A^T, WW = W W^T, WM = W A^T (the last two
 * NULL without W). */
void cl_nc_gnc_from_grams(const double *G, const double *WW, const double *WM, int K,
                          cl_nc_result *r)
{
    double g3 = 0;
    for (int k = 0; k < K && WW; k++)
        g3 += 1 - WM[k * K + k] / sqrt(WW[k * K + k] * G[k * K + k]);
    r->gnc3 = WW ? g3 / K : NAN;
    /* ||u_i - u_j||^2 = 2 - 2 cos(A_i, A_j); mean and population variance of -log */
    double m = 0, v = 0;
    int64_t np = (int64_t)K * (K - 1) / 2;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < K; i++)
            for (int j = i + 1; j < K; j++) {
                double c = G[i * K + j] / sqrt(G[i * K + i] * G[j * K + j]);
                double x = -0.5 * log(2 - 2 * c);
                if (pass)
                    v += (x - m) * (x - m);
                else
                    m += x / (double)np;
            }
    r->hsu_log_mean = m;
    r->hsu_log_var = v / (double)np;
}

/* ---- gnc1: NC1 of the L2-normalised features, accumulated by the same
 * two passes (nc.c) as the base keys ---- */

cl_status cl_nc_gnc_alloc(cl_nc_stream *s)
{
    if (!s->opts.gnc) return CL_OK;
    const size_t k = (size_t)s->K, KD = k * (size_t)s->dim, kk = k * k;
    s->nsum = cl_alloc_array(KD, sizeof(double), "gnc class sums");
    s->nA = cl_alloc_array(KD, sizeof(double), "gnc centred means");
    s->nG = cl_alloc_array(kk, sizeof(double), "gnc gram");
    s->nevec = cl_alloc_array(kk, sizeof(double), "gnc eigenvectors");
    s->neval = cl_alloc_array(k, sizeof(double), "gnc eigenvalues");
    s->nC = cl_alloc_array(kk, sizeof(double), "gnc K x K products");
    s->nCth = cl_alloc_array((size_t)s->nthr * kk, sizeof(double), "gnc per-thread C");
    if (!s->nsum || !s->nA || !s->nG || !s->nevec || !s->neval || !s->nC || !s->nCth)
        return CL_ENOMEM;
    return CL_OK;
}

void cl_nc_gnc_free(cl_nc_stream *s)
{
    cl_free(s->nsum);
    cl_free(s->nA);
    cl_free(s->nG);
    cl_free(s->nevec);
    cl_free(s->neval);
    cl_free(s->nC);
    cl_free(s->nCth);
    cl_free(s->blk2);
    cl_free(s->P2);
    cl_free(s->inv);
}

cl_status cl_nc_gnc_inv_norms(cl_nc_stream *s, const float *H, int64_t n, int64_t ld)
{
    if (n > s->inv_cap) {
        cl_free(s->inv);
        s->inv_cap = 0;
        if (!(s->inv = cl_alloc_array((size_t)n, sizeof(double), "gnc norms"))) return CL_ENOMEM;
        s->inv_cap = n;
    }
    const int dim = s->dim;
    for (int64_t i = 0; i < n; i++) {
        const float *h = H + i * ld;
        double q = 0;
#pragma omp simd reduction(+ : q)
        for (int d = 0; d < dim; d++) q += (double)h[d] * h[d];
        s->inv[i] = q > 0 ? 1 / sqrt(q) : 0;
    }
    return CL_OK;
}

cl_status cl_nc_gnc_end1(cl_nc_stream *s)
{
    const int K = s->K, dim = s->dim;
    double *mu = s->nsum, *A = s->nA;
    for (int c = 0; c < K; c++)
        for (int d = 0; d < dim; d++) mu[(size_t)c * dim + d] /= (double)s->cnt1[c];
    /* mu_G of the normalised means, with the run's convention (as end1) */
    for (int d = 0; d < dim; d++) {
        double g = 0;
        for (int c = 0; c < K; c++)
            g += mu[(size_t)c * dim + d] * (s->opts.weighted_mean ? (double)s->cnt1[c] : 1.0);
        g /= s->opts.weighted_mean ? (double)s->n1 : (double)K;
        for (int c = 0; c < K; c++) A[(size_t)c * dim + d] = mu[(size_t)c * dim + d] - g;
    }
    cl_dgemm(0, 1, K, K, dim, 1.0, A, dim, A, dim, 0.0, s->nG, K);
    memcpy(s->nevec, s->nG, (size_t)K * K * sizeof(double));
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', K, s->nevec, K, s->neval);
    if (info != 0)
        return cl_error(CL_ENUMERIC, "nc: gnc1 eigendecomposition failed (LAPACKE_dsyevd info %d)",
                        (int)info);
    return CL_OK;
}

/* gnc1's share of a block of nb rows: residuals of the normalised rows
 * against the normalised means, projected on nA, into nCt [K, K]. */
void cl_nc_gnc_feed2_block(const cl_nc_stream *s, const float *H, int nb, int64_t ld,
                           const int32_t *y, double *blk2, double *P2, double *nCt)
{
    const int K = s->K, dim = s->dim;
    for (int i = 0; i < nb; i++) {
        const float *h = H + i * ld;
        const double *m = s->nsum + (size_t)y[i] * dim;
        double *r = blk2 + (size_t)i * dim, q = 0;
#pragma omp simd reduction(+ : q)
        for (int d = 0; d < dim; d++)
            q += (double)h[d] * h[d];
        const double iv = q > 0 ? 1 / sqrt(q) : 0;
#pragma omp simd
        for (int d = 0; d < dim; d++)
            r[d] = (double)h[d] * iv - m[d];
    }
    cl_dgemm(0, 1, nb, K, dim, 1.0, blk2, dim, s->nA, dim, 0.0, P2, K);
    cl_dgemm(1, 0, K, K, nb, 1.0, P2, K, P2, K, 1.0, nCt, K);
}
