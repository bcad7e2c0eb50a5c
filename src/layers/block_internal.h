/* Internal to layers/block.c and layers/block_blocked.c: a BasicBlock's
 * sub-layers and the pieces the channel-blocked paths share with the
 * NCHW one (the saved-area layout is block.c's). */
#ifndef COLLAPSE_LAYERS_BLOCK_INTERNAL_H
#define COLLAPSE_LAYERS_BLOCK_INTERNAL_H

#include "layers.h"

/* The sub-layers in l->sub, in parameter order (SC_*: projection only). */
enum { CONV1, BN1, RELU1, CONV2, BN2, SC_CONV, SC_BN, NSUB_MAX };

/* dx [n] = a + b (a may be dx): the residual add of a block's backward */
void cl_block_add(float *dx, const float *a, const float *b, int64_t n);

/* Sub-layer i's forward / backward through the ops table. */
void cl_block_sub_forward(const cl_layer *l, int i, const cl_run *r, const float *p, float *b,
                          const float *x, float *y, float *saved);
void cl_block_sub_backward(const cl_layer *l, int i, const cl_run *r, const float *p,
                           const float *x, const float *y, const float *saved, const float *dy,
                           float *dx, float *dp);

/* The blocked path (block_blocked.c): whether the block's shape has one
 * (identity blocks, and projection blocks whose conv2 and output are
 * blocked-shaped), whether it runs in run r (the shape, AVX-512,
 * COLLAPSE_CONV auto, no SyncBN), and its workspace. */
int cl_block_shape_blocked(const cl_layer *l);
int cl_block_use_blocked(const cl_layer *l, const cl_run *r);
int64_t cl_block_blocked_ws(const cl_layer *l, int n);

/* The state both passes see: the sub-layers' stored outputs a[i] and saved
 * states at saved + so[i] (block.c's layout), xbs: the A floats kept for the
 * blocked path (the blocked input of an identity block, the blocked
 * shortcut of a projection). */
typedef struct {
    float *a[NSUB_MAX];
    int64_t so[NSUB_MAX];
    float *saved, *xbs;
} cl_block_state;

void cl_block_forward_blocked(const cl_layer *l, const cl_run *r, const float *p, float *b,
                              const float *x, float *y, const cl_block_state *s);
/* g, g1, g2: gradient buffers of the output size, gx of the input size;
 * recompute: the forward was an eval one that did not store conv2's output. */
void cl_block_backward_blocked(const cl_layer *l, const cl_run *rs, const float *p,
                               const float *x, const cl_block_state *s, const float *dy,
                               float *dx, float *dp, float *g, float *g1, float *g2, float *gx,
                               int recompute);

#endif
