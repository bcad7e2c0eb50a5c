/* The train / eval / features commands end to end, run as a child process
 * ($COLLAPSE_BIN): features/W/b files, fixed ETF heads, --layer taps,
 * --feature-dim and --no-classifier-bias, ResNet-20 and ConvNet, and 100%
 * training accuracy of an MLP on a 500-per-class MNIST subset. Small data:
 * Fashion-MNIST (Debian package) and CIFAR-10 subsets; MNIST from
 * $COLLAPSE_DATA (make data). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "cli_common.h"
#include "common.h"

/* ---- features, W, b; fixed ETF head ---- */

static float *read_f32(const char *dir, const char *name, int *ndim, int64_t *shape)
{
    char path[300];
    sub(path, sizeof path, "%s/%s", dir, name);
    float *x;
    cr_assert_eq(cl_npy_read_f32(path, &x, ndim, shape), CL_OK, "%s", path);
    return x;
}

Test(cli_runs, etf_head_and_features_agree_with_eval, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "etf");
    char model[256], out[256], feat[256];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",   "--model",
                       model,     "--data",
                       "fashion", "--train-per-class",
                       "30",      "--test-per-class",
                       "10",      "--epochs",
                       "3",       "--batch",
                       "25",      "--classifier",
                       "etf",     "--etf-mode",
                       "rotate",  "--analyze",
                       "none",    "--out",
                       out,       NULL};
    run_ok(&c, a);
    const char *f[] = {"features",
                       out,
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "30",
                       "--test-per-class",
                       "10",
                       "--out",
                       feat,
                       NULL};
    run_ok(&c, f);
    int nd;
    int64_t sh[8], shw[8], shb[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 300 && sh[1] == 32, "features [%lld, %lld]",
              (long long)sh[0], (long long)sh[1]);
    float *W = read_f32(feat, "W.npy", &nd, shw);
    cr_assert(nd == 2 && shw[0] == 10 && shw[1] == 32);
    float *b = read_f32(feat, "b.npy", &nd, shb);
    cr_assert(nd == 1 && shb[0] == 10);
    char path[300];
    sub(path, sizeof path, "%s/labels.npy", feat);
    int32_t *y;
    cr_assert_eq(cl_npy_read_i32(path, &y, &nd, sh), CL_OK);
    /* the trained ETF is still a simplex ETF: W W^T = I - (1 - I)/(K-1) */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(b[i], 0.0f);
        for (int j = 0; j < 10; j++) {
            double d = 0;
            for (int k = 0; k < 32; k++)
                d += (double)W[i * 32 + k] * W[j * 32 + k];
            cr_assert_float_eq(d, i == j ? 1.0 : -1.0 / 9, 1e-5, "[%d][%d] %g", i, j, d);
        }
    }
    /* the accuracy of argmax(W h + b) on the features equals eval's */
    int correct = 0;
    for (int n = 0; n < 300; n++) {
        int best = 0;
        double bv = -INFINITY;
        for (int k = 0; k < 10; k++) {
            double z = b[k];
            for (int d = 0; d < 32; d++)
                z += (double)W[k * 32 + d] * H[n * 32 + d];
            if (z > bv) bv = z, best = k;
        }
        correct += best == y[n];
    }
    const char *e[] = {"eval",
                       out,
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "30",
                       "--test-per-class",
                       "10",
                       "--split",
                       "train",
                       NULL};
    cr_assert_eq(run(&c, e), 0);
    char *so = tc_slurp(c.out, NULL);
    double tl, ta;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    cr_assert_float_eq(ta, 100.0 * correct / 300, 1e-3, "eval %g%%, features %d/300", ta,
                       correct);
    free(so);

    /* --layer picks a named hidden layer; unknown names list the layers */
    const char *f2[] = {"features",
                        out,
                        "--data",
                        "fashion",
                        "--train-per-class",
                        "30",
                        "--test-per-class",
                        "10",
                        "--layer",
                        "bn1",
                        "--out",
                        feat,
                        NULL};
    cr_assert_eq(run(&c, f2), 0);
    float *H2 = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 300 && sh[1] == 64);
    const char *f3[] = {"features", out,     "--data", "fashion", "--layer",
                        "fc9",      "--out", feat,     NULL};
    cr_assert_eq(run(&c, f3), 2);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "fc9") && strstr(err, "relu2"), "%s", err);
    free(err);
    cl_free(H);
    cl_free(H2);
    cl_free(W);
    cl_free(b);
    cl_free(y);
    ctx_done(&c);
}

/* ---- the README's MNIST claim: an MLP interpolates a 500-per-class subset ---- */

Test(cli_runs, mnist_mlp_reaches_100_percent_train_accuracy, .timeout = TC_TIMEOUT)
{
    const char *root = getenv("COLLAPSE_DATA");
    char probe[512];
    sub(probe, sizeof probe, "%s/mnist/train-images-idx3-ubyte.gz", root ? root : "data");
    if (!tc_exists(probe)) cr_skip_test("MNIST is not in %s (make data)", probe);
    ctx c;
    ctx_init(&c, "mnist");
    char model[256], out[256];
    sub(model, sizeof model, "%s/mlp.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = mlp\nwidth = 256\ndepth = 2\n");
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train",      "--model",
                       model,        "--data",
                       "mnist",      "--train-per-class",
                       "500",        "--test-per-class",
                       "100",        "--epochs",
                       "15",         "--batch",
                       "32",         "--lr",
                       "0.05",       "--schedule",
                       "step=10,13", "--threads",
                       "1",          "--analyze",
                       "none",       "--out",
                       out,          NULL};
    run_ok(&c, a);
    const char *e[] = {
        "eval", out, "--data", "mnist", "--train-per-class", "500", "--test-per-class",
        "100",  NULL};
    cr_assert_eq(run(&c, e), 0);
    char *so = tc_slurp(c.out, NULL);
    double tl, ta, sl, sa;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    p = strstr(so, "test  loss");
    cr_assert(p && sscanf(p, "test  loss %lf acc %lf%%", &sl, &sa) == 2, "%s", so);
    cr_assert_eq(ta, 100.0, "train accuracy %.4f%% (loss %g), want 100%%", ta, tl);
    cr_assert(sa > 85, "test accuracy %.2f%%", sa);
    free(so);
    ctx_done(&c);
}

/* ---- --feature-dim and --no-classifier-bias reach the built model ---- */

Test(cli_runs, feature_dim_and_no_bias)
{
    ctx c;
    ctx_init(&c, "fdim");
    char out[256], feat[256];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",     "--arch",
                       "mlp",       "--data",
                       "fashion",   "--train-per-class",
                       "10",        "--test-per-class",
                       "2",         "--epochs",
                       "1",         "--batch",
                       "50",        "--feature-dim",
                       "16",        "--no-classifier-bias",
                       "--analyze", "none",
                       "--out",     out,
                       NULL};
    run_ok(&c, a);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "without bias"), "%s", so);
    free(so);
    const char *f[] = {"features", out, "--out", feat, NULL};
    cr_assert_eq(run(&c, f), 0);
    int nd;
    int64_t sh[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 100 && sh[1] == 16, "[%lld, %lld]", (long long)sh[0],
              (long long)sh[1]);
    float *W = read_f32(feat, "W.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 10 && sh[1] == 16);
    float *b = read_f32(feat, "b.npy", &nd, sh);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(b[k], 0.0f);
    cl_free(H);
    cl_free(W);
    cl_free(b);
    /* an ETF needs D >= K: a clear error, no folder */
    char out2[256];
    sub(out2, sizeof out2, "%s/run2", c.dir);
    const char *a2[] = {"train",   "--arch",        "mlp", "--data",
                        "fashion", "--feature-dim", "5",   "--classifier",
                        "etf",     "--out",         out2,  NULL};
    cr_assert_eq(run(&c, a2), 1);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "--feature-dim") && strstr(err, "D=5"), "%s", err);
    free(err);
    cr_assert(!tc_exists(out2));
    ctx_done(&c);
}

/* A fixed ETF with d = K after a ReLU: the header names the classes that no
 * nonnegative feature reaches. The rotation depends on the seed alone; seed 1,
 * K = d = 10 leaves class 1 out (results/etf_fashion/mlp_etf10_s1: 0% train
 * accuracy on it); the zero-padded ETF reaches every class. */
Test(cli_runs, etf_header_names_unreachable_classes, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "etfreach");
    char model[256], out[256];
    small_model(&c, model, sizeof model);
    const char *modes[] = {"rotate", "pad"};
    for (int i = 0; i < 2; i++) {
        sub(out, sizeof out, "%s/run%d", c.dir, i);
        const char *a[] = {"train",   "--model",       model,     "--data",
                           "fashion", "--train-per-class", "5",   "--test-per-class",
                           "1",       "--epochs",      "1",       "--classifier",
                           "etf",     "--etf-mode",    modes[i],  "--feature-dim",
                           "10",      "--seed",        "1",       "--analyze",
                           "none",    "--out",         out,       NULL};
        run_ok(&c, a);
        char *so = tc_slurp(c.out, NULL);
        if (i == 0)
            cr_assert(strstr(so, "warning: fixed ETF (rotate) and nonnegative (ReLU) features: "
                                 "class 1 can never be predicted"),
                      "%s", so);
        else
            cr_assert(strstr(so, "every class reachable, smallest nonnegative margin 1.054 "),
                      "%s", so);
        /* the frozen 10 x 10 ETF (no bias) is not trained: header and config.json */
        long long np, nt;
        const char *p = strstr(so, "model: ");
        cr_assert(p && sscanf(p, "model: %*s %lld parameters (%lld trained)", &np, &nt) == 2 &&
                      np - nt == 100,
                  "%s", so);
        free(so);
        char cfg[300];
        sub(cfg, sizeof cfg, "%s/config.json", out);
        char *cj = tc_slurp(cfg, NULL), want[64];
        snprintf(want, sizeof want, "\"trainable_params\": %lld,", nt);
        cr_assert(strstr(cj, want), "%s not in %s", want, cj);
        free(cj);
    }
    ctx_done(&c);
}

/* Parses "a, b, c" (digits and ", ") at p into v; returns the count. */
static int int_list(const char *p, int *v, int cap)
{
    int n = 0;
    char *end;
    while (n < cap) {
        long x = strtol(p, &end, 10);
        if (end == p) break;
        v[n++] = (int)x;
        if (strncmp(end, ", ", 2)) break;
        p = end + 2;
    }
    return n;
}

/* Dead feature units: with the zero-padded ETF and d = K class k reads unit
 * k alone, so the classes the ETF cannot reach are exactly the dead units.
 * lr 1 on 50 images kills some of the 10 ReLUs in the first epoch; the
 * train watch (epoch 1 = the last) and eval on the finished run must name
 * the same units and classes. */
Test(cli_runs, etf_dead_units_watch_and_eval, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "etfdead");
    char model[256], out[256];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train", "--model", model, "--data", "fashion", "--train-per-class", "5",
                       "--test-per-class", "1", "--epochs", "1", "--classifier", "etf",
                       "--etf-mode", "pad", "--feature-dim", "10", "--seed", "1", "--lr", "1",
                       "--analyze", "none", "--out", out, NULL};
    run_ok(&c, a);
    char *so = tc_slurp(c.out, NULL);
    const char *p = strstr(so, "warning: epoch 1: feature unit");
    cr_assert(p, "%s", so);
    int units[10], classes[10], nu, nc;
    p = strchr(p + strlen("warning: epoch 1: feature unit"), ' ');
    nu = int_list(p + 1, units, 10);
    p = strstr(p, "cannot predict class");
    cr_assert(p && nu > 0, "%s", so);
    p = strchr(p + strlen("cannot predict class"), ' ');
    nc = int_list(p + 1, classes, 10);
    cr_assert(nc == nu && !memcmp(units, classes, sizeof(int) * (size_t)nu), "%s", so);
    free(so);
    const char *e[] = {"eval", out, "--split", "train", NULL};
    run_ok(&c, e);
    so = tc_slurp(c.out, NULL);
    p = strstr(so, "feature units zero on every sample: ");
    cr_assert(p, "%s", so);
    int eu[10], ec[10];
    int neu = int_list(p + strlen("feature units zero on every sample: "), eu, 10);
    p = strstr(p, "reaches: ");
    cr_assert(p, "%s", so);
    int nec = int_list(p + strlen("reaches: "), ec, 10);
    cr_assert(neu == nu && nec == nu && !memcmp(eu, units, sizeof(int) * (size_t)nu) &&
                  !memcmp(ec, units, sizeof(int) * (size_t)nu),
              "%s", so);
    free(so);
    ctx_done(&c);
}

/* ---- conv models end to end: ResNet-20 with an ETF head, ConvNet; layer taps ---- */

Test(cli_runs, resnet20_etf_and_convnet_end_to_end, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "conv");
    char out[256], feat[256];
    sub(out, sizeof out, "%s/r20", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",
                       "--model",
                       "../models/resnet20.cfg",
                       "--data",
                       "cifar10",
                       "--train-per-class",
                       "2",
                       "--test-per-class",
                       "1",
                       "--epochs",
                       "2",
                       "--batch",
                       "10",
                       "--classifier",
                       "etf",
                       "--analyze",
                       "none",
                       "--out",
                       out,
                       NULL};
    run_ok(&c, a);
    char *so = tc_slurp(c.out, NULL);
    /* 272474 parameters less the classifier bias the ETF head drops */
    cr_assert(strstr(so, "stem_conv") && strstr(so, "block9") &&
                  strstr(so, "272464 parameters") && strstr(so, "simplex ETF"),
              "%s", so);
    free(so);
    const char *f[] = {"features", out, "--layer", "block9", "--out", feat, NULL};
    run_ok(&c, f);
    int nd;
    int64_t sh[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 20 && sh[1] == 64 * 8 * 8, "[%lld, %lld]",
              (long long)sh[0], (long long)sh[1]);
    cl_free(H);

    sub(out, sizeof out, "%s/cn", c.dir);
    const char *b[] = {"train",   "--arch",
                       "convnet", "--data",
                       "fashion", "--train-per-class",
                       "5",       "--test-per-class",
                       "1",       "--epochs",
                       "2",       "--batch",
                       "25",      "--feature-dim",
                       "16",      "--analyze",
                       "none",    "--out",
                       out,       NULL};
    run_ok(&c, b);
    const char *f2[] = {"features", out, "--out", feat, NULL};
    cr_assert_eq(run(&c, f2), 0);
    H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 50 && sh[1] == 16, "[%lld, %lld]", (long long)sh[0],
              (long long)sh[1]);
    cl_free(H);
    ctx_done(&c);
}
