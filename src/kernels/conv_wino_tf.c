/* Winograd transforms of the stride-1 3x3 "same" convolution
 * (conv_winograd.c runs the pipeline). Lavin & Gray 2016, "Fast Algorithms
 * for Convolutional Neural Networks" (CVPR), section 4: the output tile of
 * F(m x m, 3 x 3), tile size a = m + 2, is
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 * with g the 3x3 filter, d the a x a input tile (rows th*m-1.., zero
 * padded) and (.) the element-wise product; summed over input channels
 * before the A^T . A. Matrices (Lavin & Gray 2016; F(4x4) from the
 * interpolation points 0, +-1, +-2, inf):
 *   F(2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *         G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *         A^T = [1 1 1 0; 0 1 -1 -1].
 *   F(4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *                0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *         G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 *              1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *         A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
 *
 * Layout: a tile matrix is stored as s*s rows of `ld` floats, one tile per
 * column (row k*s + l holds entry (k, l) of every tile), so each 1-D
 * transform below is a loop over tiles that vectorises (omp simd) and the
 * 2-D transform is the 1-D one over columns, then over rows. The 1-D
 * transforms are written out by hand (zeros and +-1 of the matrices). */
#include <string.h>

#include "internal.h"

/* ---- 1-D transforms over n tiles: in row k at in + k*is, out row i at
 * out + i*os ---- */

/* out = B^T in (F(4): 6 -> 6). */
static void bt6(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float d0 = in[t], d1 = in[is + t], d2 = in[2 * is + t], d3 = in[3 * is + t];
        float d4 = in[4 * is + t], d5 = in[5 * is + t];
        float p = d4 - 4.0f * d2, q = 4.0f * d1 - d3, r = d4 - d2, s = 2.0f * (d1 - d3);
        out[t] = 4.0f * d0 - 5.0f * d2 + d4;
        out[os + t] = p - q;
        out[2 * os + t] = p + q;
        out[3 * os + t] = r - s;
        out[4 * os + t] = r + s;
        out[5 * os + t] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* out = B^T in (F(2): 4 -> 4). */
static void bt4(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float d0 = in[t], d1 = in[is + t], d2 = in[2 * is + t], d3 = in[3 * is + t];
        out[t] = d0 - d2;
        out[os + t] = d1 + d2;
        out[2 * os + t] = d2 - d1;
        out[3 * os + t] = d1 - d3;
    }
}

/* out = A^T in (F(4): 6 -> 4). */
static void at6(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float m0 = in[t], m1 = in[is + t], m2 = in[2 * is + t], m3 = in[3 * is + t];
        float m4 = in[4 * is + t], m5 = in[5 * is + t];
        float p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4;
        out[t] = m0 + p + r;
        out[os + t] = q + 2.0f * s;
        out[2 * os + t] = p + 4.0f * r;
        out[3 * os + t] = q + 8.0f * s + m5;
    }
}

/* out = A^T in (F(2): 4 -> 2). */
static void at4(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float m0 = in[t], m1 = in[is + t], m2 = in[2 * is + t], m3 = in[3 * is + t];
        out[t] = m0 + m1 + m2;
        out[os + t] = m1 - m2 - m3;
    }
}

/* out = A in (F(4): 4 -> 6), for the weight gradient. */
static void a4to6(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t];
        float e = i0 + i2, o = i1 + i3, e4 = i0 + 4.0f * i2, o8 = 2.0f * i1 + 8.0f * i3;
        out[t] = i0;
        out[os + t] = e + o;
        out[2 * os + t] = e - o;
        out[3 * os + t] = e4 + o8;
        out[4 * os + t] = e4 - o8;
        out[5 * os + t] = i3;
    }
}

/* out = A in (F(2): 2 -> 4). */
static void a2to4(const float *restrict in, int64_t is, float *restrict out, int64_t os, int n)
{
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t];
        out[t] = i0;
        out[os + t] = i0 + i1;
        out[2 * os + t] = i0 - i1;
        out[3 * os + t] = -i1;
    }
}

/* ---- 2-D transforms of n tiles ---- */

void cl_wino_in_tf(int m, const float *D, int64_t ld, float *tmp, float *V, int64_t vs, int n)
{
    const int a = m + 2;
    void (*bt)(const float *, int64_t, float *, int64_t, int) = m == 4 ? bt6 : bt4;
    for (int l = 0; l < a; l++) /* columns: tmp = B^T d */
        bt(D + l * ld, a * ld, tmp + l * ld, a * ld, n);
    for (int i = 0; i < a; i++) /* rows: V = (B^T d) B */
        bt(tmp + i * a * ld, ld, V + i * a * vs, vs, n);
}

void cl_wino_out_tf(int m, const float *M, int64_t ms, float *tmp, float *O, int64_t ld, int n)
{
    const int a = m + 2;
    void (*at)(const float *, int64_t, float *, int64_t, int) = m == 4 ? at6 : at4;
    for (int j = 0; j < a; j++) /* columns: tmp [m][a] = A^T M */
        at(M + j * ms, a * ms, tmp + j * ld, a * ld, n);
    for (int i = 0; i < m; i++) /* rows: O [m][m] = (A^T M) A */
        at(tmp + i * a * ld, ld, O + i * m * ld, ld, n);
}

void cl_wino_dy_tf(int m, const float *D, int64_t ld, float *tmp, float *Z, int64_t zs, int n)
{
    const int a = m + 2;
    void (*af)(const float *, int64_t, float *, int64_t, int) = m == 4 ? a4to6 : a2to4;
    for (int j = 0; j < m; j++) /* columns: tmp [a][m] = A dy */
        af(D + j * ld, m * ld, tmp + j * ld, m * ld, n);
    for (int i = 0; i < a; i++) /* rows: Z [a][a] = (A dy) A^T */
        af(tmp + i * m * ld, ld, Z + i * a * zs, zs, n);
}

/* ---- gather / scatter between NCHW planes and tile rows ----
 * A padded row buffer (wino_row_stride floats per row) holds the s rows of
 * a tile row, columns -off .. ; tiles are then read out with stride m: by
 * AVX-512 permutes, 8 tiles at a time, for F(4) (the hot case), else by
 * plain strided loops. */

int cl_wino_row_stride(int m, int ntw)
{
    return m * 8 * ((ntw + 7) / 8) + 16;
}

#if defined(__x86_64__)
#include <immintrin.h>

/* D rows k*s+l <- b_k[4 tw + l], tw < ntw, k, l < s (F(4): s = 6 input
 * tiles, s = 4 dy tiles). */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"))) static void
deint4_avx512(const float *buf, int rs, int s, int ntw, float *D, int64_t ld)
{
    const __m512i p0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i p1 = _mm512_add_epi32(p0, one), p2 = _mm512_add_epi32(p1, one);
    const __m512i p3 = _mm512_add_epi32(p2, one);
    for (int k = 0; k < s; k++) {
        const float *b = buf + (int64_t)k * rs;
        float *d = D + (int64_t)k * s * ld;
        for (int g = 0; g * 8 < ntw; g++) {
            const int rem = ntw - 8 * g;
            const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
            const float *q = b + 32 * g;
            const __m512 lo = _mm512_loadu_ps(q), hi = _mm512_loadu_ps(q + 16);
            const __m512 lo4 = _mm512_loadu_ps(q + 4), hi4 = _mm512_loadu_ps(q + 20);
            float *o = d + 8 * g;
            _mm256_mask_storeu_ps(o, mk, _mm512_castps512_ps256(_mm512_permutex2var_ps(lo, p0, hi)));
            _mm256_mask_storeu_ps(o + ld, mk,
                                  _mm512_castps512_ps256(_mm512_permutex2var_ps(lo, p1, hi)));
            _mm256_mask_storeu_ps(o + 2 * ld, mk,
                                  _mm512_castps512_ps256(_mm512_permutex2var_ps(lo, p2, hi)));
            _mm256_mask_storeu_ps(o + 3 * ld, mk,
                                  _mm512_castps512_ps256(_mm512_permutex2var_ps(lo, p3, hi)));
            if (s < 6) continue;
            _mm256_mask_storeu_ps(o + 4 * ld, mk,
                                  _mm512_castps512_ps256(_mm512_permutex2var_ps(lo4, p0, hi4)));
            _mm256_mask_storeu_ps(o + 5 * ld, mk,
                                  _mm512_castps512_ps256(_mm512_permutex2var_ps(lo4, p1, hi4)));
        }
    }
}

/* buf[4 tw + j] <- O rows i*4+j (F(4) output row i of the tile row). */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"))) static void
inter4_avx512(const float *O, int64_t ld, int ntw, float *buf)
{
    /* lanes w of a 16-wide output: tile w/4 (+4 for the high half), column
     * j = w%4, found in [O_j0 | O_j1] (j < 2) or [O_j2 | O_j3] at 8j + tile */
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    for (int g = 0; g * 8 < ntw; g++) {
        const int rem = ntw - 8 * g;
        const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
        const float *o = O + 8 * g;
        const __m256 a0 = _mm256_maskz_loadu_ps(mk, o), a1 = _mm256_maskz_loadu_ps(mk, o + ld);
        const __m256 a2 = _mm256_maskz_loadu_ps(mk, o + 2 * ld);
        const __m256 a3 = _mm256_maskz_loadu_ps(mk, o + 3 * ld);
        const __m512 p01 = _mm512_insertf32x8(_mm512_castps256_ps512(a0), a1, 1);
        const __m512 p23 = _mm512_insertf32x8(_mm512_castps256_ps512(a2), a3, 1);
        _mm512_storeu_ps(buf + 32 * g, _mm512_permutex2var_ps(p01, lo, p23));
        _mm512_storeu_ps(buf + 32 * g + 16, _mm512_permutex2var_ps(p01, hi, p23));
    }
}
#endif

void cl_wino_gather(cl_isa isa, const float *plane, int H, int W, int m, int s, int off, int th,
                    int ntw, float *D, int64_t ld, float *buf)
{
    const int wb = ntw * m + s - m, rs = cl_wino_row_stride(m, ntw);
    for (int k = 0; k < s; k++) {
        float *restrict b = buf + (int64_t)k * rs;
        const int r = th * m - off + k;
        const float *restrict x = plane + (int64_t)r * W;
        if (r < 0 || r >= H) {
            for (int w = 0; w < wb; w++) b[w] = 0.0f;
            continue;
        }
        for (int w = 0; w < off; w++) b[w] = 0.0f;
#pragma omp simd
        for (int w = 0; w < W; w++) b[off + w] = x[w];
        for (int w = off + W; w < wb; w++) b[w] = 0.0f;
    }
#if defined(__x86_64__)
    if (isa == CL_ISA_AVX512 && m == 4) {
        deint4_avx512(buf, rs, s, ntw, D, ld);
        return;
    }
#else
    (void)isa;
#endif
    for (int k = 0; k < s; k++)
        for (int l = 0; l < s; l++) {
            const float *restrict b = buf + (int64_t)k * rs + l;
            float *restrict o = D + (k * s + l) * ld;
#pragma omp simd
            for (int tw = 0; tw < ntw; tw++) o[tw] = b[tw * m];
        }
}

void cl_wino_scatter(cl_isa isa, const float *O, int64_t ld, int m, int th, int ntw, float *plane,
                     int H, int W, float bias, float *buf)
{
    for (int i = 0; i < m; i++) {
        const int r = th * m + i;
        if (r >= H) break;
#if defined(__x86_64__)
        if (isa == CL_ISA_AVX512 && m == 4)
            inter4_avx512(O + i * m * ld, ld, ntw, buf);
        else
#else
        (void)isa;
#endif
            for (int j = 0; j < m; j++) {
                const float *restrict o = O + (i * m + j) * ld;
                float *restrict b = buf + j;
#pragma omp simd
                for (int tw = 0; tw < ntw; tw++) b[tw * m] = o[tw];
            }
        float *restrict y = plane + (int64_t)r * W;
#pragma omp simd
        for (int w = 0; w < W; w++) y[w] = buf[w] + bias;
    }
}

/* ---- filter transforms (once per call; double, then rounded) ---- */

static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};


void cl_wino_filter(int m, const float *W, int O, int I, int flip, float *U)
{
    const int a = m + 2;
    const int P = flip ? I : O, Q = flip ? O : I; /* U [a*a][P][Q] */
    const double(*G)[3] = m == 4 ? G4 : G2;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < I; c++) {
            const float *g = W + ((int64_t)o * I + c) * 9;
            double gg[3][3], t[6][3];
            for (int u = 0; u < 9; u++) gg[u / 3][u % 3] = flip ? g[8 - u] : g[u];
            for (int i = 0; i < a; i++) /* t = G g */
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * gg[0][j] + G[i][1] * gg[1][j] +
                              G[i][2] * gg[2][j];
            const int64_t pq = flip ? (int64_t)c * Q + o : (int64_t)o * Q + c;
            for (int i = 0; i < a; i++) /* U = (G g) G^T */
                for (int j = 0; j < a; j++)
                    U[(int64_t)(i * a + j) * P * Q + pq] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] +
                                t[i][2] * G[j][2]);
        }
}

void cl_wino_filter_grad(int m, const float *S, int O, int I, float *dW)
{
    const int a = m + 2;
    const int64_t OI = (int64_t)O * I;
    const double(*G)[3] = m == 4 ? G4 : G2;
    for (int64_t p = 0; p < OI; p++) {
        double t[3][6];
        for (int k = 0; k < 3; k++) /* t = G^T S */
            for (int j = 0; j < a; j++) {
                double s = 0;
                for (int i = 0; i < a; i++) s += G[i][k] * S[(i * a + j) * OI + p];
                t[k][j] = s;
            }
        for (int k = 0; k < 3; k++) /* dW += (G^T S) G */
            for (int l = 0; l < 3; l++) {
                double s = 0;
                for (int j = 0; j < a; j++) s += t[k][j] * G[j][l];
                dW[p * 9 + k * 3 + l] += (float)s;
            }
    }
}
