/* Memory: 64-byte aligned allocation with huge pages for large blocks, and
 * checked size arithmetic. Big buffers are allocated once (per run, per
 * category) and reused; nothing in a hot loop allocates. */
#ifndef COLLAPSE_MEM_H
#define COLLAPSE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "collapse/error.h"

#define CL_ALIGN 64

/* Allocates `n` bytes, 64-byte aligned, zero-filled. Blocks of 2 MiB or more
 * get madvise(MADV_HUGEPAGE). n == 0 returns a valid unique pointer.
 * On failure returns NULL and sets the error message (CL_ENOMEM), naming `what`. */
void *cl_alloc(size_t n, const char *what);

/* Like cl_alloc for `count` elements of `size` bytes, failing cleanly
 * (NULL + CL_ENOMEM) if count*size overflows. */
void *cl_alloc_array(size_t count, size_t size, const char *what);

/* Resizes a block from cl_alloc to n bytes: a new block holding the first
 * min(old_n, n) bytes of p (the rest zero), p freed. On failure returns
 * NULL with CL_ENOMEM set and p untouched (still the caller's). p may be
 * NULL (old_n 0). */
void *cl_realloc(void *p, size_t old_n, size_t n, const char *what);

/* Frees memory from cl_alloc / cl_alloc_array / cl_realloc. NULL is fine. */
void cl_free(void *p);

/* *out = a * b; returns 0 on overflow (and leaves *out unspecified), 1 otherwise. */
int cl_mul_ok(size_t a, size_t b, size_t *out);

/* *out = a + b; returns 0 on overflow, 1 otherwise. */
int cl_add_ok(size_t a, size_t b, size_t *out);

#endif
