/* Data loading: all of MNIST (train + test, IDX .gz) and all of CIFAR-10
 * (5 train batches + test batch, .bin.gz) through cl_data_load, from
 * $COLLAPSE_DATA or data/ (`make data`). Best of 2 loads (the files are in
 * the page cache after the first: this is decompression + conversion). */
#include "bench_common.h"
#include "collapse/data.h"

static void load_all(const char *name, int repeats)
{
    double best = 1e300;
    int64_t n = 0;
    for (int r = 0; r < repeats; r++) {
        cl_dataset tr, te;
        memset(&tr, 0, sizeof tr);
        memset(&te, 0, sizeof te);
        double t0 = bench_now();
        cl_status st = cl_data_load(name, NULL, 1, &tr);
        if (st == CL_OK) st = cl_data_load(name, NULL, 0, &te);
        double dt = bench_now() - t0;
        if (st != CL_OK) {
            printf("%-10s not measured: %s (run `make data`)\n", name, cl_errmsg());
            cl_dataset_free(&tr);
            cl_dataset_free(&te);
            return;
        }
        n = tr.n + te.n;
        int64_t bytes = n * cl_shape_size(tr.shape);
        if (dt < best) best = dt;
        if (r == repeats - 1)
            printf("%-10s %8lld %10.3f %10.1f %10.0f\n", name, (long long)n, best, bytes / 1e6 / best,
                   n / best);
        cl_dataset_free(&tr);
        cl_dataset_free(&te);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    bench_env e = bench_init(argc, argv, "data loading (train + test splits, from .gz)");
    printf("data root: %s\n", cl_data_root());
    printf("%-10s %8s %10s %10s %10s\n", "dataset", "samples", "seconds", "MB/s(u8)", "img/s");
    load_all("mnist", e.quick ? 1 : 2);
    load_all("cifar10", e.quick ? 1 : 2);
    return 0;
}
