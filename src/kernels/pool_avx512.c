/* The AVX-512 path of the 2x2 stride-2 unpadded max pool (pooling.c holds
 * the dispatch; the other paths run its general loops). Per output row, 16
 * windows at a time: the two input rows are loaded as 32 floats each (masked past the row),
 * split into even and odd columns (vpermt2ps), and the window's four values
 * a = x[2i, 2j], b = x[2i, 2j+1], c = x[2i+1, 2j], d = x[2i+1, 2j+1] replace
 * the running maximum in that order on > or unordered (NaN), the
 * comparisons of max_index: the same value and argmax, ties, NaN and
 * signed zeros included, so all paths give the same bits
 * (tests/test_conv.c). Short rows (7 or 14 windows in the ConvNet) are one
 * masked step, where a portable loop runs scalar. */
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#define INL512                                                                           \
    static inline                                                                        \
        __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx512bw")))

/* the masks of one step of n <= 16 windows: inputs lo (0-15), hi (16-31), outputs */
typedef struct {
    __mmask16 lo, hi, out;
} step_masks;

static inline step_masks masks_of(int n)
{
    unsigned ni = 2u * (unsigned)n;
    step_masks m;
    m.lo = (__mmask16)(ni >= 16 ? 0xFFFFu : (1u << ni) - 1);
    m.hi = (__mmask16)(ni > 16 ? (1u << (ni - 16)) - 1 : 0);
    m.out = (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1);
    return m;
}

/* even and odd columns of the 2n floats at p */
INL512 void split(const float *p, step_masks m, __m512 *even, __m512 *odd)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 a = _mm512_maskz_loadu_ps(m.lo, p), b = _mm512_maskz_loadu_ps(m.hi, p + 16);
    *even = _mm512_permutex2var_ps(a, ie, b);
    *odd = _mm512_permutex2var_ps(a, io, b);
}

/* lanes where v replaces the running maximum m (v > m, or v is NaN) */
INL512 __mmask16 replaces(__m512 v, __m512 m)
{
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

/* The maxima of n <= 16 windows whose rows start at r0 and r1; k[0..2]: the
 * lanes where b, c, d replaced the running maximum. */
INL512 __m512 windows(const float *r0, const float *r1, step_masks m, __mmask16 *k)
{
    __m512 a, b, c, d;
    split(r0, m, &a, &b);
    split(r1, m, &c, &d);
    __m512 v = a;
    v = _mm512_mask_mov_ps(v, k[0] = replaces(b, v), b);
    v = _mm512_mask_mov_ps(v, k[1] = replaces(c, v), c);
    return _mm512_mask_mov_ps(v, k[2] = replaces(d, v), d);
}

T512 void cl_maxpool2_forward_avx512(const float *xp, float *yp, int W, int OH, int OW)
{
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (int64_t)2 * oh * W, *r1 = r0 + W;
        float *yr = yp + (int64_t)oh * OW;
        for (int j = 0; j < OW; j += 16) {
            step_masks m = masks_of(imin(16, OW - j));
            __mmask16 k[3];
            _mm512_mask_storeu_ps(yr + j, m.out, windows(r0 + 2 * j, r1 + 2 * j, m, k));
        }
    }
}

/* interleave even and odd columns back: 2n floats at p */
INL512 void merge(float *p, step_masks m, __m512 even, __m512 odd)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15,
                                         31);
    _mm512_mask_storeu_ps(p, m.lo, _mm512_permutex2var_ps(even, il, odd));
    _mm512_mask_storeu_ps(p + 16, m.hi, _mm512_permutex2var_ps(even, ih, odd));
}

T512 void cl_maxpool2_backward_avx512(const float *xp, const float *dyp, float *dxp, int H, int W,
                                      int OH, int OW)
{
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (int64_t)2 * oh * W, *r1 = r0 + W, *gr = dyp + (int64_t)oh * OW;
        float *d0 = dxp + (int64_t)2 * oh * W, *d1 = d0 + W;
        for (int j = 0; j < OW; j += 16) {
            step_masks m = masks_of(imin(16, OW - j));
            __mmask16 k[3];
            windows(r0 + 2 * j, r1 + 2 * j, m, k);
            /* the argmax: the last value that replaced the maximum */
            __mmask16 md = k[2], mc = k[1] & ~k[2], mb = k[0] & ~k[1] & ~k[2];
            __mmask16 ma = ~(k[0] | k[1] | k[2]);
            /* 0 + dy, as the accumulation into a zeroed dx (-0 becomes +0) */
            __m512 g = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m.out, gr + j));
            merge(d0 + 2 * j, m, _mm512_maskz_mov_ps(ma, g), _mm512_maskz_mov_ps(mb, g));
            merge(d1 + 2 * j, m, _mm512_maskz_mov_ps(mc, g), _mm512_maskz_mov_ps(md, g));
        }
        for (int iw = 2 * OW; iw < W; iw++) d0[iw] = d1[iw] = 0.0f;
    }
    for (int64_t i = (int64_t)2 * OH * W; i < (int64_t)H * W; i++) dxp[i] = 0.0f;
}

#else
/* never called off x86-64 (pooling.c checks cl_isa_current first) */
void cl_maxpool2_forward_avx512(const float *xp, float *yp, int W, int OH, int OW)
{
    (void)xp, (void)yp, (void)W, (void)OH, (void)OW;
}
void cl_maxpool2_backward_avx512(const float *xp, const float *dyp, float *dxp, int H, int W,
                                 int OH, int OW)
{
    (void)xp, (void)dyp, (void)dxp, (void)H, (void)W, (void)OH, (void)OW;
}
#endif
