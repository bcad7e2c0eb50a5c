/* The channel-blocked path of the BasicBlock (layers/block.c;
 * kernels_blocked.h, docs/blocked-layout.md): conv2, both BatchNorms and
 * the residual add run on blocked tensors. Identity blocks run conv1
 * blocked too; projection blocks run their strided conv1 and their
 * shortcut (1x1 conv + BN) with the NCHW kernels and convert conv1's and
 * the shortcut's outputs (and, in the backward, their gradients).
 *
 * bn1's apply + ReLU runs inside conv2's input transform (relu1's output
 * is never stored; conv2's dW redoes it the same way). Train: bn1's
 * statistics, conv2, then bn2 + residual + ReLU as a pass. Eval: bn2 +
 * residual + ReLU inside conv2's output transform as well (conv2's output
 * is then not stored; a backward after it recomputes it). An identity
 * block may take x and give y blocked (cl_run.in_blocked / out_blocked: no
 * conversion between two such blocks), a projection block y. */
#include "block_internal.h"
#include "collapse/kernels_blocked.h"


/* conv2: 3x3 stride 1 on the output plane (conv1 too for identity blocks) */
static cl_conv_dims conv2_dims(const cl_layer *l, int n)
{
    return cl_conv_dims_make(n, l->out.c, l->out.h, l->out.w, l->out.c, 3, 1, 1);
}

static int is_proj(const cl_layer *l) { return l->nsub > SC_CONV; }

int cl_block_shape_blocked(const cl_layer *l)
{
    const cl_conv_dims d = conv2_dims(l, 1);
    const int same = l->in.c == l->out.c && l->in.h == l->out.h && l->in.w == l->out.w;
    return (is_proj(l) || same) && (l->out.h * l->out.w) % 16 == 0 &&
           cl_blocked_conv_shape_ok(&d);
}

int cl_block_use_blocked(const cl_layer *l, const cl_run *r)
{
    const cl_conv_dims d = conv2_dims(l, r->n);
    return cl_block_shape_blocked(l) && cl_blocked_conv_ok(&d) && !cl_bn_sync_on(r);
}

int64_t cl_block_blocked_ws(const cl_layer *l, int n)
{
    const cl_conv_dims d = conv2_dims(l, n);
    return cl_block_shape_blocked(l) ? cl_blocked_conv_ws_floats(&d) : 0;
}

/* bn1 or bn2 as an apply fused into a blocked convolution (its mean and
 * invstd in its saved area), with ReLU. */
static cl_blk_bn fused_bn(const cl_layer *l, int i, const float *p, const cl_block_state *s,
                          const float *res)
{
    const cl_layer *u = &l->sub[i];
    const float *g = p + u->param_off, *st = s->saved + s->so[i];
    return (cl_blk_bn){g, g + u->in.c, st, st + u->in.c, res, 1};
}

void cl_block_forward_blocked(const cl_layer *l, const cl_run *r, const float *p, float *b,
                              const float *x, float *y, const cl_block_state *s)
{
    const cl_layer *u = l->sub;
    const cl_conv_dims d = conv2_dims(l, r->n);
    const int C = l->out.c, HW = l->out.h * l->out.w;
    float *const *a = s->a;
    const float *res; /* blocked: x (identity), the shortcut's output (projection) */
    if (is_proj(l)) {
        CL_ASSERT(!r->in_blocked);
        float *c1 = a[RELU1]; /* conv1's NCHW output, in relu1's unused slot */
        cl_block_sub_forward(l, CONV1, r, p, b, x, c1, s->saved + s->so[CONV1]);
        cl_to_blocked(c1, r->n, C, HW, a[CONV1]);
        cl_block_sub_forward(l, SC_CONV, r, p, b, x, a[SC_CONV], s->saved + s->so[SC_CONV]);
        cl_block_sub_forward(l, SC_BN, r, p, b, a[SC_CONV], a[SC_BN], s->saved + s->so[SC_BN]);
        cl_to_blocked(a[SC_BN], r->n, C, HW, s->xbs);
        res = s->xbs;
    } else {
        res = x;
        if (!r->in_blocked) {
            cl_to_blocked(x, r->n, C, HW, s->xbs);
            res = s->xbs;
        }
        cl_blocked_conv_forward(&d, res, p + u[CONV1].param_off, a[CONV1], r->ws);
    }
    cl_bn_stats_blocked(&u[BN1], r, b + u[BN1].buf_off, a[CONV1], s->saved + s->so[BN1]);
    const cl_blk_bn pro = fused_bn(l, BN1, p, s, NULL);
    if (r->train) {
        float *yb = r->out_blocked ? y : r->ws; /* ws is free once conv2 is done */
        cl_blocked_conv_forward_bn(&d, a[CONV1], &pro, p + u[CONV2].param_off, a[CONV2], NULL,
                                   r->ws);
        cl_bn_forward_relu_blocked(&u[BN2], r, p + u[BN2].param_off, b + u[BN2].buf_off,
                                   a[CONV2], res, yb, s->saved + s->so[BN2]);
        if (!r->out_blocked) cl_from_blocked(yb, NULL, r->n, C, HW, y);
        return;
    }
    cl_bn_stats_blocked(&u[BN2], r, b + u[BN2].buf_off, NULL, s->saved + s->so[BN2]);
    const cl_blk_bn epi = fused_bn(l, BN2, p, s, res);
    float *yb = r->out_blocked ? y : a[CONV2];
    cl_blocked_conv_forward_bn(&d, a[CONV1], &pro, p + u[CONV2].param_off, yb, &epi, r->ws);
    if (!r->out_blocked) cl_from_blocked(yb, NULL, r->n, C, HW, y);
}

/* dy converted into g2 (or read blocked); bn2 (mask redone from conv2's
 * output and the residual) writes the residual's gradient g and its dx
 * into g2; conv2 (dW from bn1's apply redone on conv1's output) and bn1
 * pass the gradient between g1 and g2. Identity: conv1 blocked, dx = g1 +
 * g (converted to NCHW unless it goes back blocked). Projection: g2 and g
 * converted to NCHW for conv1's and the shortcut's NCHW backwards. */
void cl_block_backward_blocked(const cl_layer *l, const cl_run *rs, const float *p,
                               const float *x, const cl_block_state *s, const float *dy,
                               float *dx, float *dp, float *g, float *g1, float *g2, float *gx,
                               int recompute)
{
    const cl_layer *u = l->sub;
    const cl_conv_dims d = conv2_dims(l, rs->n);
    const int C = l->out.c, HW = l->out.h * l->out.w;
    float *const *a = s->a;
    const float *res = is_proj(l) || !rs->in_blocked ? s->xbs : x;
    const cl_blk_bn pro = fused_bn(l, BN1, p, s, NULL);
    if (recompute)
        cl_blocked_conv_forward_bn(&d, a[CONV1], &pro, p + u[CONV2].param_off, a[CONV2], NULL,
                                   rs->ws);
    const float *dyb = dy;
    if (!rs->out_blocked) {
        cl_to_blocked(dy, rs->n, C, HW, g2);
        dyb = g2;
    }
    cl_bn_backward_relu_blocked(&u[BN2], rs, p + u[BN2].param_off, a[CONV2], res, dyb,
                                s->saved + s->so[BN2], g, g2, dp + u[BN2].param_off);
    cl_blocked_conv_backward_bn(&d, a[CONV1], &pro, p + u[CONV2].param_off, g2, g1,
                                dp + u[CONV2].param_off, rs->ws);
    cl_bn_backward_relu_blocked(&u[BN1], rs, p + u[BN1].param_off, a[CONV1], NULL, g1,
                                s->saved + s->so[BN1], NULL, g2, dp + u[BN1].param_off);
    if (is_proj(l)) {
        const float *sv = s->saved;
        cl_from_blocked(g2, NULL, rs->n, C, HW, g1);
        cl_block_sub_backward(l, CONV1, rs, p, x, a[RELU1], sv + s->so[CONV1], g1, dx, dp);
        cl_from_blocked(g, NULL, rs->n, C, HW, g2);
        cl_block_sub_backward(l, SC_BN, rs, p, a[SC_CONV], a[SC_BN], sv + s->so[SC_BN], g2, g, dp);
        cl_block_sub_backward(l, SC_CONV, rs, p, x, a[SC_CONV], sv + s->so[SC_CONV], g,
                              dx ? gx : NULL, dp);
        if (dx) cl_block_add(dx, dx, gx, (int64_t)rs->n * cl_shape_size(l->in));
        return;
    }
    cl_blocked_conv_backward(&d, res, p + u[CONV1].param_off, g2, dx ? g1 : NULL,
                             dp + u[CONV1].param_off, rs->ws);
    if (!dx) return;
    if (!rs->in_blocked) {
        cl_from_blocked(g1, g, rs->n, C, HW, dx);
        return;
    }
    cl_block_add(dx, g1, g, (int64_t)rs->n * C * HW);
}
