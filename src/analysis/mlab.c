/* Multi-label neural collapse keys (Li, Wang, Li & Qu, ICML 2024): one pass
 * over the rows.
 *
 * The two-label rows' sets {i, j} get the id i K + j; the ids are sorted and
 * made unique, so the sums of the sets present take P x dim doubles whatever
 * K is (K^2/2 candidate sets would not fit for large K). A second walk adds
 * every row into its class or set sum (binary search for the set).
 * Angles use 2 atan2(||a^ - b^||, ||a^ + b^||) (a^ = a/||a||), accurate near
 * 0 and 180 degrees where acos of the cosine is not.
 * Conventions and formulas: include/collapse/mlab.h and docs/METRICS.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/mlab.h"

#define ZERO_RTOL 1e-12 /* a vector below this x its parts' norms counts as zero */

/* Number of labels of row r, or -1 if an entry is not 0/1. */
static int row_labels(const uint8_t *row, int K, int *a, int *b)
{
    int m = 0;
    for (int k = 0; k < K; k++) {
        if (row[k] > 1) return -1;
        if (!row[k]) continue;
        if (m == 0) *a = k;
        else if (m == 1) *b = k;
        m++;
    }
    return m;
}

cl_status cl_mlab_check_labels(const uint8_t *Yk, int64_t N, int K)
{
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0, m = row_labels(Yk + i * K, K, &a, &b);
        if (m < 0) {
            int k = 0;
            while (Yk[i * K + k] <= 1)
                k++;
            return cl_error(CL_EINVAL, "mlab: K-hot labels: row %lld has value %d at column %d "
                                       "(need 0 or 1)",
                            (long long)i, (int)Yk[i * K + k], k);
        }
        if (m == 0)
            return cl_error(CL_EINVAL, "mlab: K-hot labels: row %lld has no label", (long long)i);
    }
    return CL_OK;
}

static cl_status check_sizes(int64_t N, int dim, int K)
{
    if (N < 1) return cl_error(CL_EINVAL, "mlab: need at least 1 sample, got %lld", (long long)N);
    if (dim < 1) return cl_error(CL_EINVAL, "mlab: feature dimension %d < 1", dim);
    if (K < 2 || K > CL_MLAB_MAX_CLASSES)
        return cl_error(CL_EINVAL, "mlab: %d classes outside [2, %d]", K, CL_MLAB_MAX_CLASSES);
    return CL_OK;
}

cl_status cl_mlab_single_rows(const uint8_t *Yk, int64_t N, int K, int64_t *idx, int32_t *y,
                              int64_t *n)
{
    *n = 0;
    CL_TRY(cl_mlab_check_labels(Yk, N, K));
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0;
        if (row_labels(Yk + i * K, K, &a, &b) != 1) continue;
        if (idx) idx[*n] = i;
        if (y) y[*n] = a;
        (*n)++;
    }
    return CL_OK;
}

cl_status cl_mlab_single_subset(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                                float **Hs, int32_t **ys, int64_t *n)
{
    *Hs = NULL;
    *ys = NULL;
    CL_TRY(cl_mlab_single_rows(Yk, N, K, NULL, NULL, n));
    if (*n == 0) return CL_OK;
    float *h = cl_alloc_array((size_t)*n * (size_t)dim, sizeof(float), "mlab single features");
    int32_t *y = cl_alloc_array((size_t)*n, sizeof(int32_t), "mlab single labels");
    if (!h || !y) {
        cl_free(h);
        cl_free(y);
        return CL_ENOMEM;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0;
        if (row_labels(Yk + i * K, K, &a, &b) != 1) continue;
        memcpy(h + m * dim, H + i * dim, (size_t)dim * sizeof(float));
        y[m++] = a;
    }
    *Hs = h;
    *ys = y;
    return CL_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The angle between u and v in degrees; NAN if either is zero. */
static double angle_deg(const double *u, const double *v, int dim)
{
    double nu = 0, nv = 0, dm = 0, dp = 0;
    for (int d = 0; d < dim; d++) {
        nu += u[d] * u[d];
        nv += v[d] * v[d];
    }
    if (!(nu > 0 && nv > 0)) return NAN;
    nu = 1.0 / sqrt(nu);
    nv = 1.0 / sqrt(nv);
    for (int d = 0; d < dim; d++) {
        double a = u[d] * nu, b = v[d] * nv;
        dm += (a - b) * (a - b);
        dp += (a + b) * (a + b);
    }
    return 2.0 * atan2(sqrt(dm), sqrt(dp)) * CL_MLAB_DEG;
}

typedef struct {
    int dim, K, P;      /* P measured sets */
    const double *mu;   /* [K, dim] single-label means */
    const int64_t *cnt; /* [K] */
    const int *si, *sj; /* [P] the measured sets' classes */
    const double *ms;   /* [P, dim] their means */
    double *u, *v;      /* [dim] scratch */
} geo;

/* Angle and scale keys of one convention (g = centre, NULL: uncentred). */
static void set_keys(const geo *G, const double *g, double *angle, double *smean, double *scv)
{
    const int dim = G->dim;
    double sa = 0, mean = 0, m2 = 0; /* Welford: mean and sum of squared deviations */
    int bad = 0;
    for (int p = 0; p < G->P; p++) {
        const double *mi = G->mu + (size_t)G->si[p] * dim, *mj = G->mu + (size_t)G->sj[p] * dim;
        const double *mij = G->ms + (size_t)p * dim;
        double nsum = 0, nparts = 0, nij = 0;
        for (int d = 0; d < dim; d++) {
            double c = g ? g[d] : 0.0, a = mi[d] - c, b = mj[d] - c;
            G->u[d] = mij[d] - c;
            G->v[d] = a + b;
            nsum += G->v[d] * G->v[d];
            nparts += a * a + b * b;
            nij += G->u[d] * G->u[d];
        }
        /* Li et al. 2024: mu_ij ~ mu_i + mu_j; scale ||mu_ij|| / ||(mu_i + mu_j)/2|| */
        if (!(nsum > ZERO_RTOL * ZERO_RTOL * nparts && nsum > 0 && nij > 0)) {
            bad = 1;
            break;
        }
        double sc = sqrt(nij) / (0.5 * sqrt(nsum));
        sa += angle_deg(G->u, G->v, dim);
        double dl = sc - mean;
        mean += dl / (p + 1);
        m2 += dl * (sc - mean);
    }
    if (bad || G->P == 0) {
        *angle = *smean = *scv = NAN;
        return;
    }
    *angle = sa / G->P;
    *smean = mean;
    *scv = sqrt(m2 / G->P) / mean;
}

/* The authors' ratio of mean angles (uncentred): numerator angle_u, the
 * denominator over every class pair a < b present and every measured set. */
static double angle_ratio(const geo *G, double angle_u)
{
    const int dim = G->dim;
    int64_t kp = 0;
    for (int k = 0; k < G->K; k++)
        kp += G->cnt[k] > 0;
    const double terms = (double)(kp * (kp - 1) / 2) * G->P;
    if (!isfinite(angle_u) || terms < 1 || terms > CL_MLAB_RATIO_MAX_TERMS) return NAN;
    double den = 0;
    for (int a = 0; a < G->K; a++) {
        if (!G->cnt[a]) continue;
        for (int b = a + 1; b < G->K; b++) {
            if (!G->cnt[b]) continue;
            for (int d = 0; d < dim; d++)
                G->v[d] = G->mu[(size_t)a * dim + d] + G->mu[(size_t)b * dim + d];
            for (int p = 0; p < G->P; p++) {
                double t = angle_deg(G->v, G->ms + (size_t)p * dim, dim);
                if (isnan(t)) return NAN;
                den += t;
            }
        }
    }
    den /= terms;
    return den > 0 ? angle_u / den : NAN;
}

/* Means of the classes and sets, then the keys. ids [np] sorted unique set ids. */
static cl_status finish(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                        const int64_t *ids, int np, cl_mlab_result *r)
{
    const size_t D = (size_t)dim;
    double *mu = cl_alloc_array((size_t)K * D, sizeof(double), "mlab class means");
    double *ms = cl_alloc_array((size_t)(np ? np : 1) * D, sizeof(double), "mlab set means");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "mlab class counts");
    int64_t *scnt = cl_alloc_array((size_t)(np ? np : 1), sizeof(int64_t), "mlab set counts");
    int *si = cl_alloc_array((size_t)(np ? np : 1), sizeof(int), "mlab sets i");
    int *sj = cl_alloc_array((size_t)(np ? np : 1), sizeof(int), "mlab sets j");
    double *g = cl_alloc_array(3 * D, sizeof(double), "mlab scratch");
    cl_status st = CL_OK;
    if (!mu || !ms || !cnt || !scnt || !si || !sj || !g) {
        st = CL_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0, m = row_labels(Yk + i * K, K, &a, &b);
        double *acc;
        if (m == 1) {
            acc = mu + (size_t)a * D;
            cnt[a]++;
        } else if (m == 2) {
            int64_t id = (int64_t)a * K + b;
            const int64_t *hit = bsearch(&id, ids, (size_t)np, sizeof *ids, cmp_i64);
            CL_ASSERT(hit);
            acc = ms + (size_t)(hit - ids) * D;
            scnt[hit - ids]++;
        } else {
            continue;
        }
        const float *h = H + i * dim;
        for (int d = 0; d < dim; d++)
            acc[d] += h[d];
    }
    for (int k = 0; k < K; k++) {
        if (!cnt[k]) continue;
        r->classes++;
        for (size_t d = 0; d < D; d++)
            mu[k * D + d] /= (double)cnt[k];
        for (size_t d = 0; d < D; d++) /* g: the mean of the class means */
            g[d] += mu[k * D + d];
    }
    for (size_t d = 0; d < D && r->classes; d++)
        g[d] /= r->classes;
    int P = 0; /* compact the measured sets in place */
    for (int p = 0; p < np; p++) {
        int a = (int)(ids[p] / K), b = (int)(ids[p] % K);
        if (!cnt[a] || !cnt[b]) continue;
        si[P] = a;
        sj[P] = b;
        for (size_t d = 0; d < D; d++)
            ms[P * D + d] = ms[p * D + d] / (double)scnt[p];
        P++;
    }
    r->sets_present = np;
    r->sets = P;
    r->sets_skipped = np - P;
    geo G = {dim, K, P, mu, cnt, si, sj, ms, g + D, g + 2 * D};
    set_keys(&G, g, &r->angle, &r->scale_mean, &r->scale_cv);
    double su, sc;
    set_keys(&G, NULL, &r->angle_uncentred, &su, &sc);
    r->angle_ratio = angle_ratio(&G, r->angle_uncentred);
done:
    cl_free(mu);
    cl_free(ms);
    cl_free(cnt);
    cl_free(scnt);
    cl_free(si);
    cl_free(sj);
    cl_free(g);
    return st;
}

void cl_mlab_result_init(cl_mlab_result *r, int64_t N, int dim, int K)
{
    memset(r, 0, sizeof *r);
    r->N = N;
    r->dim = dim;
    r->K = K;
    r->angle = r->scale_mean = r->scale_cv = r->angle_uncentred = r->angle_ratio = NAN;
}

cl_status cl_mlab_analyze(const float *H, int64_t N, int dim, const uint8_t *Yk, int K,
                          cl_mlab_result *r)
{
    CL_TRY(check_sizes(N, dim, K));
    CL_TRY(cl_mlab_check_labels(Yk, N, K));
    for (int64_t i = 0; i < N * dim; i++)
        if (!isfinite(H[i]))
            return cl_error(CL_ENUMERIC, "mlab: non-finite feature at row %lld",
                            (long long)(i / dim));
    cl_mlab_result_init(r, N, dim, K);
    int64_t np = 0;
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0, m = row_labels(Yk + i * K, K, &a, &b);
        r->n_single += m == 1;
        r->n_pair += m == 2;
        r->n_multi += m > 2;
    }
    int64_t *ids = cl_alloc_array((size_t)(r->n_pair ? r->n_pair : 1), sizeof(int64_t),
                                  "mlab set ids");
    if (!ids) return CL_ENOMEM;
    for (int64_t i = 0; i < N; i++) {
        int a = 0, b = 0;
        if (row_labels(Yk + i * K, K, &a, &b) == 2) ids[np++] = (int64_t)a * K + b;
    }
    qsort(ids, (size_t)np, sizeof *ids, cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < np; i++)
        if (u == 0 || ids[i] != ids[u - 1]) ids[u++] = ids[i];
    cl_status st = finish(H, N, dim, Yk, K, ids, (int)u, r);
    cl_free(ids);
    return st;
}

/* ---- keys: names and descriptions (collapse analyze, metrics.csv) ---- */

static const struct {
    const char *name, *desc;
} keys[] = {
    {"mlab_sets", "two-label sets measured (both single-label means present)"},
    {"mlab_classes", "single-label classes present"},
    {"mlab_angle", "mean angle(mu_ij, mu_i + mu_j), deg, centred (Li et al. 2024)"},
    {"mlab_scale_mean", "mean of |mu_ij| / |(mu_i + mu_j)/2|, centred"},
    {"mlab_scale_cv", "coefficient of variation of that ratio over the sets"},
    {"mlab_angle_uncentred", "mean angle(mu_ij, mu_i + mu_j), deg, uncentred means"},
    {"mlab_angle_ratio", "authors' ratio: that angle / mean angle to all other sums"},
};

int cl_mlab_key_count(void)
{
    return (int)(sizeof keys / sizeof keys[0]);
}

const char *cl_mlab_key_name(int i)
{
    CL_ASSERT(i >= 0 && i < cl_mlab_key_count());
    return keys[i].name;
}

const char *cl_mlab_key_desc(int i)
{
    CL_ASSERT(i >= 0 && i < cl_mlab_key_count());
    return keys[i].desc;
}

double cl_mlab_key_value(const cl_mlab_result *r, int i)
{
    CL_ASSERT(i >= 0 && i < cl_mlab_key_count());
    switch (i) {
    case 0: return r->sets;
    case 1: return r->classes;
    case 2: return r->angle;
    case 3: return r->scale_mean;
    case 4: return r->scale_cv;
    case 5: return r->angle_uncentred;
    default: return r->angle_ratio;
    }
}
