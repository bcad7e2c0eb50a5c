/* Helpers shared by the collapse analyzer's tests (tests/test_nc*.c): the
 * NumPy reference fixtures under tests/fixtures/nc/. */
#ifndef COLLAPSE_TESTS_NC_COMMON_H
#define COLLAPSE_TESTS_NC_COMMON_H

#include <stdint.h>

#include "collapse/nc.h"

#define FIX "fixtures/nc/"

typedef struct {
    float *H, *W, *b;
    int32_t *y;
    int64_t N;
    int dim, K;
} ncase;

/* Loads fixture `name` (H, y, W, b); fails the test if a file is missing. */
void load_case(const char *name, ncase *c);
void free_case(ncase *c);

/* Checks every key of r against fixture `name`'s expected_<which>.npy to
 * `rel` (cr_expect: reports each key that differs). */
void check_expected_rel(const char *name, const char *which, const cl_nc_result *r,
                        double rel);

/* 1 if a and b agree to `rel` (relative to b, floor 1e-9), are both NaN or
 * are the same infinity. */
int close_rel(double a, double b, double rel);

#endif
