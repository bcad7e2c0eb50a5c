/* CDNV and few-shot nearest-class-centre accuracy (transfer.h), after
 * Galanti, Gyorgy & Hutter, "On the role of neural collapse in transfer
 * learning", ICLR 2022. The NCC rule and the class sums are the held-out
 * NCC's (ncc.c, nc.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/rng.h"
#include "collapse/transfer.h"

static cl_status check_input(const char *what, int64_t N, int dim, const int32_t *y, int K)
{
    if (N < 1 || dim < 1 || K < 2)
        return cl_error(CL_EINVAL, "%s: need samples, dim >= 1 and K >= 2 (N = %lld, dim = "
                                   "%d, K = %d)",
                        what, (long long)N, dim, K);
    char who[64];
    snprintf(who, sizeof who, "%s:", what);
    return cl_nc_labels_in_range(y, N, K, who);
}

/* Per-class counts into cnt[K]; CL_EINVAL naming the first empty class. */
static cl_status class_counts(const char *what, const int32_t *y, int64_t N, int K,
                              int64_t *cnt)
{
    memset(cnt, 0, sizeof(int64_t) * (size_t)K);
    for (int64_t i = 0; i < N; i++) cnt[y[i]]++;
    for (int c = 0; c < K; c++)
        if (!cnt[c]) return cl_error(CL_EINVAL, "%s: class %d has no sample", what, c);
    return CL_OK;
}

/* V(i, j) of Galanti et al. 2022 eq. 1 from the variances and the squared
 * distance of the means; folded into the running mean and max. */
static void cdnv_pair(double vi, double vj, double d2, double *sum, double *max)
{
    double v = (vi + vj) / (2 * d2);
    *sum += v;
    if (v > *max || isnan(v)) *max = v;
}

cl_status cl_cdnv(const float *H, int64_t N, int dim, const int32_t *y, int K, double *mean,
                  double *max)
{
    *mean = *max = NAN;
    CL_TRY(check_input("cdnv", N, dim, y, K));
    double *mu = cl_alloc_array((size_t)K * ((size_t)dim + 2), sizeof(double), "cdnv means");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "cdnv counts");
    cl_status st = CL_OK;
    if (!mu || !cnt) {
        st = CL_ENOMEM;
        goto done;
    }
    if ((st = class_counts("cdnv", y, N, K, cnt)) != CL_OK) goto done;
    double *var = mu + (size_t)K * (size_t)dim, *mu2 = var + K;
    cl_nc_class_sums_add(mu, H, N, dim, y);
    cl_nc_class_means(mu, mu2, cnt, K, dim);
    for (int64_t i = 0; i < N; i++) { /* second pass: Var_c, numerically safe */
        const double *m = mu + (int64_t)y[i] * dim;
        const float *h = H + i * dim;
        double s = 0;
        for (int d = 0; d < dim; d++) s += (h[d] - m[d]) * (h[d] - m[d]);
        var[y[i]] += s;
    }
    for (int c = 0; c < K; c++) var[c] /= (double)cnt[c];
    double sum = 0, mx = -INFINITY;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            const double *a = mu + (int64_t)i * dim, *b = mu + (int64_t)j * dim;
            double d2 = 0;
            for (int d = 0; d < dim; d++) d2 += (a[d] - b[d]) * (a[d] - b[d]);
            cdnv_pair(var[i], var[j], d2, &sum, &mx);
        }
    for (int64_t k = 0; k < (int64_t)K * (dim + 1); k++)
        if (!isfinite(mu[k])) { /* means [K, dim] then Var [K] */
            st = cl_error(CL_ENUMERIC, "cdnv: features are not finite");
            goto done;
        }
    *mean = sum / ((double)K * (K - 1) / 2);
    *max = mx;
done:
    cl_free(mu);
    cl_free(cnt);
    return st;
}

/* The mean of class c's features into m [dim] and its variance (Var_c). */
static void naive_class(const float *H, int64_t N, int dim, const int32_t *y, int c, double *m,
                        double *var)
{
    int64_t n = 0;
    memset(m, 0, sizeof(double) * (size_t)dim);
    for (int64_t i = 0; i < N; i++)
        if (y[i] == c) {
            n++;
            for (int d = 0; d < dim; d++) m[d] += H[i * dim + d];
        }
    for (int d = 0; d < dim; d++) m[d] /= (double)n;
    *var = 0;
    for (int64_t i = 0; i < N; i++)
        if (y[i] == c)
            for (int d = 0; d < dim; d++)
                *var += (H[i * dim + d] - m[d]) * (H[i * dim + d] - m[d]) / (double)n;
}

cl_status cl_cdnv_naive(const float *H, int64_t N, int dim, const int32_t *y, int K,
                        double *mean, double *max)
{
    *mean = *max = NAN;
    CL_TRY(check_input("cdnv", N, dim, y, K));
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "cdnv counts");
    double *mi = cl_alloc_array(2 * (size_t)dim, sizeof(double), "cdnv means");
    cl_status st = !cnt || !mi ? CL_ENOMEM : class_counts("cdnv", y, N, K, cnt);
    double sum = 0, mx = -INFINITY;
    for (int i = 0; st == CL_OK && i < K; i++)
        for (int j = i + 1; j < K; j++) {
            double vi, vj, d2 = 0;
            naive_class(H, N, dim, y, i, mi, &vi);
            naive_class(H, N, dim, y, j, mi + dim, &vj);
            for (int d = 0; d < dim; d++) d2 += (mi[d] - mi[dim + d]) * (mi[d] - mi[dim + d]);
            cdnv_pair(vi, vj, d2, &sum, &mx);
        }
    if (st == CL_OK) {
        *mean = sum / ((double)K * (K - 1) / 2);
        *max = mx;
    }
    cl_free(cnt);
    cl_free(mi);
    return st;
}

/* One episode's draws: `shots` distinct support samples per class (a
 * partial Fisher-Yates over each class's index list, members[off[c] ..
 * off[c+1]), which it permutes) into idx [K, shots]. */
static void draw(int32_t *members, const int64_t *off, int K, int shots, cl_rng *rng,
                 int32_t *idx)
{
    for (int c = 0; c < K; c++) {
        int32_t *m = members + off[c];
        int64_t n = off[c + 1] - off[c];
        for (int s = 0; s < shots; s++) {
            int64_t r = s + (int64_t)cl_rng_below(rng, (uint64_t)(n - s));
            int32_t t = m[s];
            m[s] = m[r];
            m[r] = t;
            idx[c * shots + s] = m[s];
        }
    }
}

/* The accuracy of one episode: the centres are the means of the support
 * rows idx [K, shots] (summed in draw order), the queries by nearest centre
 * (mu [K, dim], mu2 [K] scratch). */
static double episode(const float *Hs, const int32_t *idx, const float *Hq, int64_t nq,
                      const int32_t *yq, int dim, int K, int shots, double *mu, double *mu2)
{
    int64_t cnt[1] = {shots};
    memset(mu, 0, sizeof(double) * (size_t)K * (size_t)dim);
    for (int c = 0; c < K; c++) {
        double *centre = mu + (int64_t)c * dim;
        for (int s = 0; s < shots; s++) {
            const float *h = Hs + (int64_t)idx[c * shots + s] * dim;
            for (int d = 0; d < dim; d++) centre[d] += h[d];
        }
        cl_nc_class_means(centre, mu2 + c, cnt, 1, dim);
    }
    return (double)cl_nc_ncc_correct(Hq, nq, dim, yq, mu, mu2, K) / (double)nq;
}

/* The support samples by class: byclass[off[c] .. off[c+1]) are class c's
 * indices in source order (off [K+1], byclass [ns], both cl_alloc'ed).
 * CL_EINVAL when a class has fewer than `shots`. */
static cl_status by_class(const int32_t *ys, int64_t ns, int K, int shots, int64_t **off_out,
                          int32_t **byclass_out)
{
    *off_out = NULL;
    *byclass_out = NULL;
    if (ns > INT32_MAX) return cl_error(CL_EINVAL, "few-shot NCC: too many support samples");
    int64_t *off = cl_alloc_array(2 * (size_t)K + 1, sizeof(int64_t), "few-shot offsets");
    int32_t *byclass = cl_alloc_array((size_t)ns, sizeof(int32_t), "few-shot members");
    if (!off || !byclass) {
        cl_free(off);
        cl_free(byclass);
        return CL_ENOMEM;
    }
    int64_t *fill = off + K + 1;
    for (int64_t i = 0; i < ns; i++) off[ys[i] + 1]++;
    for (int c = 0; c < K; c++) {
        if (off[c + 1] < shots) {
            cl_status st = cl_error(CL_EINVAL, "few-shot NCC: class %d has %lld support "
                                               "samples, fewer than %d shots",
                                    c, (long long)off[c + 1], shots);
            cl_free(off);
            cl_free(byclass);
            return st;
        }
        off[c + 1] += off[c];
        fill[c] = off[c];
    }
    for (int64_t i = 0; i < ns; i++) byclass[fill[ys[i]]++] = (int32_t)i;
    *off_out = off;
    *byclass_out = byclass;
    return CL_OK;
}

/* The draws of cl_fewshot_ncc (idx [episodes, K, shots]) or, with Hs set,
 * also each episode's accuracy into a [episodes]. */
static cl_status episodes_run(const float *Hs, int64_t ns, const int32_t *ys, const float *Hq,
                              int64_t nq, const int32_t *yq, int dim, int K, int shots,
                              int episodes, uint64_t seed, int32_t *idx_all, double *a)
{
    int64_t *off;
    int32_t *byclass;
    CL_TRY(by_class(ys, ns, K, shots, &off, &byclass));
    int32_t *work = cl_alloc_array((size_t)ns, sizeof(int32_t), "few-shot members");
    int32_t *idx = cl_alloc_array((size_t)K * (size_t)shots, sizeof(int32_t), "few-shot draws");
    double *mu = Hs ? cl_alloc_array((size_t)K * ((size_t)dim + 1), sizeof(double), "centres")
                    : NULL;
    cl_status st = !work || !idx || (Hs && !mu) ? CL_ENOMEM : CL_OK;
    cl_rng root;
    cl_rng_seed(&root, seed);
    for (int e = 0; st == CL_OK && e < episodes; e++) {
        /* each episode starts from the source order, so its draws depend
         * only on the seed and its number */
        memcpy(work, byclass, sizeof(int32_t) * (size_t)ns);
        cl_rng r = cl_rng_split(&root);
        draw(work, off, K, shots, &r, idx);
        if (idx_all)
            memcpy(idx_all + (int64_t)e * K * shots, idx, sizeof(int32_t) * (size_t)K * shots);
        if (Hs)
            a[e] = episode(Hs, idx, Hq, nq, yq, dim, K, shots, mu,
                           mu + (size_t)K * (size_t)dim);
    }
    cl_free(off);
    cl_free(byclass);
    cl_free(work);
    cl_free(idx);
    cl_free(mu);
    return st;
}

cl_status cl_fewshot_ncc(const float *Hs, int64_t ns, const int32_t *ys, const float *Hq,
                         int64_t nq, const int32_t *yq, int dim, int K, int shots,
                         int episodes, uint64_t seed, double *mean, double *ci95,
                         double *acc)
{
    *mean = *ci95 = NAN;
    if (shots < 1 || episodes < 1)
        return cl_error(CL_EINVAL, "few-shot NCC: need shots >= 1 and episodes >= 1");
    CL_TRY(check_input("few-shot NCC support", ns, dim, ys, K));
    CL_TRY(check_input("few-shot NCC queries", nq, dim, yq, K));
    double *a = cl_alloc_array((size_t)episodes, sizeof(double), "few-shot accuracies");
    if (!a) return CL_ENOMEM;
    cl_status st = episodes_run(Hs, ns, ys, Hq, nq, yq, dim, K, shots, episodes, seed, NULL, a);
    if (st == CL_OK) {
        double s = 0, s2 = 0;
        for (int e = 0; e < episodes; e++) s += a[e];
        *mean = s / episodes;
        for (int e = 0; e < episodes; e++) s2 += (a[e] - *mean) * (a[e] - *mean);
        *ci95 = episodes > 1 ? 1.96 * sqrt(s2 / (episodes - 1)) / sqrt((double)episodes) : 0;
        if (acc) memcpy(acc, a, sizeof(double) * (size_t)episodes);
    }
    cl_free(a);
    return st;
}

cl_status cl_fewshot_draws(const int32_t *ys, int64_t ns, int K, int shots, int episodes,
                           uint64_t seed, int32_t *idx)
{
    if (shots < 1 || episodes < 1)
        return cl_error(CL_EINVAL, "few-shot NCC: need shots >= 1 and episodes >= 1");
    CL_TRY(check_input("few-shot NCC support", ns, 1, ys, K));
    return episodes_run(NULL, ns, ys, NULL, 0, NULL, 1, K, shots, episodes, seed, idx, NULL);
}

cl_status cl_ncc_episode(const float *Hs, int64_t ns, const int32_t *idx, const float *Hq,
                         int64_t nq, const int32_t *yq, int dim, int K, int shots, double *acc)
{
    *acc = NAN;
    if (shots < 1) return cl_error(CL_EINVAL, "NCC episode: need shots >= 1");
    CL_TRY(check_input("NCC episode queries", nq, dim, yq, K));
    for (int64_t i = 0; i < (int64_t)K * shots; i++)
        if (idx[i] < 0 || idx[i] >= ns)
            return cl_error(CL_EINVAL, "NCC episode: support index %d not in [0, %lld)",
                            (int)idx[i], (long long)ns);
    double *mu = cl_alloc_array((size_t)K * ((size_t)dim + 1), sizeof(double), "centres");
    if (!mu) return CL_ENOMEM;
    *acc = episode(Hs, idx, Hq, nq, yq, dim, K, shots, mu, mu + (size_t)K * (size_t)dim);
    cl_free(mu);
    return CL_OK;
}
