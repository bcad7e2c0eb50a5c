/* The AVX-512 path of the small products of kernels_gemm.h (see kgemm.c for
 * the dispatch). Register-blocked micro-kernels, no packing:
 *   nn  C[M,N] (+)= A[M,K] @ B[K,N]: a tile of MR <= 6 rows x NV <= 4 vectors
 *       of 16 columns lives in <= 24 zmm accumulators; per k one load of each
 *       B vector, one broadcast of A per row, MR*NV FMAs. The last vector of
 *       a row uses a mask when N is not a multiple of 16. Rows go in blocks
 *       of 6 (4/2/1-row tail), each sweeping all column panels of 64: the
 *       rows of C and B are then sequential streams the hardware prefetches
 *       (columns outer ran at 2/3 the speed on N = 1024, ldb = 4 KiB).
 *   nt  C[M,N] (+)= A[M,K] @ B[N,K]^T: 4 x 4 dot products at once, each
 *       along K in 16 lanes (masked last step); the 16 horizontal sums at
 *       the end in one shuffle tree. Rows/columns past M/N re-read the
 *       last valid one (loads stay in bounds) and their sums are dropped.
 *       (From 64 rows on kgemm.c runs nt as nn on packed slices of B^T.)
 * Summation order: nn adds the K products of each C element in k order
 * (like the naive twin); nt tiles sum 16 strided partial sums, then the
 * lanes. Fixed for a given shape and path: results do not depend on
 * threads or timing. */
#include "kgemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#define INL512                                                                           \
    static inline                                                                        \
        __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx512bw")))

/* One MR x NV tile (compile-time MR, NV after inlining); mlast masks the
 * columns of the last vector. */
INL512 void nn_tile(const int MR, const int NV, int K, const float *restrict A, int lda,
                    const float *restrict B, int ldb, float *restrict C, int ldc, int acc,
                    __mmask16 mlast)
{
    __m512 c[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? mlast : (__mmask16)0xFFFF;
            c[r][v] = acc ? _mm512_maskz_loadu_ps(m, C + (long)r * ldc + 16 * v)
                          : _mm512_setzero_ps();
        }
    for (int k = 0; k < K; k++) {
        __m512 b[4];
        const float *bk = B + (long)k * ldb;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            b[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(mlast, bk + 16 * v)
                               : _mm512_loadu_ps(bk + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(A[(long)r * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *p = C + (long)r * ldc + 16 * v;
            if (v == NV - 1)
                _mm512_mask_storeu_ps(p, mlast, c[r][v]);
            else
                _mm512_storeu_ps(p, c[r][v]);
        }
}

/* All column panels of one block of MR rows (rows outer, columns inner:
 * the C rows and B rows are then read as sequential streams). */
INL512 void nn_rows(const int MR, int N, int K, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc, int acc)
{
    int j = 0;
    for (; j + 64 <= N; j += 64)
        nn_tile(MR, 4, K, A, lda, B + j, ldb, C + j, ldc, acc, 0xFFFF);
    int rest = N - j;
    if (rest <= 0) return;
    int nv = (rest + 15) / 16;
    __mmask16 m = (__mmask16)(0xFFFFu >> (16 * nv - rest));
    switch (nv) { /* rest = 49..63 needs 4 vectors, the last one masked */
    case 4:
        nn_tile(MR, 4, K, A, lda, B + j, ldb, C + j, ldc, acc, m);
        break;
    case 3:
        nn_tile(MR, 3, K, A, lda, B + j, ldb, C + j, ldc, acc, m);
        break;
    case 2:
        nn_tile(MR, 2, K, A, lda, B + j, ldb, C + j, ldc, acc, m);
        break;
    default:
        nn_tile(MR, 1, K, A, lda, B + j, ldb, C + j, ldc, acc, m);
        break;
    }
}

T512 void cl_kgemm_nn_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                             int ldb, float *C, int ldc, int acc)
{
    int i = 0;
    for (; i + 6 <= M; i += 6)
        nn_rows(6, N, K, A + (long)i * lda, lda, B, ldb, C + (long)i * ldc, ldc, acc);
    while (i < M) { /* 5 = 4 + 1, 3 = 2 + 1 */
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        int r = M - i, mr = r >= 4 ? 4 : r >= 2 ? 2 : 1;
        if (mr == 4)
            nn_rows(4, N, K, a, lda, B, ldb, c, ldc, acc);
        else if (mr == 2)
            nn_rows(2, N, K, a, lda, B, ldb, c, ldc, acc);
        else
            nn_rows(1, N, K, a, lda, B, ldb, c, ldc, acc);
        i += mr;
    }
}

/* Per 128-bit lane, the lane sums of x0..x3: lane l of the result holds
 * [sum_l x0, sum_l x1, sum_l x2, sum_l x3] (sum_l = the 4 floats of lane l). */
INL512 __m512 sum4_lanes(__m512 x0, __m512 x1, __m512 x2, __m512 x3)
{
    __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(x0, x1), _mm512_unpackhi_ps(x0, x1));
    __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(x2, x3), _mm512_unpackhi_ps(x2, x3));
    __m512 lo = _mm512_castpd_ps(
        _mm512_unpacklo_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23)));
    __m512 hi = _mm512_castpd_ps(
        _mm512_unpackhi_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23)));
    return _mm512_add_ps(lo, hi);
}

/* The 16 horizontal sums of s[r][q] as one vector, element 4 r + q (a
 * shuffle tree: ~45 instructions instead of 16 separate reductions). */
INL512 __m512 sum16(__m512 s[4][4])
{
    __m512 q0 = sum4_lanes(s[0][0], s[0][1], s[0][2], s[0][3]);
    __m512 q1 = sum4_lanes(s[1][0], s[1][1], s[1][2], s[1][3]);
    __m512 q2 = sum4_lanes(s[2][0], s[2][1], s[2][2], s[2][3]);
    __m512 q3 = sum4_lanes(s[3][0], s[3][1], s[3][2], s[3][3]);
    /* lanes: g = [q0.0+q0.2, q0.1+q0.3, q1.0+q1.2, q1.1+q1.3], h likewise */
    __m512 g = _mm512_add_ps(_mm512_shuffle_f32x4(q0, q1, 0x44),
                             _mm512_shuffle_f32x4(q0, q1, 0xEE));
    __m512 h = _mm512_add_ps(_mm512_shuffle_f32x4(q2, q3, 0x44),
                             _mm512_shuffle_f32x4(q2, q3, 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(g, h, 0x88),
                         _mm512_shuffle_f32x4(g, h, 0xDD));
}

/* C[i..i+4, j..j+4] of nt; rows past M / columns past N are computed from
 * the last valid row/column and not stored. */
INL512 void nt_tile(int M, int N, int K, int i, int j, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc, int acc)
{
    const float *a[4], *b[4];
    for (int r = 0; r < 4; r++) {
        a[r] = A + (long)(i + r < M ? i + r : M - 1) * lda;
        b[r] = B + (long)(j + r < N ? j + r : N - 1) * ldb;
    }
    __m512 s[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            s[r][q] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 bv[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            bv[q] = _mm512_loadu_ps(b[q] + k);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 av = _mm512_loadu_ps(a[r] + k);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                s[r][q] = _mm512_fmadd_ps(av, bv[q], s[r][q]);
        }
    }
    if (k < K) {
        __mmask16 m = (__mmask16)(0xFFFFu >> (16 - (K - k)));
        __m512 bv[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            bv[q] = _mm512_maskz_loadu_ps(m, b[q] + k);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 av = _mm512_maskz_loadu_ps(m, a[r] + k);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                s[r][q] = _mm512_fmadd_ps(av, bv[q], s[r][q]);
        }
    }
    /* the 16 sums as one vector, 4 floats per A row: C[i + r][j..j + 4] */
    __m512 t = sum16(s);
    __mmask8 mq = (__mmask8)(0xFu >> (N - j < 4 ? 4 - (N - j) : 0));
    for (int r = 0; r < 4 && i + r < M; r++) {
        __m128 v = r == 0   ? _mm512_castps512_ps128(t)
                   : r == 1 ? _mm512_extractf32x4_ps(t, 1)
                   : r == 2 ? _mm512_extractf32x4_ps(t, 2)
                            : _mm512_extractf32x4_ps(t, 3);
        float *p = C + (long)(i + r) * ldc + j;
        if (acc) v = _mm_add_ps(v, _mm_maskz_loadu_ps(mq, p));
        _mm_mask_storeu_ps(p, mq, v);
    }
}

T512 void cl_kgemm_nt_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                             int ldb, float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i += 4)
        for (int j = 0; j < N; j += 4)
            nt_tile(M, N, K, i, j, A, lda, B, ldb, C, ldc, acc);
}

/* dst[c * ldd + r] = src[r * lds + c] for a 16 x 16 block: 16 loads, four
 * rounds of 16 shuffles, 16 stores. */
INL512 void transpose16(const float *src, int lds, const float *add, float *dst, int ldd)
{
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(src + (long)i * lds);
    if (add) /* row i + add[i]: the bias of the dense forward */
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_add_ps(r[i], _mm512_set1_ps(add[i]));
    for (int i = 0; i < 16; i += 2) { /* lane l: a[4l] b[4l] a[4l+1] b[4l+1] | ... */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* u[4g + e], lane l: column 4l + e of rows 4g..4g+3 */
        __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int e = 0; e < 4;
         e++) { /* column 4l + e: lane l of u[e], u[4+e], u[8+e], u[12+e] */
        __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
        _mm512_storeu_ps(dst + (long)e * ldd, _mm512_shuffle_f32x4(v0, w0, 0x88));
        _mm512_storeu_ps(dst + (long)(4 + e) * ldd, _mm512_shuffle_f32x4(v0, w0, 0xDD));
        _mm512_storeu_ps(dst + (long)(8 + e) * ldd, _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps(dst + (long)(12 + e) * ldd, _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
}

T512 void cl_kgemm_pack_bt_avx512(const float *B, int ldb, int nj, int kc, float *bt)
{
    int q0 = 0, k16 = kc / 16 * 16;
    for (; q0 + 16 <= nj; q0 += 16) {
        for (int k0 = 0; k0 < k16; k0 += 16)
            transpose16(B + (long)q0 * ldb + k0, ldb, NULL, bt + (long)k0 * 64 + q0, 64);
        for (int q = q0; q < q0 + 16; q++)
            for (int k = k16; k < kc; k++)
                bt[k * 64 + q] = B[(long)q * ldb + k];
    }
    for (int q = q0; q < nj; q++)
        for (int k = 0; k < kc; k++)
            bt[k * 64 + q] = B[(long)q * ldb + k];
}

T512 void cl_kgemm_transpose_tile_avx512(const float *src, int lds, const float *add, float *dst,
                                     int ldd)
{
    transpose16(src, lds, add, dst, ldd);
}

#endif
