/* im2col / col2im of one image (see include/collapse/kernels_conv.h) and
 * their naive twins. The fast im2col copies whole shifted planes for
 * stride-1 "same" convolutions and writes into a wider matrix (row stride
 * ld) for the grouped-images path of conv.c. */
#include <string.h>

#include "collapse/kernels_conv.h"
#include "internal.h"

/* Output columns ow whose input column ow*stride - pad + j lies in [0, W):
 * [*lo, *hi). */
static inline void valid_range(int W, int OW, int stride, int pad, int j, int *lo, int *hi)
{
    int a = pad - j; /* ow*stride >= a */
    int l = a > 0 ? (a + stride - 1) / stride : 0;
    int b = W - 1 + pad - j; /* ow*stride <= b */
    int h = b < 0 ? 0 : b / stride + 1;
    *lo = imin(l, OW);
    *hi = imax(imin(h, OW), *lo);
}

/* Zeroes the columns ow < lo and ow >= hi of every row of r [OH, OW]. */
static void zero_cols(float *r, int OH, int OW, int lo, int hi)
{
    if (lo == 0 && hi == OW) return;
    for (int oh = 0; oh < OH; oh++, r += OW) {
        for (int ow = 0; ow < lo; ow++) r[ow] = 0;
        for (int ow = hi; ow < OW; ow++) r[ow] = 0;
    }
}

void cl_im2col_ld(const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
                  int OW, float *col, int64_t ld)
{
    int64_t HW = (int64_t)H * W;
    /* "same" stride-1 convolutions (OH = H, OW = W): each row of col is the
     * plane shifted by off = (i-pad)*W + (j-pad): one contiguous copy, then
     * the wrapped-around border columns are zeroed. Rows above/below the
     * image fall outside [0, HW) and are zeroed by the copy bounds, both
     * clamped to [0, HW]: on maps no taller than pad (a 1x1 map with pad 1)
     * -off exceeds HW. */
    int same = stride == 1 && OH == H && OW == W;
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * HW;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *restrict row = col + ((int64_t)(c * k + i) * k + j) * ld;
                int lo, hi;
                valid_range(W, OW, stride, pad, j, &lo, &hi);
                if (same) {
                    int64_t off = (int64_t)(i - pad) * W + (j - pad);
                    int64_t t0 = off < 0 ? -off : 0, t1 = off > 0 ? HW - off : HW;
                    if (t0 > HW) t0 = HW;
                    if (t1 < t0) t1 = t0;
                    const float *restrict src = xc + off;
                    /* the zeroed ends are short (< (pad+1)*W): loops beat calls */
#pragma omp simd
                    for (int64_t t = 0; t < t0; t++) row[t] = 0;
                    memcpy(row + t0, src + t0, sizeof(float) * (size_t)(t1 - t0));
#pragma omp simd
                    for (int64_t t = t1; t < HW; t++) row[t] = 0;
                    zero_cols(row, OH, OW, lo, hi);
                    continue;
                }
                for (int oh = 0; oh < OH; oh++) {
                    float *restrict r = row + (int64_t)oh * OW;
                    int ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= H) {
                        for (int ow = 0; ow < OW; ow++) r[ow] = 0;
                        continue;
                    }
                    const float *restrict xr = xc + (int64_t)ih * W - pad + j;
                    for (int ow = 0; ow < lo; ow++) r[ow] = 0;
                    if (stride == 1)
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow];
                    else if (stride == 2)
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) r[ow] = xr[2 * ow];
                    else
                        for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow * stride];
                    for (int ow = hi; ow < OW; ow++) r[ow] = 0;
                }
            }
    }
}

void cl_im2col(const float *x, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
               float *col)
{
    cl_im2col_ld(x, C, H, W, k, stride, pad, OH, OW, col, (int64_t)OH * OW);
}

void cl_im2col_naive(const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
                     int OW, float *col)
{
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        int ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        int64_t r = ((int64_t)(c * k + i) * k + j) * OH * OW + oh * OW + ow;
                        col[r] = ih >= 0 && ih < H && iw >= 0 && iw < W
                                     ? x[((int64_t)c * H + ih) * W + iw]
                                     : 0.0f;
                    }
}

void cl_col2im(const float *col, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
               float *dx)
{
    int64_t OHW = (int64_t)OH * OW;
    memset(dx, 0, sizeof(float) * (size_t)C * (size_t)H * (size_t)W);
    for (int c = 0; c < C; c++) {
        float *dc = dx + (int64_t)c * H * W;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *row = col + ((int64_t)(c * k + i) * k + j) * OHW;
                int lo, hi;
                valid_range(W, OW, stride, pad, j, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= H) continue;
                    const float *restrict r = row + (int64_t)oh * OW;
                    float *restrict dr = dc + (int64_t)ih * W - pad + j;
                    if (stride == 1)
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) dr[ow] += r[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dr[ow * stride] += r[ow];
                }
            }
    }
}

void cl_col2im_naive(const float *col, int C, int H, int W, int k, int stride, int pad, int OH,
                     int OW, float *dx)
{
    for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++) {
                double s = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int th = ih + pad - i, tw = iw + pad - j;
                        if (th < 0 || tw < 0 || th % stride || tw % stride) continue;
                        int oh = th / stride, ow = tw / stride;
                        if (oh >= OH || ow >= OW) continue;
                        s += col[((int64_t)(c * k + i) * k + j) * OH * OW + oh * OW + ow];
                    }
                dx[((int64_t)c * H + ih) * W + iw] = (float)s;
            }
}

