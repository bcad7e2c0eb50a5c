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
    if (t->stream) /* sharded runs may keep a cache next to the stream */
        CL_TRY(cl_nc_stream_feed1(t->stream, h, n, dim, b->y));
    if (t->cache && !b->idx)
        memcpy(t->cache + b->first * dim, h, sizeof(float) * (size_t)(n * dim));
    else if (t->cache) /* BN train mode: rows back to their dataset positions */
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
        else if (t->stream && !t->cache)
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

/* The forward passes of a sweep: only the tapped layers' outputs (and
 * the logits) need the NCHW layout (cl_model_forward_taps). */
static cl_status sweep_each(cl_model *m, const cl_train_data *view, int bn_train, sweep *sw)
{
    int taps[64], nt = 0;
    for (int j = 0; j < sw->njobs && nt < 64; j++)
        taps[nt++] = sw->jobs[j].tap->layer;
    if (sw->njobs > 64) /* more taps than this list: every activation NCHW */
        return cl_train_forward_each(m, view, bn_train, sweep_batch, sw);
    return cl_train_forward_each_taps(m, view, bn_train, taps, nt, sweep_batch, sw);
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
    if (s->rank_warned || !s->o.warn || !s->root) return;
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

/* Streams and caches of the jobs. One process: a job is cached when the
 * split's taps fit the budget (or it is the forced last one), else
 * streamed. Sharded (view = this rank's rows): every job is streamed and
 * also cached when the taps of the largest shard fit (pass 2 then reads
 * the cache), but the forced last job, cached and gathered after pass 2. */
static cl_status jobs_setup(cl_study *s, const cl_train_data *ds, const cl_train_data *view,
                            int shard, cl_study_job *jobs, int njobs, int force_cache_last,
                            int epoch)
{
    const int size = shard ? cl_comm_size(s->o.comm) : 1;
    const int64_t rows = (ds->n + size - 1) / size; /* the same decision on every rank */
    double bytes = 0;
    for (int j = 0; j < njobs; j++) bytes += 4.0 * (double)rows * jobs[j].tap->dim;
    int cache_all = bytes <= (double)s->o.cache_mb * 1048576.0;
    for (int j = 0; j < njobs; j++) {
        cl_study_job *t = &jobs[j];
        cl_nc_opts o = s->o.nc;
        if (!t->W) o.gnc = 0; /* the gnc keys are written for the classifier input only */
        int forced = force_cache_last && j == njobs - 1;
        t->stream_it = shard ? !forced : !(cache_all || forced);
        t->gather = shard && forced;
        if (t->stream_it) {
            cl_status st = cl_nc_stream_create(&t->stream, t->tap->dim, s->K, t->W, t->b, &o);
            if (st != CL_OK) return tap_error(st, epoch, t->tap->name);
        }
        if (!t->stream_it || (shard && cache_all)) {
            t->cache = cl_alloc_array((size_t)(view->n ? view->n : 1) * (size_t)t->tap->dim,
                                      sizeof(float), "study feature cache");
            if (!t->cache) return CL_ENOMEM;
        }
    }
    return CL_OK;
}

/* Sharded runs, after pass 1: the loss sums, the training class sums, the
 * held-out NCC counts and the streams' pass-1 accumulators over the ranks. */
static cl_status reduce1(cl_study *s, sweep *sw, cl_study_job *jobs, int njobs)
{
    cl_comm *c = s->o.comm;
    if (sw->loss) {
        int64_t cn[2] = {sw->correct, sw->n};
        CL_TRY(cl_comm_sum_f64(c, &sw->loss_sum, 1));
        CL_TRY(cl_comm_sum_i64(c, cn, 2));
        sw->correct = cn[0];
        sw->n = cn[1];
    }
    for (int j = 0; j < njobs; j++) {
        cl_study_job *t = &jobs[j];
        if (t->msum) CL_TRY(cl_comm_sum_f64(c, t->msum, (int64_t)s->K * t->tap->dim));
        if (t->ncc_mu) {
            int64_t v[2] = {t->ncc_ok, t->ncc_n};
            CL_TRY(cl_comm_sum_i64(c, v, 2));
            t->ncc_ok = v[0];
            t->ncc_n = v[1];
        }
        if (t->stream) CL_TRY(cl_nc_stream_reduce1(t->stream, c));
    }
    return CL_OK;
}

/* Pass 2 on this rank: a sweep for the streamed jobs without a cache, the
 * cache for the others; the gather buffers allocated (before the
 * agreement that precedes the collectives). */
static cl_status pass2_local(cl_study *s, cl_model *m, const cl_train_data *view, sweep *sw,
                             float **full, int64_t N)
{
    int need_sweep = 0;
    for (int j = 0; j < sw->njobs; j++) {
        cl_study_job *t = &sw->jobs[j];
        need_sweep |= t->stream && !t->cache;
        if (t->stream && t->cache)
            CL_TRY(cl_nc_stream_feed2(t->stream, t->cache, view->n, t->tap->dim, view->y));
        if (t->gather && !(full[j] = cl_alloc_array((size_t)N * (size_t)t->tap->dim,
                                                    sizeof(float), "gathered features")))
            return CL_ENOMEM;
    }
    sw->pass = 2;
    if (need_sweep && view->n > 0)
        CL_TRY(sweep_each(m, view, s->o.bn_train, sw));
    return CL_OK;
}

cl_status cl_study_split_analyze(cl_study *s, cl_model *m, const cl_train_data *ds,
                                 cl_study_job *jobs, int njobs, int force_cache_last, int epoch,
                                 const cl_loss_cfg *loss, double *mean_loss, double *acc)
{
    cl_train_data view;
    int64_t lo;
    const int shard = cl_study_shard(s->o.comm, s->o.bn_train, ds, &view, &lo);
    sweep sw = {&view, 1, njobs, jobs, loss, 0, 0, 0};
    cl_status st = jobs_setup(s, ds, &view, shard, jobs, njobs, force_cache_last, epoch);
    if (st == CL_OK && view.n > 0)
        st = sweep_each(m, &view, s->o.bn_train, &sw);
    if (shard) { /* every rank reaches the sums, or none does */
        CL_TRY(cl_study_agree(s, st));
        CL_TRY(reduce1(s, &sw, jobs, njobs));
    }
    CL_TRY(st);
    if (loss && sw.n > 0) {
        *mean_loss = sw.loss_sum / (double)sw.n;
        *acc = (double)sw.correct / (double)sw.n;
    }
    sw.loss = NULL;
    for (int j = 0; j < njobs; j++)
        if (jobs[j].stream_it && (st = cl_nc_stream_end1(jobs[j].stream)) != CL_OK)
            return tap_error(st, epoch, jobs[j].tap->name);
    float **full = cl_alloc_array((size_t)njobs, sizeof *full, "gather buffers");
    st = full ? pass2_local(s, m, &view, &sw, full, ds->n) : CL_ENOMEM;
    if (shard && (st = cl_study_agree(s, st)) == CL_OK)
        for (int j = 0; st == CL_OK && j < njobs; j++) {
            cl_study_job *t = &jobs[j];
            if (t->stream) st = cl_nc_stream_reduce2(t->stream, s->o.comm);
            if (st == CL_OK && t->gather) {
                st = cl_study_gather(s, t, full[j], lo, view.n, ds->n);
                full[j] = NULL;
            }
        }
    for (int j = 0; full && j < njobs; j++) cl_free(full[j]);
    cl_free(full);
    CL_TRY(st);
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
