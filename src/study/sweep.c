/* The study's forward sweeps (study_internal.h): one analysis of a split =
 * a first sweep that feeds pass 1 of every tap's stream (or copies the
 * tap's features into a cache), then, only if some tap is streamed, a
 * second sweep feeding pass 2. A split is cached whole when its taps fit in
 * opts.cache_mb. The first sweep also accumulates the training class sums
 * or scores the held-out NCC rule (nc.h), and gives the eval loss and
 * accuracy from the logits when asked. */
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "study_internal.h"

typedef struct {
    const cl_train_data *ds;
    int pass;
    int njobs;
    cl_study_job *jobs;
    const cl_loss_cfg *loss; /* non-NULL: eval loss/accuracy from the logits of pass 1 */
    double loss_sum;
    int64_t correct, n;
} sweep;

/* Pass 1 of one tap over a batch's features h [n, dim]. */
static cl_status feed1(cl_study_job *t, const cl_batch *b, const float *h)
{
    const int n = b->n;
    const int64_t dim = t->tap->dim;
    if (t->stream_it)
        CL_TRY(cl_nc_stream_feed1(t->stream, h, n, dim, b->y));
    else if (!b->idx)
        memcpy(t->cache + b->first * dim, h, sizeof(float) * (size_t)(n * dim));
    else /* BN train mode: rows back to their dataset positions */
        for (int i = 0; i < n; i++)
            memcpy(t->cache + (int64_t)b->idx[i] * dim, h + (int64_t)i * dim,
                   sizeof(float) * (size_t)dim);
    if (t->msum) cl_nc_class_sums_add(t->msum, h, n, dim, b->y);
    if (t->ncc_mu) {
        t->ncc_ok += cl_nc_ncc_correct(h, n, dim, b->y, t->ncc_mu, t->ncc_mu2, t->ncc_K);
        t->ncc_n += n;
    }
    return CL_OK;
}

static cl_status sweep_batch(void *user, const cl_model *m, const cl_batch *b)
{
    sweep *sw = user;
    for (int j = 0; j < sw->njobs; j++) {
        cl_study_job *t = &sw->jobs[j];
        const float *h = t->tap->layer < 0 ? b->x : m->acts[t->tap->layer];
        if (sw->pass == 1)
            CL_TRY(feed1(t, b, h));
        else if (t->stream_it)
            CL_TRY(cl_nc_stream_feed2(t->stream, h, b->n, t->tap->dim, b->y));
    }
    if (sw->pass == 1 && sw->loss) {
        double l;
        int64_t c;
        /* k = the logit width: the classes, or K-1 cumulative logits for clm */
        CL_TRY(cl_loss_compute(sw->loss, m->acts[m->nlayers - 1], b->y, b->n,
                               (int)cl_shape_size(m->layers[m->nlayers - 1].out), &l, NULL, &c));
        sw->loss_sum += l * b->n;
        sw->correct += c;
        sw->n += b->n;
    }
    return CL_OK;
}

/* Prefixes the analyzer's message with the epoch and the tap. */
static cl_status tap_error(cl_status st, int epoch, const char *tap)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cl_errmsg());
    return cl_error(st, "epoch %d, layer '%s': %s", epoch, tap, msg);
}

/* Rank-deficient class means are not an error: the row is written with
 * nc1 and D nan (and the He & Su fit of layers.csv nan that epoch); the
 * first such tap of the run is a warning through opts.warn. */
static void rank_warning(cl_study *s, const cl_study_job *t, const cl_train_data *ds, int epoch)
{
    if (s->rank_warned || !s->o.warn) return;
    s->rank_warned = 1;
    char msg[512];
    int keep = t->r.K - 1 < t->r.dim ? t->r.K - 1 : t->r.dim;
    snprintf(msg, sizeof msg,
             "epoch %d, layer '%s' (%s split): the class means have rank %d < min(K-1, dim) = %d, "
             "so nc1 and D are nan in such rows (and the layer fit when a layer is); the other "
             "keys are computed (warned once per run)",
             epoch, t->tap->name, ds == s->train ? "train" : "test", t->r.rank_M, keep);
    s->o.warn(s->o.warn_user, msg);
}

cl_status cl_study_split_analyze(cl_study *s, cl_model *m, const cl_train_data *ds,
                                 cl_study_job *jobs, int njobs, int force_cache_last, int epoch,
                                 const cl_loss_cfg *loss, double *mean_loss, double *acc)
{
    cl_status st = CL_OK;
    double bytes = 0;
    for (int j = 0; j < njobs; j++) bytes += 4.0 * (double)ds->n * jobs[j].tap->dim;
    int cache_all = bytes <= (double)s->o.cache_mb * 1048576.0;
    int any_stream = 0;
    for (int j = 0; j < njobs; j++) {
        cl_study_job *t = &jobs[j];
        cl_nc_opts o = s->o.nc;
        if (!t->W) o.gnc = 0; /* the gnc keys are written for the classifier input only */
        t->stream_it = !(cache_all || (force_cache_last && j == njobs - 1));
        any_stream |= t->stream_it;
        if (t->stream_it) {
            st = cl_nc_stream_create(&t->stream, t->tap->dim, s->K, t->W, t->b, &o);
            if (st != CL_OK) return tap_error(st, epoch, t->tap->name);
        } else {
            t->cache = cl_alloc_array((size_t)ds->n * (size_t)t->tap->dim, sizeof(float),
                                      "study feature cache");
            if (!t->cache) return CL_ENOMEM;
        }
    }
    sweep sw = {ds, 1, njobs, jobs, loss, 0, 0, 0};
    CL_TRY(cl_train_forward_each(m, ds, s->o.bn_train, sweep_batch, &sw));
    if (loss && sw.n > 0) {
        *mean_loss = sw.loss_sum / (double)sw.n;
        *acc = (double)sw.correct / (double)sw.n;
    }
    sw.loss = NULL;
    for (int j = 0; j < njobs; j++)
        if (jobs[j].stream_it && (st = cl_nc_stream_end1(jobs[j].stream)) != CL_OK)
            return tap_error(st, epoch, jobs[j].tap->name);
    if (any_stream) {
        sw.pass = 2;
        CL_TRY(cl_train_forward_each(m, ds, s->o.bn_train, sweep_batch, &sw));
    }
    for (int j = 0; j < njobs; j++) {
        cl_study_job *t = &jobs[j];
        cl_nc_opts o = s->o.nc;
        if (!t->W) o.gnc = 0;
        st = t->stream_it ? cl_nc_stream_result(t->stream, &t->r)
                          : cl_nc_analyze(t->cache, ds->n, t->tap->dim, ds->y, s->K, t->W, t->b,
                                          &o, &t->r);
        if (st != CL_OK) return tap_error(st, epoch, t->tap->name);
        if (!t->r.nc1_defined) rank_warning(s, t, ds, epoch);
    }
    return CL_OK;
}

void cl_study_jobs_free(cl_study_job *jobs, int n)
{
    for (int j = 0; j < n; j++) {
        if (jobs[j].stream) cl_nc_stream_destroy(jobs[j].stream);
        cl_free(jobs[j].cache);
        jobs[j].stream = NULL;
        jobs[j].cache = NULL;
    }
}
