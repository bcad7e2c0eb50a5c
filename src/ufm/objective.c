/* The UFM objective and its gradient (Zhu et al. 2021, eq. 3; deep UFM:
 * Tirer & Bruna 2022, Sukenik et al. 2023/2024; sphere: logits
 * T <w_k, h_i> as in Jiang et al. 2024). Shapes: internal.h. */
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "internal.h"

static double sumsq(const double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* Z_{l+1} = act(Z_l V_l^T) for l = 1..L-1, then logits = Z_L W^T + 1 b^T
 * (sphere: T Z_L W^T). */
void cl_ufm_forward(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    int N = (int)u->N, K = c->K;
    for (int l = 1; l < u->L; l++) {
        int in = u->vin[l], w = c->width;
        cl_dgemm(0, 1, N, w, in, 1.0, u->Z[l], in, u->V[l], in, 0.0, u->A[l], w);
        double *a = u->A[l], *z = u->Z[l + 1];
        for (int64_t i = 0; i < (int64_t)N * w; i++)
            z[i] = c->act == CL_UFM_RELU && a[i] < 0 ? 0 : a[i];
    }
    double alpha = c->sphere ? c->temperature : 1.0;
    cl_dgemm(0, 1, N, K, u->dl, alpha, u->Z[u->L], u->dl, u->W, u->dl, 0.0, u->logits, K);
    if (c->bias)
        for (int i = 0; i < N; i++)
            for (int k = 0; k < K; k++)
                u->logits[(int64_t)i * K + k] += u->b[k];
}

/* The data term and d(loss)/d(logits) [N, K] into u->dlogits.
 * CE: (1/N) sum_i logsumexp(z_i) - z_{i,y_i}; MSE: (1/(2N)) ||Z - Y||^2.
 * Pick-all-label (Li, Wang, Li & Qu, ICML 2024), label set S, m = |S|: with
 * targets t (t_k = 1 on S for PAL, 1/m for PAL_MEAN) and s = sum_k t_k,
 * loss_i = s logsumexp(z_i) - t.z_i and gradient s p - t (CE: t one-hot). */
static double data_loss(cl_ufm *u)
{
    int K = u->c.K;
    double total = 0, invN = 1.0 / (double)u->N;
    for (int64_t i = 0; i < u->N; i++) {
        const double *z = u->logits + i * K;
        double *g = u->dlogits + i * K;
        int y = u->y[i], y2 = u->y2[i];
        if (u->c.loss != CL_UFM_MSE) {
            double t = y2 >= 0 && u->c.loss == CL_UFM_PAL_MEAN ? 0.5 : 1.0;
            double scale = y2 >= 0 ? 2 * t : 1.0;
            double m = z[0];
            for (int k = 1; k < K; k++)
                m = z[k] > m ? z[k] : m;
            double s = 0;
            for (int k = 0; k < K; k++)
                s += exp(z[k] - m);
            total += scale * (m + log(s)) - t * (z[y] + (y2 >= 0 ? z[y2] : 0.0));
            for (int k = 0; k < K; k++)
                g[k] = (scale * exp(z[k] - m) / s - t * ((k == y) + (k == y2))) * invN;
        } else {
            for (int k = 0; k < K; k++) {
                double r = z[k] - (k == y);
                total += 0.5 * r * r;
                g[k] = r * invN;
            }
        }
    }
    return total * invN;
}

/* Backward pass: every gradient is written (not accumulated). */
static void backward(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    int N = (int)u->N, K = c->K, dl = u->dl;
    double alpha = c->sphere ? c->temperature : 1.0;
    double *gW = u->grad, *gb = gW + (int64_t)K * dl, *gH1 = gb + K;
    /* dW = alpha dlogits^T Z_L + LW W */
    cl_dgemm(1, 0, K, dl, N, alpha, u->dlogits, K, u->Z[u->L], dl, 0.0, gW, dl);
    for (int64_t j = 0; j < (int64_t)K * dl; j++)
        gW[j] += c->wd_w * u->W[j];
    for (int k = 0; k < K; k++) {
        double s = 0;
        if (c->bias)
            for (int i = 0; i < N; i++)
                s += u->dlogits[(int64_t)i * K + k];
        gb[k] = c->bias ? s + c->wd_b * u->b[k] : 0;
    }
    /* dZ_L = alpha dlogits W; for depth 1 straight into dH1 */
    double *dz = u->L > 1 ? u->dZ : gH1;
    cl_dgemm(0, 0, N, dl, K, alpha, u->dlogits, K, u->W, dl, 0.0, dz, dl);
    double *gV = gH1 + u->N * c->d;
    double *gVl[CL_UFM_MAX_DEPTH];
    for (int l = 1; l < u->L; l++) {
        gVl[l] = gV;
        gV += (int64_t)c->width * u->vin[l];
    }
    for (int l = u->L - 1; l >= 1; l--) {
        int in = u->vin[l], w = c->width;
        for (int64_t i = 0; i < (int64_t)N * w; i++)
            u->dA[i] = c->act == CL_UFM_RELU && u->A[l][i] < 0 ? 0 : u->dZ[i];
        /* dV_l = dA^T Z_l + LW V_l */
        cl_dgemm(1, 0, w, in, N, 1.0, u->dA, w, u->Z[l], in, 0.0, gVl[l], in);
        for (int64_t j = 0; j < (int64_t)w * in; j++)
            gVl[l][j] += c->wd_w * u->V[l][j];
        /* dZ_l = dA V_l (into H1's gradient at l = 1) */
        cl_dgemm(0, 0, N, in, w, 1.0, u->dA, w, u->V[l], in, 0.0, l == 1 ? gH1 : u->dZ, in);
    }
    for (int64_t j = 0; j < u->N * c->d; j++)
        gH1[j] += c->wd_h * u->H1[j];
}

void cl_ufm_eval(cl_ufm *u, int grad, double *objective, double *loss)
{
    const cl_ufm_config *c = &u->c;
    cl_ufm_forward(u);
    double l = data_loss(u);
    double w2 = sumsq(u->W, (int64_t)c->K * u->dl);
    for (int j = 1; j < u->L; j++)
        w2 += sumsq(u->V[j], (int64_t)c->width * u->vin[j]);
    double obj = l + 0.5 * c->wd_w * w2 + 0.5 * c->wd_h * sumsq(u->H1, u->N * c->d);
    if (c->bias) obj += 0.5 * c->wd_b * sumsq(u->b, c->K);
    if (grad) backward(u);
    if (objective) *objective = obj;
    if (loss) *loss = l;
}
