/* Helpers shared by the data module's tests (tests/test_data_*.c). */
#ifndef COLLAPSE_TESTS_DATA_COMMON_H
#define COLLAPSE_TESTS_DATA_COMMON_H

#include <stdint.h>

#include "collapse/data.h"

/* Fails the test unless d's class histogram equals want[d->classes]. */
void assert_hist(const cl_dataset *d, const int64_t *want);

/* cl_data_load(name, dir, train, d), failing the test (with a hint to run
 * make data) if it does not load. */
void load_or_fail(const char *name, const char *dir, int train, cl_dataset *d);

#endif
