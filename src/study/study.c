/* The per-epoch collapse study (study.h): its lifecycle, the epoch
 * callback and one analyzed epoch. The forward sweeps over the splits are
 * in sweep.c, the rows and files in rows.c.
 *
 * The classifier input of the training split is always cached at the last
 * epoch when the features are saved, so that features_train.npy reproduces
 * the row exactly through cl_nc_analyze (the row is computed by that very
 * call). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/sys.h"
#include "study_internal.h"

/* The metrics.csv key groups, decided once per run: base always;
 * imbalance when the training class counts differ (minority = fewer
 * samples than the largest class) or the caller gave o.nc.minority; gnc
 * when o.nc.gnc or the classifier input has fewer than K-1 dimensions.
 * Sets s->o.nc to match (the run's own copy of the minority set, used by
 * both splits). */
static cl_status column_groups(cl_study *s)
{
    const int K = s->K;
    s->colgroups = CL_NC_GROUP_BIT(CL_NC_GROUP_BASE);
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "study class counts");
    if (!cnt) return CL_ENOMEM;
    for (int64_t i = 0; i < s->train->n; i++)
        if (s->train->y[i] >= 0 && s->train->y[i] < K) cnt[s->train->y[i]]++;
    int64_t top = 0;
    int differ = 0;
    for (int c = 0; c < K; c++) top = cnt[c] > top ? cnt[c] : top;
    for (int c = 0; c < K; c++) differ |= cnt[c] != top;
    if (s->o.nc.minority || differ) {
        s->minority = cl_alloc_array((size_t)K, 1, "study minority set");
        if (!s->minority) {
            cl_free(cnt);
            return CL_ENOMEM;
        }
        for (int c = 0; c < K; c++)
            s->minority[c] = s->o.nc.minority ? s->o.nc.minority[c] != 0 : cnt[c] < top;
        s->o.nc.minority = s->minority;
        s->colgroups |= CL_NC_GROUP_BIT(CL_NC_GROUP_IMBALANCE);
    }
    cl_free(cnt);
    if (s->taps[s->ntaps - 1].dim < K - 1) s->o.nc.gnc = 1;
    if (s->o.nc.gnc) s->colgroups |= CL_NC_GROUP_BIT(CL_NC_GROUP_GNC);
    return CL_OK;
}

static cl_status study_init(cl_study *s, const cl_study_opts *o, const cl_model *m,
                            const cl_train_data *train, const cl_train_data *test,
                            const char *out_dir, int epochs);

cl_status cl_study_create(cl_study **out, const cl_study_opts *o, const cl_model *m,
                          const cl_train_data *train, const cl_train_data *test,
                          const char *out_dir, int epochs)
{
    *out = NULL;
    if (o->every < 0) return cl_error(CL_EINVAL, "--analyze-every: must be >= 1");
    if (o->cache_mb < 0) return cl_error(CL_EINVAL, "study: cache budget must be >= 0 MB");
    if (epochs < 1) return cl_error(CL_EINVAL, "study: epochs must be >= 1");
    if (!out_dir || !*out_dir) return cl_error(CL_EINVAL, "study: no results folder");
    if (strlen(out_dir) >= CL_STUDY_PATH_CAP - 32)
        return cl_error(CL_EINVAL, "%s: results folder path too long", out_dir);
    if (train->n < 1 || train->classes < 2)
        return cl_error(CL_EINVAL, "study: the training set needs samples and >= 2 classes");
    if (cl_shape_size(train->shape) != cl_shape_size(m->in))
        return cl_error(CL_EINVAL, "study: data and model input sizes differ");
    if (test && (test->classes != train->classes ||
                 cl_shape_size(test->shape) != cl_shape_size(m->in)))
        return cl_error(CL_EINVAL, "study: the test set does not match the training set");
    cl_study *s = cl_alloc(sizeof *s, "study");
    cl_status st = s ? study_init(s, o, m, train, test, out_dir, epochs) : CL_ENOMEM;
    /* rank 0 alone writes the files: every rank returns its status */
    if ((st = cl_study_agree_comm(o->comm, st)) != CL_OK) {
        cl_study_destroy(s);
        return st;
    }
    *out = s;
    return CL_OK;
}

/* The rest of cl_study_create, into the zeroed s. */
static cl_status study_init(cl_study *s, const cl_study_opts *o, const cl_model *m,
                            const cl_train_data *train, const cl_train_data *test,
                            const char *out_dir, int epochs)
{
    s->o = *o;
    s->root = cl_comm_rank(o->comm) == 0;
    s->m = m;
    s->train = train;
    s->test = test;
    s->epochs = epochs;
    s->K = train->classes;
    if (train->yk) CL_TRY(cl_study_mlab_init(s));
    s->cls = cl_model_classifier_index(m);
    if (s->cls >= 0 && m->layers[s->cls].spec.kind == CL_LAYER_COSINE)
        s->o.nc.nc4_cosine = 1; /* NC4 compares the cosine head's own decision */
    s->plot_seconds = -1;
    s->eval_epoch = -1;
    CL_TRY(cl_study_taps_alloc(m, &s->taps, &s->ntaps));
    const cl_layer *head = &m->layers[s->cls];
    if ((s->ord = cl_study_ordinal(m, s->cls, s->K)) < 0) return CL_EINVAL;
    if ((!s->ord && head->out.c * head->out.h * head->out.w != s->K) ||
        cl_shape_size(head->in) != s->taps[s->ntaps - 1].dim)
        return cl_error(CL_EINVAL, "study: classifier '%s' does not map the features to %d classes",
                        head->spec.name, s->K);
    CL_TRY(column_groups(s));
    snprintf(s->dir, sizeof s->dir, "%s", out_dir);
    snprintf(s->metrics_path, sizeof s->metrics_path, "%s/metrics.csv", out_dir);
    snprintf(s->layers_path, sizeof s->layers_path, "%s/layers.csv", out_dir);
    if (o->none) return CL_OK;
    if (!o->resume) s->started = 1; /* fresh files now, so even a run that dies early has headers */
    if (!s->root) return CL_OK;
    CL_TRY(cl_mkdir_p(out_dir));
    char p[CL_STUDY_PATH_CAP + 32];
    snprintf(p, sizeof p, "%s/labels_train.npy", out_dir);
    int64_t shape[1] = {s->train->n}; /* multi-label: the single-label samples */
    CL_TRY(cl_npy_write(p, CL_NPY_I32, s->train->y, 1, shape));
    return o->resume ? CL_OK : cl_study_files_open(s, 0, 0);
}

void cl_study_destroy(cl_study *s)
{
    if (!s) return;
    cl_csv_log_free(&s->fm);
    cl_csv_log_free(&s->fl);
    cl_free(s->taps);
    cl_free(s->minority);
    cl_study_mlab_free(s);
    cl_free(s);
}

double cl_study_last_seconds(const cl_study *s) { return s->last_seconds; }

/* First call of a resumed session: drop rows of epochs >= e. */
static cl_status start_files(cl_study *s, int e)
{
    if (s->started || s->o.none) return CL_OK;
    s->started = 1; /* on every rank; rank 0 alone has files */
    return s->root ? cl_study_files_open(s, 1, e) : CL_OK;
}

/* ---- one analyzed epoch ---- */

/* The training class sums in mu [K, dim] (+ K) -> the class means and
 * their squared norms, handed to the test split's job for the held-out NCC
 * rule (the analyzer has checked that no class is empty). */
static cl_status train_means(const cl_study *s, double *mu, int dim, cl_study_job *test_job)
{
    const int K = s->K;
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "class counts");
    if (!cnt) return CL_ENOMEM;
    for (int64_t i = 0; i < s->train->n; i++) cnt[s->train->y[i]]++;
    double *mu2 = mu + (size_t)K * dim;
    cl_nc_class_means(mu, mu2, cnt, K, dim);
    cl_free(cnt);
    test_job->ncc_mu = mu;
    test_job->ncc_mu2 = mu2;
    test_job->ncc_K = K;
    return CL_OK;
}

/* Figures: after the last epoch always; otherwise only while drawing them
 * (timed at the previous draw) costs under 10% of an epoch, and, once
 * drawing has failed, not before the last epoch. A failure is a warning
 * through opts.warn: the study goes on. */
static void draw_figures(cl_study *s, int e, double epoch_seconds)
{
    int final = e == s->epochs;
    if (!s->root || !s->o.plots || !(final || (!s->plot_failed && (s->plot_seconds < 0 ||
                                                       s->plot_seconds < 0.1 * epoch_seconds))))
        return;
    const char *runs[1] = {s->dir};
    double tp = cl_clock_seconds();
    cl_status st = cl_study_plot_runs(runs, 1, s->dir);
    s->plot_seconds = cl_clock_seconds() - tp;
    if (st == CL_OK) return;
    s->plot_failed = 1;
    if (s->o.warn) {
        char msg[768];
        snprintf(msg, sizeof msg, "epoch %d: figures not drawn (%s); the study goes on%s", e,
                 cl_errmsg(), final ? "" : ", next try after the last epoch");
        s->o.warn(s->o.warn_user, msg);
    }
    cl_errclear();
}

static cl_status analyze_model(cl_study *s, const cl_epoch_info *info, double t0);

/* One analysed epoch; under MPI with rank 0's BN statistics (shard.c). */
static cl_status analyze(cl_study *s, const cl_epoch_info *info)
{
    double t0 = cl_clock_seconds();
    float *own = NULL;
    cl_status st = cl_study_bufs_share(s->o.comm, s->o.bn_train, info->model, &own, &s->shared);
    if (st == CL_OK) st = analyze_model(s, info, t0);
    cl_study_bufs_restore(info->model, own);
    return st;
}

static cl_status analyze_model(cl_study *s, const cl_epoch_info *info, double t0)
{
    cl_model *m = info->model;
    const cl_layer *head = &m->layers[s->cls];
    const int dim = s->taps[s->ntaps - 1].dim, K = s->K, e = info->epoch;
    const float *W = m->params + head->param_off;
    float *b = cl_alloc_array((size_t)K, sizeof(float), "classifier bias");
    if (!b) return CL_ENOMEM;
    if (head->spec.bias) memcpy(b, W + (int64_t)K * dim, sizeof(float) * (size_t)K);

    int ntrain = s->o.layers ? s->ntaps : 1;
    cl_study_job *jobs = cl_alloc_array((size_t)ntrain + 1, sizeof *jobs, "study jobs");
    if (!jobs) {
        cl_free(b);
        return CL_ENOMEM;
    }
    cl_study_job *pen = &jobs[ntrain - 1], *test_job = &jobs[ntrain];
    for (int j = 0; j < ntrain; j++) jobs[j].tap = &s->taps[s->ntaps - ntrain + j];
    /* ordinal head: no K x dim classifier, its keys are NAN (the onc keys use w) */
    pen->W = test_job->W = s->ord ? NULL : W;
    pen->b = test_job->b = s->ord ? NULL : b;
    test_job->tap = &s->taps[s->ntaps - 1];

    /* eval loss/accuracy not measured by the trainer (eval_train/eval_test
     * off, or epoch 0) come from the sweeps' logits (eval-mode BN only) */
    double lead[5] = {info->lr, info->train_loss, info->train_acc, info->test_loss,
                      info->test_acc};
    const cl_loss_cfg *own = !s->o.bn_train && info->cfg ? &info->cfg->loss : NULL;
    /* multi-label splits are scored on all their samples (mlab.c), not on the views */
    const cl_loss_cfg *own_tr = s->mlab ? NULL : own, *own_te = s->full[1] ? NULL : own;
    cl_status st = CL_OK;
    int last = e == s->epochs && s->o.save_features;
    double *mu = NULL, *mu_te = NULL, heldout = NAN;
    if (s->test || s->ord) { /* the training class sums, [K, dim] + K for the squared norms */
        mu = cl_alloc_array((size_t)K * ((size_t)dim + 1), sizeof(double), "training class means");
        if (!mu) {
            st = CL_ENOMEM;
            goto done;
        }
        pen->msum = mu;
    }
    if (s->ord && s->test) { /* the test class sums, for the test onc keys */
        if (!(mu_te = cl_alloc_array((size_t)K * (size_t)dim, sizeof(double), "test class sums"))) {
            st = CL_ENOMEM;
            goto done;
        }
        test_job->msum = mu_te;
    }
    if ((st = cl_study_split_analyze(s, m, s->train, jobs, ntrain, last, e,
                                     isnan(lead[1]) ? own_tr : NULL, &lead[1], &lead[2])) != CL_OK)
        goto done;
    if (s->ord && (st = cl_study_onc(s, m, mu, s->train, pen->r.nc1_quotient, &s->onc[0])) != CL_OK)
        goto done;
    if (s->test && (st = train_means(s, mu, dim, test_job)) != CL_OK) goto done;
    if (last && s->root && (st = cl_study_features_save(s, pen, W, b)) != CL_OK) goto done;
    if (last && s->ord && s->root && (st = cl_study_thresholds_save(s, m)) != CL_OK) goto done;
    cl_study_jobs_free(jobs, ntrain); /* the caches are not needed any more */
    if (s->test && (st = cl_study_split_analyze(s, m, s->test, test_job, 1, 0, e,
                                                isnan(lead[3]) ? own_te : NULL, &lead[3],
                                                &lead[4])) != CL_OK)
        goto done;
    if (test_job->ncc_n > 0) heldout = (double)test_job->ncc_ok / (double)test_job->ncc_n;
    if (mu_te && (st = cl_study_onc(s, m, mu_te, s->test, test_job->r.nc1_quotient, &s->onc[1])) != CL_OK)
        goto done;
    if (s->mlab && (st = cl_study_mlab_epoch(s, m, info, lead)) != CL_OK) goto done;

    s->eval_epoch = e;
    memcpy(s->eval_values, &lead[1], sizeof s->eval_values);
    if (s->root && s->o.layers && (st = cl_study_layers_write(s, e, jobs)) != CL_OK) goto done;
    if (s->root && (st = cl_study_metrics_write(s, e, lead, &pen->r, &test_job->r, heldout,
                                                info->seconds, cl_clock_seconds() - t0)) != CL_OK)
        goto done;
    /* the rows are on disk now (each write is temp + fsync + rename, io/atomic.c): the
     * trainer writes the epoch's checkpoint after this callback, and a checkpoint must
     * never be on disk ahead of its epoch's rows (a resume would not redo them) */
    draw_figures(s, e, info->seconds);
done:
    cl_study_jobs_free(jobs, ntrain + 1);
    cl_free(jobs);
    cl_free(b);
    cl_free(mu);
    cl_free(mu_te);
    s->last_seconds = cl_clock_seconds() - t0;
    return st;
}

cl_status cl_study_epoch(const cl_epoch_info *info, void *study)
{
    cl_study *s = study;
    if (s->o.none) return CL_OK;
    int first = !s->started, an = cl_study_is_analyzed(&s->o, info->epoch, s->epochs);
    cl_status st = start_files(s, info->epoch);
    if (st == CL_OK && an) st = analyze(s, info);
    /* rank 0's files may have failed: every rank returns the same status */
    return first || an ? cl_study_agree_exit(s, st) : st;
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

int cl_study_eval_f1(const cl_study *s, int epoch, double *f1)
{
    if (!s->mlab || s->eval_epoch != epoch) return 0;
    memcpy(f1, s->mf1, sizeof s->mf1);
    return 1;
}

/* Analyzes `epoch` outside the trainer (epoch 0, or the last epoch again on
 * a resume) at learning rate t (in epochs) of the schedule: allocates the
 * model's buffers as the trainer does; with bn_train the eval-mode loss and
 * accuracy are measured apart (the sweeps' logits use batch statistics),
 * the train split if eval_train, the test split if eval_test. */
static cl_status analyze_outside(cl_study *s, cl_model *m, const cl_train_config *cfg, int epoch,
                                 double t, int eval_train, int eval_test, double seconds)
{
    int need = cfg->eval_batch > cfg->batch ? cfg->eval_batch : cfg->batch;
    if (m->max_n < need) CL_TRY(cl_model_alloc(m, need));
    cl_epoch_info info = {0};
    info.epoch = epoch;
    info.epochs = s->epochs;
    cl_sched sc = cfg->sched;
    if (sc.total <= 0) sc.total = s->epochs;
    info.lr = cl_sched_lr(&sc, t);
    info.train_loss = info.train_acc = info.test_loss = info.test_acc = NAN;
    info.run_loss = info.run_acc = NAN;
    info.train_f1 = info.test_f1 = NAN;
    info.seconds = seconds;
    if (s->mlab && s->o.bn_train) /* multi-label: the F1 too (mlab.c) */
        CL_TRY(cl_study_mlab_eval(s, m, &cfg->loss, eval_train, eval_test, &info));
    else if (s->o.bn_train && eval_train)
        CL_TRY(cl_train_evaluate(m, s->train, &cfg->loss, &info.train_loss, &info.train_acc));
    if (!s->full[1] && s->o.bn_train && eval_test && s->test)
        CL_TRY(cl_train_evaluate(m, s->test, &cfg->loss, &info.test_loss, &info.test_acc));
    info.model = m;
    info.train = s->train;
    info.test = s->test;
    info.out_dir = s->dir;
    info.cfg = cfg;
    CL_TRY(start_files(s, epoch));
    return analyze(s, &info);
}

cl_status cl_study_initial(cl_study *s, cl_model *m, const cl_train_config *cfg)
{
    if (s->o.none || !s->o.initial || s->o.resume) return CL_OK;
    return cl_study_agree_exit(s, analyze_outside(s, m, cfg, 0, 0, 1, 1, 0));
}

/* 1 if path holds a complete line starting with prefix. */
static int has_line(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0, n = strlen(prefix);
    ssize_t len;
    int found = 0;
    while (!found && (len = getline(&line, &cap, f)) > 0)
        found = (size_t)len > n && line[len - 1] == '\n' && !strncmp(line, prefix, n);
    free(line);
    fclose(f);
    return found;
}

static int has_file(const cl_study *s, const char *name)
{
    char p[CL_STUDY_PATH_CAP + 32];
    snprintf(p, sizeof p, "%s/%s", s->dir, name);
    return access(p, F_OK) == 0;
}

/* 1 if a file or row of the last epoch is missing. */
static int final_missing(const cl_study *s)
{
    char key[32];
    snprintf(key, sizeof key, "%d,", s->epochs);
    if (!has_line(s->metrics_path, key)) return 1;
    snprintf(key, sizeof key, "%d,fit,", s->epochs);
    if (s->o.layers && !has_line(s->layers_path, key)) return 1;
    if (s->o.save_features &&
        (!has_file(s, "features_train.npy") || !has_file(s, "W.npy") ||
         !has_file(s, s->ord ? "thresholds.npy" : "b.npy")))
        return 1;
    return s->o.plots && !has_file(s, "nc1.png");
}

cl_status cl_study_finish(cl_study *s, cl_model *m, const cl_train_config *cfg, int *done)
{
    *done = 0;
    if (s->o.none || s->eval_epoch == s->epochs) return CL_OK;
    int64_t missing = s->root && final_missing(s); /* rank 0's files decide */
    CL_TRY(cl_comm_bcast(s->o.comm, &missing, sizeof missing));
    if (!missing) return CL_OK;
    /* the lr of the epoch's last batch, as the trainer reports it; the
     * epoch's training time is gone (epoch_seconds nan) */
    const int64_t n = s->full[0] ? s->full[0]->n : s->train->n; /* multi-label: all rows */
    int64_t batches = (n + cfg->batch - 1) / cfg->batch;
    CL_TRY(cl_study_agree_exit(
        s, analyze_outside(s, m, cfg, s->epochs,
                           (s->epochs - 1) + (double)(batches - 1) / (double)batches,
                           cfg->eval_train, cfg->eval_test, NAN)));
    *done = 1;
    return CL_OK;
}
