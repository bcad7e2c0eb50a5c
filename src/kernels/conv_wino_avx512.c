/* AVX-512 read-out / write-back of F(4x4, 3x3) Winograd tiles (the
 * portable loops are in conv_wino_tf.c, which calls these when
 * cl_isa_current() is AVX512). A padded plane row b (cl_wino_row_stride
 * floats) holds 8 tiles in 32 floats: tile tw's column l is b[4 tw + l],
 * so 8 tiles' column l is one two-register permute (l = 4, 5: the next
 * tile's columns 0, 1, from the registers loaded 4 floats further on).
 * Tiles past ntw are masked off. Arithmetic of the fused transforms as the
 * plain C versions, same operation order (same results). */
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

AVX512 void cl_wino_deint_bt6_avx512(const float *Z, int rs, int ntw, float *V, int64_t vs)
{
    PHASE_IDX;
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
    for (int k = 0; k < 6; k++) {
        const float *b = Z + (int64_t)k * rs;
        float *v = V + (int64_t)k * 6 * vs;
        for (int g = 0; g * 8 < ntw; g++) {
            GROUP_LOAD(b, g);
            const __m256 d0 = PERM(lo, p0, hi), d1 = PERM(lo, p1, hi), d2 = PERM(lo, p2, hi);
            const __m256 d3 = PERM(lo, p3, hi), d4 = PERM(lo4, p0, hi4), d5 = PERM(lo4, p1, hi4);
            const __m256 pp = _mm256_sub_ps(d4, _mm256_mul_ps(c4, d2));
            const __m256 qq = _mm256_sub_ps(_mm256_mul_ps(c4, d1), d3);
            const __m256 rr = _mm256_sub_ps(d4, d2);
            const __m256 ss = _mm256_mul_ps(c2, _mm256_sub_ps(d1, d3));
            const __m256 o0 =
                _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d0), _mm256_mul_ps(c5, d2)), d4);
            const __m256 o5 =
                _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d1), _mm256_mul_ps(c5, d3)), d5);
            float *o = v + 8 * g;
            _mm256_mask_storeu_ps(o, mk, o0);
            _mm256_mask_storeu_ps(o + vs, mk, _mm256_sub_ps(pp, qq));
            _mm256_mask_storeu_ps(o + 2 * vs, mk, _mm256_add_ps(pp, qq));
            _mm256_mask_storeu_ps(o + 3 * vs, mk, _mm256_sub_ps(rr, ss));
            _mm256_mask_storeu_ps(o + 4 * vs, mk, _mm256_add_ps(rr, ss));
            _mm256_mask_storeu_ps(o + 5 * vs, mk, o5);
        }
    }
}

AVX512 void cl_wino_deint_a6_avx512(const float *Z, int rs, int ntw, float *Y, int64_t ys)
{
    PHASE_IDX;
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c8 = _mm256_set1_ps(8.0f);
    for (int k = 0; k < 6; k++) {
        const float *b = Z + (int64_t)k * rs;
        float *y = Y + (int64_t)k * 6 * ys;
        for (int g = 0; g * 8 < ntw; g++) {
            GROUP_LOAD(b, g);
            (void)lo4, (void)hi4;
            const __m256 i0 = PERM(lo, p0, hi), i1 = PERM(lo, p1, hi), i2 = PERM(lo, p2, hi);
            const __m256 i3 = PERM(lo, p3, hi);
            const __m256 e = _mm256_add_ps(i0, i2), od = _mm256_add_ps(i1, i3);
            const __m256 e4 = _mm256_add_ps(i0, _mm256_mul_ps(c4, i2));
            const __m256 o8 = _mm256_add_ps(_mm256_mul_ps(c2, i1), _mm256_mul_ps(c8, i3));
            float *o = y + 8 * g;
            _mm256_mask_storeu_ps(o, mk, i0);
            _mm256_mask_storeu_ps(o + ys, mk, _mm256_add_ps(e, od));
            _mm256_mask_storeu_ps(o + 2 * ys, mk, _mm256_sub_ps(e, od));
            _mm256_mask_storeu_ps(o + 3 * ys, mk, _mm256_add_ps(e4, o8));
            _mm256_mask_storeu_ps(o + 4 * ys, mk, _mm256_sub_ps(e4, o8));
            _mm256_mask_storeu_ps(o + 5 * ys, mk, i3);
        }
    }
}

AVX512 void cl_wino_inter4_avx512(const float *O, int64_t ld, int ntw, float *y, int W,
                                  float bias)
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

AVX512 void cl_wino_at6_rows_avx512(const float *T, int64_t ld, int ntw, int th, float *plane,
                                    int H, int W, float bias)
{
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    const __m512 vb = _mm512_set1_ps(bias);
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c8 = _mm256_set1_ps(8.0f);
    for (int i = 0; i < 4 && th * 4 + i < H; i++) {
        const float *t = T + (int64_t)i * 6 * ld;
        float *y = plane + (int64_t)(th * 4 + i) * W;
        for (int g = 0; g * 8 < ntw; g++) {
            const int rem = ntw - 8 * g, w0 = 32 * g;
            const __mmask8 mk = rem >= 8 ? 0xFF : (__mmask8)((1u << rem) - 1);
            const float *o = t + 8 * g;
            const __m256 m0 = _mm256_maskz_loadu_ps(mk, o), m1 = _mm256_maskz_loadu_ps(mk, o + ld);
            const __m256 m2 = _mm256_maskz_loadu_ps(mk, o + 2 * ld);
            const __m256 m3 = _mm256_maskz_loadu_ps(mk, o + 3 * ld);
            const __m256 m4 = _mm256_maskz_loadu_ps(mk, o + 4 * ld);
            const __m256 m5 = _mm256_maskz_loadu_ps(mk, o + 5 * ld);
            const __m256 p = _mm256_add_ps(m1, m2), q = _mm256_sub_ps(m1, m2);
            const __m256 r = _mm256_add_ps(m3, m4), s = _mm256_sub_ps(m3, m4);
            const __m256 o0 = _mm256_add_ps(_mm256_add_ps(m0, p), r);
            const __m256 o1 = _mm256_add_ps(q, _mm256_mul_ps(c2, s));
            const __m256 o2 = _mm256_add_ps(p, _mm256_mul_ps(c4, r));
            const __m256 o3 = _mm256_add_ps(_mm256_add_ps(q, _mm256_mul_ps(c8, s)), m5);
            const __m512 p01 = _mm512_insertf32x8(_mm512_castps256_ps512(o0), o1, 1);
            const __m512 p23 = _mm512_insertf32x8(_mm512_castps256_ps512(o2), o3, 1);
            const int n0 = W - w0, n1 = W - w0 - 16;
            const __mmask16 k0 = n0 >= 16 ? 0xFFFF : (__mmask16)((1u << n0) - 1);
            _mm512_mask_storeu_ps(y + w0, k0,
                                  _mm512_add_ps(_mm512_permutex2var_ps(p01, lo, p23), vb));
            if (n1 <= 0) break;
            const __mmask16 k1 = n1 >= 16 ? 0xFFFF : (__mmask16)((1u << n1) - 1);
            _mm512_mask_storeu_ps(y + w0 + 16, k1,
                                  _mm512_add_ps(_mm512_permutex2var_ps(p01, hi, p23), vb));
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
    const __m512i i0 = _mm512_loadu_si512(ix), one = _mm512_set1_epi32(1);
    const __m512i i1 = _mm512_add_epi32(i0, one), i2 = _mm512_add_epi32(i1, one);
    const __m512i i3 = _mm512_add_epi32(i2, one), i4 = _mm512_add_epi32(i3, one);
    const __m512i i5 = _mm512_add_epi32(i4, one);
    const __mmask8 mk = nt >= 8 ? 0xFF : (__mmask8)((1u << nt) - 1);
    const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
    const __m256 c8 = _mm256_set1_ps(8.0f);
#define COL(ix)                                                                            \
    _mm256_insertf128_ps(PERM(z0, ix, z1),                                                 \
                         _mm512_castps512_ps128(_mm512_permutex2var_ps(z2, ix, z3)), 1)
    for (int k = 0; k < 6; k++) {
        const float *b = Zg + k * 64;
        const __m512 z0 = _mm512_loadu_ps(b), z1 = _mm512_loadu_ps(b + 16);
        const __m512 z2 = _mm512_loadu_ps(b + 32), z3 = _mm512_loadu_ps(b + 48);
        const __m256 d0 = COL(i0), d1 = COL(i1), d2 = COL(i2), d3 = COL(i3);
        float *o = out + (int64_t)k * 6 * os;
        __m256 r[6];
        if (dy) { /* A (d0..d3), as a4to6 */
            const __m256 e = _mm256_add_ps(d0, d2), od = _mm256_add_ps(d1, d3);
            const __m256 e4 = _mm256_add_ps(d0, _mm256_mul_ps(c4, d2));
            const __m256 o8 = _mm256_add_ps(_mm256_mul_ps(c2, d1), _mm256_mul_ps(c8, d3));
            r[0] = d0, r[1] = _mm256_add_ps(e, od), r[2] = _mm256_sub_ps(e, od);
            r[3] = _mm256_add_ps(e4, o8), r[4] = _mm256_sub_ps(e4, o8), r[5] = d3;
        } else { /* B^T (d0..d5), as bt6 */
            const __m256 d4 = COL(i4), d5 = COL(i5);
            const __m256 pp = _mm256_sub_ps(d4, _mm256_mul_ps(c4, d2));
            const __m256 qq = _mm256_sub_ps(_mm256_mul_ps(c4, d1), d3);
            const __m256 rr = _mm256_sub_ps(d4, d2);
            const __m256 ss = _mm256_mul_ps(c2, _mm256_sub_ps(d1, d3));
            r[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d0), _mm256_mul_ps(c5, d2)), d4);
            r[1] = _mm256_sub_ps(pp, qq), r[2] = _mm256_add_ps(pp, qq);
            r[3] = _mm256_sub_ps(rr, ss), r[4] = _mm256_add_ps(rr, ss);
            r[5] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(c4, d1), _mm256_mul_ps(c5, d3)), d5);
        }
        for (int j = 0; j < 6; j++) _mm256_mask_storeu_ps(o + j * os, mk, r[j]);
    }
#undef COL
}
#endif
