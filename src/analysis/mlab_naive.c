/* Reference twin of cl_mlab_analyze, the slow obvious way, for tests: for
 * every class and every candidate set {i, j} (i < j) a full scan of the
 * rows comparing the whole K-hot row with the wanted one; angles by acos of
 * the clamped cosine; mean and variance of the scales in two passes over a
 * stored list. Shares no code with mlab.c beyond the public label check.
 * Li, Wang, Li & Qu, ICML 2024 (formulas: include/collapse/mlab.h). */
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/mlab.h"

/* 1 if row equals the indicator of {i} (j < 0) or {i, j}. */
static int row_is(const uint8_t *row, int K, int i, int j)
{
    for (int k = 0; k < K; k++)
        if (row[k] != (k == i || k == j)) return 0;
    return 1;
}

/* Mean of the rows equal to the set into out [dim]; returns the count. */
static int64_t set_mean(const float *H, int64_t N, int dim, const uint8_t *Yk, int K, int i,
                        int j, double *out)
{
    int64_t c = 0;
    memset(out, 0, (size_t)dim * sizeof(double));
    for (int64_t r = 0; r < N; r++) {
        if (!row_is(Yk + r * K, K, i, j)) continue;
        for (int d = 0; d < dim; d++)
            out[d] += H[r * dim + d];
        c++;
    }
    for (int d = 0; c && d < dim; d++)
        out[d] /= (double)c;
    return c;
}

static double norm(const double *a, int dim)
{
    double s = 0;
    for (int d = 0; d < dim; d++)
        s += a[d] * a[d];
    return sqrt(s);
}

static double acos_deg(const double *a, const double *b, int dim)
{
    double na = norm(a, dim), nb = norm(b, dim), dot = 0;
    for (int d = 0; d < dim; d++)
        dot += a[d] * b[d];
    double c = dot / (na * nb);
    return acos(c > 1 ? 1 : c < -1 ? -1 : c) * CL_MLAB_DEG;
}

typedef struct {
    int P, dim;
    int *si, *sj;
    double *mu, *ms, *u, *v, *sc; /* [K, dim], [P, dim], [dim], [dim], [P] */
} sets;

/* Keys of one convention: centre c [dim] (zeros: uncentred). */
static int keys(const sets *S, const double *c, double *angle, double *mean, double *cv)
{
    const int dim = S->dim;
    *angle = *mean = *cv = NAN;
    if (S->P == 0) return 0;
    double sa = 0;
    for (int p = 0; p < S->P; p++) {
        double parts = 0;
        for (int d = 0; d < dim; d++) {
            double a = S->mu[S->si[p] * dim + d] - c[d], b = S->mu[S->sj[p] * dim + d] - c[d];
            S->u[d] = S->ms[p * dim + d] - c[d];
            S->v[d] = a + b;
            parts += a * a + b * b;
        }
        double nv = norm(S->v, dim), nu = norm(S->u, dim);
        if (!(nv > 1e-12 * sqrt(parts)) || !(nu > 0)) return 0;
        sa += acos_deg(S->u, S->v, dim);
        S->sc[p] = nu / (nv / 2);
    }
    double m = 0, var = 0;
    for (int p = 0; p < S->P; p++)
        m += S->sc[p] / S->P;
    for (int p = 0; p < S->P; p++)
        var += (S->sc[p] - m) * (S->sc[p] - m) / S->P;
    *angle = sa / S->P;
    *mean = m;
    *cv = sqrt(var) / m;
    return 1;
}

cl_status cl_mlab_analyze_naive(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                                cl_mlab_result *r)
{
    if (N < 1 || dim < 1 || K < 2 || K > CL_MLAB_MAX_CLASSES)
        return cl_error(CL_EINVAL, "mlab naive: bad sizes");
    CL_TRY(cl_mlab_check_labels(Yk, N, K));
    cl_mlab_result_init(r, N, dim, K);
    for (int64_t i = 0; i < N; i++) {
        int m = 0;
        for (int k = 0; k < K; k++)
            m += Yk[i * K + k];
        r->n_single += m == 1;
        r->n_pair += m == 2;
        r->n_multi += m > 2;
    }
    const size_t D = (size_t)dim, KK = (size_t)K * (K - 1) / 2;
    sets S = {0, dim, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "naive counts");
    double *g = cl_alloc_array(2 * D, sizeof(double), "naive centre");
    S.si = cl_alloc_array(KK, sizeof(int), "naive si");
    S.sj = cl_alloc_array(KK, sizeof(int), "naive sj");
    S.mu = cl_alloc_array((size_t)K * D, sizeof(double), "naive mu");
    S.ms = cl_alloc_array(KK * D, sizeof(double), "naive ms");
    S.u = cl_alloc_array(D, sizeof(double), "naive u");
    S.v = cl_alloc_array(D, sizeof(double), "naive v");
    S.sc = cl_alloc_array(KK, sizeof(double), "naive scales");
    cl_status st = CL_OK;
    if (!cnt || !g || !S.si || !S.sj || !S.mu || !S.ms || !S.u || !S.v || !S.sc) {
        st = CL_ENOMEM;
        goto done;
    }
    for (int k = 0; k < K; k++) {
        cnt[k] = set_mean(H, N, dim, Yk, K, k, -1, S.mu + k * D);
        if (!cnt[k]) continue;
        r->classes++;
        for (int d = 0; d < dim; d++)
            g[d] += S.mu[k * D + d];
    }
    for (int d = 0; d < dim; d++)
        g[d] /= r->classes ? r->classes : 1;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            if (!set_mean(H, N, dim, Yk, K, i, j, S.ms + S.P * D)) continue;
            r->sets_present++;
            if (!cnt[i] || !cnt[j]) continue;
            S.si[S.P] = i;
            S.sj[S.P] = j;
            S.P++;
        }
    r->sets = S.P;
    r->sets_skipped = r->sets_present - S.P;
    keys(&S, g, &r->angle, &r->scale_mean, &r->scale_cv);
    double m, cv; /* g + D: zeros, the uncentred convention */
    if (!keys(&S, g + D, &r->angle_uncentred, &m, &cv)) goto done;
    double den = 0;
    int64_t terms = 0;
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++) {
            if (!cnt[a] || !cnt[b]) continue;
            for (int d = 0; d < dim; d++)
                S.v[d] = S.mu[a * D + d] + S.mu[b * D + d];
            for (int p = 0; p < S.P; p++, terms++)
                den += acos_deg(S.v, S.ms + p * D, dim);
        }
    if (terms >= 1 && terms <= CL_MLAB_RATIO_MAX_TERMS && den > 0)
        r->angle_ratio = r->angle_uncentred / (den / terms);
done:
    cl_free(cnt);
    cl_free(g);
    cl_free(S.si);
    cl_free(S.sj);
    cl_free(S.mu);
    cl_free(S.ms);
    cl_free(S.u);
    cl_free(S.v);
    cl_free(S.sc);
    return st;
}
