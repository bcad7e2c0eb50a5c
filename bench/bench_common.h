/* Shared helpers of the benchmark programs (the bench/ .c files, one binary each, run
 * in name order by `make bench`).
 *
 * Every program calls bench_init() first thing: it re-executes with the best
 * OpenBLAS kernels (cl_blas_ensure_core), sets the thread count (default 2;
 * `--threads N` or env COLLAPSE_BENCH_THREADS) and prints a header with the
 * OpenBLAS core, its threading and the thread count. `--quick` (or env
 * COLLAPSE_BENCH_QUICK=1) cuts iterations for a smoke run: its numbers are
 * not measurements.
 *
 * Timing: CLOCK_MONOTONIC; bench_time() runs warm-up calls, then `repeats`
 * timed windows of `iters` calls, and returns the BEST window's seconds per
 * call (the least disturbed by other processes on a shared machine).
 * bench_min() times single calls after one warm-up and returns the fastest:
 * on a loaded machine a call shorter than a scheduler time slice often runs
 * undisturbed, while a long window almost never does.
 *
 * FLOPs: a multiply-add is 2 FLOPs (GFLOP/s = 2 * MACs / s), as in BLAS
 * benchmarks. */
#ifndef COLLAPSE_BENCH_COMMON_H
#define COLLAPSE_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "collapse/blas.h"
#include "collapse/error.h"
#include "collapse/isa.h"
#include "collapse/mem.h"
#include "collapse/rng.h"

#ifndef CL_GIT
#define CL_GIT "unknown"
#endif

/* PyTorch 1.13 reference throughput on this machine, 2 threads, best
 * settings: the upper ends of the ranges in issue 10 (tools/bench_torch.py;
 * `make bench` measures it afresh with tools/bench_compare.sh, and
 * docs/BENCH.md has the measurement). */
#define TORCH_REF_MLP_TRAIN 7763.0
#define TORCH_REF_R20_TRAIN 630.0
#define TORCH_REF_R20_EVAL 2065.0
#define TORCH_REF_R18_TRAIN 59.0
#define TORCH_REF_R18_EVAL 167.0

typedef struct {
    int threads;
    int quick;
} bench_env;

/* The clock of every measurement: CLOCK_MONOTONIC (wall time), or with env
 * COLLAPSE_BENCH_CLOCK=cpu the process CPU time, which leaves out the time
 * spent waiting for a core on a loaded machine. CPU time is only a wall-time
 * estimate with --threads 1 (with more threads it sums the threads and
 * counts OpenMP spin-waiting). Set once by bench_init. */
static clockid_t bench_clock_id = CLOCK_MONOTONIC;

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock_id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* A program's own options: returns how many arguments starting at argv[i]
 * it took (0 = not one of its options). */
typedef int (*bench_opt_fn)(int argc, char **argv, int i, void *ctx);

/* Re-exec with the best BLAS core, parse --threads/--quick (and the
 * program's own options through `opt`, NULL = none; `usage` lists them for
 * the message), set threads, print the header (unless `quiet`). Exits with
 * status 2 on a bad argument. */
static inline bench_env bench_init_ex(int argc, char **argv, const char *title, bench_opt_fn opt,
                                      void *ctx, const char *usage, int quiet)
{
    cl_blas_ensure_core(argv);
    bench_env e = {2, 0};
    const char *t = getenv("COLLAPSE_BENCH_THREADS");
    if (t && *t) e.threads = atoi(t);
    const char *q = getenv("COLLAPSE_BENCH_QUICK");
    if (q && *q && strcmp(q, "0")) e.quick = 1;
    const char *ck = getenv("COLLAPSE_BENCH_CLOCK");
    int cpu = ck && !strcmp(ck, "cpu");
    if (cpu) bench_clock_id = CLOCK_PROCESS_CPUTIME_ID;
    for (int i = 1; i < argc; i++) {
        int took = 0;
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            e.threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--quick")) {
            e.quick = 1;
        } else if (opt && (took = opt(argc, argv, i, ctx)) > 0) {
            i += took - 1;
        } else {
            fprintf(stderr, "usage: %s [--threads N] [--quick]%s%s\n", argv[0],
                    usage ? " " : "", usage ? usage : "");
            exit(2);
        }
    }
    if (e.threads < 1) {
        fprintf(stderr, "%s: thread count must be >= 1\n", argv[0]);
        exit(2);
    }
    cl_blas_set_threads(e.threads);
    if (quiet) return e;
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("# %s\n", title);
    printf("# collapse %s, OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %s threading, %d threads, "
           "isa %s, load avg %.2f, clock %s%s\n",
           CL_GIT, cl_blas_core(), ct ? ct : "unset", cl_blas_threading(), cl_blas_get_threads(),
           cl_isa_name(cl_isa_current()), bench_loadavg(), cpu ? "process CPU time" : "monotonic",
           e.quick ? ", QUICK RUN (not a measurement)" : "");
    fflush(stdout);
    return e;
}

static inline bench_env bench_init(int argc, char **argv, const char *title)
{
    return bench_init_ex(argc, argv, title, NULL, NULL, NULL, 0);
}

typedef void (*bench_fn)(void *ctx);

/* Best seconds per call over `repeats` windows of `iters` calls, after
 * `warmup` untimed calls. */
static inline double bench_time(bench_fn fn, void *ctx, int warmup, int repeats, int iters)
{
    for (int i = 0; i < warmup; i++) fn(ctx);
    double best = 1e300;
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        for (int i = 0; i < iters; i++) fn(ctx);
        double dt = (bench_now() - t0) / iters;
        if (dt < best) best = dt;
    }
    return best;
}

/* Fastest single call (seconds) after one warm-up call: at least min_reps
 * calls, then more until `budget` seconds are spent or max_reps calls. */
static inline double bench_min(bench_fn fn, void *ctx, int min_reps, int max_reps, double budget)
{
    double t0 = bench_now();
    fn(ctx);
    double best = bench_now() - t0, start = bench_now();
    for (int r = 0; r < max_reps; r++) {
        if (r >= min_reps && bench_now() - start >= budget) break;
        t0 = bench_now();
        fn(ctx);
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static inline void *bench_alloc(size_t n, const char *what)
{
    void *p = cl_alloc(n, what);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%s: %zu bytes)\n", what, n);
        exit(1);
    }
    return p;
}

static inline void bench_fill(float *x, int64_t n, uint64_t seed)
{
    cl_rng r;
    cl_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2.0 * cl_rng_uniform(&r) - 1.0);
}

/* Exits with a message if st is not OK (benchmarks have nothing to recover). */
static inline void bench_check(cl_status st, const char *what)
{
    if (st != CL_OK) {
        fprintf(stderr, "bench: %s: %s (%s)\n", what, cl_errmsg(), cl_status_name(st));
        exit(1);
    }
}

/* ---- sgemm ---- */

typedef struct {
    int tA, tB, M, N, K;
    const float *A, *B;
    float *C;
} bench_gemm;

static inline void bench_gemm_run(void *p)
{
    bench_gemm *g = p;
    int lda = g->tA ? g->M : g->K, ldb = g->tB ? g->K : g->N;
    cl_sgemm(g->tA, g->tB, g->M, g->N, g->K, 1.0f, g->A, lda, g->B, ldb, 0.0f, g->C, g->N);
}

/* GFLOP/s of one threaded C[M,N] = op(A) op(B) (row-major): the fastest
 * call of at least `repeats`, more while under `secs` seconds in all. */
static inline double bench_sgemm_gflops(int tA, int tB, int M, int N, int K, int repeats,
                                        double secs)
{
    float *A = bench_alloc(sizeof(float) * (size_t)M * K, "sgemm A");
    float *B = bench_alloc(sizeof(float) * (size_t)K * N, "sgemm B");
    float *C = bench_alloc(sizeof(float) * (size_t)M * N, "sgemm C");
    bench_fill(A, (int64_t)M * K, 1);
    bench_fill(B, (int64_t)K * N, 2);
    bench_gemm g = {tA, tB, M, N, K, A, B, C};
    double t = bench_min(bench_gemm_run, &g, repeats, 1000, secs);
    cl_free(A);
    cl_free(B);
    cl_free(C);
    return 2.0 * M * N * (double)K / t / 1e9;
}

/* The denominator of "% of sgemm": the better of threaded sgemm on 1024^3
 * and 2048^3 (1024^3 only when quick). On an idle machine 2048^3 is the
 * faster; on a loaded one the shorter 1024^3 calls are more often
 * undisturbed. Printed by the caller. */
static inline double bench_sgemm_peak(const bench_env *e)
{
    double a = bench_sgemm_gflops(0, 0, 1024, 1024, 1024, 5, e->quick ? 0.1 : 0.5);
    if (e->quick) return a;
    double b = bench_sgemm_gflops(0, 0, 2048, 2048, 2048, 3, 1.0);
    return a > b ? a : b;
}

/* ---- FMA peak: the machine's floating-point ceiling ----
 *
 * Every thread runs FMA_CHAINS independent multiply-add chains (acc = acc * a
 * + b on whole vector registers) for `iters` iterations; FMA_CHAINS = 16 is
 * far more than latency x throughput needs (4 cycles x 2 FMAs per cycle = 8
 * on current cores), so the loop is limited by the FMA units alone. Path:
 * cl_isa_current() (COLLAPSE_ISA forces one): AVX-512 zmm (16 floats),
 * AVX2+FMA ymm (8 floats), or plain C (scalar, what the compiler makes of it:
 * a lower bound, not a peak). FLOPs = 2 * lanes * FMA_CHAINS * iters per
 * thread. */
#define FMA_CHAINS 16

#if defined(__x86_64__)
#include <immintrin.h>

/* The chains of one path: T the vector type, SET1/FMADD/ADD its intrinsics;
 * leaves the sum of the chains in acc[0]. */
#define BENCH_FMA_CHAINS(T, SET1, FMADD, ADD)                                         \
    T acc[FMA_CHAINS];                                                                \
    const T a = SET1(0.999999f), b = SET1(1e-7f);                                     \
    for (int i = 0; i < FMA_CHAINS; i++) acc[i] = SET1((float)i);                     \
    for (int64_t t = 0; t < iters; t++) {                                             \
        _Pragma("GCC unroll 16") for (int i = 0; i < FMA_CHAINS; i++) acc[i] =        \
            FMADD(acc[i], a, b);                                                      \
    }                                                                                 \
    for (int i = 1; i < FMA_CHAINS; i++) acc[0] = ADD(acc[0], acc[i])

__attribute__((target("avx512f"))) static inline float bench_fma_avx512(int64_t iters)
{
    BENCH_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static inline float bench_fma_avx2(int64_t iters)
{
    BENCH_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps);
    float v[8];
    _mm256_storeu_ps(v, acc[0]);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

static inline float bench_fma_generic(int64_t iters)
{
    float acc[FMA_CHAINS];
    for (int i = 0; i < FMA_CHAINS; i++) acc[i] = (float)i;
    for (int64_t t = 0; t < iters; t++)
#pragma GCC unroll 16
        for (int i = 0; i < FMA_CHAINS; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < FMA_CHAINS; i++) s += acc[i];
    return s;
}

/* Floats per FMA of the path bench_fma_loop runs for `isa`. */
static inline int bench_fma_lanes(cl_isa isa)
{
#if defined(__x86_64__)
    if (isa == CL_ISA_AVX512) return 16;
    if (isa == CL_ISA_AVX2) return 8;
#endif
    (void)isa;
    return 1;
}

static inline float bench_fma_loop(cl_isa isa, int64_t iters)
{
#if defined(__x86_64__)
    if (isa == CL_ISA_AVX512) return bench_fma_avx512(iters);
    if (isa == CL_ISA_AVX2) return bench_fma_avx2(iters);
#endif
    (void)isa;
    return bench_fma_generic(iters);
}

/* FMA peak GFLOP/s over `threads` OpenMP threads (every thread runs the loop;
 * wall time of the parallel region, best of 3 after a warm-up that brings
 * the cores to their clock). *path gets the ISA name. Printed by the caller
 * as "FMA peak: X GFLOP/s (N threads, path)". */
static inline double bench_fma_peak(int threads, int quick, const char **path)
{
    cl_isa isa = cl_isa_current();
    if (path) *path = cl_isa_name(isa);
    int64_t iters = (quick ? 4 : 40) * (int64_t)1000000 / bench_fma_lanes(isa);
    double best = 1e300, sink = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = bench_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += bench_fma_loop(isa, iters);
        double dt = bench_now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    if (sink == 12345.678) printf(" "); /* keeps the loops' results alive */
    return 2.0 * bench_fma_lanes(isa) * FMA_CHAINS * (double)iters * threads / best / 1e9;
}

/* Measures and prints the FMA peak line; returns GFLOP/s. */
static inline double bench_fma_peak_print(const bench_env *e)
{
    const char *path;
    double p = bench_fma_peak(e->threads, e->quick, &path);
    printf("# FMA peak: %.1f GFLOP/s (%d threads, %s)\n", p, e->threads, path);
    fflush(stdout);
    return p;
}

#endif
