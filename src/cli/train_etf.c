/* Which classes a fixed ETF classifier can predict from nonnegative features
 * (model/etf_reach.c), at the start of a run and while it trains.
 *
 * Two ways to lose a class after a ReLU, both seen in results/etf_fashion
 * (issue 14; docs/training.md, "Classifier heads"):
 * - geometry: a rotated simplex ETF with d = K (Yang et al. 2022's
 *   construction) can leave a class whose side of the classifier holds no
 *   nonnegative vector (seed 1, K = d = 10: class 1); Zhu et al. 2021's
 *   zero-padded ETF reaches every class;
 * - dead units: a feature unit that is zero on every training sample gets no
 *   gradient and stays zero; the classes are then reachable only through the
 *   live units. With the padded ETF and d = K, class k reads unit k alone, so
 *   a dead unit k loses class k (seed 2: units 2, 6, 8 dead by epoch 55).
 * Both are the same test: the nonnegative margin of each class through the
 * classifier's columns of the live units. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/etf.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "train_opts.h"

typedef struct {
    int layer, dim;
    float *mx;
} fmax_acc;

static cl_status fmax_batch(void *user, const cl_model *m, const cl_batch *b)
{
    fmax_acc *a = user;
    const float *h = m->acts[a->layer];
    for (int i = 0; i < b->n; i++)
        for (int d = 0; d < a->dim; d++)
            a->mx[d] = fmaxf(a->mx[d], h[(int64_t)i * a->dim + d]);
    return CL_OK;
}

int cl_cli_feature_dim(const cl_model *m)
{
    const int ci = cl_model_classifier_index(m);
    return ci < 1 ? 0 : (int)cl_shape_size(m->layers[ci - 1].out);
}

cl_status cl_cli_feature_max(cl_model *m, const cl_train_data *ds, float *mx)
{
    fmax_acc a = {cl_model_classifier_index(m) - 1, cl_cli_feature_dim(m), mx};
    if (a.layer < 0)
        return cl_error(CL_EINVAL, "the model has no layer before its classifier");
    for (int d = 0; d < a.dim; d++)
        mx[d] = -INFINITY;
    return cl_train_forward_each_taps(m, ds, 0, &a.layer, 1, fmax_batch, &a);
}

int cl_cli_classes_lost(const cl_model *m, const float *mx, int *lost, double *min_margin,
                        int *argmin)
{
    const int ci = cl_model_classifier_index(m);
    const cl_layer *l = &m->layers[ci];
    const int K = l->spec.out, dim = cl_cli_feature_dim(m);
    *min_margin = INFINITY;
    *argmin = 0;
    if (K < 2 || ci != m->nlayers - 1) return 0; /* a CLM latent: no argmax over rows */
    const float *W = m->params + l->param_off;
    int live = 0;
    for (int d = 0; d < dim; d++)
        live += !mx || mx[d] > 0;
    float *Wl = cl_alloc_array((size_t)K * (size_t)(live ? live : 1), sizeof(float),
                               "classifier columns");
    if (!Wl) return -1;
    for (int k = 0; k < K; k++) {
        /* a cosine classifier compares h with the unit rows w_k / |w_k| */
        double nn = 0;
        for (int d = 0; d < dim; d++)
            nn += (double)W[(int64_t)k * dim + d] * W[(int64_t)k * dim + d];
        const double sc = l->spec.kind == CL_LAYER_COSINE && nn > 0 ? 1 / sqrt(nn) : 1;
        for (int d = 0, c = 0; d < dim; d++)
            if (!mx || mx[d] > 0)
                Wl[(int64_t)k * live + c++] = (float)(sc * W[(int64_t)k * dim + d]);
    }
    /* about 2e9 flops at most: K classes x iterations x 2 (K-1) live */
    const double cap = 2e9 / (2.0 * K * (K - 1) * (live ? live : 1));
    const int iters = cap > 20000 ? 20000 : cap < 200 ? 200 : (int)cap;
    int n = 0;
    for (int k = 0; k < K; k++) {
        cl_etf_margin r = {0, 0, 0, 1};
        if (live && cl_etf_nonneg_margin(Wl, K, live, k, iters, 1e-3, &r) != CL_OK) {
            n = -1;
            break;
        }
        if (r.lo < *min_margin) {
            *min_margin = r.lo;
            *argmin = k;
        }
        if (r.lo == 0 && r.hi <= 1e-3) lost[n++] = k; /* hi == 0: certified */
    }
    cl_free(Wl);
    return n;
}

void cl_cli_int_list(char *buf, size_t cap, const int *v, int n, int total)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? ", " : "", v[i]);
    if (total > n && len < cap) snprintf(buf + len, cap - len, ", ...");
}

int cl_cli_dead_units(const float *mx, int dim, int *first, int cap)
{
    int n = 0;
    for (int d = 0; d < dim; d++)
        if (!(mx[d] > 0)) {
            if (n < cap) first[n] = d;
            n++;
        }
    return n;
}

void cl_cli_train_etf_report(const cl_model *m, int etf_mode)
{
    if (cl_model_classifier_index(m) < 0 || !cl_model_features_nonneg(m)) return;
    int lost[CL_DATA_MAX_CLASSES], argmin;
    double mn;
    int n = cl_cli_classes_lost(m, NULL, lost, &mn, &argmin);
    if (n < 0) return;
    const int K = m->layers[cl_model_classifier_index(m)].spec.out;
    char list[256];
    cl_cli_int_list(list, sizeof list, lost, n, n);
    if (n)
        printf("warning: fixed ETF (%s) and nonnegative (ReLU) features: class%s %s can "
               "never be predicted: no nonnegative feature is on %s side of the "
               "classifier; --etf-mode pad reaches every class (Zhu et al. 2021)\n",
               cl_etf_mode_name((cl_etf_mode)etf_mode), n > 1 ? "es" : "", list,
               n > 1 ? "their" : "its");
    else
        printf(
            "fixed ETF and nonnegative (ReLU) features: every class reachable, smallest "
            "nonnegative margin %.3f (class %d; a free feature gets %.3f)\n",
            mn, argmin, (double)K / (K - 1));
}

int cl_cli_train_etf_watch_init(cl_cli_etf_watch *w, cl_model *m, const cl_dataset *train,
                                int epochs)
{
    memset(w, 0, sizeof *w);
    if (cl_model_classifier_index(m) < 0 || !cl_model_features_nonneg(m)) return 0;
    w->mx =
        cl_alloc_array((size_t)cl_cli_feature_dim(m), sizeof(float), "feature maxima");
    if (!w->mx) return -1;
    w->m = m;
    cl_data_view(train, NULL, &w->train); /* without augmentation */
    w->epochs = epochs;
    double mn;
    int argmin;
    /* the classes lost by geometry alone (the header's line): not news */
    w->nlost = cl_cli_classes_lost(m, NULL, w->lost, &mn, &argmin);
    return w->nlost < 0 ? -1 : 1;
}

void cl_cli_train_etf_watch_free(cl_cli_etf_watch *w)
{
    cl_free(w->mx);
}

cl_status cl_cli_train_etf_epoch(const cl_epoch_info *info, void *user)
{
    cl_cli_etf_watch *w = user;
    const int e = info->epoch;
    if (!w->m || !(e == w->epochs || (e & (e - 1)) == 0 || e % 50 == 0)) return CL_OK;
    CL_TRY(cl_cli_feature_max(w->m, &w->train, w->mx));
    const int dim = cl_cli_feature_dim(w->m);
    int dead[12], lost[CL_DATA_MAX_CLASSES], argmin;
    const int ndead = cl_cli_dead_units(w->mx, dim, dead, 12);
    double mn;
    const int n = cl_cli_classes_lost(w->m, w->mx, lost, &mn, &argmin);
    if (n < 0) return CL_ENOMEM; /* cl_alloc_array set the message */
    const int changed = n != w->nlost || memcmp(lost, w->lost, sizeof(int) * (size_t)n);
    if (!changed && (w->noted || !ndead)) return CL_OK; /* nothing new */
    char dl[256], cl[256];
    cl_cli_int_list(dl, sizeof dl, dead, ndead < 12 ? ndead : 12, ndead);
    cl_cli_int_list(cl, sizeof cl, lost, n, n);
    const int many = ndead > 1;
    if (n && ndead)
        printf("warning: epoch %d: feature unit%s %s (%d of %d) %s zero on every training "
               "sample (dead ReLU%s, no gradient): while %s so, the fixed ETF cannot "
               "predict class%s %s\n",
               e, many ? "s" : "", dl, ndead, dim, many ? "are" : "is", many ? "s" : "",
               many ? "they stay" : "it stays", n > 1 ? "es" : "", cl);
    else if (n)
        printf("epoch %d: no feature unit is zero on every training sample any more; the "
               "fixed ETF still cannot predict class%s %s (geometry)\n",
               e, n > 1 ? "es" : "", cl);
    else if (w->nlost)
        printf("epoch %d: every class reachable again (%d of %d feature units zero on "
               "every training sample)\n",
               e, ndead, dim);
    else
        printf("epoch %d: feature unit%s %s (%d of %d) %s zero on every training sample; "
               "every class still reachable (smallest nonnegative margin %.3f, class %d)\n",
               e, many ? "s" : "", dl, ndead, dim, many ? "are" : "is", mn, argmin);
    w->noted = 1;
    w->nlost = n;
    memcpy(w->lost, lost, sizeof(int) * (size_t)n);
    fflush(stdout);
    return CL_OK;
}
