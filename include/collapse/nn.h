/* Layers and sequential models.
 *
 * Dimension names used everywhere: N batch, C/H/W channels/height/width,
 * OC output channels, dim feature dimension, K classes. Activations are
 * NCHW, row-major, float32; a vector activation is {C = dim, H = 1, W = 1}.
 *
 * A layer is a small struct plus an enum tag; its behaviour lives in a const
 * ops table (cl_layer_ops_table[kind]). A model is a flat list of layers run
 * in order; a residual BasicBlock is one layer that owns its sub-layers.
 *
 * Storage (allocated once by cl_model_alloc, never per batch):
 *   params  one flat float vector, every layer's parameters at l->param_off
 *   grads   same layout as params
 *   bufs    non-trainable state (BN running mean/var), at l->buf_off
 *   acts    each layer's output for the largest batch (kept for backward
 *           and for taps: feature extraction reads them)
 *   saved   per-layer extra state kept from forward for backward
 *   ws      one shared scratch workspace sized by the largest layer
 *
 * GRADIENTS: backward ACCUMULATES into parameter gradients (dp += ...);
 * the trainer zeroes them (cl_model_zero_grad). Input gradients dx are
 * OVERWRITTEN (dx = ...). */
#ifndef COLLAPSE_NN_H
#define COLLAPSE_NN_H

#include <stdint.h>

#include "collapse/comm.h"
#include "collapse/error.h"
#include "collapse/rng.h"
#include "collapse/shape.h"

typedef enum {
    CL_LAYER_LINEAR,    /* y = x W^T + b; W [OUT, IN] (PyTorch layout), b [OUT] */
    CL_LAYER_CONV2D,    /* W [OC, C, k, k], b [OC]; per image im2col + sgemm
                           (none for 1x1), several images per sgemm on small
                           maps, k*k shifted sgemms for wide stride-1 "same"
                           convs (kernels_conv.h) */
    CL_LAYER_BATCHNORM, /* 1d on {C,1,1} or 2d on {C,H,W}; gamma [C], beta [C];
                           bufs: running_mean [C], running_var [C] (unbiased,
                           as PyTorch) */
    CL_LAYER_RELU,
    CL_LAYER_MAXPOOL,   /* k, stride, pad */
    CL_LAYER_AVGPOOL,   /* k, stride, pad (count_include_pad = true, as PyTorch) */
    CL_LAYER_GAP,       /* global average pool: {C,H,W} -> {C,1,1} */
    CL_LAYER_FLATTEN,   /* {C,H,W} -> {C*H*W,1,1} (no copy needed, same memory order) */
    CL_LAYER_BLOCK,     /* residual BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN
                           + shortcut (identity, or conv1x1(stride)+BN when the
                           stride is not 1 or channels change), then ReLU */
    CL_LAYER_CUMLINK,   /* cumulative-link thresholds (ordinal regression, Ma,
                           Obuchi & Tanaka 2025): z [N,1] -> o [N,K-1],
                           o_q = b_q - z; params: the K-1 thresholds as b_0
                           then raw gaps (cl_cumlink_thresholds), so they stay
                           increasing; frozen = fixed thresholds. Init: evenly
                           spaced by CL_CUMLINK_SPACING, centred on 0 */
    CL_LAYER_COSINE,    /* cosine classifier y = T <x/|x|, w/|w|>, W [OUT, IN], no
                           bias, fixed temperature T (Jiang et al. ICML 2024) */
    CL_LAYER_KIND_COUNT
} cl_layer_kind;

/* What a user specifies for one layer (from a model file or a C builder). */
typedef struct {
    cl_layer_kind kind;
    char name[32];   /* unique; "" = auto: the kind's prefix (cl_layer_ops
                        .prefix, else .name: conv, bn, linear, ...) + the count
                        of that kind so far ("conv3" = the third conv2d),
                        skipping names already taken */
    int out;         /* LINEAR: out features; CONV2D/BLOCK: OC */
    int k;           /* CONV2D/MAXPOOL/AVGPOOL kernel size */
    int stride;      /* CONV2D/POOL/BLOCK stride (0 = 1 for conv/block, = k for pools) */
    int pad;         /* CONV2D/POOL padding */
    int bias;        /* LINEAR/CONV2D: 1 = with bias (ignored by other kinds;
                        BLOCK convs never have a bias; BLOCK needs k in {0, 3}
                        and pad = 0) */
    float eps;       /* BATCHNORM (0 = 1e-5) */
    float momentum;  /* BATCHNORM running-stat momentum, PyTorch meaning (0 = 0.1) */
    int frozen;      /* parameters are not trained (fixed ETF classifier) */
    int classifier;  /* parameter group 1 (own weight decay); else group 0 */
    float temperature; /* COSINE: the logit scale T > 0 */
} cl_layer_spec;

/* The keys of a layer's model-file section besides `kind` (cl_layer_spec
 * fields), as bits of cl_layer_ops.keys: the keys a kind uses. A key
 * outside a kind's mask must keep its zero default, except `bias` and
 * `frozen`, which every kind accepts and ignores where they do not apply
 * (builders set bias = 1 on every spec). */
enum {
    CL_LAYER_KEY_OUT = 1 << 0,
    CL_LAYER_KEY_K = 1 << 1,
    CL_LAYER_KEY_STRIDE = 1 << 2,
    CL_LAYER_KEY_PAD = 1 << 3,
    CL_LAYER_KEY_BIAS = 1 << 4,
    CL_LAYER_KEY_EPS = 1 << 5,
    CL_LAYER_KEY_MOMENTUM = 1 << 6,
    CL_LAYER_KEY_FROZEN = 1 << 7,
    CL_LAYER_KEY_CLASSIFIER = 1 << 8,
    CL_LAYER_KEY_TEMPERATURE = 1 << 9,
};

typedef struct cl_layer cl_layer;

enum { CL_BLOCKED_IN = 1, CL_BLOCKED_OUT = 2 }; /* cl_layer_ops.blocked_io */

/* Per-call context handed to forward/backward. */
typedef struct {
    int n;     /* batch size of this call (<= the size the model was allocated for) */
    int train; /* 1: BN uses batch statistics and updates running stats */
    float *ws; /* shared scratch, at least ws_floats(layer, n) floats */
    cl_comm *comm; /* train mode: BN statistics summed over this process group
                      (--sync-bn, comm.h); NULL = this process's batch only */
    /* x / dx (in_blocked) and y / dy (out_blocked) are in the channel-blocked
     * layout (kernels_blocked.h) instead of NCHW: set by the model only
     * between two layers whose blocked_io says yes for this run, and the
     * same in a backward as in its forward; 0 everywhere else. */
    int in_blocked, out_blocked;
} cl_run;

typedef struct {
    const char *name;   /* kind name in model files and summaries ("conv2d") */
    const char *prefix; /* automatic layer names (nn.h cl_layer_spec.name) if
                           not `name` ("conv"); NULL = name */
    unsigned keys;      /* CL_LAYER_KEY_* this kind uses */
    /* Validates the spec against the input shape and fills l->out,
     * l->nparams, l->nbufs (and sub-layers for BLOCK). Error = CL_EINVAL with
     * a message naming the layer. */
    cl_status (*infer)(cl_layer *l, cl_shape in);
    /* Initialises params p[nparams] and bufs b[nbufs] (PyTorch defaults:
     * kaiming-uniform(a=sqrt(5)) weights, uniform(+-1/sqrt(fan_in)) biases,
     * BN gamma 1 beta 0, running var 1). */
    void (*init)(const cl_layer *l, float *p, float *b, cl_rng *rng);
    /* Floats of saved state needed for backward, and of scratch, for batch n. */
    int64_t (*saved_floats)(const cl_layer *l, int n);
    int64_t (*ws_floats)(const cl_layer *l, int n);
    /* x [n, in], y [n, out]. May update bufs (BN running stats when train). */
    void (*forward)(const cl_layer *l, const cl_run *r, const float *p, float *b,
                    const float *x, float *y, float *saved);
    /* dy [n, out] -> dx [n, in] (overwritten; NULL = not needed) and
     * dp [nparams] (accumulated). x, y, saved are what forward saw/wrote. */
    void (*backward)(const cl_layer *l, const cl_run *r, const float *p,
                     const float *x, const float *y, const float *saved,
                     const float *dy, float *dx, float *dp);
    /* Frees what infer allocated (sub-layers). May be NULL. */
    void (*destroy)(cl_layer *l);
    /* Multiply-adds per sample in forward (for FLOP reports). */
    int64_t (*flops)(const cl_layer *l);
    /* Whether this layer can take x (CL_BLOCKED_IN) and give y
     * (CL_BLOCKED_OUT) in the channel-blocked layout in run r
     * (cl_run.in_blocked / out_blocked). May be NULL: never. */
    int (*blocked_io)(const cl_layer *l, const cl_run *r);
} cl_layer_ops;

struct cl_layer {
    cl_layer_spec spec;
    cl_shape in, out;
    int64_t nparams, param_off; /* into the model's flat params/grads */
    int64_t nbufs, buf_off;     /* into the model's bufs */
    int64_t saved_off;          /* into the model's saved area (per max batch) */
    cl_layer *sub;              /* BLOCK: its sub-layers (owned) */
    int nsub;
};

extern const cl_layer_ops *const cl_layer_ops_table[CL_LAYER_KIND_COUNT];
/* The kind's ops->name, or "unknown" for a value out of range. */
const char *cl_layer_kind_name(cl_layer_kind k);
/* "linear" -> CL_LAYER_LINEAR etc. (the ops names). Error: CL_EINVAL
 * "unknown layer kind '...'" listing the kinds; *kind is then unchanged. */
cl_status cl_layer_kind_parse(const char *name, cl_layer_kind *kind);

/* One contiguous range of the flat parameter vector with one training rule. */
typedef struct {
    int64_t off, len;
    int group;   /* 0 body, 1 classifier */
    int frozen;  /* 1: optimizer must not change it */
} cl_param_range;

typedef struct {
    cl_shape in;
    int nlayers;
    cl_layer *layers;
    int64_t nparams, nbufs;
    float *params, *grads, *bufs;
    /* per-range training rules, one per layer with parameters */
    int nranges;
    cl_param_range *ranges;
    /* activation storage, sized by cl_model_alloc */
    int max_n;
    float **acts;      /* acts[i]: output of layer i, [max_n, out_i] */
    float *saved, *ws;
    float *dbuf[2];    /* ping-pong activation gradients */
    /* act_blocked[i]: acts[i] is channel-blocked (not NCHW) after the last
     * forward (cl_model_forward_taps); the backward follows it */
    unsigned char *act_blocked;
    /* Layers [0, eval_prefix) run with train = 0 even in training passes
     * (a frozen body's BN normalises with, and keeps, its running
     * statistics: fine-tuning, --frozen-bn eval). 0 = none (the default). */
    int eval_prefix;
    /* Data-parallel training (train/ddp.c); all NULL otherwise. bn_comm goes
     * into cl_run.comm of every forward/backward (sync BN); grad_ready is
     * called by cl_model_backward after each layer with parameters, whose
     * gradients (grads[param_off .. +nparams)) are then final. */
    cl_comm *bn_comm;
    void (*grad_ready)(void *user, const cl_layer *l);
    void *grad_ready_user;
} cl_model;

/* At most CL_MODEL_MAX_LAYERS top-level layers. */
#define CL_MODEL_MAX_LAYERS 4096

/* The parameter and buffer counts cl_model_create would lay out, without
 * allocating them (same checks and errors). */
cl_status cl_model_count(cl_shape in, const cl_layer_spec *specs, int n, int64_t *nparams,
                         int64_t *nbufs);

/* Builds a model from n specs on per-sample input shape `in`: checks every
 * shape, assigns names, lays out params and bufs and allocates them (params
 * initialised from `rng`). Errors: CL_EINVAL naming the layer, CL_ENOMEM. */
cl_status cl_model_create(cl_model **out, cl_shape in, const cl_layer_spec *specs,
                          int n, cl_rng *rng);
void cl_model_destroy(cl_model *m);

/* Allocates activations, saved state and workspace for batches up to max_n
 * (once; calling again with a larger max_n reallocates). */
cl_status cl_model_alloc(cl_model *m, int max_n);

/* Runs all layers on x [n, in] (n <= max_n). Returns the last layer's
 * output [n, out] (inside m->acts). Every m->acts[i] is NCHW afterwards. */
const float *cl_model_forward(cl_model *m, const float *x, int n, int train);
/* cl_model_forward where only the outputs of the layers listed in taps
 * [ntaps] (and the last layer's) must be NCHW for the caller: between two
 * layers that both support it (cl_layer_ops.blocked_io), an output the
 * caller does not read stays channel-blocked (m->act_blocked), which saves
 * two layout conversions. taps may be NULL with ntaps 0 (logits only);
 * indices outside 0..nlayers-1 are ignored (-1 = the input). */
const float *cl_model_forward_taps(cl_model *m, const float *x, int n, int train,
                                   const int *taps, int ntaps);
/* Backward through all layers after a forward with the same x, n, train.
 * dlogits [n, out_last]. Accumulates into m->grads. Layers before the first
 * layer that has parameters and is not frozen get no backward (their
 * gradients stay as they are: nothing before them is trained). */
void cl_model_backward(cl_model *m, const float *x, const float *dlogits, int n, int train);
void cl_model_zero_grad(cl_model *m);

/* Index of the layer called `name`, or -1. */
int cl_model_find(const cl_model *m, const char *name);
/* Index of the classifier layer (last layer with spec.classifier, else the
 * last linear), or -1. */
int cl_model_classifier_index(const cl_model *m);
/* The parameters the optimizer changes: those of ranges not frozen (a fixed
 * ETF classifier, --freeze-through, fixed CLM thresholds are frozen). */
int64_t cl_model_trainable_params(const cl_model *m);
/* 1 if the classifier's input is nonnegative by construction: a ReLU (or a
 * residual block, which ends with one) followed only by pooling / flatten
 * layers (which keep the sign). 0 otherwise, and for a model without a
 * classifier. */
int cl_model_features_nonneg(const cl_model *m);
/* Writes the layer table (index, kind, name, in -> out, params) and total
 * into buf (always NUL-terminated). Returns the length it needed. */
int cl_model_summary(const cl_model *m, char *buf, int cap);
int64_t cl_model_flops(const cl_model *m); /* multiply-adds per sample, forward */

/* ---- cumulative-link thresholds (CL_LAYER_CUMLINK, layers/cumlink.c) ----
 * p [nthr] are the layer's parameters: p[0] = b_0, p[q] = r_q with
 * b_q = b_{q-1} + softplus(r_q) (q = 1..nthr-1), computed in double.
 * cl_cumlink_set_even writes evenly spaced thresholds b_q = (q - (nthr-1)/2)
 * * spacing (centred on 0; spacing > 0). cl_cumlink_thresholds decodes p
 * into b [nthr] (strictly increasing unless a gap underflows to 0). */
void cl_cumlink_set_even(float *p, int nthr, double spacing);
/* The default spacing, 4. Why not 1: at its midpoint an interior class has
 * P = sigmoid(S/2) - sigmoid(-S/2) while the outer class next to it has
 * sigmoid(-S/2), so argmax_q P(y = q) can pick class 1 (and K-2) only if
 * e^(S/2) > 2, S > 2 ln 2 = 1.39; S = 4 gives the interior classes up to
 * 0.76 (measured: results/ordinal_mnist, S = 1 never predicts 1 and 8). */
#define CL_CUMLINK_SPACING 4.0
void cl_cumlink_thresholds(const float *p, int nthr, double *b);

#endif
