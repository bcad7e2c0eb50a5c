/* Neural regression collapse (Andriopoulos et al., NeurIPS 2024): two
 * streaming passes.
 *
 * Pass 1: sums of h and y (for the centring and the target mean) and, when
 * both W and Y are given, the squared prediction errors per target.
 * Pass 2: each block of rows is normalised in double (h~ = (h - h_bar)/
 * ||h - h_bar||, or h/||h|| uncentred) and added into G = sum h~ h~^T with
 * one dgemm; the centred targets go into the scatter of Y and the per-target
 * total sum of squares.
 * Result: with G scaled by 1/M,
 *   NRC1 = tr G - (top n eigenvalues of G)          (eigenvalues only),
 *   NRC2 = tr G - tr((W W^T)^+ W G W^T)              (= tr((I - P_row) G)),
 *   NRC3 from W W^T and Sigma by cl_nrc3_from_gram (closed form below).
 * Conventions and formulas: include/collapse/nrc.h and docs/METRICS.md. */
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/mem.h"
#include "collapse/nrc.h"

enum { ST_PASS1, ST_PASS2, ST_DONE };
#define BLOCK 256 /* rows normalised per dgemm in pass 2 */

struct cl_nrc_stream {
    int dim, n, has_W, has_b, ymode; /* ymode -1 unknown, 0 no targets, 1 targets */
    int state, bad;                  /* bad: a non-finite value was seen */
    cl_nrc_opts opts;
    int64_t m1, m2;
    double *W, *b;          /* [n, dim], [n] */
    double *hsum, *ysum;    /* [dim], [n]: sums in pass 1, means after end1 */
    double *sse, *sst;      /* [n] */
    double *S;              /* [n, n] scatter of the centred targets */
    double *G;              /* [dim, dim] */
    double *blk;            /* [BLOCK, dim] */
};

cl_nrc_opts cl_nrc_opts_default(void)
{
    cl_nrc_opts o = {0};
    return o;
}

void cl_nrc_stream_destroy(cl_nrc_stream *s)
{
    if (!s) return;
    cl_free(s->W);
    cl_free(s->b);
    cl_free(s->hsum);
    cl_free(s->ysum);
    cl_free(s->sse);
    cl_free(s->sst);
    cl_free(s->S);
    cl_free(s->G);
    cl_free(s->blk);
    cl_free(s);
}

void cl_nrc_stream_reset(cl_nrc_stream *s)
{
    const size_t dim = (size_t)s->dim, n = (size_t)s->n;
    memset(s->hsum, 0, dim * sizeof(double));
    memset(s->ysum, 0, n * sizeof(double));
    memset(s->sse, 0, n * sizeof(double));
    memset(s->sst, 0, n * sizeof(double));
    memset(s->S, 0, n * n * sizeof(double));
    memset(s->G, 0, dim * dim * sizeof(double));
    s->m1 = s->m2 = 0;
    s->ymode = -1;
    s->state = ST_PASS1;
    s->bad = 0;
}

cl_status cl_nrc_stream_create(cl_nrc_stream **out, int dim, int n, const float *W,
                               const float *b, const cl_nrc_opts *opts)
{
    *out = NULL;
    if (dim < 1 || dim > CL_NRC_MAX_DIM)
        return cl_error(CL_EINVAL, "nrc: feature dimension %d outside [1, %d]", dim,
                        CL_NRC_MAX_DIM);
    if (n < 1 || n > CL_NRC_MAX_TARGETS || n > dim)
        return cl_error(CL_EINVAL,
                        "nrc: target dimension %d outside [1, min(%d, feature dim %d)]", n,
                        CL_NRC_MAX_TARGETS, dim);
    cl_nrc_stream *s = cl_alloc(sizeof *s, "nrc stream");
    if (!s) return CL_ENOMEM;
    const size_t D = (size_t)dim, N = (size_t)n;
    s->dim = dim;
    s->n = n;
    s->opts = opts ? *opts : cl_nrc_opts_default();
    s->W = cl_alloc_array(N * D, sizeof(double), "nrc W");
    s->b = cl_alloc_array(N, sizeof(double), "nrc b");
    s->hsum = cl_alloc_array(D, sizeof(double), "nrc h sums");
    s->ysum = cl_alloc_array(N, sizeof(double), "nrc y sums");
    s->sse = cl_alloc_array(N, sizeof(double), "nrc sse");
    s->sst = cl_alloc_array(N, sizeof(double), "nrc sst");
    s->S = cl_alloc_array(N * N, sizeof(double), "nrc target scatter");
    s->G = cl_alloc_array(D * D, sizeof(double), "nrc feature Gram");
    s->blk = cl_alloc_array((size_t)BLOCK * D, sizeof(double), "nrc block");
    if (!s->W || !s->b || !s->hsum || !s->ysum || !s->sse || !s->sst || !s->S || !s->G ||
        !s->blk) {
        cl_nrc_stream_destroy(s);
        return CL_ENOMEM;
    }
    if (W) {
        s->has_W = 1;
        for (size_t i = 0; i < N * D; i++)
            s->W[i] = W[i];
        if (b) {
            s->has_b = 1;
            for (size_t j = 0; j < N; j++)
                s->b[j] = b[j];
        }
    }
    cl_nrc_stream_reset(s);
    *out = s;
    return CL_OK;
}

static cl_status check_y(cl_nrc_stream *s, const float *Y)
{
    int has = Y != NULL;
    if (s->ymode >= 0 && s->ymode != has)
        return cl_error(CL_EINVAL, "nrc: targets given in some batches only");
    s->ymode = has;
    return CL_OK;
}

cl_status cl_nrc_stream_feed1(cl_nrc_stream *s, const float *H, int64_t m, int64_t ld,
                              const float *Y)
{
    if (s->state != ST_PASS1) return cl_error(CL_EINVAL, "nrc: feed1 after end1");
    if (ld < s->dim || m < 0) return cl_error(CL_EINVAL, "nrc: bad row stride or count");
    CL_TRY(check_y(s, Y));
    const int dim = s->dim, n = s->n;
    for (int64_t i = 0; i < m; i++) {
        const float *h = H + i * ld;
        for (int d = 0; d < dim; d++)
            s->hsum[d] += h[d];
        if (!Y) continue;
        const float *y = Y + i * n;
        for (int j = 0; j < n; j++) {
            s->ysum[j] += y[j];
            if (!s->has_W) continue;
            const double *w = s->W + (size_t)j * dim;
            double p = s->b[j];
            for (int d = 0; d < dim; d++)
                p += w[d] * h[d];
            s->sse[j] += (p - y[j]) * (p - y[j]);
        }
    }
    s->m1 += m;
    return CL_OK;
}

cl_status cl_nrc_stream_end1(cl_nrc_stream *s)
{
    if (s->state != ST_PASS1) return cl_error(CL_EINVAL, "nrc: end1 called twice");
    if (s->m1 < 2) return cl_error(CL_EINVAL, "nrc: need at least 2 samples, got %lld",
                                   (long long)s->m1);
    for (int d = 0; d < s->dim; d++)
        s->hsum[d] /= (double)s->m1;
    for (int j = 0; j < s->n; j++)
        s->ysum[j] /= (double)s->m1;
    s->state = ST_PASS2;
    return CL_OK;
}

/* Rows of h [m, dim] (stride ld) normalised into blk [m, dim]. */
static void normalise_block(cl_nrc_stream *s, const float *H, int64_t m, int64_t ld)
{
    const int dim = s->dim;
    for (int64_t i = 0; i < m; i++) {
        const float *h = H + i * ld;
        double *o = s->blk + i * dim, nn = 0;
        for (int d = 0; d < dim; d++) {
            o[d] = s->opts.uncentred ? (double)h[d] : (double)h[d] - s->hsum[d];
            nn += o[d] * o[d];
        }
        if (!isfinite(nn)) s->bad = 1;
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
        for (int d = 0; d < dim; d++)
            o[d] *= inv;
    }
}

cl_status cl_nrc_stream_feed2(cl_nrc_stream *s, const float *H, int64_t m, int64_t ld,
                              const float *Y)
{
    if (s->state != ST_PASS2)
        return cl_error(CL_EINVAL, "nrc: feed2 %s", s->state == ST_PASS1 ? "before end1"
                                                                         : "after the result");
    if (ld < s->dim || m < 0) return cl_error(CL_EINVAL, "nrc: bad row stride or count");
    if ((Y != NULL) != (s->ymode == 1))
        return cl_error(CL_EINVAL, "nrc: targets given in some batches only");
    const int dim = s->dim, n = s->n;
    for (int64_t r0 = 0; r0 < m; r0 += BLOCK) {
        int64_t mb = m - r0 < BLOCK ? m - r0 : BLOCK;
        normalise_block(s, H + r0 * ld, mb, ld);
        cl_dgemm(1, 0, dim, dim, (int)mb, 1.0, s->blk, dim, s->blk, dim, 1.0, s->G, dim);
    }
    for (int64_t i = 0; Y && i < m; i++) {
        double c[CL_NRC_MAX_TARGETS];
        for (int j = 0; j < n; j++) {
            c[j] = Y[i * n + j] - s->ysum[j];
            s->sst[j] += c[j] * c[j];
        }
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++)
                s->S[j * n + k] += c[j] * c[k];
    }
    s->m2 += m;
    return CL_OK;
}

/* The sums of each pass over the ranks (nrc.h); ymode and bad as counts. */
cl_status cl_nrc_stream_reduce1(cl_nrc_stream *s, cl_comm *comm)
{
    if (s->state != ST_PASS1) return cl_error(CL_EINVAL, "nrc: reduce1 after end1");
    if (cl_comm_size(comm) < 2) return CL_OK;
    int64_t v[3] = {s->m1, s->ymode == 1, s->ymode == 0};
    CL_TRY(cl_comm_sum_i64(comm, v, 3));
    s->m1 = v[0];
    s->ymode = v[1] ? 1 : v[2] ? 0 : -1; /* a rank with no rows has not seen Y */
    CL_TRY(cl_comm_sum_f64(comm, s->hsum, s->dim));
    CL_TRY(cl_comm_sum_f64(comm, s->ysum, s->n));
    return cl_comm_sum_f64(comm, s->sse, s->n);
}

cl_status cl_nrc_stream_reduce2(cl_nrc_stream *s, cl_comm *comm)
{
    if (s->state != ST_PASS2) return cl_error(CL_EINVAL, "nrc: reduce2 outside pass 2");
    if (cl_comm_size(comm) < 2) return CL_OK;
    int64_t v[2] = {s->m2, s->bad};
    CL_TRY(cl_comm_sum_i64(comm, v, 2));
    s->m2 = v[0];
    s->bad = v[1] > 0;
    CL_TRY(cl_comm_sum_f64(comm, s->G, (int64_t)s->dim * s->dim));
    CL_TRY(cl_comm_sum_f64(comm, s->sst, s->n));
    return cl_comm_sum_f64(comm, s->S, (int64_t)s->n * s->n);
}

/* Symmetric eigendecomposition in place (ascending; vectors in the columns
 * of a when jobz is 'V'). */
static cl_status eig(char jobz, double *a, double *w, int n)
{
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, jobz, 'U', n, a, n, w);
    if (info != 0)
        return cl_error(CL_ENUMERIC, "nrc: eigendecomposition failed (LAPACKE_dsyevd info %d)",
                        (int)info);
    return CL_OK;
}

/* f(s) = ||A_hat - diag(u)/||u|| ||_F^2 in the eigenbasis of Sigma, where
 * At = Q^T A Q / ||A||_F [n, n] and u_j = r_j - s; NAN when u = 0. Summing
 * the squared entries (not 2 - 2 cos) keeps small distances accurate. */
static double nrc3_at(const double *At, const double *r, int n, double s)
{
    double uu = 0;
    for (int j = 0; j < n; j++)
        uu += (r[j] - s) * (r[j] - s);
    if (!(uu > 0)) return NAN;
    double f = 0, inv = 1.0 / sqrt(uu);
    for (int j = 0; j < n; j++)
        for (int k = 0; k < n; k++) {
            double d = At[j * n + k] - (j == k ? (r[j] - s) * inv : 0.0);
            f += d * d;
        }
    return f;
}

/* Andriopoulos et al. (NeurIPS 2024), NRC3. With Sigma = Q diag(lambda) Q^T,
 * r_j = sqrt(lambda_j), s = sqrt(gamma) in [0, r_min] and a_j the diagonal
 * of Q^T A Q/||A||_F, the distance is 2 - 2 g(s) with
 *   g(s) = (alpha - s beta)/sqrt(rho - 2 s sigma + n s^2),
 * alpha = a.r, beta = sum a_j, rho = r.r, sigma = sum r_j. g'(s) = 0 is
 * linear in s: s* = (beta rho - alpha sigma)/(beta sigma - alpha n), so the
 * minimum is at s*, if inside, or at an end of the interval. */
cl_status cl_nrc3_from_gram(const double *A, const double *Sigma, int n, double *nrc3,
                            double *gamma)
{
    *nrc3 = *gamma = NAN;
    const size_t nn = (size_t)n * (size_t)n;
    double Q[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], lam[CL_NRC_MAX_TARGETS];
    double AQ[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], At[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS];
    double r[CL_NRC_MAX_TARGETS];
    CL_ASSERT(n >= 1 && n <= CL_NRC_MAX_TARGETS);
    memcpy(Q, Sigma, nn * sizeof(double));
    CL_TRY(eig('V', Q, lam, n));
    double fa = 0;
    for (size_t i = 0; i < nn; i++)
        fa += A[i] * A[i];
    fa = sqrt(fa);
    if (!isfinite(fa)) return cl_error(CL_ENUMERIC, "nrc: W W^T is not finite");
    if (!(fa > 0)) return CL_OK; /* W = 0: NRC3 undefined, NAN */
    cl_dgemm(0, 0, n, n, n, 1.0 / fa, A, n, Q, n, 0.0, AQ, n);
    cl_dgemm(1, 0, n, n, n, 1.0, Q, n, AQ, n, 0.0, At, n);
    double alpha = 0, beta = 0, rho = 0, sig = 0;
    for (int j = 0; j < n; j++) {
        r[j] = sqrt(lam[j] > 0 ? lam[j] : 0.0);
        alpha += At[j * n + j] * r[j];
        beta += At[j * n + j];
        rho += r[j] * r[j];
        sig += r[j];
    }
    double cand[3] = {0.0, r[0], NAN};
    double den = beta * sig - alpha * n;
    if (den != 0) cand[2] = (beta * rho - alpha * sig) / den;
    for (int c = 0; c < 3; c++) {
        double sc = cand[c];
        if (!(sc >= 0 && sc <= r[0])) continue;
        double f = nrc3_at(At, r, n, sc);
        if (isfinite(f) && !(f >= *nrc3)) {
            *nrc3 = f;
            *gamma = sc * sc;
        }
    }
    return CL_OK;
}

/* The eigen-work of the result; runs inside a parallel region so that
 * OpenBLAS and LAPACK stay single-threaded for these small problems. */
static cl_status finish(cl_nrc_stream *s, cl_nrc_result *r)
{
    const int dim = s->dim, n = s->n;
    const size_t D = (size_t)dim;
    const double M = (double)s->m2;
    cl_status st = CL_OK;
    double *Gc = cl_alloc_array(D * D, sizeof(double), "nrc eigen copy");
    double *ev = cl_alloc_array(D, sizeof(double), "nrc eigenvalues");
    double *WG = cl_alloc_array((size_t)n * D, sizeof(double), "nrc W G");
    if (!Gc || !ev || !WG) {
        st = CL_ENOMEM;
        goto done;
    }
    double tr = 0;
    for (size_t i = 0; i < D * D; i++)
        Gc[i] = s->G[i] / M;
    for (int d = 0; d < dim; d++)
        tr += Gc[d * D + d];
    if ((st = eig('N', Gc, ev, dim)) != CL_OK) goto done;
    double top = 0;
    for (int k = 0; k < n; k++)
        top += ev[dim - 1 - k];
    r->nrc1 = fmax(tr - top, 0.0);
    if (s->has_W) {
        double A[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], V[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS];
        double B[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], lw[CL_NRC_MAX_TARGETS];
        cl_dgemm(0, 1, n, n, dim, 1.0, s->W, dim, s->W, dim, 0.0, A, n);
        cl_dgemm(0, 0, n, dim, dim, 1.0 / M, s->W, dim, s->G, dim, 0.0, WG, dim);
        cl_dgemm(0, 1, n, n, dim, 1.0, WG, dim, s->W, dim, 0.0, B, n);
        memcpy(V, A, sizeof(double) * (size_t)n * n);
        if ((st = eig('V', V, lw, n)) != CL_OK) goto done;
        /* tr(A^+ B) = sum over kept eigenpairs (l, v) of v^T B v / l */
        double keep = 1e-12 * lw[n - 1], proj = 0;
        for (int k = 0; k < n; k++) {
            if (!(lw[k] > keep)) continue;
            double q = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    q += V[i * n + k] * B[i * n + j] * V[j * n + k];
            proj += q / lw[k];
        }
        r->nrc2 = fmax(tr - proj, 0.0);
        if (s->ymode == 1) {
            double Sg[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS];
            for (int i = 0; i < n * n; i++)
                Sg[i] = s->S[i] / M;
            if ((st = cl_nrc3_from_gram(A, Sg, n, &r->nrc3, &r->nrc3_gamma)) != CL_OK)
                goto done;
        }
    }
    if (s->ymode == 1) {
        double Sg[CL_NRC_MAX_TARGETS * CL_NRC_MAX_TARGETS], lam[CL_NRC_MAX_TARGETS];
        for (int i = 0; i < n * n; i++)
            Sg[i] = s->S[i] / M;
        if ((st = eig('N', Sg, lam, n)) != CL_OK) goto done;
        r->sigma_min = lam[0];
        r->sigma_max = lam[n - 1];
    }
done:
    cl_free(Gc);
    cl_free(ev);
    cl_free(WG);
    return st;
}

cl_status cl_nrc_stream_result(cl_nrc_stream *s, cl_nrc_result *r)
{
    if (s->state == ST_PASS1) return cl_error(CL_EINVAL, "nrc: result before end1");
    if (s->m2 != s->m1)
        return cl_error(CL_EINVAL, "nrc: pass 1 saw %lld samples, pass 2 %lld",
                        (long long)s->m1, (long long)s->m2);
    if (s->bad) return cl_error(CL_ENUMERIC, "nrc: non-finite features");
    memset(r, 0, sizeof *r);
    r->M = s->m2;
    r->dim = s->dim;
    r->n = s->n;
    r->has_W = s->has_W;
    r->has_b = s->has_b;
    r->has_Y = s->ymode == 1;
    r->opts = s->opts;
    r->nrc1 = r->nrc2 = r->nrc3 = r->nrc3_gamma = r->mse = r->r2 = NAN;
    r->sigma_min = r->sigma_max = NAN;
    for (int j = 0; j < CL_NRC_MAX_TARGETS; j++)
        r->mse_t[j] = r->r2_t[j] = NAN;
    cl_status st = CL_OK;
    if (omp_in_parallel() || omp_get_max_threads() < 2) {
        st = finish(s, r);
    } else {
#pragma omp parallel num_threads(2)
        {
#pragma omp master
            st = finish(s, r);
        }
    }
    if (st != CL_OK) return st;
    if (r->has_W && r->has_Y) {
        r->mse = r->r2 = 0;
        for (int j = 0; j < s->n; j++) {
            r->mse_t[j] = s->sse[j] / (double)r->M;
            r->r2_t[j] = s->sst[j] > 0 ? 1.0 - s->sse[j] / s->sst[j] : NAN;
            r->mse += r->mse_t[j] / s->n;
            r->r2 += r->r2_t[j] / s->n;
        }
    }
    s->state = ST_DONE;
    return CL_OK;
}

cl_status cl_nrc_analyze(const float *H, int64_t M, int dim, const float *Y, int n,
                         const float *W, const float *b, const cl_nrc_opts *opts,
                         cl_nrc_result *r)
{
    cl_nrc_stream *s;
    CL_TRY(cl_nrc_stream_create(&s, dim, n, W, b, opts));
    cl_status st;
    if ((st = cl_nrc_stream_feed1(s, H, M, dim, Y)) != CL_OK) goto fail;
    if ((st = cl_nrc_stream_end1(s)) != CL_OK) goto fail;
    if ((st = cl_nrc_stream_feed2(s, H, M, dim, Y)) != CL_OK) goto fail;
    st = cl_nrc_stream_result(s, r);
fail:
    cl_nrc_stream_destroy(s);
    return st;
}

/* ---- keys: names and descriptions (collapse analyze, metrics.csv) ---- */

static const struct {
    const char *name;
    size_t off;
    const char *descr;
} keys[] = {
    {"nrc1", offsetof(cl_nrc_result, nrc1), "residual off the top-n PCA subspace (NRC1)"},
    {"nrc2", offsetof(cl_nrc_result, nrc2), "residual off the row space of W (NRC2)"},
    {"nrc3", offsetof(cl_nrc_result, nrc3), "distance of W W^T to Sigma^1/2 - sqrt(g) I (NRC3)"},
    {"nrc3_gamma", offsetof(cl_nrc_result, nrc3_gamma), "the minimising gamma of NRC3"},
    {"mse", offsetof(cl_nrc_result, mse), "mean over targets of the MSE of W h + b"},
    {"r2", offsetof(cl_nrc_result, r2), "mean over targets of R^2"},
};

int cl_nrc_nkeys(void)
{
    return (int)(sizeof keys / sizeof keys[0]);
}

const char *cl_nrc_key_name(int i)
{
    CL_ASSERT(i >= 0 && i < cl_nrc_nkeys());
    return keys[i].name;
}

const char *cl_nrc_key_descr(int i)
{
    CL_ASSERT(i >= 0 && i < cl_nrc_nkeys());
    return keys[i].descr;
}

double cl_nrc_key_value(const cl_nrc_result *r, int i)
{
    CL_ASSERT(i >= 0 && i < cl_nrc_nkeys());
    return *(const double *)((const char *)r + keys[i].off);
}
