/* Model timing shared by bench_2_layers.c and bench_3_train.c: whole train
 * steps (forward + CE loss + zero_grad + backward + SGD momentum step, as
 * cl_train_run does them), eval passes, and per-layer forward/backward
 * through the ops table with the model's own buffers.
 *
 * Throughput convention: a train step costs 3x the forward multiply-adds
 * (forward, dx, dW); GFLOP/s = 2 * multiply-adds / s. */
#ifndef COLLAPSE_BENCH_LAYERS_H
#define COLLAPSE_BENCH_LAYERS_H

#include "bench_common.h"
#include "collapse/builders.h"
#include "collapse/loss.h"
#include "collapse/nn.h"
#include "collapse/optim.h"

typedef struct {
    cl_model *m;
    cl_optim *opt;
    int n;          /* batch of the current call */
    float *x;       /* [max_n, in] random inputs */
    int32_t *y;     /* [max_n] labels */
    float *dlogits; /* [max_n, K] */
    int K;
} bench_model;

/* Builds architecture `arch` for input `in` with K classes and allocates
 * everything for batches up to max_n. */
static inline void bench_model_create(bench_model *b, const char *arch, const cl_arch_opts *o,
                                      cl_shape in, int K, int max_n)
{
    memset(b, 0, sizeof *b);
    cl_layer_spec *specs;
    int ns;
    bench_check(cl_build_arch(arch, o, K, &specs, &ns), arch);
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    bench_check(cl_model_create(&b->m, in, specs, ns, &rng), arch);
    cl_free(specs);
    bench_check(cl_model_alloc(b->m, max_n), "model buffers");
    cl_optim_cfg oc = cl_optim_cfg_default(CL_OPTIM_SGD);
    bench_check(cl_optim_create(&b->opt, &oc, b->m->nparams, b->m->ranges, b->m->nranges),
                "optimizer");
    int64_t D = cl_shape_size(in);
    b->K = K;
    b->x = bench_alloc(sizeof(float) * (size_t)(max_n * D), "inputs");
    b->y = bench_alloc(sizeof(int32_t) * (size_t)max_n, "labels");
    b->dlogits = bench_alloc(sizeof(float) * (size_t)max_n * K, "dlogits");
    bench_fill(b->x, max_n * D, 7);
    for (int i = 0; i < max_n; i++) b->y[i] = i % K;
}

static inline void bench_model_destroy(bench_model *b)
{
    cl_optim_destroy(b->opt);
    cl_model_destroy(b->m);
    cl_free(b->x);
    cl_free(b->y);
    cl_free(b->dlogits);
}

/* One training step exactly as the trainer does it (without the data
 * gather and the finiteness check). lr is small so random data stays
 * finite over many steps. */
static inline void bench_train_step(void *p)
{
    bench_model *b = p;
    const float *logits = cl_model_forward_taps(b->m, b->x, b->n, 1, NULL, 0); /* as cl_ddp_forward */
    cl_loss_cfg lc = {CL_LOSS_CE, 0};
    double loss;
    bench_check(cl_loss_compute(&lc, logits, b->y, b->n, b->K, &loss, b->dlogits, NULL), "loss");
    cl_model_zero_grad(b->m);
    cl_model_backward(b->m, b->x, b->dlogits, b->n, 1);
    cl_optim_step(b->opt, b->m->params, b->m->grads, 1e-3);
}

static inline void bench_eval_step(void *p)
{
    bench_model *b = p;
    cl_model_forward_taps(b->m, b->x, b->n, 0, NULL, 0); /* as cl_train_evaluate */
}

static inline void bench_loss_zero_opt(void *p)
{
    bench_model *b = p;
    cl_loss_cfg lc = {CL_LOSS_CE, 0};
    double loss;
    const float *logits = b->m->acts[b->m->nlayers - 1];
    bench_check(cl_loss_compute(&lc, logits, b->y, b->n, b->K, &loss, b->dlogits, NULL), "loss");
    cl_model_zero_grad(b->m);
    cl_optim_step(b->opt, b->m->params, b->m->grads, 0.0);
}

/* Seconds per call of fn: the fastest of at least `repeats` single calls
 * (after a warm-up), more while the calls so far took less than `budget`
 * seconds (at most 200). */
static inline double bench_auto(bench_fn fn, void *ctx, int repeats, double budget)
{
    return bench_min(fn, ctx, repeats, 200, budget);
}

/* ---- per layer ---- */

typedef struct {
    const cl_model *m;
    const float *x0; /* the model input (layer 0's x) */
    int i, n, bwd, want_dx;
    float *dy, *dx;
} layer_call;

static inline void layer_call_run(void *p)
{
    layer_call *c = p;
    const cl_model *m = c->m;
    const cl_layer *l = &m->layers[c->i];
    const cl_layer_ops *o = cl_layer_ops_table[l->spec.kind];
    cl_run r = {.n = c->n, .train = 1, .ws = m->ws};
    const float *x = c->i ? m->acts[c->i - 1] : c->x0;
    if (!c->bwd)
        o->forward(l, &r, m->params + l->param_off, m->bufs + l->buf_off, x, m->acts[c->i],
                   m->saved + l->saved_off);
    else
        o->backward(l, &r, m->params + l->param_off, x, m->acts[c->i], m->saved + l->saved_off,
                    c->dy, c->want_dx ? c->dx : NULL, m->grads + l->param_off);
}

static inline int bench_is_gemm_layer(const cl_layer *l)
{
    return l->spec.kind == CL_LAYER_LINEAR || l->spec.kind == CL_LAYER_CONV2D ||
           l->spec.kind == CL_LAYER_BLOCK;
}

/* Times every top-level layer's forward and backward on batch n (train
 * mode) with the model's buffers, after a cl_model_forward on b->x, and
 * prints one row per layer plus the sum. Layers before the first layer with
 * parameters get no backward (the model skips them); the first layer with
 * parameters gets no dx unless dx_first. dy is random. Backward FLOPs of a
 * GEMM layer: 2x forward (dx and dW), 1x without dx. Returns the summed
 * forward + backward seconds. */
static inline double bench_layer_table(bench_model *b, int n, int dx_first, int repeats,
                                       double target, double peak)
{
    cl_model *m = b->m;
    cl_model_forward(m, b->x, n, 1);
    int first = 0;
    while (first < m->nlayers && !m->layers[first].nparams) first++;
    int L = m->nlayers;
    double *tf = bench_alloc(sizeof(double) * (size_t)L, "times");
    double *tb = bench_alloc(sizeof(double) * (size_t)L, "times");
    double sf = 0, sb = 0, gflop = 0, gtime = 0;
    for (int i = 0; i < L; i++) {
        const cl_layer *l = &m->layers[i];
        layer_call c = {m, b->x, i, n, 0, 0, m->dbuf[0], m->dbuf[1]};
        bench_fill(c.dy, (int64_t)n * cl_shape_size(l->out), 11 + i);
        tf[i] = bench_auto(layer_call_run, &c, repeats, target);
        c.bwd = 1;
        c.want_dx = i != first || dx_first;
        tb[i] = i >= first ? bench_auto(layer_call_run, &c, repeats, target) : 0;
        sf += tf[i];
        sb += tb[i];
    }
    double tot = sf + sb;
    printf("%3s %-12s %-9s %-10s %8s %8s %7s %8s %7s %6s %6s\n", "#", "layer", "kind", "out",
           "MFLOP/im", "fwd ms", "GF/s", "bwd ms", "GF/s", "%sgemm", "%time");
    for (int i = 0; i < L; i++) {
        const cl_layer *l = &m->layers[i];
        double mac = (double)cl_layer_ops_table[l->spec.kind]->flops(l);
        int gemm = bench_is_gemm_layer(l), hasb = i >= first;
        double ff = 2.0 * mac * n, fb = ff * (i != first || dx_first ? 2.0 : 1.0);
        char shp[32];
        snprintf(shp, sizeof shp, "%dx%dx%d", l->out.c, l->out.h, l->out.w);
        printf("%3d %-12.12s %-9.9s %-10s %8.2f %8.3f", i, l->spec.name,
               cl_layer_kind_name(l->spec.kind), shp, 2.0 * mac / 1e6, 1e3 * tf[i]);
        if (gemm) printf(" %7.1f", ff / tf[i] / 1e9);
        else printf(" %7s", "-");
        if (hasb) printf(" %8.3f", 1e3 * tb[i]);
        else printf(" %8s", "-");
        if (gemm && hasb) {
            printf(" %7.1f %5.0f%%", fb / tb[i] / 1e9,
                   100.0 * (ff + fb) / (tf[i] + tb[i]) / 1e9 / peak);
            gflop += ff + fb;
            gtime += tf[i] + tb[i];
        } else {
            printf(" %7s %6s", "-", "-");
        }
        printf(" %5.1f%%\n", 100.0 * (tf[i] + tb[i]) / tot);
    }
    printf("    sum: forward %.2f ms + backward %.2f ms = %.2f ms for %d images; GEMM layers "
           "%.1f GFLOP/s = %.0f%% of sgemm\n",
           1e3 * sf, 1e3 * sb, 1e3 * tot, n, gflop / gtime / 1e9, 100.0 * gflop / gtime / 1e9 / peak);
    cl_free(tf);
    cl_free(tb);
    return tot;
}

#endif
