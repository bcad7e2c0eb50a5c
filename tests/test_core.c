#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/error.h"
#include "collapse/mem.h"
#include "collapse/rng.h"

Test(core, error_message_and_status)
{
    cl_status st = cl_error(CL_EIO, "%s: cannot open", "x.bin");
    cr_assert_eq(st, CL_EIO);
    cr_assert_str_eq(cl_errmsg(), "x.bin: cannot open");
    cr_assert_str_eq(cl_status_name(CL_EFORMAT), "bad file format");
}

Test(core, alloc_aligned_zeroed_and_overflow)
{
    float *p = cl_alloc_array(1000, sizeof(float), "test");
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % CL_ALIGN, 0);
    for (int i = 0; i < 1000; i++) cr_assert_eq(p[i], 0.0f);
    cl_free(p);
    void *q = cl_alloc_array(SIZE_MAX / 2, 4, "huge");
    cr_assert_null(q);
    cr_assert_neq(strstr(cl_errmsg(), "huge"), NULL);
}

Test(core, rng_deterministic_and_uniform)
{
    cl_rng a, b;
    cl_rng_seed(&a, 42);
    cl_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) cr_assert_eq(cl_rng_u64(&a), cl_rng_u64(&b));
    double mean = 0, var = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = cl_rng_normal(&a);
        mean += z;
        var += z * z;
    }
    mean /= n;
    var = var / n - mean * mean;
    cr_assert(fabs(mean) < 0.01, "normal mean %g", mean);
    cr_assert(fabs(var - 1) < 0.02, "normal var %g", var);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[cl_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++) cr_assert(abs(counts[i] - 10000) < 500);
}

Test(core, rng_shuffle_is_permutation)
{
    cl_rng r;
    cl_rng_seed(&r, 7);
    int32_t idx[100];
    for (int i = 0; i < 100; i++) idx[i] = i;
    cl_rng_shuffle_i32(&r, idx, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1);
    cr_assert(moved > 80);
}

Test(core, sgemm_matches_naive_all_transposes)
{
    cl_rng r;
    cl_rng_seed(&r, 1);
    enum { M = 37, N = 29, K = 53 };
    float A[M * K], B[K * N], C1[M * N], C2[M * N];
    for (int i = 0; i < M * K; i++) A[i] = (float)cl_rng_normal(&r);
    for (int i = 0; i < K * N; i++) B[i] = (float)cl_rng_normal(&r);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < M * N; i++) C1[i] = C2[i] = (float)i * 0.01f;
            cl_sgemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C1, N);
            cl_sgemm_naive(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C2, N);
            for (int i = 0; i < M * N; i++)
                cr_assert(fabsf(C1[i] - C2[i]) <= 1e-4f * (1 + fabsf(C2[i])),
                          "ta=%d tb=%d i=%d %g vs %g", ta, tb, i, C1[i], C2[i]);
        }
}

Test(core, blas_is_openmp_build)
{
    cr_assert_str_eq(cl_blas_threading(), "OpenMP");
}

Test(core, realloc_keeps_prefix_and_zeroes_rest)
{
    char *p = cl_realloc(NULL, 0, 4, "t");
    cr_assert_not_null(p);
    memcpy(p, "abc", 4);
    p = cl_realloc(p, 4, 100, "t");
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "abc");
    cr_assert_eq((uintptr_t)p % CL_ALIGN, 0);
    for (int i = 4; i < 100; i++) cr_assert_eq(p[i], 0);
    p = cl_realloc(p, 100, 2, "t");
    cr_assert(p && p[0] == 'a' && p[1] == 'b');
    cl_free(p);
    cr_assert_null(cl_realloc(NULL, 0, SIZE_MAX, "huge"));
    cr_assert_neq(strstr(cl_errmsg(), "huge"), NULL);
}
