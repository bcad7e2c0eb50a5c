/* Data-parallel training steps (ddp.h): slices of the global batch, gradient
 * sums in buckets overlapped with backward, agreed errors and stops. */
#include "ddp.h"

#include <string.h>

#include "collapse/mem.h"
#include "collapse/sys.h"

int cl_ddp_on(const cl_ddp *d) { return d->size > 1; }

cl_status cl_ddp_init(cl_ddp *d, const cl_train_config *cfg, cl_model *m, int64_t N)
{
    memset(d, 0, sizeof *d);
    d->comm = cfg->comm;
    d->size = cl_comm_size(cfg->comm);
    d->rank = cl_comm_rank(cfg->comm);
    d->sync_bn = cfg->sync_bn;
    d->m = m;
    if (d->size == 1) return CL_OK;
    CL_TRY(cl_train_ddp_check(cfg->comm, cfg->batch, N));
    /* buckets: about 8 per step, at least 16k floats (64 KB) so that the
     * per-message latency does not dominate small layers */
    d->bucket = m->nparams / 8 > 16384 ? m->nparams / 8 : 16384;
    d->sums = cl_alloc_array((size_t)d->size + 2, sizeof(double), "ddp step sums");
    if (!d->sums) return CL_ENOMEM;
    cl_model_zero_grad(m);
    CL_TRY(cl_comm_sum_f32(d->comm, m->grads, m->nparams)); /* warm-up */
    CL_TRY(cl_comm_barrier(d->comm));
    double t0 = cl_clock_seconds();
    for (int i = 0; i < 3; i++) CL_TRY(cl_comm_sum_f32(d->comm, m->grads, m->nparams));
    d->blocking = (cl_clock_seconds() - t0) / 3;
    return CL_OK;
}

cl_status cl_train_ddp_check(const cl_comm *comm, int batch, int64_t n)
{
    const int size = cl_comm_size(comm);
    if (size == 1 || batch < 1) return CL_OK;
    int64_t last = n % batch;
    if (batch < size || (last && last < size))
        return cl_error(CL_EINVAL, "--batch %d over %d ranks: every rank needs a sample of "
                                   "every batch (the last batch of an epoch has %lld); use a "
                                   "larger --batch or fewer ranks",
                        batch, size, (long long)(last ? last : batch));
    return CL_OK;
}

const float *cl_ddp_forward(cl_ddp *d, const float *x, int n)
{
    if (cl_ddp_on(d) && d->sync_bn) d->m->bn_comm = d->comm;
    return cl_model_forward_taps(d->m, x, n, 1, NULL, 0); /* the trainer reads the logits */
}

cl_status cl_ddp_after_loss(cl_ddp *d, cl_status st, const volatile sig_atomic_t *stop,
                            int n, int global, int K, double *loss, int64_t *correct,
                            float *dlogits)
{
    if (!cl_ddp_on(d)) return st;
    int flag = stop && *stop;
    st = cl_comm_agree(d->comm, st, &flag);
    d->stop = flag;
    if (st != CL_OK) {
        d->m->bn_comm = NULL;
        return st;
    }
    double *s = d->sums;
    memset(s, 0, sizeof(double) * (size_t)(d->size + 2));
    s[0] = *loss * n;
    s[1] = (double)*correct;
    s[2 + d->rank] = d->last;
    CL_TRY(cl_comm_sum_f64(d->comm, s, d->size + 2));
    *loss = s[0] / global;
    *correct = (int64_t)s[1];
    double tail = s[2]; /* the previous step's shortest wait */
    for (int r = 1; r < d->size; r++)
        if (s[2 + r] < tail) tail = s[2 + r];
    d->tail += tail;
    float w = (float)n / (float)global;
    for (int64_t i = 0; i < (int64_t)n * K; i++) dlogits[i] *= w;
    return CL_OK;
}

/* Called by cl_model_backward after each layer with parameters, last layer
 * first: its gradients join the pending range, posted once a bucket is full. */
static void grad_ready(void *user, const cl_layer *l)
{
    cl_ddp *d = user;
    d->lo = l->param_off;
    if (d->hi - d->lo >= d->bucket && d->post_st == CL_OK) {
        d->post_st = cl_comm_isum_f32(d->comm, d->m->grads + d->lo, d->hi - d->lo);
        d->hi = d->lo;
    } else {
        cl_comm_progress(d->comm); /* lets MPI move the buckets already posted */
    }
}

cl_status cl_ddp_backward(cl_ddp *d, const float *x, const float *dlogits, int n)
{
    cl_model *m = d->m;
    cl_model_zero_grad(m);
    if (!cl_ddp_on(d)) {
        cl_model_backward(m, x, dlogits, n, 1);
        return CL_OK;
    }
    double t0 = cl_clock_seconds();
    d->lo = d->hi = m->nparams;
    d->post_st = CL_OK;
    m->grad_ready = grad_ready;
    m->grad_ready_user = d;
    cl_model_backward(m, x, dlogits, n, 1);
    m->grad_ready = NULL;
    m->grad_ready_user = NULL;
    m->bn_comm = NULL;
    cl_status st = d->post_st;
    if (st == CL_OK && d->hi > 0) /* the rest, down to the first parameter */
        st = cl_comm_isum_f32(d->comm, m->grads, d->hi);
    double t1 = cl_clock_seconds();
    cl_status wst = cl_comm_wait_all(d->comm);
    double t2 = cl_clock_seconds();
    d->last = t2 - t1;
    d->exposed += d->last;
    d->step_s += t2 - t0;
    d->steps++;
    return st != CL_OK ? st : wst;
}

int cl_ddp_stop(cl_ddp *d, const volatile sig_atomic_t *stop, int agree)
{
    if (!cl_ddp_on(d)) return stop && *stop;
    if (agree) {
        int flag = stop && *stop;
        /* cannot fail by itself: an MPI failure ends the group (cl_comm_agree) */
        cl_comm_agree(d->comm, CL_OK, &flag);
        d->stop = flag;
    }
    return d->stop;
}

void cl_ddp_finish(cl_ddp *d, cl_train_result *res)
{
    cl_free(d->sums);
    d->sums = NULL;
    if (!cl_ddp_on(d)) return;
    res->ddp_ranks = d->size;
    res->ddp_steps = d->steps;
    res->ddp_exposed_s = d->exposed;
    res->ddp_tail_s = d->tail;
    res->ddp_blocking_s = d->blocking * (double)d->steps;
    res->ddp_backward_s = d->step_s;
}
