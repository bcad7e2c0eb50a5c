/* Reading the .npy inputs of `collapse analyze` (its three modes: labels,
 * --targets, --thresholds): one-line errors naming the flag and file. */
#ifndef COLLAPSE_CLI_NPYIN_H
#define COLLAPSE_CLI_NPYIN_H

#include <stdint.h>

#include "collapse/json.h"

/* 0 if all n values of v are finite, else 1 after the error naming flag,
 * path, the first bad value and its [row, col] (rows of `cols` values). */
int cl_cli_check_finite(const char *flag, const char *path, const float *v, int64_t n,
                        int64_t cols);

/* Reads the float32/float64 array `path` (of `flag`) into *x (cl_free it)
 * as *rows = shape[0] rows of *cols = the product of the trailing dims;
 * *ndim gets its number of dimensions (may be NULL). Refuses an array that
 * cannot be read, an empty one and non-finite values: then *x may still
 * need cl_free. Returns 0 or exit status 1 after the error line. */
int cl_cli_read_rows(const char *flag, const char *path, float **x, int *ndim, int64_t *rows,
                     int64_t *cols);

/* The file flags of an analyze mode: if argv[*i] is names[k] (k < n; with
 * "=VALUE" or followed by a value), stores the value in *dst[k], advances
 * *i past it and returns 1; 0 if argv[*i] is none of them; -1 (after
 * printing) if the value is missing. */
int cl_cli_file_flag(int argc, char **argv, int *i, int n, const char *const names[],
                     const char **const dst[]);

/* "key": "path", or "key": null when path is NULL. */
void cl_cli_json_path(cl_json *j, const char *key, const char *path);

#endif
