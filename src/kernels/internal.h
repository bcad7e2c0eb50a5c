/* Internals shared by the convolution kernels of src/kernels/ (not a
 * public header): small helpers and the shifted-products path
 * (conv_shifted.c) that conv.c calls. Shapes as in kernels_conv.h. */
#ifndef COLLAPSE_KERNELS_INTERNAL_H
#define COLLAPSE_KERNELS_INTERNAL_H

#include <stdint.h>

#include "collapse/isa.h"
#include "collapse/kernels_blocked.h"
#include "collapse/kernels_conv.h"

/* OpenMP only above PAR_MIN elements (a fork/join costs microseconds). */
#define PAR_MIN 32768

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Stride-1 "same" convolution of one image by k*k shifted products (no
 * im2col): y [OC, H, W] = conv(x [C, H, W], Wr [k*k, OC, C]).
 * scr: C*Hp*Wp + k + OC*H*Wp floats (Hp = H + 2*pad, Wp = W + 2*pad). */
void cl_conv_shifted(const float *x, int C, int H, int W, int OC, int k, int pad,
                     const float *Wr, float *y, float *scr);

/* dW of one image of a stride-1 "same" convolution by shifted products:
 * dWq [k*k, OC, C] += taps of dyn [OC, H, W] against x [C, H, W]. scr as
 * cl_conv_shifted. */
void cl_conv_dw_shifted(const cl_conv_dims *d, const float *x, const float *dyn, float *dWq,
                        float *scr);

/* Wr [k*k, O, I] = Ws [O, I, k, k] (flip_io: Wr [k*k, I, O] of the flipped
 * kernel, tap k*k-1-q). */
void cl_conv_repack_taps(const float *Ws, int O, int I, int KK, int flip_io, float *Wr);

/* The 2x2 stride-2 unpadded max pool of one plane [H, W] -> [OH, OW], AVX-512
 * (pool_avx512.c; the same bits as pooling.c's general loops). */
void cl_maxpool2_forward_avx512(const float *xp, float *yp, int W, int OH, int OW);
void cl_maxpool2_backward_avx512(const float *xp, const float *dyp, float *dxp, int H, int W,
                                 int OH, int OW);

/* ---- Winograd F(m x m, 3 x 3), m = 4 or 2, tile a = m + 2
 * (conv_winograd.c: pipeline; conv_wino_tf.c: tile transforms;
 * conv_wino_avx512.c: their AVX-512 read-out; conv_wino_filter.c: filter
 * transforms). Tile matrices
 * of n tiles are s*s rows of ld floats (row k*s + l = entry (k, l), one
 * tile per column). ---- */

/* out rows i*a+j (stride os) <- the second half of a tile transform, as
 * cl_wino_gather leaves its D (ld): Z B of Z = B^T d (dy = 0, input
 * tiles), or Y A^T of Y = A dy (dy = 1, the weight gradient's dy tiles). */
void cl_wino_tf_rows(int dy, int m, const float *D, int64_t ld, float *out, int64_t os, int n);
/* O [m*m rows, ld] = A^T M A of the a x a tiles M (row stride ms); tmp a*a*ld.
 * With O NULL, only the first half: tmp rows i*a + j = (A^T M). */
void cl_wino_out_tf(int m, const float *M, int64_t ms, float *tmp, float *O, int64_t ld, int n);
/* Tile row th of plane [H, W]: dy = 0: D [a*a rows, ld] <- B^T d of its
 * a x a input tiles (tile tw from row th*m - 1, column tw*m - 1; 0 outside
 * the plane); dy = 1: D [a*m rows] <- A dy of its m x m dy tiles (0 past
 * the plane). The first half of the transform, over whole plane rows
 * (when cl_wino_in_fused(isa, m, ntw), conv_winograd.c calls
 * cl_wino_in6_avx512 / cl_wino_out6_avx512 instead: whole transforms).
 * buf: 2 * a * cl_wino_row_stride(m, ntw) floats. */
void cl_wino_gather(int dy, cl_isa isa, const float *plane, int H, int W, int m, int th,
                    int ntw, float *D, int64_t ld, float *buf);
int cl_wino_in_fused(cl_isa isa, int m, int ntw);
/* Small planes (AVX-512, F(4), 2 or 4 tiles per row): G = 8 / ntw tile
 * rows at once (cl_wino_group returns G, or 0 when the path does not
 * apply). cl_wino_gather_group: the gn <= G tile rows th[u] of planes[u]
 * -> out rows i*a + j (stride os), 8 tiles per vector: the whole input
 * transform B^T d B (dy = 0), or the dy transform A dy A^T (dy = 1).
 * buf: 7 * 64 floats. */
int cl_wino_group(cl_isa isa, int m, int ntw);
void cl_wino_gather_group(int dy, const float *const *planes, const int *th, int gn, int H,
                          int W, int ntw, float *out, int64_t os, float *buf);
#if defined(__x86_64__)
/* AVX-512 tile read-out / write-back of F(4) (conv_wino_avx512.c), rows of
 * cl_wino_row_stride floats holding 8 tiles per 32 floats:
 * deint4: D rows k*nl + l <- b_k[4 tw + l] (k < nk, l < nl = 4 or 6);
 * inter4: y[4 tw + j] (w < W) <- O rows j (stride ld) + bias. */
void cl_wino_deint4_avx512(const float *buf, int rs, int nk, int nl, int ntw, float *D,
                           int64_t ld);
/* in6: the whole transform of the nr tile rows g0.. (tile row g: image
 * g / nth at src + (g / nth) * is, row th = g % nth) straight from the
 * planes, the vertical pass in registers: out rows k*6 + j (stride os),
 * tile row r's tiles from out + r * ntw <- B^T d B (dy = 0, input tiles)
 * or A dy A^T (dy = 1), 8 tiles per vector. */
void cl_wino_in6_avx512(int dy, const float *src, int64_t is, int g0, int nr, int nth, int H,
                        int W, int ntw, float *out, int64_t os);
void cl_wino_inter4_avx512(const float *O, int64_t ld, int ntw, float *y, int W, float bias);
/* group: the grouped read-out of cl_wino_gather_group, group row k of the
 * transformed rows at Zg + 64 k (tile row u at + 8 ntw u); nt valid tiles. */
void cl_wino_group_avx512(int dy, const float *Zg, int ntw, int nt, float *out, int64_t os);
/* out6: the whole output transform of the nr tile rows g0.. (images and
 * rows as in6, planes at dst + image * is): plane rows th*4 + i (< H) <-
 * A^T M A + bias, M rows xi at M + xi*ms, tile row r's tiles from
 * M + r * ntw (8 tiles per vector). */
void cl_wino_out6_avx512(const float *M, int64_t ms, int g0, int nr, int nth, int ntw,
                         float *dst, int64_t is, int H, int W, float bias);
#endif
/* plane rows th*m.. (those < H) <- the m x m tiles O (ld) + bias. */
void cl_wino_scatter(cl_isa isa, const float *O, int64_t ld, int m, int th, int ntw, float *plane,
                     int H, int W, float bias, float *buf);
/* Floats per row of the gather / scatter buffer (buf: a rows of it). */
int cl_wino_row_stride(int m, int ntw);
/* U [a*a][O][I] = G g G^T of W [O, I, 3, 3]; flip: U [a*a][I][O] of the
 * flipped kernel W[o][c][2-i][2-j] (the dx convolution). */
void cl_wino_filter(int m, const float *W, int O, int I, int flip, float *U);
/* dW [O, I, 3, 3] += G^T S G of S [a*a][O][I]. */
void cl_wino_filter_grad(int m, const float *S, int O, int I, float *dW);

/* The pipeline: tile size m (4 or 2) of an eligible shape (k 3, stride 1,
 * pad 1, OH = H, OW = W); blas: which products of the element-wise stage
 * run by cl_sgemm instead of cl_kgemm (CL_WINO_BLAS_NN: forward and dx,
 * CL_WINO_BLAS_NT: dW; 0 = all cl_kgemm). Workspace and contract as
 * cl_conv2d_forward / _backward. */
#define CL_WINO_BLAS_NN 1
#define CL_WINO_BLAS_NT 2
/* Tests only: chunks of 16 tiles in the big pipeline (C*OC > 128^2), so a
 * small batch runs several (the workspace of the default plan suffices). */
#define CL_WINO_TEST_CHUNK 4
int64_t cl_wino_ws_floats(const cl_conv_dims *d, int m);
void cl_wino_forward(const cl_conv_dims *d, int m, int blas, const float *x, const float *W,
                     const float *b, float *y, float *ws);
void cl_wino_backward(const cl_conv_dims *d, int m, int blas, const float *x, const float *W,
                      const float *dy, float *dx, float *dW, float *db, float *ws);

/* ---- Stride-2 convolutions by packed im2col + cl_kgemm (conv_strided.c):
 * 3x3 pad 1 and 1x1 pad 0. Workspace and contract as cl_conv2d_forward /
 * _backward. ---- */
int cl_strided_eligible(const cl_conv_dims *d);
int64_t cl_strided_ws_floats(const cl_conv_dims *d);
void cl_strided_forward(const cl_conv_dims *d, const float *x, const float *W, const float *b,
                        float *y, float *ws);
void cl_strided_backward(const cl_conv_dims *d, const float *x, const float *W, const float *dy,
                         float *dx, float *dW, float *db, float *ws);

/* COLLAPSE_CONV (read on each call): 0 = auto (unset or "auto"), 1 =
 * winograd, 2 = gemm, -1 = unknown (run as auto; cl_conv_check_env reports
 * it). conv.c. */
int cl_conv_env(void);

/* ---- channel-blocked Winograd F(4x4, 3x3) (conv_blocked.c: pipeline;
 * conv_blocked_avx512.c: its stages; layout in kernels_blocked.h). One
 * chunk = T tiles (tile g: image g / Tn, tile row g % Tn / ntw, column
 * g % ntw); V [36][C/16][T][16] with positions vs floats apart, M and Z
 * [36][OC/16][T][16] ms apart. C, OC: the channels in and out of the pass
 * (dx runs the forward pipeline with them swapped). ---- */
typedef struct {
    int N, C, OC, H, W, ntw, Tn, T;
    int64_t vs, ms;
    int stream; /* the output transform writes with non-temporal stores */
} cl_bplan;

/* Whether a blocked kernel writes an output of n floats with non-temporal
 * stores: from 6 MiB on a write that misses the cache then costs no read
 * of the line; the reader of a smaller output finds it in cache, so those
 * are stored normally. */
static inline int cl_blk_streamed(double n)
{
    return n * sizeof(float) >= (double)(6 << 20);
}

/* V <- B^T d B of chunk ci's tiles of xb [N][C/16][H][W][16], the BN
 * apply pro on every pixel read unless NULL; R: scratch of
 * cl_blk_rows_floats(p) floats (a tile-row's input rows, padded) */
void cl_blk_in_tf(const cl_bplan *p, const float *xb, int ci, float *V, float *R,
                  const cl_blk_bn *pro);
static inline int64_t cl_blk_rows_floats(const cl_bplan *p)
{
    return (int64_t)(p->C > p->OC ? p->C : p->OC) / 16 * 6 * (4 * p->ntw + 2) * 16;
}
/* Z <- A g A^T of chunk ci's 4x4 tiles of dyb [N][OC/16][H][W][16] */
void cl_blk_dy_tf(const cl_bplan *p, const float *dyb, int ci, float *Z);
/* M[xi] [T][OC] = V[xi] [T][C] @ U[xi] [C][OC] for the 36 positions */
void cl_blk_mul(const cl_bplan *p, int ci, const float *U, const float *V, float *M);
/* yb's pixels of chunk ci's tiles <- A^T M A, the BN apply epi (with its
 * residual and ReLU) on every pixel written unless NULL */
void cl_blk_out_tf(const cl_bplan *p, int ci, const float *M, float *yb, const cl_blk_bn *epi);
/* Macc [36][C][OC] += V[xi]^T @ Z[xi] over chunk ci's tiles */
void cl_blk_dw_mul(const cl_bplan *p, int ci, const float *V, const float *Z, float *Macc);
/* The layout conversions of kernels_blocked.h for HW % 16 == 0 (to = 1:
 * dst blocked <- src NCHW; to = 0: dst NCHW <- src + add, both blocked). */
void cl_blk_convert16(const float *src, const float *add, float *dst, int to, int N, int C,
                      int64_t HW);

#endif
