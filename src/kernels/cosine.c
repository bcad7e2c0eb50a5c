/* Cosine classifier kernels (Jiang, Zhou et al., "Generalized neural
 * collapse for a large number of classes", ICML 2024):
 *   y_no = T <x_n, w_o> / (|x_n| |w_o|),  |v| := max(||v||_2, eps).
 * Gradient (derived from y = T s / (a b), s = x.w, a = |x|, b = |w|):
 *   dL/dx_n = sum_o A_no w_o - x_n (sum_o dy_no y_no) / a_n^2,
 *   A_no = T dy_no / (a_n b_o); the second term is absent where the norm is
 *   clamped (then a_n is the constant eps). Symmetrically for w_o. */
#include <math.h>

#include "collapse/blas.h"
#include "collapse/kernels_dense.h"

static float clamped_norm(const float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    float r = (float)sqrt(s);
    return r > CL_COSINE_EPS ? r : CL_COSINE_EPS;
}

void cl_cosine_forward(const float *x, const float *W, float T, float *y, float *xn,
                       float *wn, int N, int IN, int OUT)
{
    for (int n = 0; n < N; n++)
        xn[n] = clamped_norm(x + (int64_t)n * IN, IN);
    for (int o = 0; o < OUT; o++)
        wn[o] = clamped_norm(W + (int64_t)o * IN, IN);
    cl_sgemm(0, 1, N, OUT, IN, 1.0f, x, IN, W, IN, 0.0f, y, OUT);
    for (int n = 0; n < N; n++) {
        float *yr = y + (int64_t)n * OUT;
        const float s = T / xn[n];
        for (int o = 0; o < OUT; o++)
            yr[o] *= s / wn[o];
    }
}

void cl_cosine_forward_naive(const float *x, const float *W, float T, float *y, float *xn,
                             float *wn, int N, int IN, int OUT)
{
    for (int n = 0; n < N; n++)
        xn[n] = clamped_norm(x + (int64_t)n * IN, IN);
    for (int o = 0; o < OUT; o++)
        wn[o] = clamped_norm(W + (int64_t)o * IN, IN);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = 0;
            for (int i = 0; i < IN; i++)
                s += (double)x[(int64_t)n * IN + i] * W[(int64_t)o * IN + i];
            y[(int64_t)n * OUT + o] = (float)(T * s / ((double)xn[n] * wn[o]));
        }
}

void cl_cosine_backward(const float *x, const float *W, float T, const float *y,
                        const float *xn, const float *wn, const float *dy, float *dx,
                        float *dW, float *ws, int N, int IN, int OUT)
{
    float *A = ws; /* [N, OUT] */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            const int64_t k = (int64_t)n * OUT + o;
            A[k] = T * dy[k] / (xn[n] * wn[o]);
        }
    if (dx) {
        cl_sgemm(0, 0, N, IN, OUT, 1.0f, A, OUT, W, IN, 0.0f, dx, IN);
        for (int n = 0; n < N; n++) {
            if (!(xn[n] > CL_COSINE_EPS)) continue;
            double c = 0;
            for (int o = 0; o < OUT; o++)
                c += (double)dy[(int64_t)n * OUT + o] * y[(int64_t)n * OUT + o];
            const float f = (float)(c / ((double)xn[n] * xn[n]));
            for (int i = 0; i < IN; i++)
                dx[(int64_t)n * IN + i] -= f * x[(int64_t)n * IN + i];
        }
    }
    cl_sgemm(1, 0, OUT, IN, N, 1.0f, A, OUT, x, IN, 1.0f, dW, IN);
    for (int o = 0; o < OUT; o++) {
        if (!(wn[o] > CL_COSINE_EPS)) continue;
        double d = 0;
        for (int n = 0; n < N; n++)
            d += (double)dy[(int64_t)n * OUT + o] * y[(int64_t)n * OUT + o];
        const float f = (float)(d / ((double)wn[o] * wn[o]));
        for (int i = 0; i < IN; i++)
            dW[(int64_t)o * IN + i] -= f * W[(int64_t)o * IN + i];
    }
}

void cl_cosine_backward_naive(const float *x, const float *W, float T, const float *y,
                              const float *xn, const float *wn, const float *dy,
                              float *dx, float *dW, int N, int IN, int OUT)
{
    for (int n = 0; dx && n < N; n++) {
        double c = 0;
        for (int o = 0; o < OUT; o++)
            c += (double)dy[(int64_t)n * OUT + o] * y[(int64_t)n * OUT + o];
        const double f = xn[n] > CL_COSINE_EPS ? c / ((double)xn[n] * xn[n]) : 0.0;
        for (int i = 0; i < IN; i++) {
            double s = 0;
            for (int o = 0; o < OUT; o++)
                s += (double)T * dy[(int64_t)n * OUT + o] / ((double)xn[n] * wn[o]) *
                     W[(int64_t)o * IN + i];
            dx[(int64_t)n * IN + i] = (float)(s - f * x[(int64_t)n * IN + i]);
        }
    }
    for (int o = 0; o < OUT; o++) {
        double d = 0;
        for (int n = 0; n < N; n++)
            d += (double)dy[(int64_t)n * OUT + o] * y[(int64_t)n * OUT + o];
        const double f = wn[o] > CL_COSINE_EPS ? d / ((double)wn[o] * wn[o]) : 0.0;
        for (int i = 0; i < IN; i++) {
            double s = 0;
            for (int n = 0; n < N; n++)
                s += (double)T * dy[(int64_t)n * OUT + o] / ((double)xn[n] * wn[o]) *
                     x[(int64_t)n * IN + i];
            dW[(int64_t)o * IN + i] += (float)(s - f * W[(int64_t)o * IN + i]);
        }
    }
}
