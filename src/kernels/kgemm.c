/* Small products of kernels_gemm.h: the dispatch by instruction set, the
 * portable C path and the naive twins. The AVX-512 and AVX2+FMA paths live
 * in kgemm_avx512.c and kgemm_avx2.c (x86-64 only); a path the CPU does not
 * run is never called: the requested one is clamped to cl_isa_best(). */
#include "kgemm_internal.h"

#include <string.h>

/* C[i0..i1, j0..j1] (+)= A @ B, one row at a time (the tails of nn_generic). */
static void nn_rows_generic(int i0, int i1, int j0, int j1, int K, const float *A,
                            int lda, const float *B, int ldb, float *C, int ldc, int acc)
{
    for (int i = i0; i < i1; i++) {
        float *restrict c = C + (long)i * ldc;
        if (!acc)
            for (int j = j0; j < j1; j++)
                c[j] = 0;
        for (int k = 0; k < K; k++) {
            const float a = A[(long)i * lda + k];
            const float *restrict b = B + (long)k * ldb;
#pragma omp simd
            for (int j = j0; j < j1; j++)
                c[j] += a * b[j];
        }
    }
}

/* A GR x GJ block of C in a local array the compiler keeps in vector
 * registers (fixed trip counts), so C is read and written once per block
 * rather than once per k. */
#define GR 4
#define GJ 16
static void nn_block_generic(int K, const float *A, int lda, const float *B, int ldb,
                             float *C, int ldc, int acc)
{
    float c[GR][GJ];
    for (int r = 0; r < GR; r++)
        for (int j = 0; j < GJ; j++)
            c[r][j] = acc ? C[(long)r * ldc + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *restrict b = B + (long)k * ldb;
#pragma GCC unroll 4
        for (int r = 0; r < GR; r++) {
            const float a = A[(long)r * lda + k];
#pragma omp simd
            for (int j = 0; j < GJ; j++)
                c[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < GR; r++)
        for (int j = 0; j < GJ; j++)
            C[(long)r * ldc + j] = c[r][j];
}

static void nn_generic(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc)
{
    int i = 0, nj = N / GJ * GJ;
    for (; i + GR <= M; i += GR) {
        for (int j = 0; j < nj; j += GJ)
            nn_block_generic(K, A + (long)i * lda, lda, B + j, ldb, C + (long)i * ldc + j,
                             ldc, acc);
        nn_rows_generic(i, i + GR, nj, N, K, A, lda, B, ldb, C, ldc, acc);
    }
    nn_rows_generic(i, M, 0, N, K, A, lda, B, ldb, C, ldc, acc);
}

/* C[i][j] (+)= the dot product of row i of A and row j of B. */
static void nt_one_generic(int i, int j, int K, const float *A, int lda, const float *B,
                           int ldb, float *C, int ldc, int acc)
{
    const float *restrict a = A + (long)i * lda, *restrict b = B + (long)j * ldb;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < K; k++)
        s += a[k] * b[k];
    C[(long)i * ldc + j] = acc ? C[(long)i * ldc + j] + s : s;
}

/* 2 x 4 dot products in one pass over K: each loaded element of A is used
 * 4 times and each of B twice (8 vector accumulators). */
static void nt_block_generic(int i, int j, int K, const float *A, int lda, const float *B,
                             int ldb, float *C, int ldc, int acc)
{
    const float *restrict a0 = A + (long)i * lda, *restrict a1 = a0 + lda;
    const float *restrict b0 = B + (long)j * ldb, *restrict b1 = b0 + ldb,
                          *restrict b2 = b1 + ldb, *restrict b3 = b2 + ldb;
    float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13)
    for (int k = 0; k < K; k++) {
        s00 += a0[k] * b0[k], s01 += a0[k] * b1[k], s02 += a0[k] * b2[k],
            s03 += a0[k] * b3[k];
        s10 += a1[k] * b0[k], s11 += a1[k] * b1[k], s12 += a1[k] * b2[k],
            s13 += a1[k] * b3[k];
    }
    float s[2][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}};
    for (int r = 0; r < 2; r++)
        for (int q = 0; q < 4; q++) {
            float *p = C + (long)(i + r) * ldc + j + q;
            *p = acc ? *p + s[r][q] : s[r][q];
        }
}

static void nt_generic(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc)
{
    int mi = M / 2 * 2, nj = N / 4 * 4;
    for (int i = 0; i < mi; i += 2) {
        for (int j = 0; j < nj; j += 4)
            nt_block_generic(i, j, K, A, lda, B, ldb, C, ldc, acc);
        for (int j = nj; j < N; j++)
            for (int r = i; r < i + 2; r++)
                nt_one_generic(r, j, K, A, lda, B, ldb, C, ldc, acc);
    }
    for (int j = 0; j < N && mi < M; j++)
        nt_one_generic(mi, j, K, A, lda, B, ldb, C, ldc, acc);
}

/* bt[k * 64 + q] = B[q * ldb + k] for q < nj, k < kc (portable path). */
static void pack_bt_generic(const float *B, int ldb, int nj, int kc, float *bt)
{
    for (int q = 0; q < nj; q++)
        for (int k = 0; k < kc; k++)
            bt[k * 64 + q] = B[(long)q * ldb + k];
}

/* The kernels of one instruction-set path. */
typedef struct {
    void (*nn)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               float *C, int ldc, int acc);
    void (*nt)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               float *C, int ldc, int acc);
    void (*pack_bt)(const float *B, int ldb, int nj, int kc, float *bt);
    int nt_pack_min_m; /* nt runs as nn on packed B^T from this many rows on */
} kgemm_path;

/* Indexed by cl_isa. The packed nt pays from 64 rows with the SIMD
 * transposes, from 256 with the scalar one (see nt_packed). */
static const kgemm_path PATHS[] = {
    [CL_ISA_GENERIC] = {nn_generic, nt_generic, pack_bt_generic, 256},
#if defined(__x86_64__)
    [CL_ISA_AVX2] = {cl_kgemm_nn_avx2, cl_kgemm_nt_avx2, cl_kgemm_pack_bt_avx2, 64},
    [CL_ISA_AVX512] = {cl_kgemm_nn_avx512, cl_kgemm_nt_avx512, cl_kgemm_pack_bt_avx512,
                       64},
#else /* only the portable path exists (cl_isa_best() is GENERIC) */
    [CL_ISA_AVX2] = {nn_generic, nt_generic, pack_bt_generic, 256},
    [CL_ISA_AVX512] = {nn_generic, nt_generic, pack_bt_generic, 256},
#endif
};

/* The path to run: isa, or the best the CPU runs if it asks for more (a
 * path the CPU lacks is never called). */
static const kgemm_path *path(cl_isa isa)
{
    cl_isa best = cl_isa_best();
    return &PATHS[isa > best || isa < CL_ISA_GENERIC ? best : isa];
}

void cl_kgemm_nn(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    if (M <= 0 || N <= 0) return;
    path(isa)->nn(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

/* nt for many rows: B^T in slices of PK x 64 floats (16 KiB, stays in L1)
 * packed on the stack (a 16x16 / 8x8 register transpose on the SIMD
 * paths), each run through nn for all M rows; C is read and written once
 * per slice. It beats the dot-product tiles from 64 rows on with SIMD
 * (measured, avx512 / avx2 GFLOP/s: 64^2 x 1024 81 -> 91 / 72 -> 91,
 * 256^3 73 -> 104 / 66 -> 106, 512x512x64 55 -> 106 / 44 -> 108; at 32
 * rows 81 -> 77 / 73 -> 78, at 16 rows it loses 30%), and from 256 rows
 * on with the scalar transpose of the portable path. */
#define PK 64

static void nt_packed(const kgemm_path *p, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc, int acc)
{
    float bt[PK * 64];
    for (int k0 = 0; k0 < K; k0 += PK) {
        int kc = K - k0 < PK ? K - k0 : PK;
        for (int j = 0; j < N; j += 64) {
            int nj = N - j < 64 ? N - j : 64;
            p->pack_bt(B + (long)j * ldb + k0, ldb, nj, kc, bt);
            p->nn(M, nj, kc, A + k0, lda, bt, 64, C + j, ldc, acc || k0 > 0);
        }
    }
}

void cl_kgemm_nt(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    if (M <= 0 || N <= 0) return;
    const kgemm_path *p = path(isa);
    if (M >= p->nt_pack_min_m && K > 0)
        nt_packed(p, M, N, K, A, lda, B, ldb, C, ldc, acc);
    else
        p->nt(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

void cl_kgemm_nn_naive(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = acc ? C[(long)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++)
                s += (double)A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = (float)s;
        }
}

void cl_kgemm_nt_naive(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = acc ? C[(long)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++)
                s += (double)A[(long)i * lda + k] * B[(long)j * ldb + k];
            C[(long)i * ldc + j] = (float)s;
        }
}
