/* The channel-blocked Winograd F(4x4, 3x3) convolution: layout
 * conversions, the plan of chunks and the forward, dx and dW pipelines
 * (kernels_blocked.h; the AVX-512 stages are in conv_blocked_avx512.c,
 * the filter transforms are conv_wino_filter.c's).
 *
 * - Chunks of T tiles, whole images when an image's tiles fit: V and M
 *   (or Z) of a chunk take 36 (C + OC) T floats, about CHUNK_FLOATS (768
 *   KiB, in a Zen 4 core's 1 MiB L2). The chunk size depends only on the
 *   shape, so forward and dx do not depend on the thread count.
 * - The 36 positions of V, M, Z are PADF floats further apart than their
 *   size: at a multiple of 4 KiB apart the 36 streams of a tile transform
 *   share one L1 set (measured 1.24x -> 1.32x at stage 1 of ResNet-20).
 * - dx runs the forward pipeline on dy with the flipped, transposed kernel
 *   Wf[c][oc][i][j] = W[oc][c][2-i][2-j]. dW: each thread slot sums
 *   Macc [36][C][OC] += V^T Z over its chunks (static schedule), the slots
 *   are added in slot order, then dW += G^T S G (cl_wino_filter_grad).
 * - Workspace: U and its transpose (2 x 36 C OC), one V + M slot per
 *   thread (up to CL_CONV_SLOTS), one Macc per slot; C * OC is limited to
 *   128 * 128 (cl_blocked_conv_ok) so the Macc slots stay under 19 MB. */
#include <omp.h>
#include <string.h>

#include "collapse/error.h"
#include "collapse/kernels_blocked.h"
#include "internal.h"

#define CHUNK_FLOATS 196608
#define PADF 16
#define MAX_CC (128 * 128)

static int64_t r16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

int cl_blocked_conv_shape_ok(const cl_conv_dims *d)
{
    return d->k == 3 && d->stride == 1 && d->pad == 1 && d->OH == d->H && d->OW == d->W &&
           d->C > 0 && d->OC > 0 && d->C % 16 == 0 && d->OC % 16 == 0 &&
           (int64_t)d->C * d->OC <= MAX_CC;
}

int cl_blocked_conv_ok(const cl_conv_dims *d)
{
#if defined(__x86_64__)
    return cl_blocked_conv_shape_ok(d) && cl_isa_current() == CL_ISA_AVX512 &&
           cl_conv_env() <= 0;
#else
    (void)d;
    return 0;
#endif
}

static int fast_convert(int64_t HW)
{
#if defined(__x86_64__)
    return HW % 16 == 0 && cl_isa_current() == CL_ISA_AVX512;
#else
    (void)HW;
    return 0;
#endif
}

void cl_to_blocked(const float *x, int N, int C, int64_t HW, float *xb)
{
    const int64_t nb = (int64_t)N * (C / 16);
#if defined(__x86_64__)
    if (fast_convert(HW)) {
        cl_blk_convert16(x, NULL, xb, 1, N, C, HW);
        return;
    }
#endif
#pragma omp parallel for schedule(static) if (nb * HW * 16 >= PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        const float *src = x + b * 16 * HW; /* channels 16 (b % CB) .. of image b / CB */
        float *dst = xb + b * 16 * HW;
        for (int64_t i = 0; i < HW; i++)
            for (int c = 0; c < 16; c++)
                dst[i * 16 + c] = src[c * HW + i];
    }
}

void cl_from_blocked(const float *xb, const float *add, int N, int C, int64_t HW,
                     float *x)
{
    const int64_t nb = (int64_t)N * (C / 16);
#if defined(__x86_64__)
    if (fast_convert(HW)) {
        cl_blk_convert16(xb, add, x, 0, N, C, HW);
        return;
    }
#endif
#pragma omp parallel for schedule(static) if (nb * HW * 16 >= PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        const float *src = xb + b * 16 * HW;
        float *dst = x + b * 16 * HW;
        const float *ad = add ? add + b * 16 * HW : NULL;
        for (int c = 0; c < 16; c++)
            for (int64_t i = 0; i < HW; i++)
                dst[c * HW + i] = ad ? src[i * 16 + c] + ad[i * 16 + c] : src[i * 16 + c];
    }
}

/* Whole images per chunk, at most k: the largest of k/2 .. k that gives an
 * even number of chunks (two threads get the same share: 128 images in
 * chunks of 10 left one thread 7 chunks and the other 6, idle 1/7 of the
 * time) and then equal chunks; k itself if none does. */
static int images_per_chunk(int N, int k)
{
    int best = k, score = 4;
    for (int i = k; i >= imax(1, k / 2); i--) {
        const int nch = (N + i - 1) / i, sc = 2 * (nch % 2) + (N % i != 0);
        if (sc < score) best = i, score = sc;
    }
    return best;
}

/* The pass with C channels in and OC out (dx: swap = 1, d's C and OC
 * exchanged). V and M get the same position stride either way, so both
 * passes fit one workspace. */
static cl_bplan make_plan(const cl_conv_dims *d, int swap)
{
    cl_bplan p;
    p.N = d->N;
    p.C = swap ? d->OC : d->C;
    p.OC = swap ? d->C : d->OC;
    p.H = d->H;
    p.W = d->W;
    p.ntw = (d->W + 3) / 4;
    p.Tn = (d->H + 3) / 4 * p.ntw;
    const int t = imax(1, CHUNK_FLOATS / (36 * (d->C + d->OC)));
    p.T = t < p.Tn ? t : images_per_chunk(d->N, imin(t / p.Tn, d->N)) * p.Tn;
    p.vs = p.ms = (int64_t)imax(d->C, d->OC) * p.T + PADF;
    p.stream = cl_blk_streamed((double)p.N * p.OC * p.H * p.W);
    return p;
}

static int n_chunks(const cl_bplan *p)
{
    return (p->N * p->Tn + p->T - 1) / p->T;
}
static int n_slots(const cl_bplan *p)
{
    return imin(n_chunks(p), CL_CONV_SLOTS);
}
static int64_t slot_floats(const cl_bplan *p)
{
    return r16(36 * (p->vs + p->ms) + cl_blk_rows_floats(p));
}
static int64_t cc36(const cl_conv_dims *d)
{
    return r16((int64_t)36 * d->C * d->OC);
}

int64_t cl_blocked_conv_ws_floats(const cl_conv_dims *d)
{
    const cl_bplan p = make_plan(d, 0);
    return 2 * cc36(d) + n_slots(&p) * (slot_floats(&p) + cc36(d));
}

/* dst [36][B][A] = src [36][A][B] (threaded only when large: a fork /
 * join on a busy machine can cost more than these copies) */
static void transpose36(const float *src, int A, int B, float *dst)
{
    const int64_t AB = (int64_t)A * B;
#pragma omp parallel for schedule(static) if (36 * AB >= (1 << 20))
    for (int xi = 0; xi < 36; xi++)
        for (int a = 0; a < A; a++)
            for (int b = 0; b < B; b++)
                dst[xi * AB + (int64_t)b * A + a] = src[xi * AB + (int64_t)a * B + b];
}

static int n_threads(const cl_bplan *p)
{
    return imax(1, imin(n_slots(p), omp_get_max_threads()));
}

/* dst = the convolution of src (pro applied) with the transformed filters
 * U [36][C][OC] (epi applied) */
static void run_forward(const cl_bplan *p, const float *src, const cl_blk_bn *pro,
                        const float *U, float *dst, const cl_blk_bn *epi, float *slots)
{
#if defined(__x86_64__)
    const int T = n_threads(p), nc = n_chunks(p);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *V = slots + omp_get_thread_num() * slot_floats(p), *M = V + 36 * p->vs,
              *R = M + 36 * p->ms;
#pragma omp for schedule(static)
        for (int ci = 0; ci < nc; ci++) {
            cl_blk_in_tf(p, src, ci, V, R, pro);
            cl_blk_mul(p, ci, U, V, M);
            cl_blk_out_tf(p, ci, M, dst, epi);
        }
    }
#else
    (void)p, (void)src, (void)pro, (void)U, (void)dst, (void)epi, (void)slots;
#endif
}

void cl_blocked_conv_forward_bn(const cl_conv_dims *d, const float *xb, const cl_blk_bn *pro,
                                const float *W, float *yb, const cl_blk_bn *epi, float *ws)
{
    CL_ASSERT(cl_blocked_conv_ok(d) && (!pro || !pro->res));
    const cl_bplan p = make_plan(d, 0);
    float *U = ws, *tmp = ws + cc36(d);
    cl_wino_filter(4, W, d->OC, d->C, 0, tmp); /* [36][OC][C] */
    transpose36(tmp, d->OC, d->C, U);
    run_forward(&p, xb, pro, U, yb, epi, ws + 2 * cc36(d));
}

void cl_blocked_conv_forward(const cl_conv_dims *d, const float *xb, const float *W,
                             float *yb, float *ws)
{
    cl_blocked_conv_forward_bn(d, xb, NULL, W, yb, NULL, ws);
}

/* dx and dW in one pass over the chunks: a chunk's dx (the forward
 * pipeline on dy with the flipped kernels Uf) and its dW terms read the
 * same dy tiles while they are in cache. dx's chunks are those of the
 * dx-only plan q (the same T as p's), so its bits do not change. */
void cl_blocked_conv_backward_bn(const cl_conv_dims *d, const float *xb, const cl_blk_bn *pro,
                                 const float *W, const float *dyb, float *dxb, float *dW,
                                 float *ws)
{
    CL_ASSERT(cl_blocked_conv_ok(d) && (!pro || !pro->res));
    float *U = ws, *tmp = ws + cc36(d), *slots = ws + 2 * cc36(d);
    const cl_bplan p = make_plan(d, 0), q = make_plan(d, 1);
    CL_ASSERT(p.T == q.T && p.vs == q.vs && p.ms == q.ms);
    if (dxb) {
        cl_wino_filter(4, W, d->OC, d->C, 1, tmp); /* flipped, [36][C][OC] */
        transpose36(tmp, d->C, d->OC, U);          /* the dx pass's [36][OC][C] */
    }
#if defined(__x86_64__)
    const int T = n_threads(&p), nc = n_chunks(&p);
    const int64_t nacc = (int64_t)36 * d->C * d->OC;
    float *macc = slots + n_slots(&p) * slot_floats(&p);
    int used = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        const int t = omp_get_thread_num();
        float *V = slots + t * slot_floats(&p), *Z = V + 36 * p.vs, *R = Z + 36 * p.ms,
              *A = macc + t * cc36(d);
#pragma omp single
        used = omp_get_num_threads();
        memset(A, 0, sizeof(float) * (size_t)nacc);
#pragma omp for schedule(static)
        for (int ci = 0; ci < nc; ci++) {
            if (dxb) {
                cl_blk_in_tf(&q, dyb, ci, V, R, NULL);
                cl_blk_mul(&q, ci, U, V, Z);
                cl_blk_out_tf(&q, ci, Z, dxb, NULL);
            }
            cl_blk_in_tf(&p, xb, ci, V, R, pro);
            cl_blk_dy_tf(&p, dyb, ci, Z);
            cl_blk_dw_mul(&p, ci, V, Z, A);
        }
    }
    for (int t = 1; t < used; t++) /* the slots in order */
        for (int64_t e = 0; e < nacc; e++)
            macc[e] += macc[t * cc36(d) + e];
    transpose36(macc, d->C, d->OC, tmp); /* S [36][OC][C] */
    cl_wino_filter_grad(4, tmp, d->OC, d->C, dW);
#else
    (void)xb, (void)pro, (void)dyb, (void)dxb, (void)dW, (void)slots;
#endif
}

void cl_blocked_conv_backward(const cl_conv_dims *d, const float *xb, const float *W,
                              const float *dyb, float *dxb, float *dW, float *ws)
{
    cl_blocked_conv_backward_bn(d, xb, NULL, W, dyb, dxb, dW, ws);
}
