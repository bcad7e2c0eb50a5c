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

/* out = B^T in (F(4): 6 -> 6), input rows in[k]. Row pointers as locals:
 * indexing with the strides inside the loop ran out of registers. */
static void bt6p(const float *const *in, float *out, int64_t os, int n)
{
    const float *restrict i0 = in[0], *restrict i1 = in[1], *restrict i2 = in[2];
    const float *restrict i3 = in[3], *restrict i4 = in[4], *restrict i5 = in[5];
    float *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    float *restrict o3 = out + 3 * os, *restrict o4 = out + 4 * os, *restrict o5 = out + 5 * os;
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float d0 = i0[t], d1 = i1[t], d2 = i2[t], d3 = i3[t], d4 = i4[t], d5 = i5[t];
        float p = d4 - 4.0f * d2, q = 4.0f * d1 - d3, r = d4 - d2, s = 2.0f * (d1 - d3);
        o0[t] = 4.0f * d0 - 5.0f * d2 + d4;
        o1[t] = p - q;
        o2[t] = p + q;
        o3[t] = r - s;
        o4[t] = r + s;
        o5[t] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* out = B^T in (F(2): 4 -> 4), input rows in[k]. */
static void bt4p(const float *const *in, float *out, int64_t os, int n)
{
    const float *restrict i0 = in[0], *restrict i1 = in[1], *restrict i2 = in[2];
    const float *restrict i3 = in[3];
    float *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    float *restrict o3 = out + 3 * os;
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float d0 = i0[t], d1 = i1[t], d2 = i2[t], d3 = i3[t];
        o0[t] = d0 - d2;
        o1[t] = d1 + d2;
        o2[t] = d2 - d1;
        o3[t] = d1 - d3;
    }
}

/* The same with input row k at in + k*is. */
static void bt6(const float *in, int64_t is, float *out, int64_t os, int n)
{
    const float *r[6] = {in, in + is, in + 2 * is, in + 3 * is, in + 4 * is, in + 5 * is};
    bt6p(r, out, os, n);
}

static void bt4(const float *in, int64_t is, float *out, int64_t os, int n)
{
    const float *r[4] = {in, in + is, in + 2 * is, in + 3 * is};
    bt4p(r, out, os, n);
}

/* out = A^T in (F(4): 6 -> 4). */
static void at6(const float *in, int64_t is, float *out, int64_t os, int n)
{
    const float *restrict i0 = in, *restrict i1 = in + is, *restrict i2 = in + 2 * is;
    const float *restrict i3 = in + 3 * is, *restrict i4 = in + 4 * is, *restrict i5 = in + 5 * is;
    float *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    float *restrict o3 = out + 3 * os;
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float m0 = i0[t], m1 = i1[t], m2 = i2[t], m3 = i3[t], m4 = i4[t], m5 = i5[t];
        float p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4;
        o0[t] = m0 + p + r;
        o1[t] = q + 2.0f * s;
        o2[t] = p + 4.0f * r;
        o3[t] = q + 8.0f * s + m5;
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

void cl_wino_in_tf_rows(int m, const float *D, int64_t ld, float *V, int64_t vs, int n)
{
    const int a = m + 2;
    void (*bt)(const float *, int64_t, float *, int64_t, int) = m == 4 ? bt6 : bt4;
    for (int i = 0; i < a; i++) /* rows: V = (B^T d) B */
        bt(D + i * a * ld, ld, V + i * a * vs, vs, n);
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

/* The F(4) input transform's second half fused with the tile read-out:
 * V rows k*6 + j <- (b_k[4 tw + l])_l B (the bt6 arithmetic, same order),
 * for planes of 8 or more tiles per row (full vectors). */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"))) static void
deint_bt6_avx512(const float *Z, int rs, int ntw, float *V, int64_t vs)
{
    const __m512i p0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i p1 = _mm512_add_epi32(p0, one), p2 = _mm512_add_epi32(p1, one);
    const __m512i p3 = _mm512_add_epi32(p2, one);
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
#define PERM(a, i, b) _mm512_castps512_ps256(_mm512_permutex2var_ps(a, i, b))
    for (int k = 0; k < 6; k++) {
        const float *b = Z + (int64_t)k * rs;
        float *v = V + (int64_t)k * 6 * vs;
        for (int g = 0; g * 8 < ntw; g++) {
            const int rem = ntw - 8 * g;
            const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
            const float *q = b + 32 * g;
            const __m512 lo = _mm512_loadu_ps(q), hi = _mm512_loadu_ps(q + 16);
            const __m512 lo4 = _mm512_loadu_ps(q + 4), hi4 = _mm512_loadu_ps(q + 20);
            const __m256 d0 = PERM(lo, p0, hi), d1 = PERM(lo, p1, hi), d2 = PERM(lo, p2, hi);
            const __m256 d3 = PERM(lo, p3, hi), d4 = PERM(lo4, p0, hi4), d5 = PERM(lo4, p1, hi4);
            const __m256 pp = _mm256_sub_ps(d4, _mm256_mul_ps(c4, d2));
            const __m256 qq = _mm256_sub_ps(_mm256_mul_ps(c4, d1), d3);
            const __m256 rr = _mm256_sub_ps(d4, d2);
            const __m256 ss = _mm256_mul_ps(c2, _mm256_sub_ps(d1, d3));
            float *o = v + 8 * g;
            _mm256_mask_storeu_ps(
                o, mk, _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d0), _mm256_mul_ps(c5, d2)), d4));
            _mm256_mask_storeu_ps(o + vs, mk, _mm256_sub_ps(pp, qq));
            _mm256_mask_storeu_ps(o + 2 * vs, mk, _mm256_add_ps(pp, qq));
            _mm256_mask_storeu_ps(o + 3 * vs, mk, _mm256_sub_ps(rr, ss));
            _mm256_mask_storeu_ps(o + 4 * vs, mk, _mm256_add_ps(rr, ss));
            _mm256_mask_storeu_ps(
                o + 5 * vs, mk, _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d1), _mm256_mul_ps(c5, d3)), d5));
        }
    }
#undef PERM
}

/* y[4 tw + j] (w < W) <- O rows j + bias (F(4): one output row of a tile
 * row, O pointing at its first entry row i*4). */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"))) static void
inter4_avx512(const float *O, int64_t ld, int ntw, float *y, int W, float bias)
{
    /* lanes w of a 16-wide output: tile w/4 (+4 for the high half), column
     * j = w%4, found in [O_j0 | O_j1] (j < 2) or [O_j2 | O_j3] at 8j + tile */
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    const __m512 vb = _mm512_set1_ps(bias);
    for (int g = 0; g * 8 < ntw; g++) {
        const int rem = ntw - 8 * g, w0 = 32 * g;
        const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
        const float *o = O + 8 * g;
        const __m256 a0 = _mm256_maskz_loadu_ps(mk, o), a1 = _mm256_maskz_loadu_ps(mk, o + ld);
        const __m256 a2 = _mm256_maskz_loadu_ps(mk, o + 2 * ld);
        const __m256 a3 = _mm256_maskz_loadu_ps(mk, o + 3 * ld);
        const __m512 p01 = _mm512_insertf32x8(_mm512_castps256_ps512(a0), a1, 1);
        const __m512 p23 = _mm512_insertf32x8(_mm512_castps256_ps512(a2), a3, 1);
        const int n0 = W - w0, n1 = W - w0 - 16; /* valid lanes of each half */
        const __mmask16 m0 = n0 >= 16 ? 0xFFFF : (__mmask16)((1u << n0) - 1);
        _mm512_mask_storeu_ps(y + w0, m0, _mm512_add_ps(_mm512_permutex2var_ps(p01, lo, p23), vb));
        if (n1 <= 0) break;
        const __mmask16 m1 = n1 >= 16 ? 0xFFFF : (__mmask16)((1u << n1) - 1);
        _mm512_mask_storeu_ps(y + w0 + 16, m1,
                              _mm512_add_ps(_mm512_permutex2var_ps(p01, hi, p23), vb));
    }
}
#endif

/* D rows k*s + l <- b_k[m tw + l] of the s padded rows b_k (stride rs). */
static void deint(cl_isa isa, const float *buf, int rs, int m, int s, int ntw, float *D,
                  int64_t ld)
{
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
    deint(isa, buf, rs, m, s, ntw, D, ld);
}

void cl_wino_gather_in(cl_isa isa, const float *plane, int H, int W, int m, int th, int ntw,
                       float *D, int64_t ld, float *buf)
{
    const int a = m + 2, wb = ntw * m + 2, rs = cl_wino_row_stride(m, ntw), r0 = th * m - 1;
    float *Z = buf, *zero = buf + (int64_t)a * rs;
    const float *rows[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int edge = 0;
    for (int k = 0; k < a; k++) {
        const int r = r0 + k;
        edge |= r < 0 || r >= H;
        rows[k] = r < 0 || r >= H ? zero : plane + (int64_t)r * W;
    }
    if (edge) memset(zero, 0, sizeof(float) * (size_t)W);
    if (m == 4) /* columns: Z = B^T d over whole rows */
        bt6p(rows, Z + 1, rs, W);
    else
        bt4p(rows, Z + 1, rs, W);
    for (int i = 0; i < a; i++) {
        float *z = Z + (int64_t)i * rs;
        z[0] = 0.0f;
        for (int w = W + 1; w < wb; w++) z[w] = 0.0f;
    }
#if defined(__x86_64__)
    if (cl_wino_in_fused(isa, m, ntw)) {
        deint_bt6_avx512(Z, rs, ntw, D, ld);
        return;
    }
#endif
    deint(isa, Z, rs, m, a, ntw, D, ld);
}

int cl_wino_in_fused(cl_isa isa, int m, int ntw)
{
#if defined(__x86_64__)
    return isa == CL_ISA_AVX512 && m == 4 && ntw >= 8;
#else
    (void)isa, (void)m, (void)ntw;
    return 0;
#endif
}

void cl_wino_scatter(cl_isa isa, const float *O, int64_t ld, int m, int th, int ntw, float *plane,
                     int H, int W, float bias, float *buf)
{
    for (int i = 0; i < m; i++) {
        const int r = th * m + i;
        if (r >= H) break;
        float *restrict y = plane + (int64_t)r * W;
#if defined(__x86_64__)
        if (isa == CL_ISA_AVX512 && m == 4) {
            inter4_avx512(O + i * m * ld, ld, ntw, y, W, bias);
            continue;
        }
#else
        (void)isa;
#endif
        for (int j = 0; j < m; j++) {
            const float *restrict o = O + (i * m + j) * ld;
            float *restrict b = buf + j;
#pragma omp simd
            for (int tw = 0; tw < ntw; tw++) b[tw * m] = o[tw];
        }
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


/* Blocks of FB filters, so U and S are read / written along rows (their
 * a*a planes are O*I floats apart: one entry at a time would thrash L1). */
#define FB 64

void cl_wino_filter(int m, const float *W, int O, int I, int flip, float *U)
{
    const int a = m + 2;
    const int64_t PQ = (int64_t)O * I;
    const double(*G)[3] = m == 4 ? G4 : G2;
    for (int64_t e0 = 0; e0 < PQ; e0 += FB) {
        const int nb = (int)(PQ - e0 < FB ? PQ - e0 : FB);
        double t[6][3][FB]; /* t = G g */
        for (int q = 0; q < nb; q++) {
            const int64_t e = e0 + q; /* U [P][Q] entry; flip: e = c*O + o */
            const float *g = W + (flip ? (e % O) * I + e / O : e) * 9;
            double gg[9];
            for (int u = 0; u < 9; u++) gg[u] = flip ? g[8 - u] : g[u];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j][q] = G[i][0] * gg[j] + G[i][1] * gg[3 + j] + G[i][2] * gg[6 + j];
        }
        for (int i = 0; i < a; i++) /* U = (G g) G^T */
            for (int j = 0; j < a; j++) {
                float *u = U + (int64_t)(i * a + j) * PQ + e0;
                for (int q = 0; q < nb; q++)
                    u[q] = (float)(t[i][0][q] * G[j][0] + t[i][1][q] * G[j][1] +
                                   t[i][2][q] * G[j][2]);
            }
    }
}

void cl_wino_filter_grad(int m, const float *S, int O, int I, float *dW)
{
    const int a = m + 2;
    const int64_t OI = (int64_t)O * I;
    const double(*G)[3] = m == 4 ? G4 : G2;
    for (int64_t p0 = 0; p0 < OI; p0 += FB) {
        const int nb = (int)(OI - p0 < FB ? OI - p0 : FB);
        double t[3][6][FB]; /* t = G^T S */
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < a; j++) {
                double *tt = t[k][j];
                for (int q = 0; q < nb; q++) tt[q] = 0;
                for (int i = 0; i < a; i++) {
                    const double gik = G[i][k];
                    const float *sr = S + (int64_t)(i * a + j) * OI + p0;
                    if (gik != 0)
                        for (int q = 0; q < nb; q++) tt[q] += gik * sr[q];
                }
            }
        for (int q = 0; q < nb; q++) /* dW += (G^T S) G */
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) {
                    double acc = 0;
                    for (int j = 0; j < a; j++) acc += t[k][j][q] * G[j][l];
                    dW[(p0 + q) * 9 + k * 3 + l] += (float)acc;
                }
    }
}
