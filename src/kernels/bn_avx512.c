/* AVX-512 channel sums of the batch-norm kernels (bn_internal.h): the
 * portable lanes loops of bn.c with the 8 double lanes in one zmm, 16
 * floats per step (the low 8 then the high 8 into the same lanes, which
 * is the portable order: element i goes to lane i % 8). GCC compiled the
 * portable loops to 256-bit halves with the lanes spilled to the stack;
 * these run at the memory speed instead. */
#include "bn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#define INL512                                                                           \
    static inline                                                                        \
        __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx512bw")))

/* la += d, lb += d * d with d = v - K, for the 8 doubles v */
INL512 void acc_sq(__m512d v, __m512d K, __m512d *la, __m512d *lb)
{
    __m512d d = _mm512_sub_pd(v, K);
    *la = _mm512_add_pd(*la, d);
    *lb = _mm512_add_pd(*lb, _mm512_mul_pd(d, d));
}

/* la += g, lb += g * (x - mu), for 8 doubles g and x */
INL512 void acc_grad(__m512d g, __m512d x, __m512d mu, __m512d *la, __m512d *lb)
{
    *la = _mm512_add_pd(*la, g);
    *lb = _mm512_add_pd(*lb, _mm512_mul_pd(g, _mm512_sub_pd(x, mu)));
}

INL512 __m512d lo_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
INL512 __m512d hi_pd(__m512 v)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

T512 void cl_bn_lanes_shifted_avx512(const float *p, int64_t n, double K, double *a, double *b)
{
    __m512d la = _mm512_loadu_pd(a), lb = _mm512_loadu_pd(b), k = _mm512_set1_pd(K);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(p + i);
        acc_sq(lo_pd(v), k, &la, &lb);
        acc_sq(hi_pd(v), k, &la, &lb);
    }
    if (i + 8 <= n) {
        acc_sq(_mm512_cvtps_pd(_mm256_loadu_ps(p + i)), k, &la, &lb);
        i += 8;
    }
    _mm512_storeu_pd(a, la);
    _mm512_storeu_pd(b, lb);
    for (; i < n; i++) {
        double d = (double)p[i] - K;
        a[0] += d;
        b[0] += d * d;
    }
}

T512 void cl_bn_lanes_grad_avx512(const float *x, const float *dy, int64_t n, double mu,
                                  double *a, double *b)
{
    __m512d la = _mm512_loadu_pd(a), lb = _mm512_loadu_pd(b), m = _mm512_set1_pd(mu);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(dy + i), v = _mm512_loadu_ps(x + i);
        acc_grad(lo_pd(g), lo_pd(v), m, &la, &lb);
        acc_grad(hi_pd(g), hi_pd(v), m, &la, &lb);
    }
    if (i + 8 <= n) {
        acc_grad(_mm512_cvtps_pd(_mm256_loadu_ps(dy + i)),
                 _mm512_cvtps_pd(_mm256_loadu_ps(x + i)), m, &la, &lb);
        i += 8;
    }
    _mm512_storeu_pd(a, la);
    _mm512_storeu_pd(b, lb);
    for (; i < n; i++) {
        double g = dy[i];
        a[0] += g;
        b[0] += g * ((double)x[i] - mu);
    }
}

/* the ReLU mask of 16 (or, with the mask lm, fewer) floats */
INL512 __mmask16 relu_on(const float *x, const float *y, __m512 m, __m512 k, __m512 bb,
                         __mmask16 lm)
{
    if (y) return _mm512_mask_cmp_ps_mask(lm, _mm512_maskz_loadu_ps(lm, y), _mm512_setzero_ps(),
                                          _CMP_GT_OQ);
    __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(lm, x), m), k), bb);
    return _mm512_mask_cmp_ps_mask(lm, v, _mm512_setzero_ps(), _CMP_GT_OQ);
}

T512 void cl_bn_lanes_grad_mask_avx512(const float *x, const float *dy, const float *y, float m,
                                       float k, float bb, float *gout, int64_t n, double mu,
                                       double *a, double *b)
{
    __m512d la = _mm512_loadu_pd(a), lb = _mm512_loadu_pd(b), md = _mm512_set1_pd(mu);
    __m512 mv = _mm512_set1_ps(m), kv = _mm512_set1_ps(k), bv = _mm512_set1_ps(bb);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 on = relu_on(x + i, y ? y + i : NULL, mv, kv, bv, 0xffff);
        __m512 g = _mm512_maskz_loadu_ps(on, dy + i), v = _mm512_loadu_ps(x + i);
        if (gout) _mm512_storeu_ps(gout + i, g);
        acc_grad(lo_pd(g), lo_pd(v), md, &la, &lb);
        acc_grad(hi_pd(g), hi_pd(v), md, &la, &lb);
    }
    if (i + 8 <= n) {
        __mmask16 on = relu_on(x + i, y ? y + i : NULL, mv, kv, bv, 0xff);
        __m512 g = _mm512_maskz_loadu_ps(on, dy + i), v = _mm512_maskz_loadu_ps(0xff, x + i);
        if (gout) _mm256_storeu_ps(gout + i, _mm512_castps512_ps256(g));
        acc_grad(lo_pd(g), lo_pd(v), md, &la, &lb);
        i += 8;
    }
    _mm512_storeu_pd(a, la);
    _mm512_storeu_pd(b, lb);
    for (; i < n; i++) {
        int on = y ? y[i] > 0.0f : (x[i] - m) * k + bb > 0.0f;
        double g = on ? dy[i] : 0.0f;
        if (gout) gout[i] = (float)g;
        a[0] += g;
        b[0] += g * ((double)x[i] - mu);
    }
}

#else
/* never called off x86-64 (bn.c checks cl_isa_current first) */
void cl_bn_lanes_shifted_avx512(const float *p, int64_t n, double K, double *a, double *b)
{
    (void)p, (void)n, (void)K, (void)a, (void)b;
}
void cl_bn_lanes_grad_avx512(const float *x, const float *dy, int64_t n, double mu, double *a,
                             double *b)
{
    (void)x, (void)dy, (void)n, (void)mu, (void)a, (void)b;
}
void cl_bn_lanes_grad_mask_avx512(const float *x, const float *dy, const float *y, float m,
                                  float k, float bb, float *gout, int64_t n, double mu, double *a,
                                  double *b)
{
    (void)x, (void)dy, (void)y, (void)m, (void)k, (void)bb, (void)gout, (void)n, (void)mu;
    (void)a, (void)b;
}
#endif
