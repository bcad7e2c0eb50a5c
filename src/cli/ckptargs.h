/* The command line shared by eval and features: one checkpoint (a
 * model.ckpt, a checkpoint folder or a results folder), the data flags,
 * --split S, --batch B, --threads T, and a few string-valued flags of the
 * command's own. */
#ifndef COLLAPSE_CLI_CKPTARGS_H
#define COLLAPSE_CLI_CKPTARGS_H

#include <stdio.h>

#include "dataopts.h"

typedef struct {
    const char *flag; /* "--loss" */
    const char **val; /* set to the value when given */
} cl_cli_extra_flag;

typedef struct {
    const char *cmd;                /* "eval": names the command in messages */
    void (*usage)(FILE *f);         /* printed by --help */
    const cl_cli_extra_flag *extra; /* the command's own flags */
    int nextra;
    /* results (defaults set by the caller before parsing) */
    const char *ckpt, *split;
    int batch, threads;
    int batch_set; /* --batch was given */
    cl_cli_data data;
} cl_cli_ckpt_args;

/* Parses argv into a (a->data initialised here); a checkpoint is required.
 * Returns 0, -1 after --help (usage printed; exit 0), or the exit status
 * after printing one line. */
int cl_cli_ckpt_args_parse(int argc, char **argv, cl_cli_ckpt_args *a);

/* Without --data, the data options of the run (its config.json); then the
 * data checks. Returns 0 or the exit status after printing. */
int cl_cli_ckpt_args_data(cl_cli_ckpt_args *a);

/* For features: the BN mode (*bn_mode: the --bn-mode value, NULL if not
 * given) and, in BN train mode, a->batch as the run's study used them, read
 * from its config.json ("study"."bn_mode"; batch statistics over batches of
 * max(options.batch, run.eval_batch) samples). A flag given overrides the
 * run's value, with a note when they differ. Without a config.json: eval
 * mode, a->batch unchanged. Returns 0 or 1 after printing (unreadable file,
 * a value of the wrong type, a mode other than eval/train). */
int cl_cli_ckpt_args_bn(cl_cli_ckpt_args *a, const char **bn_mode);

/* The task: *task (the --task value, NULL if not given) or else the run's
 * (config.json "options"."task"), else "classification". *reg = 1 for
 * "regression". Returns 0, or 2 after printing for an unknown task. */
int cl_cli_ckpt_args_task(const cl_cli_ckpt_args *a, const char **task, int *reg);

#endif
