/* The study's multi-label part (train->yk; Li, Wang, Li & Qu, ICML 2024).
 * The NC keys of multi-label data are those of its single-label samples:
 * the study runs its usual pipeline on views holding only those rows (x and
 * y copied once at create). On every sample of a split, one more eval sweep
 * caches the classifier input [N, dim] for cl_mlab_analyze (mlab.h) and,
 * when the trainer did not evaluate, scores the logits: PAL loss, exact-set
 * accuracy of the top-m rule and macro-F1 (train.h, cl_khot_acc). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "study_internal.h"

/* The single-label rows of ds into view v (x, y owned through sx, sy). */
static cl_status single_view(const cl_train_data *ds, cl_train_data *v, float **sx,
                             int32_t **sy)
{
    const int64_t dim = cl_shape_size(ds->shape);
    int64_t n = 0;
    int64_t *idx = cl_alloc_array((size_t)ds->n, sizeof(int64_t), "single-label rows");
    if (!idx) return CL_ENOMEM;
    cl_status st = cl_mlab_single_rows(ds->yk, ds->n, ds->classes, idx, NULL, &n);
    if (st == CL_OK && n < 1)
        st = cl_error(CL_EINVAL, "study: multi-label data without single-label samples (the NC "
                                 "keys are measured on them)");
    if (st == CL_OK) {
        *sx = cl_alloc_array((size_t)n * (size_t)dim, sizeof(float), "single-label inputs");
        *sy = cl_alloc_array((size_t)n, sizeof(int32_t), "single-label labels");
        if (!*sx || !*sy) st = CL_ENOMEM;
    }
    for (int64_t i = 0; st == CL_OK && i < n; i++) {
        memcpy(*sx + i * dim, ds->x + idx[i] * dim, sizeof(float) * (size_t)dim);
        (*sy)[i] = ds->y[idx[i]];
    }
    cl_free(idx);
    if (st != CL_OK) return st;
    memset(v, 0, sizeof *v);
    v->n = n;
    v->shape = ds->shape;
    v->classes = ds->classes;
    v->x = *sx;
    v->y = *sy;
    return CL_OK;
}

cl_status cl_study_mlab_init(cl_study *s)
{
    s->mlab = 1;
    const cl_train_data *ds[2] = {s->train, s->test};
    for (int k = 0; k < 2; k++) {
        if (!ds[k] || !ds[k]->yk) continue;
        s->full[k] = ds[k];
        CL_TRY(single_view(ds[k], &s->sview[k], &s->sx[k], &s->sy[k]));
    }
    if (s->full[0]) s->train = &s->sview[0];
    if (s->full[1]) s->test = &s->sview[1];
    for (int k = 0; k < 2; k++) {
        cl_mlab_result_init(&s->mres[k], 0, 0, s->K);
        s->mf1[k] = NAN;
    }
    return CL_OK;
}

void cl_study_mlab_free(cl_study *s)
{
    for (int k = 0; k < 2; k++) {
        cl_free(s->sx[k]);
        cl_free(s->sy[k]);
        s->sx[k] = NULL;
        s->sy[k] = NULL;
    }
}

typedef struct {
    const cl_train_data *ds;
    const cl_study_tap *tap;
    float *cache;            /* [N, dim] */
    const cl_loss_cfg *loss; /* NULL: no scoring */
    cl_khot_acc acc;
} mlab_sweep;

static cl_status sweep_batch(void *user, const cl_model *m, const cl_batch *b)
{
    mlab_sweep *sw = user;
    const int64_t dim = sw->tap->dim;
    const float *h = sw->tap->layer < 0 ? b->x : m->acts[sw->tap->layer];
    for (int i = 0; i < b->n; i++) {
        int64_t row = b->idx ? b->idx[i] : b->first + i;
        memcpy(sw->cache + row * dim, h + i * dim, sizeof(float) * (size_t)dim);
    }
    if (!sw->loss) return CL_OK;
    CL_ASSERT(!b->idx); /* scoring in eval-mode BN only: batches in order */
    return cl_khot_acc_add(&sw->acc, sw->loss, m->acts[m->nlayers - 1],
                           sw->ds->yk + b->first * sw->acc.K, b->n);
}

/* One split k: the mlab keys into s->mres[k]; with loss, the PAL loss,
 * exact-set accuracy and macro-F1 into v[0..2]. */
static cl_status split(cl_study *s, cl_model *m, int k, int epoch, const cl_loss_cfg *loss,
                       double *v)
{
    const cl_train_data *ds = s->full[k];
    const cl_study_tap *tap = &s->taps[s->ntaps - 1];
    mlab_sweep *sw = cl_alloc(sizeof *sw, "multi-label sweep");
    if (!sw) return CL_ENOMEM;
    memset(sw, 0, sizeof *sw);
    sw->ds = ds;
    sw->tap = tap;
    sw->loss = loss;
    sw->acc.K = s->K;
    cl_status st = CL_OK;
    sw->cache = cl_alloc_array((size_t)ds->n * (size_t)tap->dim, sizeof(float),
                               "multi-label feature cache");
    if (!sw->cache) st = CL_ENOMEM;
    if (st == CL_OK)
        st = cl_train_forward_each_taps(m, ds, s->o.bn_train, &tap->layer, 1, sweep_batch, sw);
    if (st == CL_OK) {
        st = cl_mlab_analyze(sw->cache, ds->n, tap->dim, ds->yk, s->K, &s->mres[k]);
        if (st != CL_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cl_errmsg());
            st = cl_error(st, "epoch %d, layer '%s' (multi-label keys): %s", epoch, tap->name,
                          msg);
        }
    }
    if (st == CL_OK && loss) {
        cl_khot_eval e;
        cl_khot_acc_end(&sw->acc, &e);
        v[0] = e.loss;
        v[1] = e.acc;
        v[2] = e.macro_f1;
    }
    cl_free(sw->cache);
    cl_free(sw);
    return st;
}

cl_status cl_study_mlab_epoch(cl_study *s, cl_model *m, const cl_epoch_info *info,
                              double *lead)
{
    const double f1[2] = {info->train_f1, info->test_f1};
    for (int k = 0; k < 2; k++) {
        cl_mlab_result_init(&s->mres[k], 0, 0, s->K);
        s->mf1[k] = NAN;
        if (!s->full[k]) continue;
        /* the trainer skipped its eval passes: score the sweep's logits
         * (eval-mode BN only, as the single-label study) */
        int score = isnan(lead[1 + 2 * k]) && !s->o.bn_train && info->cfg;
        double v[3] = {NAN, NAN, NAN};
        CL_TRY(split(s, m, k, info->epoch, score ? &info->cfg->loss : NULL, v));
        if (score) {
            lead[1 + 2 * k] = v[0];
            lead[2 + 2 * k] = v[1];
        }
        s->mf1[k] = score ? v[2] : f1[k];
    }
    return CL_OK;
}

cl_status cl_study_mlab_eval(cl_study *s, cl_model *m, const cl_loss_cfg *loss, int train,
                             int test, cl_epoch_info *info)
{
    cl_khot_eval e;
    if (train && s->full[0]) {
        CL_TRY(cl_train_evaluate_khot(m, s->full[0], loss, &e));
        info->train_loss = e.loss;
        info->train_acc = e.acc;
        info->train_f1 = e.macro_f1;
    }
    if (test && s->full[1]) {
        CL_TRY(cl_train_evaluate_khot(m, s->full[1], loss, &e));
        info->test_loss = e.loss;
        info->test_acc = e.acc;
        info->test_f1 = e.macro_f1;
    }
    return CL_OK;
}

void cl_study_mlab_header(char *h, size_t cap)
{
    for (int k = 0; k < 2; k++) {
        size_t l = strlen(h);
        snprintf(h + l, cap - l, ",%s", k ? "test_f1" : "train_f1");
        for (int i = 0; i < cl_mlab_key_count(); i++) {
            l = strlen(h);
            snprintf(h + l, cap - l, ",%s%s", k ? "test_" : "", cl_mlab_key_name(i));
        }
    }
}

void cl_study_mlab_row(const cl_study *s, char *row, size_t cap)
{
    for (int k = 0; k < 2; k++) {
        cl_csv_put(row, cap, s->mf1[k], 0);
        for (int i = 0; i < cl_mlab_key_count(); i++)
            cl_csv_put(row, cap, s->full[k] ? cl_mlab_key_value(&s->mres[k], i) : NAN, 0);
    }
}
