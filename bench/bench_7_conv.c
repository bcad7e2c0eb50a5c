/* Every distinct convolution shape of CIFAR ResNet-20 and ResNet-18 at batch
 * 128 (32x32 inputs): forward, dx and dW timed separately through the
 * library's kernels (kernels_conv.h), as GFLOP/s and % of the FMA peak that
 * this program measures first (bench_common.h).
 *
 *   fwd   cl_conv2d_forward
 *   dW    cl_conv2d_backward with dx = NULL (dW alone; no bias in the ResNets)
 *   dx    cl_conv2d_backward with dx, minus the dW-only time
 * FLOPs are those of a direct convolution, 2 per multiply-add:
 * 2 * N * OC * OH * OW * C * k * k for each of the three (a Winograd or other
 * fast algorithm does fewer multiplies, so its "GFLOP/s" is an effective rate
 * and may exceed the peak). `algo` is cl_conv2d_algo() of the shape (the
 * forward's algorithm). Env COLLAPSE_CONV (auto|winograd|gemm) is read by the
 * library, not here; its value is printed in the header. `x model` is how
 * often the shape occurs in the model; `model ms` = x model * (fwd + dx + dW),
 * the shape's share of the model's convolution time in a train step (the
 * stem gets no dx in a real step: its dx is left out). */
#include "bench_common.h"
#include "collapse/kernels_conv.h"

typedef struct {
    const char *name;
    int C, OC, H, k, stride, count;
} shape;

/* pad = k / 2 (3x3: 1, 1x1 shortcuts: 0), as the BasicBlock and the stem. */
static const shape r20[] = {
    {"stem 3->16", 3, 16, 32, 3, 1, 1},       {"s1 16->16", 16, 16, 32, 3, 1, 6},
    {"s2 16->32 /2", 16, 32, 32, 3, 2, 1},    {"s2 sc 16->32 1x1/2", 16, 32, 32, 1, 2, 1},
    {"s2 32->32", 32, 32, 16, 3, 1, 5},       {"s3 32->64 /2", 32, 64, 16, 3, 2, 1},
    {"s3 sc 32->64 1x1/2", 32, 64, 16, 1, 2, 1}, {"s3 64->64", 64, 64, 8, 3, 1, 5},
};
static const shape r18[] = {
    {"stem 3->64", 3, 64, 32, 3, 1, 1},          {"s1 64->64", 64, 64, 32, 3, 1, 4},
    {"s2 64->128 /2", 64, 128, 32, 3, 2, 1},     {"s2 sc 64->128 1x1/2", 64, 128, 32, 1, 2, 1},
    {"s2 128->128", 128, 128, 16, 3, 1, 3},      {"s3 128->256 /2", 128, 256, 16, 3, 2, 1},
    {"s3 sc 128->256 1x1/2", 128, 256, 16, 1, 2, 1}, {"s3 256->256", 256, 256, 8, 3, 1, 3},
    {"s4 256->512 /2", 256, 512, 8, 3, 2, 1},    {"s4 sc 256->512 1x1/2", 256, 512, 8, 1, 2, 1},
    {"s4 512->512", 512, 512, 4, 3, 1, 3},
};

typedef struct {
    cl_conv_dims d;
    float *x, *W, *y, *dy, *dx, *dW, *ws;
    int with_dx;
} conv_call;

static void run_fwd(void *p)
{
    conv_call *c = p;
    cl_conv2d_forward(&c->d, c->x, c->W, NULL, c->y, c->ws);
}

static void run_bwd(void *p)
{
    conv_call *c = p;
    cl_conv2d_backward(&c->d, c->x, c->W, c->dy, c->with_dx ? c->dx : NULL, c->dW, NULL, c->ws);
}

static float *filled(int64_t n, uint64_t seed, const char *what)
{
    float *p = bench_alloc(sizeof(float) * (size_t)n, what);
    bench_fill(p, n, seed);
    return p;
}

/* One row; returns the shape's model ms (count x (fwd + dx + dW)). */
static double conv_row(const bench_env *e, const shape *s, int N, double fma)
{
    conv_call c;
    memset(&c, 0, sizeof c);
    c.d = cl_conv_dims_make(N, s->C, s->H, s->H, s->OC, s->k, s->stride, s->k / 2);
    const cl_conv_dims *d = &c.d;
    int64_t nx = (int64_t)N * d->C * d->H * d->W, ny = (int64_t)N * d->OC * d->OH * d->OW;
    int64_t nw = (int64_t)d->OC * d->C * d->k * d->k, nws = cl_conv2d_ws_floats(d);
    c.x = filled(nx, 1, "x");
    c.W = filled(nw, 2, "W");
    c.dy = filled(ny, 3, "dy");
    c.y = filled(ny, 4, "y");
    c.dx = filled(nx, 5, "dx");
    c.dW = filled(nw, 6, "dW");
    c.ws = bench_alloc(sizeof(float) * (size_t)(nws > 0 ? nws : 1), "workspace");
    int reps = e->quick ? 1 : 3;
    double budget = e->quick ? 0.0 : 0.3;
    double tf = bench_min(run_fwd, &c, reps, 50, budget);
    double tw = bench_min(run_bwd, &c, reps, 50, budget);
    c.with_dx = 1;
    double tb = bench_min(run_bwd, &c, reps, 50, budget);
    double tx = tb - tw > 0 ? tb - tw : 0;
    double fl = 2.0 * N * d->OC * d->OH * (double)d->OW * d->C * d->k * d->k / 1e9;
    char hw[16];
    snprintf(hw, sizeof hw, "%dx%d", s->H, s->H);
    printf("%-22s %4d %4d %6s %2d %2d  %-16.16s %7.2f %6.0f %4.0f%% %7.2f %6.0f %4.0f%% %7.2f %6.0f "
           "%4.0f%% %3d %8.1f\n",
           s->name, s->C, s->OC, hw, s->k, s->stride, cl_conv2d_algo(d), 1e3 * tf, fl / tf,
           100 * fl / tf / fma, 1e3 * tx, tx > 0 ? fl / tx : 0, tx > 0 ? 100 * fl / tx / fma : 0,
           1e3 * tw, fl / tw, 100 * fl / tw / fma, s->count,
           1e3 * s->count * (tf + tw + (s->C == 3 ? 0 : tx)));
    fflush(stdout);
    cl_free(c.x);
    cl_free(c.W);
    cl_free(c.dy);
    cl_free(c.y);
    cl_free(c.dx);
    cl_free(c.dW);
    cl_free(c.ws);
    return 1e3 * s->count * (tf + tw + (s->C == 3 ? 0 : tx));
}

static void table(const bench_env *e, const char *title, const shape *s, int n, int N, double fma)
{
    printf("\n== %s, batch %d (GF/s: direct-conv FLOPs; %%pk: of the FMA peak %.1f)\n", title, N,
           fma);
    printf("%-22s %4s %4s %6s %2s %2s  %-16s %7s %6s %5s %7s %6s %5s %7s %6s %5s %3s %8s\n",
           "shape", "C", "OC", "HxW", "k", "s", "algo (fwd)", "fwd ms", "GF/s", "%pk", "dx ms",
           "GF/s", "%pk", "dW ms", "GF/s", "%pk", "x", "model ms");
    double sum = 0;
    for (int i = 0; i < n; i++) sum += conv_row(e, &s[i], N, fma);
    printf("convolutions of one %s train step (batch %d): %.1f ms\n", title, N, sum);
}

int main(int argc, char **argv)
{
    bench_env e = bench_init(argc, argv, "convolution shapes of ResNet-20/18: fwd, dx, dW");
    const char *cv = getenv("COLLAPSE_CONV");
    printf("# COLLAPSE_CONV=%s\n", cv && *cv ? cv : "unset");
    double fma = bench_fma_peak_print(&e);
    int N = e.quick ? 4 : 128;
    table(&e, "ResNet-20", r20, (int)(sizeof r20 / sizeof r20[0]), N, fma);
    table(&e, "ResNet-18", r18, (int)(sizeof r18 / sizeof r18[0]), N, fma);
    return 0;
}
