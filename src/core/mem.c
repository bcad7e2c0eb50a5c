#define _DEFAULT_SOURCE
#include "collapse/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CL_HUGE (2u << 20)

int cl_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int cl_add_ok(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

void *cl_alloc(size_t n, const char *what)
{
    size_t align = n >= CL_HUGE ? CL_HUGE : CL_ALIGN;
    size_t rounded;
    if (!cl_add_ok(n, align - 1, &rounded)) {
        cl_error(CL_ENOMEM, "%s: size overflow (%zu bytes)", what, n);
        return NULL;
    }
    rounded = rounded / align * align;
    if (rounded == 0) rounded = align;
    void *p = aligned_alloc(align, rounded);
    if (!p) {
        cl_error(CL_ENOMEM, "%s: out of memory allocating %zu bytes", what, n);
        return NULL;
    }
    if (rounded >= CL_HUGE) madvise(p, rounded, MADV_HUGEPAGE);
    memset(p, 0, rounded);
    return p;
}

void *cl_alloc_array(size_t count, size_t size, const char *what)
{
    size_t n;
    if (!cl_mul_ok(count, size, &n)) {
        cl_error(CL_ENOMEM, "%s: size overflow (%zu x %zu bytes)", what, count, size);
        return NULL;
    }
    return cl_alloc(n, what);
}

void *cl_realloc(void *p, size_t old_n, size_t n, const char *what)
{
    void *q = cl_alloc(n, what);
    if (!q) return NULL;
    if (p) memcpy(q, p, old_n < n ? old_n : n);
    cl_free(p);
    return q;
}

void cl_free(void *p) { free(p); }
