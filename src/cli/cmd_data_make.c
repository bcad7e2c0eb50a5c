/* collapse data make mlab-mnist --to DIR: writes a generated dataset to IDX
 * files that --data DIR (and data info DIR) read back to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collapse/data.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: collapse data make mlab-mnist --to DIR [--seed S]\n"
            "           [--train-sizes SINGLES,PAIRS] [--test-sizes SINGLES,PAIRS]\n"
            "           [--mnist-dir DIR]\n"
            "\n"
            "Generates Multilabel-MNIST (Li et al., ICML 2024; docs/data.md) from the MNIST\n"
            "digits and writes it to DIR as {train,t10k}-images-idx3-ubyte.gz (56x56),\n"
            "-labels-idx1-ubyte.gz (lowest label) and -labels-idx2-ubyte.gz (K-hot, N x 10),\n"
            "all under temporary names renamed at the end. Train with --data DIR.\n"
            "  --seed S          seed of the generator (default %u; test split S + 1)\n"
            "  --train-sizes S,P single-digit images per digit, two-digit images per\n"
            "                    pair (default %d,%d: 40,000 images)\n"
            "  --test-sizes S,P  the same for the test split (default %d,%d: 10,250)\n"
            "  --mnist-dir DIR   where MNIST is (default: the usual search)\n",
            CL_MLAB_SEED, CL_MLAB_TRAIN_SINGLES, CL_MLAB_TRAIN_PAIRS, CL_MLAB_TEST_SINGLES,
            CL_MLAB_TEST_PAIRS);
}

/* "S,P" into s[2], each in [0, 10^6], not both 0; 0 after printing. */
static int parse_sizes(const char *flag, const char *v, int64_t s[2])
{
    char *e1, *e2;
    long long a = -1, b = -1;
    if (*v >= '0' && *v <= '9') {
        a = strtoll(v, &e1, 10);
        if (*e1 == ',' && e1[1] >= '0' && e1[1] <= '9') {
            b = strtoll(e1 + 1, &e2, 10);
            if (*e2) b = -1;
        }
    }
    if (a < 0 || b < 0 || a > 1000000 || b > 1000000) {
        cl_cli_fail(2, "%s: bad value '%s' (want SINGLES,PAIRS: per digit, per pair, "
                       "0..1000000)", flag, v);
        return 0;
    }
    if (a + b == 0) {
        cl_cli_fail(2, "%s: 0,0 makes no images", flag);
        return 0;
    }
    s[0] = a;
    s[1] = b;
    return 1;
}

int cl_cmd_data_make(int argc, char **argv)
{
    const char *name = NULL, *to = NULL, *mdir = NULL, *v;
    uint64_t seed = CL_MLAB_SEED;
    int64_t tr[2] = {CL_MLAB_TRAIN_SINGLES, CL_MLAB_TRAIN_PAIRS};
    int64_t te[2] = {CL_MLAB_TEST_SINGLES, CL_MLAB_TEST_PAIRS};
    for (int i = 1; i < argc; i++) {
        int r;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = cl_opt_value(argc, argv, &i, "--to", &to))) {
            if (r < 0) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--mnist-dir", &mdir))) {
            if (r < 0) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--seed", &v))) {
            if (r < 0 || !cl_opt_u64("--seed", v, &seed)) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--train-sizes", &v))) {
            if (r < 0 || !parse_sizes("--train-sizes", v, tr)) return 2;
        } else if ((r = cl_opt_value(argc, argv, &i, "--test-sizes", &v))) {
            if (r < 0 || !parse_sizes("--test-sizes", v, te)) return 2;
        } else if (argv[i][0] == '-') {
            return cl_cli_fail(2, "data make: unknown option '%s' (try --help)", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cl_cli_fail(2, "data make: unexpected argument '%s'", argv[i]);
        }
    }
    if (!name) return cl_cli_fail(2, "data make: which dataset? (mlab-mnist)");
    if (strcmp(name, "mlab-mnist"))
        return cl_cli_fail(2, "data make: unknown dataset '%s' (want mlab-mnist)", name);
    if (!to) return cl_cli_fail(2, "data make: --to DIR is required");
    cl_dataset m[2], out[2];
    memset(out, 0, sizeof out);
    cl_status st = CL_OK;
    for (int s = 0; s < 2 && st == CL_OK; s++) {
        const int64_t *z = s ? te : tr;
        st = cl_data_load("mnist", mdir, !s, &m[s]);
        if (st != CL_OK) break;
        st = cl_data_mlab_make(&m[s], z[0], z[1], seed + (uint64_t)s, &out[s], NULL);
        cl_dataset_free(&m[s]);
    }
    if (st == CL_OK) st = cl_data_save_idx(&out[0], &out[1], to);
    if (st == CL_OK)
        printf("mlab-mnist: train %lld (%lld per digit, %lld per pair), test %lld (%lld, "
               "%lld), seed %llu: ok, in %s\n",
               (long long)out[0].n, (long long)tr[0], (long long)tr[1], (long long)out[1].n,
               (long long)te[0], (long long)te[1], (unsigned long long)seed, to);
    cl_dataset_free(&out[0]);
    cl_dataset_free(&out[1]);
    return st == CL_OK ? 0 : cl_cli_fail(1, "data make: %s", cl_errmsg());
}
