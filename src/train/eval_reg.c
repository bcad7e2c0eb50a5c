/* Regression evaluation (cl_train_evaluate_reg): the regression loss, MSE
 * and R^2 per target over a whole dataset, eval mode, sums in double. */
#include <math.h>
#include <string.h>

#include "collapse/train.h"
#include "internal.h"

typedef struct {
    int k;
    double loss_sum, sse[CL_TRAIN_MAX_TARGETS], s1[CL_TRAIN_MAX_TARGETS],
        s2[CL_TRAIN_MAX_TARGETS];
    int64_t n;
    const float *t;
} eval_reg;

static cl_status eval_batch_reg(void *user, const cl_model *m, const cl_batch *b)
{
    eval_reg *a = user;
    float tb[CL_TRAIN_MAX_TARGETS];
    const float *pred = m->acts[m->nlayers - 1];
    for (int i = 0; i < b->n; i++) {
        int64_t s = b->idx ? b->idx[i] : b->first + i;
        double l;
        memcpy(tb, a->t + s * a->k, sizeof(float) * (size_t)a->k);
        CL_TRY(cl_loss_regress(pred + (int64_t)i * a->k, tb, 1, a->k, &l, NULL, a->sse));
        a->loss_sum += l;
        for (int j = 0; j < a->k; j++) {
            a->s1[j] += tb[j];
            a->s2[j] += (double)tb[j] * tb[j];
        }
    }
    a->n += b->n;
    return CL_OK;
}

cl_status cl_train_evaluate_reg(cl_model *m, const cl_train_data *ds, const float *t,
                                double *mean_loss, double *r2_mean, double *mse, double *r2)
{
    int k = cl_train_model_width(m);
    if (!t || k > CL_TRAIN_MAX_TARGETS)
        return cl_error(CL_EINVAL, "regression: %s (the model outputs %d, at most %d)",
                        t ? "too many outputs" : "no targets", k, CL_TRAIN_MAX_TARGETS);
    eval_reg a;
    memset(&a, 0, sizeof a);
    a.k = k;
    a.t = t;
    CL_TRY(cl_train_forward_each_taps(m, ds, 0, NULL, 0, eval_batch_reg, &a)); /* the outputs only */
    *mean_loss = a.loss_sum / (double)a.n;
    *r2_mean = 0;
    for (int j = 0; j < k; j++) {
        double sst = a.s2[j] - a.s1[j] * a.s1[j] / (double)a.n;
        double r = sst > 0 ? 1 - a.sse[j] / sst : NAN;
        if (mse) mse[j] = a.sse[j] / (double)a.n;
        if (r2) r2[j] = r;
        *r2_mean += r / k;
    }
    return CL_OK;
}
