/* Multi-label (K-hot) evaluation (train.h): the PAL loss, the exact-set
 * accuracy of the top-m rule and per-label F1 (Li, Wang, Li & Qu, ICML
 * 2024; loss.h). */
#include <math.h>
#include <string.h>

#include "collapse/train.h"
#include "internal.h"

cl_status cl_khot_acc_add(cl_khot_acc *a, const cl_loss_cfg *loss, const float *logits,
                          const uint8_t *yk, int n)
{
    double l;
    CL_TRY(cl_loss_compute_khot(loss, logits, yk, n, a->K, &l, NULL, NULL));
    a->loss_sum += l * n;
    a->exact += cl_loss_topm_score(logits, yk, n, a->K, a->tp, a->fp, a->fn);
    a->n += n;
    return CL_OK;
}

void cl_khot_acc_end(const cl_khot_acc *a, cl_khot_eval *out)
{
    memset(out, 0, sizeof *out);
    out->K = a->K;
    out->loss = a->n ? a->loss_sum / (double)a->n : NAN;
    out->acc = a->n ? (double)a->exact / (double)a->n : NAN;
    out->macro_f1 = cl_loss_f1(a->tp, a->fp, a->fn, a->K, out->f1);
}

typedef struct {
    const cl_train_data *ds;
    const cl_loss_cfg *loss;
    cl_khot_acc acc;
} khot_eval;

/* cl_train_forward_each in eval mode: batches are rows first..first+n-1. */
static cl_status eval_batch(void *user, const cl_model *m, const cl_batch *b)
{
    khot_eval *e = user;
    CL_ASSERT(!b->idx);
    return cl_khot_acc_add(&e->acc, e->loss, m->acts[m->nlayers - 1],
                           e->ds->yk + b->first * e->acc.K, b->n);
}

cl_status cl_train_evaluate_khot(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                                 cl_khot_eval *out)
{
    if (!ds->yk) return cl_error(CL_EINVAL, "multi-label evaluation: the data has no K-hot labels");
    int K = cl_train_model_width(m);
    if (ds->classes != K || K > CL_DATA_MAX_CLASSES)
        return cl_error(CL_EINVAL, "multi-label evaluation: %d labels, the model outputs %d",
                        ds->classes, K);
    khot_eval e;
    memset(&e, 0, sizeof e);
    e.ds = ds;
    e.loss = loss;
    e.acc.K = K;
    CL_TRY(cl_train_forward_each_taps(m, ds, 0, NULL, 0, eval_batch, &e)); /* logits only */
    cl_khot_acc_end(&e.acc, out);
    return CL_OK;
}
