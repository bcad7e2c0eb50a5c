/* The per-epoch collapse study: an epoch callback for cl_train_run that
 * measures neural collapse at the analyzed epochs and writes a results
 * folder (docs/study.md has the full file formats).
 *
 *   cl_study_opts so = cl_study_opts_default();   ... set from flags ...
 *   cl_study *st;
 *   cl_study_create(&st, &so, model, &train, &test, "results/run", cfg.epochs);
 *   cl_study_initial(st, model, &cfg);           (optional: epoch 0 = at init)
 *   cl_train_callback cb = {cl_study_epoch, st};  ... cl_train_run(...) ...
 *   cl_study_destroy(st);
 *
 * At an analyzed epoch the study runs eval-mode forward sweeps over the
 * whole training set (no augmentation; BN batch statistics if bn_train) and
 * feeds every tapped layer's output to the streaming analyzer (nc.h): sweep
 * 1 = pass 1 of every stream, sweep 2 = pass 2. When all taps of a split
 * fit in the cache budget, one sweep is done and the features are analysed
 * in memory. The classifier input gets every metric (with the head's W, b),
 * on the train and test splits; every tap gets D and nc1, then the He & Su
 * fit of ln D against the tap index.
 *
 * Files in out_dir (created if missing):
 *   metrics.csv   one row per analyzed epoch: epoch,lr,train_loss,train_acc,
 *                 test_loss,test_acc, the analyzer keys (nc1,D,nc1_quotient,
 *                 cdnv,equinorm_M,...,nc4,ncc_acc) on the train split, the
 *                 same keys prefixed test_, then epoch_seconds,
 *                 analysis_seconds
 *   layers.csv    epoch,layer,name,dim,D,nc1,rho,r2,r,intercept: one row
 *                 per tap (fit columns empty) plus one row per epoch with
 *                 layer = name = "fit" (layer columns empty)
 *   labels_train.npy                      int32 [N], labels as trained
 *   features_train.npy, W.npy, b.npy      at the last epoch (save_features)
 *   *.png                                 figures (plots), redrawn after
 *                                         every analyzed epoch
 * Every CSV row is flushed when written. A resumed run (opts.resume) keeps
 * the rows of earlier epochs and drops rows with epoch >= the first epoch
 * this session reports, so no row is duplicated.
 *
 * Tap rule (cl_study_taps): tap 0 is the model input; then every top-level
 * RELU and BLOCK layer before the classifier (MLP: each hidden layer's
 * activation; ResNet: the stem's ReLU and every residual block); the last
 * tap is the classifier's input (ResNet: the pooled feature), added unless
 * it is already the last tap. */
#ifndef COLLAPSE_STUDY_H
#define COLLAPSE_STUDY_H

#include "collapse/error.h"
#include "collapse/nc.h"
#include "collapse/nn.h"
#include "collapse/train.h"

typedef struct {
    int every;         /* analyze every N epochs (N >= 1); 0 = Papyan's
                          log-spaced list (default). The last epoch is always
                          analyzed. */
    int none;          /* 1: analyze nothing (no metrics files at all) */
    int initial;       /* 1: cl_study_initial analyzes epoch 0 (default 1) */
    int bn_train;      /* 1: BN uses batch statistics in the sweeps (He & Su) */
    int layers;        /* 1: layer-wise D/nc1 + fit (default 1) */
    int plots;         /* 1: draw PNG figures after every analyzed epoch (default 1) */
    int save_features; /* 1: features_train/W/b .npy at the last epoch (default 1) */
    int resume;        /* 1: keep earlier rows of metrics.csv/layers.csv */
    int cache_mb;      /* memory budget for keeping a split's tapped features
                          (one sweep instead of two), default 512 */
    cl_nc_opts nc;     /* analyzer conventions */
} cl_study_opts;

cl_study_opts cl_study_opts_default(void);

/* ---- schedule ---- */

/* 1 if epoch e (1..epochs) is analyzed under `o` (epoch 0 iff o->initial). */
int cl_study_is_analyzed(const cl_study_opts *o, int e, int epochs);
/* Writes the analyzed epochs in 1..epochs, increasing, into out (room for
 * epochs entries, may be NULL) and returns their count. */
int cl_study_schedule(const cl_study_opts *o, int epochs, int *out);

/* ---- taps ---- */

#define CL_STUDY_INPUT_TAP (-1) /* layer index of the input tap */

typedef struct {
    int layer;      /* model layer index whose output is tapped; -1 = input */
    int dim;        /* features per sample */
    char name[32];  /* layer name, or "input" */
} cl_study_tap;

/* Applies the tap rule to m (classifier = cl_model_classifier_index).
 * taps needs room for m->nlayers + 2 entries. Returns the count, or -1 with
 * cl_error(CL_EINVAL) if the model has no classifier layer. */
int cl_study_taps(const cl_model *m, cl_study_tap *taps);

/* ---- the callback ---- */

typedef struct cl_study cl_study;

/* Checks the options, chooses the taps, creates out_dir, opens (or, when
 * resuming, keeps) the CSV files and writes labels_train.npy (train->y).
 * m, train, test must outlive the study; test may be NULL (the test_
 * columns are then "nan"). epochs = the run's total.
 * Errors: CL_EINVAL (options, model without classifier), CL_EIO, CL_ENOMEM. */
cl_status cl_study_create(cl_study **s, const cl_study_opts *o, const cl_model *m,
                          const cl_train_data *train, const cl_train_data *test,
                          const char *out_dir, int epochs);

/* cl_epoch_fn: analyzes info->epoch if it is on the schedule, else returns
 * CL_OK at once. Errors: the analyzer's (message names epoch and layer),
 * CL_EIO (files). */
cl_status cl_study_epoch(const cl_epoch_info *info, void *study);

/* Epoch 0, before training (if opts.initial; else does nothing): allocates
 * the model's buffers for max(cfg->batch, cfg->eval_batch) if needed,
 * evaluates loss/accuracy with cfg->loss and writes the epoch-0 rows. */
cl_status cl_study_initial(cl_study *s, cl_model *m, const cl_train_config *cfg);

/* Wall time of the last analysis (sweeps + analyzer + files + plots). */
double cl_study_last_seconds(const cl_study *s);

void cl_study_destroy(cl_study *s);

/* ---- figures ---- */

/* Draws the figure set from the metrics.csv/layers.csv of one or more run
 * folders into out_dir (PNG, via plot.h), one line per run labelled with
 * the folder's base name. Errors: CL_EIO / CL_EFORMAT naming the CSV file
 * (missing, no header, bad number). */
cl_status cl_study_plot_runs(const char *const *runs, int nruns, const char *out_dir);

#endif
