/* Small single-threaded matrix products for the hand-written convolution
 * kernels (the Winograd element-wise stage: many products with M, N, K of
 * 16..512), with one path per instruction set (isa.h) and a naive twin;
 * and, built on them, threaded products and transposes for the Linear
 * layers at batch >= 16 (kgemm_par.c, dense.c). Other GEMM-shaped work
 * keeps going through OpenBLAS (blas.h).
 *
 * Row-major; lda/ldb/ldc are row strides. Nothing is allocated (nt uses a
 * 16 KiB stack buffer from 64 rows on, the threaded ones 24-64 KiB per
 * thread). Callers run the single-threaded ones inside their own OpenMP
 * regions (one product per thread).
 *
 * Speed (bench/bench_8_kgemm): 70-100% of the one-core FMA peak on the
 * Winograd shapes. Strides: keep rows 64-byte aligned (ld a multiple of
 * 16) and avoid multiples of 1024 floats (4 KiB): rows that map to the
 * same L1 set defeat the prefetcher; 16x1024x16 nn measured avx2 66 / 88
 * and avx512 88 / 88 GFLOP/s with ldb = ldc = 1024 / 1040, and an odd
 * stride (1025) gives 29 / 69. */
#ifndef COLLAPSE_KERNELS_GEMM_H
#define COLLAPSE_KERNELS_GEMM_H

#include "collapse/isa.h"

/* C [M, N] = A [M, K] @ B [K, N]          (acc == 0: C is OVERWRITTEN)
 * C [M, N] += A [M, K] @ B [K, N]         (acc != 0: ACCUMULATED) */
void cl_kgemm_nn(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc);

/* C [M, N] (=, or += when acc) A [M, K] @ B^T, B stored [N, K] (dot
 * products along rows: the Winograd weight gradient, K = tiles). */
void cl_kgemm_nt(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc);

/* ---- threaded, for the dense layers (kgemm_par.c) ----
 * These open their own OpenMP region (omp_get_max_threads() threads, one
 * when the work is small): call them from outside any parallel region. */

/* cl_kgemm_nn with C split between the threads (columns in panels of 64,
 * B copied panel by panel into a 64 KiB stack buffer, when N >= M; else
 * rows). Each element of C is summed in k order whatever the split: the
 * result does not depend on the thread count. */
void cl_kgemm_nn_par(cl_isa isa, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc, int acc);

/* Ct [N, M] (row stride ldct) = (A [M, K] @ B [K, N])^T, plus add[m] on
 * column m of Ct when add is not NULL: the same bits as cl_kgemm_nn into a
 * buffer then cl_kgemm_transpose, for any thread count (rows of A split
 * between the threads, 48 x 128 blocks transposed from L1). */
void cl_kgemm_nn_tstore_par(cl_isa isa, int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, const float *add, float *Ct, int ldct);

/* C [M, N] (=, or += when acc) At^T @ B [K, N], At stored [K, M] (row
 * stride ldat): the same bits as transposing At and cl_kgemm_nn, for any
 * thread count (rows of C split between the threads, At transposed in
 * 48 x 128 blocks into L1). */
void cl_kgemm_tn_par(cl_isa isa, int M, int N, int K, const float *At, int ldat,
                     const float *B, int ldb, float *C, int ldc, int acc);

/* dst [C, R] = src [R, C]^T, plus add[r] on every element of row r of src
 * when add is not NULL (dst[c, r] = src[r, c] + add[r]). 16 x 16 register
 * tiles (8 x 8 on AVX2), split between the threads. dst != src. */
void cl_kgemm_transpose(cl_isa isa, const float *src, int R, int C, const float *add,
                        float *dst);

/* Naive twins (double accumulation), for tests. */
void cl_kgemm_nn_naive(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc);
void cl_kgemm_nt_naive(int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float *C, int ldc, int acc);

#endif
