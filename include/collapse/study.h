/* The per-epoch collapse study: an epoch callback for cl_train_run that
 * measures neural collapse at the analyzed epochs and writes a results
 * folder (docs/study.md has the file formats and an example).
 *
 *   cl_study_opts so = cl_study_opts_default();   ... set from flags ...
 *   cl_study *st;
 *   cl_study_create(&st, &so, model, &train, &test, "results/run", cfg.epochs);
 *   cl_study_initial(st, model, &cfg);           (optional: epoch 0 = at init)
 *   cl_train_callback cb = {cl_study_epoch, st};  ... cl_train_run(...) ...
 *   cl_study_destroy(st);
 *
 * At an analyzed epoch the study runs eval-mode forward sweeps over the
 * whole training set (no augmentation; BN batch statistics if bn_train,
 * running statistics restored) and analyses every tapped layer's output
 * (nc.h). If all taps of a split fit in opts.cache_mb, one sweep copies
 * them and cl_nc_analyze runs in memory; otherwise every tap gets a
 * two-pass stream: sweep 1 feeds pass 1, sweep 2 feeds pass 2. The
 * classifier input gets every metric with the head's W and b (zeros if the
 * head has no bias) on the train and on the test split; every tap gets the
 * fuzziness D and nc1, then the He & Su fit of ln D against the tap index.
 *
 * Files in out_dir (created if missing):
 *   metrics.csv   one row per analyzed epoch: epoch,lr,train_loss,train_acc,
 *                 test_loss,test_acc (from cl_epoch_info; where the trainer
 *                 did not evaluate (NAN, and at epoch 0) they come from the
 *                 logits of the study's own eval-mode sweep, same numbers
 *                 as cl_train_evaluate; with bn_train they stay NAN except
 *                 at epoch 0, evaluated apart), the analyzer keys
 *                 nc1,D,nc1_quotient,cdnv,equinorm_M,equinorm_W,
 *                 equiangular_M,equiangular_W,maxangle_M,maxangle_W,etf_M,
 *                 etf_W,nc3,nc3_zhu,nc4,ncc_acc on the train split, the same
 *                 keys prefixed test_ (test features, same W and b), then
 *                 epoch_seconds (training time of the epoch) and
 *                 analysis_seconds (sweeps + analyzer + files, no figures).
 *                 Numbers are %.17g (exact doubles), "nan" where undefined.
 *   layers.csv    epoch,layer,name,dim,D,nc1,rho,r2,r,intercept: one row
 *                 per tap (layer = tap index 0..L-1, rho..intercept empty)
 *                 then one row with layer = name = "fit" (dim, D, nc1 empty;
 *                 rho = exp(slope), r2, Pearson r, intercept of ln D =
 *                 intercept + ln(rho) * layer; "nan" if some D <= 0 or nan,
 *                 i.e. a layer's class means are rank-deficient)
 *   labels_train.npy                      int32 [N], the labels as trained
 *                                         (after random labels)
 *   features_train.npy [N, dim] f32, W.npy [K, dim] f32, b.npy [K] f32
 *                 at the last epoch (save_features): the exact float32
 *                 features of that epoch's row, in dataset order; the row's
 *                 train metrics are cl_nc_analyze of these files
 *   nc1/nc2/nc3/nc4/accuracy/layers.png   figures (cl_study_plot_runs),
 *                 redrawn after an analyzed epoch while drawing costs under
 *                 10% of the epoch's training time, always after the last
 *                 (a failure to draw them is a warning through opts.warn,
 *                 not an error)
 * Every CSV row is flushed when written. A resumed study (opts.resume)
 * keeps the rows of earlier epochs and, at its first call, drops rows with
 * epoch >= the epoch reported (and an unfinished last line), so no row is
 * duplicated.
 *
 * Tap rule (cl_study_taps): tap 0 is the model input; then every top-level
 * RELU and BLOCK layer before the classifier (MLP: each hidden layer's
 * activation; ResNet: the stem's ReLU and every residual block); the last
 * tap is the classifier's input (ResNet: the pooled, flattened feature),
 * added unless it is already the last tap. */
#ifndef COLLAPSE_STUDY_H
#define COLLAPSE_STUDY_H

#include "collapse/comm.h"
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
    int plots;         /* 1: draw the PNG figures (see above; default 1) */
    int save_features; /* 1: features_train/W/b .npy at the last epoch (default 1) */
    int resume;        /* 1: keep earlier rows of metrics.csv/layers.csv */
    int cache_mb;      /* memory budget (MB) for keeping a split's tapped
                          features: one sweep instead of two (default 512) */
    cl_nc_opts nc;     /* analyzer conventions */
    /* Log hook for warnings, called with a one-line message: today a
     * failure to draw the figures, which does not stop the study (the rows
     * are written; drawing is retried only after the last epoch), and, once
     * per run, class means of rank < min(K-1, dim) (nc1 and D nan in such
     * rows, the layer fit nan; see cl_nc_result.rank_M). NULL =
     * warnings are dropped (default). */
    void (*warn)(void *user, const char *msg);
    void *warn_user;
    /* The process group of a data-parallel run (comm.h; NULL = one process,
     * the default). With more than one rank, every rank holds the model and
     * both splits and calls the study in the same order; each sweeps its
     * shard (cl_comm_shard) of a split, the analyzer's accumulators, class
     * sums, counts and losses are summed over the ranks, and the
     * classifier input of the last epoch is gathered for
     * features_train.npy. The sweeps of every rank use rank 0's BN
     * running statistics (restored after). Rank 0 alone writes files, draws
     * and warns; every rank returns the same status (a failure on one rank
     * is returned by all, the others' message naming that rank). With bn_train every rank
     * sweeps the whole split (batch statistics depend on the batch-mates),
     * so nothing is reduced. The numbers agree with one process to the
     * rounding of the per-rank partial sums (all in double). */
    cl_comm *comm;
} cl_study_opts;

cl_study_opts cl_study_opts_default(void);

/* ---- schedule ----
 * every = 0: each epoch 1..14, then round(14 r^k), k = 1, 2, ..., with
 * r = (350/14)^(1/36) ~ 1.0935, the spacing of Papyan et al.'s 350-epoch
 * list (14 -> 350 in 36 steps; 50 epochs for 350); every = N: N, 2N, ...;
 * the last epoch always; none: nothing. */

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

/* The same into a new array *taps (cl_free it; NULL on error) of *n
 * entries. Errors: CL_ENOMEM, CL_EINVAL (no classifier layer). */
cl_status cl_study_taps_alloc(const cl_model *m, cl_study_tap **taps, int *n);

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

/* Epoch 0, before training (if opts.initial and not opts.resume; else does
 * nothing): allocates the model's buffers for max(cfg->batch,
 * cfg->eval_batch) if needed, evaluates loss/accuracy with cfg->loss and
 * writes the epoch-0 rows (lr = the schedule at t = 0, epoch_seconds 0). */
cl_status cl_study_initial(cl_study *s, cl_model *m, const cl_train_config *cfg);

/* After a resume whose checkpoint is the run's final one (cl_train_run
 * trained nothing): if a row or file of the last epoch is missing
 * (metrics.csv/layers.csv row, features_train/W/b.npy, figures), analyzes
 * the last epoch again from the model as loaded, exactly as the epoch
 * callback would have (lr of the epoch's last batch, epoch_seconds nan),
 * and sets *done = 1. Today's trainer writes the final checkpoint only
 * after the study's files, so this repairs checkpoints written before that
 * order and files deleted by hand. Errors: those of the analysis. */
cl_status cl_study_finish(cl_study *s, cl_model *m, const cl_train_config *cfg, int *done);

/* For cl_train_config.skip_eval: 1 if the study's sweeps of `epoch` give
 * the eval-mode train (and test) loss and accuracy themselves (the epoch is
 * analyzed and BN runs in eval mode), so the trainer need not evaluate. */
int cl_study_skip_eval(void *study, int epoch);

/* The eval-mode train_loss, train_acc, test_loss, test_acc written in the
 * metrics row of `epoch` (v[4]; NAN where not measured). Returns 0 if that
 * epoch was not analyzed in this session. */
int cl_study_eval_values(const cl_study *s, int epoch, double *v);

/* Multi-label runs: the train_f1, test_f1 (macro-F1) of that row (f1[2]).
 * Returns 0 if the run is not multi-label or the epoch was not analyzed in
 * this session. */
int cl_study_eval_f1(const cl_study *s, int epoch, double *f1);

/* Wall time of the last analysis (sweeps + analyzer + files + figures). */
double cl_study_last_seconds(const cl_study *s);

void cl_study_destroy(cl_study *s);

/* ---- figures ---- */

/* Draws the figure set from metrics.csv (required) and layers.csv (if
 * present) of 1..10 run folders into out_dir (which must exist): nc1, nc2
 * (4 panels), nc3 (2 panels), nc4, accuracy against epoch on log axes (epoch
 * 0 and values <= 0 are left out of log axes), and layers.png (ln D against
 * the tap index with the fit line, up to 8 epochs, one panel per run); one
 * color per run, labelled with the folder's base name. Errors: CL_EIO /
 * CL_EFORMAT naming the CSV file (missing, empty, a row with the wrong
 * number of cells, a bad number, a missing column), CL_EIO for PNGs. */
cl_status cl_study_plot_runs(const char *const *runs, int nruns, const char *out_dir);

#define CL_STUDY_BAND_RUNS 64
/* The same figures (without layers.png) for groups of runs: runs whose
 * folder base names differ only in a seed suffix (_s<N>, -s<N>, _seed<N>,
 * -seed<N>, seed<N>) form a group, up to 10 groups of 1..64 runs in all.
 * Each group is one colour, labelled "NAME (n)": its mean over the runs as
 * the line and mean +- the sample standard deviation (n - 1) as a shaded
 * band, at the epochs every run of the group analyzed (on a log axis a
 * lower edge <= 0 is drawn at mean / 10). *ngroups gets the group count.
 * Errors: those of cl_study_plot_runs; CL_EFORMAT when a group has no epoch
 * in common; CL_EINVAL for more than 10 groups. */
cl_status cl_study_plot_bands(const char *const *runs, int nruns, const char *out_dir,
                              int *ngroups);

/* ---- regression runs (study_reg.c) ---- */

/* The regression study: an epoch callback writing OUT/metrics.csv with one
 * row per epoch: epoch, lr, train_loss, train_r2, test_loss, test_r2 (the
 * trainer's eval values: regression loss, mean R^2), the cl_nrc keys of the
 * classifier input with the model's head and the targets of the epoch
 * info's cfg (targets, test_targets) on the training split
 * (suffix _train) and the test split (_test), test_mse_j and test_r2_j per
 * target, and nrc1_train_L<i> of every tap i (the tap rule above; NAN for a
 * tap wider than CL_NRC_MAX_DIM or narrower than n). Two eval-mode sweeps
 * per split per epoch. resume = 1: the first epoch callback keeps the
 * rows of the epochs before it (else the file starts fresh now). After each
 * row it draws OUT/nrc.png and OUT/r2.png (cl_study_plot_runs) when cheap,
 * always after the last epoch; a drawing failure is a warning through the
 * epoch info's cfg->warn, the study goes on.
 * Errors: CL_EINVAL (the head does not output n values), CL_EIO, CL_ENOMEM. */
typedef struct cl_study_reg cl_study_reg;
cl_status cl_study_reg_create(cl_study_reg **s, const cl_model *m, int n, const char *out_dir,
                              int resume);
/* The same for a data-parallel run (comm.h; NULL = one process): each rank
 * sweeps its shard of a split, the NRC streams' sums are reduced over the
 * ranks (cl_nrc_stream_reduce1/2), rank 0 alone writes metrics.csv and the
 * figures, every rank returns the same status (as cl_study_opts.comm). */
cl_status cl_study_reg_create_comm(cl_study_reg **s, const cl_model *m, int n,
                                   const char *out_dir, int resume, cl_comm *comm);
cl_status cl_study_reg_epoch(const cl_epoch_info *info, void *study);
/* on = 0: no figures (--no-plots); the default is 1. */
void cl_study_reg_plots(cl_study_reg *s, int on);
void cl_study_reg_destroy(cl_study_reg *s);

#endif
