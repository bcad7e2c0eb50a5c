/* The shifted-products path of stride-1 "same" convolutions (see the note
 * at the top of conv.c): over a zero-padded copy of the plane, tap (i, j)
 * is the plane shifted by i*Wp + j, so the convolution is k*k products with
 * no column matrix. */
#include <string.h>

#include "collapse/blas.h"
#include "internal.h"

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
void cl_conv_shifted(const float *x, int C, int H, int W, int OC, int k, int pad,
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
void cl_conv_dw_shifted(const cl_conv_dims *d, const float *x, const float *dyn, float *dWq,
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
void cl_conv_repack_taps(const float *Ws, int O, int I, int KK, int flip_io, float *Wr)
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
