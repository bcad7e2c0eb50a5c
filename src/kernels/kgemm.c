/* Small products of kernels_gemm.h: the dispatch by instruction set and the
 * portable C path (the AVX2 and AVX-512 paths come in their own files).
 * FIRST VERSION: every path runs the portable code. */
#include "collapse/kernels_gemm.h"

#include <string.h>

static void nn_generic(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++) {
        float *restrict c = C + (long)i * ldc;
        if (!acc) memset(c, 0, sizeof(float) * (size_t)N);
        for (int k = 0; k < K; k++) {
            const float a = A[(long)i * lda + k];
            const float *restrict b = B + (long)k * ldb;
#pragma omp simd
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

static void nt_generic(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const float *restrict a = A + (long)i * lda, *restrict b = B + (long)j * ldb;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (int k = 0; k < K; k++) s += a[k] * b[k];
            C[(long)i * ldc + j] = acc ? C[(long)i * ldc + j] + s : s;
        }
}

void cl_kgemm_nn(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    (void)isa;
    nn_generic(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

void cl_kgemm_nt(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    (void)isa;
    nt_generic(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

void cl_kgemm_nn_naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = acc ? C[(long)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = (float)s;
        }
}

void cl_kgemm_nt_naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *C, int ldc, int acc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = acc ? C[(long)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)A[(long)i * lda + k] * B[(long)j * ldb + k];
            C[(long)i * ldc + j] = (float)s;
        }
}
