/* Stride-2 convolutions (3x3 pad 1 and 1x1 pad 0: the down-sampling convs
 * and shortcuts of the ResNets) by a stride-2 im2col into a packed column
 * block and the small products of kernels_gemm.h, instead of conv.c's
 * im2col + one OpenBLAS call per image (still run by COLLAPSE_CONV=gemm).
 *
 * - Images go one per product when OH*OW >= ST_COLS (64), else G side by
 *   side: col [C*k*k, G*OH*OW] (ResNet-18 at 8x8 -> 4x4: 4 x 16 columns).
 * - im2col: each input row is split once into its even and odd columns,
 *   which are taps j = 1 and j = 2 of the output row; tap j = 0 is tap 2
 *   shifted right by one (the pad) over the whole plane. No gathers.
 * - forward: y [OC, L] = W [OC, CKK] @ col [CKK, L] by cl_kgemm_nn (L =
 *   G*OH*OW), straight into y when G = 1, else copied out per image.
 * - dW: dWt [CKK, OC] += col @ dy^T by OpenBLAS (it beat cl_kgemm_nt in
 *   both orientations and cl_kgemm_nn on a transposed dy on every shape,
 *   single-threaded), one partial per slot, summed in slot order after the
 *   batch (deterministic for a given thread count).
 * - dx: dcol [CKK, L] = Wt [CKK, OC] @ dy by cl_kgemm_nn (Wt transposed
 *   once per call), then a col2im that sums, per input row, the taps of
 *   the even and the odd columns in two short vectors and interleaves
 *   them: each dx element is written once, no strided read-modify-write.
 * Workspace: per slot col, yg / dyg and the dW partial; after the slots
 * Wt. Measured single-threaded, batch 128, against the im2col paths: see
 * the commit log of this file (ResNet-20 3x3/2 16->32 forward 6.2 ->
 * 4.7 ms, ResNet-18 256->512 dx 103 -> 55-66 ms). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/blas.h"

#include "collapse/kernels_dense.h"
#include "collapse/kernels_gemm.h"
#include "internal.h"

/* Output columns of one product (G * OH * OW, at least one image). */
#define ST_COLS 64
#define ST_GMAX 16

int cl_strided_eligible(const cl_conv_dims *d)
{
    return d->stride == 2 && ((d->k == 3 && d->pad == 1) || (d->k == 1 && d->pad == 0));
}

static int st_group(const cl_conv_dims *d)
{
    int ohw = d->OH * d->OW, g = ohw >= ST_COLS ? 1 : ST_COLS / ohw;
    return imax(1, imin(imin(g, ST_GMAX), d->N));
}

static int64_t st_round16(int64_t v) { return (v + 15) & ~(int64_t)15; }

static int64_t st_slot(const cl_conv_dims *d)
{
    const int64_t L = (int64_t)st_group(d) * d->OH * d->OW, ckk = (int64_t)d->C * d->k * d->k;
    return st_round16(ckk * L) + st_round16((int64_t)d->OC * L) + st_round16(d->OC * ckk);
}

int64_t cl_strided_ws_floats(const cl_conv_dims *d)
{
    return imin(d->N, CL_CONV_SLOTS) * st_slot(d) + (int64_t)d->OC * d->C * d->k * d->k;
}

static int st_threads(const cl_conv_dims *d)
{
    const int G = st_group(d), groups = (d->N + G - 1) / G;
    return imax(1, imin(imin(imin(d->N, CL_CONV_SLOTS), groups), omp_get_max_threads()));
}

/* One input row xr [W] at stride 2 -> e [OW] <- the even columns xr[2t]
 * (tap j = 1, or the 1x1 conv), o [OW] <- the odd ones xr[2t + 1] (tap
 * j = 2; 0 past the row; NULL for 1x1). Inline loops: the rows are short
 * (16 floats at 32x32) and memcpy calls cost more. */
static void st_row(const float *restrict xr, int W, int OW, float *restrict e,
                   float *restrict o)
{
    if (!o) {
#pragma omp simd
        for (int t = 0; t < OW; t++) e[t] = xr[2 * t];
        return;
    }
    const int h = W / 2;
#pragma omp simd
    for (int t = 0; t < h; t++) {
        e[t] = xr[2 * t];
        o[t] = xr[2 * t + 1];
    }
    if (h < OW) { /* W odd: OW = h + 1 */
        e[h] = xr[W - 1];
        o[h] = 0.0f;
    }
}

/* im2col of one image into col [C*k*k, ld] (its OH*OW columns), by input
 * row (st_row) into the taps j = 1, 2 (rows of zeros above / below the
 * image); tap j = 0 (x[2t - 1]) is then tap j = 2 shifted right by one
 * over the whole plane, with column 0 of each output row zeroed (pad). */
static void st_im2col_image(const cl_conv_dims *d, const float *x, float *col, int64_t ld)
{
    const int OW = d->OW, OH = d->OH, W = d->W, k = d->k, ohw = OH * OW;
    for (int c = 0; c < d->C; c++) {
        const float *xc = x + (int64_t)c * d->H * W;
        for (int i = 0; i < k; i++) {
            float *r0 = col + (int64_t)(c * k + i) * k * ld;
            float *r1 = k == 1 ? r0 : r0 + ld, *r2 = k == 1 ? NULL : r0 + 2 * ld;
            for (int oh = 0; oh < OH; oh++) {
                const int ih = k == 1 ? 2 * oh : 2 * oh - 1 + i;
                float *e = r1 + (int64_t)oh * OW, *o = r2 ? r2 + (int64_t)oh * OW : NULL;
                if (ih >= 0 && ih < d->H) {
                    st_row(xc + (int64_t)ih * W, W, OW, e, o);
                    continue;
                }
#pragma omp simd
                for (int t = 0; t < OW; t++) e[t] = o[t] = 0.0f; /* k == 3 only */
            }
            if (k == 1) continue;
            const float *restrict src = r2;
            float *restrict dst = r0;
#pragma omp simd
            for (int t = 1; t < ohw; t++) dst[t] = src[t - 1];
            for (int oh = 0; oh < OH; oh++) dst[(int64_t)oh * OW] = 0.0f;
        }
    }
}

/* col [C*k*k, ld], columns [0, gn*OHW): im2col of images n0.. n0+gn-1. */
static void st_im2col(const cl_conv_dims *d, const float *x, int n0, int gn, float *col,
                      int64_t ld)
{
    const int64_t xs = (int64_t)d->C * d->H * d->W, ohw = (int64_t)d->OH * d->OW;
    for (int g = 0; g < gn; g++) st_im2col_image(d, x + (n0 + g) * xs, col + g * ohw, ld);
}

void cl_strided_forward(const cl_conv_dims *d, const float *x, const float *W, const float *b,
                        float *y, float *ws)
{
    const int G = st_group(d), T = st_threads(d), ngroups = (d->N + G - 1) / G;
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW;
    const int64_t slot = st_slot(d), ys = (int64_t)d->OC * OHW;
    const int64_t ycol = st_round16((int64_t)CKK * G * OHW);
    const cl_isa isa = cl_isa_current();
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = ws + omp_get_thread_num() * slot, *yg = col + ycol;
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * G, gn = imin(G, d->N - n0);
            const int ld = gn * OHW;
            st_im2col(d, x, n0, gn, col, ld);
            float *out = gn == 1 ? y + n0 * ys : yg;
            cl_kgemm_nn(isa, d->OC, ld, CKK, W, CKK, col, ld, out, ld, 0);
            for (int g = 0; g < gn; g++) {
                float *yn = y + (n0 + g) * ys;
                for (int oc = 0; oc < d->OC; oc++) {
                    float *r = yn + (int64_t)oc * OHW;
                    if (gn > 1)
                        memcpy(r, yg + (int64_t)oc * ld + (int64_t)g * OHW,
                               sizeof(float) * (size_t)OHW);
                    if (b)
                        for (int i = 0; i < OHW; i++) r[i] += b[oc];
                }
            }
        }
    }
}

/* dx [H, W] of one channel from its 9 dcol rows (3x3, stride 2, pad 1;
 * row i*3 + j at dc + (i*3 + j)*ld, [OH, OW] each). Input row ih = 2 oh -
 * 1 + i: even rows get tap i = 1 of oh = ih/2, odd rows taps i = 2 of
 * oh = (ih-1)/2 and i = 0 of oh = (ih+1)/2; likewise even columns 2 ow
 * tap j = 1 of ow, odd ones 2 ow + 1 taps j = 2 of ow and j = 0 of ow + 1.
 * Per input row, the even and odd columns of each contributing output row
 * are formed and stored interleaved in one vectorized pass (the second
 * contribution of odd rows adds in a second pass). No VLA: a VLA version
 * crashed under SAN=1 inside its omp simd loop (correct without ASan). */
static void col2im_row(const float *restrict c0, const float *restrict c1,
                       const float *restrict c2, int W, int OW, int add, float *restrict dr)
{
    const int n = OW - 1; /* odd column 2t + 1 takes c0[t + 1] for t < OW - 1 */
    if (add) {
#pragma omp simd
        for (int t = 0; t < n; t++) {
            dr[2 * t] += c1[t];
            dr[2 * t + 1] += c2[t] + c0[t + 1];
        }
        dr[2 * n] += c1[n];
        if (W % 2 == 0) dr[W - 1] += c2[n];
        return;
    }
#pragma omp simd
    for (int t = 0; t < n; t++) {
        dr[2 * t] = c1[t];
        dr[2 * t + 1] = c2[t] + c0[t + 1];
    }
    dr[2 * n] = c1[n];
    if (W % 2 == 0) dr[W - 1] = c2[n];
}

static void col2im_s2k3(const float *dc, int64_t ld, int H, int W, int OH, int OW, float *dx)
{
    for (int ih = 0; ih < H; ih++) {
        int ti[2], oi[2], ni = 0;
        if (ih % 2 == 0) {
            ti[ni] = 1, oi[ni++] = ih / 2;
        } else {
            if ((ih - 1) / 2 < OH) ti[ni] = 2, oi[ni++] = (ih - 1) / 2;
            if ((ih + 1) / 2 < OH) ti[ni] = 0, oi[ni++] = (ih + 1) / 2;
        }
        float *dr = dx + (int64_t)ih * W;
        if (!ni) memset(dr, 0, sizeof(float) * (size_t)W);
        for (int u = 0; u < ni; u++) {
            const float *r0 = dc + (int64_t)ti[u] * 3 * ld + (int64_t)oi[u] * OW;
            col2im_row(r0, r0 + ld, r0 + 2 * ld, W, OW, u > 0, dr);
        }
    }
}

/* dx [H, W] of one channel of a 1x1 stride-2 conv from its dcol row
 * [OH, OW]: the even positions of the even rows, zeros elsewhere (rows
 * interleaved with zeros in one vectorized pass each). */
static void col2im_s2k1(const float *dc, int H, int W, int OW, float *dx)
{
    const int h = W / 2;
    for (int ih = 0; ih < H; ih++) {
        float *restrict dr = dx + (int64_t)ih * W;
        if (ih % 2) {
            memset(dr, 0, sizeof(float) * (size_t)W);
            continue;
        }
        const float *restrict v = dc + (int64_t)(ih / 2) * OW;
#pragma omp simd
        for (int t = 0; t < h; t++) {
            dr[2 * t] = v[t];
            dr[2 * t + 1] = 0.0f;
        }
        if (W % 2) dr[W - 1] = v[h];
    }
}

/* dx of images n0.. from dcol [C*k*k, ld] (overwritten). */
static void st_col2im(const cl_conv_dims *d, const float *dcol, int64_t ld, int n0, int gn,
                      float *dx)
{
    const int64_t HW = (int64_t)d->H * d->W, ohw = (int64_t)d->OH * d->OW;
    const int KK = d->k * d->k;
    for (int g = 0; g < gn; g++)
        for (int c = 0; c < d->C; c++) {
            const float *dc = dcol + (int64_t)c * KK * ld + g * ohw;
            float *dxc = dx + ((int64_t)(n0 + g) * d->C + c) * HW;
            if (d->k == 3) {
                col2im_s2k3(dc, ld, d->H, d->W, d->OH, d->OW, dxc);
                continue;
            }
            col2im_s2k1(dc, d->H, d->W, d->OW, dxc);
        }
}

/* t [cols, rows] = a [rows, cols]^T in 16 x 16 blocks (both sides stay in
 * cache lines; the weights of a 256->512 conv are 1.2 M floats). */
#define TB 16
static void st_transpose(const float *a, int rows, int cols, float *t)
{
    const int nb = (rows + TB - 1) / TB;
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= 4 * PAR_MIN)
    for (int ib = 0; ib < nb; ib++) {
        const int i0 = ib * TB, i1 = imin(rows, i0 + TB);
        for (int j0 = 0; j0 < cols; j0 += TB) {
            const int j1 = imin(cols, j0 + TB);
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) t[(int64_t)j * rows + i] = a[(int64_t)i * cols + j];
        }
    }
}

/* One group of the backward pass (slot scratch col, dyg, dWp). */
static void st_backward_group(const cl_conv_dims *d, cl_isa isa, const float *x,
                              const float *Wt, const float *dy, float *dx, int n0, int gn,
                              float *col, float *dyg, float *dWp)
{
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW, ld = gn * OHW;
    const int64_t ys = (int64_t)d->OC * OHW;
    st_im2col(d, x, n0, gn, col, ld);
    const float *dg = dy + n0 * ys;
    if (gn > 1) {
        for (int g = 0; g < gn; g++)
            for (int oc = 0; oc < d->OC; oc++)
                memcpy(dyg + (int64_t)oc * ld + (int64_t)g * OHW, dy + (n0 + g) * ys + oc * OHW,
                       sizeof(float) * (size_t)OHW);
        dg = dyg;
    }
    /* dWt [CKK, OC] += col [CKK, ld] @ dg^T: OpenBLAS beat cl_kgemm_nt
     * (either orientation) and cl_kgemm_nn on a transposed dy here */
    cl_sgemm(0, 1, CKK, d->OC, ld, 1.0f, col, ld, dg, ld, 1.0f, dWp, d->OC);
    if (!dx) return;
    /* dcol [CKK, ld] = Wt [CKK, OC] @ dg [OC, ld] (into col) */
    cl_kgemm_nn(isa, CKK, ld, d->OC, Wt, d->OC, dg, ld, col, ld, 0);
    st_col2im(d, col, ld, n0, gn, dx);
}

void cl_strided_backward(const cl_conv_dims *d, const float *x, const float *W, const float *dy,
                         float *dx, float *dW, float *db, float *ws)
{
    const int G = st_group(d), T = st_threads(d), ngroups = (d->N + G - 1) / G;
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW, S = imin(d->N, CL_CONV_SLOTS);
    const int64_t slot = st_slot(d), nW = (int64_t)d->OC * CKK;
    const int64_t L = (int64_t)G * OHW, oyg = st_round16(CKK * L);
    const int64_t odw = oyg + st_round16(d->OC * L);
    const cl_isa isa = cl_isa_current();
    float *Wt = ws + S * slot;
    if (dx) st_transpose(W, d->OC, CKK, Wt);
    int used = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = ws + omp_get_thread_num() * slot;
#pragma omp single
        used = omp_get_num_threads();
        memset(col + odw, 0, sizeof(float) * (size_t)nW);
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++)
            st_backward_group(d, isa, x, Wt, dy, dx, gi * G, imin(G, d->N - gi * G), col,
                              col + oyg, col + odw);
    }
#pragma omp parallel for schedule(static) if (nW * used >= PAR_MIN)
    for (int oc = 0; oc < d->OC; oc++)
        for (int r = 0; r < CKK; r++) {
            float s = 0;
            for (int t = 0; t < used; t++) s += ws[t * slot + odw + (int64_t)r * d->OC + oc];
            dW[(int64_t)oc * CKK + r] += s;
        }
    if (db) cl_bias_reduce(db, dy, d->N, d->OC, OHW);
}
