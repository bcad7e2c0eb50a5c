/* The per-epoch collapse study (study.h): sweeps, analyzer streams, rows.
 *
 * One analysis = for each split, a first forward sweep that feeds pass 1
 * of every tap's stream (or copies the tap's features into a cache), then,
 * only if some tap is streamed, a second sweep feeding pass 2. A split is
 * cached whole when its taps fit in opts.cache_mb; the classifier input of
 * the training split is always cached at the last epoch when the features
 * are saved, so that features_train.npy reproduces the row exactly through
 * cl_nc_analyze (the row is computed by that very call). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/sys.h"

#define PATH_CAP 4096
#define ROW_CAP 8192

struct cl_study {
    cl_study_opts o;
    const cl_model *m;
    const cl_train_data *train, *test;
    int epochs, K, cls;
    int ntaps;
    cl_study_tap *taps;
    char dir[PATH_CAP], metrics_path[PATH_CAP + 16], layers_path[PATH_CAP + 16];
    FILE *fm, *fl;
    int started; /* the files are ready for this session */
    double last_seconds;
    double plot_seconds; /* wall time of the last figure drawing, -1 = none yet */
    int eval_epoch;      /* epoch of eval_values (-1 = none yet) */
    double eval_values[4]; /* train_loss, train_acc, test_loss, test_acc of its row */
};


/* The analyzer keys written to metrics.csv: every key but "acc" (the
 * classifier accuracy is train_acc / test_acc). */
static int metric_key(int i) { return strcmp(cl_nc_key_name(i), "acc") != 0; }

static void metrics_header(char *h, size_t cap)
{
    snprintf(h, cap, "epoch,lr,train_loss,train_acc,test_loss,test_acc");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < cl_nc_nkeys(); i++)
            if (metric_key(i)) {
                size_t l = strlen(h);
                snprintf(h + l, cap - l, ",%s%s", pass ? "test_" : "", cl_nc_key_name(i));
            }
    size_t l = strlen(h);
    snprintf(h + l, cap - l, ",test_ncc_acc_train_means,epoch_seconds,analysis_seconds");
}

static const char layers_header[] = "epoch,layer,name,dim,D,nc1,rho,r2,r,intercept";


cl_status cl_study_create(cl_study **out, const cl_study_opts *o, const cl_model *m,
                          const cl_train_data *train, const cl_train_data *test,
                          const char *out_dir, int epochs)
{
    *out = NULL;
    if (o->every < 0) return cl_error(CL_EINVAL, "--analyze-every: must be >= 1");
    if (o->cache_mb < 0) return cl_error(CL_EINVAL, "study: cache budget must be >= 0 MB");
    if (epochs < 1) return cl_error(CL_EINVAL, "study: epochs must be >= 1");
    if (!out_dir || !*out_dir) return cl_error(CL_EINVAL, "study: no results folder");
    if (strlen(out_dir) >= PATH_CAP - 32)
        return cl_error(CL_EINVAL, "%s: results folder path too long", out_dir);
    if (train->n < 1 || train->classes < 2)
        return cl_error(CL_EINVAL, "study: the training set needs samples and >= 2 classes");
    if (cl_shape_size(train->shape) != cl_shape_size(m->in))
        return cl_error(CL_EINVAL, "study: data and model input sizes differ");
    if (test && (test->classes != train->classes ||
                 cl_shape_size(test->shape) != cl_shape_size(m->in)))
        return cl_error(CL_EINVAL, "study: the test set does not match the training set");
    cl_study *s = cl_alloc(sizeof *s, "study");
    if (!s) return CL_ENOMEM;
    cl_status st = CL_OK;
    s->o = *o;
    s->m = m;
    s->train = train;
    s->test = test;
    s->epochs = epochs;
    s->K = train->classes;
    s->cls = cl_model_classifier_index(m);
    s->plot_seconds = -1;
    s->eval_epoch = -1;
    s->taps = cl_alloc_array((size_t)m->nlayers + 2, sizeof *s->taps, "study taps");
    if (!s->taps) {
        st = CL_ENOMEM;
        goto fail;
    }
    if ((s->ntaps = cl_study_taps(m, s->taps)) < 0) {
        st = CL_EINVAL;
        goto fail;
    }
    const cl_layer *head = &m->layers[s->cls];
    if (head->out.c * head->out.h * head->out.w != s->K ||
        cl_shape_size(head->in) != s->taps[s->ntaps - 1].dim) {
        st = cl_error(CL_EINVAL, "study: classifier '%s' does not map the features to %d classes",
                      head->spec.name, s->K);
        goto fail;
    }
    snprintf(s->dir, sizeof s->dir, "%s", out_dir);
    snprintf(s->metrics_path, sizeof s->metrics_path, "%s/metrics.csv", out_dir);
    snprintf(s->layers_path, sizeof s->layers_path, "%s/layers.csv", out_dir);
    if (o->none) {
        *out = s;
        return CL_OK;
    }
    if ((st = cl_mkdir_p(out_dir)) != CL_OK) goto fail;
    char p[PATH_CAP + 32];
    snprintf(p, sizeof p, "%s/labels_train.npy", out_dir);
    int64_t shape[1] = {train->n};
    if ((st = cl_npy_write(p, CL_NPY_I32, train->y, 1, shape)) != CL_OK) goto fail;
    if (!o->resume) { /* fresh files now, so even a run that dies early has headers */
        char h[ROW_CAP];
        metrics_header(h, sizeof h);
        if ((st = cl_csv_open_append(s->metrics_path, h, 0, 0, &s->fm)) != CL_OK) goto fail;
        if (o->layers &&
            (st = cl_csv_open_append(s->layers_path, layers_header, 0, 0, &s->fl)) != CL_OK)
            goto fail;
        s->started = 1;
    }
    *out = s;
    return CL_OK;
fail:
    cl_study_destroy(s);
    return st;
}

void cl_study_destroy(cl_study *s)
{
    if (!s) return;
    if (s->fm) fclose(s->fm);
    if (s->fl) fclose(s->fl);
    cl_free(s->taps);
    cl_free(s);
}

double cl_study_last_seconds(const cl_study *s) { return s->last_seconds; }

/* First call of a resumed session: drop rows of epochs >= e. */
static cl_status start_files(cl_study *s, int e)
{
    if (s->started || s->o.none) return CL_OK;
    char h[ROW_CAP];
    metrics_header(h, sizeof h);
    CL_TRY(cl_csv_open_append(s->metrics_path, h, 1, e, &s->fm));
    if (s->o.layers) CL_TRY(cl_csv_open_append(s->layers_path, layers_header, 1, e, &s->fl));
    s->started = 1;
    return CL_OK;
}

/* ---- one split's sweeps ---- */

typedef struct {
    const cl_study_tap *tap;
    int stream_it;        /* 1: streamed (two sweeps); 0: cached */
    cl_nc_stream *stream;
    float *cache;         /* [N, dim] when cached */
    const float *W, *b;   /* classifier input tap only */
    cl_nc_result r;
    /* held-out nearest-class-mean rule (classifier input tap): on the train
     * split pass 1 accumulates class sums into msum [K, dim]; on the test
     * split pass 1 classifies every sample by the nearest of the training
     * means ncc_mu [K, dim] (ncc_mu2 [K] = their squared norms) */
    double *msum;
    const double *ncc_mu, *ncc_mu2;
    int ncc_K;
    int64_t ncc_ok, ncc_n;
} tap_job;

typedef struct {
    const cl_train_data *ds;
    int pass;
    int njobs;
    tap_job *jobs;
    const cl_loss_cfg *loss; /* non-NULL: eval loss/accuracy from the logits of pass 1 */
    double loss_sum;
    int64_t correct, n;
} sweep;

static cl_status sweep_batch(void *user, const cl_model *m, const cl_batch *b)
{
    sweep *sw = user;
    const int n = b->n;
    const int32_t *y = b->y;
    for (int j = 0; j < sw->njobs; j++) {
        tap_job *t = &sw->jobs[j];
        int64_t dim = t->tap->dim;
        const float *h = t->tap->layer < 0 ? b->x : m->acts[t->tap->layer];
        if (sw->pass == 1) {
            if (t->stream_it)
                CL_TRY(cl_nc_stream_feed1(t->stream, h, n, dim, y));
            else if (!b->idx)
                memcpy(t->cache + b->first * dim, h, sizeof(float) * (size_t)(n * dim));
            else /* BN train mode: rows back to their dataset positions */
                for (int i = 0; i < n; i++)
                    memcpy(t->cache + (int64_t)b->idx[i] * dim, h + (int64_t)i * dim,
                           sizeof(float) * (size_t)dim);
        } else if (t->stream_it) {
            CL_TRY(cl_nc_stream_feed2(t->stream, h, n, dim, y));
        }
        if (sw->pass == 1 && t->msum) cl_nc_class_sums_add(t->msum, h, n, dim, y);
        if (sw->pass == 1 && t->ncc_mu) {
            t->ncc_ok += cl_nc_ncc_correct(h, n, dim, y, t->ncc_mu, t->ncc_mu2, t->ncc_K);
            t->ncc_n += n;
        }
    }
    if (sw->pass == 1 && sw->loss) {
        double l;
        int64_t c;
        CL_TRY(cl_loss_compute(sw->loss, m->acts[m->nlayers - 1], y, n, sw->ds->classes, &l,
                               NULL, &c));
        sw->loss_sum += l * n;
        sw->correct += c;
        sw->n += n;
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

/* Runs the analysis of the given taps on one split. force_cache_last: the
 * last job is cached whatever the budget. loss != NULL: also the mean loss
 * and accuracy of the sweep's logits into *mean_loss, *acc. */
static cl_status analyze_split(cl_study *s, cl_model *m, const cl_train_data *ds, tap_job *jobs,
                               int njobs, int force_cache_last, int epoch,
                               const cl_loss_cfg *loss, double *mean_loss, double *acc)
{
    cl_status st = CL_OK;
    double bytes = 0;
    for (int j = 0; j < njobs; j++) bytes += 4.0 * (double)ds->n * jobs[j].tap->dim;
    int cache_all = bytes <= (double)s->o.cache_mb * 1048576.0;
    int any_stream = 0;
    for (int j = 0; j < njobs; j++) {
        tap_job *t = &jobs[j];
        t->stream_it = !(cache_all || (force_cache_last && j == njobs - 1));
        any_stream |= t->stream_it;
        if (t->stream_it) {
            st = cl_nc_stream_create(&t->stream, t->tap->dim, s->K, t->W, t->b, &s->o.nc);
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
        tap_job *t = &jobs[j];
        st = t->stream_it ? cl_nc_stream_result(t->stream, &t->r)
                          : cl_nc_analyze(t->cache, ds->n, t->tap->dim, ds->y, s->K, t->W, t->b,
                                          &s->o.nc, &t->r);
        if (st != CL_OK) return tap_error(st, epoch, t->tap->name);
    }
    return CL_OK;
}

static void free_jobs(tap_job *jobs, int n)
{
    for (int j = 0; j < n; j++) {
        if (jobs[j].stream) cl_nc_stream_destroy(jobs[j].stream);
        cl_free(jobs[j].cache);
        jobs[j].stream = NULL;
        jobs[j].cache = NULL;
    }
}

/* ---- one analyzed epoch ---- */

static cl_status write_layers(cl_study *s, int epoch, const tap_job *jobs)
{
    char row[ROW_CAP];
    int L = s->ntaps;
    double *fuzz = cl_alloc_array((size_t)L, sizeof(double), "layer fuzziness");
    if (!fuzz) return CL_ENOMEM;
    for (int l = 0; l < L; l++) {
        snprintf(row, sizeof row, "%d,%d,%s,%d", epoch, l, jobs[l].tap->name, jobs[l].tap->dim);
        cl_csv_put(row, sizeof row, jobs[l].r.fuzz, 0);
        cl_csv_put(row, sizeof row, jobs[l].r.nc1, 0);
        for (int k = 0; k < 4; k++) cl_csv_put(row, sizeof row, 0, 1);
        fuzz[l] = jobs[l].r.fuzz;
        cl_status st = cl_csv_write_row(s->fl, s->layers_path, row);
        if (st != CL_OK) {
            cl_free(fuzz);
            return st;
        }
    }
    /* the fit needs L >= 2 and every D > 0; otherwise its cells are nan */
    cl_nc_fit fit = {0};
    int ok = 1;
    for (int l = 0; l < L; l++) ok &= isfinite(fuzz[l]) && fuzz[l] > 0;
    if (!ok || L < 2 || cl_nc_fit_layers(fuzz, L, &fit) != CL_OK) {
        cl_errclear();
        fit.rho = fit.r2 = fit.pearson_r = fit.intercept = NAN;
    }
    cl_free(fuzz);
    snprintf(row, sizeof row, "%d,fit,fit,,,", epoch);
    cl_csv_put(row, sizeof row, fit.rho, 0);
    cl_csv_put(row, sizeof row, fit.r2, 0);
    cl_csv_put(row, sizeof row, fit.pearson_r, 0);
    cl_csv_put(row, sizeof row, fit.intercept, 0);
    return cl_csv_write_row(s->fl, s->layers_path, row);
}

static cl_status save_final(cl_study *s, const tap_job *pen, const float *W, const float *b)
{
    char p[PATH_CAP + 32];
    int64_t D = pen->tap->dim;
    int64_t shape[2] = {s->train->n, D};
    snprintf(p, sizeof p, "%s/features_train.npy", s->dir);
    CL_TRY(cl_npy_write(p, CL_NPY_F32, pen->cache, 2, shape));
    shape[0] = s->K;
    snprintf(p, sizeof p, "%s/W.npy", s->dir);
    CL_TRY(cl_npy_write(p, CL_NPY_F32, W, 2, shape));
    snprintf(p, sizeof p, "%s/b.npy", s->dir);
    return cl_npy_write(p, CL_NPY_F32, b, 1, shape);
}

static cl_status analyze(cl_study *s, const cl_epoch_info *info)
{
    double t0 = cl_clock_seconds();
    cl_model *m = info->model;
    const cl_layer *head = &m->layers[s->cls];
    const int D = s->taps[s->ntaps - 1].dim, K = s->K, e = info->epoch;
    const float *W = m->params + head->param_off;
    float *b = cl_alloc_array((size_t)K, sizeof(float), "classifier bias");
    if (!b) return CL_ENOMEM;
    if (head->spec.bias) memcpy(b, W + (int64_t)K * D, sizeof(float) * (size_t)K);

    int ntrain = s->o.layers ? s->ntaps : 1;
    tap_job *jobs = cl_alloc_array((size_t)ntrain + 1, sizeof *jobs, "study jobs");
    if (!jobs) {
        cl_free(b);
        return CL_ENOMEM;
    }
    tap_job *test_job = &jobs[ntrain];
    for (int j = 0; j < ntrain; j++) jobs[j].tap = &s->taps[s->ntaps - ntrain + j];
    jobs[ntrain - 1].W = test_job->W = W;
    jobs[ntrain - 1].b = test_job->b = b;
    test_job->tap = &s->taps[s->ntaps - 1];

    /* eval loss/accuracy not measured by the trainer (eval_train/eval_test
     * off, or epoch 0) come from the sweeps' logits (eval-mode BN only) */
    double lead[5] = {info->lr, info->train_loss, info->train_acc, info->test_loss,
                      info->test_acc};
    const cl_loss_cfg *own = !s->o.bn_train && info->cfg ? &info->cfg->loss : NULL;
    cl_status st = CL_OK;
    int last = e == s->epochs && s->o.save_features;
    double *mu = NULL, heldout = NAN;
    if (s->test) {
        mu = cl_alloc_array((size_t)K * ((size_t)D + 1), sizeof(double), "training class means");
        if (!mu) {
            st = CL_ENOMEM;
            goto done;
        }
        jobs[ntrain - 1].msum = mu;
    }
    if ((st = analyze_split(s, m, s->train, jobs, ntrain, last, e, isnan(lead[1]) ? own : NULL,
                            &lead[1], &lead[2])) != CL_OK)
        goto done;
    if (mu) { /* class sums -> means (the analyzer has checked no class is empty) */
        int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "class counts");
        if (!cnt) {
            st = CL_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < s->train->n; i++) cnt[s->train->y[i]]++;
        double *mu2 = mu + (size_t)K * D;
        cl_nc_class_means(mu, mu2, cnt, K, D);
        cl_free(cnt);
        test_job->ncc_mu = mu;
        test_job->ncc_mu2 = mu2;
        test_job->ncc_K = K;
    }
    if (last && (st = save_final(s, &jobs[ntrain - 1], W, b)) != CL_OK) goto done;
    free_jobs(jobs, ntrain); /* the caches are not needed any more */
    if (s->test && (st = analyze_split(s, m, s->test, test_job, 1, 0, e,
                                       isnan(lead[3]) ? own : NULL, &lead[3], &lead[4])) != CL_OK)
        goto done;
    if (test_job->ncc_n > 0) heldout = (double)test_job->ncc_ok / (double)test_job->ncc_n;

    s->eval_epoch = e;
    memcpy(s->eval_values, &lead[1], sizeof s->eval_values);
    char row[ROW_CAP];
    snprintf(row, sizeof row, "%d", e);
    for (int i = 0; i < 5; i++) cl_csv_put(row, sizeof row, lead[i], 0);
    for (int split = 0; split < 2; split++) {
        const cl_nc_result *r = split ? &test_job->r : &jobs[ntrain - 1].r;
        for (int i = 0; i < cl_nc_nkeys(); i++)
            if (metric_key(i))
                cl_csv_put(row, sizeof row,
                           split && !s->test ? NAN : cl_nc_key_value(r, i), 0);
    }
    cl_csv_put(row, sizeof row, heldout, 0);
    if (s->o.layers && (st = write_layers(s, e, jobs)) != CL_OK) goto done;
    cl_csv_put(row, sizeof row, info->seconds, 0);
    cl_csv_put(row, sizeof row, cl_clock_seconds() - t0, 0);
    if ((st = cl_csv_write_row(s->fm, s->metrics_path, row)) != CL_OK) goto done;
    /* figures: after the last epoch always; otherwise only while drawing
     * them (timed at the previous draw) costs under 10% of an epoch */
    if (s->o.plots && (e == s->epochs || s->plot_seconds < 0 ||
                       s->plot_seconds < 0.1 * info->seconds)) {
        const char *runs[1] = {s->dir};
        double tp = cl_clock_seconds();
        st = cl_study_plot_runs(runs, 1, s->dir);
        s->plot_seconds = cl_clock_seconds() - tp;
    }
done:
    free_jobs(jobs, ntrain + 1);
    cl_free(jobs);
    cl_free(b);
    cl_free(mu);
    s->last_seconds = cl_clock_seconds() - t0;
    return st;
}

cl_status cl_study_epoch(const cl_epoch_info *info, void *study)
{
    cl_study *s = study;
    if (s->o.none) return CL_OK;
    CL_TRY(start_files(s, info->epoch));
    if (!cl_study_is_analyzed(&s->o, info->epoch, s->epochs)) return CL_OK;
    return analyze(s, info);
}

int cl_study_skip_eval(void *study, int epoch)
{
    const cl_study *s = study;
    return !s->o.none && !s->o.bn_train && cl_study_is_analyzed(&s->o, epoch, s->epochs);
}

int cl_study_eval_values(const cl_study *s, int epoch, double *v)
{
    if (s->eval_epoch != epoch) return 0;
    memcpy(v, s->eval_values, sizeof s->eval_values);
    return 1;
}

cl_status cl_study_initial(cl_study *s, cl_model *m, const cl_train_config *cfg)
{
    if (s->o.none || !s->o.initial || s->o.resume) return CL_OK;
    int need = cfg->eval_batch > cfg->batch ? cfg->eval_batch : cfg->batch;
    if (m->max_n < need) CL_TRY(cl_model_alloc(m, need));
    cl_epoch_info info = {0};
    info.epoch = 0;
    info.epochs = s->epochs;
    cl_sched sc = cfg->sched;
    if (sc.total <= 0) sc.total = s->epochs;
    info.lr = cl_sched_lr(&sc, 0);
    info.train_loss = info.train_acc = info.test_loss = info.test_acc = NAN;
    info.run_loss = info.run_acc = NAN;
    if (s->o.bn_train) { /* the sweeps' logits use batch statistics: evaluate apart */
        CL_TRY(cl_train_evaluate(m, s->train, &cfg->loss, &info.train_loss, &info.train_acc));
        if (s->test)
            CL_TRY(cl_train_evaluate(m, s->test, &cfg->loss, &info.test_loss, &info.test_acc));
    }
    info.model = m;
    info.train = s->train;
    info.test = s->test;
    info.out_dir = s->dir;
    info.cfg = cfg;
    CL_TRY(start_files(s, 0));
    return analyze(s, &info);
}
