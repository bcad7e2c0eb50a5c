/* Residual BasicBlock (He et al.; torchvision / CIFAR ResNets):
 *   y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
 * conv1 3x3 (stride s, pad 1), conv2 3x3 (stride 1, pad 1), all without
 * bias (`spec.bias` is ignored); shortcut = identity, or conv1x1(stride s)
 * + BN when s != 1 or the channel count changes ("projection").
 *
 * The block owns its sub-layers in l->sub, in parameter order:
 *   conv1, bn1, relu1, conv2, bn2 [, sc_conv, sc_bn]
 * and runs them through cl_layer_ops_table. Params (flat, PyTorch order):
 * conv1.W, bn1.gamma, bn1.beta, conv2.W, bn2.gamma, bn2.beta [, sc_conv.W,
 * sc_bn.gamma, sc_bn.beta]; bufs: bn1, bn2 [, sc_bn] running mean/var.
 *
 * bn1 + relu1 and bn2 + the residual add + the final ReLU run fused
 * (cl_bn_forward_relu, batchnorm.c): the normalised tensors are never
 * stored, and the backward applies the ReLU masks inside the BN passes
 * (the same float operations as the separate layers, so the results are
 * bit-identical; one write and one read of A less per fused step in
 * forward, the mask pass folded into the BN sums pass in backward).
 *
 * Blocks whose conv2 has channels and a plane in multiples of 16 run
 * channel-blocked inside on AVX-512 (block_blocked.c, kernels_blocked.h,
 * docs/blocked-layout.md): the same formulas, the Winograd rounding of
 * another summation order. The model may pass x and dx (identity blocks)
 * and y and dy (all of them) blocked (cl_run.in_blocked / out_blocked).
 *
 * Saved area for batch n (A = n * OC*OH*OW floats each): the outputs of
 * conv1, relu1 (not written on the blocked path), conv2 [, sc_conv, sc_bn]
 * (blocked on the blocked path),
 * then each sub-layer's own saved state, a 16-float tag (which path the
 * forward took) and, where the blocked path can run, A floats for it (the
 * blocked input of an identity block, the blocked shortcut of a
 * projection). Workspace: backward keeps three gradient buffers of A (plus
 * one of the input size for the projection's dx) before the sub-layers'
 * scratch (or the blocked convolutions', the larger). */
#include <stdio.h>
#include <string.h>

#include "block_internal.h"
#include "collapse/mem.h"

#define PAR_MIN 32768

static int blk_stride(const cl_layer *l) { return l->spec.stride ? l->spec.stride : 1; }

static void blk_destroy(cl_layer *l)
{
    if (l->sub)
        for (int i = 0; i < l->nsub; i++) {
            const cl_layer_ops *o = cl_layer_ops_table[l->sub[i].spec.kind];
            if (o->destroy) o->destroy(&l->sub[i]);
        }
    cl_free(l->sub);
    l->sub = NULL;
    l->nsub = 0;
}

static cl_layer_spec sub_spec(const cl_layer *l, cl_layer_kind kind, const char *what)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    snprintf(s.name, sizeof s.name, "%.23s.%s", l->spec.name[0] ? l->spec.name : "block", what);
    s.frozen = l->spec.frozen;
    s.classifier = l->spec.classifier;
    if (kind == CL_LAYER_BATCHNORM) {
        s.eps = l->spec.eps;
        s.momentum = l->spec.momentum;
    }
    return s;
}

static cl_layer_spec sub_conv(const cl_layer *l, const char *what, int k, int stride, int pad)
{
    cl_layer_spec s = sub_spec(l, CL_LAYER_CONV2D, what);
    s.out = l->spec.out;
    s.k = k;
    s.stride = stride;
    s.pad = pad;
    s.bias = 0;
    return s;
}

static cl_status blk_infer(cl_layer *l, cl_shape in)
{
    const cl_layer_spec *s = &l->spec;
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    blk_destroy(l);
    CL_TRY(cl_layer_check_keys(l));
    if (s->out < 1)
        return cl_error(CL_EINVAL, "layer '%s' (block): out must be >= 1 (got %d)", nm, s->out);
    if (s->stride < 0)
        return cl_error(CL_EINVAL, "layer '%s' (block): stride must be >= 0 (got %d)", nm,
                        s->stride);
    if ((s->k != 0 && s->k != 3) || s->pad != 0)
        return cl_error(CL_EINVAL,
                        "layer '%s' (block): k and pad are fixed (3x3 convs, pad 1; got k %d pad %d)",
                        nm, s->k, s->pad);
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return cl_error(CL_EINVAL, "layer '%s' (block): bad input shape {%d,%d,%d}", nm, in.c,
                        in.h, in.w);
    int stride = blk_stride(l), proj = stride != 1 || in.c != s->out;
    cl_layer_spec specs[NSUB_MAX] = {
        [CONV1] = sub_conv(l, "conv1", 3, stride, 1),
        [BN1] = sub_spec(l, CL_LAYER_BATCHNORM, "bn1"),
        [RELU1] = sub_spec(l, CL_LAYER_RELU, "relu1"),
        [CONV2] = sub_conv(l, "conv2", 3, 1, 1),
        [BN2] = sub_spec(l, CL_LAYER_BATCHNORM, "bn2"),
        [SC_CONV] = sub_conv(l, "sc_conv", 1, stride, 0),
        [SC_BN] = sub_spec(l, CL_LAYER_BATCHNORM, "sc_bn"),
    };
    specs[RELU1].classifier = 0;
    int nsub = proj ? NSUB_MAX : SC_CONV;
    l->sub = cl_alloc_array((size_t)nsub, sizeof(cl_layer), "block sub-layers");
    if (!l->sub) return CL_ENOMEM;
    l->nsub = nsub;
    int64_t np = 0, nb = 0;
    cl_status st = CL_OK;
    for (int i = 0; i < nsub; i++) {
        cl_layer *u = &l->sub[i];
        u->spec = specs[i];
        u->in = i == CONV1 || i == SC_CONV ? in : l->sub[i - 1].out;
        if ((st = cl_layer_ops_table[u->spec.kind]->infer(u, u->in)) != CL_OK) {
            blk_destroy(l);
            return st;
        }
        u->param_off = np;
        u->buf_off = nb;
        np += u->nparams;
        nb += u->nbufs;
    }
    l->out = l->sub[BN2].out;
    CL_ASSERT(!proj || (l->sub[SC_BN].out.c == l->out.c && l->sub[SC_BN].out.h == l->out.h &&
                        l->sub[SC_BN].out.w == l->out.w));
    CL_ASSERT(proj || (in.c == l->out.c && in.h == l->out.h && in.w == l->out.w));
    l->nparams = np;
    l->nbufs = nb;
    return CL_OK;
}

static void blk_init(const cl_layer *l, float *p, float *b, cl_rng *rng)
{
    for (int i = 0; i < l->nsub; i++) {
        const cl_layer *u = &l->sub[i];
        cl_layer_ops_table[u->spec.kind]->init(u, p + u->param_off, b + u->buf_off, rng);
    }
}

static int64_t act_floats(const cl_layer *l, int n) { return (int64_t)n * cl_shape_size(l->out); }

/* Whether sub-layer i's output is stored (the BN outputs are fused away). */
static int keeps_out(int i) { return i != BN1 && i != BN2; }

/* Offsets into the saved area for batch n: sub-layer i's output at
 * out_off[i] (-1: not stored), its own saved state at sv_off[i]; then a
 * 16-float tag at *tag_off: whether the forward ran blocked (so the
 * backward follows it even if COLLAPSE_CONV changed), its x and its y
 * were blocked (cl_run; checked by the backward), conv2's output was not
 * stored (an eval forward, fused); and,
 * for blocks that can run blocked, the blocked path's A floats at *xb_off
 * (-1 otherwise). */
static int64_t saved_layout(const cl_layer *l, int n, int64_t *out_off, int64_t *sv_off,
                            int64_t *tag_off, int64_t *xb_off)
{
    int64_t A = act_floats(l, n), off = 0;
    for (int i = 0; i < l->nsub; i++) {
        if (out_off) out_off[i] = keeps_out(i) ? off : -1;
        if (keeps_out(i)) off += A;
    }
    for (int i = 0; i < l->nsub; i++) {
        const cl_layer *u = &l->sub[i];
        if (sv_off) sv_off[i] = off;
        off += cl_layer_ops_table[u->spec.kind]->saved_floats(u, n);
    }
    off = (off + 15) & ~(int64_t)15;
    if (tag_off) *tag_off = off;
    off += 16;
    if (xb_off) *xb_off = cl_block_shape_blocked(l) ? off : -1;
    return off + (cl_block_shape_blocked(l) ? A : 0);
}

/* The pointers into the saved area for batch n (*tag_off: the tag). */
static cl_block_state state(const cl_layer *l, int n, float *saved, int64_t *tag_off)
{
    int64_t oo[NSUB_MAX], xo;
    cl_block_state s;
    saved_layout(l, n, oo, s.so, tag_off, &xo);
    for (int i = 0; i < NSUB_MAX; i++) s.a[i] = i < l->nsub && keeps_out(i) ? saved + oo[i] : NULL;
    s.saved = saved;
    s.xbs = xo >= 0 ? saved + xo : NULL;
    return s;
}

static int64_t blk_saved(const cl_layer *l, int n)
{
    return saved_layout(l, n, NULL, NULL, NULL, NULL);
}

static int64_t grad_floats(const cl_layer *l, int n)
{
    return 3 * act_floats(l, n) + (l->nsub > SC_CONV ? (int64_t)n * cl_shape_size(l->in) : 0);
}

static int64_t blk_ws(const cl_layer *l, int n)
{
    int64_t m = 0;
    for (int i = 0; i < l->nsub; i++) {
        const cl_layer *u = &l->sub[i];
        int64_t w = cl_layer_ops_table[u->spec.kind]->ws_floats(u, n);
        if (w > m) m = w;
    }
    if (cl_block_blocked_ws(l, n) > m) m = cl_block_blocked_ws(l, n);
    return grad_floats(l, n) + ((m + 15) & ~(int64_t)15);
}

void cl_block_add(float *dx, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = a[i] + b[i];
}

void cl_block_sub_forward(const cl_layer *l, int i, const cl_run *r, const float *p, float *b,
                          const float *x, float *y, float *saved)
{
    const cl_layer *u = &l->sub[i];
    cl_layer_ops_table[u->spec.kind]->forward(u, r, p + u->param_off, b + u->buf_off, x, y,
                                              saved);
}

void cl_block_sub_backward(const cl_layer *l, int i, const cl_run *r, const float *p,
                           const float *x, const float *y, const float *saved, const float *dy,
                           float *dx, float *dp)
{
    const cl_layer *u = &l->sub[i];
    cl_layer_ops_table[u->spec.kind]->backward(u, r, p + u->param_off, x, y, saved, dy, dx,
                                               dp + u->param_off);
}

static void blk_forward(const cl_layer *l, const cl_run *r, const float *p, float *b,
                        const float *x, float *y, float *saved)
{
    int64_t to;
    cl_block_state s = state(l, r->n, saved, &to);
    float *const *a = s.a;
    const int64_t *so = s.so;
    const int blocked = cl_block_use_blocked(l, r);
    CL_ASSERT(blocked || (!r->in_blocked && !r->out_blocked));
    saved[to] = (float)blocked;
    saved[to + 1] = (float)r->in_blocked;
    saved[to + 2] = (float)r->out_blocked;
    saved[to + 3] = (float)(blocked && !r->train); /* conv2's output not stored */
    if (blocked) {
        cl_block_forward_blocked(l, r, p, b, x, y, &s);
        return;
    }
    const cl_layer *u = l->sub;
    cl_block_sub_forward(l, CONV1, r, p, b, x, a[CONV1], saved + so[CONV1]);
    cl_bn_forward_relu(&u[BN1], r, p + u[BN1].param_off, b + u[BN1].buf_off, a[CONV1], NULL,
                       a[RELU1], saved + so[BN1]);
    cl_block_sub_forward(l, CONV2, r, p, b, a[RELU1], a[CONV2], saved + so[CONV2]);
    const float *sc = x;
    if (l->nsub > SC_CONV) {
        cl_block_sub_forward(l, SC_CONV, r, p, b, x, a[SC_CONV], saved + so[SC_CONV]);
        cl_block_sub_forward(l, SC_BN, r, p, b, a[SC_CONV], a[SC_BN], saved + so[SC_BN]);
        sc = a[SC_BN];
    }
    /* y = relu(bn2(conv2) + shortcut) in one pass */
    cl_bn_forward_relu(&u[BN2], r, p + u[BN2].param_off, b + u[BN2].buf_off, a[CONV2], sc, y,
                       saved + so[BN2]);
}

static void blk_backward(const cl_layer *l, const cl_run *r, const float *p, const float *x,
                         const float *y, const float *saved, const float *dy, float *dx,
                         float *dp)
{
    int64_t to;
    /* the saved area is the block's own: a backward after an eval forward
     * recomputes conv2's output into it (block_blocked.c) */
    cl_block_state s = state(l, r->n, (float *)saved, &to);
    float *const *a = s.a;
    const int64_t *so = s.so;
    int64_t A = act_floats(l, r->n), nx = (int64_t)r->n * cl_shape_size(l->in);
    int proj = l->nsub > SC_CONV;
    float *g = r->ws, *g1 = g + A, *g2 = g1 + A, *gx = g2 + A;
    cl_run rs = *r;
    rs.ws = r->ws + ((grad_floats(l, r->n) + 15) & ~(int64_t)15);
    CL_ASSERT(rs.ws - r->ws >= grad_floats(l, r->n));
    if (saved[to] != 0.0f) { /* the forward ran blocked */
        CL_ASSERT(saved[to + 1] == (float)r->in_blocked && saved[to + 2] == (float)r->out_blocked);
        cl_block_backward_blocked(l, &rs, p, x, &s, dy, dx, dp, g, g1, g2, gx,
                                  saved[to + 3] != 0.0f);
        return;
    }
    const cl_layer *u = l->sub;
    /* through the final ReLU (g = dy where y > 0: the gradient of the sum,
     * kept for the shortcut) and bn2 */
    cl_bn_backward_relu_layer(&u[BN2], &rs, p + u[BN2].param_off, a[CONV2], y, saved + so[BN2],
                              dy, g, 1, g1, dp + u[BN2].param_off);
    cl_block_sub_backward(l, CONV2, &rs, p, a[RELU1], a[CONV2], saved + so[CONV2], g1, g2, dp);
    /* through relu1 and bn1, the mask redone from conv1's output (relu1's
     * output is not read again); the masked gradient is not needed again */
    cl_bn_backward_relu_layer(&u[BN1], &rs, p + u[BN1].param_off, a[CONV1], NULL,
                              saved + so[BN1], g2, g2, 0, g1, dp + u[BN1].param_off);
    cl_block_sub_backward(l, CONV1, &rs, p, x, a[CONV1], saved + so[CONV1], g1, dx, dp);
    const float *gs = g;
    if (proj) {
        cl_block_sub_backward(l, SC_BN, &rs, p, a[SC_CONV], a[SC_BN], saved + so[SC_BN], g, g2, dp);
        cl_block_sub_backward(l, SC_CONV, &rs, p, x, a[SC_CONV], saved + so[SC_CONV], g2,
                     dx ? gx : NULL, dp);
        gs = gx;
    }
    if (dx) cl_block_add(dx, dx, gs, nx);
}

static int64_t blk_flops(const cl_layer *l)
{
    int64_t f = cl_shape_size(l->out); /* the residual add */
    for (int i = 0; i < l->nsub; i++)
        f += cl_layer_ops_table[l->sub[i].spec.kind]->flops(&l->sub[i]);
    return f;
}

/* Identity blocks take and give blocked tensors, projection blocks give
 * them (their strided conv1 and shortcut read x NCHW). */
static int blk_blocked_io(const cl_layer *l, const cl_run *r)
{
    if (!cl_block_use_blocked(l, r)) return 0;
    return l->nsub > SC_CONV ? CL_BLOCKED_OUT : CL_BLOCKED_IN | CL_BLOCKED_OUT;
}

const cl_layer_ops cl_block_ops = {
    .name = "block",
    /* k and pad are checked by blk_infer (fixed 3x3, pad 1); eps and
     * momentum go to the BatchNorms */
    .keys = CL_LAYER_KEY_OUT | CL_LAYER_KEY_K | CL_LAYER_KEY_STRIDE | CL_LAYER_KEY_PAD |
            CL_LAYER_KEY_EPS | CL_LAYER_KEY_MOMENTUM | CL_LAYER_KEY_FROZEN | CL_LAYER_KEY_CLASSIFIER,
    .infer = blk_infer,
    .init = blk_init,
    .saved_floats = blk_saved,
    .ws_floats = blk_ws,
    .forward = blk_forward,
    .backward = blk_backward,
    .destroy = blk_destroy,
    .flops = blk_flops,
    .blocked_io = blk_blocked_io,
};
