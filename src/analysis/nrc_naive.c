/* Reference twin of cl_nrc_analyze, the slow obvious way, for tests: an
 * explicit normalised feature matrix, explicit projection matrices built
 * from eigenvectors, per-sample residual loops, an explicit Sigma^{1/2}, and
 * a golden-section search over sqrt(gamma) on the explicit matrix distance
 * (the distance has one stationary point in sqrt(gamma), so it is unimodal).
 * Shares no code with nrc.c. */
#include <lapacke.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nrc.h"

/* Eigenvectors in the columns of a [n, n], ascending eigenvalues in w. */
static cl_status eigv(double *a, double *w, int n)
{
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', n, a, n, w) != 0)
        return cl_error(CL_ENUMERIC, "nrc naive: dsyev failed");
    return CL_OK;
}

/* Mean over rows of Hn [M, dim] of ||h - P h||^2, P [dim, dim]. */
static double residual(const double *Hn, int64_t M, int dim, const double *P)
{
    double s = 0;
    for (int64_t i = 0; i < M; i++) {
        const double *h = Hn + i * dim;
        for (int a = 0; a < dim; a++) {
            double ph = 0;
            for (int c = 0; c < dim; c++)
                ph += P[a * dim + c] * h[c];
            s += (h[a] - ph) * (h[a] - ph);
        }
    }
    return s / (double)M;
}

/* ||A/||A|| - B/||B|| ||_F^2 with B = R - s I (R = Sigma^{1/2}); NAN if B = 0. */
static double dist(const double *A, const double *R, int n, double s)
{
    double fa = 0, fb = 0, d = 0;
    for (int i = 0; i < n * n; i++) {
        double b = R[i] - (i % (n + 1) == 0 ? s : 0.0);
        fa += A[i] * A[i];
        fb += b * b;
    }
    if (!(fb > 0)) return NAN;
    for (int i = 0; i < n * n; i++) {
        double b = R[i] - (i % (n + 1) == 0 ? s : 0.0);
        double e = A[i] / sqrt(fa) - b / sqrt(fb);
        d += e * e;
    }
    return d;
}

static cl_status nrc3_naive(const double *A, const double *Sig, int n, cl_nrc_result *r)
{
    double V[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], lam[CL_NRC_MAX_TARGETS];
    double R[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS];
    memcpy(V, Sig, sizeof(double) * (size_t)n * n);
    CL_TRY(eigv(V, lam, n));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += V[i * n + k] * sqrt(fmax(lam[k], 0.0)) * V[j * n + k];
            R[i * n + j] = s;
        }
    double lo = 0, hi = sqrt(fmax(lam[0], 0.0)), g = (sqrt(5.0) - 1) / 2;
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = dist(A, R, n, x1), f2 = dist(A, R, n, x2);
    while (hi - lo > 1e-13 * (1 + hi)) {
        if (f1 <= f2 || isnan(f2)) {
            hi = x2, x2 = x1, f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = dist(A, R, n, x1);
        } else {
            lo = x1, x1 = x2, f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = dist(A, R, n, x2);
        }
    }
    double best[3] = {0.0, sqrt(fmax(lam[0], 0.0)), (lo + hi) / 2};
    for (int c = 0; c < 3; c++) {
        double f = dist(A, R, n, best[c]);
        if (isfinite(f) && !(f >= r->nrc3)) {
            r->nrc3 = f;
            r->nrc3_gamma = best[c] * best[c];
        }
    }
    return CL_OK;
}

/* NRC2 and NRC3 on the explicit normalised features Hn [M, dim]. */
static cl_status head_keys(const double *Hn, int64_t M, int dim, const float *Y, int n,
                           const float *W, double *P, cl_nrc_result *r)
{
    double A[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], V[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS];
    double lw[CL_NRC_MAX_TARGETS];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int d = 0; d < dim; d++)
                s += (double)W[i * dim + d] * W[j * dim + d];
            A[i * n + j] = V[i * n + j] = s;
        }
    CL_TRY(eigv(V, lw, n));
    memset(P, 0, sizeof(double) * (size_t)dim * dim); /* W^T (W W^T)^+ W */
    for (int k = 0; k < n; k++) {
        if (!(lw[k] > 1e-12 * lw[n - 1])) continue;
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < dim; c++) {
                double ua = 0, uc = 0;
                for (int i = 0; i < n; i++) {
                    ua += V[i * n + k] * W[i * dim + a];
                    uc += V[i * n + k] * W[i * dim + c];
                }
                P[a * dim + c] += ua * uc / lw[k];
            }
    }
    r->nrc2 = residual(Hn, M, dim, P);
    if (!Y) return CL_OK;
    double Sig[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS] = {0}, ybar[CL_NRC_MAX_TARGETS] = {0};
    for (int64_t i = 0; i < M; i++)
        for (int j = 0; j < n; j++)
            ybar[j] += Y[i * n + j] / (double)M;
    for (int64_t i = 0; i < M; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++)
                Sig[j * n + k] += (Y[i * n + j] - ybar[j]) * (Y[i * n + k] - ybar[k]) / (double)M;
    return nrc3_naive(A, Sig, n, r);
}

static void errors_naive(const float *H, int64_t M, int dim, const float *Y, int n,
                         const float *W, const float *b, cl_nrc_result *r)
{
    r->mse = r->r2 = 0;
    for (int j = 0; j < n; j++) {
        double ybar = 0, sse = 0, sst = 0;
        for (int64_t i = 0; i < M; i++)
            ybar += Y[i * n + j];
        ybar /= (double)M;
        for (int64_t i = 0; i < M; i++) {
            double p = b ? b[j] : 0.0;
            for (int d = 0; d < dim; d++)
                p += (double)W[j * dim + d] * H[i * dim + d];
            sse += (p - Y[i * n + j]) * (p - Y[i * n + j]);
            sst += (Y[i * n + j] - ybar) * (Y[i * n + j] - ybar);
        }
        r->mse_t[j] = sse / (double)M;
        r->r2_t[j] = sst > 0 ? 1 - sse / sst : NAN;
        r->mse += r->mse_t[j] / n;
        r->r2 += r->r2_t[j] / n;
    }
}

cl_status cl_nrc_analyze_naive(const float *H, int64_t M, int dim, const float *Y, int n,
                               const float *W, const float *b, const cl_nrc_opts *opts,
                               cl_nrc_result *r)
{
    cl_nrc_opts o = opts ? *opts : cl_nrc_opts_default();
    if (M < 2 || dim < 1 || n < 1 || n > dim || n > CL_NRC_MAX_TARGETS)
        return cl_error(CL_EINVAL, "nrc naive: bad sizes");
    memset(r, 0, sizeof *r);
    r->M = M, r->dim = dim, r->n = n, r->opts = o;
    r->has_W = W != NULL, r->has_b = W && b, r->has_Y = Y != NULL;
    r->nrc1 = r->nrc2 = r->nrc3 = r->nrc3_gamma = r->mse = r->r2 = NAN;
    r->sigma_min = r->sigma_max = NAN;
    for (int j = 0; j < CL_NRC_MAX_TARGETS; j++)
        r->mse_t[j] = r->r2_t[j] = NAN;
    const size_t D = (size_t)dim;
    double *Hn = cl_alloc_array((size_t)M * D, sizeof(double), "nrc naive H");
    double *G = cl_alloc_array(D * D, sizeof(double), "nrc naive G");
    double *P = cl_alloc_array(D * D, sizeof(double), "nrc naive P");
    double *ev = cl_alloc_array(D, sizeof(double), "nrc naive ev");
    cl_status st = CL_ENOMEM;
    if (!Hn || !G || !P || !ev) goto done;
    for (int d = 0; d < dim; d++) {
        double mean = 0;
        for (int64_t i = 0; i < M; i++)
            mean += H[i * dim + d];
        mean /= (double)M;
        for (int64_t i = 0; i < M; i++)
            Hn[i * dim + d] = H[i * dim + d] - (o.uncentred ? 0.0 : mean);
    }
    for (int64_t i = 0; i < M; i++) {
        double nn = 0;
        for (int d = 0; d < dim; d++)
            nn += Hn[i * dim + d] * Hn[i * dim + d];
        for (int d = 0; d < dim; d++)
            Hn[i * dim + d] = nn > 0 ? Hn[i * dim + d] / sqrt(nn) : 0.0;
    }
    for (int64_t i = 0; i < M; i++)
        for (int a = 0; a < dim; a++)
            for (int c = 0; c < dim; c++)
                G[a * dim + c] += Hn[i * dim + a] * Hn[i * dim + c] / (double)M;
    if ((st = eigv(G, ev, dim)) != CL_OK) goto done;
    for (int a = 0; a < dim; a++) /* P = sum over the top n eigenvectors of v v^T */
        for (int c = 0; c < dim; c++) {
            double s = 0;
            for (int k = dim - n; k < dim; k++)
                s += G[a * dim + k] * G[c * dim + k];
            P[a * dim + c] = s;
        }
    r->nrc1 = residual(Hn, M, dim, P);
    if (W) {
        if ((st = head_keys(Hn, M, dim, Y, n, W, P, r)) != CL_OK) goto done;
        if (Y) errors_naive(H, M, dim, Y, n, W, b, r);
    }
    st = CL_OK;
done:
    cl_free(Hn);
    cl_free(G);
    cl_free(P);
    cl_free(ev);
    return st;
}
