/* Helpers shared by the dense layer tests (tests/test_dense_*.c). */
#ifndef COLLAPSE_TESTS_DENSE_COMMON_H
#define COLLAPSE_TESTS_DENSE_COMMON_H

#include <stdint.h>

#include "collapse/nn.h"

/* A cl_alloc'ed copy of a[n] (one spare element; free with cl_free). */
float *copy(const float *a, int64_t n);

/* max_i |a_i - b_i| / max(max_i |b_i|, 1e-30); NaN counts as infinite */
double nrel(const float *a, const float *b, int64_t n);

#define KTOL 2e-5 /* fast vs naive: float32 rounding in a different order */

/* Fails the test unless nrel(got, want, n) <= tol. */
void expect_near(const char *what, const float *got, const float *want, int64_t n,
                 double tol);

/* A zeroed spec of `kind` (no bias, no options). */
cl_layer_spec mk(cl_layer_kind kind);

#endif
