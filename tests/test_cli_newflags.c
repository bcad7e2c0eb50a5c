/* The flags of the regression, ordinal, cosine-head, GNC and UFM features
 * together (review of the merge a71a0d7..1e8d600): combinations that used
 * to be accepted and ignored (or trained the wrong thing) are refused with
 * one line naming the flag, and the error lines of --targets and
 * --ordinal-bins name each flag once. Run as a child process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "common.h"

/* Runs args, wants exit status `status` and `want` in stderr (once, if
 * `once`), and no --out folder left behind. */
static void expect(ctx *c, const char *const *args, int status, const char *want, int once)
{
    int st = run(c, args);
    char *err = tc_slurp(c->err, NULL);
    cr_assert(err);
    cr_assert_eq(st, status, "status %d, stderr: %s", st, err);
    const char *p = strstr(err, want);
    cr_assert(p, "want '%s' in: %s", want, err);
    if (once) cr_assert_null(strstr(p + 1, want), "'%s' twice in: %s", want, err);
    int lines = 0;
    for (const char *q = err; *q; q++) lines += *q == '\n';
    cr_assert_eq(lines, 1, "want one line: %s", err);
    free(err);
}

#define TRAIN(...)                                                                          \
    "train", "--arch", "mlp", "--data", "fashion", "--train-per-class", "5",               \
        "--test-per-class", "2", "--epochs", "1", "--threads", "1", __VA_ARGS__

Test(cli_newflags, regression_refuses_a_loss_it_would_ignore, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_regloss");
    /* before: --loss clm built a (K-1)-logit cumlink head trained as regression */
    const char *a[] = {TRAIN("--task", "regression", "--loss", "clm"), NULL};
    expect(&c, a, 2, "drop --loss clm", 1);
    const char *b[] = {TRAIN("--task", "regression", "--loss", "focal=2"), NULL};
    expect(&c, b, 2, "drop --loss focal=2", 1);
    ctx_done(&c);
}

Test(cli_newflags, gnc_refused_where_it_has_no_keys, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_gnc");
    char out[200];
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {TRAIN("--task", "regression", "--gnc", "--out", out), NULL};
    expect(&c, a, 2, "--gnc", 1);
    const char *b[] = {TRAIN("--loss", "clm", "--gnc", "--out", out), NULL};
    expect(&c, b, 2, "--gnc", 1);
    cr_assert_neq(access(out, F_OK), 0, "%s was created", out);
    ctx_done(&c);
}

Test(cli_newflags, clm_with_cosine_names_the_classifier_flag, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_clmcos");
    const char *a[] = {TRAIN("--loss", "clm", "--classifier", "cosine", "--temperature", "2"),
                       NULL};
    expect(&c, a, 2, "drop --classifier", 1);
    int st = run(&c, a);
    char *err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 2);
    cr_assert_null(strstr(err, "etf"), "names a flag that was not given: %s", err);
    free(err);
    ctx_done(&c);
}

Test(cli_newflags, targets_errors_name_the_flag_once, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_targets");
    char y[200], want[260];
    sub(y, sizeof y, "%s/missing.npy", c.dir);
    sub(want, sizeof want, "--targets %s: ", y);
    /* before: "--targets --targets cannot open" (the message overwrote itself) */
    const char *a[] = {TRAIN("--task", "regression", "--targets", y), NULL};
    expect(&c, a, 1, want, 1);
    const char *b[] = {TRAIN("--task", "regression", "--test-targets", y), NULL};
    sub(want, sizeof want, "--test-targets %s: ", y);
    expect(&c, b, 1, want, 1);
    ctx_done(&c);
}

Test(cli_newflags, ordinal_bins_without_targets_names_the_flag, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_bins");
    const char *a[] = {TRAIN("--ordinal-bins", "3"), NULL};
    expect(&c, a, 1, "--ordinal-bins", 1);
    char *err = tc_slurp(c.err, NULL);
    cr_assert_null(strstr(err, "--data fashion"), "%s", err);
    free(err);
    ctx_done(&c);
}

Test(cli_newflags, ufm_too_many_samples_names_width, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_ufm");
    char out[200];
    sub(out, sizeof out, "%s/u", c.dir);
    const char *a[] = {"ufm", "--classes", "2", "--dim", "2", "--per-class", "100000000",
                       "--depth", "2", "--width", "65536", "--loss", "mse", "--steps", "1",
                       "--out", out, NULL};
    expect(&c, a, 2, "too many for --width 65536", 1);
    cr_assert_neq(access(out, F_OK), 0, "%s was created", out);
    ctx_done(&c);
}

/* --targets on a classification run without --ordinal-bins was loaded and
 * then ignored. */
Test(cli_newflags, targets_need_a_use, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_tuse");
    const char *a[] = {TRAIN("--targets", "y.npy"), NULL};
    expect(&c, a, 2, "--targets: targets are used by", 1);
    const char *b[] = {TRAIN("--test-targets", "y.npy"), NULL};
    expect(&c, b, 2, "--test-targets: targets are used by", 1);
    ctx_done(&c);
}

/* --minority-classes on a training run: a balanced run then carries the
 * imbalance columns (train and test) and records the list; a class outside
 * [0, K), bad syntax and --task regression are refused without a folder. */
Test(cli_newflags, minority_classes_on_a_training_run, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "newflags_minority");
    char out[200], p[260];
    sub(out, sizeof out, "%s/run", c.dir);
    const char *bad1[] = {TRAIN("--minority-classes", "5-12", "--out", out), NULL};
    expect(&c, bad1, 1, "--minority-classes 5-12: class 12 is out of range", 1);
    const char *bad2[] = {TRAIN("--minority-classes", "9-5", "--out", out), NULL};
    expect(&c, bad2, 2, "--minority-classes 9-5: need a class list", 1);
    const char *bad3[] = {TRAIN("--task", "regression", "--minority-classes", "5-9", "--out", out),
                          NULL};
    expect(&c, bad3, 2, "--minority-classes", 1);
    cr_assert_neq(access(out, F_OK), 0, "%s was created", out);
    const char *ok[] = {TRAIN("--minority-classes", "5-9", "--out", out, "--no-plots"), NULL};
    int st = run(&c, ok);
    cr_assert_eq(st, 0, "status %d", st);
    sub(p, sizeof p, "%s/metrics.csv", out);
    char *csv = tc_slurp(p, NULL);
    cr_assert(csv);
    cr_expect(strstr(csv, ",minority_cos_W,") && strstr(csv, ",test_majority_cos_M"), "%.300s",
              csv);
    free(csv);
    sub(p, sizeof p, "%s/config.json", out);
    char *cfg = tc_slurp(p, NULL);
    cr_assert(cfg);
    cr_expect(strstr(cfg, "\"minority_classes\": \"5-9\""), "%s", cfg);
    free(cfg);
    ctx_done(&c);
}
