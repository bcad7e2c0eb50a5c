/* Pooling kernels (max, average, global average) and their naive twins
 * (see include/collapse/kernels_conv.h for shapes and conventions). */
#include <math.h>
#include <string.h>

#include "collapse/kernels_conv.h"
#include "internal.h"

#define LANES 8

/* ---- max pool ---- */

/* Argmax of one window of plane xp (PyTorch's rule: start at the first
 * in-image position with -inf, replace on > or NaN). */
static inline int64_t max_index(const float *xp, int H, int W, int k, int stride, int pad, int oh,
                                int ow)
{
    int h0 = oh * stride - pad, w0 = ow * stride - pad;
    int hs = imax(h0, 0), he = imin(h0 + k, H), ws = imax(w0, 0), we = imin(w0 + k, W);
    int64_t best = (int64_t)hs * W + ws;
    float m = -INFINITY;
    for (int ih = hs; ih < he; ih++)
        for (int iw = ws; iw < we; iw++) {
            float v = xp[(int64_t)ih * W + iw];
            if (v > m || isnan(v)) {
                m = v;
                best = (int64_t)ih * W + iw;
            }
        }
    return best;
}

/* The 2x2 stride-2 unpadded pool (the ConvNet's, and the common one) under
 * AVX-512: pool_avx512.c, masked 16-window steps with max_index's
 * comparisons (the same bits). On the ConvNet's 32x28x28 planes, batch 128,
 * one thread (`bench_2_layers --only convnet`, COLLAPSE_ISA=avx2 runs these
 * loops): forward 12.2 -> 0.33 ms, backward 12.8 -> 0.86 ms; the pools had
 * taken a third of a train step (perf, 2026-12-01). A portable row loop was
 * no faster than the general one (rows of 14 or 7 windows are too short for
 * the compiler's vector loop), so the other paths keep the general loops. */
static int is_pool2(int k, int stride, int pad) { return k == 2 && stride == 2 && pad == 0; }

void cl_maxpool_forward(const float *x, float *y, int64_t planes, int H, int W, int k, int stride,
                        int pad, int OH, int OW)
{
    int64_t HW = (int64_t)H * W, OHW = (int64_t)OH * OW;
    int fast = is_pool2(k, stride, pad) && cl_isa_current() == CL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW;
        float *yp = y + pl * OHW;
        if (fast) {
            cl_maxpool2_forward_avx512(xp, yp, W, OH, OW);
            continue;
        }
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                yp[oh * OW + ow] = xp[max_index(xp, H, W, k, stride, pad, oh, ow)];
    }
}

void cl_maxpool_forward_naive(const float *x, float *y, int64_t planes, int H, int W, int k,
                              int stride, int pad, int OH, int OW)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float v = x[(pl * H + ih) * W + iw];
                        if (v > m || isnan(v)) m = v;
                    }
                y[(pl * OH + oh) * OW + ow] = m;
            }
}

void cl_maxpool_backward(const float *x, const float *dy, float *dx, int64_t planes, int H, int W,
                         int k, int stride, int pad, int OH, int OW)
{
    int64_t HW = (int64_t)H * W, OHW = (int64_t)OH * OW;
    int fast = is_pool2(k, stride, pad) && cl_isa_current() == CL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW, *dyp = dy + pl * OHW;
        float *dxp = dx + pl * HW;
        if (fast) {
            cl_maxpool2_backward_avx512(xp, dyp, dxp, H, W, OH, OW);
            continue;
        }
        memset(dxp, 0, sizeof(float) * (size_t)HW);
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                dxp[max_index(xp, H, W, k, stride, pad, oh, ow)] += dyp[oh * OW + ow];
    }
}

void cl_maxpool_backward_naive(const float *x, const float *dy, float *dx, int64_t planes, int H,
                               int W, int k, int stride, int pad, int OH, int OW)
{
    for (int64_t i = 0; i < planes * H * W; i++) dx[i] = 0;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                int64_t best = -1;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float v = x[(pl * H + ih) * W + iw];
                        if (best < 0) best = (pl * H + ih) * W + iw; /* first in-image */
                        if (v > m || isnan(v)) {
                            m = v;
                            best = (pl * H + ih) * W + iw;
                        }
                    }
                dx[best] += dy[(pl * OH + oh) * OW + ow];
            }
}

/* ---- average pool (count_include_pad = true) ---- */

/* PyTorch's divisor: the window clipped to the padded image. */
static inline int avg_div(int H, int W, int k, int stride, int pad, int oh, int ow)
{
    int h0 = oh * stride - pad, w0 = ow * stride - pad;
    return (imin(h0 + k, H + pad) - h0) * (imin(w0 + k, W + pad) - w0);
}

void cl_avgpool_forward(const float *x, float *y, int64_t planes, int H, int W, int k, int stride,
                        int pad, int OH, int OW)
{
    int64_t HW = (int64_t)H * W, OHW = (int64_t)OH * OW;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW;
        float *yp = y + pl * OHW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * stride - pad, w0 = ow * stride - pad;
                int hs = imax(h0, 0), he = imin(h0 + k, H), ws = imax(w0, 0), we = imin(w0 + k, W);
                float s = 0;
                for (int ih = hs; ih < he; ih++)
                    for (int iw = ws; iw < we; iw++) s += xp[(int64_t)ih * W + iw];
                yp[oh * OW + ow] = s / (float)avg_div(H, W, k, stride, pad, oh, ow);
            }
    }
}

void cl_avgpool_forward_naive(const float *x, float *y, int64_t planes, int H, int W, int k,
                              int stride, int pad, int OH, int OW)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double s = 0;
                int cnt = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih < H + pad && iw < W + pad) cnt++;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        s += x[(pl * H + ih) * W + iw];
                    }
                y[(pl * OH + oh) * OW + ow] = (float)(s / cnt);
            }
}

void cl_avgpool_backward(const float *dy, float *dx, int64_t planes, int H, int W, int k,
                         int stride, int pad, int OH, int OW)
{
    int64_t HW = (int64_t)H * W, OHW = (int64_t)OH * OW;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *dyp = dy + pl * OHW;
        float *dxp = dx + pl * HW;
        memset(dxp, 0, sizeof(float) * (size_t)HW);
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * stride - pad, w0 = ow * stride - pad;
                int hs = imax(h0, 0), he = imin(h0 + k, H), ws = imax(w0, 0), we = imin(w0 + k, W);
                float g = dyp[oh * OW + ow] / (float)avg_div(H, W, k, stride, pad, oh, ow);
                for (int ih = hs; ih < he; ih++)
                    for (int iw = ws; iw < we; iw++) dxp[(int64_t)ih * W + iw] += g;
            }
    }
}

void cl_avgpool_backward_naive(const float *dy, float *dx, int64_t planes, int H, int W, int k,
                               int stride, int pad, int OH, int OW)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++) {
                double s = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int th = ih + pad - i, tw = iw + pad - j;
                        if (th < 0 || tw < 0 || th % stride || tw % stride) continue;
                        int oh = th / stride, ow = tw / stride;
                        if (oh >= OH || ow >= OW) continue;
                        int cnt = 0;
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++)
                                if (oh * stride - pad + a < H + pad &&
                                    ow * stride - pad + b < W + pad)
                                    cnt++;
                        s += (double)dy[(pl * OH + oh) * OW + ow] / cnt;
                    }
                dx[(pl * H + ih) * W + iw] = (float)s;
            }
}

/* ---- global average pool ---- */

void cl_gap_forward(const float *x, float *y, int64_t planes, int HW)
{
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *p = x + pl * HW;
        double a[LANES] = {0};
        int i = 0;
        for (; i + LANES <= HW; i += LANES)
            for (int j = 0; j < LANES; j++) a[j] += (double)p[i + j];
        for (; i < HW; i++) a[0] += (double)p[i];
        double s = 0;
        for (int j = 0; j < LANES; j++) s += a[j];
        y[pl] = (float)(s / HW);
    }
}

void cl_gap_forward_naive(const float *x, float *y, int64_t planes, int HW)
{
    for (int64_t pl = 0; pl < planes; pl++) {
        double s = 0;
        for (int i = 0; i < HW; i++) s += x[pl * HW + i];
        y[pl] = (float)(s / HW);
    }
}

void cl_gap_backward(const float *dy, float *dx, int64_t planes, int HW)
{
    float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float g = dy[pl] * inv, *p = dx + pl * HW;
        for (int i = 0; i < HW; i++) p[i] = g;
    }
}

void cl_gap_backward_naive(const float *dy, float *dx, int64_t planes, int HW)
{
    for (int64_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < HW; i++) dx[pl * HW + i] = (float)((double)dy[pl] / HW);
}

