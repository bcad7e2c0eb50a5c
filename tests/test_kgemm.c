/* Small products (kernels_gemm.h): every instruction-set path this CPU runs
 * (passed explicitly) against the naive twins, and the path choice (isa.h).
 *
 * Error bound: a float sum of K products (FMA or not) plus the old C is
 * within gamma_{K+1} ~ (K + 1) u of its exact value relative to
 * |C0| + sum_k |a_k b_k| in the worst case (Higham, Accuracy and Stability
 * of Numerical Algorithms, 2nd ed., eq. 3.5 / Sec. 3.1), u = FLT_EPSILON/2.
 * That bound grows with K and would hide a wrong term at K = 1024, while
 * for these random inputs (uniform in [-1, 1]) the rounding errors add up
 * like a random walk: over all shapes and paths the largest measured error
 * is 2.5 FLT_EPSILON x (|C0| + sum_k |a_k b_k|). We check
 *   |C - C_naive| <= ERR_EPS * FLT_EPSILON * (|C0| + sum_k |a_k b_k|),
 * ERR_EPS = 8 (3x margin); a wrong element, a missed or doubled k or a
 * dropped acc breaks it by orders of magnitude. Outside the M x N block (row padding up
 * to ldc) C must not change; acc = 0 must overwrite a C full of NaN. Matrices are
 * malloc'ed to their exact extent (last row ends at the end of the block),
 * so ASan sees an unmasked read past a tail. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/kernels_gemm.h"
#include "collapse/rng.h"
#include "common.h"

#define ERR_EPS 8.0

static const int DIMS[] = {1, 3, 15, 16, 17, 33, 64, 100, 257};
#define NDIMS ((int)(sizeof DIMS / sizeof DIMS[0]))
/* Combinations above this many multiply-adds are skipped (time), except
 * the explicit large shapes below (the last two take nt's packed path for
 * M >= 128 over several K slices and column panels). */
#define MAX_MNK 150000L
static const int BIG[][3] = {{64, 257, 100}, {257, 64, 33},  {100, 100, 257},
                             {17, 257, 257}, {64, 256, 64},  {16, 1024, 16},
                             {33, 17, 1024}, {130, 70, 200}, {128, 33, 129}};
#define NBIG ((int)(sizeof BIG / sizeof BIG[0]))

/* rows x cols matrix with row stride ld, allocated to its exact extent. */
static float *mat(int rows, int cols, int ld, cl_rng *r)
{
    size_t n = rows > 0 && cols > 0 ? (size_t)(rows - 1) * ld + cols : 1;
    float *p = malloc(n * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(cl_rng_uniform(r) * 2 - 1);
    return p;
}

static size_t extent(int rows, int cols, int ld)
{
    return rows > 0 && cols > 0 ? (size_t)(rows - 1) * ld + cols : 1;
}

/* One product on one path, checked element by element. nt: B is [N, K]. */
static void check_one(cl_isa isa, int nt, int M, int N, int K, int pad, int acc,
                      cl_rng *r)
{
    int lda = K + pad, ldb = (nt ? K : N) + pad, ldc = N + 2 * pad;
    float *A = mat(M, K, lda, r), *B = nt ? mat(N, K, ldb, r) : mat(K, N, ldb, r);
    float *C = mat(M, N, ldc, r);
    size_t nc = extent(M, N, ldc);
    if (!acc)
        for (size_t i = 0; i < nc; i++)
            if ((int)(i % (size_t)ldc) < N) C[i] = NAN;
    float *C0 = malloc(nc * sizeof(float)), *ref = malloc(nc * sizeof(float));
    cr_assert(C0 && ref);
    memcpy(C0, C, nc * sizeof(float));
    memcpy(ref, C, nc * sizeof(float));
    if (nt) {
        cl_kgemm_nt(isa, M, N, K, A, lda, B, ldb, C, ldc, acc);
        cl_kgemm_nt_naive(M, N, K, A, lda, B, ldb, ref, ldc, acc);
    } else {
        cl_kgemm_nn(isa, M, N, K, A, lda, B, ldb, C, ldc, acc);
        cl_kgemm_nn_naive(M, N, K, A, lda, B, ldb, ref, ldc, acc);
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc && (size_t)i * ldc + j < nc; j++) {
            size_t e = (size_t)i * ldc + j;
            if (j >= N) { /* padding: untouched, bit for bit */
                cr_assert(!memcmp(&C[e], &C0[e], sizeof(float)),
                          "%s %s %dx%dx%d: padding C[%d][%d] changed", cl_isa_name(isa),
                          nt ? "nt" : "nn", M, N, K, i, j);
                continue;
            }
            double mag = acc ? fabs(C0[e]) : 0.0;
            for (int k = 0; k < K; k++) {
                float b = nt ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                mag += fabs((double)A[(size_t)i * lda + k] * b);
            }
            double tol = ERR_EPS * (double)FLT_EPSILON * mag + 1e-30;
            cr_assert(
                isfinite(C[e]) && fabs((double)C[e] - ref[e]) <= tol,
                "%s %s %dx%dx%d pad %d acc %d: C[%d][%d] = %.9g, naive %.9g (tol %.3g)",
                cl_isa_name(isa), nt ? "nt" : "nn", M, N, K, pad, acc, i, j, C[e], ref[e],
                tol);
        }
    free(A), free(B), free(C), free(C0), free(ref);
}

/* Every shape of DIMS^3 up to MAX_MNK and the BIG ones, acc 0/1, tight and
 * padded strides, on every path this CPU runs. */
static void check_all(int nt)
{
    cl_rng r;
    cl_rng_seed(&r, 7 + nt);
    for (int isa = CL_ISA_GENERIC; isa <= (int)cl_isa_best(); isa++) {
        int n = 0;
        for (int a = 0; a < NDIMS; a++)
            for (int b = 0; b < NDIMS; b++)
                for (int c = 0; c < NDIMS; c++) {
                    int M = DIMS[a], N = DIMS[b], K = DIMS[c];
                    if ((long)M * N * K > MAX_MNK) continue;
                    check_one((cl_isa)isa, nt, M, N, K,
                              n % 3 == 0   ? 0
                              : n % 3 == 1 ? 1
                                           : 16,
                              n % 2, &r);
                    check_one((cl_isa)isa, nt, M, N, K, n % 3 == 0 ? 5 : 0, !(n % 2), &r);
                    n++;
                }
        for (int t = 0; t < NBIG; t++)
            for (int acc = 0; acc < 2; acc++)
                check_one((cl_isa)isa, nt, BIG[t][0], BIG[t][1], BIG[t][2], acc ? 3 : 0,
                          acc, &r);
        cr_assert(n > 200);
    }
}

/* Every column count 1..144 (all tail cases of the 64-column panels: 1 to
 * 4 vectors, the last one masked) and every row count 1..7 (6-row blocks
 * with 4/2/1-row tails) at a few depths, on every path. (N = 49..63 once
 * computed only the first vector of the last panel on AVX-512.) */
Test(kgemm, every_tail_shape)
{
    cl_rng r;
    cl_rng_seed(&r, 21);
    static const int KS[] = {1, 2, 17};
    for (int isa = CL_ISA_GENERIC; isa <= (int)cl_isa_best(); isa++)
        for (int nt = 0; nt < 2; nt++)
            for (int M = 1; M <= 7; M++)
                for (int k = 0; k < 3; k++)
                    for (int N = 1; N <= 144; N++)
                        check_one((cl_isa)isa, nt, M, N, KS[k], N % 3 ? 0 : 16, N % 2, &r);
}

Test(kgemm, nn_every_path_vs_naive)
{
    check_all(0);
}

Test(kgemm, nt_every_path_vs_naive)
{
    check_all(1);
}

/* K = 0: acc = 0 writes zeros over NaN, acc = 1 leaves C as it was; M or
 * N = 0 touches nothing. */
Test(kgemm, empty_products)
{
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    for (int isa = CL_ISA_GENERIC; isa <= (int)cl_isa_best(); isa++)
        for (int nt = 0; nt < 2; nt++) {
            void (*f)(cl_isa, int, int, int, const float *, int, const float *, int,
                      float *, int, int) = nt ? cl_kgemm_nt : cl_kgemm_nn;
            float C[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
            f((cl_isa)isa, 2, 3, 0, A, 1, B, 3, C, 3, 0);
            for (int i = 0; i < 6; i++)
                cr_assert(C[i] == 0.0f, "%s K=0 acc=0", cl_isa_name(isa));
            float D[6] = {1, 2, 3, 4, 5, 6};
            f((cl_isa)isa, 2, 3, 0, A, 1, B, 3, D, 3, 1);
            for (int i = 0; i < 6; i++)
                cr_assert(D[i] == (float)(i + 1));
            f((cl_isa)isa, 0, 3, 2, A, 2, B, 3, D, 3, 0);
            f((cl_isa)isa, 2, 0, 2, A, 2, B, 3, D, 3, 0);
            for (int i = 0; i < 6; i++)
                cr_assert(D[i] == (float)(i + 1));
        }
}

/* A path above what the CPU runs falls back to the best one (never runs
 * missing instructions): the result equals the best path's bit for bit. */
Test(kgemm, unsupported_path_is_clamped)
{
    cl_rng r;
    cl_rng_seed(&r, 3);
    float *A = mat(17, 33, 33, &r), *B = mat(33, 40, 40, &r);
    float C1[17 * 40], C2[17 * 40];
    cl_kgemm_nn((cl_isa)(CL_ISA_AVX512 + 1), 17, 40, 33, A, 33, B, 40, C1, 40, 0);
    cl_kgemm_nn(cl_isa_best(), 17, 40, 33, A, 33, B, 40, C2, 40, 0);
    cr_assert(!memcmp(C1, C2, sizeof C1));
    free(A), free(B);
}

/* ---- isa.h ---- */

/* Sets COLLAPSE_ISA (NULL: unsets it). */
static void set_env(const char *v)
{
    if (v)
        setenv("COLLAPSE_ISA", v, 1);
    else
        unsetenv("COLLAPSE_ISA");
}

/* The value of COLLAPSE_ISA now (strdup'ed, or NULL), for restore_env. */
static char *save_env(void)
{
    const char *old = getenv("COLLAPSE_ISA");
    return old ? strdup(old) : NULL;
}

static void restore_env(char *old)
{
    set_env(old);
    free(old);
}

Test(kgemm, isa_names)
{
    cr_assert_str_eq(cl_isa_name(CL_ISA_AVX512), "avx512");
    cr_assert_str_eq(cl_isa_name(CL_ISA_AVX2), "avx2");
    cr_assert_str_eq(cl_isa_name(CL_ISA_GENERIC), "generic");
}

Test(kgemm, isa_env_is_checked_and_honoured)
{
    char *old = save_env();
    set_env(NULL);
    cr_assert_eq(cl_isa_check_env(), CL_OK);
    cr_assert_eq(cl_isa_current(), cl_isa_best());
    set_env("auto");
    cr_assert_eq(cl_isa_check_env(), CL_OK);
    cr_assert_eq(cl_isa_current(), cl_isa_best());
    const char *bad[] = {"avx3", "AVX2", "generic ", "sse"};
    for (int i = 0; i < 4; i++) {
        set_env(bad[i]);
        cr_assert_eq(cl_isa_check_env(), CL_EINVAL, "%s", bad[i]);
        cr_assert(strstr(cl_errmsg(), "COLLAPSE_ISA=") && strstr(cl_errmsg(), bad[i]),
                  "%s", cl_errmsg());
        cr_assert_eq(cl_isa_current(), cl_isa_best()); /* a bad value is not a path */
    }
    for (int isa = CL_ISA_GENERIC; isa <= CL_ISA_AVX512; isa++) {
        set_env(cl_isa_name((cl_isa)isa));
        if (isa <= (int)cl_isa_best()) {
            cr_assert_eq(cl_isa_check_env(), CL_OK);
            cr_assert_eq(cl_isa_current(), (cl_isa)isa, "COLLAPSE_ISA=%s not honoured",
                         cl_isa_name((cl_isa)isa));
        } else { /* more than the CPU runs: an error, and the best path */
            cr_assert_eq(cl_isa_check_env(), CL_EINVAL);
            cr_assert(strstr(cl_errmsg(), "supports at most"), "%s", cl_errmsg());
            cr_assert_eq(cl_isa_current(), cl_isa_best());
        }
    }
    restore_env(old);
}
