/* Deep UFM helpers: the deep-neural-collapse (DNC) start and the numerical
 * rank of a layer's class means (Sukenik, Mondelli & Lampert 2024, who show
 * that beyond two layers or two classes DNC is not optimal: low-rank
 * solutions reach a lower objective). */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "collapse/blas.h"
#include "collapse/mem.h"
#include "internal.h"

/* The MSE objective of the DNC family at balanced scales: every one of the
 * L+1 penalty terms equals c/2 (AM-GM: for a fixed product of the scales the
 * penalty is smallest when the terms are equal), so h = sqrt(c/(N LH)) e_y,
 * each of the L matrices has K entries sqrt(c/(K LW)), and the output is p e_y. */
static double dnc_objective(double c, int L, double N, double K, double lh, double lw,
                            double *p)
{
    *p = sqrt(c / (N * lh)) * pow(c / (K * lw), 0.5 * L);
    return 0.5 * (*p - 1) * (*p - 1) + 0.5 * (L + 1) * c;
}

/* argmin over c > 0 of dnc_objective: a log grid, then golden section. */
static double dnc_scale(const cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    double N = (double)u->N, K = c->K, p, best = 0, fbest = 0.5;
    double lh = c->wd_h > 0 ? c->wd_h : 1e-12, lw = c->wd_w > 0 ? c->wd_w : 1e-12;
    for (int i = 0; i <= 4000; i++) {
        double x = pow(10, -12 + 14.0 * i / 4000);
        double f = dnc_objective(x, u->L, N, K, lh, lw, &p);
        if (f < fbest) fbest = f, best = x;
    }
    if (best == 0) return 0;
    double lo = best * pow(10, -14.0 / 4000), hi = best * pow(10, 14.0 / 4000);
    const double g = (sqrt(5) - 1) / 2;
    for (int it = 0; it < 200; it++) {
        double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
        if (dnc_objective(a, u->L, N, K, lh, lw, &p) < dnc_objective(b, u->L, N, K, lh, lw, &p))
            hi = b;
        else
            lo = a;
    }
    return 0.5 * (lo + hi);
}

void cl_ufm_dnc_init(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    int K = c->K, d = c->d;
    double cs = dnc_scale(u);
    double a = sqrt(cs / ((double)u->N * c->wd_h)), t = sqrt(cs / (K * c->wd_w));
    memset(u->theta, 0, sizeof(double) * (size_t)u->n);
    for (int64_t i = 0; i < u->N; i++)
        u->H1[i * d + u->y[i]] = a;
    for (int l = 1; l < u->L; l++)
        for (int k = 0; k < K; k++)
            u->V[l][(int64_t)k * u->vin[l] + k] = t;
    for (int k = 0; k < K; k++)
        u->W[(int64_t)k * u->dl + k] = t;
}

/* M [K, dim] (zeroed on entry) += the class means of Z [N, dim]. */
static void class_means(const cl_ufm *u, const double *Z, int dim, double *M)
{
    for (int64_t i = 0; i < u->N; i++)
        for (int j = 0; j < dim; j++)
            M[(int64_t)u->y[i] * dim + j] += Z[i * dim + j] / (double)u->counts[u->y[i]];
}

int cl_ufm_class_mean_rank(const cl_ufm *u, const double *Z, int dim)
{
    int K = u->c.K, rank = -1;
    double *M = cl_alloc_array((size_t)K * (size_t)dim, sizeof(double), "ufm class means");
    double *G = cl_alloc_array((size_t)K * (size_t)K, sizeof(double), "ufm class means");
    double *ev = cl_alloc_array((size_t)K, sizeof(double), "ufm class means");
    if (!M || !G || !ev) goto done;
    class_means(u, Z, dim, M);
    cl_dgemm(0, 1, K, K, dim, 1.0, M, dim, M, dim, 0.0, G, K);
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', K, G, K, ev) != 0) goto done;
    double smax = sqrt(ev[K - 1] > 0 ? ev[K - 1] : 0);
    rank = 0;
    for (int k = 0; k < K; k++)
        if (smax > 0 && ev[k] > 0 && sqrt(ev[k]) > CL_UFM_RANK_RTOL * smax) rank++;
done:
    cl_free(M);
    cl_free(G);
    cl_free(ev);
    return rank;
}

double cl_ufm_nc1_quotient(const cl_ufm *u, const double *Z, int dim)
{
    int K = u->c.K;
    double *M = cl_alloc_array((size_t)K * (size_t)dim, sizeof(double), "ufm class means");
    double *G = cl_alloc_array((size_t)dim, sizeof(double), "ufm class means");
    if (!M || !G) {
        cl_free(M);
        cl_free(G);
        return NAN;
    }
    class_means(u, Z, dim, M);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < dim; j++)
            G[j] += M[(int64_t)k * dim + j] / K;
    double sw = 0, sb = 0;
    for (int64_t i = 0; i < u->N; i++)
        for (int j = 0; j < dim; j++) {
            double e = Z[i * dim + j] - M[(int64_t)u->y[i] * dim + j];
            sw += e * e;
        }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < dim; j++) {
            double e = M[(int64_t)k * dim + j] - G[j];
            sb += e * e;
        }
    cl_free(M);
    cl_free(G);
    /* Sw = (1/N) sum e e^T, Sb = (1/K) sum (mu_k - mu_G)(.)^T */
    return sb > 0 ? (sw / (double)u->N) / (sb / K) : NAN;
}
