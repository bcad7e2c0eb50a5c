/* Flag-parsing helpers shared by the train/eval/features commands.
 * Flags are "--name VALUE" or "--name=VALUE"; each helper prints one line
 * naming the flag on a bad value (via cl_cli_fail) and returns 0. */
#ifndef COLLAPSE_CLI_OPTS_H
#define COLLAPSE_CLI_OPTS_H

#include <stdint.h>

/* If argv[*i] is flag `name` (with "=VALUE" or followed by a value), sets
 * *val, advances *i past the value and returns 1. Returns 0 if argv[*i] is
 * another flag, -1 (after printing) if the value is missing. */
int cl_opt_value(int argc, char **argv, int *i, const char *name, const char **val);
/* 1 if argv[*i] is exactly the boolean flag `name`. */
int cl_opt_flag(char **argv, int i, const char *name);

int cl_opt_int(const char *flag, const char *v, long lo, long hi, int *out);
int cl_opt_i64(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out);
int cl_opt_u64(const char *flag, const char *v, uint64_t *out);
int cl_opt_double(const char *flag, const char *v, double lo, double hi, double *out);

/* A class list "5-9", "5,7,9" or "1,3-5" (ascending ranges of class
 * indices) given to `flag`: sets flags[c] = 1 for each listed class when
 * flags is not NULL ([K] entries; K = 0: syntax only). Returns 0, or after a
 * one-line message naming the flag: 2 for bad syntax, 1 for a class outside
 * [0, K). */
int cl_opt_class_list(const char *flag, const char *v, int K, unsigned char *flags);

/* mkdir -p; on failure prints "<flag>: cannot create ..." and returns 0. */
int cl_opt_mkdir_p(const char *flag, const char *dir);

#endif
