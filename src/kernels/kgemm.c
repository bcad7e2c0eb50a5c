/* Small products of kernels_gemm.h: the dispatch by instruction set, the
 * portable C path and the naive twins. The AVX-512 and AVX2+FMA paths live
 * in kgemm_avx512.c and kgemm_avx2.c (x86-64 only); a path the CPU does not
 * run is never called: the requested one is clamped to cl_isa_best(). */
#include "kgemm_internal.h"

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

/* The path to run: isa, or the best the CPU runs if it asks for more. */
static cl_isa runnable(cl_isa isa)
{
    cl_isa best = cl_isa_best();
    return isa > best ? best : isa;
}

void cl_kgemm_nn(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    if (M <= 0 || N <= 0) return;
    switch (runnable(isa)) {
#if defined(__x86_64__)
    case CL_ISA_AVX512: cl_kgemm_nn_avx512(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    case CL_ISA_AVX2: cl_kgemm_nn_avx2(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
#endif
    default: nn_generic(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    }
}

void cl_kgemm_nt(cl_isa isa, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float *C, int ldc, int acc)
{
    if (M <= 0 || N <= 0) return;
    switch (runnable(isa)) {
#if defined(__x86_64__)
    case CL_ISA_AVX512: cl_kgemm_nt_avx512(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    case CL_ISA_AVX2: cl_kgemm_nt_avx2(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
#endif
    default: nt_generic(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    }
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
