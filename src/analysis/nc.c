/* Neural-collapse analyzer: two streaming passes, no D x D matrix.
 *
 * Pass 1 accumulates class sums (double). end1 forms the class means mu
 * [K, D], the global mean mu_G, the centred means A = M [K, D] and the Gram
 * G = A A^T [K, K] with its eigendecomposition.
 *
 * Pass 2 converts each block of rows to residuals r = h - mu_y in double and
 * projects them with one dgemm onto B = [A; W] ([K or 2K, D]):
 *   P = R B^T  [n, K(+K)],   P_A = A r,  P_W = W r.
 * From these, per sample:
 *   - C += P_A^T P_A, so that C / N = A Sw A^T  (the K x K identity),
 *   - ||h - mu_c||^2 = ||r||^2 + 2 r.A_y - 2 r.A_c + ||A_y - A_c||^2, whose
 *     argmin over c is the nearest class mean (only the c-dependent terms),
 *   - W h + b = W r + (W mu_y + b)  (the second term a K x K table).
 * and per class the sum of ||r||^2 (tr Sw and the CDNV variances).
 * The formulas are derived in docs/METRICS.md.
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

/* Rows per thread's pass-2 block: about 512 KB of double residuals, so the
 * block is still in cache when the dgemm reads it; at least 4 rows. */
#define NC_BLOCK_BYTES (512u << 10)

enum { NC_PASS1, NC_PASS2, NC_DONE, NC_BROKEN /* end1 failed half-way: reset first */ };

struct cl_nc_stream {
    int D, K;
    cl_nc_opts opts;
    int has_W, has_b;
    int R; /* rows of B: K, or 2K with W */
    int state;
    int64_t n1, n2; /* samples seen in each pass */
    int64_t *cnt1;  /* [K] per-class counts, pass 1 */
    int64_t *cnt2;  /* [K] pass 2 */
    double *sum;    /* [K, D] class sums, then class means mu */
    double *B;      /* [R, D] rows 0..K-1: A = mu - mu_G; rows K..2K-1: W */
    double *bias;   /* [K] (zeros without b or with opts.nc4_bias = 0) */
    double *G;      /* [K, K] A A^T */
    double *evec;   /* [K, K] eigenvectors of G (columns), ascending eigenvalues */
    double *eval;   /* [K] */
    double *T;      /* [K, K] T[y, c] = W_c . mu_y + b_c */
    double *AD;     /* [K, K] ||A_y - A_c||^2 */
    double *C;      /* [K, K] sum over samples of (A r)(A r)^T */
    double *ssq;    /* [K] per-class sum of ||r||^2 */
    int64_t ncc_ok, cls_ok, agree;
    int64_t blk_rows; /* rows per thread's pass-2 block (about NC_BLOCK_BYTES) */
    int64_t blk_cap;  /* rows allocated, all threads: grows with the batches seen */
    double *blk;      /* [blk_cap, D] residuals */
    double *P;        /* [blk_cap, R] */
    int nthr;      /* per-thread accumulators allocated (omp_get_max_threads at create) */
    double *Cth;   /* [nthr, K, K] per-thread C */
    double *ssqth; /* [nthr, K] per-thread sums of ||r||^2 */
    int64_t *cntth;  /* [nthr, K + 3] per-thread class counts, ncc_ok, cls_ok, agree */
    double *scratch; /* [2 K^2 + K(K-1)/2 + K]: W W^T, W M^T, cosines, norms */
    cl_nc_result res;
};

cl_nc_opts cl_nc_opts_default(void)
{
    return (cl_nc_opts){.weighted_mean = 0, .nc4_bias = 1};
}

void cl_nc_stream_destroy(cl_nc_stream *s)
{
    if (!s) return;
    cl_free(s->cnt1);
    cl_free(s->cnt2);
    cl_free(s->sum);
    cl_free(s->B);
    cl_free(s->bias);
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
    cl_free(s);
}

void cl_nc_stream_reset(cl_nc_stream *s)
{
    size_t K = (size_t)s->K, D = (size_t)s->D;
    s->state = NC_PASS1;
    s->n1 = s->n2 = 0;
    s->ncc_ok = s->cls_ok = s->agree = 0;
    memset(s->cnt1, 0, K * sizeof *s->cnt1);
    memset(s->cnt2, 0, K * sizeof *s->cnt2);
    memset(s->sum, 0, K * D * sizeof *s->sum);
    memset(s->C, 0, K * K * sizeof *s->C);
    memset(s->ssq, 0, K * sizeof *s->ssq);
}

cl_status cl_nc_stream_create(cl_nc_stream **out, int D, int K, const float *W,
                              const float *b, const cl_nc_opts *opts)
{
    *out = NULL;
    if (D < 1) return cl_error(CL_EINVAL, "nc: feature dimension D = %d (need >= 1)", D);
    if (K < 2) return cl_error(CL_EINVAL, "nc: K = %d classes (need >= 2)", K);
    if (K > 46340) /* K * K must fit an int */
        return cl_error(CL_EINVAL, "nc: K = %d classes is too many (at most 46340)", K);
    size_t KD;
    if (!cl_mul_ok((size_t)K, (size_t)D, &KD) || KD > ((size_t)1 << 40))
        return cl_error(CL_ENOMEM, "nc: K x D = %d x %d is too large", K, D);
    cl_nc_stream *s = cl_alloc(sizeof *s, "nc stream");
    if (!s) return CL_ENOMEM;
    s->D = D;
    s->K = K;
    s->opts = opts ? *opts : cl_nc_opts_default();
    s->has_W = W != NULL;
    s->has_b = W && b;
    s->R = W ? 2 * K : K;
    size_t k = (size_t)K, kk = k * k, R = (size_t)s->R;
    s->blk_rows = NC_BLOCK_BYTES / (8 * (size_t)D);
    if (s->blk_rows < 4) s->blk_rows = 4;
    s->cnt1 = cl_alloc_array(k, sizeof(int64_t), "nc counts");
    s->cnt2 = cl_alloc_array(k, sizeof(int64_t), "nc counts");
    s->sum = cl_alloc_array(KD, sizeof(double), "nc class sums");
    s->B = cl_alloc_array(R * (size_t)D, sizeof(double), "nc projections");
    s->bias = cl_alloc_array(k, sizeof(double), "nc bias");
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
    if (!s->cnt1 || !s->cnt2 || !s->sum || !s->B || !s->bias || !s->G || !s->evec ||
        !s->eval || !s->T || !s->AD || !s->C || !s->ssq || !s->scratch || !s->Cth ||
        !s->ssqth || !s->cntth) {
        cl_nc_stream_destroy(s);
        return CL_ENOMEM;
    }
    if (W) {
        double *Wd = s->B + KD;
        for (size_t i = 0; i < KD; i++)
            Wd[i] = W[i];
        if (b && s->opts.nc4_bias)
            for (size_t c = 0; c < k; c++)
                s->bias[c] = b[c];
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
    if (n < 0 || ld < s->D) return cl_error(CL_EINVAL, "nc: feed1: bad n or ld");
    CL_TRY(check_labels(s, y, n, s->n1));
    const int D = s->D;
    for (int64_t i = 0; i < n; i++)
        s->cnt1[y[i]]++;
    /* Each thread owns a contiguous range of columns of every class sum, so
     * every sum is accumulated in sample order whatever the thread count. */
    const int T = n * (int64_t)D > (1 << 18) ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t d0 = (int64_t)D * t / nt, d1 = (int64_t)D * (t + 1) / nt;
        /* Column tiles whose K class-sum slices (~256 KB) stay in cache. */
        int64_t tile = 32768 / s->K;
        tile = tile < 64 ? 64 : tile > 4096 ? 4096 : tile;
        for (int64_t e0 = d0; e0 < d1; e0 += tile) {
            const int64_t e1 = e0 + tile < d1 ? e0 + tile : d1;
            for (int64_t i = 0; i < n; i++) {
                const float *h = H + i * ld;
                double *acc = s->sum + (size_t)y[i] * (size_t)D;
#pragma omp simd
                for (int64_t d = e0; d < e1; d++)
                    acc[d] += h[d];
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
    const int K = s->K, D = s->D;
    const size_t KD = (size_t)K * (size_t)D;
    for (int c = 0; c < K; c++)
        if (s->cnt1[c] == 0)
            return cl_error(CL_EINVAL, "nc: class %d has no samples (K = %d)", c, K);
    double *mu = s->sum;
    for (int c = 0; c < K; c++) {
        double inv = 1.0 / (double)s->cnt1[c];
        double *m = mu + (size_t)c * D;
        for (int d = 0; d < D; d++)
            m[d] *= inv;
        for (int d = 0; d < D; d++)
            if (!isfinite(m[d])) {
                s->state = NC_BROKEN; /* the sums are half turned into means */
                return cl_error(CL_ENUMERIC, "nc: features of class %d are not finite",
                                c);
            }
    }
    /* mu_G, then A = mu - mu_G. */
    double *A = s->B;
    for (int d = 0; d < D; d++) {
        double g = 0;
        if (s->opts.weighted_mean)
            for (int c = 0; c < K; c++)
                g += (double)s->cnt1[c] * mu[(size_t)c * D + d];
        else
            for (int c = 0; c < K; c++)
                g += mu[(size_t)c * D + d];
        g /= s->opts.weighted_mean ? (double)s->n1 : (double)K;
        for (int c = 0; c < K; c++)
            A[(size_t)c * D + d] = mu[(size_t)c * D + d] - g;
    }
    cl_dgemm(0, 1, K, K, D, 1.0, A, D, A, D, 0.0, s->G, K);
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
        cl_dgemm(0, 1, K, K, D, 1.0, mu, D, s->B + KD, D, 0.0, s->T, K);
        for (int y = 0; y < K; y++)
            for (int c = 0; c < K; c++)
                s->T[y * K + c] += s->bias[c];
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
                       double *sst, int64_t *cnt)
{
    const int K = s->K, D = s->D, R = s->R;
    const double *mu = s->sum;
    for (int64_t i0 = 0; i0 < n; i0 += cap) {
        const int nb = (int)(n - i0 < cap ? n - i0 : cap);
        for (int i = 0; i < nb; i++) {
            const float *h = H + (i0 + i) * ld;
            const int yi = y[i0 + i];
            const double *m = mu + (size_t)yi * D;
            double *r = blk + (size_t)i * D, q = 0;
#pragma omp simd reduction(+ : q)
            for (int d = 0; d < D; d++) {
                r[d] = (double)h[d] - m[d];
                q += r[d] * r[d];
            }
            sst[yi] += q;
        }
        cl_dgemm(0, 1, nb, R, D, 1.0, blk, D, s->B, D, 0.0, P, R);
        cl_dgemm(1, 0, K, K, nb, 1.0, P, R, P, R, 1.0, Ct, K);
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
                    double v = p[K + c] + s->T[yi * K + c];
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
    if (n < 0 || ld < s->D) return cl_error(CL_EINVAL, "nc: feed2: bad n or ld");
    CL_TRY(check_labels(s, y, n, s->n2));
    if (n == 0) return CL_OK;
    const int K = s->K;
    /* Threads: all of them for big batches, else one. */
    int T = n * (int64_t)s->D >= (1 << 16) ? s->nthr : 1;
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
        s->blk_cap = 0;
        s->blk = cl_alloc_array((size_t)need * (size_t)s->D, sizeof(double), "nc block");
        s->P =
            cl_alloc_array((size_t)need * (size_t)s->R, sizeof(double), "nc block proj");
        if (!s->blk || !s->P) return CL_ENOMEM;
        s->blk_cap = need;
    }
    const int64_t cap = s->blk_cap / T;
    memset(s->Cth, 0, (size_t)T * K * K * sizeof(double));
    memset(s->ssqth, 0, (size_t)T * K * sizeof(double));
    memset(s->cntth, 0, (size_t)T * (K + 3) * sizeof(int64_t));
    if (T == 1) {
        /* Small batch (or one thread): no region, whose idle thread would
         * only spin; the products are small. */
        feed2_rows(s, H, n, ld, y, s->blk, s->P, cap, s->Cth, s->ssqth, s->cntth);
    } else {
#pragma omp parallel num_threads(T)
        {
            /* Robust to a team smaller than asked for. */
            for (int t = omp_get_thread_num(); t < T; t += omp_get_num_threads()) {
                int64_t lo = n * t / T, hi = n * (t + 1) / T;
                feed2_rows(s, H + lo * ld, hi - lo, ld, y + lo,
                           s->blk + (size_t)(t * cap) * s->D,
                           s->P + (size_t)(t * cap) * s->R, cap,
                           s->Cth + (size_t)t * K * K, s->ssqth + (size_t)t * K,
                           s->cntth + (size_t)t * (K + 3));
            }
        }
    }
    for (int t = 0; t < T; t++) {
        const double *Ct = s->Cth + (size_t)t * K * K;
        const int64_t *cnt = s->cntth + (size_t)t * (K + 3);
        for (int i = 0; i < K * K; i++)
            s->C[i] += Ct[i];
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

static double mean_std(const double *x, int n, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    *sd = sqrt(v / n); /* population std: see docs/METRICS.md */
    return m;
}

/* NC2 of a K x K Gram matrix (of M or W): equinorm, equiangular, maxangle, etf. */
static void nc2(const double *G, int K, double *work, double *equinorm,
                double *equiangular, double *maxangle, double *etf)
{
    double *norms = work, sd;
    for (int c = 0; c < K; c++)
        norms[c] = sqrt(G[c * K + c] > 0 ? G[c * K + c] : 0);
    double m = mean_std(norms, K, &sd);
    *equinorm = sd / m;
    int npairs = K * (K - 1) / 2, k = 0;
    double *cosv = work + K, dev = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double cs = G[i * K + j] / (norms[i] * norms[j]);
            cosv[k++] = cs;
            dev += fabs(cs + 1.0 / (K - 1));
        }
    mean_std(cosv, npairs, &sd);
    *equiangular = sd;
    *maxangle = dev / npairs;
    double fro = 0;
    for (int i = 0; i < K * K; i++)
        fro += G[i] * G[i];
    fro = sqrt(fro);
    double e = 0, sk = sqrt((double)(K - 1));
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double t = ((i == j ? 1.0 : 0.0) - 1.0 / K) / sk;
            double v = G[i * K + j] / fro - t;
            e += v * v;
        }
    *etf = sqrt(e);
}

/* ETF distance of a general K x K matrix Z: || Z/||Z||_F - (I - 11^T/K)/sqrt(K-1) ||_F.
 */
static double etf_dist(const double *Z, int K)
{
    double fro = 0;
    for (int i = 0; i < K * K; i++)
        fro += Z[i] * Z[i];
    fro = sqrt(fro);
    double e = 0, sk = sqrt((double)(K - 1));
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double v = Z[i * K + j] / fro - ((i == j ? 1.0 : 0.0) - 1.0 / K) / sk;
            e += v * v;
        }
    return sqrt(e);
}

static cl_status finish(cl_nc_stream *s)
{
    const int K = s->K, D = s->D;
    const size_t KD = (size_t)K * D;
    cl_nc_result *r = &s->res;
    memset(r, 0, sizeof *r);
    r->N = s->n1;
    r->D = D;
    r->K = K;
    r->has_W = s->has_W;
    r->has_b = s->has_b;
    r->opts = s->opts;
    const double N = (double)s->n1;

    /* NC1: tr(Sw Sb^+) = K sum_i u_i^T (C/N) u_i / lambda_i^2 over the top
     * min(K-1, D) eigenpairs of G = A A^T. */
    int keep = K - 1 < D ? K - 1 : D;
    double lmax = s->eval[K - 1], lmin = s->eval[K - keep];
    if (!(lmax > 0) || !(lmin > 1e-12 * lmax))
        return cl_error(CL_ENUMERIC,
                        "nc: class means span fewer than %d dimensions "
                        "(eigenvalue ratio %.3g); NC1 is undefined",
                        keep, lmax > 0 ? lmin / lmax : 0.0);
    double tr = 0;
    for (int j = K - keep; j < K; j++) {
        double q = 0;
        for (int a = 0; a < K; a++) {
            double ca = 0;
            for (int b = 0; b < K; b++)
                ca += s->C[a * K + b] * s->evec[b * K + j];
            q += s->evec[a * K + j] * ca;
        }
        tr += q / N / (s->eval[j] * s->eval[j]);
    }
    r->fuzz = K * tr;
    r->nc1 = r->fuzz / K;

    double trSw = 0, trG = 0;
    for (int c = 0; c < K; c++)
        trSw += s->ssq[c];
    trSw /= N;
    if (!isfinite(trSw) || !isfinite(r->fuzz))
        return cl_error(CL_ENUMERIC, "nc: features of pass 2 are not finite");
    for (int c = 0; c < K; c++)
        trG += s->G[c * K + c];
    r->nc1_quotient = trSw / (trG / K);

    double cd = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double vi = s->ssq[i] / (double)s->cnt1[i],
                   vj = s->ssq[j] / (double)s->cnt1[j];
            cd += (vi + vj) / (2 * s->AD[i * K + j]);
        }
    r->cdnv = cd / (K * (K - 1) / 2);

    double *WW = s->scratch, *WM = WW + (size_t)K * K, *work = WM + (size_t)K * K;
    nc2(s->G, K, work, &r->equinorm_M, &r->equiangular_M, &r->maxangle_M, &r->etf_M);
    r->ncc_acc = (double)s->ncc_ok / N;

    if (s->has_W) {
        const double *A = s->B, *W = s->B + KD;
        cl_dgemm(0, 1, K, K, D, 1.0, W, D, W, D, 0.0, WW, K);
        cl_dgemm(0, 1, K, K, D, 1.0, W, D, A, D, 0.0, WM, K);
        nc2(WW, K, work, &r->equinorm_W, &r->equiangular_W, &r->maxangle_W, &r->etf_W);
        double nw = 0, nm = 0;
        for (int c = 0; c < K; c++) {
            nw += WW[c * K + c];
            nm += s->G[c * K + c];
        }
        nw = sqrt(nw);
        nm = sqrt(nm);
        double e = 0;
        for (size_t i = 0; i < KD; i++) {
            double v = W[i] / nw - A[i] / nm;
            e += v * v;
        }
        r->nc3 = e;
        r->nc3_zhu = etf_dist(WM, K);
        r->nc4 = 1.0 - (double)s->agree / N;
        r->acc = (double)s->cls_ok / N;
    } else {
        r->equinorm_W = r->equiangular_W = r->maxangle_W = r->etf_W = NAN;
        r->nc3 = r->nc3_zhu = r->nc4 = r->acc = NAN;
    }
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
        CL_TRY(on_caller(finish, s));
        s->state = NC_DONE;
    }
    *r = s->res;
    return CL_OK;
}

cl_status cl_nc_analyze(const float *H, int64_t N, int D, const int32_t *y, int K,
                        const float *W, const float *b, const cl_nc_opts *opts,
                        cl_nc_result *r)
{
    cl_nc_stream *s;
    cl_status st;
    CL_TRY(cl_nc_stream_create(&s, D, K, W, b, opts));
    if ((st = cl_nc_stream_feed1(s, H, N, D, y)) != CL_OK) goto fail;
    if ((st = cl_nc_stream_end1(s)) != CL_OK) goto fail;
    if ((st = cl_nc_stream_feed2(s, H, N, D, y)) != CL_OK) goto fail;
    st = cl_nc_stream_result(s, r);
fail:
    cl_nc_stream_destroy(s);
    return st;
}
