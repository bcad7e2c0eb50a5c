/* Winograd convolution of stride-1 3x3 "same" convolutions (pad 1): the
 * pipeline of forward, dx and dW (transforms and their formulas in
 * conv_wino_tf.c; Lavin & Gray 2016, "Fast Algorithms for Convolutional
 * Neural Networks"). conv.c decides when it runs (cl_conv2d_algo).
 *
 * - Tiles: m x m output tiles (m = 4: F(4x4, 3x3), a = 6; m = 2: F(2x2),
 *   a = 4) in tile rows of ntw = ceil(W/m) tiles; tiles hanging over the
 *   bottom/right edge read zeros and write only the pixels inside.
 * - Chunks: R whole tile rows, across images when planes are small, so the
 *   transformed inputs V [a*a][Cin][tiles] and products M [a*a][Cout][tiles]
 *   of one chunk take about CHUNK_FLOATS (512 KiB: half of a Zen 4 core's
 *   L2), twice that from 64 channels in + out (the products, dW's above
 *   all, ran 20-30% faster with the longer rows; thin layers did not
 *   gain). Threads take chunks with a static schedule, one workspace slot
 *   each; per chunk: input transform, a*a products (the element-wise stage
 *   summed over channels: M[xi] = U[xi] [Cout, Cin] @ V[xi] [Cin, tiles]),
 *   output transform, while the chunk is hot. The chunk size depends only
 *   on the shape, so the results do not depend on the thread count.
 * - dx: the same pipeline on dy with the flipped, transposed kernel
 *   Wf[c][oc][i][j] = W[oc][c][2-i][2-j] (stride-1 same conv).
 * - dW: by linearity, dW += sum over tiles of G^T [(A dy_t A^T) (.)
 *   (B^T x_t B)] G: per chunk Macc[xi] [OC, C] += DY[xi] [OC, tiles] @
 *   V[xi]^T, Macc per slot; slots summed in slot order (deterministic for a
 *   thread count), then one G^T . G back-transform. Wide layers (BIG_CC
 *   below) share one Macc instead, split by position xi.
 * - Memory (ResNet-18, batch 128, F(4)): 512@4x4 takes U 37.7 MB + V/M of
 *   one 64-tile chunk 9.4 MB; 256@8x8 9.4 + 9.4 MB (the im2col-grouped
 *   path it replaces touched ~2 x 12 MB of slots + 19 MB of flipped
 *   filters at 512).
 * - Error: F(4)'s transforms have entries up to 8 and 1/24, so its rounding
 *   error is 20-50x a direct convolution's (measured: up to 47
 *   FLT_EPSILON relative to sum |W||x| over the receptive field; see
 *   tests/test_conv_winograd.c); F(2) is close to direct. */
#include <omp.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/kernels_conv.h"
#include "collapse/kernels_dense.h"
#include "collapse/kernels_gemm.h"
#include "internal.h"

#define CHUNK_FLOATS 131072
/* Wide layers (C*OC above BIG_CC: ResNet-18's 256 and 512 channels) run
 * "big": one chunk at a time shared by all threads, V and M of the chunk
 * in one shared buffer (not per slot), the threads splitting each stage
 * (input transform by channel, products by position xi, output transform
 * by output channel), and dW accumulated in one shared Macc [a*a][OC][C]
 * whose positions belong to one thread each: no per-slot accumulators of
 * a*a*C*OC floats (37.7 MB at 512 channels) and no reduction, so dW does
 * not even depend on the thread count. Chunks of about BIG_FLOATS floats
 * of V + M (a multiple of 16 tiles: 64 at 512 + 512 channels), as each
 * chunk reads all of U (or Macc). Measured one thread, batch 128, fwd /
 * dx / dW ms: 512@4x4 38.5-41 / 37-47 / 44-46 at 2.4M floats, 45-46 /
 * 48 / 46-48 at 1.2M, 40.5 / 44-47 / 46.5-47.5 at 4.8M (one chunk);
 * 256@8x8 within noise (38-42 / 37-41 / 42-46). Big chunks lose on
 * narrower layers (64@32x32 fwd 61 vs 45 ms, dW 84 vs 55: they fall out
 * of L2), hence the per-slot path up to 128 x 128. */
#define BIG_CC (128 * 128)
#define BIG_FLOATS 2400000

typedef struct {
    int m, a, nth, ntw, R, nrows, nchunks, slots, big;
    int64_t tcap, slot;                   /* tiles per chunk, floats per slot */
    int64_t offT, offV, offM, offA, offB; /* slot: D | T | V | M | Macc | row buffer */
    int64_t offSV, offSM, offU;           /* after the slots: big: V | M; then U */
} wplan;

static int64_t r16(int64_t v) { return (v + 15) & ~(int64_t)15; }

static wplan wino_plan(const cl_conv_dims *d, int m, int flags)
{
    wplan p;
    p.m = m;
    p.a = m + 2;
    p.nth = (d->H + m - 1) / m;
    p.ntw = (d->W + m - 1) / m;
    p.nrows = d->N * p.nth;
    p.big = (int64_t)d->C * d->OC > BIG_CC;
    const int64_t aa = p.a * p.a, mx = imax(d->C, d->OC);
    const int64_t cf = d->C + d->OC >= 64 ? 2 * CHUNK_FLOATS : CHUNK_FLOATS;
    int64_t tmax = cf / (aa * (d->C + d->OC));
    if (p.big) {
        tmax = BIG_FLOATS / (aa * (d->C + d->OC)) & ~(int64_t)15;
        if (tmax < 16 || (flags & CL_WINO_TEST_CHUNK)) tmax = 16;
    }
    p.R = imax(1, imin((int)(tmax / p.ntw), p.nrows));
    p.tcap = (int64_t)p.R * p.ntw;
    p.nchunks = (p.nrows + p.R - 1) / p.R;
    p.slots = p.big ? CL_CONV_SLOTS : imin(p.nchunks, CL_CONV_SLOTS);
    const int64_t vm = p.big ? 0 : r16(aa * mx * p.tcap), acc = p.big ? 0 : r16(aa * d->C * d->OC);
    p.offT = r16(aa * p.tcap);
    p.offV = p.offT + r16(aa * p.tcap);
    p.offM = p.offV + vm;
    p.offA = p.offM + vm;
    p.offB = p.offA + acc;
    p.slot = p.offB + r16((int64_t)2 * p.a * cl_wino_row_stride(m, p.ntw));
    const int64_t sv = p.big ? r16(aa * mx * p.tcap) : 0;
    p.offSV = p.slots * p.slot;
    p.offSM = p.offSV + sv;
    p.offU = p.offSM + sv;
    return p;
}

int64_t cl_wino_ws_floats(const cl_conv_dims *d, int m)
{
    wplan p = wino_plan(d, m, 0);
    return p.offU + (int64_t)p.a * p.a * d->C * d->OC;
}

typedef struct {
    const wplan *p;
    int Cin, Cout, H, W, blas;
    cl_isa isa;
    const float *in, *dy, *U, *bias; /* dy: the dW pass */
    float *out;
} wctx;

/* The element-wise stage's products, one call site so the library can be
 * switched per shape: C [M, N] (= or += when acc) A [M, K] @ B [K, N], or
 * @ B^T with B [N, K] when nt. c->blas picks OpenBLAS (single-threaded
 * inside the parallel region) or the small kernels of kernels_gemm.h, per
 * kind of product (CL_WINO_BLAS_NN / _NT). */
static void wino_gemm(const wctx *c, int nt, int M, int N, int K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc, int acc)
{
    if (c->blas & (nt ? CL_WINO_BLAS_NT : CL_WINO_BLAS_NN))
        cl_sgemm(0, nt, M, N, K, 1.0f, A, (int)lda, B, (int)ldb, acc ? 1.0f : 0.0f, C, (int)ldc);
    else if (nt)
        cl_kgemm_nt(c->isa, M, N, K, A, (int)lda, B, (int)ldb, C, (int)ldc, acc);
    else
        cl_kgemm_nn(c->isa, M, N, K, A, (int)lda, B, (int)ldb, C, (int)ldc, acc);
}

/* The grouped small-plane path: out rows (stride os) <- the transform of
 * channel ch of src [N, Cs, H, W] for the nr tile rows of chunk ci, G tile
 * rows per call. */
static void group_rows(const wctx *c, int dy, const float *src, int Cs, int ch, int ci, int nr,
                       int G, float *out, int64_t os, float *buf)
{
    const wplan *p = c->p;
    const int64_t HW = (int64_t)c->H * c->W;
    for (int r = 0; r < nr; r += G) {
        const float *planes[4];
        int th[4];
        const int gn = imin(G, nr - r);
        for (int u = 0; u < gn; u++) {
            const int g = ci * p->R + r + u, n = g / p->nth;
            th[u] = g % p->nth;
            planes[u] = src + ((int64_t)n * Cs + ch) * HW;
        }
        cl_wino_gather_group(dy, planes, th, gn, c->H, c->W, p->ntw, out + (int64_t)r * p->ntw,
                             os, buf);
    }
}

/* out [a*a][Cs][tcap] (row stride Cs*tcap) <- the transform of chunk
 * ci's tiles of src [N, Cs, H, W], channels ch0..ch1-1: input B^T d B
 * (dy = 0) or the weight gradient's A dy A^T (dy = 1). */
static void chunk_tf(const wctx *c, int dy, const float *src, int Cs, int ch0, int ch1, int ci,
                     float *s, float *out)
{
    const int nr = imin(c->p->R, c->p->nrows - ci * c->p->R);
    const wplan *p = c->p;
    const int64_t ld = p->tcap, HW = (int64_t)c->H * c->W;
    float *D = s, *B = s + p->offB;
    const int fused = cl_wino_in_fused(c->isa, p->m, p->ntw);
    const int G = cl_wino_group(c->isa, p->m, p->ntw);
    for (int ch = ch0; ch < ch1; ch++) {
        if (ch + 1 < Cs) /* the next plane's rows, while this one is transformed */
            for (int r = 0; r < nr; r++) {
                const int g = ci * p->R + r, n = g / p->nth, th = g % p->nth;
                const float *q = src + ((int64_t)n * Cs + ch + 1) * HW;
                for (int k = th * p->m; k < imin(th * p->m + p->m, c->H); k++)
                    for (int w = 0; w < c->W; w += 16) __builtin_prefetch(q + (int64_t)k * c->W + w);
            }
        if (G) {
            group_rows(c, dy, src, Cs, ch, ci, nr, G, out + ch * ld, Cs * ld, B);
            continue;
        }
#if defined(__x86_64__)
        if (fused) { /* the whole transform, plane rows read once */
            cl_wino_in6_avx512(dy, src + ch * HW, Cs * HW, ci * p->R, nr, p->nth, c->H, c->W,
                               p->ntw, out + ch * ld, Cs * ld);
            continue;
        }
#endif
        float *o = fused ? out + ch * ld : D;
        for (int r = 0; r < nr; r++) {
            const int g = ci * p->R + r, n = g / p->nth, th = g % p->nth;
            cl_wino_gather(dy, c->isa, src + ((int64_t)n * Cs + ch) * HW, c->H, c->W, p->m, th,
                           p->ntw, o + (int64_t)r * p->ntw, fused ? Cs * ld : ld, B);
        }
        if (!fused) cl_wino_tf_rows(dy, p->m, D, ld, out + ch * ld, Cs * ld, nr * p->ntw);
    }
}

/* M[xi] [Cout, tn] = U[xi] [Cout, Cin] @ V[xi] for xi = x0..x1-1. */
static void fwd_mul(const wctx *c, int ci, const float *V, float *M, int x0, int x1)
{
    const wplan *p = c->p;
    const int tn = imin(p->R, p->nrows - ci * p->R) * p->ntw;
    const int64_t ld = p->tcap, UC = (int64_t)c->Cout * c->Cin;
    for (int xi = x0; xi < x1; xi++)
        wino_gemm(c, 0, c->Cout, tn, c->Cin, c->U + xi * UC, c->Cin, V + xi * c->Cin * ld, ld,
                  M + xi * c->Cout * ld, ld, 0);
}

/* Output channels o0..o1-1 of chunk ci: A^T M A written into the planes. */
static void fwd_out(const wctx *c, int ci, float *s, const float *M, int o0, int o1)
{
    const wplan *p = c->p;
    const int nr = imin(p->R, p->nrows - ci * p->R), tn = nr * p->ntw;
    const int64_t ld = p->tcap, HW = (int64_t)c->H * c->W;
    float *D = s, *T = s + p->offT, *B = s + p->offB;
#if defined(__x86_64__)
    if (cl_wino_in_fused(c->isa, p->m, p->ntw)) { /* the whole transform, no T pass */
        for (int o = o0; o < o1; o++)
            cl_wino_out6_avx512(M + o * ld, c->Cout * ld, ci * p->R, nr, p->nth, p->ntw,
                                c->out + o * HW, c->Cout * HW, c->H, c->W,
                                c->bias ? c->bias[o] : 0.0f);
        return;
    }
#endif
    for (int o = o0; o < o1; o++) {
        cl_wino_out_tf(p->m, M + o * ld, c->Cout * ld, T, D, ld, tn);
        for (int r = 0; r < nr; r++) {
            const int g = ci * p->R + r, n = g / p->nth, th = g % p->nth;
            float *plane = c->out + ((int64_t)n * c->Cout + o) * HW;
            const float bias = c->bias ? c->bias[o] : 0.0f;
            cl_wino_scatter(c->isa, D + (int64_t)r * p->ntw, ld, p->m, th, p->ntw, plane, c->H,
                            c->W, bias, B);
        }
    }
}

static void fwd_chunk(const wctx *c, int ci, float *s)
{
    const wplan *p = c->p;
    float *V = s + p->offV, *M = s + p->offM;
    chunk_tf(c, 0, c->in, c->Cin, 0, c->Cin, ci, s, V);
    fwd_mul(c, ci, V, M, 0, p->a * p->a);
    fwd_out(c, ci, s, M, 0, c->Cout);
}

static int wino_threads(const wplan *p) { return imax(1, imin(p->slots, omp_get_max_threads())); }

static void run_fwd(const wctx *c, float *ws)
{
    const wplan *p = c->p;
    const int T = wino_threads(p), aa = p->a * p->a;
    float *V = ws + p->offSV, *M = ws + p->offSM;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *s = ws + omp_get_thread_num() * p->slot;
        if (!p->big) {
#pragma omp for schedule(static)
            for (int ci = 0; ci < p->nchunks; ci++) fwd_chunk(c, ci, s);
        } else
            for (int ci = 0; ci < p->nchunks; ci++) { /* big: each stage shared */
#pragma omp for schedule(static)
                for (int ch = 0; ch < c->Cin; ch++)
                    chunk_tf(c, 0, c->in, c->Cin, ch, ch + 1, ci, s, V);
#pragma omp for schedule(static)
                for (int xi = 0; xi < aa; xi++) fwd_mul(c, ci, V, M, xi, xi + 1);
#pragma omp for schedule(static)
                for (int o = 0; o < c->Cout; o++) fwd_out(c, ci, s, M, o, o + 1);
            }
    }
}

void cl_wino_forward(const cl_conv_dims *d, int m, int blas, const float *x, const float *W,
                     const float *b, float *y, float *ws)
{
    wplan p = wino_plan(d, m, blas);
    if (p.nchunks == 0) return;
    float *U = ws + p.offU;
    cl_wino_filter(m, W, d->OC, d->C, 0, U);
    wctx c = {&p, d->C, d->OC, d->H, d->W, blas, cl_isa_current(), x, NULL, U, b, y};
    run_fwd(&c, ws);
}

/* Macc [a*a][OC][C] += (A dy A^T) [a*a][OC][tn] @ (B^T x B)^T of chunk ci. */
static void dw_chunk(const wctx *c, int ci, float *s)
{
    const wplan *p = c->p;
    const int tn = imin(p->R, p->nrows - ci * p->R) * p->ntw, aa = p->a * p->a;
    const int64_t ld = p->tcap, UC = (int64_t)c->Cout * c->Cin;
    float *V = s + p->offV, *Z = s + p->offM;
    chunk_tf(c, 0, c->in, c->Cin, 0, c->Cin, ci, s, V);
    chunk_tf(c, 1, c->dy, c->Cout, 0, c->Cout, ci, s, Z);
    for (int xi = 0; xi < aa; xi++)
        wino_gemm(c, 1, c->Cout, c->Cin, tn, Z + xi * c->Cout * ld, ld, V + xi * c->Cin * ld, ld,
                  s + p->offA + xi * UC, c->Cin, 1);
}

/* Big dW: Macc [a*a][OC][C] (shared, = U's space) over the chunks in
 * order; position xi belongs to one thread (the first chunk overwrites). */
static void run_dw_big(const wctx *c, float *ws, float *Macc)
{
    const wplan *p = c->p;
    const int T = wino_threads(p), aa = p->a * p->a, nc = c->Cin + c->Cout;
    const int64_t ld = p->tcap, UC = (int64_t)c->Cout * c->Cin;
    float *V = ws + p->offSV, *Z = ws + p->offSM;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *s = ws + omp_get_thread_num() * p->slot;
        for (int ci = 0; ci < p->nchunks; ci++) {
            const int tn = imin(p->R, p->nrows - ci * p->R) * p->ntw;
#pragma omp for schedule(static)
            for (int ch = 0; ch < nc; ch++)
                if (ch < c->Cin)
                    chunk_tf(c, 0, c->in, c->Cin, ch, ch + 1, ci, s, V);
                else
                    chunk_tf(c, 1, c->dy, c->Cout, ch - c->Cin, ch - c->Cin + 1, ci, s, Z);
#pragma omp for schedule(static)
            for (int xi = 0; xi < aa; xi++)
                wino_gemm(c, 1, c->Cout, c->Cin, tn, Z + xi * c->Cout * ld, ld,
                          V + xi * c->Cin * ld, ld, Macc + xi * UC, c->Cin, ci > 0);
        }
    }
}

void cl_wino_backward(const cl_conv_dims *d, int m, int blas, const float *x, const float *W,
                      const float *dy, float *dx, float *dW, float *db, float *ws)
{
    wplan p = wino_plan(d, m, blas);
    if (p.nchunks == 0) return;
    float *U = ws + p.offU;
    const cl_isa isa = cl_isa_current();
    if (dx) { /* dx = the same conv of dy with Wf [C, OC, 3, 3] */
        cl_wino_filter(m, W, d->OC, d->C, 1, U);
        wctx c = {&p, d->OC, d->C, d->H, d->W, blas, isa, dy, NULL, U, NULL, dx};
        run_fwd(&c, ws);
    }
    wctx c = {&p, d->C, d->OC, d->H, d->W, blas, isa, x, dy, NULL, NULL, NULL};
    if (p.big) {
        run_dw_big(&c, ws, U);
        cl_wino_filter_grad(m, U, d->OC, d->C, dW);
        if (db) cl_bias_reduce(db, dy, d->N, d->OC, d->H * d->W);
        return;
    }
    const int T = wino_threads(&p);
    const int64_t nacc = (int64_t)p.a * p.a * d->C * d->OC;
    int used = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *s = ws + omp_get_thread_num() * p.slot;
#pragma omp single
        used = omp_get_num_threads();
        memset(s + p.offA, 0, sizeof(float) * (size_t)nacc);
#pragma omp for schedule(static)
        for (int ci = 0; ci < p.nchunks; ci++) dw_chunk(&c, ci, s);
    }
#pragma omp parallel for schedule(static) if (nacc * used >= PAR_MIN && T > 1)
    for (int64_t e = 0; e < nacc; e++) {
        float acc = 0;
        for (int t = 0; t < used; t++) acc += ws[t * p.slot + p.offA + e];
        U[e] = acc;
    }
    cl_wino_filter_grad(m, U, d->OC, d->C, dW);
    if (db) cl_bias_reduce(db, dy, d->N, d->OC, d->H * d->W);
}
