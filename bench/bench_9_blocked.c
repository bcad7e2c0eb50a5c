/* An experiment for issue 10: stride-1 3x3 convolutions (pad 1) by Winograd
 * F(4x4, 3x3) in a channel-blocked layout, x [N][C/16][H][W][16] (16
 * channels of one pixel in one AVX-512 vector), against the library's NCHW
 * kernels (cl_conv2d_forward, cl_conv2d_backward with dx = NULL), forward
 * and dW, on the stride-1 shapes of ResNet-20 (16@32, 32@16, 64@8) and
 * ResNet-18's first stage (64@32), batch 128. Not a library path: the
 * models keep NCHW; this measures what a model-wide blocked layout would
 * gain on the convolutions before anyone converts BN, pooling, the strided
 * convs and the taps (docs/BENCH.md, "A channel-blocked layout").
 *
 * Why the layout: with 16 channels per vector the tile transforms are
 * plain vector adds and FMAs (the NCHW kernels permute 8 tiles out of each
 * plane row), and the element-wise stage is a small GEMM whose B operand
 * is a broadcast from memory: M[xi][t][oc] = sum_c V[xi][t][c] U[xi][c][oc]
 * (12 tiles x 16 output channels in registers), dW's Macc[xi][c][oc] +=
 * sum_t V[xi][t][c] Z[xi][t][oc] (16 x 16 in registers).
 * - Chunks of T tiles (whole images when planes are small) keep V and M /
 *   Z in L2: 36 (C + OC) T floats of about 768 KiB. Positions xi are
 *   16 floats further apart than their size (PAD): 36 streams at a
 *   multiple of 4 KiB would share one L1 set.
 * - Results are checked against the library: max |diff| / max |ref| of y
 *   and dW (F(4)'s rounding, as tests/test_conv_winograd.c bounds it).
 * - Env (for exploring, not needed): SHAPE=i (one shape), TMAX (tiles
 *   per chunk), PAD (floats between positions).
 * AVX-512 only: on another CPU it says so and exits 0. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>

#include "bench_common.h"
#include "collapse/kernels_conv.h"

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define NB 12 /* tiles per register block of the forward product */

/* F(4x4, 3x3)'s G (Lavin & Gray 2016) */
static const double G[6][3] = {{0.25, 0, 0},
                               {-1. / 6, -1. / 6, -1. / 6},
                               {-1. / 6, 1. / 6, -1. / 6},
                               {1. / 24, 1. / 12, 1. / 6},
                               {1. / 24, -1. / 12, 1. / 6},
                               {0, 0, 1}};

typedef struct {
    int N, C, OC, H, W, CB, OB, ntw, Tn, T, nchunks;
    const float *x, *U;
    float *y, *ws;
    int64_t slot, vs, ms; /* floats per thread slot; between positions xi in V, M / Z */
} plan;

/* Tiles in chunk ci (the last one may be short). */
static int chunk_tiles(const plan *p, int ci)
{
    const int left = p->N * p->Tn - ci * p->T;
    return left < p->T ? left : p->T;
}

/* U [36][C][OC] from W [OC][C][3][3]: G w G^T */
static void filt(const float *Wt, int OC, int C, float *U)
{
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        float t[6][3][64]; /* (G w)[i][b] for 64 output channels at a time */
        for (int o0 = 0; o0 < OC; o0 += 64) {
            const int no = OC - o0 < 64 ? OC - o0 : 64;
            for (int i = 0; i < 6; i++)
                for (int b = 0; b < 3; b++)
                    for (int o = 0; o < no; o++) {
                        const float *w = Wt + ((int64_t)(o0 + o) * C + c) * 9 + b;
                        t[i][b][o] = (float)G[i][0] * w[0] + (float)G[i][1] * w[3] +
                                     (float)G[i][2] * w[6];
                    }
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    float *u = U + ((int64_t)(i * 6 + j) * C + c) * OC + o0;
                    for (int o = 0; o < no; o++)
                        u[o] = t[i][0][o] * (float)G[j][0] + t[i][1][o] * (float)G[j][1] +
                               t[i][2][o] * (float)G[j][2];
                }
        }
    }
}

AVX512 static inline void bt6(__m512 *d, __m512 *r)
{
    const __m512 f4 = _mm512_set1_ps(4), f5 = _mm512_set1_ps(5), f2 = _mm512_set1_ps(2);
    __m512 a = _mm512_fnmadd_ps(f4, d[2], d[4]), b = _mm512_fnmadd_ps(f4, d[1], d[3]);
    __m512 c = _mm512_sub_ps(d[4], d[2]),
           e = _mm512_mul_ps(f2, _mm512_sub_ps(d[3], d[1]));
    r[0] = _mm512_fmadd_ps(f4, d[0], _mm512_fnmadd_ps(f5, d[2], d[4]));
    r[1] = _mm512_add_ps(a, b);
    r[2] = _mm512_sub_ps(a, b);
    r[3] = _mm512_add_ps(c, e);
    r[4] = _mm512_sub_ps(c, e);
    r[5] = _mm512_fmadd_ps(f4, d[1], _mm512_fnmadd_ps(f5, d[3], d[5]));
}

AVX512 static inline void at6(const __m512 *m, __m512 *o)
{
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m[5]);
}

/* z = A g (4 -> 6), A = the transpose of F(4x4, 3x3)'s A^T */
AVX512 static inline void a6(const __m512 *g, __m512 *z)
{
    const __m512 s02 = _mm512_add_ps(g[0], g[2]), s13 = _mm512_add_ps(g[1], g[3]);
    const __m512 f2 = _mm512_set1_ps(2), f4 = _mm512_set1_ps(4), f8 = _mm512_set1_ps(8);
    const __m512 e = _mm512_fmadd_ps(f4, g[2], g[0]),
                 o = _mm512_fmadd_ps(f8, g[3], _mm512_mul_ps(f2, g[1]));
    z[0] = g[0];
    z[1] = _mm512_add_ps(s02, s13);
    z[2] = _mm512_sub_ps(s02, s13);
    z[3] = _mm512_add_ps(e, o);
    z[4] = _mm512_sub_ps(e, o);
    z[5] = g[3];
}

/* V [36][CB][T][16] of chunk ci */
AVX512 static void in_tf(const plan *p, int ci, float *V)
{
    const int64_t HW = (int64_t)p->H * p->W;
    const int t0 = ci * p->T, tn = chunk_tiles(p, ci);
    const int64_t xs = p->vs;
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        for (int cb = 0; cb < p->CB; cb++) {
            const float *base = p->x + ((int64_t)n * p->CB + cb) * HW * 16;
            __m512 t[6][6];
            const int h0 = th * 4 - 1, w0 = tw * 4 - 1;
            if (h0 >= 0 && w0 >= 0 && h0 + 6 <= p->H && w0 + 6 <= p->W) { /* interior */
                const float *q = base + ((int64_t)h0 * p->W + w0) * 16;
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++) {
                    __m512 d[6];
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++)
                        d[j] = _mm512_loadu_ps(q + ((int64_t)i * p->W + j) * 16);
                    bt6(d, t[i]);
                }
            } else {
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++) {
                    const int h = h0 + i;
                    __m512 d[6];
#pragma GCC unroll 6
                    for (int j = 0; j < 6; j++) {
                        const int w = w0 + j;
                        d[j] = (h < 0 || h >= p->H || w < 0 || w >= p->W)
                                   ? _mm512_setzero_ps()
                                   : _mm512_loadu_ps(base + ((int64_t)h * p->W + w) * 16);
                    }
                    bt6(d, t[i]);
                }
            }
            float *v = V + ((int64_t)cb * p->T + tt) * 16;
#pragma GCC unroll 16
            for (int l = 0; l < 6; l++) {
                __m512 col[6], r[6];
#pragma GCC unroll 16
                for (int i = 0; i < 6; i++)
                    col[i] = t[i][l];
                bt6(col, r);
#pragma GCC unroll 16
                for (int k = 0; k < 6; k++)
                    _mm512_storeu_ps(v + (k * 6 + l) * xs, r[k]);
            }
        }
    }
}

/* acc for nb tiles from t: M[t..t+nb) = sum_c V[c][t..] U[c] */
AVX512 static inline __attribute__((always_inline)) void
mblock(int nb, int C, int T, int OC, const float *Vx, const float *Ux, float *Mx, int t)
{
    __m512 acc[NB];
#pragma GCC unroll 16
    for (int j = 0; j < nb; j++)
        acc[j] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) {
        const __m512 u = _mm512_loadu_ps(Ux + (int64_t)c * OC);
        const float *v = Vx + ((int64_t)(c >> 4) * T + t) * 16 + (c & 15);
#pragma GCC unroll 16
        for (int j = 0; j < nb; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(v[j * 16]), u, acc[j]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < nb; j++)
        _mm512_storeu_ps(Mx + (int64_t)(t + j) * 16, acc[j]);
}

/* M [36][OB][T][16] = V (.) U summed over C */
AVX512 static void mul(const plan *p, int ci, const float *V, float *M)
{
    const int tn = chunk_tiles(p, ci);
    const int C = p->C;
    for (int xi = 0; xi < 36; xi++) {
        const float *Vx = V + (int64_t)xi * p->vs;
        const float *Ux = p->U + (int64_t)xi * C * p->OC;
        for (int ob = 0; ob < p->OB; ob++) {
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

AVX512 static void out_tf(const plan *p, int ci, const float *M)
{
    const int64_t HW = (int64_t)p->H * p->W, xs = p->ms;
    const int t0 = ci * p->T, tn = chunk_tiles(p, ci);
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        for (int ob = 0; ob < p->OB; ob++) {
            const float *m = M + ((int64_t)ob * p->T + tt) * 16;
            __m512 q[6][4];
#pragma GCC unroll 16
            for (int i = 0; i < 6; i++) {
                __m512 r[6];
#pragma GCC unroll 16
                for (int l = 0; l < 6; l++)
                    r[l] = _mm512_loadu_ps(m + (i * 6 + l) * xs);
                at6(r, q[i]);
            }
            float *base = p->y + ((int64_t)n * p->OB + ob) * HW * 16;
#pragma GCC unroll 16
            for (int c = 0; c < 4; c++) {
                __m512 col[6], o[4];
#pragma GCC unroll 16
                for (int i = 0; i < 6; i++)
                    col[i] = q[i][c];
                at6(col, o);
#pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
                    _mm512_storeu_ps(
                        base + ((int64_t)(th * 4 + r) * p->W + tw * 4 + c) * 16, o[r]);
            }
        }
    }
}

static void blocked_fwd(plan *p, const float *Wt, float *U)
{
    filt(Wt, p->OC, p->C, U);
    p->U = U;
#pragma omp parallel
    {
        float *V = p->ws + omp_get_thread_num() * p->slot;
        float *M = V + 36 * p->vs;
#pragma omp for schedule(static)
        for (int ci = 0; ci < p->nchunks; ci++) {
            in_tf(p, ci, V);
            mul(p, ci, V, M);
            out_tf(p, ci, M);
        }
    }
}

/* Z [36][OB][T][16] <- A g A^T of chunk ci's 4x4 tiles of dy (blocked) */
AVX512 static void dy_tf(const plan *p, int ci, const float *dy, float *Z)
{
    const int64_t HW = (int64_t)p->H * p->W, xs = p->ms;
    const int t0 = ci * p->T, tn = chunk_tiles(p, ci);
    for (int tt = 0; tt < tn; tt++) {
        const int g = t0 + tt, n = g / p->Tn, th = g % p->Tn / p->ntw, tw = g % p->ntw;
        for (int ob = 0; ob < p->OB; ob++) {
            const float *base = dy + ((int64_t)n * p->OB + ob) * HW * 16;
            __m512 q[4][6];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m512 gv[4];
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    gv[c] = _mm512_loadu_ps(
                        base + ((int64_t)(th * 4 + r) * p->W + tw * 4 + c) * 16);
                a6(gv, q[r]);
            }
            float *z = Z + ((int64_t)ob * p->T + tt) * 16;
#pragma GCC unroll 6
            for (int l = 0; l < 6; l++) {
                __m512 col[4], o[6];
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    col[r] = q[r][l];
                a6(col, o);
#pragma GCC unroll 6
                for (int k = 0; k < 6; k++)
                    _mm512_storeu_ps(z + (k * 6 + l) * xs, o[k]);
            }
        }
    }
}

/* Macc [36][C][OC] += sum over the chunk's tiles V[xi][t][c] Z[xi][t][oc] */
AVX512 static void dw_mul(const plan *p, int ci, const float *V, const float *Z,
                          float *Macc)
{
    const int tn = chunk_tiles(p, ci);
    const int C = p->C, OC = p->OC;
    for (int xi = 0; xi < 36; xi++)
        for (int ob = 0; ob < p->OB; ob++) {
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

/* dW [OC][C][3][3] = G^T Macc G, Macc = sum over the thread slots */
static void blocked_dw(plan *p, const float *dy, float *dW, float *Macc)
{
    const int64_t nacc = (int64_t)36 * p->C * p->OC;
    int nt = 1;
#pragma omp parallel
    {
        float *V = p->ws + omp_get_thread_num() * p->slot;
        float *Z = V + 36 * p->vs, *A = Macc + omp_get_thread_num() * nacc;
#pragma omp single
        nt = omp_get_num_threads();
        memset(A, 0, sizeof(float) * (size_t)nacc);
#pragma omp for schedule(static)
        for (int ci = 0; ci < p->nchunks; ci++) {
            in_tf(p, ci, V);
            dy_tf(p, ci, dy, Z);
            dw_mul(p, ci, V, Z, A);
        }
    }
    const int C = p->C, OC = p->OC;
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        float t[3][6][64]; /* (G^T Macc)[i][l] for 64 output channels at a time */
        for (int o0 = 0; o0 < OC; o0 += 64) {
            const int no = OC - o0 < 64 ? OC - o0 : 64;
            for (int k = 1; k < nt; k++) /* the threads' sums into slot 0, in order */
                for (int xi = 0; xi < 36; xi++)
                    for (int o = 0; o < no; o++)
                        Macc[((int64_t)xi * C + c) * OC + o0 + o] +=
                            Macc[k * nacc + ((int64_t)xi * C + c) * OC + o0 + o];
            for (int i = 0; i < 3; i++)
                for (int l = 0; l < 6; l++) {
                    for (int o = 0; o < no; o++)
                        t[i][l][o] = 0;
                    for (int k = 0; k < 6; k++) {
                        const float *m = Macc + ((int64_t)(k * 6 + l) * C + c) * OC + o0;
                        for (int o = 0; o < no; o++)
                            t[i][l][o] += (float)G[k][i] * m[o];
                    }
                }
            for (int o = 0; o < no; o++)
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        float v = 0;
                        for (int l = 0; l < 6; l++)
                            v += t[i][l][o] * (float)G[l][j];
                        dW[((int64_t)(o0 + o) * C + c) * 9 + i * 3 + j] = v;
                    }
        }
    }
}

typedef struct {
    plan *p;
    const float *W;
    float *U;
    cl_conv_dims d;
    const float *xn;
    float *yn, *wsl;
    const float *dyb, *dyn;
    float *dWb, *dWl, *Macc;
} ctx;

static void run_b(void *c_)
{
    ctx *c = c_;
    blocked_fwd(c->p, c->W, c->U);
}
static void run_bw(void *c_)
{
    ctx *c = c_;
    blocked_dw(c->p, c->dyb, c->dWb, c->Macc);
}
static void run_lw(void *c_)
{
    ctx *c = c_;
    cl_conv2d_backward(&c->d, c->xn, c->W, c->dyn, NULL, c->dWl, NULL, c->wsl);
}
static void run_l(void *c_)
{
    ctx *c = c_;
    cl_conv2d_forward(&c->d, c->xn, c->W, NULL, c->yn, c->wsl);
}

/* NCHW a [N][C][HW] -> blocked b [N][C/16][HW][16] */
static void to_blocked(const float *a, float *b, int N, int C, int64_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++)
                b[(((int64_t)n * (C / 16) + c / 16) * HW + i) * 16 + c % 16] =
                    a[((int64_t)n * C + c) * HW + i];
}

int main(int argc, char **argv)
{
    bench_env e =
        bench_init(argc, argv,
                   "experiment: Winograd F(4x4,3x3) in a channel-blocked layout vs NCHW");
    if (cl_isa_current() != CL_ISA_AVX512) {
        printf("needs the AVX-512 path (isa %s): nothing measured\n",
               cl_isa_name(cl_isa_current()));
        return 0;
    }
    const int shapes[][3] = {{16, 16, 32}, {32, 32, 16}, {64, 64, 8}, {64, 64, 32}};
    const int N = e.quick ? 4 : 128;
    int tmax = getenv("TMAX") ? atoi(getenv("TMAX")) : 0;
    const int s0 = getenv("SHAPE") ? atoi(getenv("SHAPE")) : 0,
              s1 = getenv("SHAPE") ? s0 + 1 : 4;
    printf("%-14s %5s %6s | %9s %9s %6s | %9s %9s %6s | %s\n", "shape", "T", "chunks",
           "fwd blk", "fwd lib", "ratio", "dW blk", "dW lib", "ratio",
           "max |diff| / max |ref| (y, dW)");
    for (int s = s0; s < s1; s++) {
        plan p;
        memset(&p, 0, sizeof p);
        p.N = N, p.C = shapes[s][0], p.OC = shapes[s][1], p.H = p.W = shapes[s][2];
        p.CB = p.C / 16, p.OB = p.OC / 16, p.ntw = p.W / 4, p.Tn = (p.H / 4) * p.ntw;
        const int T = tmax > 0 ? tmax : (int)(196608 / (36 * (p.C + p.OC)));
        p.T = T < p.Tn ? T : T / p.Tn * p.Tn; /* whole images when they fit */
        p.nchunks = (N * p.Tn + p.T - 1) / p.T;
        int pad = getenv("PAD") ? atoi(getenv("PAD")) : 16;
        p.vs = (int64_t)p.CB * p.T * 16 + pad, p.ms = (int64_t)p.OB * p.T * 16 + pad;
        p.slot = 36 * (p.vs + p.ms) + 64;
        const int64_t HW = (int64_t)p.H * p.W, nx = N * p.C * HW, ny = N * p.OC * HW;
        const int64_t nw = (int64_t)p.OC * p.C * 9, nacc = 36 * (int64_t)p.C * p.OC;
        const int nt = omp_get_max_threads();
        float *xn = bench_alloc(4 * nx, "x"), *xb = bench_alloc(4 * nx, "xb");
        float *yn = bench_alloc(4 * ny, "y"), *yb = bench_alloc(4 * ny, "yb");
        float *dyn = bench_alloc(4 * ny, "dy"), *dyb = bench_alloc(4 * ny, "dyb");
        float *Wt = bench_alloc(4 * nw, "W"), *U = bench_alloc(4 * nacc, "U");
        float *dWb = bench_alloc(4 * nw, "dWb"), *dWl = bench_alloc(4 * nw, "dWl");
        float *Macc = bench_alloc(4 * nacc * nt, "Macc");
        bench_fill(xn, nx, 1);
        bench_fill(Wt, nw, 2);
        bench_fill(dyn, ny, 3);
        to_blocked(xn, xb, N, p.C, HW);
        to_blocked(dyn, dyb, N, p.OC, HW);
        p.x = xb;
        p.y = yb;
        p.ws = bench_alloc(4 * (size_t)p.slot * nt, "ws");
        ctx c = {&p,  Wt,  U,    cl_conv_dims_make(N, p.C, p.H, p.W, p.OC, 3, 1, 1),
                 xn,  yn,  NULL, dyb,
                 dyn, dWb, dWl,  Macc};
        int64_t nws = cl_conv2d_ws_floats(&c.d);
        c.wsl = bench_alloc(4 * (size_t)(nws > 0 ? nws : 1), "wsl");
        run_b(&c);
        run_l(&c);
        run_bw(&c);
        run_lw(&c);
        to_blocked(yn, dyn, N, p.OC, HW); /* dyn <- the library's y, blocked */
        double dy_ = 0, my = 0, dw = 0, mw = 0;
        for (int64_t i = 0; i < ny; i++) {
            dy_ = fmax(dy_, fabs(dyn[i] - yb[i]));
            my = fmax(my, fabs(dyn[i]));
        }
        for (int64_t i = 0; i < nw; i++) {
            dw = fmax(dw, fabs(dWb[i] - dWl[i]));
            mw = fmax(mw, fabs(dWl[i]));
        }
        double tb = 1e30, tl = 1e30, tbw = 1e30, tlw = 1e30;
        for (int r = 0; r < (e.quick ? 1 : 5); r++) {
            tb = fmin(tb, bench_min(run_b, &c, 3, 20, 0.2));
            tl = fmin(tl, bench_min(run_l, &c, 3, 20, 0.2));
            tbw = fmin(tbw, bench_min(run_bw, &c, 3, 20, 0.2));
            tlw = fmin(tlw, bench_min(run_lw, &c, 3, 20, 0.2));
        }
        char nm[32];
        snprintf(nm, sizeof nm, "%d->%d @%d", p.C, p.OC, p.H);
        printf("%-14s %5d %6d | %7.3fms %7.3fms %5.2fx | %7.3fms %7.3fms %5.2fx | %.1e "
               "%.1e\n",
               nm, p.T, p.nchunks, 1e3 * tb, 1e3 * tl, tl / tb, 1e3 * tbw, 1e3 * tlw,
               tlw / tbw, dy_ / my, dw / mw);
        fflush(stdout);
        cl_free(xn), cl_free(xb), cl_free(yn), cl_free(yb), cl_free(dyn), cl_free(dyb),
            cl_free(Wt);
        cl_free(U), cl_free(dWb), cl_free(dWl), cl_free(Macc), cl_free(p.ws),
            cl_free(c.wsl);
    }
    return 0;
}
