/* The stride-1 3x3 convolutions of ResNet-20 (16@32, 32@16, 64@8) and
 * ResNet-18's first stage (64@32) at batch 128, in the channel-blocked
 * layout (kernels_blocked.h: Winograd F(4x4, 3x3), 16 channels per AVX-512
 * vector) against the library's NCHW kernels (kernels_conv.h, Winograd
 * F(4) in NCHW for these shapes) on the same data:
 *
 *   fwd   cl_blocked_conv_forward       vs cl_conv2d_forward
 *   dW    cl_blocked_conv_backward, dx = NULL  vs cl_conv2d_backward, dx = NULL
 *   dx    the backward with dx minus the dW-only time, both sides
 *
 * The identity BasicBlocks use these kernels (layers/block.c); this
 * measures the convolutions alone (docs/blocked-layout.md). The outputs are
 * checked against the NCHW ones: max |diff| / max |ref| of y, dx, dW.
 * AVX-512 only: on another ISA path it says so and exits 0. */
#include <math.h>

#include "bench_common.h"
#include "collapse/kernels_blocked.h"
#include "collapse/kernels_conv.h"

typedef struct {
    cl_conv_dims d;
    const float *x, *xb, *W, *dy, *dyb;
    float *y, *yb, *dx, *dxb, *dW, *ws, *wsb;
    int with_dx;
} call;

static void lib_fwd(void *p)
{
    call *c = p;
    cl_conv2d_forward(&c->d, c->x, c->W, NULL, c->y, c->ws);
}
static void lib_bwd(void *p)
{
    call *c = p;
    cl_conv2d_backward(&c->d, c->x, c->W, c->dy, c->with_dx ? c->dx : NULL, c->dW, NULL,
                       c->ws);
}
static void blk_fwd(void *p)
{
    call *c = p;
    cl_blocked_conv_forward(&c->d, c->xb, c->W, c->yb, c->wsb);
}
static void blk_bwd(void *p)
{
    call *c = p;
    cl_blocked_conv_backward(&c->d, c->xb, c->W, c->dyb, c->with_dx ? c->dxb : NULL,
                             c->dW, c->wsb);
}

/* max |a - ref| / max |ref| with a in the blocked layout */
static double rel_diff(const float *ab, const float *ref, int N, int C, int64_t HW,
                       float *tmp)
{
    const int64_t n = (int64_t)N * C * HW;
    cl_from_blocked(ab, NULL, N, C, HW, tmp);
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)tmp[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    return d / fmax(m, 1e-30);
}

static float *filled(int64_t n, uint64_t seed, const char *what)
{
    float *p = bench_alloc(sizeof(float) * (size_t)n, what);
    bench_fill(p, n, seed);
    return p;
}

/* Seconds of fwd, dx, dW (best of `rounds` interleaved windows). */
static void times(call *c, bench_fn fwd, bench_fn bwd, int quick, double t[3])
{
    const int reps = quick ? 1 : 3;
    const double budget = quick ? 0 : 0.2;
    t[0] = bench_min(fwd, c, reps, 20, budget);
    c->with_dx = 0;
    t[2] = bench_min(bwd, c, reps, 20, budget);
    c->with_dx = 1;
    t[1] = fmax(0, bench_min(bwd, c, reps, 20, budget) - t[2]);
}

int main(int argc, char **argv)
{
    bench_env e =
        bench_init(argc, argv, "stride-1 3x3 convs: channel-blocked layout vs NCHW");
    const cl_conv_dims probe = cl_conv_dims_make(1, 16, 8, 8, 16, 3, 1, 1);
    if (!cl_blocked_conv_ok(&probe)) {
        printf("the blocked kernels need the AVX-512 path (isa %s): nothing measured\n",
               cl_isa_name(cl_isa_current()));
        return 0;
    }
    static const int shapes[][4] = {
        {16, 16, 32, 6}, {32, 32, 16, 5}, {64, 64, 8, 5}, {64, 64, 32, 4}};
    const char *model[] = {"ResNet-20", "ResNet-20", "ResNet-20", "ResNet-18"};
    const int N = e.quick ? 4 : 128, rounds = e.quick ? 1 : 3;
    printf("ms per call, best of %d rounds (blocked and NCHW alternated); x = count per "
           "model\n",
           rounds);
    printf("%-10s %-12s %2s | %8s %8s %6s | %8s %8s %6s | %8s %8s %6s | %s\n", "model",
           "shape", "x", "fwd blk", "fwd nchw", "ratio", "dx blk", "dx nchw", "ratio",
           "dW blk", "dW nchw", "ratio", "max rel diff y / dx / dW");
    double step[2] = {0,
                      0}; /* ResNet-20's stride-1 convs per train step: blocked, NCHW */
    for (int s = 0; s < 4; s++) {
        call c;
        memset(&c, 0, sizeof c);
        const int C = shapes[s][0], OC = shapes[s][1], H = shapes[s][2];
        c.d = cl_conv_dims_make(N, C, H, H, OC, 3, 1, 1);
        const int64_t HW = (int64_t)H * H, nx = N * C * HW, ny = N * OC * HW,
                      nw = OC * C * 9;
        float *x = filled(nx, 1, "x"), *dy = filled(ny, 3, "dy");
        float *xb = bench_alloc(4 * (size_t)nx, "xb"),
              *dyb = bench_alloc(4 * (size_t)ny, "dyb");
        float *Wt = filled(nw, 2, "W"),
              *tmp = bench_alloc(4 * (size_t)(nx > ny ? nx : ny), "tmp");
        cl_to_blocked(x, N, C, HW, xb);
        cl_to_blocked(dy, N, OC, HW, dyb);
        c.x = x, c.xb = xb, c.W = Wt, c.dy = dy, c.dyb = dyb;
        c.y = bench_alloc(4 * (size_t)ny, "y"), c.yb = bench_alloc(4 * (size_t)ny, "yb");
        c.dx = bench_alloc(4 * (size_t)nx, "dx"),
        c.dxb = bench_alloc(4 * (size_t)nx, "dxb");
        c.dW = bench_alloc(4 * (size_t)nw, "dW");
        const int64_t nws = cl_conv2d_ws_floats(&c.d);
        c.ws = bench_alloc(4 * (size_t)(nws > 0 ? nws : 1), "ws");
        c.wsb = bench_alloc(4 * (size_t)cl_blocked_conv_ws_floats(&c.d), "wsb");
        /* agreement: y and dx directly, dW from zero on both sides */
        float *dWl = bench_alloc(4 * (size_t)nw, "dW nchw");
        memset(dWl, 0, 4 * (size_t)nw);
        memset(c.dW, 0, 4 * (size_t)nw);
        lib_fwd(&c), blk_fwd(&c);
        cl_conv2d_backward(&c.d, x, Wt, dy, c.dx, dWl, NULL, c.ws);
        cl_blocked_conv_backward(&c.d, xb, Wt, dyb, c.dxb, c.dW, c.wsb);
        double dw = 0, mw = 0;
        for (int64_t i = 0; i < nw; i++) {
            dw = fmax(dw, fabs((double)c.dW[i] - dWl[i]));
            mw = fmax(mw, fabs((double)dWl[i]));
        }
        const double ey = rel_diff(c.yb, c.y, N, OC, HW, tmp);
        const double ex = rel_diff(c.dxb, c.dx, N, C, HW, tmp);
        double tb[3] = {1e30, 1e30, 1e30}, tl[3] = {1e30, 1e30, 1e30};
        for (int r = 0; r < rounds; r++) {
            double a[3], b[3];
            times(&c, blk_fwd, blk_bwd, e.quick, a);
            times(&c, lib_fwd, lib_bwd, e.quick, b);
            for (int k = 0; k < 3; k++)
                tb[k] = fmin(tb[k], a[k]), tl[k] = fmin(tl[k], b[k]);
        }
        char nm[32];
        snprintf(nm, sizeof nm, "%d->%d @%d", C, OC, H);
        printf("%-10s %-12s %2d |", model[s], nm, shapes[s][3]);
        for (int k = 0; k < 3; k++)
            printf(" %8.3f %8.3f %5.2fx |", 1e3 * tb[k], 1e3 * tl[k],
                   tl[k] / fmax(tb[k], 1e-12));
        printf(" %.1e / %.1e / %.1e\n", ey, ex, dw / fmax(mw, 1e-30));
        fflush(stdout);
        if (s < 3)
            for (int k = 0; k < 3; k++)
                step[0] += shapes[s][3] * tb[k], step[1] += shapes[s][3] * tl[k];
        float *all[] = {x,    dy,   xb,    dyb,  Wt,   tmp,   c.y,
                        c.yb, c.dx, c.dxb, c.dW, c.ws, c.wsb, dWl};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            cl_free(all[i]);
    }
    printf(
        "ResNet-20's 16 stride-1 convs of a train step (fwd + dx + dW): blocked %.1f ms, "
        "NCHW %.1f ms (%.2fx)\n",
        1e3 * step[0], 1e3 * step[1], step[1] / fmax(step[0], 1e-12));
    return 0;
}
