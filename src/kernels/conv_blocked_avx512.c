/* AVX-512 stages of the channel-blocked Winograd F(4x4, 3x3) convolution
 * (the pipeline is in conv_blocked.c, the layout in kernels_blocked.h).
 * One vector = 16 channels of one pixel, so every transform is plain
 * vector arithmetic: B^T d B of a 6x6 input tile is 12 six-point
 * transforms (rows, then columns), A^T m A of a 6x6 product tile 10 six-to-
 * four ones, A g A^T of a 4x4 dy tile 10 four-to-six ones (Lavin & Gray
 * 2016, F(4x4, 3x3)). Tiles hanging over the bottom / right edge read
 * zeros and write only the pixels inside. The small loops are unrolled so
 * their vector arrays stay in registers. */
#include "internal.h"

#if defined(__x86_64__)
#include "blocked_io.h"

#define NB 12 /* tiles per register block of the forward product */

static int chunk_tiles(const cl_bplan *p, int ci)
{
    const int left = p->N * p->Tn - ci * p->T;
    return left < p->T ? left : p->T;
}

/* r = B^T d: one six-point input transform */
AVX512 static inline void bt6(const __m512 *d, __m512 *r)
{
    const __m512 f4 = _mm512_set1_ps(4), f5 = _mm512_set1_ps(5), f2 = _mm512_set1_ps(2);
    const __m512 a = _mm512_fnmadd_ps(f4, d[2], d[4]),
                 b = _mm512_fnmadd_ps(f4, d[1], d[3]);
    const __m512 c = _mm512_sub_ps(d[4], d[2]),
                 e = _mm512_mul_ps(f2, _mm512_sub_ps(d[3], d[1]));
    r[0] = _mm512_fmadd_ps(f4, d[0], _mm512_fnmadd_ps(f5, d[2], d[4]));
    r[1] = _mm512_add_ps(a, b);
    r[2] = _mm512_sub_ps(a, b);
    r[3] = _mm512_add_ps(c, e);
    r[4] = _mm512_sub_ps(c, e);
    r[5] = _mm512_fmadd_ps(f4, d[1], _mm512_fnmadd_ps(f5, d[3], d[5]));
}

/* o = A^T m: six products to four outputs */
AVX512 static inline void at6(const __m512 *m, __m512 *o)
{
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m[5]);
}

/* z = A g: four dy values to six (A = the transpose of A^T) */
AVX512 static inline void a6(const __m512 *g, __m512 *z)
{
    const __m512 s02 = _mm512_add_ps(g[0], g[2]), s13 = _mm512_add_ps(g[1], g[3]);
    const __m512 e = _mm512_fmadd_ps(_mm512_set1_ps(4), g[2], g[0]);
    const __m512 o = _mm512_fmadd_ps(_mm512_set1_ps(8), g[3], _mm512_add_ps(g[1], g[1]));
    z[0] = g[0];
    z[1] = _mm512_add_ps(s02, s13);
    z[2] = _mm512_sub_ps(s02, s13);
    z[3] = _mm512_add_ps(e, o);
    z[4] = _mm512_sub_ps(e, o);
    z[5] = g[3];
}

/* Stores the 36 entries t[i][l] of a tile as positions i*6 + l after the
 * column transform: out + (k*6 + l) * xs = f(column l)[k]. */
#define STORE_COLS(n_in, f, t, out, xs)                                                  \
    do {                                                                                 \
        _Pragma("GCC unroll 6") for (int l = 0; l < 6; l++)                              \
        {                                                                                \
            __m512 col_[6], r_[6];                                                       \
            _Pragma("GCC unroll 6") for (int i = 0; i < (n_in); i++) col_[i] =           \
                (t)[i][l];                                                               \
            f(col_, r_);                                                                 \
            _Pragma("GCC unroll 6") for (int k = 0; k < 6; k++)                          \
                _mm512_storeu_ps((out) + (k * 6 + l) * (xs), r_[k]);                     \
        }                                                                                \
    } while (0)

typedef struct {
    __m512 m, k, b;
    int relu;
} bn_coef;

AVX512_INLINE bn_coef bn_load(const cl_blk_bn *bn, int cb)
{
    bn_coef c;
    c.m = _mm512_loadu_ps(bn->mean + 16 * cb);
    c.k = _mm512_mul_ps(_mm512_loadu_ps(bn->gamma + 16 * cb),
                        _mm512_loadu_ps(bn->invstd + 16 * cb));
    c.b = _mm512_loadu_ps(bn->beta + 16 * cb);
    c.relu = bn->relu;
    return c;
}

/* Rows h0 .. h0+5 of image n (all channel blocks) into R [CB][6][RW][16]
 * with the padding as zeros (RW = 4 ntw + 2 columns, column k = pixel k -
 * 1), pro applied to the pixels inside: each row read as one sequential
 * stream. (Loading the 6 x 6 tiles straight from the tensor ran at a
 * fifth of the memory bandwidth: six short strided streams per tile.) */
AVX512_INLINE void fill_rows(const cl_bplan *p, const float *xb, int n, int h0, float *R,
                             const cl_blk_bn *pro, const int use_pro)
{
    const int64_t HW = (int64_t)p->H * p->W;
    const int CB = p->C / 16, RW = 4 * p->ntw + 2;
    const __m512 zero = _mm512_setzero_ps();
    for (int cb = 0; cb < CB; cb++) {
        bn_coef c = {0};
        if (use_pro) c = bn_load(pro, cb);
        for (int i = 0; i < 6; i++) {
            const int h = h0 + i;
            float *row = R + ((int64_t)cb * 6 + i) * RW * 16;
            if ((unsigned)h >= (unsigned)p->H) {
                for (int k = 0; k < RW; k++) _mm512_storeu_ps(row + 16 * k, zero);
                continue;
            }
            const float *src = xb + (((int64_t)n * CB + cb) * HW + (int64_t)h * p->W) * 16;
            _mm512_storeu_ps(row, zero);
            for (int w = 0; w < p->W; w++) {
                __m512 v = _mm512_loadu_ps(src + 16 * w);
                if (use_pro) {
                    v = cl_bn_apply_vec(v, c.m, c.k, c.b);
                    if (c.relu) v = _mm512_max_ps(zero, v); /* NaN kept */
                }
                _mm512_storeu_ps(row + 16 * (w + 1), v);
            }
            for (int k = p->W + 1; k < RW; k++) _mm512_storeu_ps(row + 16 * k, zero);
        }
    }
}

AVX512_INLINE void in_tf(const cl_bplan *p, const float *xb, int ci, float *V, float *R,
                         const cl_blk_bn *pro, const int use_pro)
{
    const int CB = p->C / 16, t0 = ci * p->T, tn = chunk_tiles(p, ci), RW = 4 * p->ntw + 2;
    int have = -1; /* the tile-row (image * rows + th) in R */
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        if (have != g / p->ntw) {
            fill_rows(p, xb, n, th * 4 - 1, R, pro, use_pro);
            have = g / p->ntw;
        }
        for (int cb = 0; cb < CB; cb++) {
            const float *q = R + ((int64_t)cb * 6 * RW + tw * 4) * 16;
            __m512 t[6][6];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 d[6];
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++)
                    d[j] = _mm512_loadu_ps(q + ((int64_t)i * RW + j) * 16);
                bt6(d, t[i]);
            }
            STORE_COLS(6, bt6, t, V + ((int64_t)cb * p->T + tt) * 16, p->vs);
        }
    }
}

AVX512 void cl_blk_in_tf(const cl_bplan *p, const float *xb, int ci, float *V, float *R,
                         const cl_blk_bn *pro)
{
    if (pro)
        in_tf(p, xb, ci, V, R, pro, 1);
    else
        in_tf(p, xb, ci, V, R, NULL, 0);
}

AVX512 void cl_blk_dy_tf(const cl_bplan *p, const float *dyb, int ci, float *Z)
{
    const int64_t HW = (int64_t)p->H * p->W;
    const int OB = p->OC / 16, t0 = ci * p->T, tn = chunk_tiles(p, ci);
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        for (int ob = 0; ob < OB; ob++) {
            const float *base = dyb + ((int64_t)n * OB + ob) * HW * 16;
            __m512 q[4][6];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const int h = th * 4 + r;
                __m512 gv[4];
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    const int w = tw * 4 + c;
                    gv[c] = (h >= p->H || w >= p->W)
                                ? _mm512_setzero_ps()
                                : _mm512_loadu_ps(base + ((int64_t)h * p->W + w) * 16);
                }
                a6(gv, q[r]);
            }
            STORE_COLS(4, a6, q, Z + ((int64_t)ob * p->T + tt) * 16, p->ms);
        }
    }
}

/* M[t..t+nb) of one position and 16 output channels: sum_c V[c][t] U[c] */
AVX512 static inline __attribute__((always_inline)) void mblock(int nb, int C, int64_t T,
                                                                int OC, const float *Vx,
                                                                const float *Ux,
                                                                float *Mx, int t)
{
    __m512 acc[NB];
#pragma GCC unroll 12
    for (int j = 0; j < nb; j++)
        acc[j] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) {
        const __m512 u = _mm512_loadu_ps(Ux + (int64_t)c * OC);
        const float *v = Vx + ((int64_t)(c >> 4) * T + t) * 16 + (c & 15);
#pragma GCC unroll 12
        for (int j = 0; j < nb; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(v[j * 16]), u, acc[j]);
    }
#pragma GCC unroll 12
    for (int j = 0; j < nb; j++)
        _mm512_storeu_ps(Mx + (int64_t)(t + j) * 16, acc[j]);
}

AVX512 void cl_blk_mul(const cl_bplan *p, int ci, const float *U, const float *V,
                       float *M)
{
    const int tn = chunk_tiles(p, ci), C = p->C, OB = p->OC / 16;
    for (int xi = 0; xi < 36; xi++) {
        const float *Vx = V + (int64_t)xi * p->vs, *Ux = U + (int64_t)xi * C * p->OC;
        for (int ob = 0; ob < OB; ob++) {
            float *Mx = M + (int64_t)xi * p->ms + (int64_t)ob * p->T * 16;
            int t = 0;
            for (; t + NB <= tn; t += NB)
                mblock(NB, C, p->T, p->OC, Vx, Ux + ob * 16, Mx, t);
            for (; t + 4 <= tn; t += 4)
                mblock(4, C, p->T, p->OC, Vx, Ux + ob * 16, Mx, t);
            for (; t < tn; t++)
                mblock(1, C, p->T, p->OC, Vx, Ux + ob * 16, Mx, t);
        }
    }
}

/* The output transform; the BN apply epi (+ its residual, + ReLU) on
 * every output vector as it is stored (use_epi). */
AVX512_INLINE void out_tf(const cl_bplan *p, int ci, const float *M, float *yb,
                          const cl_blk_bn *epi, const int use_epi)
{
    const int64_t HW = (int64_t)p->H * p->W;
    const int OB = p->OC / 16, t0 = ci * p->T, tn = chunk_tiles(p, ci);
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        const int nr = imin(4, p->H - th * 4), nc = imin(4, p->W - tw * 4);
        for (int ob = 0; ob < OB; ob++) {
            const float *m = M + ((int64_t)ob * p->T + tt) * 16;
            __m512 q[6][4];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 r[6];
#pragma GCC unroll 6
                for (int l = 0; l < 6; l++)
                    r[l] = _mm512_loadu_ps(m + (i * 6 + l) * p->ms);
                at6(r, q[i]);
            }
            const int64_t off =
                (((int64_t)n * OB + ob) * HW + (int64_t)th * 4 * p->W + tw * 4) * 16;
            float *base = yb + off;
            const float *res = use_epi && epi->res ? epi->res + off : NULL;
            bn_coef e = {0};
            if (use_epi) e = bn_load(epi, ob);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m512 col[6], o[4];
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++)
                    col[i] = q[i][c];
                at6(col, o);
                if (c >= nc) continue;
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    if (r >= nr) continue;
                    const int64_t at = ((int64_t)r * p->W + c) * 16;
                    __m512 v = o[r];
                    if (use_epi) {
                        v = cl_bn_apply_vec(v, e.m, e.k, e.b);
                        if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + at));
                        if (e.relu) v = _mm512_max_ps(_mm512_setzero_ps(), v); /* NaN kept */
                    }
                    cl_put(base + at, v, p->stream);
                }
            }
        }
    }
}

AVX512 void cl_blk_out_tf(const cl_bplan *p, int ci, const float *M, float *yb,
                          const cl_blk_bn *epi)
{
    if (epi)
        out_tf(p, ci, M, yb, epi, 1);
    else
        out_tf(p, ci, M, yb, NULL, 0);
    if (p->stream) _mm_sfence(); /* order the non-temporal stores before the join */
}

AVX512 void cl_blk_dw_mul(const cl_bplan *p, int ci, const float *V, const float *Z,
                          float *Macc)
{
    const int tn = chunk_tiles(p, ci), C = p->C, OC = p->OC, OB = OC / 16;
    for (int xi = 0; xi < 36; xi++)
        for (int ob = 0; ob < OB; ob++) {
            const float *Zx = Z + (int64_t)xi * p->ms + (int64_t)ob * p->T * 16;
            float *Ax = Macc + (int64_t)xi * C * OC + ob * 16;
            for (int c0 = 0; c0 < C; c0 += 16) { /* 16 input channels = one V vector */
                const float *Vx =
                    V + (int64_t)xi * p->vs + (int64_t)(c0 >> 4) * p->T * 16;
                __m512 acc[16];
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    acc[j] = _mm512_loadu_ps(Ax + (int64_t)(c0 + j) * OC);
                for (int t = 0; t < tn; t++) {
                    const __m512 zv = _mm512_loadu_ps(Zx + (int64_t)t * 16);
                    const float *v = Vx + (int64_t)t * 16;
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++)
                        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(v[j]), zv, acc[j]);
                }
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    _mm512_storeu_ps(Ax + (int64_t)(c0 + j) * OC, acc[j]);
            }
        }
}
AVX512 void cl_blk_convert16(const float *src, const float *add, float *dst, int to,
                             int N, int C, int64_t HW)
{
    const int CB = C / 16;
    const int64_t per = HW / 16, nblk = (int64_t)N * CB * per;
#pragma omp parallel for schedule(static) if (nblk * 256 >= PAR_MIN)
    for (int64_t q = 0; q < nblk; q++) {
        const int64_t nc = q / per, i0 = q % per * 16;
        const int n = (int)(nc / CB), cb = (int)(nc % CB);
        __m512 r[16];
        if (to) {
            cl_px_load(NULL, src, C, HW, n, cb, i0, r);
            cl_px_store(dst, NULL, C, HW, n, cb, i0, r);
            continue;
        }
        cl_px_load(src, NULL, C, HW, n, cb, i0, r);
        if (add) {
            __m512 a[16];
            cl_px_load(add, NULL, C, HW, n, cb, i0, a);
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) r[k] = _mm512_add_ps(r[k], a[k]);
        }
        cl_px_store(NULL, dst, C, HW, n, cb, i0, r);
    }
}
#endif
