#define _GNU_SOURCE
#include "collapse/blas.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Provided by OpenBLAS, not always declared by the cblas.h in use. */
char *openblas_get_corename(void);
int openblas_get_parallel(void);
void openblas_set_num_threads(int);

void cl_sgemm(int tA, int tB, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans,
                tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

void cl_dgemm(int tA, int tB, int M, int N, int K, double alpha,
              const double *A, int lda, const double *B, int ldb, double beta,
              double *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    cblas_dgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans,
                tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

void cl_sgemm_naive(int tA, int tB, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
    }
}

const char *cl_blas_core(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

const char *cl_blas_threading(void)
{
    switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "OpenMP";
    default: return "unknown";
    }
}

void cl_blas_set_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

int cl_blas_get_threads(void) { return omp_get_max_threads(); }

const char *cl_blas_best_core(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return NULL;
}

void cl_blas_ensure_core(char **argv)
{
    if (getenv("COLLAPSE_BLAS_REEXEC")) { /* this is the re-executed process */
        unsetenv("COLLAPSE_BLAS_REEXEC");
        return;
    }
    const char *want = getenv("COLLAPSE_BLAS_CORE");
    if (want && strcmp(want, "auto") == 0) want = NULL;
    else if (!want || !*want) want = cl_blas_best_core();
    const char *have = getenv("OPENBLAS_CORETYPE");
    int same = (!want && !have) || (want && have && strcmp(want, have) == 0);
    if (same) return;
    if (want) setenv("OPENBLAS_CORETYPE", want, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    setenv("COLLAPSE_BLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the kernels already loaded */
    if (have) setenv("OPENBLAS_CORETYPE", have, 1);
}
