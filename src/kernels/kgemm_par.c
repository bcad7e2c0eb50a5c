/* The threaded products and transposes of kernels_gemm.h that the dense
 * layers use (dense.c): cl_kgemm_nn split between OpenMP threads, and a
 * register-tiled transpose (the tiles are in kgemm_avx512.c / kgemm_avx2.c).
 *
 * Why: a linear layer at batch 128 (M or N = 128, the others 1024) sits where
 * OpenBLAS packs more than it multiplies; the unpacked register-blocked nn
 * kernel runs those shapes faster when both operands are laid out for it,
 * which costs transposes of activation-sized blocks (x for the forward, done
 * whole; the forward's output and dy for dW, done in L1-sized blocks inside
 * the products) and never one of the weights (dense.c). bench/bench_2_layers
 * measures the layers. */
#include "kgemm_internal.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#define PAR_FLOPS 262144 /* below this, one thread (a fork/join costs microseconds) */
#define PAR_MIN 32768    /* elements: the transpose's threshold */

static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* Threads for an M x N x K product: one below PAR_FLOPS. */
static int threads_for(int M, int N, int K)
{
    return 2.0 * M * N * K < PAR_FLOPS ? 1 : omp_get_max_threads();
}

/* This thread's share [*lo, *hi) of n items, inside a parallel region. */
static void share(int n, int *lo, int *hi)
{
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = (int)((int64_t)n * t / nt);
    *hi = (int)((int64_t)n * (t + 1) / nt);
}

/* Columns [j0, j1) of C, B copied in panels of PKC x 64 floats (64 KiB on
 * the stack) that the kernel reads at stride 64: B's own rows may lie 4 KiB
 * apart (W in dx = dy W at IN = 1024), where the unpacked kernel ran about
 * a quarter slower than on the packed copy (128 x 1024 x 1024, 2 threads).
 * C is summed over the K slices in order: the same bits as one unpacked
 * call. */
#define PKC 256
static void cols_packed(cl_isa isa, int M, int j0, int j1, int K, const float *A, int lda,
                        const float *B, int ldb, float *C, int ldc, int acc)
{
    if (K <= 0) {
        cl_kgemm_nn(isa, M, j1 - j0, K, A, lda, B + j0, ldb, C + j0, ldc, acc);
        return;
    }
    float bt[PKC * 64] __attribute__((aligned(64)));
    for (int j = j0; j < j1; j += 64) {
        int nj = imin(64, j1 - j);
        for (int k0 = 0; k0 < K; k0 += PKC) {
            int kc = imin(PKC, K - k0);
            for (int k = 0; k < kc; k++)
                memcpy(bt + k * 64, B + (int64_t)(k0 + k) * ldb + j, sizeof(float) * nj);
            cl_kgemm_nn(isa, M, nj, kc, A + k0, lda, bt, 64, C + j, ldc, acc || k0 > 0);
        }
    }
}

void cl_kgemm_nn_par(cl_isa isa, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc, int acc)
{
    int T = threads_for(M, N, K);
    if (T < 2) {
        cl_kgemm_nn(isa, M, N, K, A, lda, B, ldb, C, ldc, acc);
        return;
    }
    /* columns in panels of 64 (the kernel's width) when there are enough,
     * else rows: each thread then reads a share of B or of A */
    int by_cols = N >= M && N >= 64 * T;
#pragma omp parallel num_threads(T)
    {
        if (by_cols) { /* whole panels of 64 columns */
            int p0, p1;
            share((N + 63) / 64, &p0, &p1);
            int j0 = imin(N, 64 * p0), j1 = imin(N, 64 * p1);
            if (j1 > j0) cols_packed(isa, M, j0, j1, K, A, lda, B, ldb, C, ldc, acc);
        } else {
            int i0, i1;
            share(M, &i0, &i1);
            if (i1 > i0)
                cl_kgemm_nn(isa, i1 - i0, N, K, A + (int64_t)i0 * lda, lda, B, ldb,
                            C + (int64_t)i0 * ldc, ldc, acc);
        }
    }
}

/* Rows [r0, r1) x columns [c0, c1) of src, one element at a time (edges,
 * the portable path): dst[c * ldd + r] = src[r * lds + c] (+ add[r]). */
static void transpose_block(const float *src, int lds, const float *add, float *dst,
                            int ldd, int r0, int r1, int c0, int c1)
{
    for (int c = c0; c < c1; c++)
        for (int r = r0; r < r1; r++)
            dst[(int64_t)c * ldd + r] = src[(int64_t)r * lds + c] + (add ? add[r] : 0.0f);
}

static void tile(cl_isa isa, const float *src, int lds, const float *add, float *dst,
                 int ldd, int T, int r0, int c0)
{
    const float *s = src + (int64_t)r0 * lds + c0;
    float *d = dst + (int64_t)c0 * ldd + r0;
    const float *a = add ? add + r0 : NULL;
#if defined(__x86_64__)
    if (isa == CL_ISA_AVX512) {
        cl_kgemm_transpose_tile_avx512(s, lds, a, d, ldd);
        return;
    }
    if (isa == CL_ISA_AVX2) {
        cl_kgemm_transpose_tile_avx2(s, lds, a, d, ldd);
        return;
    }
#endif
    (void)s, (void)d, (void)a;
    transpose_block(src, lds, add, dst, ldd, r0, r0 + T, c0, c0 + T);
}

static cl_isa clamp(cl_isa isa)
{
    cl_isa best = cl_isa_best();
    return isa > best ? best : isa;
}

static int tile_size(cl_isa isa)
{
    return isa == CL_ISA_AVX512 ? 16 : 8;
}

/* One thread: dst [C, R] (row stride ldd) = src [R, C] (row stride lds)^T
 * (+ add[r]). */
static void transpose_serial(cl_isa isa, const float *src, int lds, int R, int C,
                             const float *add, float *dst, int ldd)
{
    int T = tile_size(isa), tr = R / T * T, tc = C / T * T;
    for (int r0 = 0; r0 < tr; r0 += T)
        for (int c0 = 0; c0 < tc; c0 += T)
            tile(isa, src, lds, add, dst, ldd, T, r0, c0);
    transpose_block(src, lds, add, dst, ldd, tr, R, 0, C);
    transpose_block(src, lds, add, dst, ldd, 0, tr, tc, C);
}

/* The fused products below work in blocks of FB rows of C (8 of the
 * kernel's 6-row tiles, 3 transpose tiles) by FN columns (nn_tstore) or FN
 * products (tn), through a per-thread stack buffer of FB x FN floats
 * (24 KiB, stays in L1): the transposed operand never goes out to memory
 * whole. */
#define FB 48
#define FN 128

void cl_kgemm_nn_tstore_par(cl_isa isa, int M, int N, int K, const float *A, int lda,
                            const float *B, int ldb, const float *add, float *Ct,
                            int ldct)
{
    isa = clamp(isa);
#pragma omp parallel num_threads(threads_for(M, N, K))
    {
        int i0, i1;
        share(M, &i0, &i1);
        float buf[FB * FN] __attribute__((aligned(64)));
        for (int ib = i0; ib < i1; ib += FB) {
            int mb = imin(FB, i1 - ib);
            for (int jb = 0; jb < N; jb += FN) {
                int nb = imin(FN, N - jb);
                cl_kgemm_nn(isa, mb, nb, K, A + (int64_t)ib * lda, lda, B + jb, ldb, buf,
                            FN, 0);
                transpose_serial(isa, buf, FN, mb, nb, add ? add + ib : NULL,
                                 Ct + (int64_t)jb * ldct + ib, ldct);
            }
        }
    }
}

void cl_kgemm_tn_par(cl_isa isa, int M, int N, int K, const float *At, int ldat,
                     const float *B, int ldb, float *C, int ldc, int acc)
{
    isa = clamp(isa);
    if (K <= 0) { /* nothing to sum: the kernel zeroes C unless accumulating */
        cl_kgemm_nn(isa, M, N, K, At, ldat, B, ldb, C, ldc, acc);
        return;
    }
#pragma omp parallel num_threads(threads_for(M, N, K))
    {
        int i0, i1;
        share(M, &i0, &i1);
        float buf[FB * FN] __attribute__((aligned(64)));
        for (int ib = i0; ib < i1; ib += FB) {
            int mb = imin(FB, i1 - ib);
            for (int k0 = 0; k0 < K; k0 += FN) {
                int kb = imin(FN, K - k0);
                /* buf [mb, kb] = rows ib.. of A = columns ib.. of At, k0.. */
                transpose_serial(isa, At + (int64_t)k0 * ldat + ib, ldat, kb, mb, NULL,
                                 buf, FN);
                cl_kgemm_nn(isa, mb, N, kb, buf, FN, B + (int64_t)k0 * ldb, ldb,
                            C + (int64_t)ib * ldc, ldc, acc || k0 > 0);
            }
        }
    }
}

void cl_kgemm_transpose(cl_isa isa, const float *src, int R, int C, const float *add,
                        float *dst)
{
    isa = clamp(isa);
    int T = tile_size(isa);
    int tr = R / T, tc = C / T;
    int64_t ntiles = (int64_t)tr * tc;
    /* row blocks outer: a tile's T source rows are read on while its
     * destination lines (T floats each) are written whole */
#pragma omp parallel for schedule(static) if ((int64_t)R * C >= PAR_MIN)
    for (int64_t q = 0; q < ntiles; q++)
        tile(isa, src, C, add, dst, R, T, (int)(q / tc) * T, (int)(q % tc) * T);
    transpose_block(src, C, add, dst, R, tr * T, R, 0, C);      /* the last rows */
    transpose_block(src, C, add, dst, R, 0, tr * T, tc * T, C); /* the last columns */
}
