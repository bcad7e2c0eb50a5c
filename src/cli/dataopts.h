/* The data flags shared by train, eval and features, and small CLI helpers
 * (JSON strings, atomic text files, exit statuses from cl_status).
 *
 *   --data NAME|DIR  --data-dir DIR  --train-per-class N  --test-per-class N
 *   --random-labels P  --random-labels-mode permute|uniform  --random-pixels
 *   --resize S  --normalize  --augment  --seed S */
#ifndef COLLAPSE_CLI_DATAOPTS_H
#define COLLAPSE_CLI_DATAOPTS_H

#include <stdint.h>
#include <stdio.h>

#include "collapse/data.h"
#include "collapse/nn.h"

typedef struct {
    const char *name;      /* --data (NULL = not given) */
    const char *dir;       /* --data-dir (NULL = default search) */
    cl_data_opts opts;     /* everything else; opts.seed is --seed */
    int mode_set;          /* --random-labels-mode was given */
} cl_cli_data;

void cl_cli_data_init(cl_cli_data *d);

/* If argv[*i] is one of the data flags, parses it (advancing *i past its
 * value) and returns 1; returns 0 for any other argument, -1 after printing
 * a one-line error naming the flag. */
int cl_cli_data_flag(int argc, char **argv, int *i, cl_cli_data *d);

/* Cross-flag checks after parsing (--data given, mode without fraction).
 * Returns 0, or 2 after printing. */
int cl_cli_data_check(const cl_cli_data *d);

/* Loads both splits and applies cl_data_prepare. On failure prints one line
 * and returns 1 (nothing to free); else 0. */
int cl_cli_data_load(const cl_cli_data *d, cl_dataset *train, cl_dataset *test);

/* Writes the data options (and, if given, the prepared sizes) as a JSON
 * object. train/test may be NULL. */
void cl_cli_data_json(FILE *f, const cl_cli_data *d, const cl_dataset *train,
                      const cl_dataset *test);

/* One line describing the loaded data, to stdout. */
void cl_cli_data_print(const cl_cli_data *d, const cl_dataset *train, const cl_dataset *test);

/* The usage lines of the data flags. */
void cl_cli_data_usage(FILE *f);

/* Writes s as a JSON string literal (quotes and escapes). NULL -> null. */
void cl_cli_json_str(FILE *f, const char *s);

/* Writes text to path atomically (path.tmp, fsync, rename). Returns 0, or
 * 1 after printing "<path>: ...". */
int cl_cli_write_file(const char *path, const char *text, size_t len);

/* Rebuilds the model of a checkpoint (a model.ckpt file, a checkpoint
 * folder or a results folder), copies its parameters in and allocates it
 * for batches of `batch`. Returns 0, or 1 after printing. */
int cl_cli_load_model(const char *path, int batch, cl_model **m, int64_t *step);

#endif
