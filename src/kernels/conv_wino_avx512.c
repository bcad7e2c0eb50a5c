/* AVX-512 read-out / write-back of F(4x4, 3x3) Winograd tiles (the
 * portable loops are in conv_wino_tf.c, which calls these when
 * cl_isa_current() is AVX512). A padded plane row b (cl_wino_row_stride
 * floats) holds 8 tiles in 32 floats: tile tw's column l is b[4 tw + l],
 * so 8 tiles' column l is one two-register permute (l = 4, 5: the next
 * tile's columns 0, 1, from the registers loaded 4 floats further on).
 * Tiles past ntw are masked off. Arithmetic of the fused transforms as the
 * plain C versions, same operation order (same results). The small loops
 * over rows are unrolled so their vector arrays stay in registers (-O2
 * kept them on the stack: 25% slower). */
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))
#define PERM(a, i, b) _mm512_castps512_ps256(_mm512_permutex2var_ps(a, i, b))

/* Column indices of the permutes: lanes t < 8 pick 4 t + l. */
#define PHASE_IDX                                                                                \
    const __m512i p0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0); \
    const __m512i one = _mm512_set1_epi32(1);                                                   \
    const __m512i p1 = _mm512_add_epi32(p0, one), p2 = _mm512_add_epi32(p1, one);               \
    const __m512i p3 = _mm512_add_epi32(p2, one)

/* Loads of the 8-tile group g of row b (lo/hi: columns 0-3, lo4/hi4: 4-5)
 * and the store mask of its valid tiles. */
#define GROUP_LOAD(b, g)                                                        \
    const int rem = ntw - 8 * (g);                                              \
    const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);          \
    const float *q = (b) + 32 * (g);                                            \
    const __m512 lo = _mm512_loadu_ps(q), hi = _mm512_loadu_ps(q + 16);         \
    const __m512 lo4 = _mm512_loadu_ps(q + 4), hi4 = _mm512_loadu_ps(q + 20)

AVX512 void cl_wino_deint4_avx512(const float *buf, int rs, int nk, int nl, int ntw, float *D,
                                  int64_t ld)
{
    PHASE_IDX;
    for (int k = 0; k < nk; k++) {
        const float *b = buf + (int64_t)k * rs;
        float *d = D + (int64_t)k * nl * ld;
        for (int g = 0; g * 8 < ntw; g++) {
            GROUP_LOAD(b, g);
            float *o = d + 8 * g;
            _mm256_mask_storeu_ps(o, mk, PERM(lo, p0, hi));
            _mm256_mask_storeu_ps(o + ld, mk, PERM(lo, p1, hi));
            _mm256_mask_storeu_ps(o + 2 * ld, mk, PERM(lo, p2, hi));
            _mm256_mask_storeu_ps(o + 3 * ld, mk, PERM(lo, p3, hi));
            if (nl < 6) continue;
            _mm256_mask_storeu_ps(o + 4 * ld, mk, PERM(lo4, p0, hi4));
            _mm256_mask_storeu_ps(o + 5 * ld, mk, PERM(lo4, p1, hi4));
        }
    }
}

/* The 1-D transform of 6 (dy: 4) rows d of vectors V (intrinsics _mm<S>_):
 * B^T d[0..5] (dy = 0, the bt6p arithmetic of conv_wino_tf.c) or
 * A d[0..3] (dy = 1, as a4to6p), same operation order. tf6: 8 tiles'
 * columns (the horizontal pass); vtf: 16 plane columns (the vertical one). */
#define DEF_TF(name, V, S)                                                                     \
    static inline AVX512 __attribute__((always_inline)) void name(int dy, const V *d, V *r)    \
    {                                                                                          \
        const V c2 = _mm##S##_set1_ps(2.0f), c4 = _mm##S##_set1_ps(4.0f);                      \
        if (dy) {                                                                              \
            const V c8 = _mm##S##_set1_ps(8.0f);                                               \
            const V e = _mm##S##_add_ps(d[0], d[2]), od = _mm##S##_add_ps(d[1], d[3]);         \
            const V e4 = _mm##S##_add_ps(d[0], _mm##S##_mul_ps(c4, d[2]));                     \
            const V o8 = _mm##S##_add_ps(_mm##S##_mul_ps(c2, d[1]), _mm##S##_mul_ps(c8, d[3])); \
            r[0] = d[0], r[1] = _mm##S##_add_ps(e, od), r[2] = _mm##S##_sub_ps(e, od);         \
            r[3] = _mm##S##_add_ps(e4, o8), r[4] = _mm##S##_sub_ps(e4, o8), r[5] = d[3];       \
            return;                                                                            \
        }                                                                                      \
        const V c5 = _mm##S##_set1_ps(5.0f);                                                   \
        const V pp = _mm##S##_sub_ps(d[4], _mm##S##_mul_ps(c4, d[2]));                         \
        const V qq = _mm##S##_sub_ps(_mm##S##_mul_ps(c4, d[1]), d[3]);                         \
        const V rr = _mm##S##_sub_ps(d[4], d[2]);                                              \
        const V ss = _mm##S##_mul_ps(c2, _mm##S##_sub_ps(d[1], d[3]));                         \
        r[0] = _mm##S##_add_ps(_mm##S##_sub_ps(_mm##S##_mul_ps(c4, d[0]),                      \
                                               _mm##S##_mul_ps(c5, d[2])),                     \
                               d[4]);                                                          \
        r[1] = _mm##S##_sub_ps(pp, qq), r[2] = _mm##S##_add_ps(pp, qq);                        \
        r[3] = _mm##S##_sub_ps(rr, ss), r[4] = _mm##S##_add_ps(rr, ss);                        \
        r[5] = _mm##S##_add_ps(_mm##S##_sub_ps(_mm##S##_mul_ps(c4, d[1]),                      \
                                               _mm##S##_mul_ps(c5, d[3])),                     \
                               d[5]);                                                          \
    }
DEF_TF(tf6, __m256, 256)
DEF_TF(vtf, __m512, 512)

/* Lanes j of a 16-float load at plane column c0 + j that lie inside
 * 0 .. W-1 (the others read as 0). */
static inline __mmask16 colmask(int c0, int W)
{
    const int lo = c0 < 0 ? -c0 : 0, hi = W - c0 < 16 ? W - c0 : 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

AVX512 void cl_wino_in6_avx512(int dy, const float *src, int64_t is, int g0, int nr, int nth,
                               int H, int W, int ntw, float *out, int64_t os)
{
    PHASE_IDX;
    const int nk = dy ? 4 : 6, sh = dy ? 0 : -1;
    static const int off[4] = {0, 16, 4, 20}; /* lo, hi, lo4, hi4 as GROUP_LOAD */
    for (int r = 0; r < nr; r++) {
        const int gi = g0 + r, th = gi % nth, r0 = 4 * th + sh;
        const float *plane = src + (int64_t)(gi / nth) * is, *rows[6];
        __mmask16 rm[6];
        for (int k = 0; k < 6; k++) {
            const int ok = k < nk && r0 + k >= 0 && r0 + k < H;
            rm[k] = ok ? 0xFFFF : 0;
            rows[k] = plane + (int64_t)(ok ? r0 + k : 0) * W;
        }
        float *ot = out + (int64_t)r * ntw;
        for (int g = 0; g * 8 < ntw; g++) {
            const int rem = ntw - 8 * g;
            const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
            __m512 z[4][6];
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                const int c0 = 32 * g + off[v] + sh;
                const __mmask16 cm = colmask(c0, W);
                __m512 d[6];
#pragma GCC unroll 6
                for (int k = 0; k < 6; k++) d[k] = _mm512_maskz_loadu_ps(cm & rm[k], rows[k] + c0);
                vtf(dy, d, z[v]);
            }
#pragma GCC unroll 6
            for (int k = 0; k < 6; k++) {
                __m256 d[6], t[6];
                d[0] = PERM(z[0][k], p0, z[1][k]), d[1] = PERM(z[0][k], p1, z[1][k]);
                d[2] = PERM(z[0][k], p2, z[1][k]), d[3] = PERM(z[0][k], p3, z[1][k]);
                d[4] = PERM(z[2][k], p0, z[3][k]), d[5] = PERM(z[2][k], p1, z[3][k]);
                tf6(dy, d, t);
                float *o = ot + (int64_t)k * 6 * os + 8 * g;
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) _mm256_mask_storeu_ps(o + j * os, mk, t[j]);
            }
        }
    }
}

/* y[w0 + 4 t + j] (w0 + 4 t + j < W) <- o[j] lane t + bias, 8 tiles t. */
static inline AVX512 __attribute__((always_inline)) void put4(const __m256 *o, float *y, int w0,
                                                              int W, __m512 vb)
{
    /* lane w of a 16-wide half: tile w/4 (+4 for the high half), column
     * j = w%4, found in [o0 | o1] (j < 2) or [o2 | o3] at 8j + tile */
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    const __m512 p01 = _mm512_insertf32x8(_mm512_castps256_ps512(o[0]), o[1], 1);
    const __m512 p23 = _mm512_insertf32x8(_mm512_castps256_ps512(o[2]), o[3], 1);
    const int n0 = W - w0, n1 = W - w0 - 16; /* valid lanes of each half */
    const __mmask16 k0 = n0 >= 16 ? 0xFFFF : (__mmask16)((1u << n0) - 1);
    _mm512_mask_storeu_ps(y + w0, k0, _mm512_add_ps(_mm512_permutex2var_ps(p01, lo, p23), vb));
    if (n1 <= 0) return;
    const __mmask16 k1 = n1 >= 16 ? 0xFFFF : (__mmask16)((1u << n1) - 1);
    _mm512_mask_storeu_ps(y + w0 + 16, k1, _mm512_add_ps(_mm512_permutex2var_ps(p01, hi, p23), vb));
}

AVX512 void cl_wino_inter4_avx512(const float *O, int64_t ld, int ntw, float *y, int W,
                                  float bias)
{
    const __m512 vb = _mm512_set1_ps(bias);
    for (int g = 0; g * 8 < ntw && 32 * g < W; g++) {
        const int rem = ntw - 8 * g;
        const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
        __m256 o[4];
#pragma GCC unroll 6
        for (int j = 0; j < 4; j++) o[j] = _mm256_maskz_loadu_ps(mk, O + j * ld + 8 * g);
        put4(o, y, 32 * g, W, vb);
    }
}

/* A^T of 8 tiles' column m[0..5] (the at6 arithmetic of conv_wino_tf.c). */
static inline AVX512 __attribute__((always_inline)) void at6v(const __m256 *m, __m256 *o)
{
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c8 = _mm256_set1_ps(8.0f);
    const __m256 p = _mm256_add_ps(m[1], m[2]), q = _mm256_sub_ps(m[1], m[2]);
    const __m256 r = _mm256_add_ps(m[3], m[4]), s = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], p), r);
    o[1] = _mm256_add_ps(q, _mm256_mul_ps(c2, s));
    o[2] = _mm256_add_ps(p, _mm256_mul_ps(c4, r));
    o[3] = _mm256_add_ps(_mm256_add_ps(q, _mm256_mul_ps(c8, s)), m[5]);
}

AVX512 void cl_wino_out6_avx512(const float *M, int64_t ms, int g0, int nr, int nth, int ntw,
                                float *dst, int64_t is, int H, int W, float bias)
{
    const __m512 vb = _mm512_set1_ps(bias);
    for (int r = 0; r < nr; r++) {
        const int gi = g0 + r, th = gi % nth;
        float *plane = dst + (int64_t)(gi / nth) * is;
        const float *mr = M + (int64_t)r * ntw;
        for (int g = 0; g * 8 < ntw && 32 * g < W; g++) {
            const int rem = ntw - 8 * g;
            const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
            __m256 t[4][6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) { /* columns: t[i][j] = (A^T M)[i][j] */
                __m256 m[6], o[4];
#pragma GCC unroll 6
                for (int k = 0; k < 6; k++)
                    m[k] = _mm256_maskz_loadu_ps(mk, mr + (k * 6 + j) * ms + 8 * g);
                at6v(m, o);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) t[i][j] = o[i];
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) { /* rows: (A^T M) A, written back */
                if (th * 4 + i >= H) break;
                __m256 o[4];
                at6v(t[i], o);
                put4(o, plane + (int64_t)(th * 4 + i) * W, 32 * g, W, vb);
            }
        }
    }
}

AVX512 void cl_wino_group_avx512(int dy, const float *Zg, int ntw, int nt, float *out, int64_t os)
{
    /* lane u < 4 of a half: tile row u / ntw (S = 8 ntw floats apart),
     * tile u % ntw, column l; the upper four lanes come from z2, z3 */
    const int S = 8 * ntw;
    int ix[16] = {0};
    for (int u = 0; u < 4; u++) ix[u] = (u / ntw) * S + 4 * (u % ntw);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i idx[6];
    idx[0] = _mm512_loadu_si512(ix);
    for (int l = 1; l < 6; l++) idx[l] = _mm512_add_epi32(idx[l - 1], one);
    const __mmask8 mk = nt >= 8 ? 0xFF : (__mmask8)((1u << nt) - 1);
    for (int k = 0; k < 6; k++) {
        const float *b = Zg + k * 64;
        const __m512 z0 = _mm512_loadu_ps(b), z1 = _mm512_loadu_ps(b + 16);
        const __m512 z2 = _mm512_loadu_ps(b + 32), z3 = _mm512_loadu_ps(b + 48);
        __m256 d[6], r[6];
#pragma GCC unroll 6
        for (int l = 0; l < 6; l++)
            d[l] = _mm256_insertf128_ps(
                PERM(z0, idx[l], z1),
                _mm512_castps512_ps128(_mm512_permutex2var_ps(z2, idx[l], z3)), 1);
        tf6(dy, d, r);
        float *o = out + (int64_t)k * 6 * os;
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) _mm256_mask_storeu_ps(o + j * os, mk, r[j]);
    }
}
#endif
