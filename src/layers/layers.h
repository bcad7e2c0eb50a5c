/* Internal: the ops tables of the layer kinds (one file each under
 * src/layers/) and helpers shared between layer files. Not installed. */
#ifndef COLLAPSE_LAYERS_INTERNAL_H
#define COLLAPSE_LAYERS_INTERNAL_H

#include "collapse/nn.h"

extern const cl_layer_ops cl_linear_ops;    /* linear.c */
extern const cl_layer_ops cl_conv2d_ops;    /* conv2d.c */
extern const cl_layer_ops cl_batchnorm_ops; /* batchnorm.c */
extern const cl_layer_ops cl_relu_ops;      /* relu.c */
extern const cl_layer_ops cl_maxpool_ops;   /* pool.c */
extern const cl_layer_ops cl_avgpool_ops;   /* pool.c */
extern const cl_layer_ops cl_gap_ops;       /* pool.c */
extern const cl_layer_ops cl_flatten_ops;   /* flatten.c */
extern const cl_layer_ops cl_block_ops;     /* block.c */
extern const cl_layer_ops cl_cumlink_ops;   /* cumlink.c */
extern const cl_layer_ops cl_cosine_ops;    /* cosine.c */

/* Checks the spec fields against the kind's key mask (nn.h
 * CL_LAYER_KEY_*): each key the kind does not use must be 0, and only kinds
 * with parameters can be the classifier. CL_EINVAL naming the layer. Every
 * infer calls it. */
cl_status cl_layer_check_keys(const cl_layer *l);

/* batchnorm.c: a BN layer with the ReLU that follows it (and the residual
 * add before that ReLU) fused into its passes, for the BasicBlock (block.c).
 * Forward: y = relu(bn(x) + res) (res NULL = none), saved and bufs as the
 * plain layer. Backward: y = that forward's output; the masked gradient
 * g = dy where y > 0 is written to g when keep_g (g may equal dy; g must be
 * a buffer of the activation size either way: synchronised BN uses it), dx
 * and dp as the plain layer's backward of g. y = NULL (only without res,
 * and without keep_g): the mask is redone from x (cl_bn_backward_relu_x),
 * so y is not read. */
void cl_bn_forward_relu(const cl_layer *l, const cl_run *r, const float *p, float *b,
                        const float *x, const float *res, float *y, float *saved);
void cl_bn_backward_relu_layer(const cl_layer *l, const cl_run *r, const float *p,
                               const float *x, const float *y, const float *saved,
                               const float *dy, float *g, int keep_g, float *dx, float *dp);

/* The same two in the channel-blocked layout (kernels_blocked.h), every
 * tensor blocked, for a BasicBlock that runs blocked inside: the backward
 * redoes the ReLU mask from x and the residual res (NULL = none), so the
 * forward's output need not be kept blocked; gb (the masked gradient) is
 * written unless NULL; dxb may be dyb. Not with synchronised BN:
 * cl_bn_sync_on(r) says when that is on (then the block runs NCHW). */
int cl_bn_sync_on(const cl_run *r);
void cl_bn_forward_relu_blocked(const cl_layer *l, const cl_run *r, const float *p, float *b,
                                const float *xb, const float *res, float *yb, float *saved);
void cl_bn_backward_relu_blocked(const cl_layer *l, const cl_run *r, const float *p,
                                 const float *xb, const float *res, const float *dyb,
                                 const float *saved, float *gb, float *dxb, float *dp);
/* The statistics phase of cl_bn_forward_relu_blocked alone: mean and
 * invstd into saved (train: of xb, with the running update; eval: the
 * running ones, xb not read), for an apply fused into a convolution
 * (kernels_blocked.h cl_blk_bn); the backward is the same. */
void cl_bn_stats_blocked(const cl_layer *l, const cl_run *r, float *b, const float *xb,
                         float *saved);

#endif
