/* The threaded products and transposes of kernels_gemm.h (kgemm_par.c) and
 * the dense layer's path through them (dense.c). The suite's name starts
 * with kgemm so CI runs it again with every instruction-set path forced
 * (COLLAPSE_ISA): the linear tests take the path cl_isa_current() picks.
 *   - transpose: exact (a copy, plus one float add with add[]), every path
 *     passed explicitly, shapes with full tiles, edges and no full tile;
 *   - nn_par: the same bits as one cl_kgemm_nn call for 1, 2 and 3 threads,
 *     splitting rows and columns (each element is summed in k order);
 *   - nn_tstore_par and tn_par: the same bits as the product and transpose
 *     done apart, for 1, 2 and 3 threads;
 *   - linear with scratch (the kgemm path on SIMD paths) against the naive
 *     twin, and against itself at 1 and 2 threads (same bits). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/kernels_dense.h"
#include "collapse/kernels_gemm.h"
#include "collapse/mem.h"
#include "collapse/rng.h"
#include "common.h"
#include "dense_common.h"

static const cl_isa PATHS[] = {CL_ISA_GENERIC, CL_ISA_AVX2, CL_ISA_AVX512};

Test(kgemm_par, transpose_every_path_exact)
{
    const int sh[][2] = {{16, 16}, {128, 1024}, {1024, 130}, {37, 45},
                         {7, 5},   {33, 16},    {8, 300}};
    cl_rng rng;
    cl_rng_seed(&rng, 11);
    for (int s = 0; s < (int)(sizeof sh / sizeof sh[0]); s++) {
        int R = sh[s][0], C = sh[s][1];
        float *src = tc_randn((int64_t)R * C, &rng, 1, 0), *add = tc_randn(R, &rng, 1, 0);
        float *dst = cl_alloc_array((size_t)(R * C), sizeof(float), "test");
        for (int p = 0; p < 3; p++) {
            if (PATHS[p] > cl_isa_best()) continue;
            for (int a = 0; a < 2; a++) {
                for (int64_t i = 0; i < (int64_t)R * C; i++)
                    dst[i] = NAN;
                cl_kgemm_transpose(PATHS[p], src, R, C, a ? add : NULL, dst);
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < C; c++) {
                        float want = src[(int64_t)r * C + c] + (a ? add[r] : 0.0f);
                        float got = dst[(int64_t)c * R + r];
                        cr_assert(!memcmp(&got, &want, sizeof got),
                                  "%s %dx%d add %d: [%d,%d] %g != %g",
                                  cl_isa_name(PATHS[p]), R, C, a, r, c, got, want);
                    }
            }
        }
        cl_free(src), cl_free(add), cl_free(dst);
    }
}

Test(kgemm_par, nn_par_same_bits_for_any_thread_count)
{
    /* {M, N, K}: rows split (M > N); columns split (N >= M, N >= 128: B
     * packed, in several K slices in the last); small */
    const int sh[][3] = {
        {130, 70, 200}, {64, 1030, 96}, {1024, 128, 33}, {20, 20, 20}, {40, 300, 600}};
    cl_rng rng;
    cl_rng_seed(&rng, 12);
    int T0 = omp_get_max_threads();
    for (int s = 0; s < 5; s++) {
        int M = sh[s][0], N = sh[s][1], K = sh[s][2];
        float *A = tc_randn((int64_t)M * K, &rng, 1, 0),
              *B = tc_randn((int64_t)K * N, &rng, 1, 0);
        float *C0 = tc_randn((int64_t)M * N, &rng, 1, 0);
        float *want = copy(C0, (int64_t)M * N),
              *got = cl_alloc_array((size_t)(M * N), sizeof(float), "test");
        for (int p = 0; p < 3; p++) {
            if (PATHS[p] > cl_isa_best()) continue;
            for (int acc = 0; acc < 2; acc++) {
                memcpy(want, C0, sizeof(float) * (size_t)M * N);
                cl_kgemm_nn(PATHS[p], M, N, K, A, K, B, N, want, N, acc);
                for (int T = 1; T <= 3; T++) {
                    omp_set_num_threads(T);
                    memcpy(got, C0, sizeof(float) * (size_t)M * N);
                    cl_kgemm_nn_par(PATHS[p], M, N, K, A, K, B, N, got, N, acc);
                    cr_assert(!memcmp(got, want, sizeof(float) * (size_t)M * N),
                              "%s %dx%dx%d acc %d: %d threads differ from one call",
                              cl_isa_name(PATHS[p]), M, N, K, acc, T);
                }
            }
        }
        omp_set_num_threads(T0);
        cl_free(A), cl_free(B), cl_free(C0), cl_free(want), cl_free(got);
    }
}

/* The fused products against their unfused definitions (cl_kgemm_nn and
 * cl_kgemm_transpose, one thread): the same bits for 1, 2 and 3 threads.
 * Shapes: rows not a multiple of the 48-row block, several 128-column /
 * 128-product blocks, tiny. */
Test(kgemm_par, fused_transposes_same_bits)
{
    const int sh[][3] = {{100, 300, 70}, {1024, 128, 40}, {10, 37, 300}, {7, 5, 3}};
    cl_rng rng;
    cl_rng_seed(&rng, 14);
    int T0 = omp_get_max_threads();
    for (int s = 0; s < 4; s++) {
        int M = sh[s][0], N = sh[s][1], K = sh[s][2];
        int64_t mn = (int64_t)M * N;
        float *A = tc_randn((int64_t)M * K, &rng, 1, 0),
              *B = tc_randn((int64_t)K * N, &rng, 1, 0);
        float *At = tc_randn((int64_t)K * M, &rng, 1, 0), *add = tc_randn(M, &rng, 1, 0);
        float *C0 = tc_randn(mn, &rng, 1, 0), *prod = copy(C0, mn), *want = copy(C0, mn),
              *got = copy(C0, mn), *Atr = copy(At, (int64_t)K * M);
        for (int p = 0; p < 3; p++) {
            if (PATHS[p] > cl_isa_best()) continue;
            for (int a = 0; a < 2; a++) {
                omp_set_num_threads(1);
                cl_kgemm_nn(PATHS[p], M, N, K, A, K, B, N, prod, N, 0);
                cl_kgemm_transpose(PATHS[p], prod, M, N, a ? add : NULL, want);
                for (int T = 1; T <= 3; T++) {
                    omp_set_num_threads(T);
                    cl_kgemm_nn_tstore_par(PATHS[p], M, N, K, A, K, B, N, a ? add : NULL,
                                           got, M);
                    cr_assert(!memcmp(got, want, sizeof(float) * (size_t)mn),
                              "tstore %s %dx%dx%d add %d, %d threads",
                              cl_isa_name(PATHS[p]), M, N, K, a, T);
                }
            }
            for (int acc = 0; acc < 2; acc++) {
                omp_set_num_threads(1);
                cl_kgemm_transpose(PATHS[p], At, K, M, NULL, Atr); /* [M, K] */
                memcpy(want, C0, sizeof(float) * (size_t)mn);
                cl_kgemm_nn(PATHS[p], M, N, K, Atr, K, B, N, want, N, acc);
                for (int T = 1; T <= 3; T++) {
                    omp_set_num_threads(T);
                    memcpy(got, C0, sizeof(float) * (size_t)mn);
                    cl_kgemm_tn_par(PATHS[p], M, N, K, At, M, B, N, got, N, acc);
                    cr_assert(!memcmp(got, want, sizeof(float) * (size_t)mn),
                              "tn %s %dx%dx%d acc %d, %d threads", cl_isa_name(PATHS[p]),
                              M, N, K, acc, T);
                }
            }
        }
        omp_set_num_threads(T0);
        cl_free(A), cl_free(B), cl_free(At), cl_free(add), cl_free(C0), cl_free(prod);
        cl_free(want), cl_free(got), cl_free(Atr);
    }
}

/* One forward + backward (dx and dW/db accumulated into random values) with
 * or without scratch, on T threads. */
typedef struct {
    float *y, *dx, *dW, *db;
} lin_out;

static lin_out linear_run(const float *x, const float *W, const float *b, const float *dy,
                          const float *dW0, const float *db0, int N, int IN, int OUT,
                          int scratch, int T)
{
    lin_out o = {cl_alloc_array((size_t)(N * OUT), sizeof(float), "test"),
                 cl_alloc_array((size_t)(N * IN), sizeof(float), "test"),
                 copy(dW0, (int64_t)OUT * IN), copy(db0, OUT)};
    int64_t nws = cl_linear_ws_floats(N, IN, OUT);
    float *ws =
        scratch && nws ? cl_alloc_array((size_t)(nws), sizeof(float), "test") : NULL;
    int T0 = omp_get_max_threads();
    omp_set_num_threads(T);
    cl_linear_forward(x, W, b, o.y, N, IN, OUT, ws);
    cl_linear_backward(x, W, dy, o.dx, o.dW, o.db, N, IN, OUT, ws);
    omp_set_num_threads(T0);
    cl_free(ws);
    return o;
}

static void lin_free(lin_out *o)
{
    cl_free(o->y), cl_free(o->dx), cl_free(o->dW), cl_free(o->db);
}

Test(kgemm_par, linear_with_scratch_vs_naive_and_threads)
{
    const int sh[][3] = {
        {128, 200, 70}, {16, 33, 10}, {128, 784, 1024}, {37, 1030, 17}, {15, 40, 40}};
    cl_rng rng;
    cl_rng_seed(&rng, 13);
    for (int s = 0; s < 5; s++) {
        int N = sh[s][0], IN = sh[s][1], OUT = sh[s][2];
        float *x = tc_randn((int64_t)N * IN, &rng, 1, 0),
              *W = tc_randn((int64_t)OUT * IN, &rng, 0.1, 0),
              *b = tc_randn(OUT, &rng, 1, 0),
              *dy = tc_randn((int64_t)N * OUT, &rng, 1, 0),
              *dW0 = tc_randn((int64_t)OUT * IN, &rng, 1, 0),
              *db0 = tc_randn(OUT, &rng, 1, 0);
        cr_assert_eq(cl_linear_ws_floats(N, IN, OUT), N >= 16 ? (int64_t)N * IN : 0);
        lin_out f1 = linear_run(x, W, b, dy, dW0, db0, N, IN, OUT, 1, 1);
        lin_out f2 = linear_run(x, W, b, dy, dW0, db0, N, IN, OUT, 1, 2);
        lin_out o = {cl_alloc_array((size_t)(N * OUT), sizeof(float), "test"),
                     cl_alloc_array((size_t)(N * IN), sizeof(float), "test"),
                     copy(dW0, (int64_t)OUT * IN), copy(db0, OUT)};
        cl_linear_forward_naive(x, W, b, o.y, N, IN, OUT);
        cl_linear_backward_naive(x, W, dy, o.dx, o.dW, o.db, N, IN, OUT);
        expect_near("linear y", f2.y, o.y, (int64_t)N * OUT, KTOL);
        expect_near("linear dx", f2.dx, o.dx, (int64_t)N * IN, KTOL);
        expect_near("linear dW", f2.dW, o.dW, (int64_t)OUT * IN, KTOL);
        expect_near("linear db", f2.db, o.db, OUT, KTOL);
        if (cl_isa_current() != CL_ISA_GENERIC && N >= 16) { /* the kgemm path */
            cr_assert(!memcmp(f1.y, f2.y, sizeof(float) * (size_t)N * OUT),
                      "y: 1 vs 2 threads");
            cr_assert(!memcmp(f1.dx, f2.dx, sizeof(float) * (size_t)N * IN),
                      "dx: 1 vs 2 threads");
            cr_assert(!memcmp(f1.dW, f2.dW, sizeof(float) * (size_t)OUT * IN),
                      "dW: 1 vs 2 threads");
        }
        lin_free(&f1), lin_free(&f2), lin_free(&o);
        cl_free(x), cl_free(W), cl_free(b), cl_free(dy), cl_free(dW0), cl_free(db0);
    }
}
