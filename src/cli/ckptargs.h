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
    cl_cli_data data;
} cl_cli_ckpt_args;

/* Parses argv into a (a->data initialised here); a checkpoint is required.
 * Returns 0, -1 after --help (usage printed; exit 0), or the exit status
 * after printing one line. */
int cl_cli_ckpt_args_parse(int argc, char **argv, cl_cli_ckpt_args *a);

/* Without --data, the data options of the run (its config.json); then the
 * data checks. Returns 0 or the exit status after printing. */
int cl_cli_ckpt_args_data(cl_cli_ckpt_args *a);

#endif
