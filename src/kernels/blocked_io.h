/* Internal (not a public header): AVX-512 reads and writes of 16 pixels x
 * 16 channels for the blocked-layout kernels (kernels_blocked.h), from and
 * to either layout, as 16 "pixel vectors" (vector k = the 16 channels of
 * pixel i0 + k). A blocked tensor gives them with 16 loads; an NCHW one
 * with 16 channel-row loads and a 16 x 16 transpose in registers (unpack
 * within 128-bit lanes, then two lane shuffles: 64 shuffles per 256
 * floats). Include only from files compiled for x86-64 and call only from
 * AVX512 functions. */
#ifndef COLLAPSE_KERNELS_BLOCKED_IO_H
#define COLLAPSE_KERNELS_BLOCKED_IO_H

#include <immintrin.h>
#include <stdint.h>

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define AVX512_INLINE AVX512 static inline __attribute__((always_inline))

/* The BatchNorm apply (x - m) * k + b, k = gamma * invstd (bn.c's float
 * operations; every blocked kernel that applies a BN uses this one, so a
 * fused apply gives the bits of the separate one). */
AVX512_INLINE __m512 cl_bn_apply_vec(__m512 x, __m512 m, __m512 k, __m512 b)
{
    return _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x, m), k), b);
}

/* A store, non-temporal when nt (cl_blk_streamed; the writer ends its share
 * with _mm_sfence()). */
AVX512_INLINE void cl_put(float *p, __m512 v, int nt)
{
    if (nt)
        _mm512_stream_ps(p, v);
    else
        _mm512_storeu_ps(p, v);
}

/* r[k][j] <- r[j][k] */
AVX512_INLINE void cl_tr16(__m512 *r)
{
    __m512 a[16], b[16], c[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const __m512d a0 = _mm512_castps_pd(a[4 * k]),
                      a1 = _mm512_castps_pd(a[4 * k + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * k + 2]),
                      a3 = _mm512_castps_pd(a[4 * k + 3]);
        b[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            c[8 * h + i] = _mm512_shuffle_f32x4(b[8 * h + i], b[8 * h + 4 + i], 0x88);
            c[8 * h + 4 + i] = _mm512_shuffle_f32x4(b[8 * h + i], b[8 * h + 4 + i], 0xdd);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(c[i], c[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(c[i], c[i + 8], 0xdd);
    }
}

/* Pixel vectors i0 .. i0+15 of channels 16 cb .. of image n: from the
 * blocked b [N][C/16][HW][16] if b, else from the NCHW x [N][C][HW]. */
AVX512_INLINE void cl_px_load(const float *b, const float *x, int C, int64_t HW, int n,
                              int cb, int64_t i0, __m512 *r)
{
    if (b) {
        const float *q = b + (((int64_t)n * (C / 16) + cb) * HW + i0) * 16;
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            r[k] = _mm512_loadu_ps(q + 16 * k);
    } else {
        const float *q = x + ((int64_t)n * C + 16 * cb) * HW + i0;
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            r[k] = _mm512_loadu_ps(q + k * HW);
        cl_tr16(r);
    }
}

/* The store of cl_px_load (r is transposed in place for an NCHW x). */
AVX512_INLINE void cl_px_store(float *b, float *x, int C, int64_t HW, int n, int cb,
                               int64_t i0, __m512 *r)
{
    if (b) {
        float *q = b + (((int64_t)n * (C / 16) + cb) * HW + i0) * 16;
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            _mm512_storeu_ps(q + 16 * k, r[k]);
    } else {
        float *q = x + ((int64_t)n * C + 16 * cb) * HW + i0;
        cl_tr16(r);
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            _mm512_storeu_ps(q + k * HW, r[k]);
    }
}

#endif
