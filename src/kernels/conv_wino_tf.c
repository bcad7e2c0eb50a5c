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
#include <stddef.h>
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

/* out = A in (F(4): 4 -> 6), for the weight gradient; input rows in[k]. */
static void a4to6p(const float *const *in, float *out, int64_t os, int n)
{
    const float *restrict r0 = in[0], *restrict r1 = in[1], *restrict r2 = in[2];
    const float *restrict r3 = in[3];
    float *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    float *restrict o3 = out + 3 * os, *restrict o4 = out + 4 * os, *restrict o5 = out + 5 * os;
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float i0 = r0[t], i1 = r1[t], i2 = r2[t], i3 = r3[t];
        float e = i0 + i2, o = i1 + i3, e4 = i0 + 4.0f * i2, o8 = 2.0f * i1 + 8.0f * i3;
        o0[t] = i0;
        o1[t] = e + o;
        o2[t] = e - o;
        o3[t] = e4 + o8;
        o4[t] = e4 - o8;
        o5[t] = i3;
    }
}

/* out = A in (F(2): 2 -> 4); input rows in[k]. */
static void a2to4p(const float *const *in, float *out, int64_t os, int n)
{
    const float *restrict r0 = in[0], *restrict r1 = in[1];
    float *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    float *restrict o3 = out + 3 * os;
#pragma omp simd
    for (int t = 0; t < n; t++) {
        float i0 = r0[t], i1 = r1[t];
        o0[t] = i0;
        o1[t] = i0 + i1;
        o2[t] = i0 - i1;
        o3[t] = -i1;
    }
}

/* ---- 2-D transforms of n tiles ---- */

void cl_wino_tf_rows(int dy, int m, const float *D, int64_t ld, float *out, int64_t os, int n)
{
    const int a = m + 2, s = dy ? m : a; /* entries per row of a D tile */
    for (int i = 0; i < a; i++) { /* rows: (B^T d) B, or (A dy) A^T */
        const float *r[6];
        for (int l = 0; l < s; l++) r[l] = D + (int64_t)(i * s + l) * ld;
        float *o = out + i * a * os;
        if (dy && m == 4)
            a4to6p(r, o, os, n);
        else if (dy)
            a2to4p(r, o, os, n);
        else if (m == 4)
            bt6p(r, o, os, n);
        else
            bt4p(r, o, os, n);
    }
}

void cl_wino_out_tf(int m, const float *M, int64_t ms, float *tmp, float *O, int64_t ld, int n)
{
    const int a = m + 2;
    void (*at)(const float *, int64_t, float *, int64_t, int) = m == 4 ? at6 : at4;
    for (int j = 0; j < a; j++) /* columns: tmp [m][a] = A^T M */
        at(M + j * ms, a * ms, tmp + j * ld, a * ld, n);
    if (!O) return;
    for (int i = 0; i < m; i++) /* rows: O [m][m] = (A^T M) A */
        at(tmp + i * a * ld, ld, O + i * m * ld, ld, n);
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


/* D rows k*nl + l <- b_k[m tw + l] of the nk padded rows b_k (stride rs),
 * l < nl. */
static void deint(cl_isa isa, const float *buf, int rs, int m, int nk, int nl, int ntw, float *D,
                  int64_t ld)
{
#if defined(__x86_64__)
    if (isa == CL_ISA_AVX512 && m == 4) {
        cl_wino_deint4_avx512(buf, rs, nk, nl, ntw, D, ld);
        return;
    }
#else
    (void)isa;
#endif
    for (int k = 0; k < nk; k++)
        for (int l = 0; l < nl; l++) {
            const float *restrict b = buf + (int64_t)k * rs + l;
            float *restrict o = D + (k * nl + l) * ld;
#pragma omp simd
            for (int tw = 0; tw < ntw; tw++) o[tw] = b[tw * m];
        }
}

/* Z rows i < a (stride zs) <- B^T d of tile row th over whole plane rows
 * (rows outside the plane read the W zeros at `zero`); column 0 and
 * columns W+1 .. wpad-1 are the zero padding. */
static void vert_in(const float *plane, int H, int W, int m, int th, float *Z, int64_t zs,
                    int wpad, float *zero)
{
    const int a = m + 2, r0 = th * m - 1;
    const float *rows[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int edge = 0;
    for (int k = 0; k < a; k++) {
        const int r = r0 + k;
        edge |= r < 0 || r >= H;
        rows[k] = r < 0 || r >= H ? zero : plane + (int64_t)r * W;
    }
    if (edge) memset(zero, 0, sizeof(float) * (size_t)W);
    if (m == 4)
        bt6p(rows, Z + 1, zs, W);
    else
        bt4p(rows, Z + 1, zs, W);
    for (int i = 0; i < a; i++) {
        float *z = Z + (int64_t)i * zs;
        z[0] = 0.0f;
        for (int w = W + 1; w < wpad; w++) z[w] = 0.0f;
    }
}

/* Z rows i < a (stride zs) <- A dy of tile row th (rows past the plane
 * read `zero`); columns W .. wpad-1 zero. */
static void vert_dy(const float *plane, int H, int W, int m, int th, float *Z, int64_t zs,
                    int wpad, float *zero)
{
    const int a = m + 2, r0 = th * m;
    const float *rows[4] = {NULL, NULL, NULL, NULL};
    int edge = 0;
    for (int k = 0; k < m; k++) {
        edge |= r0 + k >= H;
        rows[k] = r0 + k >= H ? zero : plane + (int64_t)(r0 + k) * W;
    }
    if (edge) memset(zero, 0, sizeof(float) * (size_t)W);
    if (m == 4)
        a4to6p(rows, Z, zs, W);
    else
        a2to4p(rows, Z, zs, W);
    for (int i = 0; i < a; i++)
        for (int w = W; w < wpad; w++) Z[(int64_t)i * zs + w] = 0.0f;
}

void cl_wino_gather(int dy, cl_isa isa, const float *plane, int H, int W, int m, int th,
                    int ntw, float *D, int64_t ld, float *buf)
{
    const int a = m + 2, rs = cl_wino_row_stride(m, ntw);
    float *Z = buf, *zero = buf + (int64_t)a * rs;
    if (dy)
        vert_dy(plane, H, W, m, th, Z, rs, ntw * m, zero);
    else
        vert_in(plane, H, W, m, th, Z, rs, ntw * m + 2, zero);
    deint(isa, Z, rs, m, a, dy ? m : a, ntw, D, ld);
}

int cl_wino_group(cl_isa isa, int m, int ntw)
{
#if defined(__x86_64__)
    return isa == CL_ISA_AVX512 && m == 4 && (ntw == 2 || ntw == 4) ? 8 / ntw : 0;
#else
    (void)isa, (void)m, (void)ntw;
    return 0;
#endif
}

void cl_wino_gather_group(int dy, const float *const *planes, const int *th, int gn, int H,
                          int W, int ntw, float *out, int64_t os, float *buf)
{
#if defined(__x86_64__)
    const int S = 8 * ntw; /* floats per tile row in a group row of 64 */
    for (int u = 0; u < gn; u++) {
        if (dy)
            vert_dy(planes[u], H, W, 4, th[u], buf + u * S, 64, S, buf + 6 * 64);
        else
            vert_in(planes[u], H, W, 4, th[u], buf + u * S, 64, S, buf + 6 * 64);
    }
    cl_wino_group_avx512(dy, buf, ntw, gn * ntw, out, os);
#else
    (void)dy, (void)planes, (void)th, (void)gn, (void)H, (void)W, (void)ntw, (void)out, (void)os;
    (void)buf;
#endif
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
            cl_wino_inter4_avx512(O + i * m * ld, ld, ntw, y, W, bias);
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
