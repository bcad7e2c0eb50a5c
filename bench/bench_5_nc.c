/* The collapse analyzer (nc.h):
 *   in memory: every metric of N = 50,000 features of D = 512, K = 10, with
 *     a classifier W [K, D] and b (target: under 1 s)
 *   streaming: the two-pass fuzziness D of a stage-1 ResNet-20 tap, batches
 *     of 128 x 16x32x32 (D = 16384), per batch and as a fraction of a
 *     ResNet-20 eval forward pass at batch 128 (each study sweep runs one
 *     forward and one feed per batch). */
#include "bench_layers.h"
#include "collapse/nc.h"

/* Features with class structure: class mean (spread 1) plus noise (0.5). */
static void make_features(float *H, int32_t *y, int64_t N, int D, int K)
{
    cl_rng r;
    cl_rng_seed(&r, 9);
    float *mu = bench_alloc(sizeof(float) * (size_t)K * D, "class means");
    for (int64_t i = 0; i < (int64_t)K * D; i++) mu[i] = (float)cl_rng_normal(&r);
    for (int64_t i = 0; i < N; i++) {
        y[i] = (int32_t)(i % K);
        for (int j = 0; j < D; j++)
            H[i * D + j] = mu[(int64_t)y[i] * D + j] + 0.5f * (float)(2 * cl_rng_uniform(&r) - 1);
    }
    cl_free(mu);
}

typedef struct {
    const float *H, *W, *b;
    const int32_t *y;
    int64_t N;
    int D, K;
} analyze_call;

static void analyze_run(void *p)
{
    analyze_call *a = p;
    cl_nc_result r;
    bench_check(cl_nc_analyze(a->H, a->N, a->D, a->y, a->K, a->W, a->b, NULL, &r), "cl_nc_analyze");
}

typedef struct {
    cl_nc_stream *s;
    const float *H;
    const int32_t *y;
    int n, D, pass;
} feed_call;

static void feed_run(void *p)
{
    feed_call *f = p;
    if (f->pass == 1) bench_check(cl_nc_stream_feed1(f->s, f->H, f->n, f->D, f->y), "feed1");
    else bench_check(cl_nc_stream_feed2(f->s, f->H, f->n, f->D, f->y), "feed2");
}

int main(int argc, char **argv)
{
    bench_env e = bench_init(argc, argv, "collapse analyzer (nc.h)");
    int q = e.quick;

    /* ---- in memory ---- */
    int64_t N = q ? 5000 : 50000;
    int D = 512, K = 10;
    float *H = bench_alloc(sizeof(float) * (size_t)(N * D), "features");
    int32_t *y = bench_alloc(sizeof(int32_t) * (size_t)N, "labels");
    float *W = bench_alloc(sizeof(float) * (size_t)K * D, "W");
    float b[10] = {0};
    make_features(H, y, N, D, K);
    bench_fill(W, (int64_t)K * D, 4);
    analyze_call ac = {H, W, b, y, N, D, K};
    double t = bench_time(analyze_run, &ac, 1, q ? 1 : 3, 1);
    printf("\nall metrics (cl_nc_analyze), N = %lld, D = %d, K = %d, with W and b: %.3f s "
           "(target < 1 s: %s)\n",
           (long long)N, D, K, t, t < 1.0 ? "met" : "NOT met");
    fflush(stdout);
    cl_free(H);
    cl_free(y);
    cl_free(W);

    /* ---- streaming, a 128 x 16x32x32 tap ---- */
    int n = 128, Ds = 16 * 32 * 32, batches = q ? 4 : 20;
    float *Hs = bench_alloc(sizeof(float) * (size_t)n * Ds, "batch features");
    int32_t *ys = bench_alloc(sizeof(int32_t) * (size_t)n, "batch labels");
    make_features(Hs, ys, n, Ds, K);
    cl_nc_stream *s;
    bench_check(cl_nc_stream_create(&s, Ds, K, NULL, NULL, NULL), "stream");
    double best1 = 1e300, best2 = 1e300;
    feed_call fc = {s, Hs, ys, n, Ds, 1};
    for (int rep = 0; rep < 2; rep++) {
        cl_nc_stream_reset(s);
        fc.pass = 1;
        double t1 = bench_min(feed_run, &fc, batches - 1, batches - 1, 0);
        double t0 = bench_now();
        bench_check(cl_nc_stream_end1(s), "end1");
        double tend1 = bench_now() - t0;
        fc.pass = 2;
        double t2 = bench_min(feed_run, &fc, batches - 1, batches - 1, 0);
        cl_nc_result r;
        t0 = bench_now();
        /* identical batches: the within-class scatter is zero, so NC1 is 0 */
        bench_check(cl_nc_stream_result(s, &r), "result");
        double tres = bench_now() - t0;
        if (t1 < best1) best1 = t1;
        if (t2 < best2) best2 = t2;
        if (rep == 1)
            printf("streaming D of %d batches of %d x 16x32x32 (D = %d), K = %d: pass 1 %.2f ms "
                   "per batch, pass 2 %.2f ms per batch (fastest batch); end1 %.2f ms, result %.2f ms\n",
                   batches, n, Ds, K, 1e3 * best1, 1e3 * best2, 1e3 * tend1, 1e3 * tres);
    }
    fflush(stdout);
    cl_nc_stream_destroy(s);
    cl_free(Hs);
    cl_free(ys);

    bench_model r20;
    cl_arch_opts def = cl_arch_opts_default();
    bench_model_create(&r20, "resnet20", &def, (cl_shape){3, 32, 32}, 10, n);
    r20.n = n;
    double tf = bench_auto(bench_eval_step, &r20, q ? 1 : 3, q ? 0.0 : 0.3);
    bench_model_destroy(&r20);
    printf("ResNet-20 eval forward at batch %d: %.2f ms; analyzer per batch = %.2f (pass 1) and "
           "%.2f (pass 2) of a forward pass\n",
           n, 1e3 * tf, best1 / tf, best2 / tf);
    return 0;
}
