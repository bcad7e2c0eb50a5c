/* The small products of kernels_gemm.h (the Winograd element-wise stage)
 * on one thread, per instruction-set path, against single-threaded
 * OpenBLAS sgemm on the same call and the machine's one-core FMA peak:
 *   nn  C[OC, Tc] (+)= U[OC, C] @ V[C, Tc]      (forward / dx; M N K = OC Tc C)
 *   nt  Macc[OC, C] += DY[OC, Tc] @ V[C, Tc]^T  (weight gradient; K = Tc)
 * C is accumulated (acc = 1, beta = 1). Time: CPU time of this thread
 * (CLOCK_THREAD_CPUTIME_ID), best of several windows of ~1 ms, so other
 * processes on a shared machine disturb it little. Paths the CPU lacks
 * print "-". Peak: bench_fma_peak (bench_common.h) on this one thread. */
#include "bench_common.h"
#include "collapse/kernels_gemm.h"

typedef struct {
    int nt, M, N, K;
} shape;

/* Winograd stage shapes: nn OC x Tc x C, nt OC x C x Tc. */
static const shape SHAPES[] = {
    {0, 64, 256, 64},   {0, 16, 1024, 16},  {0, 16, 64, 16},    {0, 32, 512, 32},
    {0, 64, 1024, 64},  {0, 128, 256, 128}, {0, 256, 128, 256}, {0, 512, 64, 512},
    {1, 16, 16, 1024},  {1, 32, 32, 1024},  {1, 64, 64, 1024},  {1, 128, 128, 1024},
    {1, 256, 256, 256}, {1, 512, 512, 64},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

typedef struct {
    const shape *s;
    int path; /* a cl_isa, or -1 for sgemm */
    const float *A, *B;
    float *C;
} call;

static void run_call(void *p)
{
    call *c = p;
    const shape *s = c->s;
    int ldb = s->nt ? s->K : s->N;
    if (c->path < 0)
        cl_sgemm(0, s->nt, s->M, s->N, s->K, 1.0f, c->A, s->K, c->B, ldb, 1.0f, c->C,
                 s->N);
    else if (s->nt)
        cl_kgemm_nt((cl_isa)c->path, s->M, s->N, s->K, c->A, s->K, c->B, ldb, c->C, s->N,
                    1);
    else
        cl_kgemm_nn((cl_isa)c->path, s->M, s->N, s->K, c->A, s->K, c->B, ldb, c->C, s->N,
                    1);
}

int main(int argc, char **argv)
{
    bench_env e =
        bench_init(argc, argv, "small products (kernels_gemm.h), one thread, GFLOP/s");
    bench_clock_id = CLOCK_THREAD_CPUTIME_ID;
    cl_blas_set_threads(1);
    const char *ppath = "";
    double peak = bench_fma_peak(1, e.quick, &ppath);
    printf("# one-core FMA peak %.1f GFLOP/s (%s FMA loop); kernels' path by default: %s\n",
           peak, ppath, cl_isa_name(cl_isa_current()));
    size_t n = (size_t)1 << 20;
    float *A = bench_alloc(n * sizeof(float), "A"),
          *B = bench_alloc(n * sizeof(float), "B"),
          *C = bench_alloc(n * sizeof(float), "C");
    bench_fill(A, (int64_t)n, 1);
    bench_fill(B, (int64_t)n, 2);
    memset(C, 0, n * sizeof(float));
    printf(
        "# clock: this thread's CPU time; sgemm: OpenBLAS on 1 thread; %%peak: the best "
        "kgemm path\n");
    printf("\n%-3s %-15s %8s %8s %8s %8s %6s\n", "op", "M x N x K", "avx512", "avx2",
           "generic", "sgemm", "%peak");
    for (int t = 0; t < NSHAPES; t++) {
        const shape *s = &SHAPES[t];
        double fl = 2.0 * s->M * s->N * s->K, best = 0;
        int iters =
            (int)(1e6 / fl * (e.quick ? 20 : 100)) + 1; /* ~1 ms (0.2 quick) windows */
        printf("%-3s %4dx%4dx%4d ", s->nt ? "nt" : "nn", s->M, s->N, s->K);
        for (int p = CL_ISA_AVX512; p >= -1; p--) {
            if (p > (int)cl_isa_best()) {
                printf(" %8s", "-");
                continue;
            }
            call c = {s, p, A, B, C};
            double g = fl / bench_time(run_call, &c, 1, e.quick ? 2 : 7, iters) * 1e-9;
            if (p >= 0 && g > best) best = g;
            printf(" %8.1f", g);
        }
        printf(" %5.0f%%\n", peak > 0 ? 100 * best / peak : 0.0);
        fflush(stdout);
    }
    cl_free(A), cl_free(B), cl_free(C);
    return 0;
}
