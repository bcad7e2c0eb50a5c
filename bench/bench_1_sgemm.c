/* sgemm rates of this machine: the denominator of every "% of sgemm" in the
 * other benchmarks, and the rate on the exact shapes the layers use.
 *
 *   square       threaded sgemm M = N = K = 2048 and 1024 (the better is the
 *                reference "peak" of the other programs), and one thread alone
 *   MLP          the three products of a Linear layer at batch 128 as
 *                src/kernels/dense.c issues them (threaded sgemm):
 *                fwd y = x W^T, dx = dy W, dW += dy^T x
 *   conv         the per-image products of src/kernels/conv.c: images are
 *                spread over the threads (omp parallel for) and each runs a
 *                single-threaded sgemm, so the relevant rate is "T copies of
 *                a 1-thread sgemm of this small shape":
 *                fwd y_n = W col_n, dW += dy_n col_n^T, dcol = W^T dy_n
 *                Buffers are per thread (cache-resident), so this is the
 *                compute rate of the shape without im2col or memory traffic.
 *   FMA peak     the machine's ceiling measured here (bench_common.h:
 *                independent vector FMA chains on every thread), printed
 *                first and used as a second reference next to sgemm
 *                ("%fma" columns). */
#include <omp.h>

#include "bench_common.h"

typedef struct {
    const char *name;
    int OC, OHW, CKK;
} conv_shape;

/* ResNet-20 at 32x32 (stride-2 convs have OHW of the output). */
static const conv_shape r20[] = {
    {"stem 3->16 3x3", 16, 1024, 27},      {"s1 16->16 3x3", 16, 1024, 144},
    {"s2 16->32 3x3/2", 32, 256, 144},     {"s2 32->32 3x3", 32, 256, 288},
    {"s2 sc 16->32 1x1/2", 32, 256, 16},   {"s3 32->64 3x3/2", 64, 64, 288},
    {"s3 64->64 3x3", 64, 64, 576},        {"s3 sc 32->64 1x1/2", 64, 64, 32},
};
/* ResNet-18 (CIFAR stem) forward shapes. */
static const conv_shape r18[] = {
    {"stem 3->64 3x3", 64, 1024, 27},       {"s1 64->64 3x3", 64, 1024, 576},
    {"s2 128->128 3x3", 128, 256, 1152},    {"s3 256->256 3x3", 256, 64, 2304},
    {"s4 512->512 3x3", 512, 16, 4608},
};

typedef struct {
    int tA, tB, M, N, K, images, beta1;
    float *buf; /* per thread: A, B, C */
    int64_t slot;
} per_image;

static void per_image_run(void *p)
{
    per_image *g = p;
    int lda = g->tA ? g->M : g->K, ldb = g->tB ? g->K : g->N;
#pragma omp parallel
    {
        float *A = g->buf + omp_get_thread_num() * g->slot;
        float *B = A + (int64_t)g->M * g->K, *C = B + (int64_t)g->K * g->N;
#pragma omp for schedule(static)
        for (int n = 0; n < g->images; n++)
            cl_sgemm(g->tA, g->tB, g->M, g->N, g->K, 1.0f, A, lda, B, ldb, g->beta1 ? 1.0f : 0.0f,
                     C, g->N);
    }
}

/* GFLOP/s of `images` single-threaded sgemms spread over the threads. */
static double per_image_gflops(const bench_env *e, int tA, int tB, int M, int N, int K, int beta1)
{
    int64_t slot = ((int64_t)M * K + (int64_t)K * N + (int64_t)M * N + 15) & ~(int64_t)15;
    per_image g = {tA, tB, M, N, K, 128, beta1, NULL, slot};
    g.buf = bench_alloc(sizeof(float) * (size_t)(slot * e->threads), "per-image buffers");
    bench_fill(g.buf, slot * e->threads, 3);
    double t = bench_min(per_image_run, &g, 3, 1000, e->quick ? 0.03 : 0.12);
    cl_free(g.buf);
    return 2.0 * M * N * (double)K * g.images / t / 1e9;
}

static void conv_rows(const bench_env *e, const conv_shape *s, int n, int all, double peak,
                      double fma)
{
    printf("%-22s %5s %5s %5s %9s %6s %5s", "conv (per image, 1 thr)", "OC", "OHW", "CKK",
           "fwd GF/s", "%pk", "%fma");
    if (all) printf(" %9s %6s %5s %9s %6s %5s", "dW GF/s", "%pk", "%fma", "dcol GF/s", "%pk", "%fma");
    printf("\n");
    for (int i = 0; i < n; i++) {
        double f = per_image_gflops(e, 0, 0, s[i].OC, s[i].OHW, s[i].CKK, 0);
        printf("%-22s %5d %5d %5d %9.1f %5.0f%% %4.0f%%", s[i].name, s[i].OC, s[i].OHW, s[i].CKK,
               f, 100 * f / peak, 100 * f / fma);
        if (all) {
            double w = per_image_gflops(e, 0, 1, s[i].OC, s[i].CKK, s[i].OHW, 1);
            double c = per_image_gflops(e, 1, 0, s[i].CKK, s[i].OHW, s[i].OC, 0);
            printf(" %9.1f %5.0f%% %4.0f%% %9.1f %5.0f%% %4.0f%%", w, 100 * w / peak, 100 * w / fma,
                   c, 100 * c / peak, 100 * c / fma);
        }
        printf("\n");
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    bench_env e = bench_init(argc, argv, "sgemm rates (GFLOP/s = 2*M*N*K / s, best of 3)");
    double secs = e.quick ? 0.2 : 1.0;
    double fma = bench_fma_peak_print(&e);

    printf("\n%-34s %9s\n", "square (row-major NN)", "GFLOP/s");
    double p2 = bench_sgemm_gflops(0, 0, 2048, 2048, 2048, 3, e.quick ? 0.2 : 1.5);
    double p1 = bench_sgemm_gflops(0, 0, 1024, 1024, 1024, 5, e.quick ? 0.1 : 0.5);
    double peak = p1 > p2 ? p1 : p2;
    printf("# sgemm reference %.1f GFLOP/s = %.0f%% of the FMA peak %.1f\n", peak,
           100 * peak / fma, fma);
    printf("%-34s %9.1f%s\n", "2048^3", p2, p2 >= p1 ? "   <- reference (the better square)" : "");
    printf("%-34s %9.1f%s\n", "1024^3", p1, p1 > p2 ? "   <- reference (the better square)" : "");
    if (e.threads > 1) {
        cl_blas_set_threads(1);
        double one = bench_sgemm_gflops(0, 0, 2048, 2048, 2048, 3, secs);
        printf("%-34s %9.1f   (x%d = %.1f)\n", "2048^3, 1 thread", one, e.threads,
               one * e.threads);
        cl_blas_set_threads(e.threads);
    }
    fflush(stdout);

    printf("\n%-34s %9s %6s %5s\n", "MLP 784-1024x3-10, batch 128", "GFLOP/s", "%peak", "%fma");
    static const int dims[4][2] = {{784, 1024}, {1024, 1024}, {1024, 1024}, {1024, 10}};
    for (int l = 0; l < 4; l++) {
        int IN = dims[l][0], OUT = dims[l][1];
        char nm[64];
        double f = bench_sgemm_gflops(0, 1, 128, OUT, IN, 3, secs / 4);
        snprintf(nm, sizeof nm, "fc%d fwd   128x%dx%d", l + 1, OUT, IN);
        printf("%-34s %9.1f %5.0f%% %4.0f%%\n", nm, f, 100 * f / peak, 100 * f / fma);
        if (l > 0) {
            f = bench_sgemm_gflops(0, 0, 128, IN, OUT, 3, secs / 4);
            snprintf(nm, sizeof nm, "fc%d dx    128x%dx%d", l + 1, IN, OUT);
            printf("%-34s %9.1f %5.0f%% %4.0f%%\n", nm, f, 100 * f / peak, 100 * f / fma);
        }
        f = bench_sgemm_gflops(1, 0, OUT, IN, 128, 3, secs / 4);
        snprintf(nm, sizeof nm, "fc%d dW    %dx%dx128 (A^T)", l + 1, OUT, IN);
        printf("%-34s %9.1f %5.0f%% %4.0f%%\n", nm, f, 100 * f / peak, 100 * f / fma);
        fflush(stdout);
    }

    printf("\nResNet-20 conv shapes, 128 images over %d threads:\n", e.threads);
    conv_rows(&e, r20, (int)(sizeof r20 / sizeof r20[0]), 1, peak, fma);
    printf("\nResNet-18 conv shapes (forward), 128 images over %d threads:\n", e.threads);
    conv_rows(&e, r18, (int)(sizeof r18 / sizeof r18[0]), 0, peak, fma);
    printf("\n%%pk = percent of the reference square rate above (%.1f GFLOP/s); %%fma = percent of "
           "the FMA peak (%.1f GFLOP/s) measured first.\n",
           peak, fma);
    return 0;
}
