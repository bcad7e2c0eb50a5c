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
 * over the Gram matrix of the normalised rows, with a Cholesky factor of
 * the corral updated in O(n^2) per step. Formulas: docs/METRICS.md. */
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
    int K, k;        /* p_i = w_{pid(i)} - w_k, i < K - 1 */
    int *S;          /* [cap] corral: point indices */
    double *lam;     /* [cap] barycentric weights */
    double *alpha;   /* [cap] affine minimizer of the corral */
    double *R;       /* [cap, cap] upper Cholesky factor of Q_S + 11^T (row stride cap) */
    double *xp;      /* [K] x . p_i at pid(i) (row k unused) */
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

/* With sum(alpha) = 1, ||P alpha||^2 = alpha^T (Q_S + 11^T) alpha - 1, so the
 * affine minimizer of the corral is alpha = (Q_S + 11^T)^{-1} 1, normalised
 * to sum 1; Q_S + 11^T = [1^T; P_S]^T [1^T; P_S] is positive definite while
 * the corral is affinely independent. Its Cholesky factor R is updated as
 * points enter (a new column, O(n^2)) and leave (Givens rotations, O(n^2)). */

/* Appends point j to the corral with weight 0. 0 if it is (numerically)
 * affinely dependent on the corral. */
static int corral_add(wolfe *w, int j)
{
    const int n = w->n, c = w->cap;
    double *R = w->R, rr = 0;
    for (int i = 0; i < n; i++) { /* R^T r = Q_S[:, j] + 1 */
        double v = q(w, w->S[i], j) + 1;
        for (int l = 0; l < i; l++) v -= R[l * c + i] * R[l * c + n];
        R[i * c + n] = v / R[i * c + i];
        rr += R[i * c + n] * R[i * c + n];
    }
    const double d = q(w, j, j) + 1, rho2 = d - rr;
    if (!(rho2 > 1e-13 * d)) return 0;
    R[n * c + n] = sqrt(rho2);
    w->S[n] = j;
    w->lam[n] = 0;
    w->n = n + 1;
    return 1;
}

/* Removes the corral's point at position s (column s of R, then Givens
 * rotations restore the triangle). */
static void corral_drop(wolfe *w, int s)
{
    const int n = w->n, c = w->cap;
    double *R = w->R;
    for (int j = s + 1; j < n; j++) {
        for (int i = 0; i <= j; i++) R[i * c + j - 1] = R[i * c + j];
        w->S[j - 1] = w->S[j];
        w->lam[j - 1] = w->lam[j];
    }
    for (int j = s; j < n - 1; j++) {
        const double a = R[j * c + j], b = R[(j + 1) * c + j], h = hypot(a, b);
        const double cs = a / h, sn = b / h;
        for (int k = j; k < n - 1; k++) {
            const double t1 = R[j * c + k], t2 = R[(j + 1) * c + k];
            R[j * c + k] = cs * t1 + sn * t2;
            R[(j + 1) * c + k] = -sn * t1 + cs * t2;
        }
    }
    w->n = n - 1;
}

/* alpha = (R^T R)^{-1} 1, normalised to sum 1. */
static void affine_min(wolfe *w)
{
    const int n = w->n, c = w->cap;
    const double *R = w->R;
    double *z = w->alpha, tot = 0;
    for (int i = 0; i < n; i++) {
        double v = 1;
        for (int l = 0; l < i; l++) v -= R[l * c + i] * z[l];
        z[i] = v / R[i * c + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double v = z[i];
        for (int l = i + 1; l < n; l++) v -= R[i * c + l] * z[l];
        z[i] = v / R[i * c + i];
    }
    for (int i = 0; i < n; i++) tot += z[i];
    for (int i = 0; i < n; i++) z[i] /= tot;
}

/* Wolfe's minor cycle: move lam toward the affine minimizer until every
 * weight is positive, dropping the points whose weight reaches zero. Each
 * step drops at least one point, so it ends. Counts its steps in *it. */
static void minor_cycle(wolfe *w, int64_t *it)
{
    for (;; (*it)++) {
        affine_min(w);
        int pos = 1;
        for (int s = 0; s < w->n; s++) pos &= w->alpha[s] > NC_WOLFE_ZERO;
        if (pos) {
            memcpy(w->lam, w->alpha, (size_t)w->n * sizeof(double));
            return;
        }
        double theta = 1;
        int worst = -1;
        for (int s = 0; s < w->n; s++)
            if (w->alpha[s] <= NC_WOLFE_ZERO && w->lam[s] - w->alpha[s] > 0) {
                double t = w->lam[s] / (w->lam[s] - w->alpha[s]);
                if (worst < 0 || t < theta) {
                    theta = t;
                    worst = s;
                }
            }
        if (worst < 0) /* alpha <= 0 only where lam = 0 too: drop the first */
            for (int s = 0; s < w->n && worst < 0; s++)
                if (w->alpha[s] <= NC_WOLFE_ZERO) worst = s;
        double tot = 0;
        for (int s = 0; s < w->n; s++) {
            w->lam[s] = (1 - theta) * w->lam[s] + theta * w->alpha[s];
            if (s == worst || w->lam[s] <= NC_WOLFE_ZERO) w->lam[s] = 0;
            tot += w->lam[s];
        }
        for (int s = w->n - 1; s >= 0; s--)
            if (w->lam[s] == 0) corral_drop(w, s);
        for (int s = 0; s < w->n; s++) w->lam[s] /= tot;
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
    w->n = 0;
    corral_add(w, j0); /* a single point is always independent: Q + 1 >= 1 */
    w->lam[0] = 1;
    for (int64_t it = 0; it < limit; it++) {
        /* x.p_i = sum_s lam_s (G[a_s, b] - G[a_s, k] - G[b, k] + G[k, k]), b = pid(i):
         * one pass over the corral's rows of G into xp [K] (global indices) */
        const double *G = w->G;
        const int K = w->K, k = w->k;
        double xx = 0, gk = 0;
        memset(w->xp, 0, (size_t)K * sizeof(double));
        for (int s = 0; s < w->n; s++) {
            const double *row = G + (size_t)pid(w, w->S[s]) * K, l = w->lam[s];
            gk += l * row[k];
#pragma omp simd
            for (int b = 0; b < K; b++) w->xp[b] += l * row[b];
        }
        for (int b = 0; b < K; b++) w->xp[b] += G[(size_t)k * K + k] - gk - G[(size_t)b * K + k];
        int best = 0;
        for (int i = 1; i < m; i++)
            if (w->xp[pid(w, i)] < w->xp[pid(w, best)]) best = i;
        for (int s = 0; s < w->n; s++) xx += w->lam[s] * w->xp[pid(w, w->S[s])];
        if (xx - w->xp[pid(w, best)] <= NC_WOLFE_TOL * pmax) return CL_OK;
        for (int s = 0; s < w->n; s++)
            if (w->S[s] == best) return CL_OK; /* no progress left at this precision */
        /* a full or dependent corral: x is already its affine minimizer */
        if (w->n == w->cap || !corral_add(w, best)) return CL_OK;
        minor_cycle(w, &it);
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
    double *work = cl_alloc_array((size_t)cap * cap + 2 * (size_t)cap + (size_t)K + 1,
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
    wolfe w = {G, K, 0, S, work, work + cap, work + 2 * cap,
               work + 2 * cap + (size_t)cap * cap, 0, cap};
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
