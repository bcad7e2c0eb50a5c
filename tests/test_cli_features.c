/* collapse features on a run studied with --bn-mode train: the BN mode and
 * the batch size of the study's sweeps come from the run's config.json, so
 * the features equal the study's features_train.npy bit for bit; flags
 * override them with a note; a malformed value is a clear error. Run as a
 * child process ($COLLAPSE_BIN) on a Fashion-MNIST subset. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "common.h"

static float *read_f32(const char *dir, const char *name, int64_t *n, int64_t *dim)
{
    char path[300];
    sub(path, sizeof path, "%s/%s", dir, name);
    float *x;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f32(path, &x, &nd, sh), CL_OK, "%s", path);
    cr_assert_eq(nd, 2, "%s", path);
    *n = sh[0];
    *dim = sh[1];
    return x;
}

/* features.npy of `feat` equals (same = 1) or differs from the study's. */
static void compare(const char *run_dir, const char *feat, int same)
{
    int64_t n, d, n2, d2;
    float *a = read_f32(run_dir, "features_train.npy", &n, &d);
    float *b = read_f32(feat, "features.npy", &n2, &d2);
    cr_assert(n == n2 && d == d2, "[%lld, %lld] vs [%lld, %lld]", (long long)n,
              (long long)d, (long long)n2, (long long)d2);
    int eq = !memcmp(a, b, sizeof(float) * (size_t)(n * d));
    cr_assert_eq(eq, same, "%s", same ? "features differ from the study's" : "features equal");
    cl_free(a);
    cl_free(b);
}

static void stdout_has(ctx *c, const char *what)
{
    char *so = tc_slurp(c->out, NULL);
    cr_assert(strstr(so, what), "no '%s' in: %s", what, so);
    free(so);
}

Test(cli_features, bn_train_run_reproduces_study_features, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "bnfeat");
    char model[256], out[256], feat[256];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    /* the study's batches: max(--batch, --eval-batch) = 40 samples */
    const char *a[] = {"train",        "--model",     model,       "--data",  "fashion",
                       "--train-per-class", "30",     "--test-per-class", "5",
                       "--epochs",     "2",           "--batch",   "25",      "--eval-batch",
                       "40",           "--bn-mode",   "train",     "--no-plots",
                       "--no-layers",  "--out",       out,         NULL};
    run_ok(&c, a);
    const char *f[] = {"features", out, "--out", feat, NULL};
    run_ok(&c, f);
    stdout_has(&c, "BN mode train from");
    stdout_has(&c, "batch 40 from");
    stdout_has(&c, "BN train mode");
    compare(out, feat, 1);
    /* the old behaviour (eval mode; or train mode with another batch size)
     * does not reproduce the study: both are kept as overrides, with a note */
    const char *f2[] = {"features", out, "--bn-mode", "eval", "--out", feat, NULL};
    run_ok(&c, f2);
    stdout_has(&c, "note: --bn-mode eval given; the run's study used train");
    compare(out, feat, 0);
    const char *f3[] = {"features", out, "--batch", "100", "--out", feat, NULL};
    run_ok(&c, f3);
    stdout_has(&c, "note: --batch 100 given; the run's study used batches of 40");
    compare(out, feat, 0);
    /* the same flags as the run's: no note, same features */
    const char *f4[] = {"features", out, "--bn-mode", "train", "--batch", "40",
                        "--out", feat, NULL};
    run_ok(&c, f4);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(!strstr(so, "note:"), "%s", so);
    free(so);
    compare(out, feat, 1);
    ctx_done(&c);
}

/* A BN mode or batch size of the wrong type in config.json: exit 1 with
 * file:line:col and the key, before any model is read. */
Test(cli_features, malformed_bn_options)
{
    ctx c;
    ctx_init(&c, "bnbad");
    static const struct {
        const char *json, *key;
    } cases[] = {
        {"{\"study\": {\"bn_mode\": 3}}", "'bn_mode'"},
        {"{\"study\": {\"bn_mode\": \"batch\"}}", "'bn_mode'"},
        {"{\"options\": {\"batch\": 2.5}}", "'batch'"},
        {"{\"options\": {\"batch\": 0}}", "'batch'"},
        {"{\"options\": {\"batch\": 10}, \"run\": {\"eval_batch\": -1}}", "'eval_batch'"},
    };
    char path[256], feat[256];
    sub(path, sizeof path, "%s/config.json", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tc_write_text(path, cases[i].json);
        const char *f[] = {"features", c.dir, "--data", "fashion", "--out", feat, NULL};
        cr_assert_eq(run(&c, f), 1, "%s", cases[i].json);
        char *err = tc_slurp(c.err, NULL);
        cr_assert(strstr(err, "config.json:1:") && strstr(err, "malformed value of") &&
                      strstr(err, cases[i].key),
                  "%s: %s", cases[i].json, err);
        free(err);
    }
    ctx_done(&c);
}
