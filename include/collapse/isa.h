/* Instruction-set paths of the hand-written kernels (Winograd convolution,
 * the small products of kernels_gemm.h). Every kernel with intrinsics has
 * an AVX-512 path, an AVX2+FMA path and a portable C path; which one runs is
 * decided at run time from the CPU's features, and any of them can be
 * forced with the environment variable COLLAPSE_ISA (so a machine without
 * AVX-512 runs, and CI tests every path on one machine):
 *   COLLAPSE_ISA=auto (or unset)   the best path the CPU runs
 *   COLLAPSE_ISA=avx512|avx2|generic
 * The choice is read on every call (a getenv and a CPUID cache lookup):
 * no global state. OpenBLAS keeps its own choice (blas.h). */
#ifndef COLLAPSE_ISA_H
#define COLLAPSE_ISA_H

#include "collapse/error.h"

typedef enum { CL_ISA_GENERIC = 0, CL_ISA_AVX2 = 1, CL_ISA_AVX512 = 2 } cl_isa;

/* The best path this CPU supports (AVX-512F+VL+DQ+BW, then AVX2+FMA). */
cl_isa cl_isa_best(void);

/* The path to use now: COLLAPSE_ISA if set and valid and supported by the
 * CPU, else cl_isa_best(). (cl_isa_check_env reports a bad value.) */
cl_isa cl_isa_current(void);

/* "avx512", "avx2", "generic". */
const char *cl_isa_name(cl_isa isa);

/* CL_OK if COLLAPSE_ISA is unset, "auto", or a path this CPU runs; else
 * CL_EINVAL with a one-line message naming the variable. Programs call it
 * once at start-up so a typo is an error rather than a silent fallback. */
cl_status cl_isa_check_env(void);

#endif
