/* C builders of the named architectures: each writes a flat list of layer
 * specs (nn.h) with stable, documented layer names, so a study can tap any
 * hidden layer by name (`--layer NAME`, layers.csv).
 *
 *   mlp        flatten, then `depth` x (fcI [bnI] reluI), then fc
 *              (width 1024, depth 3, bn 0 by default; Papyan et al.'s MNIST
 *              MLP; He & Su use width 100, depth 6, bn 1)
 *   resnet20/32/56  CIFAR ResNets (He et al. 2016): stem_conv (3x3, base
 *              width 16, no bias) stem_bn stem_relu, three stages of
 *              n = 3/5/9 BasicBlocks block1..block3n with widths
 *              16/32/64 (times width/16), the first block of stages 2 and 3
 *              with stride 2, then pool (global average) flatten fc
 *   resnet18/34     CIFAR variants of ResNet-18/34: 3x3 stem (64, stride 1,
 *              no max-pool), four stages of 2-2-2-2 / 3-4-6-3 BasicBlocks
 *              with widths 64/128/256/512 times width_mult (strides 1,2,2,2),
 *              then pool flatten fc
 *   convnet    `depth` stages (default 2) of convI (3x3, pad 1, no bias)
 *              [bnI] reluI poolI (2x2 max), widths width*2^(I-1) (default
 *              32), then gap flatten fc
 *
 * feature_dim dim > 0 sets the width of the classifier's input: the MLP's
 * last hidden layer gets width dim; the ResNets and the ConvNet get an extra
 * `feat` linear layer (C -> dim) and `feat_relu` after flatten
 * (cl_specs_set_feature_dim).
 *
 * The classifier is always the last layer, named `fc`, linear with
 * out = classes and spec.classifier = 1. Head options (bias, ETF) are
 * applied by modelcfg.h, not here. */
#ifndef COLLAPSE_BUILDERS_H
#define COLLAPSE_BUILDERS_H

#include <stddef.h>

#include "collapse/error.h"
#include "collapse/nn.h"

typedef struct {
    int width;         /* mlp: hidden width; resnet: base width (16 or 64);
                          convnet: first conv channels; 0 = default */
    int depth;         /* mlp: hidden layers; convnet: conv stages; 0 = default */
    int bn;            /* mlp / convnet: BatchNorm after each hidden layer
                          (-1 = default: mlp 0, convnet 1) */
    double width_mult; /* resnet18/34 channel multiplier (0 = 1) */
    int feature_dim;   /* classifier input width dim (0 = the architecture's own) */
} cl_arch_opts;

/* All defaults (zeros, bn = -1). */
cl_arch_opts cl_arch_opts_default(void);

/* [model] keys an architecture uses (cl_arch_info.keys); the others are
 * errors in a model file. */
enum {
    CL_ARCH_KEY_WIDTH = 1 << 0,
    CL_ARCH_KEY_DEPTH = 1 << 1,
    CL_ARCH_KEY_BN = 1 << 2,
    CL_ARCH_KEY_WIDTH_MULT = 1 << 3,
};

/* One named architecture: the single source of the names used by model
 * files (`type = ...`), --arch and their messages. */
typedef struct {
    const char *name;  /* "mlp", "resnet20", ... */
    const char *descr; /* one line */
    unsigned keys;     /* CL_ARCH_KEY_* that the [model] section may set */
    cl_status (*build)(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n);
} cl_arch_info;

/* All named architectures, in a fixed order; *n = how many. */
const cl_arch_info *cl_arch_list(int *n);
/* The architecture called `name`, or NULL. */
const cl_arch_info *cl_arch_find(const char *name);
/* Writes the names joined by `sep` into buf (always NUL-terminated,
 * truncated to cap). */
void cl_arch_names(char *buf, size_t cap, const char *sep);

/* 1 if `type` names a builder ("mlp", "resnet20", ...). */
int cl_arch_known(const char *type);

/* Writes the spec list of architecture `type` for `classes` classes into
 * *specs (cl_alloc'ed, caller frees with cl_free) and *n.
 * Errors: CL_EINVAL (unknown type, bad option values: width < 1,
 * width_mult giving 0 channels, classes < 2), CL_ENOMEM. */
cl_status cl_build_arch(const char *type, const cl_arch_opts *o, int classes,
                        cl_layer_spec **specs, int *n);

/* The one place that applies --feature-dim: the last linear layer before
 * the classifier specs[ci] (only batchnorm/relu/flatten in between) gets
 * out = dim. Errors: CL_EINVAL when there is no such layer. */
cl_status cl_specs_set_feature_dim(cl_layer_spec *specs, int ci, int dim);

/* The individual builders (same contract). `blocks` are the BasicBlocks per
 * stage; `nstages` is 3 (CIFAR ResNet-20/32/56) or 4 (ResNet-18/34). */
cl_status cl_build_mlp(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n);
cl_status cl_build_resnet(const int *blocks, const int *widths, int nstages,
                          const cl_arch_opts *o, int classes, cl_layer_spec **specs,
                          int *n);
cl_status cl_build_convnet(const cl_arch_opts *o, int classes, cl_layer_spec **specs,
                           int *n);

#endif
