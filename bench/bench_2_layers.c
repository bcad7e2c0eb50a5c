/* Whole-step and per-layer throughput of the reference models, on random
 * data (content does not change the speed):
 *   MLP 784-1024-1024-1024-10: train step and eval at batch 128
 *   CIFAR ResNet-20 (16/32/64, 3 BasicBlocks per stage): train at batch 128,
 *     eval at batch 256
 *   CIFAR ResNet-18 (3x3 stem, no max-pool): train and eval at batch 128
 *     (fewer repeats: a step takes seconds)
 *   the ConvNet on 28x28 MNIST images (tools/reproduce.sh): train at 128,
 *     eval at 256 (no PyTorch reference)
 * A train step is forward + CE loss + zero_grad + backward + SGD momentum
 * step (what cl_train_run does per batch, minus the data gather). Per
 * layer: each top-level layer's forward and backward through
 * cl_layer_ops_table with the model's buffers (train mode). Then the inside
 * of a ResNet-20 BasicBlock (conv, BN, ReLU as separate layers) and the
 * im2col share of its convolutions, to show where the time goes.
 * PyTorch 1.13 numbers are quoted references (tools/bench_torch.py).
 *
 * Options (for tools/bench_compare.sh):
 *   --only mlp|resnet20|resnet18|convnet   that model's whole steps only
 *   --summary    whole steps only (no per-layer tables, no block insides)
 *                and `collapse_<model>_<train|eval> <img/s>` lines at the end
 *   --rss        only ResNet-18 train steps at batch 128 (16 with --quick),
 *                3 of them, then `collapse_rss_mib <max RSS>` (getrusage
 *                ru_maxrss of this process, which did nothing else; the
 *                sgemm reference is skipped) */
#include <math.h>
#include <omp.h>
#include <sys/resource.h>

#include "bench_layers.h"
#include "collapse/kernels_conv.h"

typedef struct {
    char model[24], mode[8];
    int batch;
    double sec, gflop, torch;
} row;

static row rows[10];
static int nrows;

static void add_row(const char *model, const char *mode, int batch, double sec, double flop,
                    double torch)
{
    row *r = &rows[nrows++];
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->mode, sizeof r->mode, "%s", mode);
    r->batch = batch;
    r->sec = sec;
    r->gflop = flop / 1e9;
    r->torch = torch;
}

typedef struct {
    const char *arch, *title;
    cl_shape in;
    int train_batch, eval_batch, repeats, layer_repeats;
    double target, layer_target;
    double torch_train, torch_eval;
    cl_arch_opts opts;
} model_case;

typedef struct {
    const char *only;
    int summary, rss;
} opts;

static int parse_opt(int argc, char **argv, int i, void *ctx)
{
    opts *o = ctx;
    if (!strcmp(argv[i], "--summary")) return o->summary = 1;
    if (!strcmp(argv[i], "--rss")) return o->rss = 1;
    if (!strcmp(argv[i], "--only") && i + 1 < argc) {
        o->only = argv[i + 1];
        if (strcmp(o->only, "mlp") && strcmp(o->only, "resnet20") && strcmp(o->only, "resnet18") &&
            strcmp(o->only, "convnet")) {
            fprintf(stderr, "bench_2_layers: --only %s: not mlp, resnet20, resnet18 or convnet\n",
                    o->only);
            exit(2);
        }
        return 2;
    }
    return 0;
}

/* --rss: ResNet-18 train steps in a process that did nothing else. */
static void rss_run(const bench_env *e)
{
    bench_model b;
    cl_arch_opts def = cl_arch_opts_default();
    int n = e->quick ? 16 : 128;
    cl_shape in = {3, 32, 32};
    bench_model_create(&b, "resnet18", &def, in, 10, n);
    b.n = n;
    for (int i = 0; i < 3; i++) bench_train_step(&b);
    /* what the model allocated, as cl_model_alloc sizes it */
    const cl_model *m = b.m;
    double act = 0, saved = 0, ws = 0, big = (double)n * cl_shape_size(m->in);
    for (int i = 0; i < m->nlayers; i++) {
        const cl_layer *l = &m->layers[i];
        const cl_layer_ops *o = cl_layer_ops_table[l->spec.kind];
        double a = (double)n * cl_shape_size(l->out), w = (double)o->ws_floats(l, n);
        act += a;
        saved += (double)o->saved_floats(l, n);
        if (w > ws) ws = w;
        if (a > big) big = a;
    }
    const double mib = 4.0 / 1048576.0;
    printf("model memory (MiB): params + grads + SGD momentum %.1f, activations %.1f, saved "
           "state %.1f, workspace %.1f, activation gradients %.1f; inputs %.1f\n",
           3 * mib * (double)m->nparams, mib * act, mib * saved, mib * ws, 2 * mib * big,
           mib * (double)n * cl_shape_size(m->in));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("max RSS, ResNet-18 train step, batch %d, 3 steps: %.1f MiB\n", n, ru.ru_maxrss / 1024.0);
    printf("collapse_rss_mib %.1f\n", ru.ru_maxrss / 1024.0);
    bench_model_destroy(&b);
}

static void run_model(const bench_env *e, const model_case *mc, double peak, int summary)
{
    bench_model b;
    int max_n = mc->train_batch > mc->eval_batch ? mc->train_batch : mc->eval_batch;
    bench_model_create(&b, mc->arch, &mc->opts, mc->in, 10, max_n);
    double mac = (double)cl_model_flops(b.m);
    printf("\n== %s: %lld params, %.1f MFLOP/img forward (%.1f M multiply-adds)\n", mc->title,
           (long long)b.m->nparams, 2 * mac / 1e6, mac / 1e6);
    b.n = mc->train_batch;
    double ts = bench_auto(bench_train_step, &b, mc->repeats, mc->target);
    double tx = bench_auto(bench_loss_zero_opt, &b, mc->repeats, 0.02);
    double train_flop = 3 * 2 * mac * b.n;
    printf("train step, batch %d: %.2f ms = %.0f img/s, %.1f GFLOP/s (%.0f%% of sgemm); "
           "of which loss + zero_grad + SGD step %.2f ms\n",
           b.n, 1e3 * ts, b.n / ts, train_flop / ts / 1e9, 100 * train_flop / ts / 1e9 / peak,
           1e3 * tx);
    fflush(stdout);
    add_row(mc->arch, "train", b.n, ts, train_flop, mc->torch_train);
    b.n = mc->eval_batch;
    double te = bench_auto(bench_eval_step, &b, mc->repeats, mc->target);
    double eval_flop = 2 * mac * b.n;
    printf("eval forward, batch %d: %.2f ms = %.0f img/s, %.1f GFLOP/s (%.0f%% of sgemm)\n", b.n,
           1e3 * te, b.n / te, eval_flop / te / 1e9, 100 * eval_flop / te / 1e9 / peak);
    add_row(mc->arch, "eval", b.n, te, eval_flop, mc->torch_eval);
    fflush(stdout);
    if (summary) {
        bench_model_destroy(&b);
        return;
    }
    printf("per layer, train mode, batch %d (random dy):\n", mc->train_batch);
    fflush(stdout);
    double tl = bench_layer_table(&b, mc->train_batch, 0, mc->layer_repeats, mc->layer_target, peak);
    printf("    whole step %.2f ms - layers %.2f ms - loss/zero_grad/SGD %.2f ms = %.2f ms "
           "unaccounted\n",
           1e3 * ts, 1e3 * tl, 1e3 * tx, 1e3 * (ts - tl - tx));
    fflush(stdout);
    bench_model_destroy(&b);
}

/* ---- inside a BasicBlock ---- */

typedef struct {
    int C, H, W, k, stride, pad, OH, OW, N;
    const float *x;
    float *col; /* per thread */
    int64_t slot;
} im2col_call;

static void im2col_run(void *p)
{
    im2col_call *c = p;
    int64_t xs = (int64_t)c->C * c->H * c->W;
#pragma omp parallel
    {
        float *col = c->col + omp_get_thread_num() * c->slot;
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++)
            cl_im2col(c->x + n * xs, c->C, c->H, c->W, c->k, c->stride, c->pad, c->OH, c->OW,
                      col);
    }
}

/* conv3x3 - BN - ReLU - conv3x3 - BN - ReLU on {C, S, S} (a non-projecting
 * BasicBlock of stage C, the residual add left out) as top-level layers. */
static void block_inside(const bench_env *e, int C, int S, int n, double peak)
{
    cl_layer_spec sp[6];
    memset(sp, 0, sizeof sp);
    for (int i = 0; i < 6; i += 3) {
        sp[i].kind = CL_LAYER_CONV2D;
        sp[i].out = C;
        sp[i].k = 3;
        sp[i].pad = 1;
        sp[i + 1].kind = CL_LAYER_BATCHNORM;
        sp[i + 2].kind = CL_LAYER_RELU;
    }
    sp[5].classifier = 0;
    bench_model b;
    memset(&b, 0, sizeof b);
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_shape in = {C, S, S};
    bench_check(cl_model_create(&b.m, in, sp, 6, &rng), "block layers");
    bench_check(cl_model_alloc(b.m, n), "block buffers");
    b.x = bench_alloc(sizeof(float) * (size_t)n * C * S * S, "block input");
    bench_fill(b.x, (int64_t)n * C * S * S, 5);
    printf("\n-- stage block %d@%dx%d, batch %d: conv - BN - ReLU - conv - BN - ReLU\n", C, S, S,
           n);
    bench_layer_table(&b, n, 1, e->quick ? 1 : 3, e->quick ? 0.005 : 0.02, peak);
    /* im2col alone, as conv2d's forward does it (per image, per thread) */
    im2col_call ic = {C, S, S, 3, 1, 1, S, S, n, b.x, NULL, 0};
    ic.slot = ((int64_t)C * 9 * S * S + 15) & ~(int64_t)15;
    ic.col = bench_alloc(sizeof(float) * (size_t)(ic.slot * e->threads), "im2col");
    double t = bench_auto(im2col_run, &ic, 3, e->quick ? 0.005 : 0.02);
    printf("    im2col of one conv (batch %d): %.3f ms\n", n, 1e3 * t);
    cl_free(ic.col);
    cl_free(b.x);
    cl_model_destroy(b.m);
}

int main(int argc, char **argv)
{
    opts o = {NULL, 0, 0};
    bench_env e = bench_init_ex(argc, argv, "layers and whole steps (random data)", parse_opt, &o,
                                "[--only mlp|resnet20|resnet18|convnet] [--summary] [--rss]", 0);
    if (o.rss) {
        rss_run(&e);
        return 0;
    }
    double peak = bench_sgemm_peak(&e);
    printf("# sgemm reference (threaded, best of 1024^3 and 2048^3): %.1f GFLOP/s = 100%% below\n",
           peak);
    double fma = bench_fma_peak_print(&e);
    int q = e.quick;
    cl_arch_opts def = cl_arch_opts_default();
    model_case cases[] = {
        {"mlp", "MLP 784-1024-1024-1024-10", {1, 28, 28}, 128, 128, 3, 3, q ? 0.02 : 0.3,
         q ? 0.002 : 0.02, TORCH_REF_MLP_TRAIN, NAN, def},
        {"resnet20", "CIFAR ResNet-20", {3, 32, 32}, 128, 256, q ? 1 : 3, q ? 1 : 3, q ? 0.0 : 0.4,
         q ? 0.0 : 0.02, TORCH_REF_R20_TRAIN, TORCH_REF_R20_EVAL, def},
        {"resnet18", "CIFAR ResNet-18", {3, 32, 32}, q ? 16 : 128, q ? 16 : 128, q ? 1 : 2, 1, 0.0,
         0.0, TORCH_REF_R18_TRAIN, TORCH_REF_R18_EVAL, def},
        /* the ConvNet of the MNIST reproductions (tools/reproduce.sh); no PyTorch reference */
        {"convnet", "ConvNet on MNIST (builders.h: 2 x conv3x3-BN-ReLU-maxpool2, width 32)",
         {1, 28, 28}, 128, 256, q ? 1 : 3, q ? 1 : 3, q ? 0.0 : 0.3, q ? 0.0 : 0.02, NAN, NAN, def},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!o.only || !strcmp(o.only, cases[i].arch)) run_model(&e, &cases[i], peak, o.summary);

    if (!o.summary && !o.only) {
        printf("\n== Inside a ResNet-20 BasicBlock (train mode, batch 128)\n");
        block_inside(&e, 16, 32, q ? 16 : 128, peak);
        block_inside(&e, 32, 16, q ? 16 : 128, peak);
        block_inside(&e, 64, 8, q ? 16 : 128, peak);
    }

    printf("\n== Summary (sgemm reference %.1f GFLOP/s, FMA peak %.1f; train = 3x forward FLOPs)\n",
           peak, fma);
    printf("%-10s %-6s %6s %10s %9s %8s %7s %5s %12s %7s\n", "model", "mode", "batch", "ms/step",
           "img/s", "GFLOP/s", "%sgemm", "%fma", "PyTorch ref", "ratio");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        double ips = r->batch / r->sec, gf = r->gflop / r->sec;
        printf("%-10s %-6s %6d %10.2f %9.0f %8.1f %6.0f%% %4.0f%%", r->model, r->mode, r->batch,
               1e3 * r->sec, ips, gf, 100 * gf / peak, 100 * gf / fma);
        if (isnan(r->torch)) printf(" %12s %7s\n", "-", "-");
        else printf(" %12.0f %6.2fx\n", r->torch, ips / r->torch);
    }
    printf("PyTorch ref = quoted PyTorch 1.13 img/s on this machine, 2 threads, best settings "
           "(issue 10; measured afresh by tools/bench_compare.sh at the end of make bench)\n");
    if (o.summary)
        for (int i = 0; i < nrows; i++)
            printf("collapse_%s_%s %.1f\n", rows[i].model, rows[i].mode,
                   rows[i].batch / rows[i].sec);
    return 0;
}
