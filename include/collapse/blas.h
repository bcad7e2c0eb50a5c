/* The one BLAS wrapper. Every matrix product in the library goes through
 * cl_sgemm (row-major), so the BLAS in use and its threading are set in one
 * place. The library links the OpenMP build of OpenBLAS: the pthread build,
 * mixed with our own OpenMP loops, makes 2 threads slower than 1. */
#ifndef COLLAPSE_BLAS_H
#define COLLAPSE_BLAS_H

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, all row-major.
 * op(X) = X if tX == 0, X^T if tX == 1. lda/ldb/ldc are row strides of the
 * matrices as stored (A is M x K if !tA, K x M if tA). */
void cl_sgemm(int tA, int tB, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Reference twin of cl_sgemm: triple loop, double accumulation. For tests. */
void cl_sgemm_naive(int tA, int tB, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

/* Same contract in double precision (analysis code accumulates in double). */
void cl_dgemm(int tA, int tB, int M, int N, int K, double alpha,
              const double *A, int lda, const double *B, int ldb, double beta,
              double *C, int ldc);

/* Name of the OpenBLAS kernel set in use ("SkylakeX", "Haswell", ...). */
const char *cl_blas_core(void);
/* "OpenMP", "pthreads" or "sequential": how the loaded OpenBLAS was built. */
const char *cl_blas_threading(void);
/* Sets BLAS threads and OpenMP threads together (n >= 1). */
void cl_blas_set_threads(int n);
int cl_blas_get_threads(void);

/* The best OPENBLAS_CORETYPE for this CPU: "SkylakeX" with AVX-512F/BW/DQ/VL,
 * "Haswell" with AVX2+FMA, else NULL (let OpenBLAS detect). */
const char *cl_blas_best_core(void);

/* OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so a program that
 * wants other kernels must re-execute itself. Call this first thing in main():
 * it decides the wanted core (env COLLAPSE_BLAS_CORE if set: a core name, or
 * "auto" for OpenBLAS's own detection; otherwise cl_blas_best_core()), and if
 * OPENBLAS_CORETYPE differs, fixes the environment and execv()s
 * /proc/self/exe once (guarded by COLLAPSE_BLAS_REEXEC). Returns only if no
 * re-exec was needed or it failed (then the current core stays; the caller
 * reports cl_blas_core()). */
void cl_blas_ensure_core(char **argv);

#endif
