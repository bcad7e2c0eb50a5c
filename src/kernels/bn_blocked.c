/* Batch normalisation of channel-blocked tensors (kernels_blocked.h), the
 * formulas of kernels_dense.h's cl_bn_* (the per-channel finishing steps
 * are bn_internal.h's, shared with bn.c). AVX-512 only: every vector is
 * the 16 channels of one pixel, so the per-channel constants are vectors
 * and the sums are per lane.
 *
 * - Sums in double (each 16-channel vector as two 8-double halves), with
 *   the statistics shifted by the channel's first value (as bn.c). The
 *   threads split the images (a block of 16 channels is all there is at
 *   ResNet-20's first stage); each keeps its own partial sums, added in
 *   thread order: deterministic for a thread count.
 * - The element-wise float operations are bn.c's, in the same order and
 *   without FMA contraction: the apply (x - m) * k + b [+ r], ReLU as
 *   max(0, v) with NaN kept; dx = a g + b (x - mu) + c.
 * - NCHW tensors on the side (the residual, y, dy, g) are read and written
 *   16 pixels x 16 channels at a time through a register transpose
 *   (blocked_io.h), so a BasicBlock keeps NCHW at its edges without a
 *   separate conversion pass. */
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

static int bnb_threads(void)
{
    return imax(1, imin(omp_get_max_threads(), MAX_T));
}

#if defined(__x86_64__)
#include "blocked_io.h"

/* a (two halves of 8 doubles) += v - K, b += (v - K)^2 */
AVX512_INLINE void acc_shifted(__m512 v, __m512d Klo, __m512d Khi, __m512d *a, __m512d *b)
{
    const __m512d lo = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), Klo);
    const __m512d hi = _mm512_sub_pd(
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))),
        Khi);
    a[0] = _mm512_add_pd(a[0], lo);
    a[1] = _mm512_add_pd(a[1], hi);
    b[0] = _mm512_add_pd(b[0], _mm512_mul_pd(lo, lo));
    b[1] = _mm512_add_pd(b[1], _mm512_mul_pd(hi, hi));
}

/* a += g, b += g (x - mu) in double */
AVX512_INLINE void acc_grad(__m512 g, __m512 x, __m512d mlo, __m512d mhi, __m512d *a,
                            __m512d *b)
{
    const __m512d glo = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
    const __m512d ghi =
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1)));
    const __m512d xlo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    const __m512d xhi =
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    a[0] = _mm512_add_pd(a[0], glo);
    a[1] = _mm512_add_pd(a[1], ghi);
    b[0] = _mm512_add_pd(b[0], _mm512_mul_pd(glo, _mm512_sub_pd(xlo, mlo)));
    b[1] = _mm512_add_pd(b[1], _mm512_mul_pd(ghi, _mm512_sub_pd(xhi, mhi)));
}

static void store_halves(__m512d lo, __m512d hi, double *dst)
{
    _mm512_storeu_pd(dst, lo);
    _mm512_storeu_pd(dst + 8, hi);
}

/* Thread t's partial statistics: s, ss [C] over its images. */
AVX512 static void stats_part(const float *xb, int N, int C, int64_t HW, int t, int T,
                              double *s, double *ss)
{
    const int n0 = (int)((int64_t)N * t / T), n1 = (int)((int64_t)N * (t + 1) / T);
    for (int cb = 0; cb < C / 16; cb++) {
        const __m512 K = _mm512_loadu_ps(xb + (int64_t)cb * HW * 16); /* x[0, c, 0] */
        const __m512d Klo = _mm512_cvtps_pd(_mm512_castps512_ps256(K));
        const __m512d Khi = _mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(K), 1)));
        __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, b[2] = {a[0], a[0]};
        for (int n = n0; n < n1; n++) {
            const float *p = xb + ((int64_t)n * (C / 16) + cb) * HW * 16;
            for (int64_t i = 0; i < HW; i++)
                acc_shifted(_mm512_loadu_ps(p + 16 * i), Klo, Khi, a, b);
        }
        store_halves(a[0], a[1], s + 16 * cb);
        store_halves(b[0], b[1], ss + 16 * cb);
    }
}

/* Block (n, cb) pixels i0.. of the apply: y = act((x - m) k + b [+ r]) */
AVX512 static void apply_block(const float *xb, const float *res, float *yb, float *yn,
                               int C, int64_t HW, int n, int cb, int64_t i0, __m512 m,
                               __m512 k, __m512 b, int relu)
{
    __m512 v[16], r[16];
    cl_px_load(xb, NULL, C, HW, n, cb, i0, v);
    if (res) cl_px_load(NULL, res, C, HW, n, cb, i0, r);
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        __m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v[j], m), k), b);
        if (res) t = _mm512_add_ps(t, r[j]);
        v[j] = relu ? _mm512_max_ps(zero, t) : t; /* max(0, NaN) = NaN, max(0, -0) = -0 */
    }
    cl_px_store(yb, yn, C, HW, n, cb, i0, v);
}

AVX512 static void apply_all(const float *xb, const float *res, float *yb, float *yn,
                             const float *gamma, const float *beta, const float *mean,
                             const float *invstd, int relu, int N, int C, int64_t HW)
{
    const int CB = C / 16;
    const int64_t nblk = (int64_t)N * CB * (HW / 16);
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nblk; q++) {
        const int64_t nc = q / (HW / 16), i0 = q % (HW / 16) * 16;
        const int n = (int)(nc / CB), cb = (int)(nc % CB);
        const __m512 k = _mm512_mul_ps(_mm512_loadu_ps(gamma + 16 * cb),
                                       _mm512_loadu_ps(invstd + 16 * cb));
        apply_block(xb, res, yb, yn, C, HW, n, cb, i0, _mm512_loadu_ps(mean + 16 * cb), k,
                    _mm512_loadu_ps(beta + 16 * cb), relu);
    }
}
#endif

static void check_args(int C, int HW)
{
    CL_ASSERT(cl_isa_current() == CL_ISA_AVX512);
    CL_ASSERT(C > 0 && C % 16 == 0 && C <= MAX_C && HW > 0 && HW % 16 == 0);
}

void cl_bnb_apply_act(const float *xb, const float *res, float *yb, float *yn,
                      const float *gamma, const float *beta, const float *mean,
                      const float *invstd, int relu, int N, int C, int HW)
{
    check_args(C, HW);
    CL_ASSERT(!yb != !yn);
#if defined(__x86_64__)
    const int T = bnb_threads();
#pragma omp parallel num_threads(T) if (T > 1 && (int64_t)N * C * HW >= PAR_MIN)
    apply_all(xb, res, yb, yn, gamma, beta, mean, invstd, relu, N, C, HW);
#else
    (void)xb, (void)res, (void)gamma, (void)beta, (void)mean, (void)invstd, (void)relu,
        (void)N;
#endif
}

void cl_bnb_forward_train(const float *xb, const float *res, float *yb, float *yn,
                          const float *gamma, const float *beta, const cl_bn_running *run,
                          int relu, int N, int C, int HW, float *mean, float *invstd)
{
    check_args(C, HW);
    CL_ASSERT(!yb != !yn);
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
        apply_all(xb, res, yb, yn, gamma, beta, mean, invstd, relu, N, C, HW);
    }
#else
    (void)xb, (void)res, (void)gamma, (void)beta, (void)run, (void)relu, (void)N,
        (void)mean, (void)invstd;
#endif
}

#if defined(__x86_64__)
typedef struct {
    const float *xb, *yn, *dyn, *dyb, *gamma, *beta, *mean, *invstd;
    float *gn, *dxb;
    int N, C;
    int64_t HW;
} bwd_args;

/* g (pixel vectors) = dy where the ReLU was on: y > 0 (y read from the
 * NCHW yn) or, without yn, (x - m) k + b > 0 (bn.c's relu_mask rule). */
AVX512_INLINE void masked(const bwd_args *A, int n, int cb, int64_t i0, const __m512 *x,
                          __m512 *g)
{
    cl_px_load(A->dyb, A->dyn, A->C, A->HW, n, cb, i0, g);
    const __m512 zero = _mm512_setzero_ps();
    if (A->yn) {
        __m512 y[16];
        cl_px_load(NULL, A->yn, A->C, A->HW, n, cb, i0, y);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            g[j] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y[j], zero, _CMP_GT_OQ), g[j]);
    } else {
        const __m512 m = _mm512_loadu_ps(A->mean + 16 * cb),
                     b = _mm512_loadu_ps(A->beta + 16 * cb);
        const __m512 k = _mm512_mul_ps(_mm512_loadu_ps(A->gamma + 16 * cb),
                                       _mm512_loadu_ps(A->invstd + 16 * cb));
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x[j], m), k), b);
            g[j] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), g[j]);
        }
    }
}

/* Thread t's partial sums s = sum g, sx = sum g (x - mu); g written to gn. */
AVX512 static void grad_part(const bwd_args *A, int t, int T, double *s, double *sx)
{
    const int n0 = (int)((int64_t)A->N * t / T), n1 = (int)((int64_t)A->N * (t + 1) / T);
    for (int cb = 0; cb < A->C / 16; cb++) {
        const __m512 mu = _mm512_loadu_ps(A->mean + 16 * cb);
        const __m512d mlo = _mm512_cvtps_pd(_mm512_castps512_ps256(mu));
        const __m512d mhi = _mm512_cvtps_pd(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(mu), 1)));
        __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, b[2] = {a[0], a[0]};
        for (int n = n0; n < n1; n++)
            for (int64_t i0 = 0; i0 < A->HW; i0 += 16) {
                __m512 x[16], g[16];
                cl_px_load(A->xb, NULL, A->C, A->HW, n, cb, i0, x);
                masked(A, n, cb, i0, x, g);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    acc_grad(g[j], x[j], mlo, mhi, a, b);
                if (A->gn) cl_px_store(NULL, A->gn, A->C, A->HW, n, cb, i0, g);
            }
        store_halves(a[0], a[1], s + 16 * cb);
        store_halves(b[0], b[1], sx + 16 * cb);
    }
}

/* dx = a g + b (x - mu) + c over block q (image, channel block, 16 pixels) */
AVX512 static void dx_all(const bwd_args *A, const float *ca, const float *cbv,
                          const float *cc)
{
    const int CB = A->C / 16;
    const int64_t per = A->HW / 16, nblk = (int64_t)A->N * CB * per;
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nblk; q++) {
        const int64_t nc = q / per, i0 = q % per * 16;
        const int n = (int)(nc / CB), cb = (int)(nc % CB);
        const __m512 a = _mm512_loadu_ps(ca + 16 * cb),
                     b = _mm512_loadu_ps(cbv + 16 * cb);
        const __m512 c = _mm512_loadu_ps(cc + 16 * cb),
                     mu = _mm512_loadu_ps(A->mean + 16 * cb);
        __m512 x[16], g[16];
        cl_px_load(A->xb, NULL, A->C, A->HW, n, cb, i0, x);
        masked(A, n, cb, i0, x, g);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            g[j] = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(a, g[j]),
                                               _mm512_mul_ps(b, _mm512_sub_ps(x[j], mu))),
                                 c);
        cl_px_store(A->dxb, NULL, A->C, A->HW, n, cb, i0, g);
    }
}
#endif

void cl_bnb_backward_relu(const float *xb, const float *yn, const float *dyn,
                          const float *dyb, float *gn, float *dxb, const float *gamma,
                          const float *beta, const float *mean, const float *invstd,
                          int batch_stats, int N, int C, int HW, float *dgamma,
                          float *dbeta)
{
    check_args(C, HW);
    CL_ASSERT(!dyn != !dyb && (yn || beta));
#if defined(__x86_64__)
    const bwd_args A = {xb, yn, dyn, dyb, gamma, beta, mean, invstd, gn, dxb, N, C, HW};
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
    (void)xb, (void)yn, (void)dyn, (void)dyb, (void)gn, (void)dxb, (void)gamma,
        (void)beta, (void)mean, (void)invstd, (void)batch_stats, (void)N, (void)dgamma,
        (void)dbeta;
#endif
}
