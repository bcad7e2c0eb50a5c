/* Convolution kernels, whole batch (see include/collapse/kernels_conv.h for
 * shapes): planning of the workspace and the three paths. The pieces live
 * in conv_im2col.c (im2col / col2im), conv_shifted.c (the shifted-products
 * path) and pooling.c.
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
 *   Wp - W junk columns per row dropped at the end (cl_conv_shifted). dx is the
 *   same with the flipped kernel; dW of thin layers (shift_dw) likewise.
 * - dW is summed per slot (transposed, [C*k*k, OC]: OpenBLAS runs that
 *   product faster when OC is small) and the slots are added in slot order,
 *   so the result does not depend on which thread ran first.
 * - OpenMP only above PAR_MIN elements elsewhere (a fork/join costs
 *   microseconds). */
#include "collapse/kernels_conv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/kernels_dense.h"
#include "internal.h"

cl_conv_dims cl_conv_dims_make(int N, int C, int H, int W, int OC, int k, int stride, int pad)
{
    cl_conv_dims d = {N, C, H, W, OC, k, stride, pad, 0, 0};
    d.OH = (H + 2 * pad - k) / stride + 1;
    d.OW = (W + 2 * pad - k) / stride + 1;
    return d;
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

static int wino_eligible(const cl_conv_dims *d);

/* Enough for every path of the shape (COLLAPSE_CONV may change between
 * planning and the call). */
int64_t cl_conv2d_ws_floats(const cl_conv_dims *d)
{
    int64_t wf = conv_same(d) ? 2 * (int64_t)d->OC * d->C * d->k * d->k : 0;
    int64_t n = conv_slots(d) * slot_floats(d) + wf;
    if (wino_eligible(d))
        for (int m = 2; m <= 4; m += 2) {
            int64_t w = cl_wino_ws_floats(d, m);
            if (w > n) n = w;
        }
    if (cl_strided_eligible(d) && cl_strided_ws_floats(d) > n) n = cl_strided_ws_floats(d);
    return n;
}

static int conv_threads(const cl_conv_dims *d)
{
    int groups = (d->N + conv_group(d) - 1) / conv_group(d);
    return imax(1, imin(imin(conv_slots(d), groups), omp_get_max_threads()));
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

/* ---- Winograd dispatch (conv_winograd.c) ---- */

int cl_conv_env(void)
{
    const char *e = getenv("COLLAPSE_CONV");
    if (!e || !*e || !strcmp(e, "auto")) return 0;
    if (!strcmp(e, "winograd")) return 1;
    if (!strcmp(e, "gemm")) return 2;
    return -1;
}

cl_status cl_conv_check_env(void)
{
    if (cl_conv_env() < 0)
        return cl_error(CL_EINVAL, "COLLAPSE_CONV=%s: expected auto, winograd or gemm",
                        getenv("COLLAPSE_CONV"));
    return CL_OK;
}

/* Winograd F(m x m, 3x3) runs stride-1 3x3 convs with pad 1 (OH = H);
 * above 128 x 128 channels the pipeline runs "big" (conv_winograd.c:
 * shared chunk buffers and dW accumulators, no per-slot copies). */
static int wino_eligible(const cl_conv_dims *d)
{
    return d->k == 3 && d->stride == 1 && d->pad == 1 && d->OH == d->H && d->OW == d->W;
}

/* Tile size m (4 or 2) of the Winograd path, 0 = the gemm paths.
 * Measured single-threaded on Zen 4 (AVX-512), batch 32, direct-conv
 * GFLOP/s of forward / dx / dW, gemm paths -> F(4) (F(2) in brackets):
 *   C=OC=16 32x32   85/85/89 -> 135/133/119      3->16 32x32: 52/56/54 -> 74/53/56
 *   C=OC=32 16x16   88/87/74 -> 154/155/123      1->16 28x28: 64/32/63 -> 24/16/21
 *   C=OC=64 8x8     73/73/75 -> 180/175/138      64 4x4: 55/54/54 -> 103/102/69 (47/48/37)
 *   C=OC=64 3x3     43/42/42 -> 61/62/38 (30/29/21)  64 2x2: 29/28/26 -> 27/26/16 (28/28/20)
 * so auto = F(4) from WINO_MIN_C channels in and out and WINO_F4_MIN
 * pixels per side (the 3-channel stem included; 1-channel inputs and
 * 1-2 pixel planes stay on gemm). F(2) never won; COLLAPSE_CONV=winograd
 * uses it on the planes below WINO_F4_MIN, where it beats F(4). */
#define WINO_MIN_C 3
#define WINO_F4_MIN 3
static int wino_m(const cl_conv_dims *d)
{
    const int env = cl_conv_env();
    if (!wino_eligible(d) || env == 2) return 0;
    const int small = d->H < WINO_F4_MIN || d->W < WINO_F4_MIN;
    if (env == 1) return small ? 2 : 4;
    return !small && d->C >= WINO_MIN_C && d->OC >= WINO_MIN_C ? 4 : 0;
}

/* Which products of the element-wise stage run by OpenBLAS rather than the
 * small kernels of kernels_gemm.h (CL_WINO_BLAS_NN: forward and dx;
 * CL_WINO_BLAS_NT: dW). Measured single-threaded at batch 32 on Zen 4,
 * F(4), direct-conv GFLOP/s:
 * - with the portable cl_kgemm of this base: OpenBLAS 2.4-4x faster on
 *   every ResNet-20 shape, hence both here;
 * - with the AVX-512 cl_kgemm of the kgemm branch (bbe1add), forward
 *   16@32x32 109 vs 120 (OpenBLAS), 32@16x16 187 vs 143, 64@8x8 150 vs
 *   154; dW by kgemm 79-109 vs 106-122: after that merge, NN by kgemm
 *   for 32..64 channels (return CL_WINO_BLAS_NT there) is the better rule. */
static int wino_blas(const cl_conv_dims *d)
{
    /* measured at 2 threads, batch 128 (bench_7_conv): cl_kgemm wins the
     * element-wise products of forward/dx from 32 channels (64@8x8: 1.66 ->
     * 1.12 ms, ResNet-18 64@32x32: 22 -> 13 ms), OpenBLAS at 16 channels
     * (16@32x32: 2.1 vs 2.4 ms) and in dW everywhere. Those kgemm times
     * were taken while cl_kgemm_nn skipped 49..63-column tails (64@32x32
     * and 64@8x8 chunks are 56 tiles); fixed, one thread, batch 128, kgemm
     * vs OpenBLAS NN is even (64@32x32 fwd 43-44 vs 43, 64@8x8 3.1 vs 3.1
     * ms) and kgemm wins NN for 256@8x8 / 512@4x4 (fwd 44 / 44 vs 44-50 /
     * 53-59 ms, noisy), so the rule stays. */
    return CL_WINO_BLAS_NT | (d->C <= 16 && d->OC <= 16 ? CL_WINO_BLAS_NN : 0);
}

const char *cl_conv2d_algo(const cl_conv_dims *d)
{
    /* stride-2 3x3 / 1x1: packed im2col + cl_kgemm unless COLLAPSE_CONV=gemm */
    if (cl_strided_eligible(d) && cl_conv_env() != 2) return "strided-kgemm";
    const int m = wino_m(d);
    if (m) return m == 4 ? "winograd-F4" : "winograd-F2";
    if (conv_direct(d)) return "direct";
    if (shift_fwd(d)) return "shifted";
    return conv_group(d) > 1 ? "im2col-grouped" : "im2col";
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
    const int shifted = shift_fwd(d), wm = wino_m(d);
    if (wm) {
        cl_wino_forward(d, wm, wino_blas(d), x, W, b, y, ws);
        return;
    }
    if (cl_strided_eligible(d) && cl_conv_env() != 2) {
        cl_strided_forward(d, x, W, b, y, ws);
        return;
    }
    float *Wr = ws + conv_slots(d) * slot;
    if (shifted) cl_conv_repack_taps(W, d->OC, d->C, d->k * d->k, 0, Wr);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = ws + omp_get_thread_num() * slot;
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * G, gn = imin(G, d->N - n0);
            if (shifted) {
                float *yn = y + n0 * ys;
                cl_conv_shifted(x + n0 * xs, d->C, d->H, d->W, d->OC, d->k, d->pad, Wr, yn,
                                col);
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
        cl_conv_shifted(dyn, d->OC, d->H, d->W, d->C, d->k, d->pad,
                        Wf + (int64_t)d->C * OCKK, dxn, col);
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
    const int KK = d->k * d->k, ngroups = (d->N + G - 1) / G, wm = wino_m(d);
    if (wm) {
        cl_wino_backward(d, wm, wino_blas(d), x, W, dy, dx, dW, db, ws);
        return;
    }
    if (cl_strided_eligible(d) && cl_conv_env() != 2) {
        cl_strided_backward(d, x, W, dy, dx, dW, db, ws);
        return;
    }
    float *Wf = ws + conv_slots(d) * slot;
    if (same)
        for (int c = 0; c < d->C; c++)
            for (int oc = 0; oc < d->OC; oc++)
                for (int q = 0; q < KK; q++)
                    Wf[((int64_t)c * d->OC + oc) * KK + q] =
                        W[((int64_t)oc * d->C + c) * KK + (KK - 1 - q)];
    if (same && shift_dx(d)) cl_conv_repack_taps(W, d->OC, d->C, KK, 1, Wf + nW);
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
                    cl_conv_dw_shifted(d, xn, dyn, dWt, col);
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
