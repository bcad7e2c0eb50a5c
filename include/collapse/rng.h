/* Explicit random-number state (no globals): xoshiro256** seeded through
 * splitmix64. Same seed + same call sequence = same numbers on any machine.
 * The state is plain data, so it can be checkpointed by copying the struct. */
#ifndef COLLAPSE_RNG_H
#define COLLAPSE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    /* cached second Box-Muller normal */
    double spare;
    int has_spare;
} cl_rng;

void cl_rng_seed(cl_rng *r, uint64_t seed);
uint64_t cl_rng_u64(cl_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double cl_rng_uniform(cl_rng *r);
/* Uniform integer in [0, n), unbiased (rejection). n > 0. */
uint64_t cl_rng_below(cl_rng *r, uint64_t n);
/* Standard normal (Box-Muller, double precision). */
double cl_rng_normal(cl_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void cl_rng_shuffle_i32(cl_rng *r, int32_t *idx, int64_t n);
/* A new independent stream derived from this one (for sub-tasks:
 * data order, init, label noise, ...), deterministic from the parent state. */
cl_rng cl_rng_split(cl_rng *r);

#endif
