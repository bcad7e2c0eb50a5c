/* Batch normalisation of channel-blocked tensors (kernels_blocked.h), the
 * formulas of kernels_dense.h's cl_bn_* (the per-channel finishing steps
 * are bn_internal.h's, shared with bn.c). AVX-512 only: every vector is
 * the 16 channels of one pixel, so the per-channel constants are vectors
 * and the sums are per lane.
 *
 * - Sums: each group of 16 pixels is summed in float (16 terms), each group
 *   sum added in double (the statistics shifted by the channel's first
 *   value, as bn.c). Summing every term in double, as bn.c does, made the
 *   backward 1.5x slower than bn.c's; the 16-term float sums add a relative
 *   error of ~16 FLT_EPSILON to a group, far below what the tests allow.
 *   The threads split the images (a block of 16 channels is all there is
 *   at ResNet-20's first stage); each keeps its own partial sums, added in
 *   thread order: deterministic for a thread count.
 * - The element-wise float operations are bn.c's, in the same order and
 *   without FMA contraction: the apply (x - m) * k + b [+ r], ReLU as
 *   max(0, v) with NaN kept; dx = a g + b (x - mu) + c.
 * - Blocked tensors only: the block converts at its edges (an NCHW dy or
 *   residual read through register transposes here was 2.5x slower than
 *   bn.c: sixteen channel rows 4 KiB apart share one L1 set). */
#include <omp.h>
#include <string.h>

#include "bn_internal.h"
#include "collapse/error.h"
#include "collapse/kernels_blocked.h"
#include "internal.h"

#define MAX_T 8
#define MAX_C 512

/* Channel c's two sums over the threads' partials, in thread order. */
static void part_sums(double (*part)[2][MAX_C], int nt, int c, double *a, double *b)
{
    *a = *b = 0;
    for (int u = 0; u < nt; u++) *a += part[u][0][c], *b += part[u][1][c];
}

static int bnb_threads(void) { return imax(1, imin(omp_get_max_threads(), MAX_T)); }

static void check_args(int C, int HW)
{
    CL_ASSERT(cl_isa_current() == CL_ISA_AVX512);
    CL_ASSERT(C > 0 && C % 16 == 0 && C <= MAX_C && HW > 0 && HW % 16 == 0);
}

#if defined(__x86_64__)
#include "blocked_io.h"

/* a (two halves of 8 doubles) += the float vector s */
AVX512_INLINE void add_wide(__m512 s, __m512d *a)
{
    a[0] = _mm512_add_pd(a[0], _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
    a[1] = _mm512_add_pd(
        a[1], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
}

AVX512_INLINE void store_halves(const __m512d *a, double *dst)
{
    _mm512_storeu_pd(dst, a[0]);
    _mm512_storeu_pd(dst + 8, a[1]);
}

/* Large outputs are written with non-temporal stores (cl_blk_streamed),
 * and a fence ends each thread's share. */
static int streamed(int N, int C, int64_t HW) { return cl_blk_streamed((double)N * C * HW); }

static const float *pixel(const float *b, int C, int64_t HW, int n, int cb, int64_t i)
{
    return b + (((int64_t)n * (C / 16) + cb) * HW + i) * 16;
}

/* Thread t's partial statistics: s = sum (x - K), ss = sum (x - K)^2 [C]. */
AVX512 static void stats_part(const float *xb, int N, int C, int64_t HW, int t, int T,
                              double *s, double *ss)
{
    const int n0 = (int)((int64_t)N * t / T), n1 = (int)((int64_t)N * (t + 1) / T);
    for (int cb = 0; cb < C / 16; cb++) {
        const __m512 K = _mm512_loadu_ps(pixel(xb, C, HW, 0, cb, 0)); /* x[0, c, 0] */
        __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, b[2] = {a[0], a[0]};
        for (int n = n0; n < n1; n++)
            for (int64_t i0 = 0; i0 < HW; i0 += 16) {
                const float *p = pixel(xb, C, HW, n, cb, i0);
                __m512 fs = _mm512_setzero_ps(), fss = fs;
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) {
                    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + 16 * j), K);
                    fs = _mm512_add_ps(fs, d);
                    fss = _mm512_add_ps(fss, _mm512_mul_ps(d, d));
                }
                add_wide(fs, a);
                add_wide(fss, b);
            }
        store_halves(a, s + 16 * cb);
        store_halves(b, ss + 16 * cb);
    }
}

AVX512 static void apply_all(const float *xb, const float *res, float *yb, const float *gamma,
                             const float *beta, const float *mean, const float *invstd,
                             int relu, int N, int C, int64_t HW)
{
    const int CB = C / 16;
    const int64_t per = HW / 16, nblk = (int64_t)N * CB * per;
    const __m512 zero = _mm512_setzero_ps();
    const int nt = streamed(N, C, HW);
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nblk; q++) {
        const int64_t nc = q / per, i0 = q % per * 16;
        const int n = (int)(nc / CB), cb = (int)(nc % CB);
        const __m512 k = _mm512_mul_ps(_mm512_loadu_ps(gamma + 16 * cb),
                                       _mm512_loadu_ps(invstd + 16 * cb));
        const __m512 m = _mm512_loadu_ps(mean + 16 * cb), b = _mm512_loadu_ps(beta + 16 * cb);
        const float *x = pixel(xb, C, HW, n, cb, i0), *r = res ? pixel(res, C, HW, n, cb, i0) : NULL;
        float *y = (float *)pixel(yb, C, HW, n, cb, i0);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            __m512 v = cl_bn_apply_vec(_mm512_loadu_ps(x + 16 * j), m, k, b);
            if (r) v = _mm512_add_ps(v, _mm512_loadu_ps(r + 16 * j));
            cl_put(y + 16 * j, relu ? _mm512_max_ps(zero, v) : v, nt); /* NaN, -0 kept */
        }
    }
    if (nt) _mm_sfence();
}
#endif

void cl_bnb_apply_act(const float *xb, const float *res, float *yb, const float *gamma,
                      const float *beta, const float *mean, const float *invstd, int relu, int N,
                      int C, int HW)
{
    check_args(C, HW);
#if defined(__x86_64__)
    const int T = bnb_threads();
#pragma omp parallel num_threads(T) if (T > 1 && (int64_t)N * C * HW >= PAR_MIN)
    apply_all(xb, res, yb, gamma, beta, mean, invstd, relu, N, C, HW);
#else
    (void)xb, (void)res, (void)yb, (void)gamma, (void)beta, (void)mean, (void)invstd,
        (void)relu, (void)N;
#endif
}

void cl_bnb_forward_train(const float *xb, const float *res, float *yb, const float *gamma,
                          const float *beta, const cl_bn_running *run, int relu, int N, int C,
                          int HW, float *mean, float *invstd)
{
    check_args(C, HW);
#if defined(__x86_64__)
    double part[MAX_T][2][MAX_C];
    const int T = bnb_threads();
    const double M = (double)N * HW;
#pragma omp parallel num_threads(T) if (T > 1 && (int64_t)N * C * HW >= PAR_MIN)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        stats_part(xb, N, C, HW, t, nt, part[t][0], part[t][1]);
#pragma omp barrier
#pragma omp single
        for (int c = 0; c < C; c++) {
            double s, ss;
            part_sums(part, nt, c, &s, &ss);
            const double K = xb[(int64_t)(c / 16) * HW * 16 + c % 16];
            cl_bn_finish_stats(s, ss, K, M, &mean[c], &invstd[c]); /* invstd holds var */
            cl_bn_finish_running(run, c, M, mean[c], invstd[c], &invstd[c]);
        }
        if (yb) apply_all(xb, res, yb, gamma, beta, mean, invstd, relu, N, C, HW);
    }
#else
    (void)xb, (void)res, (void)yb, (void)gamma, (void)beta, (void)run, (void)relu, (void)N,
        (void)mean, (void)invstd;
#endif
}

#if defined(__x86_64__)
typedef struct {
    const float *xb, *res, *yb, *dyb, *gamma, *beta, *mean, *invstd;
    float *gb, *dxb;
    int N, C;
    int64_t HW;
} bwd_args;

/* g[j] = dy where the ReLU was on, for the 16 pixels from i0: y > 0 (y
 * read from yb) or, without yb, the forward's pre-ReLU value (x - m) k + b
 * [+ r] > 0, the same float operations (bn.c's relu_mask rule). */
AVX512_INLINE void masked(const bwd_args *A, int n, int cb, int64_t i0, __m512 *x, __m512 *g)
{
    const float *xp = pixel(A->xb, A->C, A->HW, n, cb, i0);
    const float *dp = pixel(A->dyb, A->C, A->HW, n, cb, i0);
    const float *yp = A->yb ? pixel(A->yb, A->C, A->HW, n, cb, i0) : NULL;
    const float *rp = A->res ? pixel(A->res, A->C, A->HW, n, cb, i0) : NULL;
    const __m512 zero = _mm512_setzero_ps(), m = _mm512_loadu_ps(A->mean + 16 * cb);
    const __m512 b = yp ? zero : _mm512_loadu_ps(A->beta + 16 * cb); /* beta: NULL with yb */
    const __m512 k = _mm512_mul_ps(_mm512_loadu_ps(A->gamma + 16 * cb),
                                   _mm512_loadu_ps(A->invstd + 16 * cb));
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        x[j] = _mm512_loadu_ps(xp + 16 * j);
        __m512 v;
        if (yp)
            v = _mm512_loadu_ps(yp + 16 * j);
        else {
            v = cl_bn_apply_vec(x[j], m, k, b);
            if (rp) v = _mm512_add_ps(v, _mm512_loadu_ps(rp + 16 * j));
        }
        g[j] = _mm512_maskz_loadu_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), dp + 16 * j);
    }
}

/* Thread t's partial sums s = sum g, sx = sum g (x - mu); g written to gb. */
AVX512 static void grad_part(const bwd_args *A, int t, int T, double *s, double *sx)
{
    const int n0 = (int)((int64_t)A->N * t / T), n1 = (int)((int64_t)A->N * (t + 1) / T);
    const int nt = A->gb && streamed(A->N, A->C, A->HW);
    for (int cb = 0; cb < A->C / 16; cb++) {
        const __m512 mu = _mm512_loadu_ps(A->mean + 16 * cb);
        __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, b[2] = {a[0], a[0]};
        for (int n = n0; n < n1; n++)
            for (int64_t i0 = 0; i0 < A->HW; i0 += 16) {
                __m512 x[16], g[16], fs = _mm512_setzero_ps(), fsx = fs;
                masked(A, n, cb, i0, x, g);
                float *go = A->gb ? (float *)pixel(A->gb, A->C, A->HW, n, cb, i0) : NULL;
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) {
                    fs = _mm512_add_ps(fs, g[j]);
                    fsx = _mm512_add_ps(fsx, _mm512_mul_ps(g[j], _mm512_sub_ps(x[j], mu)));
                    if (go) cl_put(go + 16 * j, g[j], nt);
                }
                add_wide(fs, a);
                add_wide(fsx, b);
            }
        store_halves(a, s + 16 * cb);
        store_halves(b, sx + 16 * cb);
    }
    if (nt) _mm_sfence();
}

/* dx = a g + b (x - mu) + c over blocks of 16 pixels (dxb may be dyb) */
AVX512 static void dx_all(const bwd_args *A, const float *ca, const float *cbv, const float *cc)
{
    const int CB = A->C / 16;
    const int64_t per = A->HW / 16, nblk = (int64_t)A->N * CB * per;
    const int nt = streamed(A->N, A->C, A->HW);
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nblk; q++) {
        const int64_t nc = q / per, i0 = q % per * 16;
        const int n = (int)(nc / CB), cb = (int)(nc % CB);
        const __m512 a = _mm512_loadu_ps(ca + 16 * cb), b = _mm512_loadu_ps(cbv + 16 * cb);
        const __m512 c = _mm512_loadu_ps(cc + 16 * cb), mu = _mm512_loadu_ps(A->mean + 16 * cb);
        __m512 x[16], g[16];
        masked(A, n, cb, i0, x, g);
        float *dp = (float *)pixel(A->dxb, A->C, A->HW, n, cb, i0);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            cl_put(dp + 16 * j,
                _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(a, g[j]),
                                            _mm512_mul_ps(b, _mm512_sub_ps(x[j], mu))),
                              c),
                nt);
    }
    if (nt) _mm_sfence();
}
#endif

void cl_bnb_backward_relu(const float *xb, const float *res, const float *yb, const float *dyb,
                          float *gb, float *dxb, const float *gamma, const float *beta, const float *mean,
                          const float *invstd, int batch_stats, int N, int C, int HW,
                          float *dgamma, float *dbeta)
{
    check_args(C, HW);
    CL_ASSERT(yb || beta);
#if defined(__x86_64__)
    const bwd_args A = {xb, res, yb, dyb, gamma, beta, mean, invstd, gb, dxb, N, C, HW};
    double part[MAX_T][2][MAX_C];
    float ca[MAX_C], cbv[MAX_C], cc[MAX_C];
    const int T = bnb_threads();
    const double M = (double)N * HW;
#pragma omp parallel num_threads(T) if (T > 1 && (int64_t)N * C * HW >= PAR_MIN)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        grad_part(&A, t, nt, part[t][0], part[t][1]);
#pragma omp barrier
#pragma omp single
        for (int c = 0; c < C; c++) {
            double s, sx;
            part_sums(part, nt, c, &s, &sx);
            cl_bn_coefs(s, sx, gamma[c], invstd[c], M, batch_stats, &dgamma[c], &dbeta[c],
                        &ca[c], &cbv[c], &cc[c]);
        }
        if (dxb) dx_all(&A, ca, cbv, cc);
    }
#else
    (void)xb, (void)res, (void)yb, (void)dyb, (void)gb, (void)dxb, (void)gamma, (void)beta, (void)mean,
        (void)invstd, (void)batch_stats, (void)N, (void)dgamma, (void)dbeta;
#endif
}
