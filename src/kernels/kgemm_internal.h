/* The instruction-set paths of the small products (kernels_gemm.h), each in
 * its own file (kgemm_avx512.c, kgemm_avx2.c); x86-64 only. kgemm.c calls
 * them only when the CPU runs them (cl_isa_best). Same arguments and
 * contract as cl_kgemm_nn / cl_kgemm_nt. */
#ifndef COLLAPSE_KERNELS_KGEMM_INTERNAL_H
#define COLLAPSE_KERNELS_KGEMM_INTERNAL_H

#include "collapse/kernels_gemm.h"

#if defined(__x86_64__)
void cl_kgemm_nn_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                        int ldb, float *C, int ldc, int acc);
void cl_kgemm_nt_avx512(int M, int N, int K, const float *A, int lda, const float *B,
                        int ldb, float *C, int ldc, int acc);
void cl_kgemm_nn_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, float *C, int ldc, int acc);
void cl_kgemm_nt_avx2(int M, int N, int K, const float *A, int lda, const float *B,
                      int ldb, float *C, int ldc, int acc);

/* bt[k * 64 + q] = B[q * ldb + k] for q < nj <= 64, k < kc: a slice of
 * B^T for nt's packed path (kgemm.c). */
void cl_kgemm_pack_bt_avx512(const float *B, int ldb, int nj, int kc, float *bt);
void cl_kgemm_pack_bt_avx2(const float *B, int ldb, int nj, int kc, float *bt);

/* One T x T tile (T = 16, 8): dst[c * ldd + r] = src[r * lds + c]
 * (+ add[r] when add is not NULL), for cl_kgemm_transpose (kgemm_par.c). */
void cl_kgemm_transpose_tile_avx512(const float *src, int lds, const float *add, float *dst,
                                    int ldd);
void cl_kgemm_transpose_tile_avx2(const float *src, int lds, const float *add, float *dst,
                                  int ldd);
#endif

#endif
