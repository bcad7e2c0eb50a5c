/* Batch-norm kernels (include/collapse/kernels_dense.h for shapes and
 * formulas); the naive twins are in bn_naive.c.
 *
 * Passes over memory (the minimum for a two-moment normalisation):
 *   forward   cl_bn_stats: one read of x; cl_bn_apply[_act]: one read of x
 *             (and of the residual), one write of y. The ReLU and the
 *             residual add of a BasicBlock ride in the apply pass.
 *   backward  one pass for the two channel sums (reading x and dy, and y
 *             for the fused ReLU mask, which may be written back as the
 *             masked gradient; or no y: the mask redone from x,
 *             cl_bn_backward_relu_x), one pass for dx. Both passes of a
 *             chunk of channels run back to back, so the second re-reads
 *             from cache where the chunk fits.
 *
 * Sums are double, in LANES = 8 lanes per channel (one AVX-512 / two AVX2
 * vectors): element i of every plane of the channel goes to lane i % 8
 * (the tail of a plane to lane 0), lanes are added at the end. Each plane
 * loads the channel's lanes into locals, so the running sums stay in
 * registers. The order of every sum is fixed by the data layout alone:
 * results do not depend on the thread count or timing (threads own whole
 * channels). A shift (the channel's first value) removes the cancellation
 * of a large mean from the variance sum. OpenMP from PAR_MIN elements on.
 * With AVX-512 (cl_isa_current) the plane sums run in bn_avx512.c: the same
 * lanes and operations, the same bits (tests/test_bn_isa.c); the portable
 * loops compiled to 256-bit halves with the lanes spilled, and the
 * statistics pass was bound by that instead of by memory. */
#include <math.h>
#include <omp.h>
#include <stddef.h>

#include "bn_internal.h"
#include "collapse/isa.h"
#include "collapse/kernels_dense.h"

#define PAR_MIN 32768
#define LANES 8
#define CB 64

static inline int imin(int a, int b) { return a < b ? a : b; }

/* a += (p - K), b += (p - K)^2 over p[0..n) */
static inline void lanes_shifted(const float *restrict p, int64_t n, double K, double *restrict a,
                                 double *restrict b)
{
    double la[LANES], lb[LANES];
    for (int j = 0; j < LANES; j++) la[j] = a[j], lb[j] = b[j];
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double d = (double)p[i + j] - K;
            la[j] += d;
            lb[j] += d * d;
        }
    for (; i < n; i++) {
        double d = (double)p[i] - K;
        la[0] += d;
        lb[0] += d * d;
    }
    for (int j = 0; j < LANES; j++) a[j] = la[j], b[j] = lb[j];
}

/* a += g, b += g * (x - mu) over [0..n), g = dy. */
static inline void lanes_grad(const float *restrict x, const float *restrict dy, int64_t n,
                              double mu, double *restrict a, double *restrict b)
{
    double la[LANES], lb[LANES];
    for (int j = 0; j < LANES; j++) la[j] = a[j], lb[j] = b[j];
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double g = dy[i + j];
            la[j] += g;
            lb[j] += g * ((double)x[i + j] - mu);
        }
    for (; i < n; i++) {
        double g = dy[i];
        la[0] += g;
        lb[0] += g * ((double)x[i] - mu);
    }
    for (int j = 0; j < LANES; j++) a[j] = la[j], b[j] = lb[j];
}

/* Where the ReLU mask of a fused backward comes from: the fused forward's
 * output y (y > 0), or, with y NULL, the forward's own float operations
 * redone from x: v = (x - m) * k + b with k = gamma * invstd, and
 * relu(v) > 0 exactly when v > 0 (NaN: neither), so the mask is the same
 * bit for bit without reading y. */
typedef struct {
    const float *y;
    float m, k, b;
} relu_mask;

/* lanes_grad of the masked g, written to gout (may be dy) unless NULL
 * (o = the plane's offset, for mk->y). Each block of LANES masks into a
 * small float array first, in its own simd loop: a select inside the
 * double loop compiled to branches, mispredicted half the time. Same lanes
 * as lanes_grad. */
static inline void lanes_grad_mask(const float *x, const float *dy, const relu_mask *mk,
                                   int64_t o, float *gout, int64_t n, double mu, double *a,
                                   double *b)
{
    double la[LANES], lb[LANES];
    for (int j = 0; j < LANES; j++) la[j] = a[j], lb[j] = b[j];
    const float *y = mk->y ? mk->y + o : NULL;
    const float m = mk->m, k = mk->k, bb = mk->b;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        float gv[LANES];
        if (y) {
#pragma omp simd
            for (int j = 0; j < LANES; j++) gv[j] = y[i + j] > 0.0f ? dy[i + j] : 0.0f;
        } else {
#pragma omp simd
            for (int j = 0; j < LANES; j++)
                gv[j] = (x[i + j] - m) * k + bb > 0.0f ? dy[i + j] : 0.0f;
        }
        if (gout)
            for (int j = 0; j < LANES; j++) gout[i + j] = gv[j];
#pragma omp simd
        for (int j = 0; j < LANES; j++) {
            double g = gv[j];
            la[j] += g;
            lb[j] += g * ((double)x[i + j] - mu);
        }
    }
    for (; i < n; i++) {
        int on = y ? y[i] > 0.0f : (x[i] - m) * k + bb > 0.0f;
        double g = on ? dy[i] : 0.0f;
        if (gout) gout[i] = (float)g;
        la[0] += g;
        lb[0] += g * ((double)x[i] - mu);
    }
    for (int j = 0; j < LANES; j++) a[j] = la[j], b[j] = lb[j];
}

static inline double lanes_sum(const double *a)
{
    double s = 0;
    for (int j = 0; j < LANES; j++) s += a[j];
    return s;
}

/* Channels per work item on the plane path (HW > 1): as many as keep the
 * item's x and dy (N*w*HW floats each) within ~512 KiB, so the second pass
 * of the backward re-reads them from L2; at least 1, at most CB, and few
 * enough that every thread gets an item. Each item walks n outer, channels
 * inner: runs of w*HW contiguous floats. */
static int plane_chunk(int N, int C, int HW)
{
    int64_t per = (int64_t)N * HW * 2 * (int64_t)sizeof(float);
    int64_t w = (512 << 10) / (per > 0 ? per : 1), T = omp_get_max_threads();
    int64_t share = (C + T - 1) / T;
    if (w > CB) w = CB;
    if (w > share) w = share;
    if (w < 1) w = 1;
    return (int)w;
}

/* The statistics of channels [c0, c0 + cw) on the plane path (HW > 1). */
static void stats_chunk(const float *x, int N, int C, int HW, int c0, int cw, int avx,
                        float *mean, float *var)
{
    double M = (double)N * HW;
    double K[CB], a[CB][LANES] = {{0}}, b[CB][LANES] = {{0}};
    for (int j = 0; j < cw; j++) K[j] = x[(int64_t)(c0 + j) * HW];
    for (int n = 0; n < N; n++)
        for (int j = 0; j < cw; j++) {
            const float *p = x + ((int64_t)n * C + c0 + j) * HW;
            if (avx) cl_bn_lanes_shifted_avx512(p, HW, K[j], a[j], b[j]);
            else lanes_shifted(p, HW, K[j], a[j], b[j]);
        }
    for (int j = 0; j < cw; j++)
        cl_bn_finish_stats(lanes_sum(a[j]), lanes_sum(b[j]), K[j], M, &mean[c0 + j], &var[c0 + j]);
}

void cl_bn_stats(const float *x, int N, int C, int HW, float *mean, float *var)
{
    int64_t total = (int64_t)N * C * HW;
    double M = (double)N * HW;
    if (HW == 1) {
        int nb = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int bi = 0; bi < nb; bi++) {
            int c0 = bi * CB, w = imin(CB, C - c0);
            double K[CB], s[CB] = {0}, ss[CB] = {0};
            for (int j = 0; j < w; j++) K[j] = x[c0 + j];
            for (int n = 0; n < N; n++) {
                const float *r = x + (int64_t)n * C + c0;
#pragma omp simd
                for (int j = 0; j < w; j++) {
                    double d = (double)r[j] - K[j];
                    s[j] += d;
                    ss[j] += d * d;
                }
            }
            for (int j = 0; j < w; j++) cl_bn_finish_stats(s[j], ss[j], K[j], M, &mean[c0 + j], &var[c0 + j]);
        }
        return;
    }
    int w = plane_chunk(N, C, HW), nb = (C + w - 1) / w;
    int avx = cl_isa_current() == CL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int bi = 0; bi < nb; bi++) stats_chunk(x, N, C, HW, bi * w, imin(w, C - bi * w), avx, mean, var);
}

/* One plane of the apply: y = (x - m) * k + b [+ r], then relu if asked.
 * Same float operations, in the same order, as apply + add + ReLU done as
 * separate passes, so the fused result is bit-identical. */
static inline void apply_plane(const float *restrict x, const float *restrict r,
                               float *restrict y, int64_t n, float m, float k, float b, int relu)
{
    if (r && relu) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float v = (x[i] - m) * k + b;
            v = v + r[i];
            y[i] = v < 0.0f ? 0.0f : v; /* NaN propagates */
        }
    } else if (r) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float v = (x[i] - m) * k + b;
            y[i] = v + r[i];
        }
    } else if (relu) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float v = (x[i] - m) * k + b;
            y[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) * k + b;
    }
}

void cl_bn_apply_act(const float *x, const float *res, float *y, const float *gamma,
                     const float *beta, const float *mean, const float *invstd, int relu, int N,
                     int C, int HW)
{
    int64_t total = (int64_t)N * C * HW;
    if (HW == 1 && !res && !relu) {
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (int64_t)n * C;
            float *yr = y + (int64_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * (gamma[c] * invstd[c]) + beta[c];
        }
        return;
    }
    int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int c = (int)(pl % C);
        apply_plane(x + pl * HW, res ? res + pl * HW : NULL, y + pl * HW, HW, mean[c],
                    gamma[c] * invstd[c], beta[c], relu);
    }
}

/* One parallel region: the statistics per channel chunk (each thread
 * finishes its own channels, so no barrier is needed before the running
 * update), one barrier, then the apply over the planes in memory order
 * (an apply per channel chunk, right after its statistics, was slower:
 * 4 KiB runs 64 KiB apart at 16@32). invstd holds var until finished. */
void cl_bn_forward_train(const float *x, const float *res, float *y, const float *gamma,
                         const float *beta, const cl_bn_running *run, int relu, int N, int C,
                         int HW, float *mean, float *invstd)
{
    int64_t total = (int64_t)N * C * HW, planes = (int64_t)N * C;
    double M = (double)N * HW;
    if (HW == 1 || total < PAR_MIN) {
        cl_bn_stats(x, N, C, HW, mean, invstd);
        for (int c = 0; c < C; c++) cl_bn_finish_running(run, c, M, mean[c], invstd[c], &invstd[c]);
        cl_bn_apply_act(x, res, y, gamma, beta, mean, invstd, relu, N, C, HW);
        return;
    }
    int w = plane_chunk(N, C, HW), nb = (C + w - 1) / w;
    int avx = cl_isa_current() == CL_ISA_AVX512;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int bi = 0; bi < nb; bi++) {
            int c0 = bi * w, cw = imin(w, C - c0);
            stats_chunk(x, N, C, HW, c0, cw, avx, mean, invstd);
            for (int c = c0; c < c0 + cw; c++)
                cl_bn_finish_running(run, c, M, mean[c], invstd[c], &invstd[c]);
        }
#pragma omp for schedule(static)
        for (int64_t pl = 0; pl < planes; pl++) {
            int c = (int)(pl % C);
            apply_plane(x + pl * HW, res ? res + pl * HW : NULL, y + pl * HW, HW, mean[c],
                        gamma[c] * invstd[c], beta[c], relu);
        }
    }
}

void cl_bn_apply(const float *x, float *y, const float *gamma, const float *beta,
                 const float *mean, const float *invstd, int N, int C, int HW)
{
    cl_bn_apply_act(x, NULL, y, gamma, beta, mean, invstd, 0, N, C, HW);
}

/* The HW = 1 (BatchNorm1d) backward: blocks of CB adjacent columns. */
static void bn_backward_cols(const float *x, const float *dy, float *dx, const float *gamma,
                             const float *mean, const float *invstd, int batch_stats, int N,
                             int C, float *dgamma, float *dbeta)
{
    double M = (double)N;
    int nb = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((int64_t)N * C >= PAR_MIN)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * CB, w = imin(CB, C - c0);
        double s[CB] = {0}, sx[CB] = {0};
        float a[CB], b[CB], cc[CB], mu[CB];
        for (int j = 0; j < w; j++) mu[j] = mean[c0 + j];
        for (int n = 0; n < N; n++) {
            const float *xr = x + (int64_t)n * C + c0, *gr = dy + (int64_t)n * C + c0;
#pragma omp simd
            for (int j = 0; j < w; j++) {
                double g = gr[j];
                s[j] += g;
                sx[j] += g * ((double)xr[j] - mu[j]);
            }
        }
        for (int j = 0; j < w; j++)
            cl_bn_coefs(s[j], sx[j], gamma[c0 + j], invstd[c0 + j], M, batch_stats, &dgamma[c0 + j],
                     &dbeta[c0 + j], &a[j], &b[j], &cc[j]);
        if (!dx) continue;
        for (int n = 0; n < N; n++) {
            const float *xr = x + (int64_t)n * C + c0, *gr = dy + (int64_t)n * C + c0;
            float *dr = dx + (int64_t)n * C + c0;
#pragma omp simd
            for (int j = 0; j < w; j++) dr[j] = a[j] * gr[j] + b[j] * (xr[j] - mu[j]) + cc[j];
        }
    }
}

/* The plane path. Without a mask (y and beta NULL) g = dy. With one (from
 * y, or recomputed from x with beta: relu_mask), g = dy where it is set:
 * written to g if g != NULL and read back by the dx pass; g = NULL: not
 * written, the dx pass masks again. */
static void bn_backward_planes(const float *x, const float *y, const float *beta,
                               const float *dy, float *g, float *dx, const float *gamma,
                               const float *mean, const float *invstd, int batch_stats, int N,
                               int C, int HW, float *dgamma, float *dbeta)
{
    int64_t total = (int64_t)N * C * HW;
    double M = (double)N * HW;
    int masked = y || beta, remask = masked && !g;
    const float *gin = masked && g ? g : dy; /* what the dx pass reads */
    int w = plane_chunk(N, C, HW), nb = (C + w - 1) / w;
    int avx = cl_isa_current() == CL_ISA_AVX512;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int bi = 0; bi < nb; bi++) {
        int c0 = bi * w, cw = imin(w, C - c0);
        double la[CB][LANES] = {{0}}, lb[CB][LANES] = {{0}};
        float a[CB], b[CB], cc[CB], mu[CB];
        relu_mask mk[CB];
        for (int j = 0; j < cw; j++) {
            int c = c0 + j;
            mu[j] = mean[c];
            mk[j] = (relu_mask){y, mean[c], gamma[c] * invstd[c], beta ? beta[c] : 0.0f};
        }
        for (int n = 0; n < N; n++)
            for (int j = 0; j < cw; j++) {
                int64_t o = ((int64_t)n * C + c0 + j) * HW;
                float *go = g ? g + o : NULL;
                if (masked && avx)
                    cl_bn_lanes_grad_mask_avx512(x + o, dy + o, y ? y + o : NULL, mk[j].m,
                                                 mk[j].k, mk[j].b, go, HW, mu[j], la[j], lb[j]);
                else if (masked)
                    lanes_grad_mask(x + o, dy + o, &mk[j], o, go, HW, mu[j], la[j], lb[j]);
                else if (avx)
                    cl_bn_lanes_grad_avx512(x + o, dy + o, HW, mu[j], la[j], lb[j]);
                else
                    lanes_grad(x + o, dy + o, HW, mu[j], la[j], lb[j]);
            }
        for (int j = 0; j < cw; j++)
            cl_bn_coefs(lanes_sum(la[j]), lanes_sum(lb[j]), gamma[c0 + j], invstd[c0 + j], M,
                     batch_stats, &dgamma[c0 + j], &dbeta[c0 + j], &a[j], &b[j], &cc[j]);
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < cw; j++) {
                int64_t o = ((int64_t)n * C + c0 + j) * HW;
                const float *restrict xp = x + o, *restrict gp = gin + o;
                float *restrict dp = dx + o;
                float aj = a[j], bj = b[j], cj = cc[j], mj = mu[j];
                if (remask && y) {
                    const float *restrict yp = y + o;
#pragma omp simd
                    for (int i = 0; i < HW; i++) {
                        float gv = yp[i] > 0.0f ? gp[i] : 0.0f;
                        dp[i] = aj * gv + bj * (xp[i] - mj) + cj;
                    }
                } else if (remask) {
                    float m = mk[j].m, k = mk[j].k, bb = mk[j].b;
#pragma omp simd
                    for (int i = 0; i < HW; i++) {
                        float gv = (xp[i] - m) * k + bb > 0.0f ? gp[i] : 0.0f;
                        dp[i] = aj * gv + bj * (xp[i] - mj) + cj;
                    }
                } else {
#pragma omp simd
                    for (int i = 0; i < HW; i++) dp[i] = aj * gp[i] + bj * (xp[i] - mj) + cj;
                }
            }
    }
}

void cl_bn_backward(const float *x, const float *dy, float *dx, const float *gamma,
                    const float *mean, const float *invstd, int batch_stats, int N, int C, int HW,
                    float *dgamma, float *dbeta)
{
    if (HW == 1)
        bn_backward_cols(x, dy, dx, gamma, mean, invstd, batch_stats, N, C, dgamma, dbeta);
    else
        bn_backward_planes(x, NULL, NULL, dy, NULL, dx, gamma, mean, invstd, batch_stats, N, C,
                           HW, dgamma, dbeta);
}

void cl_bn_backward_relu(const float *x, const float *y, const float *dy, float *g, float *dx,
                         const float *gamma, const float *mean, const float *invstd,
                         int batch_stats, int N, int C, int HW, float *dgamma, float *dbeta)
{
    bn_backward_planes(x, y, NULL, dy, g, dx, gamma, mean, invstd, batch_stats, N, C, HW,
                       dgamma, dbeta);
}

void cl_bn_backward_relu_x(const float *x, const float *dy, float *dx, const float *gamma,
                           const float *beta, const float *mean, const float *invstd,
                           int batch_stats, int N, int C, int HW, float *dgamma, float *dbeta)
{
    bn_backward_planes(x, NULL, beta, dy, NULL, dx, gamma, mean, invstd, batch_stats, N, C, HW,
                       dgamma, dbeta);
}
