/* The data flags shared by train, eval and features, and small CLI helpers
 * (config.json data options, atomic text files, exit statuses from cl_status).
 *
 *   --data NAME|DIR  --data-dir DIR  --train-per-class N  --test-per-class N
 *   --random-labels P  --random-labels-mode permute|shuffle|uniform  --random-pixels
 *   --resize S  --normalize  --augment  --seed S
 *   --imbalance R --minority M | --long-tail R
 *   --targets Y.npy  --test-targets Y.npy  --ordinal-bins K
 *   --classes LIST (a class subset, relabelled 0..k-1 in the listed order) */
#ifndef COLLAPSE_CLI_DATAOPTS_H
#define COLLAPSE_CLI_DATAOPTS_H

#include <stdint.h>
#include <stdio.h>

#include "collapse/data.h"
#include "collapse/json.h"
#include "collapse/nn.h"
#include "fields.h"

/* Bits of cl_cli_data.set: which flags the command line gave. */
enum {
    CL_CLI_D_DATA = 1 << 0,
    CL_CLI_D_DIR = 1 << 1,
    CL_CLI_D_TRAIN_PC = 1 << 2,
    CL_CLI_D_TEST_PC = 1 << 3,
    CL_CLI_D_RL = 1 << 4,
    CL_CLI_D_RL_MODE = 1 << 5,
    CL_CLI_D_RP = 1 << 6,
    CL_CLI_D_RESIZE = 1 << 7,
    CL_CLI_D_NORM = 1 << 8,
    CL_CLI_D_AUG = 1 << 9,
    CL_CLI_D_SEED = 1 << 10,
    CL_CLI_D_IMB = 1 << 11,
    CL_CLI_D_MINORITY = 1 << 12,
    CL_CLI_D_TAIL = 1 << 13,
    CL_CLI_D_TARGETS = 1 << 14,
    CL_CLI_D_TEST_TARGETS = 1 << 15,
    CL_CLI_D_ORD = 1 << 16,
    CL_CLI_D_CLASSES = 1 << 17
};

typedef struct {
    const char *name;                   /* --data (NULL = not given) */
    const char *dir;                    /* --data-dir (NULL = default search) */
    cl_data_opts opts;                  /* everything else; opts.seed is --seed */
    int mode_set;                       /* --random-labels-mode was given */
    unsigned set;                       /* CL_CLI_D_* flags given on the command line */
    char name_buf[1024], dir_buf[1024]; /* storage for values read from config.json */
    const char *targets, *test_targets; /* --targets / --test-targets (NULL = none) */
    int ordinal_bins;                   /* --ordinal-bins K (0 = off) */
    char targets_buf[1024], test_targets_buf[1024];
    int class_list[CL_DATA_MAX_CLASSES]; /* --classes: source class of new label j */
    int nclass_list;                     /* entries of class_list (0 = all classes) */
} cl_cli_data;

void cl_cli_data_init(cl_cli_data *d);

/* If argv[*i] is one of the data flags, parses it (advancing *i past its
 * value) and returns 1; returns 0 for any other argument, -1 after printing
 * a one-line error naming the flag. */
int cl_cli_data_flag(int argc, char **argv, int *i, cl_cli_data *d);

/* Cross-flag checks after parsing (--data given, mode without fraction).
 * Returns 0, or 2 after printing. */
int cl_cli_data_check(const cl_cli_data *d);

/* For eval/features without --data: if `path` (a results folder, its
 * checkpoint/ folder or its checkpoint/model.ckpt) has a config.json written
 * by `collapse train`, fills every data option the command line did not
 * give from it and prints where they came from. Returns 0 (also when there is no
 * config.json), or 1 after printing if the file cannot be read or parsed
 * (file:line:col) or a value has the wrong type. */
int cl_cli_data_from_run(const char *path, cl_cli_data *d);

/* The run's config.json (path as for cl_cli_data_from_run; its name into
 * cfg[cap]) parsed into *root, NULL when there is none (free with
 * cl_json_value_free). Returns 0, or 1 after printing the parser's message. */
int cl_cli_run_config(const char *path, char *cfg, size_t cap, cl_json_value **root);

/* The string `key` of the "options" object of the run's config.json (path
 * as for cl_cli_data_from_run) into buf; returns 0 if there is none (or the
 * file cannot be parsed: then after printing its file:line:col message). */
int cl_cli_run_option(const char *path, const char *key, char *buf, size_t cap);

/* Loads both splits, attaches --targets/--test-targets, applies
 * --ordinal-bins (edges from the whole training split, before subsets) and
 * then cl_data_prepare. On failure prints one line
 * and returns 1 (nothing to free); else 0. */
int cl_cli_data_load(const cl_cli_data *d, cl_dataset *train, cl_dataset *test);

/* The data options, one call of the sink per option (config.json's data
 * object and the resume hash). */
void cl_cli_data_fields(cl_cli_fields *f, const cl_cli_data *d);

/* Writes the data options (and, if given, the prepared sizes) as the JSON
 * object `key` (NULL in an array). train/test may be NULL. */
void cl_cli_data_json(cl_json *j, const char *key, const cl_cli_data *d,
                      const cl_dataset *train, const cl_dataset *test);

/* One line describing the loaded data, to stdout (and, with --imbalance or
 * --long-tail, a second line with the training class counts). */
void cl_cli_data_print(const cl_cli_data *d, const cl_dataset *train,
                       const cl_dataset *test);

/* --classes LIST (classopts.c). cl_cli_classes_flag: as cl_cli_data_flag
 * for --classes only. cl_cli_classes_from_json: the "classes" array of a
 * config.json data object into d unless the flag was given (returns the
 * malformed value or NULL). cl_cli_classes_fields: the config/hash field,
 * only when given. cl_cli_classes_apply: the subset of both splits (after
 * loading, before cl_data_prepare; a no-op without --classes), with a note
 * on stdout; refuses --ordinal-bins (CL_EINVAL naming the flag). */
int cl_cli_classes_flag(int argc, char **argv, int *i, cl_cli_data *d);
const cl_json_value *cl_cli_classes_from_json(const cl_json_value *obj, cl_cli_data *d);
void cl_cli_classes_fields(cl_cli_fields *f, const cl_cli_data *d);
cl_status cl_cli_classes_apply(const cl_cli_data *d, cl_dataset *train, cl_dataset *test);

/* The usage lines of the data flags. */
void cl_cli_data_usage(FILE *f);

/* Writes text to path atomically (path.tmp, fsync, rename). Returns 0, or
 * 1 after printing "<path>: ...". */
int cl_cli_write_file(const char *path, const char *text, size_t len);

/* Rebuilds the model of a checkpoint (a model.ckpt file, a checkpoint
 * folder or a results folder), copies its parameters in and allocates it
 * for batches of `batch`. Returns 0, or 1 after printing. */
int cl_cli_load_model(const char *path, int batch, cl_model **m, int64_t *step);

#endif
