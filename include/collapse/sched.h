/* Learning-rate schedules: a pure function lr(t).
 *
 * t is a time in ONE unit chosen by the caller: epochs (t = epoch index,
 * 0-based, or fractional epoch + step/steps_per_epoch) or optimizer steps.
 * Every length in cl_sched (milestones, warmup, total) is in that same unit.
 *
 *   main(t):
 *     CONST      lr
 *     MULTISTEP  lr * gamma^(number of milestones m with m <= t)
 *                (PyTorch MultiStepLR; epoch m is the first decayed one).
 *                nmilestones == 0 means Papyan et al.'s default: milestones
 *                floor(total/3) and floor(2*total/3), each dropped when
 *                it is 0 (runs under 3 epochs never start decayed).
 *     COSINE     min_lr + (lr - min_lr) * (1 + cos(pi * u)) / 2 with
 *                u = clamp((t - warmup) / (total - warmup), 0, 1)
 *                (PyTorch CosineAnnealingLR over the post-warmup part)
 *   lr(t) = main(t) * w(t), w(t) = warmup_start + (1 - warmup_start) * t / warmup
 *   for t < warmup (linear warmup, PyTorch LinearLR), w = 1 afterwards. */
#ifndef COLLAPSE_SCHED_H
#define COLLAPSE_SCHED_H

#include "collapse/error.h"

#define CL_SCHED_MAX_MILESTONES 16

typedef enum {
    CL_SCHED_CONST,
    CL_SCHED_MULTISTEP,
    CL_SCHED_COSINE,
    CL_SCHED_KIND_COUNT
} cl_sched_kind;

typedef struct {
    cl_sched_kind kind;
    double lr;            /* base (peak) learning rate */
    double total;         /* run length (COSINE horizon, Papyan milestones) */
    double gamma;         /* MULTISTEP decay factor (default 0.1) */
    int nmilestones;      /* MULTISTEP; 0 = Papyan default from total */
    double milestones[CL_SCHED_MAX_MILESTONES]; /* increasing */
    double min_lr;        /* COSINE floor (default 0) */
    double warmup;        /* warmup length (0 = none) */
    double warmup_start;  /* warmup factor at t = 0, in [0, 1] (default 0) */
} cl_sched;

/* A schedule of `kind` with base lr and run length total, gamma 0.1, no
 * explicit milestones, min_lr 0, no warmup. */
cl_sched cl_sched_make(cl_sched_kind kind, double lr, double total);

/* Parses the schedule part of a command line into s->kind (and milestones /
 * min_lr), leaving lr/total/warmup as they are:
 *   "const" | "constant"
 *   "step" | "multistep"             Papyan default milestones
 *   "step=M1,M2,..."                 explicit milestones (same unit as t)
 *   "cosine" | "cosine=MIN_LR"
 * Errors: CL_EINVAL quoting the bad string or value. */
cl_status cl_sched_parse(const char *str, cl_sched *s);

/* Checks the values (lr > 0, total > 0, milestones increasing, 0 < gamma,
 * warmup >= 0, warmup_start in [0,1], min_lr in [0, lr]). CL_EINVAL naming
 * the field. */
cl_status cl_sched_check(const cl_sched *s);

/* The learning rate at time t (see above). */
double cl_sched_lr(const cl_sched *s, double t);

const char *cl_sched_kind_name(cl_sched_kind k);

/* Papyan et al. 2020's default milestones for a run of length `total`:
 * floor(total/3) and floor(2*total/3), in that order, into m[0..1]. A
 * milestone at 0 (runs shorter than 3) would decay the rate before the
 * first step, so it is dropped. Returns how many were written (0..2). */
int cl_sched_papyan_milestones(double total, double m[2]);

#endif
