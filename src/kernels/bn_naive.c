/* Naive twins of the batch-norm kernels (bn.c): obvious loops, double
 * arithmetic, two-pass statistics; the references in tests. */
#include <math.h>

#include "collapse/error.h"
#include "collapse/mem.h"

#include "collapse/kernels_dense.h"

void cl_bn_stats_naive(const float *x, int N, int C, int HW, float *mean, float *var)
{
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) m += x[((int64_t)n * C + c) * HW + i];
        m /= M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double d = x[((int64_t)n * C + c) * HW + i] - m;
                v += d * d;
            }
        mean[c] = (float)m;
        var[c] = (float)(v / M);
    }
}

void cl_bn_apply_naive(const float *x, float *y, const float *gamma, const float *beta,
                       const float *mean, const float *invstd, int N, int C, int HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                y[j] = (float)(((double)x[j] - mean[c]) * invstd[c] * gamma[c] + beta[c]);
            }
}

void cl_bn_backward_naive(const float *x, const float *dy, float *dx, const float *gamma,
                          const float *mean, const float *invstd, int batch_stats, int N, int C,
                          int HW, float *dgamma, float *dbeta)
{
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyxh = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                sdy += dy[j];
                sdyxh += dy[j] * ((double)x[j] - mean[c]) * invstd[c];
            }
        dbeta[c] += (float)sdy;
        dgamma[c] += (float)sdyxh;
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                int64_t j = ((int64_t)n * C + c) * HW + i;
                double xh = ((double)x[j] - mean[c]) * invstd[c], g = dy[j];
                if (batch_stats) g = g - sdy / M - xh * sdyxh / M;
                dx[j] = (float)((double)gamma[c] * invstd[c] * g);
            }
    }
}

void cl_bn_apply_act_naive(const float *x, const float *res, float *y, const float *gamma,
                           const float *beta, const float *mean, const float *invstd, int relu,
                           int N, int C, int HW)
{
    cl_bn_apply_naive(x, y, gamma, beta, mean, invstd, N, C, HW);
    int64_t n = (int64_t)N * C * HW;
    for (int64_t i = 0; i < n; i++) {
        double v = (double)y[i] + (res ? res[i] : 0.0);
        if (relu && v <= 0) v = 0;
        y[i] = isnan(v) ? NAN : (float)v;
    }
}

void cl_bn_backward_relu_naive(const float *x, const float *y, const float *dy, float *g,
                               float *dx, const float *gamma, const float *mean,
                               const float *invstd, int batch_stats, int N, int C, int HW,
                               float *dgamma, float *dbeta)
{
    int64_t n = (int64_t)N * C * HW;
    float *m = g;
    if (!m) {
        m = cl_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1), "bn naive mask");
        CL_ASSERT(m);
    }
    for (int64_t i = 0; i < n; i++) m[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    cl_bn_backward_naive(x, m, dx, gamma, mean, invstd, batch_stats, N, C, HW, dgamma, dbeta);
    if (m != g) cl_free(m);
}

void cl_bn_backward_relu_x_naive(const float *x, const float *dy, float *dx, const float *gamma,
                                 const float *beta, const float *mean, const float *invstd,
                                 int batch_stats, int N, int C, int HW, float *dgamma,
                                 float *dbeta)
{
    int64_t n = (int64_t)N * C * HW;
    float *y = cl_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1), "bn naive relu output");
    CL_ASSERT(y);
    cl_bn_apply_act_naive(x, NULL, y, gamma, beta, mean, invstd, 1, N, C, HW);
    cl_bn_backward_relu_naive(x, y, dy, NULL, dx, gamma, mean, invstd, batch_stats, N, C, HW,
                              dgamma, dbeta);
    cl_free(y);
}

void cl_bn_forward_train_naive(const float *x, const float *res, float *y, const float *gamma,
                               const float *beta, const cl_bn_running *run, int relu, int N,
                               int C, int HW, float *mean, float *invstd)
{
    double M = (double)N * HW, mom = run->momentum;
    cl_bn_stats_naive(x, N, C, HW, mean, invstd); /* invstd holds var for now */
    for (int c = 0; c < C; c++) {
        double var = invstd[c];
        float *rm = &run->running_mean[c], *rv = &run->running_var[c];
        *rm = (float)((1 - mom) * *rm + mom * mean[c]);
        if (M > 1) *rv = (float)((1 - mom) * *rv + mom * var * M / (M - 1));
        invstd[c] = (float)(1.0 / sqrt(var + run->eps));
    }
    cl_bn_apply_act_naive(x, res, y, gamma, beta, mean, invstd, relu, N, C, HW);
}
