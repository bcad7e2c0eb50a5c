/* Helpers shared by the study tests (tests/test_study*.c): a tiny MLP and a
 * toy 3-class problem trained with the study writing its results folder. */
#ifndef COLLAPSE_TESTS_STUDY_COMMON_H
#define COLLAPSE_TESTS_STUDY_COMMON_H

#include <stdint.h>

#include "collapse/csv.h"
#include "collapse/study.h"
#include "collapse/train.h"

/* An MLP in -> 8 -> 6 -> K with ReLUs, seeded. */
cl_model *mlp(int in, int K, uint64_t seed);

#define NTR 60
#define NTE 30
#define DIN 4
#define KC 3

typedef struct {
    float xtr[NTR * DIN], xte[NTE * DIN];
    int32_t ytr[NTR], yte[NTE];
    cl_train_data train, test;
} toy;

/* NTR + NTE samples of KC Gaussian classes in DIN dimensions, seeded. */
void toy_make(toy *t);

/* Constant lr 0.2, batch 16, results into dir. */
cl_train_config toy_cfg(const char *dir, int epochs);

/* Trains the toy MLP for `epochs` with the study writing to dir; with
 * skip, the study's sweeps replace the trainer's eval passes. */
void toy_run_ex(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep,
                int skip);
void toy_run(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep);

/* The value of column `name` in row `row` of a CSV read back. */
double metric_of(const cl_csv *c, int64_t row, const char *name);

#endif
