/* Convolution and pooling kernels (see include/collapse/kernels_conv.h for
 * shapes).
 *
 * Why the code looks the way it does:
 * - Convolution works image by image: im2col of one image into a per-thread
 *   slot of the workspace, then one sgemm writing straight into the image's
 *   NCHW output slice, so no reorder pass is needed and the column matrix
 *   (C*k*k x OH*OW) stays in the core's L2. Threads take whole images; the
 *   sgemm inside a parallel region runs single-threaded (OpenBLAS's OpenMP
 *   build checks omp_in_parallel), and a batch of one image gets the
 *   threaded sgemm instead.
 * - 1x1 stride-1 unpadded convolutions need no im2col: x_n [C, HW] is
 *   already the column matrix.
 * - Small output planes (< GROUP_COLS pixels: late stages) put up to
 *   GROUP_MAX images side by side, col [C*k*k, G*OH*OW], so the forward,
 *   dW and (same convs) dx products are G times wider (ResNet-18 at 4x4:
 *   16 -> 128 columns).
 * - Stride-1 "same" convolutions with >= SHIFT_MIN_K input channels skip
 *   im2col: over a zero-padded copy of the plane (row length Wp = W +
 *   2*pad), tap (i, j) is the plane shifted by i*Wp + j, so the output is
 *   k*k products W_ij [OC, C] @ shifted plane [C, H*Wp] (beta = 1), with
 *   Wp - W junk columns per row dropped at the end (conv_shifted). dx is the
 *   same with the flipped kernel; dW of thin layers (shift_dw) likewise.
 * - dW is summed per slot (transposed, [C*k*k, OC]: OpenBLAS runs that
 *   product faster when OC is small) and the slots are added in slot order,
 *   so the result does not depend on which thread ran first.
 * - OpenMP only above PAR_MIN elements elsewhere (a fork/join costs
 *   microseconds). */
#include "collapse/kernels_conv.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/kernels_dense.h"

#define PAR_MIN 32768
#define LANES 8

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

cl_conv_dims cl_conv_dims_make(int N, int C, int H, int W, int OC, int k, int stride, int pad)
{
    cl_conv_dims d = {N, C, H, W, OC, k, stride, pad, 0, 0};
    d.OH = (H + 2 * pad - k) / stride + 1;
    d.OW = (W + 2 * pad - k) / stride + 1;
    return d;
}

/* ---- im2col / col2im ---- */

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

/* ---- convolution ---- */

static int conv_direct(const cl_conv_dims *d)
{
    return d->k == 1 && d->stride == 1 && d->pad == 0;
}

static int conv_slots(const cl_conv_dims *d) { return imin(d->N, CL_CONV_SLOTS); }

/* Stride-1 "same" convolutions (k > 1, OH = H, OW = W, so 2*pad = k-1):
 * backward gets dx as the convolution of dy with the flipped, transposed
 * kernel, Wf [C, OC, k, k] = W[oc, c, k-1-i, k-1-j], same padding:
 * im2col(dy_n) + one sgemm, cheaper than the dcol product + col2im. */
static int conv_same(const cl_conv_dims *d)
{
    return d->k > 1 && d->stride == 1 && d->OH == d->H && d->OW == d->W;
}

static int64_t round16(int64_t v) { return (v + 15) & ~(int64_t)15; }

/* Images per sgemm: small output planes (late stages) give thin products
 * (N = OH*OW = 64 or 16), so G images are put side by side, col
 * [C*k*k, G*OH*OW], and one product covers them (forward and dW; dx stays
 * per image). Not for 1x1 direct convs (x_n is the column matrix). */
#define GROUP_COLS 256
#define GROUP_MAX 8
static int conv_group(const cl_conv_dims *d)
{
    int64_t ohw = (int64_t)d->OH * d->OW;
    if (conv_direct(d) || ohw >= GROUP_COLS) return 1;
    return (int)imin(imin(GROUP_MAX, (int)(GROUP_COLS / ohw)), imax(d->N, 1));
}

/* Per slot: the column matrix of a group (also dcol of one image, or
 * im2col(dy) of the group for same convs, in backward), the group's output
 * / dy [OC, G*OH*OW] / dx [C, G*H*W] (G > 1 only), then a dW partial. After the slots: Wf for
 * same convs. */
static int64_t slot_col(const cl_conv_dims *d)
{
    if (conv_direct(d)) return 0;
    int64_t kk = (int64_t)d->k * d->k, ohw = (int64_t)d->OH * d->OW;
    int64_t one = (int64_t)(conv_same(d) ? imax(d->C, d->OC) : d->C) * kk * ohw;
    int G = conv_group(d);
    int64_t ch = imax(d->C * d->k * d->k + d->OC, d->OC * d->k * d->k + d->C);
    int64_t grp = G > 1 ? ch * G * ohw : 0;
    if (conv_same(d) && G == 1) { /* shifted products: padded input + wide output */
        int64_t hp = d->H + 2 * d->pad, wp = d->W + 2 * d->pad, mx = imax(d->C, d->OC);
        int64_t sh = mx * hp * wp + d->k + mx * d->H * wp;
        if (sh > grp) grp = sh;
    }
    return one > grp ? one : grp;
}
static int64_t slot_floats(const cl_conv_dims *d)
{
    return round16(slot_col(d) + (int64_t)d->OC * d->C * d->k * d->k); /* 64-byte aligned */
}

int64_t cl_conv2d_ws_floats(const cl_conv_dims *d)
{
    int64_t wf = conv_same(d) ? 2 * (int64_t)d->OC * d->C * d->k * d->k : 0;
    return conv_slots(d) * slot_floats(d) + wf;
}

static int conv_threads(const cl_conv_dims *d)
{
    int groups = (d->N + conv_group(d) - 1) / conv_group(d);
    return imax(1, imin(imin(conv_slots(d), groups), omp_get_max_threads()));
}

/* xp [C, Hp*Wp] + k zeros = x [C, H, W] with pad zeros around each plane. */
static void pad_plane(const float *x, int C, int H, int W, int k, int pad, float *xp)
{
    const int Wp = W + 2 * pad;
    const int64_t P = (int64_t)(H + 2 * pad) * Wp;
    memset(xp, 0, sizeof(float) * (size_t)(C * P + k));
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            memcpy(xp + c * P + (int64_t)(h + pad) * Wp + pad, x + ((int64_t)c * H + h) * W,
                   sizeof(float) * (size_t)W);
}

/* Stride-1 "same" convolution of one image without im2col: x [C, H, W] is
 * copied into a zero-padded plane xp [C, Hp*Wp] (+ k floats of slack);
 * then for each kernel tap q = (i, j) the rows of xp shifted by i*Wp + j
 * are a [C, H*Wp] matrix, and yw [OC, H*Wp] += Wr[q] [OC, C] @ that
 * (k*k products, no column matrix); yw's last Wp - W columns of each row
 * are junk and y [OC, H, W] takes the rest. scr: C*Hp*Wp + k + OC*H*Wp. */
static void conv_shifted(const float *x, int C, int H, int W, int OC, int k, int pad,
                         const float *Wr, float *y, float *scr)
{
    const int Hp = H + 2 * pad, Wp = W + 2 * pad, N = H * Wp, KK = k * k;
    const int64_t P = (int64_t)Hp * Wp;
    float *xp = scr, *yw = scr + C * P + k;
    pad_plane(x, C, H, W, k, pad, xp);
    for (int q = 0; q < KK; q++)
        cl_sgemm(0, 0, OC, N, C, 1.0f, Wr + (int64_t)q * OC * C, C,
                 xp + (int64_t)(q / k) * Wp + q % k, (int)P, q ? 1.0f : 0.0f, yw, N);
    for (int oc = 0; oc < OC; oc++)
        for (int h = 0; h < H; h++)
            memcpy(y + ((int64_t)oc * H + h) * W, yw + (int64_t)oc * N + (int64_t)h * Wp,
                   sizeof(float) * (size_t)W);
}

/* dW of one image of a stride-1 "same" convolution, shifted like
 * conv_shifted: dWq [k*k, OC, C] += dyw [OC, H*Wp] @ (xp shifted by tap
 * q)^T, dyw = dy with zero columns W..Wp-1 in each row (so the junk
 * positions add nothing). scr as conv_shifted. */
static void dw_shifted(const cl_conv_dims *d, const float *x, const float *dyn, float *dWq,
                       float *scr)
{
    const int C = d->C, OC = d->OC, H = d->H, W = d->W, k = d->k, pad = d->pad;
    const int Wp = W + 2 * pad, N = H * Wp, KK = k * k;
    const int64_t P = (int64_t)(H + 2 * pad) * Wp;
    float *xp = scr, *dyw = scr + C * P + k;
    pad_plane(x, C, H, W, k, pad, xp);
    memset(dyw, 0, sizeof(float) * (size_t)OC * (size_t)N);
    for (int oc = 0; oc < OC; oc++)
        for (int h = 0; h < H; h++)
            memcpy(dyw + (int64_t)oc * N + (int64_t)h * Wp, dyn + ((int64_t)oc * H + h) * W,
                   sizeof(float) * (size_t)W);
    for (int q = 0; q < KK; q++)
        cl_sgemm(0, 1, OC, C, N, 1.0f, dyw, N, xp + (int64_t)(q / k) * Wp + q % k, (int)P, 1.0f,
                 dWq + (int64_t)q * OC * C, C);
}

/* Wr [k*k, O, I] = Ws [O, I, k, k] (flip: tap k*k-1-q), I = inner dim. */
static void repack_taps(const float *Ws, int O, int I, int KK, int flip_io, float *Wr)
{
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++)
            for (int q = 0; q < KK; q++) {
                if (flip_io) /* Wr[q][i][o] = Ws[o][i][KK-1-q] */
                    Wr[((int64_t)q * I + i) * O + o] = Ws[((int64_t)o * I + i) * KK + (KK - 1 - q)];
                else
                    Wr[((int64_t)q * O + o) * I + i] = Ws[((int64_t)o * I + i) * KK + q];
            }
}

/* The shifted products have K = input channels: below SHIFT_MIN_K they are
 * slower than im2col + one product (the 3-channel stem). */
#define SHIFT_MIN_K 16
static int shift_fwd(const cl_conv_dims *d)
{
    return conv_same(d) && conv_group(d) == 1 && d->C >= SHIFT_MIN_K;
}
/* dW by shifted products pays only for thin layers (8..16 channels in and
 * out, ResNet-20 stage 1): M = OC and N = C of its products are small. */
static int shift_dw(const cl_conv_dims *d)
{
    return conv_same(d) && conv_group(d) == 1 && d->C >= 8 && d->C <= 16 && d->OC >= 8 &&
           d->OC <= 16;
}
static int shift_dx(const cl_conv_dims *d)
{
    return conv_same(d) && conv_group(d) == 1 && d->OC >= SHIFT_MIN_K;
}

static void add_bias(float *yn, const float *b, int OC, int OHW)
{
    if (b)
        for (int oc = 0; oc < OC; oc++) {
            float v = b[oc], *r = yn + (int64_t)oc * OHW;
            for (int i = 0; i < OHW; i++) r[i] += v;
        }
}

void cl_conv2d_forward(const cl_conv_dims *d, const float *x, const float *W, const float *b,
                       float *y, float *ws)
{
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW, G = conv_group(d);
    const int64_t xs = (int64_t)d->C * d->H * d->W, ys = (int64_t)d->OC * OHW;
    const int T = conv_threads(d), direct = conv_direct(d), ngroups = (d->N + G - 1) / G;
    const int64_t slot = slot_floats(d);
    const int shifted = shift_fwd(d);
    float *Wr = ws + conv_slots(d) * slot;
    if (shifted) repack_taps(W, d->OC, d->C, d->k * d->k, 0, Wr);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = ws + omp_get_thread_num() * slot;
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * G, gn = imin(G, d->N - n0);
            if (shifted) {
                float *yn = y + n0 * ys;
                conv_shifted(x + n0 * xs, d->C, d->H, d->W, d->OC, d->k, d->pad, Wr, yn, col);
                add_bias(yn, b, d->OC, OHW);
                continue;
            }
            if (G == 1) {
                const float *xn = x + n0 * xs;
                float *yn = y + n0 * ys;
                const float *cn = xn;
                if (!direct) {
                    cl_im2col(xn, d->C, d->H, d->W, d->k, d->stride, d->pad, d->OH, d->OW, col);
                    cn = col;
                }
                /* yn [OC, OHW] = W [OC, CKK] @ cn [CKK, OHW] */
                cl_sgemm(0, 0, d->OC, OHW, CKK, 1.0f, W, CKK, cn, OHW, 0.0f, yn, OHW);
                add_bias(yn, b, d->OC, OHW);
                continue;
            }
            /* yg [OC, gn*OHW] = W @ col [CKK, gn*OHW], then per image */
            const int64_t ld = (int64_t)gn * OHW;
            float *yg = col + (int64_t)CKK * ld;
            for (int g = 0; g < gn; g++)
                cl_im2col_ld(x + (n0 + g) * xs, d->C, d->H, d->W, d->k, d->stride, d->pad,
                             d->OH, d->OW, col + (int64_t)g * OHW, ld);
            cl_sgemm(0, 0, d->OC, (int)ld, CKK, 1.0f, W, CKK, col, (int)ld, 0.0f, yg, (int)ld);
            for (int g = 0; g < gn; g++) {
                float *yn = y + (n0 + g) * ys;
                for (int oc = 0; oc < d->OC; oc++)
                    memcpy(yn + (int64_t)oc * OHW, yg + oc * ld + (int64_t)g * OHW,
                           sizeof(float) * (size_t)OHW);
                add_bias(yn, b, d->OC, OHW);
            }
        }
    }
}

void cl_conv2d_forward_naive(const cl_conv_dims *d, const float *x, const float *W,
                             const float *b, float *y)
{
    const int k = d->k;
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    double s = b ? b[oc] : 0.0;
                    for (int c = 0; c < d->C; c++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int ih = oh * d->stride - d->pad + i;
                                int iw = ow * d->stride - d->pad + j;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                s += (double)x[(((int64_t)n * d->C + c) * d->H + ih) * d->W + iw] *
                                     W[(((int64_t)oc * d->C + c) * k + i) * k + j];
                            }
                    y[(((int64_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow] = (float)s;
                }
}

/* dx of one image: dcol, or the flipped kernel for same convs (col is
 * free scratch of slot_col floats). */
static void conv_dx_image(const cl_conv_dims *d, const float *W, const float *Wf,
                          const float *dyn, float *dxn, float *col, int same, int direct)
{
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW, OCKK = d->OC * d->k * d->k;
    if (same && shift_dx(d)) {
        /* dxn = the same convolution of dyn with the flipped kernel, repacked
         * after Wf: Wrb [k*k, C, OC] */
        conv_shifted(dyn, d->OC, d->H, d->W, d->C, d->k, d->pad, Wf + (int64_t)d->C * OCKK,
                     dxn, col);
    } else if (same) {
        /* dxn [C, HW] = Wf [C, OC*k*k] @ im2col(dyn) [OC*k*k, HW] */
        cl_im2col(dyn, d->OC, d->OH, d->OW, d->k, 1, d->pad, d->H, d->W, col);
        cl_sgemm(0, 0, d->C, OHW, OCKK, 1.0f, Wf, OCKK, col, OHW, 0.0f, dxn, OHW);
    } else if (direct) {
        cl_sgemm(1, 0, CKK, OHW, d->OC, 1.0f, W, CKK, dyn, OHW, 0.0f, dxn, OHW);
    } else {
        /* dcol [CKK, OHW] = W^T [CKK, OC] @ dyn [OC, OHW] */
        cl_sgemm(1, 0, CKK, OHW, d->OC, 1.0f, W, CKK, dyn, OHW, 0.0f, col, OHW);
        cl_col2im(col, d->C, d->H, d->W, d->k, d->stride, d->pad, d->OH, d->OW, dxn);
    }
}

void cl_conv2d_backward(const cl_conv_dims *d, const float *x, const float *W, const float *dy,
                        float *dx, float *dW, float *db, float *ws)
{
    const int CKK = d->C * d->k * d->k, OHW = d->OH * d->OW, G = conv_group(d);
    const int64_t xs = (int64_t)d->C * d->H * d->W, ys = (int64_t)d->OC * OHW;
    const int64_t nW = (int64_t)d->OC * CKK, scol = slot_col(d), slot = slot_floats(d);
    const int T = conv_threads(d), direct = conv_direct(d), same = conv_same(d) && dx;
    const int KK = d->k * d->k, ngroups = (d->N + G - 1) / G;
    float *Wf = ws + conv_slots(d) * slot;
    if (same)
        for (int c = 0; c < d->C; c++)
            for (int oc = 0; oc < d->OC; oc++)
                for (int q = 0; q < KK; q++)
                    Wf[((int64_t)c * d->OC + oc) * KK + q] =
                        W[((int64_t)oc * d->C + c) * KK + (KK - 1 - q)];
    if (same && shift_dx(d)) repack_taps(W, d->OC, d->C, KK, 1, Wf + nW);
    const int sdw = shift_dw(d); /* dWt is then [k*k, OC, C] */
    int used = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = ws + omp_get_thread_num() * slot, *dWt = col + scol;
#pragma omp single
        used = omp_get_num_threads();
        memset(dWt, 0, sizeof(float) * (size_t)nW);
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * G, gn = imin(G, d->N - n0);
            if (G == 1) {
                const float *xn = x + n0 * xs, *dyn = dy + n0 * ys;
                const float *cn = xn;
                if (sdw) {
                    dw_shifted(d, xn, dyn, dWt, col);
                    if (dx) conv_dx_image(d, W, Wf, dyn, dx + n0 * xs, col, same, direct);
                    continue;
                }
                if (!direct) {
                    cl_im2col(xn, d->C, d->H, d->W, d->k, d->stride, d->pad, d->OH, d->OW, col);
                    cn = col;
                }
                /* dWt [CKK, OC] += cn [CKK, OHW] @ dyn^T [OHW, OC]: the transposed
                 * product runs faster in OpenBLAS for these shapes (OC small) */
                cl_sgemm(0, 1, CKK, d->OC, OHW, 1.0f, cn, OHW, dyn, OHW, 1.0f, dWt, d->OC);
                if (dx) conv_dx_image(d, W, Wf, dyn, dx + n0 * xs, col, same, direct);
                continue;
            }
            /* dWt += col [CKK, gn*OHW] @ dyg^T, dyg [OC, gn*OHW] the group's dy */
            const int64_t ld = (int64_t)gn * OHW;
            float *dyg = col + (int64_t)CKK * ld;
            for (int g = 0; g < gn; g++) {
                const float *dyn = dy + (n0 + g) * ys;
                cl_im2col_ld(x + (n0 + g) * xs, d->C, d->H, d->W, d->k, d->stride, d->pad,
                             d->OH, d->OW, col + (int64_t)g * OHW, ld);
                for (int oc = 0; oc < d->OC; oc++)
                    memcpy(dyg + oc * ld + (int64_t)g * OHW, dyn + (int64_t)oc * OHW,
                           sizeof(float) * (size_t)OHW);
            }
            cl_sgemm(0, 1, CKK, d->OC, (int)ld, 1.0f, col, (int)ld, dyg, (int)ld, 1.0f, dWt,
                     d->OC);
            if (dx && same) {
                /* dxg [C, gn*HW] = Wf [C, OC*k*k] @ im2col(dy_g) [OC*k*k, gn*HW] */
                const int OCKK = d->OC * KK;
                float *dxg = col + (int64_t)OCKK * ld;
                for (int g = 0; g < gn; g++)
                    cl_im2col_ld(dy + (n0 + g) * ys, d->OC, d->OH, d->OW, d->k, 1, d->pad,
                                 d->H, d->W, col + (int64_t)g * OHW, ld);
                cl_sgemm(0, 0, d->C, (int)ld, OCKK, 1.0f, Wf, OCKK, col, (int)ld, 0.0f, dxg,
                         (int)ld);
                for (int g = 0; g < gn; g++) {
                    float *dxn = dx + (n0 + g) * xs;
                    for (int c = 0; c < d->C; c++)
                        memcpy(dxn + (int64_t)c * OHW, dxg + c * ld + (int64_t)g * OHW,
                               sizeof(float) * (size_t)OHW);
                }
            } else if (dx)
                for (int g = 0; g < gn; g++)
                    conv_dx_image(d, W, Wf, dy + (n0 + g) * ys, dx + (n0 + g) * xs, col, same,
                                  direct);
        }
    }
#pragma omp parallel for schedule(static) if (nW * used >= PAR_MIN)
    for (int oc = 0; oc < d->OC; oc++)
        for (int r = 0; r < CKK; r++) {
            float s = 0;
            int64_t at = sdw ? ((int64_t)(r % KK) * d->OC + oc) * d->C + r / KK
                             : (int64_t)r * d->OC + oc;
            for (int t = 0; t < used; t++) s += ws[t * slot + scol + at];
            dW[(int64_t)oc * CKK + r] += s;
        }
    if (db) cl_bias_reduce(db, dy, d->N, d->OC, OHW);
}

void cl_conv2d_backward_naive(const cl_conv_dims *d, const float *x, const float *W,
                              const float *dy, float *dx, float *dW, float *db)
{
    const int k = d->k, s = d->stride, p = d->pad;
#define X(n, c, h, w) x[(((int64_t)(n) * d->C + (c)) * d->H + (h)) * d->W + (w)]
#define DY(n, o, h, w) dy[(((int64_t)(n) * d->OC + (o)) * d->OH + (h)) * d->OW + (w)]
#define WT(o, c, i, j) W[(((int64_t)(o) * d->C + (c)) * k + (i)) * k + (j)]
    if (dx)
        for (int n = 0; n < d->N; n++)
            for (int c = 0; c < d->C; c++)
                for (int ih = 0; ih < d->H; ih++)
                    for (int iw = 0; iw < d->W; iw++) {
                        double acc = 0;
                        for (int oc = 0; oc < d->OC; oc++)
                            for (int i = 0; i < k; i++)
                                for (int j = 0; j < k; j++) {
                                    int th = ih + p - i, tw = iw + p - j;
                                    if (th < 0 || tw < 0 || th % s || tw % s) continue;
                                    int oh = th / s, ow = tw / s;
                                    if (oh >= d->OH || ow >= d->OW) continue;
                                    acc += (double)DY(n, oc, oh, ow) * WT(oc, c, i, j);
                                }
                        dx[(((int64_t)n * d->C + c) * d->H + ih) * d->W + iw] = (float)acc;
                    }
    for (int oc = 0; oc < d->OC; oc++)
        for (int c = 0; c < d->C; c++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    double acc = 0;
                    for (int n = 0; n < d->N; n++)
                        for (int oh = 0; oh < d->OH; oh++)
                            for (int ow = 0; ow < d->OW; ow++) {
                                int ih = oh * s - p + i, iw = ow * s - p + j;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                acc += (double)DY(n, oc, oh, ow) * X(n, c, ih, iw);
                            }
                    dW[(((int64_t)oc * d->C + c) * k + i) * k + j] += (float)acc;
                }
    if (db)
        for (int oc = 0; oc < d->OC; oc++) {
            double acc = 0;
            for (int n = 0; n < d->N; n++)
                for (int oh = 0; oh < d->OH; oh++)
                    for (int ow = 0; ow < d->OW; ow++) acc += DY(n, oc, oh, ow);
            db[oc] += (float)acc;
        }
#undef X
#undef DY
#undef WT
}

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

void cl_maxpool_forward(const float *x, float *y, int64_t planes, int H, int W, int k, int stride,
                        int pad, int OH, int OW)
{
    int64_t HW = (int64_t)H * W, OHW = (int64_t)OH * OW;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW;
        float *yp = y + pl * OHW;
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
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW, *dyp = dy + pl * OHW;
        float *dxp = dx + pl * HW;
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
