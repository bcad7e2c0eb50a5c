/* collapse probe: how well a trained body serves new classes (transfer;
 * study/probe.c). The frozen model's features at one layer, in eval mode,
 * over the target train and test splits, measured by NC1 (nc.h, no
 * classifier), CDNV, few-shot nearest-class-centre accuracy and a ridge
 * linear probe (transfer.h). Galanti, Gyorgy & Hutter ICLR 2022; Li et al.
 * TMLR 2024. Library code: no printing. */
#ifndef COLLAPSE_PROBE_H
#define COLLAPSE_PROBE_H

#include <stdint.h>

#include "collapse/data.h"
#include "collapse/json.h"
#include "collapse/nn.h"
#include "collapse/train.h"

#define CL_PROBE_MAX_SHOTS 8

typedef struct {
    int layer;                      /* model layer whose output is the feature; -1 = input */
    int shots[CL_PROBE_MAX_SHOTS];  /* k of the k-shot episodes */
    int nshots;
    int episodes;                   /* per k */
    uint64_t seed;                  /* episodes and the probe's hold-out */
    double ridge;                   /* lam_rel > 0 fixed, <= 0 chosen (transfer.h) */
} cl_probe_opts;

/* Defaults: penultimate layer (set by the caller), shots {1, 5}, 100
 * episodes, seed 1, ridge chosen. */
cl_probe_opts cl_probe_opts_default(void);

typedef struct {
    int64_t ntrain, ntest;
    int dim, K;
    double nc1_train, nc1_test;       /* tr(Sw Sb^+)/K; NAN when undefined */
    double cdnv_train, cdnv_test;     /* mean over class pairs */
    double cdnv_max_train, cdnv_max_test;
    int nshots;
    int shots[CL_PROBE_MAX_SHOTS];
    double fewshot_mean[CL_PROBE_MAX_SHOTS], fewshot_ci95[CL_PROBE_MAX_SHOTS];
    double probe_acc;                 /* ridge probe, test accuracy */
    double probe_lambda;              /* its lam_rel */
} cl_probe_result;

/* The outputs of model layer `layer` (-1: the input) for every sample of
 * ds, in dataset order, into a new H [ds->n, *dim] (cl_alloc'ed; free with
 * cl_free; NULL on error); bn_train as cl_train_forward_each (BN batch
 * statistics; rows are put back in dataset order). Also `collapse
 * features`'s. Errors: CL_ENOMEM ("features of N x dim floats: ..."), the
 * forward pass's. */
cl_status cl_probe_layer_features(cl_model *m, const cl_train_data *ds, int layer,
                                  int bn_train, float **H, int64_t *dim);

/* Runs the probe: features of o->layer over train (support, probe fit) and
 * test (queries, probe test) in eval mode (BN running statistics), then the
 * measures. m must be allocated (cl_model_alloc) and take the data's
 * shape. K = train->classes (test must have the same). Errors: CL_EINVAL
 * (bad options, layer out of range, shape or K mismatch, too few samples
 * per class for a k), CL_ENOMEM, the forward pass's and analyzers' errors. */
cl_status cl_probe_run(cl_model *m, const cl_dataset *train, const cl_dataset *test,
                       const cl_probe_opts *o, cl_probe_result *r);

/* Writes r as the JSON object `key` (NULL inside an array): n, dim, K,
 * nc1/cdnv per split, fewshot [{shots, mean, ci95}], probe_acc,
 * probe_lambda. */
void cl_probe_result_json(cl_json *j, const char *key, const cl_probe_result *r);

#endif
