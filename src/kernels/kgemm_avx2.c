/* The AVX2+FMA path of the small products of kernels_gemm.h (see kgemm.c
 * for the dispatch), for CPUs without AVX-512. Same scheme as
 * kgemm_avx512.c with 16 ymm registers:
 *   nn  tiles of MR <= 6 rows x 2 vectors of 8 columns (12 accumulators, 2 B
 *       loads and MR broadcasts per k); the last vector of the last panel
 *       uses a load/store mask when N is not a multiple of 8 (only there:
 *       vmaskmovps stores are slow on AMD); rows in blocks of 6 (4/2/1-row
 *       tail), each sweeping all column panels (sequential streams).
 *   nt  4 x 3 dot products at once along K in 8 lanes (masked last step),
 *       horizontal sums at the end (a shuffle tree per column of the tile); rows/columns
 * past M/N re-read the last valid one and their sums are dropped. */
#include "kgemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

/* Built with -march=native on an AVX-512 machine, the compiler may still
 * use EVEX encodings (ymm16-31) here ("no-avx512f" clashes with the
 * intrinsics' own target); built for an AVX2 CPU (ARCH=-march=x86-64-v3) it
 * cannot. */
#define T256 __attribute__((target("avx2,fma")))
#define INL256 static inline __attribute__((always_inline, target("avx2,fma")))

/* The lanes < n (0 <= n <= 8) of a maskload/maskstore mask. */
INL256 __m256i lanes_below(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One MR x NV tile (compile-time MR, NV, MASKED after inlining); with
 * MASKED, mlast masks the columns of the last vector (vmaskmovps is slow on
 * some CPUs, so full panels never use it). */
INL256 void nn_tile(const int MR, const int NV, const int MASKED, int K,
                    const float *restrict A, int lda, const float *restrict B, int ldb,
                    float *restrict C, int ldc, int acc, __m256i mlast)
{
    __m256 c[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            const float *p = C + (long)r * ldc + 8 * v;
            c[r][v] = !acc                    ? _mm256_setzero_ps()
                      : MASKED && v == NV - 1 ? _mm256_maskload_ps(p, mlast)
                                              : _mm256_loadu_ps(p);
        }
    for (int k = 0; k < K; k++) {
        __m256 b[2];
        const float *bk = B + (long)k * ldb;
        /* the next tile's line of this B row (past the last tile: a harmless
         * prefetch; the address is formed as an integer) */
        _mm_prefetch((const char *)((uintptr_t)bk + 64 * NV), _MM_HINT_T0);
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            b[v] = MASKED && v == NV - 1 ? _mm256_maskload_ps(bk + 8 * v, mlast)
                                         : _mm256_loadu_ps(bk + 8 * v);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 a = _mm256_broadcast_ss(A + (long)r * lda + k);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            float *p = C + (long)r * ldc + 8 * v;
            if (MASKED && v == NV - 1)
                _mm256_maskstore_ps(p, mlast, c[r][v]);
            else
                _mm256_storeu_ps(p, c[r][v]);
        }
}

/* All column panels of one block of MR rows (rows outer, columns inner:
 * the C rows and B rows are then read as sequential streams). */
INL256 void nn_rows(const int MR, int N, int K, const float *A, int lda, const float *B,
                    int ldb, float *C, int ldc, int acc)
{
    __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 16 <= N; j += 16)
        nn_tile(MR, 2, 0, K, A, lda, B + j, ldb, C + j, ldc, acc, all);
    int rest = N - j;
    if (rest == 8)
        nn_tile(MR, 1, 0, K, A, lda, B + j, ldb, C + j, ldc, acc, all);
    else if (rest > 8)
        nn_tile(MR, 2, 1, K, A, lda, B + j, ldb, C + j, ldc, acc, lanes_below(rest - 8));
    else if (rest > 0)
        nn_tile(MR, 1, 1, K, A, lda, B + j, ldb, C + j, ldc, acc, lanes_below(rest));
}

T256 void cl_kgemm_nn_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                           int ldb, float *C, int ldc, int acc)
{
    int i = 0;
    for (; i + 6 <= M; i += 6)
        nn_rows(6, N, K, A + (long)i * lda, lda, B, ldb, C + (long)i * ldc, ldc, acc);
    for (; i < M;) { /* 5 = 4 + 1, 3 = 2 + 1 */
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        int r = M - i;
        if (r >= 4) {
            nn_rows(4, N, K, a, lda, B, ldb, c, ldc, acc);
            i += 4;
        } else if (r >= 2) {
            nn_rows(2, N, K, a, lda, B, ldb, c, ldc, acc);
            i += 2;
        } else {
            nn_rows(1, N, K, a, lda, B, ldb, c, ldc, acc);
            i += 1;
        }
    }
}

/* [sum x0, sum x1, sum x2, sum x3] (each the sum of its 8 lanes) in one
 * shuffle tree. */
INL256 __m128 sum4(__m256 x0, __m256 x1, __m256 x2, __m256 x3)
{
    __m256 s01 = _mm256_add_ps(_mm256_unpacklo_ps(x0, x1), _mm256_unpackhi_ps(x0, x1));
    __m256 s23 = _mm256_add_ps(_mm256_unpacklo_ps(x2, x3), _mm256_unpackhi_ps(x2, x3));
    __m256 lo = _mm256_castpd_ps(
        _mm256_unpacklo_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23)));
    __m256 hi = _mm256_castpd_ps(
        _mm256_unpackhi_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23)));
    __m256 t = _mm256_add_ps(lo, hi);
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* C[i..i+4, j..j+3] of nt; rows past M / columns past N are computed from
 * the last valid row/column and not stored. */
INL256 void nt_tile(int M, int N, int K, int i, int j, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc, int acc)
{
    const float *a[4], *b[3];
    for (int r = 0; r < 4; r++)
        a[r] = A + (long)(i + r < M ? i + r : M - 1) * lda;
    for (int q = 0; q < 3; q++)
        b[q] = B + (long)(j + q < N ? j + q : N - 1) * ldb;
    __m256 s[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int q = 0; q < 3; q++)
            s[r][q] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 bv[3];
#pragma GCC unroll 3
        for (int q = 0; q < 3; q++)
            bv[q] = _mm256_loadu_ps(b[q] + k);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m256 av = _mm256_loadu_ps(a[r] + k);
#pragma GCC unroll 3
            for (int q = 0; q < 3; q++)
                s[r][q] = _mm256_fmadd_ps(av, bv[q], s[r][q]);
        }
    }
    if (k < K) {
        __m256i m = lanes_below(K - k);
        __m256 bv[3];
#pragma GCC unroll 3
        for (int q = 0; q < 3; q++)
            bv[q] = _mm256_maskload_ps(b[q] + k, m);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m256 av = _mm256_maskload_ps(a[r] + k, m);
#pragma GCC unroll 3
            for (int q = 0; q < 3; q++)
                s[r][q] = _mm256_fmadd_ps(av, bv[q], s[r][q]);
        }
    }
    for (int q = 0; q < 3 && j + q < N; q++) {
        float t[4]; /* column q of the tile: rows i..i+4 */
        _mm_storeu_ps(t, sum4(s[0][q], s[1][q], s[2][q], s[3][q]));
        for (int r = 0; r < 4 && i + r < M; r++) {
            float *p = C + (long)(i + r) * ldc + j + q;
            *p = acc ? *p + t[r] : t[r];
        }
    }
}

T256 void cl_kgemm_nt_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                           int ldb, float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i += 4)
        for (int j = 0; j < N; j += 3)
            nt_tile(M, N, K, i, j, A, lda, B, ldb, C, ldc, acc);
}

/* dst[c * ldd + r] = src[r * lds + c] for an 8 x 8 block (24 shuffles). */
INL256 void transpose8(const float *src, int lds, const float *add, float *dst, int ldd)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + (long)i * lds);
    if (add) /* row i + add[i]: the bias of the dense forward */
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_add_ps(r[i], _mm256_set1_ps(add[i]));
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 2; g++) { /* u[4g + e], lane l: column 4l + e of rows 4g..4g+3 */
        __m256d t0 = _mm256_castps_pd(t[4 * g]), t1 = _mm256_castps_pd(t[4 * g + 1]);
        __m256d t2 = _mm256_castps_pd(t[4 * g + 2]), t3 = _mm256_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
        u[4 * g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
        u[4 * g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
        u[4 * g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
    }
    for (int e = 0; e < 4; e++) {
        _mm256_storeu_ps(dst + (long)e * ldd,
                         _mm256_permute2f128_ps(u[e], u[4 + e], 0x20));
        _mm256_storeu_ps(dst + (long)(4 + e) * ldd,
                         _mm256_permute2f128_ps(u[e], u[4 + e], 0x31));
    }
}

T256 void cl_kgemm_pack_bt_avx2(const float *B, int ldb, int nj, int kc, float *bt)
{
    int q0 = 0, k8 = kc / 8 * 8;
    for (; q0 + 8 <= nj; q0 += 8) {
        for (int k0 = 0; k0 < k8; k0 += 8)
            transpose8(B + (long)q0 * ldb + k0, ldb, NULL, bt + (long)k0 * 64 + q0, 64);
        for (int q = q0; q < q0 + 8; q++)
            for (int k = k8; k < kc; k++)
                bt[k * 64 + q] = B[(long)q * ldb + k];
    }
    for (int q = q0; q < nj; q++)
        for (int k = 0; k < kc; k++)
            bt[k * 64 + q] = B[(long)q * ldb + k];
}

T256 void cl_kgemm_transpose_tile_avx2(const float *src, int lds, const float *add, float *dst,
                                     int ldd)
{
    transpose8(src, lds, add, dst, ldd);
}

#endif
