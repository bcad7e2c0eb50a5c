/* One step of full-batch gradient descent with heavy-ball momentum,
 *   v <- mu v + g,  theta <- theta - lr v,
 * projected for the Layer-Peeled Model (Fang et al. 2021) and Riemannian
 * (tangent projection + retraction by normalising) on the sphere. */
#include <math.h>

#include "internal.h"

/* g <- g - <g, x> x for every unit row x of X [rows, cols]. */
static void tangent(double *g, const double *x, int64_t rows, int cols)
{
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < cols; j++)
            s += g[i * cols + j] * x[i * cols + j];
        for (int j = 0; j < cols; j++)
            g[i * cols + j] -= s * x[i * cols + j];
    }
}

void cl_ufm_unit_rows(double *x, int64_t rows, int cols)
{
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < cols; j++)
            s += x[i * cols + j] * x[i * cols + j];
        s = s > 0 ? 1 / sqrt(s) : 0;
        for (int j = 0; j < cols; j++)
            x[i * cols + j] *= s;
    }
}

/* LPM projection. W: the ball (1/K) ||W||^2 <= EW, a uniform rescale.
 * H: the weighted ball (1/K) sum_i ||h_i||^2 / n_{y_i} <= EH is a plain
 * ball in g_i = h_i / sqrt(n_{y_i}); the step below is gradient descent
 * in g (the H gradient is multiplied by n_{y_i}), so its Euclidean
 * projection is again a uniform rescale. */
static void lpm_project(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    int K = c->K, d = c->d;
    double w2 = 0, h2 = 0;
    for (int64_t j = 0; j < (int64_t)K * u->dl; j++)
        w2 += u->W[j] * u->W[j];
    w2 /= K;
    if (w2 > c->ew) {
        double s = sqrt(c->ew / w2);
        for (int64_t j = 0; j < (int64_t)K * u->dl; j++)
            u->W[j] *= s;
    }
    for (int64_t i = 0; i < u->N; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += u->H1[i * d + j] * u->H1[i * d + j];
        h2 += s / (double)u->counts[u->y[i]];
    }
    h2 /= K;
    if (h2 > c->eh) {
        double s = sqrt(c->eh / h2);
        for (int64_t j = 0; j < u->N * d; j++)
            u->H1[j] *= s;
    }
}

cl_status cl_ufm_step(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    double obj;
    cl_ufm_eval(u, 1, &obj, NULL);
    if (!isfinite(obj)) return cl_error(CL_ENUMERIC, "the objective is not finite");
    double *gH1 = u->grad + (u->H1 - u->theta);
    if (c->lpm)
        for (int64_t i = 0; i < u->N; i++)
            for (int j = 0; j < c->d; j++)
                gH1[i * c->d + j] *= (double)u->counts[u->y[i]];
    if (c->sphere) {
        tangent(u->grad, u->W, c->K, u->dl);
        tangent(gH1, u->H1, u->N, c->d);
    }
    for (int64_t j = 0; j < u->n; j++) {
        u->vel[j] = c->momentum * u->vel[j] + u->grad[j];
        u->theta[j] -= c->lr * u->vel[j];
    }
    if (c->lpm) lpm_project(u);
    if (c->sphere) {
        cl_ufm_unit_rows(u->W, c->K, u->dl);
        cl_ufm_unit_rows(u->H1, u->N, c->d);
    }
    return CL_OK;
}
