/* Forward passes over a dataset and the classification evaluation
 * (cl_train_forward_each, cl_train_evaluate), and the model/data checks
 * they share with the training loop (internal.h). */
#include <string.h>

#include "collapse/mem.h"
#include "collapse/rng.h"
#include "collapse/train.h"
#include "internal.h"

/* ---- dataset view ---- */

static int64_t ds_count(const cl_train_data *ds)
{
    return ds->n;
}
static int ds_classes(const cl_train_data *ds)
{
    return ds->classes;
}
static int64_t ds_sample_floats(const cl_train_data *ds)
{
    return cl_shape_size(ds->shape);
}
static const float *ds_images(const cl_train_data *ds)
{
    return ds->x;
}
static const int32_t *ds_labels(const cl_train_data *ds)
{
    return ds->y;
}

/* The logit width k of the last layer (loss.h). */
int cl_train_model_width(const cl_model *m)
{
    return (int)cl_shape_size(m->layers[m->nlayers - 1].out);
}

static int ends_in_cumlink(const cl_model *m)
{
    return m->layers[m->nlayers - 1].spec.kind == CL_LAYER_CUMLINK;
}

/* --loss clm if and only if the model ends in a cumlink layer. */
cl_status cl_train_check_loss_model(const cl_loss_cfg *loss, const cl_model *m)
{
    int cum = ends_in_cumlink(m);
    if ((loss->kind == CL_LOSS_CLM) == cum) return CL_OK;
    return cl_error(CL_EINVAL, "--loss %s needs a model %s a cumlink layer (--loss clm)",
                    cl_loss_kind_name(loss->kind), cum ? "not ending in" : "ending in");
}

/* Classes K the model can tell apart: k, or k + 1 after a cumlink layer
 * (K-1 cumulative logits; loss.h CLM). */
static int model_classes(const cl_model *m)
{
    return cl_train_model_width(m) + ends_in_cumlink(m);
}

cl_status cl_train_check_fit(const cl_model *m, const cl_train_data *ds, const char *what)
{
    if (!ds) return CL_OK;
    if (ds_count(ds) < 1) return cl_error(CL_EINVAL, "%s set is empty", what);
    if (ds_sample_floats(ds) != cl_shape_size(m->in))
        return cl_error(
            CL_EINVAL, "%s set samples have %lld values, the model input %lld (%dx%dx%d)",
            what, (long long)ds_sample_floats(ds), (long long)cl_shape_size(m->in),
            m->in.c, m->in.h, m->in.w);
    if (ds_classes(ds) > model_classes(m))
        return cl_error(CL_EINVAL, "%s set has %d classes, the model outputs %d", what,
                        ds_classes(ds), model_classes(m));
    return CL_OK;
}

/* Seed of the fixed visiting order of BN-train-mode passes. */
#define BN_TRAIN_ORDER_SEED 0x62e6d5eedULL

/* ntaps < 0: every activation NCHW (cl_model_forward) */
static const float *fwd(cl_model *m, const float *x, int n, int train, const int *taps,
                        int ntaps)
{
    return ntaps < 0 ? cl_model_forward(m, x, n, train)
                     : cl_model_forward_taps(m, x, n, train, taps, ntaps);
}

static cl_status forward_each(cl_model *m, const cl_train_data *ds, int bn_train,
                              const int *taps, int ntaps, cl_batch_fn fn, void *user)
{
    if (m->max_n < 1)
        return cl_error(CL_EINVAL, "forward pass: model has no batch buffers");
    CL_TRY(cl_train_check_fit(m, ds, "forward-pass"));
    const int64_t N = ds_count(ds), dim = ds_sample_floats(ds);
    const float *X = ds_images(ds);
    const int32_t *Y = ds_labels(ds);
    float *saved_bufs = NULL, *bx = NULL;
    int32_t *perm = NULL, *by = NULL;
    cl_status st = CL_OK;
    if (bn_train) {
        saved_bufs = cl_alloc_array((size_t)(m->nbufs ? m->nbufs : 1), sizeof(float),
                                    "BN running stats copy");
        perm = cl_alloc_array((size_t)N, sizeof(int32_t), "BN-train pass order");
        bx = cl_alloc_array((size_t)m->max_n * (size_t)dim, sizeof(float),
                            "BN-train batch");
        by = cl_alloc_array((size_t)m->max_n, sizeof(int32_t), "BN-train labels");
        if (!saved_bufs || !perm || !bx || !by) {
            st = CL_ENOMEM;
            goto done;
        }
        memcpy(saved_bufs, m->bufs, sizeof(float) * (size_t)m->nbufs);
        for (int64_t i = 0; i < N; i++)
            perm[i] = (int32_t)i;
        cl_rng r;
        cl_rng_seed(&r, BN_TRAIN_ORDER_SEED);
        cl_rng_shuffle_i32(&r, perm, N);
        int64_t nb = (N + m->max_n - 1) / m->max_n, base = N / nb, extra = N % nb;
        for (int64_t b = 0, first = 0; b < nb && st == CL_OK; b++) {
            int n = (int)(base + (b < extra));
            const int32_t *idx = perm + first;
            for (int i = 0; i < n; i++) {
                memcpy(bx + (int64_t)i * dim, X + (int64_t)idx[i] * dim,
                       sizeof(float) * (size_t)dim);
                by[i] = Y[idx[i]];
            }
            fwd(m, bx, n, 1, taps, ntaps);
            cl_batch batch = {first, n, bx, by, idx};
            st = fn(user, m, &batch);
            first += n;
        }
        memcpy(m->bufs, saved_bufs, sizeof(float) * (size_t)m->nbufs);
    } else {
        for (int64_t first = 0; first < N && st == CL_OK; first += m->max_n) {
            int n = (int)(N - first < m->max_n ? N - first : m->max_n);
            fwd(m, X + first * dim, n, 0, taps, ntaps);
            cl_batch batch = {first, n, X + first * dim, Y + first, NULL};
            st = fn(user, m, &batch);
        }
    }
done:
    cl_free(saved_bufs);
    cl_free(perm);
    cl_free(bx);
    cl_free(by);
    return st;
}

cl_status cl_train_forward_each(cl_model *m, const cl_train_data *ds, int bn_train,
                                cl_batch_fn fn, void *user)
{
    return forward_each(m, ds, bn_train, NULL, -1, fn, user);
}

cl_status cl_train_forward_each_taps(cl_model *m, const cl_train_data *ds, int bn_train,
                                     const int *taps, int ntaps, cl_batch_fn fn, void *user)
{
    return forward_each(m, ds, bn_train, taps, ntaps < 0 ? 0 : ntaps, fn, user);
}

typedef struct {
    const cl_loss_cfg *loss;
    int k;
    double loss_sum;
    int64_t correct, n;
    int64_t *correct_k, *count_k; /* per class, or NULL */
} eval_acc;

static cl_status eval_batch(void *user, const cl_model *m, const cl_batch *b)
{
    eval_acc *a = user;
    const float *logits = m->acts[m->nlayers - 1];
    double l;
    int64_t c;
    CL_TRY(cl_loss_compute(a->loss, logits, b->y, b->n, a->k, &l, NULL, &c));
    a->loss_sum += l * b->n;
    a->correct += c;
    a->n += b->n;
    for (int i = 0; a->correct_k && i < b->n; i++) { /* the loss's own rule, row by row */
        CL_TRY(cl_loss_compute(a->loss, logits + (int64_t)i * a->k, b->y + i, 1, a->k, &l, NULL,
                               &c));
        a->correct_k[b->y[i]] += c;
        a->count_k[b->y[i]]++;
    }
    return CL_OK;
}

cl_status cl_train_evaluate(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                            double *mean_loss, double *acc)
{
    return cl_train_evaluate_classes(m, ds, loss, mean_loss, acc, NULL, NULL);
}

cl_status cl_train_evaluate_classes(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                                    double *mean_loss, double *acc, int64_t *correct_k,
                                    int64_t *count_k)
{
    CL_TRY(cl_train_check_loss_model(loss, m));
    if (ds->yk && correct_k)
        return cl_error(CL_EINVAL, "per-class accuracy needs single-label data");
    if (ds->yk) { /* multi-label data: PAL loss, exact-set accuracy (eval_khot.c) */
        cl_khot_eval e;
        CL_TRY(cl_train_evaluate_khot(m, ds, loss, &e));
        *mean_loss = e.loss;
        *acc = e.acc;
        return CL_OK;
    }
    eval_acc a = {loss, cl_train_model_width(m), 0, 0, 0, correct_k, count_k};
    if (correct_k) {
        const int K = cl_loss_classes(loss, a.k);
        if (K > CL_DATA_MAX_CLASSES)
            return cl_error(CL_EINVAL, "per-class accuracy: %d classes (at most %d)", K,
                            CL_DATA_MAX_CLASSES);
        memset(correct_k, 0, sizeof(int64_t) * (size_t)K);
        memset(count_k, 0, sizeof(int64_t) * (size_t)K);
    }
    CL_TRY(cl_train_forward_each_taps(m, ds, 0, NULL, 0, eval_batch, &a)); /* logits only */
    *mean_loss = a.loss_sum / (double)a.n;
    *acc = (double)a.correct / (double)a.n;
    return CL_OK;
}
