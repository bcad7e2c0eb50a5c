/* The train command in parts: option parsing (train_opts.c), options ->
 * run configuration and model (train_setup.c), the resume hash
 * (train_hash.c), config.json (train_json.c); cmd_train.c orchestrates.
 * Functions returning int return 0 on success, else the exit status after
 * printing one line (cl_cli_fail). */
#ifndef COLLAPSE_CLI_TRAIN_OPTS_H
#define COLLAPSE_CLI_TRAIN_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collapse/modelcfg.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "dataopts.h"
#include "fields.h"

/* What --init-from loaded (train_init.c): the source checkpoint's model
 * file, its epoch (-1 = unknown) and step, the FNV-1a 64 of the copied body
 * (each body layer's params then bufs, float32 bytes) and the counts. */
typedef struct {
    char ckpt[4200];
    int64_t epoch, step;
    uint64_t hash;
    int layers;
    int64_t params, bufs;        /* copied */
    int64_t frozen, frozen_bufs; /* params and BN buffers in the frozen layers */
    int recorded;                /* 1: a --resume: read back from the run's config.json */
} cl_cli_init_info;

/* Every flag of `collapse train`, as given (defaults filled by the parser). */
typedef struct {
    const char *model_path, *arch;
    cl_cli_data data;
    int epochs, batch, eval_batch;
    double lr, momentum, wd, wd_cls, warmup;
    int lr_set, momentum_set, wd_set, wd_cls_set, nesterov;
    const char *schedule, *optimizer, *loss, *classifier, *etf_mode;
    int feature_dim, no_bias, threads, ckpt_every, resume;
    const char *clm_thresholds; /* --clm-thresholds (NULL = fixed, spacing 4) */
    int clm, clm_learned;       /* --loss clm; parsed --clm-thresholds */
    double clm_spacing;
    double temperature; /* --temperature T of --classifier cosine (0 = not given) */
    int64_t max_steps;
    const char *out;
    /* study */
    const char *analyze;
    int analyze_every, bn_train, no_layers, no_plots, no_initial, no_features;
    const char *bn_mode;
    int gnc;                      /* --gnc: the analyzer's gnc keys in metrics.csv */
    const char *minority_classes; /* --minority-classes LIST (NULL = by class counts) */
    unsigned char minority_set[CL_DATA_MAX_CLASSES]; /* parsed, for the study */
    const char *task; /* --task classification|regression (NULL = classification) */
    /* fine-tuning (train_init.c) */
    const char *init_from;      /* --init-from RUN (NULL = none) */
    const char *freeze_through; /* --freeze-through LAYER (NULL = none) */
    const char *frozen_bn;      /* --frozen-bn eval|train (NULL = eval) */
    cl_cli_init_info init;      /* filled by cl_cli_train_finetune */
    int sync_bn;   /* --sync-bn: BN statistics of the global batch (data-parallel runs) */
    int keep_ckpt; /* --keep-checkpoints N: keep the checkpoint of every N-th epoch (0 =
                      no) */
} cl_cli_train_opts;

/* ---- train_opts.c ---- */
void cl_cli_train_usage(FILE *f);
/* Parses and checks argv. Returns 0, -1 after printing the usage (--help),
 * or the exit status after printing the error. */
int cl_cli_train_parse(int argc, char **argv, cl_cli_train_opts *o);

/* ---- train_setup.c ---- */
/* "fixed", "fixed=S", "learned", "learned=S" (S > 0: the evenly spaced
 * thresholds' spacing, CL_CUMLINK_SPACING = 4 if not given) into *learned and *spacing.
 * Returns 0, or 2 after printing the error naming --clm-thresholds. */
int cl_cli_clm_thresholds_parse(const char *s, int *learned, double *spacing);
/* The training config (optimizer, schedule with Papyan's milestones
 * written out, loss, sizes) from the options. */
int cl_cli_train_config(const cl_cli_train_opts *o, cl_train_config *cfg);
/* The study options; *use_study = 1 when the study runs (--out given and
 * not --analyze none). Refuses study flags without --out. */
int cl_cli_train_study_opts(const cl_cli_train_opts *o, cl_study_opts *so,
                            int *use_study);
/* The classifier head for `classes` classes. */
cl_head_opts cl_cli_train_head(const cl_cli_train_opts *o, int classes, uint64_t seed);
/* Builds the model from mc (parsed from o->model_path or o->arch) for data
 * of shape `in`, with its spec text. A failing layer of a model file is
 * reported as FILE:LINE of its section (mc->line). */
int cl_cli_train_build(const cl_cli_train_opts *o, const cl_modelcfg *mc, cl_shape in,
                       const cl_head_opts *head, uint64_t seed, cl_model **m,
                       char **model_text);

/* ---- train_init.c ---- */
/* After the model is built: --init-from (the source's body copied into m,
 * or with restore = 1, a --resume, its record read back from the run's
 * config.json) and --freeze-through (layers up to LAYER frozen, BN there in
 * eval mode unless --frozen-bn train; *model_text rewritten with the frozen
 * flags). Nothing to do without those flags. */
int cl_cli_train_finetune(cl_cli_train_opts *o, cl_model *m, char **model_text,
                          int restore);
/* Their members of config.json's "options" (only when given). */
void cl_cli_train_finetune_fields(cl_cli_fields *f, const cl_cli_train_opts *o);

/* ---- train_hash.c ---- */
/* The members of config.json's "options": every option of the training
 * config, the head and the data that changes the result. */
void cl_cli_train_fields(cl_cli_fields *f, const cl_cli_train_opts *o,
                         const cl_train_config *cfg);
/* The members of config.json's "study". */
void cl_cli_study_fields(cl_cli_fields *f, const cl_cli_train_opts *o,
                         const cl_study_opts *so);
/* The resume hash: the fields above (study: so == NULL when off) and the
 * model spec text through the canonical hash sink (fields.h), so it is
 * independent of how config.json is formatted. Never 0. */
uint64_t cl_cli_train_hash(const cl_cli_train_opts *o, const cl_train_config *cfg,
                           const cl_study_opts *so, const char *model_text);

/* ---- train_json.c ---- */
typedef struct {
    char *text;
    size_t len;
} cl_cli_membuf;

/* config.json (everything needed to rerun the command) into out->text
 * (malloc'ed). so == NULL when the study is off. */
int cl_cli_train_config_json(int argc, char **argv, const cl_cli_train_opts *o,
                             const cl_train_config *cfg, const char *model_text,
                             const cl_model *m, const cl_dataset *train,
                             const cl_dataset *test, const cl_study_opts *so,
                             cl_cli_membuf *out);
/* For --resume: refuses (status 1) when DIR/config.json records another
 * options_hash than `hash`, or cannot be read. */
int cl_cli_train_check_resume(const char *dir, uint64_t hash);
/* The thread count recorded in DIR/config.json, or 0. */
int cl_cli_train_recorded_threads(const char *dir);

/* ---- train_etf.c: classes a fixed classifier can reach from nonnegative
 * features (etf.h) ---- */
/* Width of the classifier's input (0 without a layer before it). */
int cl_cli_feature_dim(const cl_model *m);
/* mx [cl_cli_feature_dim] = the largest value of each classifier input
 * unit over ds (eval mode). */
cl_status cl_cli_feature_max(cl_model *m, const cl_train_data *ds, float *mx);
/* The classes [K] no nonnegative feature reaches through the classifier's
 * columns of the live units (mx[d] > 0; mx NULL: every unit) into lost;
 * returns their count (-1: out of memory, cl_errmsg); the smallest margin
 * and its class. 0 when the classifier is not the last layer with K >= 2
 * rows (a CLM latent). */
int cl_cli_classes_lost(const cl_model *m, const float *mx, int *lost, double *min_margin,
                        int *argmin);
/* The units with mx[d] <= 0 of mx [dim]: their count; the first cap of them
 * into first. */
int cl_cli_dead_units(const float *mx, int dim, int *first, int cap);
/* "1, 4, 7" from v[0..n) into buf, then ", ..." when total > n. */
void cl_cli_int_list(char *buf, size_t cap, const int *v, int n, int total);
/* With nonnegative features (a ReLU before the classifier): prints the
 * classes the fixed ETF cannot reach (a warning), else the smallest
 * nonnegative margin. Nothing otherwise. */
void cl_cli_train_etf_report(const cl_model *m, int etf_mode);
/* The watch of a fixed-ETF run: at epochs 1, 2, 4, 8, ..., every 50th and
 * the last, the classifier input's units that are zero on every training
 * sample (dead ReLUs) and the classes the ETF cannot reach while they stay
 * dead (a dead unit gets no gradient, but the layers below can revive it):
 * a line the first time units are dead, then whenever the lost classes
 * change. */
typedef struct {
    cl_model *m; /* NULL: off */
    cl_train_data train;
    int epochs, noted, nlost, lost[CL_DATA_MAX_CLASSES];
    float *mx;
} cl_cli_etf_watch;
/* 1: on, 0: off (features not nonnegative), -1: out of memory. */
int cl_cli_train_etf_watch_init(cl_cli_etf_watch *w, cl_model *m, const cl_dataset *train,
                                int epochs);
void cl_cli_train_etf_watch_free(cl_cli_etf_watch *w);
cl_status cl_cli_train_etf_epoch(const cl_epoch_info *info, void *user);

/* ---- train_ddp.c (data-parallel runs, issue 12) ---- */
/* Prints one warning when DIR/config.json recorded another rank count
 * ("ranks", 1 when missing) than `ranks`. */
void cl_cli_train_ranks_warning(const char *dir, int ranks);
/* Prints the allreduce line of a run with 2 or more ranks (else nothing). */
void cl_cli_train_ddp_report(const cl_train_result *res);

#endif
