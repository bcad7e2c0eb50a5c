/* Neural-collapse analyzer: two streaming passes, no dim x dim matrix.
 *
 * Pass 1 accumulates class sums (double). end1 forms the class means mu
 * [K, dim], the global mean mu_G, the centred means A = M [K, dim] and the Gram
 * G = A A^T [K, K] with its eigendecomposition.
 *
 * Pass 2 converts each block of rows to residuals r = h - mu_y in double and
 * projects them with one dgemm onto B = [A; W] ([K or 2K, dim]):
 *   P = R B^T  [n, K(+K)],   P_A = A r,  P_W = W r.
 * From these, per sample:
 *   - C += P_A^T P_A, so that C / N = A Sw A^T  (the K x K identity),
 *   - ||h - mu_c||^2 = ||r||^2 + 2 r.A_y - 2 r.A_c + ||A_y - A_c||^2, whose
 *     argmin over c is the nearest class mean (only the c-dependent terms),
 *   - W h + b = W r + (W mu_y + b)  (the second term a K x K table).
 * and per class the sum of ||r||^2 (tr Sw and the CDNV variances).
 * The formulas are derived in docs/METRICS.md; the metrics are computed
 * from these sums in nc_metrics.c.
 *
 * Threading: OpenBLAS threads even tiny calls (a 10 x 10 dsyevd took ~200 ms
 * instead of 0.05 ms with 2 threads on a busy machine), but runs single-
 * threaded when called inside an active OpenMP parallel region. So pass 2
 * opens one parallel region per (big) call and gives each thread its own rows,
 * buffers and accumulators (reduced in thread order, so results depend only
 * on the thread count), and end1/finish run their K x K work on the calling
 * thread inside such a region. */
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "nc_internal.h"

/* Rows per thread's pass-2 block: about 512 KB of double residuals, so the
 * block is still in cache when the dgemm reads it; at least 4 rows. */
#define NC_BLOCK_BYTES (512u << 10)


cl_nc_opts cl_nc_opts_default(void)
{
    return (cl_nc_opts){.weighted_mean = 0, .nc4_bias = 1, .gnc = 0, .minority = NULL};
}

void cl_nc_stream_destroy(cl_nc_stream *s)
{
    if (!s) return;
    cl_free(s->cnt1);
    cl_free(s->cnt2);
    cl_free(s->sum);
    cl_free(s->B);
    cl_free(s->bias);
    cl_free(s->dscale);
    cl_free(s->G);
    cl_free(s->evec);
    cl_free(s->eval);
    cl_free(s->T);
    cl_free(s->AD);
    cl_free(s->C);
    cl_free(s->ssq);
    cl_free(s->blk);
    cl_free(s->P);
    cl_free(s->Cth);
    cl_free(s->ssqth);
    cl_free(s->cntth);
    cl_free(s->scratch);
    cl_free(s->minor);
    cl_nc_gnc_free(s);
    cl_free(s);
}

void cl_nc_stream_reset(cl_nc_stream *s)
{
    size_t K = (size_t)s->K, dim = (size_t)s->dim;
    s->state = NC_PASS1;
    s->n1 = s->n2 = 0;
    s->ncc_ok = s->cls_ok = s->agree = 0;
    memset(s->cnt1, 0, K * sizeof *s->cnt1);
    memset(s->cnt2, 0, K * sizeof *s->cnt2);
    memset(s->sum, 0, K * dim * sizeof *s->sum);
    memset(s->C, 0, K * K * sizeof *s->C);
    memset(s->ssq, 0, K * sizeof *s->ssq);
    if (s->nsum) {
        memset(s->nsum, 0, K * dim * sizeof *s->nsum);
        memset(s->nC, 0, K * K * sizeof *s->nC);
    }
}

cl_status cl_nc_stream_create(cl_nc_stream **out, int dim, int K, const float *W,
                              const float *b, const cl_nc_opts *opts)
{
    *out = NULL;
    if (dim < 1) return cl_error(CL_EINVAL, "nc: feature dimension dim = %d (need >= 1)", dim);
    if (K < 2) return cl_error(CL_EINVAL, "nc: K = %d classes (need >= 2)", K);
    if (K > 46340) /* K * K must fit an int */
        return cl_error(CL_EINVAL, "nc: K = %d classes is too many (at most 46340)", K);
    size_t KD;
    if (!cl_mul_ok((size_t)K, (size_t)dim, &KD) || KD > ((size_t)1 << 40))
        return cl_error(CL_ENOMEM, "nc: K x dim = %d x %d is too large", K, dim);
    cl_nc_stream *s = cl_alloc(sizeof *s, "nc stream");
    if (!s) return CL_ENOMEM;
    s->dim = dim;
    s->K = K;
    s->opts = opts ? *opts : cl_nc_opts_default();
    s->has_W = W != NULL;
    s->has_b = W && b;
    s->R = W ? 2 * K : K;
    size_t k = (size_t)K, kk = k * k, R = (size_t)s->R;
    s->blk_rows = NC_BLOCK_BYTES / (8 * (size_t)dim);
    if (s->blk_rows < 4) s->blk_rows = 4;
    s->cnt1 = cl_alloc_array(k, sizeof(int64_t), "nc counts");
    s->cnt2 = cl_alloc_array(k, sizeof(int64_t), "nc counts");
    s->sum = cl_alloc_array(KD, sizeof(double), "nc class sums");
    s->B = cl_alloc_array(R * (size_t)dim, sizeof(double), "nc projections");
    s->bias = cl_alloc_array(k, sizeof(double), "nc bias");
    s->dscale = cl_alloc_array(k, sizeof(double), "nc decision scale");
    s->G = cl_alloc_array(kk, sizeof(double), "nc gram");
    s->evec = cl_alloc_array(kk, sizeof(double), "nc eigenvectors");
    s->eval = cl_alloc_array(k, sizeof(double), "nc eigenvalues");
    s->T = cl_alloc_array(kk, sizeof(double), "nc logit table");
    s->AD = cl_alloc_array(kk, sizeof(double), "nc mean distances");
    s->C = cl_alloc_array(kk, sizeof(double), "nc K x K products");
    s->ssq = cl_alloc_array(k, sizeof(double), "nc variances");
    s->scratch = cl_alloc_array(2 * kk + kk / 2 + k, sizeof(double), "nc scratch");
    s->nthr = omp_get_max_threads() > 0 ? omp_get_max_threads() : 1;
    s->Cth = cl_alloc_array((size_t)s->nthr * kk, sizeof(double), "nc per-thread C");
    s->ssqth = cl_alloc_array((size_t)s->nthr * k, sizeof(double), "nc per-thread sums");
    s->cntth = cl_alloc_array((size_t)s->nthr * (k + 3), sizeof(int64_t),
                              "nc per-thread counts");
    if (!s->cnt1 || !s->cnt2 || !s->sum || !s->B || !s->bias || !s->dscale || !s->G || !s->evec ||
        !s->eval || !s->T || !s->AD || !s->C || !s->ssq || !s->scratch || !s->Cth ||
        !s->ssqth || !s->cntth || cl_nc_gnc_alloc(s) != CL_OK) {
        cl_nc_stream_destroy(s);
        return CL_ENOMEM;
    }
    if (s->opts.minority) {
        s->minor = cl_alloc_array(k, 1, "nc minority set");
        if (!s->minor) {
            cl_nc_stream_destroy(s);
            return CL_ENOMEM;
        }
        for (size_t c = 0; c < k; c++)
            s->minor[c] = s->opts.minority[c] != 0;
        s->opts.minority = NULL; /* the caller's array may not outlive the stream */
    }
    if (W) {
        double *Wd = s->B + KD;
        for (size_t i = 0; i < KD; i++)
            Wd[i] = W[i];
        if (b && s->opts.nc4_bias && !s->opts.nc4_cosine)
            for (size_t c = 0; c < k; c++)
                s->bias[c] = b[c];
    }
    for (size_t c = 0; c < k; c++) { /* cosine head: argmax_c <w_c, h>/||w_c|| (Jiang et al.) */
        double n2 = 0;
        for (int d = 0; W && s->opts.nc4_cosine && d < dim; d++)
            n2 += (double)W[c * (size_t)dim + d] * W[c * (size_t)dim + d];
        s->dscale[c] = W && s->opts.nc4_cosine ? 1.0 / fmax(sqrt(n2), 1e-12) : 1.0;
    }
    cl_nc_stream_reset(s);
    *out = s;
    return CL_OK;
}

static cl_status check_labels(const cl_nc_stream *s, const int32_t *y, int64_t n,
                              int64_t base)
{
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= s->K)
            return cl_error(CL_EINVAL,
                            "nc: label %d of sample %lld is out of range [0, %d)",
                            (int)y[i], (long long)(base + i), s->K);
    return CL_OK;
}

cl_status cl_nc_stream_feed1(cl_nc_stream *s, const float *H, int64_t n, int64_t ld,
                             const int32_t *y)
{
    if (s->state == NC_BROKEN)
        return cl_error(CL_EINVAL, "nc: stream failed earlier; reset it");
    if (s->state != NC_PASS1)
        return cl_error(CL_EINVAL,
                        "nc: feed1 called after end1 (pass 1 is over; reset first)");
    if (n < 0 || ld < s->dim) return cl_error(CL_EINVAL, "nc: feed1: bad n or ld");
    CL_TRY(check_labels(s, y, n, s->n1));
    if (s->opts.gnc) CL_TRY(cl_nc_gnc_inv_norms(s, H, n, ld));
    const int dim = s->dim;
    for (int64_t i = 0; i < n; i++)
        s->cnt1[y[i]]++;
    /* Each thread owns a contiguous range of columns of every class sum, so
     * every sum is accumulated in sample order whatever the thread count. */
    const int T = n * (int64_t)dim > (1 << 18) ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t d0 = (int64_t)dim * t / nt, d1 = (int64_t)dim * (t + 1) / nt;
        /* Column tiles whose K class-sum slices (~256 KB) stay in cache. */
        int64_t tile = 32768 / s->K;
        tile = tile < 64 ? 64 : tile > 4096 ? 4096 : tile;
        for (int64_t e0 = d0; e0 < d1; e0 += tile) {
            const int64_t e1 = e0 + tile < d1 ? e0 + tile : d1;
            for (int64_t i = 0; i < n; i++) {
                const float *h = H + i * ld;
                double *acc = s->sum + (size_t)y[i] * (size_t)dim;
#pragma omp simd
                for (int64_t d = e0; d < e1; d++)
                    acc[d] += h[d];
                if (!s->nsum) continue;
                /* gnc1: the same sums over h/||h|| */
                double *nacc = s->nsum + (size_t)y[i] * (size_t)dim, iv = s->inv[i];
#pragma omp simd
                for (int64_t d = e0; d < e1; d++)
                    nacc[d] += (double)h[d] * iv;
            }
        }
    }
    s->n1 += n;
    return CL_OK;
}

/* Symmetric eigendecomposition of a K x K matrix (row-major), ascending. */
static cl_status eig(double *a, double *w, int K)
{
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', K, a, K, w);
    if (info != 0)
        return cl_error(CL_ENUMERIC,
                        "nc: eigendecomposition failed (LAPACKE_dsyevd info %d)",
                        (int)info);
    return CL_OK;
}

/* Runs fn(s) on the calling thread (so cl_error's thread-local message
 * reaches the caller) inside an active parallel region, where OpenBLAS and
 * LAPACK run single-threaded: see the note at the top. */
static cl_status on_caller(cl_status (*fn)(cl_nc_stream *), cl_nc_stream *s)
{
    if (omp_in_parallel() || omp_get_max_threads() < 2) return fn(s);
    cl_status st = CL_OK;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        st = fn(s);
    }
    return st;
}

static cl_status end1(cl_nc_stream *s)
{
    if (s->state == NC_BROKEN)
        return cl_error(CL_EINVAL, "nc: stream failed earlier; reset it");
    if (s->state != NC_PASS1) return cl_error(CL_EINVAL, "nc: end1 called twice");
    const int K = s->K, dim = s->dim;
    const size_t KD = (size_t)K * (size_t)dim;
    for (int c = 0; c < K; c++)
        if (s->cnt1[c] == 0)
            return cl_error(CL_EINVAL, "nc: class %d has no samples (K = %d)", c, K);
    double *mu = s->sum;
    for (int c = 0; c < K; c++) {
        double inv = 1.0 / (double)s->cnt1[c];
        double *m = mu + (size_t)c * dim;
        for (int d = 0; d < dim; d++)
            m[d] *= inv;
        for (int d = 0; d < dim; d++)
            if (!isfinite(m[d])) {
                s->state = NC_BROKEN; /* the sums are half turned into means */
                return cl_error(CL_ENUMERIC, "nc: features of class %d are not finite",
                                c);
            }
    }
    /* mu_G, then A = mu - mu_G. */
    double *A = s->B;
    for (int d = 0; d < dim; d++) {
        double g = 0;
        if (s->opts.weighted_mean)
            for (int c = 0; c < K; c++)
                g += (double)s->cnt1[c] * mu[(size_t)c * dim + d];
        else
            for (int c = 0; c < K; c++)
                g += mu[(size_t)c * dim + d];
        g /= s->opts.weighted_mean ? (double)s->n1 : (double)K;
        for (int c = 0; c < K; c++)
            A[(size_t)c * dim + d] = mu[(size_t)c * dim + d] - g;
    }
    cl_dgemm(0, 1, K, K, dim, 1.0, A, dim, A, dim, 0.0, s->G, K);
    for (int y = 0; y < K; y++)
        for (int c = 0; c < K; c++)
            s->AD[y * K + c] = s->G[y * K + y] + s->G[c * K + c] - 2 * s->G[y * K + c];
    memcpy(s->evec, s->G, (size_t)K * K * sizeof(double));
    cl_status st = eig(s->evec, s->eval, K);
    if (st != CL_OK) {
        s->state = NC_BROKEN;
        return st;
    }
    if (s->has_W) {
        /* T[y, c] = W_c . mu_y + b_c */
        cl_dgemm(0, 1, K, K, dim, 1.0, mu, dim, s->B + KD, dim, 0.0, s->T, K);
        for (int y = 0; y < K; y++)
            for (int c = 0; c < K; c++)
                s->T[y * K + c] += s->bias[c];
    }
    if (s->opts.gnc && (st = cl_nc_gnc_end1(s)) != CL_OK) {
        s->state = NC_BROKEN;
        return st;
    }
    s->state = NC_PASS2;
    return CL_OK;
}

cl_status cl_nc_stream_end1(cl_nc_stream *s)
{
    return on_caller(end1, s);
}

/* Rows [0, n) of one thread's share of a pass-2 batch, in blocks of at most
 * cap rows, accumulated into that thread's C [K, K], sums [K] and counts [K + 3]. */
static void feed2_rows(const cl_nc_stream *s, const float *H, int64_t n, int64_t ld,
                       const int32_t *y, double *blk, double *P, int64_t cap, double *Ct,
                       double *sst, int64_t *cnt, double *blk2, double *P2, double *nCt)
{
    const int K = s->K, dim = s->dim, R = s->R;
    const double *mu = s->sum;
    for (int64_t i0 = 0; i0 < n; i0 += cap) {
        const int nb = (int)(n - i0 < cap ? n - i0 : cap);
        for (int i = 0; i < nb; i++) {
            const float *h = H + (i0 + i) * ld;
            const int yi = y[i0 + i];
            const double *m = mu + (size_t)yi * dim;
            double *r = blk + (size_t)i * dim, q = 0;
#pragma omp simd reduction(+ : q)
            for (int d = 0; d < dim; d++) {
                r[d] = (double)h[d] - m[d];
                q += r[d] * r[d];
            }
            sst[yi] += q;
        }
        cl_dgemm(0, 1, nb, R, dim, 1.0, blk, dim, s->B, dim, 0.0, P, R);
        cl_dgemm(1, 0, K, K, nb, 1.0, P, R, P, R, 1.0, Ct, K);
        if (s->opts.gnc) cl_nc_gnc_feed2_block(s, H + i0 * ld, nb, ld, y + i0, blk2, P2, nCt);
        for (int i = 0; i < nb; i++) {
            const int yi = y[i0 + i];
            const double *p = P + (size_t)i * R;
            cnt[yi]++;
            /* Nearest class mean: argmin_c ||A_y - A_c||^2 - 2 r.A_c (first on ties). */
            int ncc = 0;
            double best = INFINITY;
            for (int c = 0; c < K; c++) {
                double v = s->AD[yi * K + c] - 2 * p[c];
                if (v < best) {
                    best = v;
                    ncc = c;
                }
            }
            cnt[K] += ncc == yi;
            if (s->has_W) {
                int cls = 0;
                double top = -INFINITY;
                for (int c = 0; c < K; c++) {
                    double v = (p[K + c] + s->T[yi * K + c]) * s->dscale[c];
                    if (v > top) {
                        top = v;
                        cls = c;
                    }
                }
                cnt[K + 1] += cls == yi;
                cnt[K + 2] += cls == ncc;
            }
        }
    }
}

cl_status cl_nc_stream_feed2(cl_nc_stream *s, const float *H, int64_t n, int64_t ld,
                             const int32_t *y)
{
    if (s->state == NC_BROKEN)
        return cl_error(CL_EINVAL, "nc: stream failed earlier; reset it");
    if (s->state == NC_PASS1)
        return cl_error(CL_EINVAL, "nc: feed2 called before end1 (finish pass 1 first)");
    if (s->state != NC_PASS2)
        return cl_error(CL_EINVAL, "nc: feed2 called after the result (reset first)");
    if (n < 0 || ld < s->dim) return cl_error(CL_EINVAL, "nc: feed2: bad n or ld");
    CL_TRY(check_labels(s, y, n, s->n2));
    if (n == 0) return CL_OK;
    const int K = s->K;
    /* Threads: all of them for big batches, else one. */
    int T = n * (int64_t)s->dim >= (1 << 16) ? s->nthr : 1;
    if (T > omp_get_max_threads()) T = omp_get_max_threads();
    if (T < 1) T = 1;
    if (T > n) T = (int)n;
    /* The block buffers grow to the largest batch seen (at most blk_rows
     * rows per thread), so a trainer's equal batches allocate once. */
    int64_t per = (n + T - 1) / T;
    int64_t need = T * (per < s->blk_rows ? per : s->blk_rows);
    if (need > s->blk_cap) {
        cl_free(s->blk);
        cl_free(s->P);
        cl_free(s->blk2);
        cl_free(s->P2);
        s->blk2 = s->P2 = NULL;
        s->blk_cap = 0;
        s->blk = cl_alloc_array((size_t)need * (size_t)s->dim, sizeof(double), "nc block");
        s->P =
            cl_alloc_array((size_t)need * (size_t)s->R, sizeof(double), "nc block proj");
        if (!s->blk || !s->P) return CL_ENOMEM;
        if (s->opts.gnc) {
            s->blk2 = cl_alloc_array((size_t)need * (size_t)s->dim, sizeof(double), "gnc block");
            s->P2 = cl_alloc_array((size_t)need * (size_t)K, sizeof(double), "gnc block proj");
            if (!s->blk2 || !s->P2) return CL_ENOMEM;
        }
        s->blk_cap = need;
    }
    const int64_t cap = s->blk_cap / T;
    memset(s->Cth, 0, (size_t)T * K * K * sizeof(double));
    memset(s->ssqth, 0, (size_t)T * K * sizeof(double));
    memset(s->cntth, 0, (size_t)T * (K + 3) * sizeof(int64_t));
    if (s->opts.gnc) memset(s->nCth, 0, (size_t)T * K * K * sizeof(double));
    if (T == 1) {
        /* Small batch (or one thread): no region, whose idle thread would
         * only spin; the products are small. */
        feed2_rows(s, H, n, ld, y, s->blk, s->P, cap, s->Cth, s->ssqth, s->cntth, s->blk2,
                   s->P2, s->nCth);
    } else {
#pragma omp parallel num_threads(T)
        {
            /* Robust to a team smaller than asked for. */
            for (int t = omp_get_thread_num(); t < T; t += omp_get_num_threads()) {
                int64_t lo = n * t / T, hi = n * (t + 1) / T;
                feed2_rows(s, H + lo * ld, hi - lo, ld, y + lo,
                           s->blk + (size_t)(t * cap) * s->dim,
                           s->P + (size_t)(t * cap) * s->R, cap,
                           s->Cth + (size_t)t * K * K, s->ssqth + (size_t)t * K,
                           s->cntth + (size_t)t * (K + 3),
                           s->blk2 ? s->blk2 + (size_t)(t * cap) * s->dim : NULL,
                           s->P2 ? s->P2 + (size_t)(t * cap) * K : NULL,
                           s->nCth ? s->nCth + (size_t)t * K * K : NULL);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        const double *Ct = s->Cth + (size_t)t * K * K;
        const int64_t *cnt = s->cntth + (size_t)t * (K + 3);
        for (int i = 0; i < K * K; i++)
            s->C[i] += Ct[i];
        for (int i = 0; s->opts.gnc && i < K * K; i++)
            s->nC[i] += s->nCth[(size_t)t * K * K + i];
        for (int c = 0; c < K; c++) {
            s->ssq[c] += s->ssqth[(size_t)t * K + c];
            s->cnt2[c] += cnt[c];
        }
        s->ncc_ok += cnt[K];
        s->cls_ok += cnt[K + 1];
        s->agree += cnt[K + 2];
    }
    s->n2 += n;
    return CL_OK;
}

cl_status cl_nc_stream_result(cl_nc_stream *s, cl_nc_result *r)
{
    if (s->state == NC_BROKEN)
        return cl_error(CL_EINVAL, "nc: stream failed earlier; reset it");
    if (s->state == NC_PASS1)
        return cl_error(CL_EINVAL,
                        "nc: result asked before pass 1 ended (call end1, then "
                        "feed2 with every sample)");
    if (s->state == NC_PASS2) {
        if (s->n2 != s->n1)
            return cl_error(CL_EINVAL, "nc: pass 2 saw %lld samples but pass 1 saw %lld",
                            (long long)s->n2, (long long)s->n1);
        for (int c = 0; c < s->K; c++)
            if (s->cnt2[c] != s->cnt1[c])
                return cl_error(CL_EINVAL,
                                "nc: class %d has %lld samples in pass 2 but %lld "
                                "in pass 1",
                                c, (long long)s->cnt2[c], (long long)s->cnt1[c]);
        CL_TRY(on_caller(cl_nc_finish, s));
        s->state = NC_DONE;
    }
    *r = s->res;
    return CL_OK;
}

cl_status cl_nc_analyze(const float *H, int64_t N, int dim, const int32_t *y, int K,
                        const float *W, const float *b, const cl_nc_opts *opts,
                        cl_nc_result *r)
{
    cl_nc_stream *s;
    cl_status st;
    CL_TRY(cl_nc_stream_create(&s, dim, K, W, b, opts));
    if ((st = cl_nc_stream_feed1(s, H, N, dim, y)) != CL_OK) goto fail;
    if ((st = cl_nc_stream_end1(s)) != CL_OK) goto fail;
    if ((st = cl_nc_stream_feed2(s, H, N, dim, y)) != CL_OK) goto fail;
    st = cl_nc_stream_result(s, r);
fail:
    cl_nc_stream_destroy(s);
    return st;
}
