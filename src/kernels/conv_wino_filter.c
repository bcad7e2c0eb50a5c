/* Winograd filter transforms (once per call): U = G g G^T of every 3x3
 * filter and the weight gradient's back-transform dW += G^T S G (Lavin &
 * Gray 2016, "Fast Algorithms for Convolutional Neural Networks"; G of
 * F(2x2, 3x3) and F(4x4, 3x3) as in conv_wino_tf.c's header). Computed in
 * double, rounded once. */
#include <stdint.h>

#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};


/* Blocks of FB filters, so U and S are read / written along rows (their
 * a*a planes are O*I floats apart: one entry at a time would thrash L1). */
#define FB 64
/* Above this many filters (ResNet-18's 256/512-channel layers: 9-38 MB of
 * U), the blocks are shared among the threads (each block is independent:
 * same numbers at any thread count). */
#define FILTER_PAR (128 * 128)

/* Wide layers write U (up to 37.7 MB) past the caches: whole 64-byte
 * aligned blocks go out with streaming stores (no read for ownership), and
 * the next block's rows are prefetched (the flipped kernel reads filters
 * I*36 bytes apart; the gradient reads a*a rows OI floats apart).
 * Measured 512x512, one thread, ms: U 7.2 -> 4.3-4.9, flipped 11.6 ->
 * 7.0-7.6, gradient 9.0 -> 7.6-8.7 (a loaded machine). */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void stream_block(float *dst, const float *src)
{
    for (int k = 0; k < FB; k += 16) _mm512_stream_ps(dst + k, _mm512_loadu_ps(src + k));
}
#endif

static int use_stream(int64_t PQ, const float *U)
{
#if defined(__x86_64__)
    return PQ > FILTER_PAR && PQ % 16 == 0 && ((uintptr_t)U & 63) == 0 &&
           cl_isa_current() == CL_ISA_AVX512;
#else
    (void)PQ, (void)U;
    return 0;
#endif
}

void cl_wino_filter(int m, const float *W, int O, int I, int flip, float *U)
{
    const int a = m + 2;
    const int64_t PQ = (int64_t)O * I;
    const double(*G)[3] = m == 4 ? G4 : G2;
    const int st = use_stream(PQ, U);
#pragma omp parallel for schedule(static) if (PQ > FILTER_PAR)
    for (int64_t e0 = 0; e0 < PQ; e0 += FB) {
        const int nb = (int)(PQ - e0 < FB ? PQ - e0 : FB), sb = st && nb == FB;
        double gg[9][FB], t[6][3][FB]; /* the block's filters, then t = G g */
        float ub[FB];
        int64_t fc = e0 / O, fo = e0 % O; /* U [P][Q] entry e; flip: e = c*O + o */
        if (flip && PQ > FILTER_PAR && fo + 2 * FB <= O) /* the next block's filters */
            for (int q = 0; q < FB; q++) __builtin_prefetch(W + ((fo + FB + q) * I + fc) * 9);
        for (int q = 0; q < nb; q++) {
            const float *g = W + (flip ? fo * I + fc : e0 + q) * 9;
            for (int u = 0; u < 9; u++) gg[u][q] = flip ? g[8 - u] : g[u];
            if (++fo == O) fo = 0, fc++;
        }
        for (int i = 0; i < a; i++)
            for (int j = 0; j < 3; j++) {
                const double g0 = G[i][0], g1 = G[i][1], g2 = G[i][2];
                double *restrict tt = t[i][j];
#pragma omp simd
                for (int q = 0; q < nb; q++)
                    tt[q] = g0 * gg[j][q] + g1 * gg[3 + j][q] + g2 * gg[6 + j][q];
            }
        for (int i = 0; i < a; i++) /* U = (G g) G^T */
            for (int j = 0; j < a; j++) {
                const double h0 = G[j][0], h1 = G[j][1], h2 = G[j][2];
                float *restrict u = sb ? ub : U + (int64_t)(i * a + j) * PQ + e0;
#pragma omp simd
                for (int q = 0; q < nb; q++)
                    u[q] = (float)(t[i][0][q] * h0 + t[i][1][q] * h1 + t[i][2][q] * h2);
#if defined(__x86_64__)
                if (sb) stream_block(U + (int64_t)(i * a + j) * PQ + e0, ub);
#endif
            }
#if defined(__x86_64__)
        if (sb) _mm_sfence();
#endif
    }
}

void cl_wino_filter_grad(int m, const float *S, int O, int I, float *dW)
{
    const int a = m + 2;
    const int64_t OI = (int64_t)O * I;
    const double(*G)[3] = m == 4 ? G4 : G2;
#pragma omp parallel for schedule(static) if (OI > FILTER_PAR)
    for (int64_t p0 = 0; p0 < OI; p0 += FB) {
        const int nb = (int)(OI - p0 < FB ? OI - p0 : FB);
        if (OI > FILTER_PAR && p0 + 2 * FB <= OI) /* the a*a rows of the next block */
            for (int r = 0; r < a * a; r++)
                for (int q = 0; q < FB; q += 16) __builtin_prefetch(S + r * OI + p0 + FB + q);
        double t[3][6][FB], d[9][FB]; /* t = G^T S, d = t G */
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < a; j++) {
                double *restrict tt = t[k][j];
                for (int q = 0; q < nb; q++) tt[q] = 0;
                for (int i = 0; i < a; i++) {
                    const double gik = G[i][k];
                    const float *restrict sr = S + (int64_t)(i * a + j) * OI + p0;
                    if (gik != 0)
#pragma omp simd
                        for (int q = 0; q < nb; q++) tt[q] += gik * sr[q];
                }
            }
        for (int k = 0; k < 3; k++)
            for (int l = 0; l < 3; l++) {
                double *restrict dd = d[k * 3 + l];
                for (int q = 0; q < nb; q++) dd[q] = 0;
                for (int j = 0; j < a; j++) {
                    const double gjl = G[j][l];
                    const double *restrict tt = t[k][j];
#pragma omp simd
                    for (int q = 0; q < nb; q++) dd[q] += tt[q] * gjl;
                }
            }
        for (int q = 0; q < nb; q++) /* dW += G^T S G */
            for (int u = 0; u < 9; u++) dW[(p0 + q) * 9 + u] += (float)d[u][q];
    }
}
