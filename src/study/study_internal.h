/* Private to src/study: the study's state and the pieces of one analysis.
 *   study.c   lifecycle, the epoch callback, one analyzed epoch
 *   sweep.c   forward sweeps over a split feeding the analyzer (features)
 *   rows.c    metrics.csv / layers.csv rows and the .npy files
 * dim = features per sample of a tap; K = classes. */
#ifndef COLLAPSE_STUDY_INTERNAL_H
#define COLLAPSE_STUDY_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "collapse/csv.h"
#include "collapse/error.h"
#include "collapse/mlab.h"
#include "collapse/onc.h"
#include "collapse/study.h"

#define CL_STUDY_PATH_CAP 4096
#define CL_STUDY_ROW_CAP 8192

struct cl_study {
    cl_study_opts o;
    const cl_model *m;
    const cl_train_data *train, *test;
    int epochs, K, cls;
    int ntaps;
    cl_study_tap *taps;
    char dir[CL_STUDY_PATH_CAP], metrics_path[CL_STUDY_PATH_CAP + 16],
        layers_path[CL_STUDY_PATH_CAP + 16];
    cl_csv_log fm, fl; /* metrics.csv, layers.csv */
    int started; /* the files are ready for this session */
    double last_seconds;
    double plot_seconds; /* wall time of the last figure drawing, -1 = none yet */
    int plot_failed;     /* drawing failed: retried only after the last epoch */
    int rank_warned;     /* the rank-deficient means warning was given (sweep.c) */
    int eval_epoch;      /* epoch of eval_values (-1 = none yet) */
    double eval_values[4]; /* train_loss, train_acc, test_loss, test_acc of its row */
    unsigned colgroups;      /* analyzer key groups in metrics.csv (CL_NC_GROUP_BIT) */
    unsigned char *minority; /* [K] minority set of the run (o.nc.minority), or NULL */
    /* ordinal head (the model ends in a cumlink layer, --loss clm): the
     * classification keys that need a K x dim classifier are NAN, and the
     * onc keys of the analyzed epoch (train, test) go into extra columns */
    int ord;
    cl_onc_result onc[2];
    int root;   /* this rank writes files, draws and warns (rank 0 of o.comm) */
    int shared; /* a failure was already agreed on (shard.c): skip the final agreement */
    /* multi-label data (train->yk; mlab.c): train/test above are views of
     * the single-label samples (x, y copied into sx, sy), on which every NC
     * key is measured; full[] are the caller's splits (NULL: not
     * multi-label), measured by the mlab keys mres[] and the macro-F1 mf1[] */
    int mlab;
    const cl_train_data *full[2];
    cl_train_data sview[2];
    float *sx[2];
    int32_t *sy[2];
    cl_mlab_result mres[2];
    double mf1[2];
};

/* ---- sweep.c ---- */

/* One tap analyzed on one split. The caller sets tap (and W, b for the
 * classifier input tap; msum or ncc_* for the held-out NCC rule) and zeroes
 * the rest; the sweeps fill r. */
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
    int gather;           /* sharded: the cache is this rank's rows, gathered after pass 2 */
} cl_study_job;

/* Runs the analysis of jobs[0..njobs) on split ds: one sweep if the
 * split's taps fit in s->o.cache_mb (or the job is forced to be cached),
 * else two. force_cache_last: the last job is cached whatever the budget
 * (its cache is then left for the caller). loss != NULL: also the mean
 * loss and accuracy of the sweep's logits into *mean_loss, *acc.
 * Errors: the analyzer's (message prefixed with the epoch and the tap),
 * CL_ENOMEM. Free the jobs' streams and caches with cl_study_jobs_free. */
cl_status cl_study_split_analyze(cl_study *s, cl_model *m, const cl_train_data *ds,
                                 cl_study_job *jobs, int njobs, int force_cache_last, int epoch,
                                 const cl_loss_cfg *loss, double *mean_loss, double *acc);

void cl_study_jobs_free(cl_study_job *jobs, int n);

/* ---- shard.c (data-parallel runs, study.h: opts.comm) ---- */

/* Every rank calls this with its own status at the same point; it returns
 * st if st failed here, or a one-line error naming the lowest failing rank
 * if another rank failed, else CL_OK. Any failure sets s->shared. The rule
 * that keeps ranks out of mismatched collectives: every other collective
 * of the study follows an agreement with no step between them that can
 * fail on one rank only, and a rank that failed elsewhere agrees once on
 * its way out (cl_study_agree_exit). One process: returns st. */
cl_status cl_study_agree(cl_study *s, cl_status st);
/* The same on the group c (before the study exists; leaves no trace). */
cl_status cl_study_agree_comm(cl_comm *c, cl_status st);

/* On the way out of a study entry point: agrees on st unless a failure
 * was already agreed on, and clears s->shared for the next call. */
cl_status cl_study_agree_exit(cl_study *s, cl_status st);

/* 1 if the sweeps of a study are sharded over the ranks of c (more than
 * one rank and not bn_train); then *view = this rank's rows [*lo, hi) of
 * ds, else *view = ds and *lo = 0. */
int cl_study_shard(cl_comm *c, int bn_train, const cl_train_data *ds, cl_train_data *view,
                   int64_t *lo);

/* Replaces the shard cache of a gathered job (rows [lo, lo + n) of an N-row
 * split) by the whole split's [N, dim] features on every rank. full: the
 * zeroed [N, dim] buffer allocated before the last agreement. */
cl_status cl_study_gather(cl_study *s, cl_study_job *t, float *full, int64_t lo, int64_t n,
                          int64_t N);

/* Sharded sweeps (more than one rank, not bn_train) use rank 0's BN
 * running statistics on every rank, so that all shards are analysed with
 * one model: data-parallel training keeps the parameters equal on every
 * rank but not the per-rank statistics (PyTorch DDP broadcasts them for
 * the same reason). Copies this rank's m->bufs into *own (for
 * cl_study_bufs_restore; NULL when nothing was shared), agrees (setting
 * *shared on a failure) and broadcasts rank 0's. Errors: CL_ENOMEM, those
 * of the agreement and of the broadcast. */
cl_status cl_study_bufs_share(cl_comm *c, int bn_train, cl_model *m, float **own, int *shared);
/* Puts this rank's statistics back and frees own (NULL: nothing). */
void cl_study_bufs_restore(cl_model *m, float *own);

/* ---- rows.c ---- */

/* Starts the logs of metrics.csv (and layers.csv if o.layers): fresh
 * files with the headers (resume = 0), or keeping the rows of epochs <
 * from_epoch (resume = 1). Errors: CL_EIO, CL_EFORMAT (csv.h). */
cl_status cl_study_files_open(cl_study *s, int resume, int from_epoch);

/* The metrics.csv row of one analyzed epoch. lead [5] = lr, train_loss,
 * train_acc, test_loss, test_acc; rtrain, rtest: the classifier input's
 * results (rtest unused without a test split); heldout: the held-out NCC
 * accuracy; then epoch_seconds and analysis_seconds. Errors: CL_EIO. */
cl_status cl_study_metrics_write(cl_study *s, int epoch, const double *lead,
                                 const cl_nc_result *rtrain, const cl_nc_result *rtest,
                                 double heldout, double epoch_seconds, double analysis_seconds);

/* The layers.csv rows of one analyzed epoch: one per tap (jobs[l].r of
 * tap l, every tap), then the fit row. Errors: CL_EIO, CL_ENOMEM. */
cl_status cl_study_layers_write(cl_study *s, int epoch, const cl_study_job *jobs);

/* features_train.npy from the cached classifier input pen, W.npy [K, dim]
 * and b.npy [K]. Errors: CL_EIO. */
cl_status cl_study_features_save(cl_study *s, const cl_study_job *pen, const float *W,
                                 const float *b);

/* ---- ordinal.c ---- */

/* 1 if m ends in a cumlink layer right after a 1-unit classifier (the
 * ordinal head); 0 if it has no cumlink layer; -1 with cl_error(CL_EINVAL)
 * for any other use of cumlink or a threshold count that is not K-1. */
int cl_study_ordinal(const cl_model *m, int cls, int K);

/* The onc keys (onc.h) of one split into *r: class sums [K, dim] (from the
 * sweep, in sample order; not modified) and the split's labels give the
 * class means; w = the classifier's weight, b = the cumlink thresholds;
 * onc1 = the nc1_quotient of the split's row. Errors: cl_onc_from_means', CL_ENOMEM. */
cl_status cl_study_onc(const cl_study *s, const cl_model *m, const double *sums,
                       const cl_train_data *ds, double onc1, cl_onc_result *r);

/* thresholds.npy: the K-1 thresholds as float64 (the exact values of the
 * row). Errors: CL_EIO. */
cl_status cl_study_thresholds_save(const cl_study *s, const cl_model *m);

/* ---- mlab.c ---- */

/* Multi-label data: sets s->mlab, keeps train/test in s->full, and points
 * s->train/s->test at views of their single-label samples. Errors:
 * CL_ENOMEM, CL_EINVAL (bad K-hot rows, no single-label sample). */
cl_status cl_study_mlab_init(cl_study *s);
void cl_study_mlab_free(cl_study *s);

/* The mlab keys of both splits (one eval sweep over every sample each);
 * where lead's loss is NAN (the trainer skipped its eval) also the PAL loss
 * and exact-set accuracy into lead [5] (lr, train loss, acc, test loss,
 * acc), and the macro-F1 (else info's). Errors: the analyzer's (prefixed
 * with the epoch), the loss's, CL_ENOMEM. */
cl_status cl_study_mlab_epoch(cl_study *s, cl_model *m, const cl_epoch_info *info,
                              double *lead);

/* Eval-mode loss, exact-set accuracy and macro-F1 of the full splits into
 * info (train and/or test), for an epoch analysed outside the trainer in BN
 * train mode. Errors: cl_train_evaluate_khot's. */
cl_status cl_study_mlab_eval(cl_study *s, cl_model *m, const cl_loss_cfg *loss, int train,
                             int test, cl_epoch_info *info);

/* metrics.csv columns of multi-label runs, after every other column:
 * train_f1, the mlab keys, test_f1, test_ + the mlab keys. */
void cl_study_mlab_header(char *h, size_t cap);
void cl_study_mlab_row(const cl_study *s, char *row, size_t cap);

/* ---- seed groups of `collapse plot --bands` (figures_bands.c) ---- */

/* The group name of a run folder's base name: name without a trailing seed
 * suffix _s<N>, -s<N>, _seed<N>, -seed<N> or seed<N> ("seed3" -> "seed"). */
void cl_study_seed_group(const char *name, char *group, size_t cap);

/* Mean and sample standard deviation (n - 1; 0 for one run) of n runs'
 * metrics.csv per cell, at the epochs every run has (the first run's
 * order), for the first run's columns; a column another run lacks or a
 * non-finite value gives NaN there. mean and sd are new tables (names and
 * num; free with cl_csv_free). Errors: CL_EINVAL (n not in 1..64),
 * CL_EFORMAT (no epoch column, or no epoch common to all runs: names the
 * first run's file), CL_ENOMEM. */
cl_status cl_study_bands_reduce(const cl_csv *const *runs, int n, cl_csv *mean, cl_csv *sd);

#endif
