/* The training loop as a library function, plus batched evaluation.
 *
 *   cl_train_config cfg = cl_train_config_default();   (Papyan et al. defaults)
 *   ... set cfg.epochs, cfg.out_dir, cfg.stop, callbacks ...
 *   cl_train_run(&cfg, model, train, test, callbacks, ncallbacks, &result);
 *
 * The library never prints: per-batch progress and per-epoch records reach
 * the caller through callbacks (the CLI prints them). Per-epoch analysis
 * (the study) is an epoch callback that may run eval-mode forward passes
 * with cl_train_forward_each, which reuses the model's preallocated buffers.
 *
 * Determinism: the same config (seed, batch, ...) and the same thread count
 * give bitwise identical parameters, with or without a checkpoint/resume in
 * between (the checkpoint stores params, bufs, optimizer state, RNG states,
 * the epoch's data permutation and the position in it).
 *
 * Nothing is allocated per batch: a trainer allocates its batch buffers,
 * dlogits and the permutation once at the start of cl_train_run. */
#ifndef COLLAPSE_TRAIN_H
#define COLLAPSE_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "collapse/comm.h"
#include "collapse/data.h"
#include "collapse/error.h"
#include "collapse/loss.h"
#include "collapse/nn.h"
#include "collapse/optim.h"
#include "collapse/sched.h"

#define CL_TRAIN_MAX_TARGETS 64 /* regression outputs at most */

typedef enum {
    CL_TASK_CLASSIFY = 0, /* labels y, cfg.loss (default) */
    CL_TASK_REGRESS       /* targets (cfg.targets, cfg.test_targets), loss
                             cl_loss_regress (loss.h); the model outputs one
                             value per target; labels are unused (give the
                             data views classes = 0); the acc fields of epoch
                             infos and results hold the mean R^2 over targets
                             (run_acc: NAN) */
} cl_task;

typedef struct {
    int epochs;          /* total epochs (default 30) */
    int batch;           /* mini-batch size (default 128); the last partial batch
                            of an epoch is used as is (PyTorch drop_last=False) */
    int64_t max_steps;   /* stop after this many optimizer steps in total
                            (0 = no limit; for tests). A checkpoint is written
                            there when ckpt_dir is set. */
    int eval_batch;      /* batch size of eval passes (0 = batch) */
    cl_loss_cfg loss;    /* default CE (classification only) */
    cl_task task;        /* default CL_TASK_CLASSIFY */
    const float *targets, *test_targets; /* regression: [n, outputs] of the training
                            and test data by sample index (never augmented) */
    cl_optim_cfg optim;  /* default SGD momentum 0.9, wd 5e-4 both groups */
    cl_sched sched;      /* default MULTISTEP lr 0.1 (Papyan milestones at 1/3, 2/3);
                            unit: epochs, evaluated at fractional epochs
                            (epoch + batch index / batches per epoch); sched.total is set
                            to epochs by cl_train_run when it is 0 */
    uint64_t seed;       /* data order and augmentation streams (default 1) */
    int eval_train;      /* 1: eval-mode loss/acc on the whole train set at every
                            epoch end (default 1) */
    int eval_test;       /* 1: same on the test set when one is given (default 1) */
    int check_every;     /* check the gradient for NaN/Inf every N steps (default 1;
                            the loss is checked every step) */
    /* Optional: asked at the end of every epoch (1-based) before the eval
     * passes; returning 1 skips them for that epoch, so the epoch info and
     * the result carry NAN train/test loss and accuracy. For an epoch
     * callback that measures them anyway (the study's sweeps), so the same
     * forward passes are not run twice. NULL = never skip. */
    int (*skip_eval)(void *user, int epoch);
    void *skip_eval_user;

    /* Results folder handed to callbacks (the study writes metrics there);
     * NULL = none. The library itself writes nothing there. */
    const char *out_dir;
    /* Checkpoints (ckpt.h), NULL = none. The CLI uses OUT/checkpoint. Written
     * at the end of every ckpt_every-th epoch (default 1) and of the last, on
     * max_steps, and on stop; at an epoch end after the epoch callbacks, so
     * a checkpoint never runs ahead of the results they write. Each goes
     * into the slot not holding the newest good checkpoint (ckpt.h). */
    const char *ckpt_dir;
    int ckpt_every;
    /* > 0: also keep a copy of the checkpoint of every keep_every-th epoch in
     * ckpt_dir/epoch-EEEE (cl_ckpt_kept_dir; written at that epoch's end
     * right after the slot save, begin/commit like a slot), for probing over
     * training. A resume never reads them; they do not change the run. 0 = none. */
    int keep_every;
    const char *model_text; /* model spec text stored in model.ckpt (modelcfg.h) */
    uint64_t config_hash;   /* stored in the state; resume refuses a mismatch */
    int resume;             /* 1: continue from ckpt_dir's newest good checkpoint */
    /* Log hook for warnings, a one-line message: today that a resume fell
     * back to an older checkpoint because the newest is corrupt ("OUT/
     * checkpoint/b/model.ckpt: checksum mismatch (corrupt); resuming from
     * OUT/checkpoint/a (epoch 3, step 90)"). NULL = dropped. */
    void (*warn)(void *user, const char *msg);
    void *warn_user;

    /* Polled once per batch (at its end). When *stop becomes non-zero, the
     * loop writes a checkpoint (if ckpt_dir) and returns CL_EINTERRUPT.
     * NULL = never. Set it from a signal handler. */
    volatile sig_atomic_t *stop;

    /* Data-parallel training (issue 12, train/ddp.h), NULL = one process.
     * Every rank calls cl_train_run with the same config and data; batch is
     * the global batch, each rank trains on its slice of it and the gradients
     * are summed over the ranks (the result equals one process up to the
     * float summation order). Only rank 0 writes checkpoints; all ranks read
     * them on resume. Errors in the step and at checkpoints, and the stop
     * flag, are agreed by every rank, so they stop together. sync_bn: BN uses
     * the statistics of the global batch (else each rank's slice). */
    cl_comm *comm;
    int sync_bn;
} cl_train_config;

cl_train_config cl_train_config_default(void);

typedef struct cl_trainer cl_trainer;

/* Handed to epoch callbacks after every epoch (and to the progress callback). */
typedef struct {
    int epoch;            /* 1-based number of the epoch that just finished */
    int epochs;           /* total epochs */
    int64_t step;         /* optimizer steps so far (whole run) */
    int batch_index;      /* progress: batches done in this epoch */
    int batches;          /* batches per epoch */
    double lr;            /* learning rate used by the last step */
    double run_loss, run_acc;     /* mean over this epoch's batches (train mode) */
    double train_loss, train_acc; /* eval mode on the whole train set (NAN if not done) */
    double test_loss, test_acc;   /* eval mode on the test set (NAN if not done) */
    double seconds;       /* wall time of this epoch's training (no eval) */
    double img_per_s;     /* training images per second in this epoch */
    double eta_seconds;   /* progress: estimated time left in the run */
    cl_model *model;
    const cl_train_data *train, *test; /* test may be NULL */
    const char *out_dir;  /* results folder (cfg->out_dir), NULL if none */
    const cl_train_config *cfg;
    /* multi-label data (train->yk): the accuracies above are exact-set
     * matches of the top-m rule (loss.h), and these the macro-F1 of the
     * eval passes (NAN if not done or single-label data) */
    double train_f1, test_f1;
} cl_epoch_info;

/* Epoch callback. A non-OK status stops the run with that status (the
 * checkpoint of this epoch is not written: a resume redoes the epoch). */
typedef cl_status (*cl_epoch_fn)(const cl_epoch_info *info, void *user);

typedef struct {
    cl_epoch_fn fn;
    void *user;
} cl_train_callback;

/* Optional progress hook, called after every batch (info has epoch = the
 * running epoch, batch_index, run_loss/run_acc so far, img_per_s, eta). */
typedef void (*cl_progress_fn)(const cl_epoch_info *info, void *user);

typedef struct {
    const cl_train_callback *epoch_cbs; /* called in order after each epoch */
    int nepoch_cbs;
    cl_progress_fn progress;            /* NULL = none */
    void *progress_user;
} cl_train_hooks;

typedef struct {
    int epochs_done;       /* completed epochs */
    int64_t steps;         /* optimizer steps done in total */
    double train_loss, train_acc, test_loss, test_acc; /* last evaluated values */
    double seconds;        /* wall time of this call */
    /* Data-parallel runs (cfg.comm of 2 or more ranks), else 0: steps done;
     * the seconds this rank waited for the gradient sums after backward
     * (exposed, waiting for slower ranks included); the sum over steps of
     * the shortest such wait over the ranks (tail: the slowest rank's wait,
     * the allreduce time backward did not hide; the last step not counted);
     * what the same sums cost blocking and alone (measured at the start,
     * times the steps); the seconds of backward + sums. Hidden share of the
     * allreduce = 1 - tail / blocking. */
    int ddp_ranks;
    int64_t ddp_steps;
    double ddp_exposed_s, ddp_tail_s, ddp_blocking_s, ddp_backward_s;
} cl_train_result;

/* Trains `model` (already created; cl_model_alloc is done here for
 * max(batch, eval_batch)) on `train` and optionally evaluates on `test`
 * (may be NULL). If cfg->resume, loads params/bufs/optimizer/RNG/position
 * from cfg->ckpt_dir first (ckpt.h) and continues exactly.
 * Errors: CL_EINVAL (config), CL_ENOMEM, CL_EIO (checkpoint), CL_ENUMERIC
 * (non-finite loss or gradient: message names epoch and step; parameters
 * are NOT checkpointed after the bad step, the last good checkpoint stays),
 * CL_EINTERRUPT (*stop was set; checkpoint written), or a callback's status. */
cl_status cl_train_run(const cl_train_config *cfg, cl_model *model, const cl_train_data *train,
                       const cl_train_data *test, const cl_train_hooks *hooks,
                       cl_train_result *result);

/* Data-parallel runs (a group of more than one rank): CL_EINVAL, naming
 * --batch, when some rank would get no sample of some batch of an epoch of n
 * samples (the last one included); cl_train_run refuses such a run, and the
 * CLI asks before writing anything. One process or batch < 1: CL_OK. */
cl_status cl_train_ddp_check(const cl_comm *comm, int batch, int64_t n);

/* Batched eval-mode forward pass over a whole dataset, without augmentation.
 * After each batch, calls fn with the batch (below); the model's activations
 * (m->acts[i], [n, out_i]) hold every layer's output for that batch.
 * bn_train = 0: batches of m->max_n samples in dataset order (idx NULL).
 * bn_train = 1 uses batch statistics in BN (He & Su's "train" BN mode). Then
 * what a sample's features are depends on its batch-mates, so the samples are
 * visited in a fixed seeded permutation (the same on every call, whatever
 * the run's seed: storage order, e.g. class-sorted PNG folders, must not
 * decide the batches) and the batches are balanced (ceil(N / max_n) batches
 * whose sizes differ by at most one: no tiny last batch). The running
 * statistics are saved before and restored after, so the model is unchanged.
 * The inputs of a permuted batch are gathered into a buffer allocated once
 * per call. fn may return non-OK to stop; that status is returned. */
typedef struct {
    int64_t first;      /* bn_train = 0: the batch holds samples first..first+n-1 */
    int n;              /* batch size */
    const float *x;     /* the batch's inputs [n, C*H*W], as fed to the model */
    const int32_t *y;   /* their labels [n] */
    const int32_t *idx; /* NULL (in order from first), or idx[i] = dataset index of row i */
} cl_batch;
typedef cl_status (*cl_batch_fn)(void *user, const cl_model *m, const cl_batch *b);
cl_status cl_train_forward_each(cl_model *m, const cl_train_data *ds, int bn_train,
                                cl_batch_fn fn, void *user);
/* The same where fn reads only the outputs of the layers in taps [ntaps]
 * and the last layer's (cl_model_forward_taps: the others may stay in an
 * internal layout; NULL / 0 = the logits only). */
cl_status cl_train_forward_each_taps(cl_model *m, const cl_train_data *ds, int bn_train,
                                     const int *taps, int ntaps, cl_batch_fn fn, void *user);

/* Mean loss and accuracy of the model on a whole dataset, eval mode, in
 * batches of m->max_n (loss and counts accumulated in double). */
cl_status cl_train_evaluate(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                            double *mean_loss, double *acc);
/* cl_train_evaluate that also counts, for single-label data, the samples
 * [K] and the correct predictions [K] of each class (K = cl_loss_classes of
 * the model's output width, <= CL_DATA_MAX_CLASSES; overwritten). NULL
 * arrays: cl_train_evaluate. Errors: CL_EINVAL (K-hot data with arrays, K
 * too large), cl_train_evaluate's. */
cl_status cl_train_evaluate_classes(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                                    double *mean_loss, double *acc, int64_t *correct_k,
                                    int64_t *count_k);

/* Multi-label (K-hot, ds->yk) evaluation: mean PAL loss, exact-set
 * accuracy of the top-m rule, per-label F1 and their macro mean (loss.h,
 * cl_loss_topm_score / cl_loss_f1). cl_train_evaluate calls it for data
 * with yk (loss and acc). */
typedef struct {
    double loss, acc, macro_f1;
    int K;                          /* labels */
    double f1[CL_DATA_MAX_CLASSES]; /* per label, NAN when never true nor predicted */
} cl_khot_eval;

/* Eval mode, batches of m->max_n. Errors: CL_EINVAL (ds->yk NULL, a loss
 * other than pal: names --loss), the loss's. */
cl_status cl_train_evaluate_khot(cl_model *m, const cl_train_data *ds, const cl_loss_cfg *loss,
                                 cl_khot_eval *out);

/* Accumulates the PAL loss and the top-m counts of K-hot batches (the
 * study's sweeps and cl_train_evaluate_khot share it). Zero it, set K,
 * add batches, then cl_khot_acc_end. */
typedef struct {
    int K;
    double loss_sum;
    int64_t exact, n;
    int64_t tp[CL_DATA_MAX_CLASSES], fp[CL_DATA_MAX_CLASSES], fn[CL_DATA_MAX_CLASSES];
} cl_khot_acc;
/* logits [n, K], yk [n, K] of one batch. Errors: cl_loss_compute_khot's. */
cl_status cl_khot_acc_add(cl_khot_acc *a, const cl_loss_cfg *loss, const float *logits,
                          const uint8_t *yk, int n);
void cl_khot_acc_end(const cl_khot_acc *a, cl_khot_eval *out);

/* Regression counterpart of cl_train_evaluate with targets t [N, m] of ds
 * (m = the model's outputs, at most CL_TRAIN_MAX_TARGETS): the mean
 * regression loss (cl_loss_regress) into *mean_loss, and per target j the MSE
 * (1/N) sum_i (p_ij - t_ij)^2 into mse[j] and R^2 = 1 - N mse_j /
 * sum_i (t_ij - mean_j)^2 into r2[j] (NAN for a constant target); *r2_mean
 * is their mean. mse, r2 [m] may be NULL. Errors: CL_EINVAL (t NULL, m too large). */
cl_status cl_train_evaluate_reg(cl_model *m, const cl_train_data *ds, const float *t,
                                double *mean_loss, double *r2_mean, double *mse, double *r2);

/* ---- checkpoint of the training state ---- */

/* Where training stands: with the model, exactly what a checkpoint holds. */
typedef struct {
    int32_t epoch;        /* completed epochs */
    int64_t pos;          /* samples of the running epoch already trained on
                             (0 = at an epoch boundary) */
    int64_t step;         /* optimizer steps done */
    uint64_t config_hash; /* hash of the options that must not change on resume */
    cl_rng rng_data;      /* draws each epoch's permutation */
    cl_rng rng_aug;       /* augmentation draws */
    int64_t n;            /* perm length (train set size) */
    int32_t *perm;        /* the running epoch's sample order */
} cl_train_state;

/* Saves a checkpoint into the slot folder dir (created if missing; ckpt.h;
 * cl_train_run chooses the slot with cl_ckpt_slot_next): the model file
 * (params, bufs, spec text) and DIR/state.ckpt, a container "CLSTATE1"
 * holding i32 epoch, i32 0, i64 pos, u64 config_hash, the two RNG states
 * (u64 s[4], double spare, i32 has_spare, i32 0 each), i64 n, i32 perm[n],
 * i32 optimizer kind (-1 without o), i32 0, i64 optimizer step,
 * i64 state_len, float state[state_len]. Errors: CL_EIO naming the file. */
cl_status cl_train_ckpt_save(const char *dir, const cl_model *m, const char *model_text,
                             const cl_train_state *st, const cl_optim *o);

/* Reads the state.ckpt of dir's newest good checkpoint (cl_ckpt_find: dir
 * is a checkpoint folder with slots, or a slot) into *st (st->perm
 * cl_alloc'ed, caller frees) and the optimizer state into o (kind and
 * state_len must match; NULL = skip it), checking the marker, that model,
 * state and marker have the same step, and that perm is a permutation of
 * 0..n-1. Errors: CL_EIO (no complete checkpoint), CL_EFORMAT, CL_ENOMEM;
 * *st is left without perm on error. */
cl_status cl_train_ckpt_load(const char *dir, cl_train_state *st, cl_optim *o);

#endif
