/* The train / eval / features commands, run as a child process
 * ($COLLAPSE_BIN): usage errors (one line naming the flag, status 2) and
 * bad files (file:line, status 1), leaving no run folder behind. Small
 * data: Fashion-MNIST (Debian package). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "common.h"

/* ---- usage errors: one line naming the flag, status 2, no folder ---- */

Test(cli, bad_flags_name_the_flag_and_leave_no_folder)
{
    ctx c;
    ctx_init(&c, "flags");
    char out[256];
    sub(out, sizeof out, "%s/run", c.dir);
    static const struct {
        const char *a[4];
        const char *want;
    } cases[] = {
        {{"--epochs", "0"}, "--epochs"},
        {{"--lr", "abc"}, "--lr"},
        {{"--batch", "-3"}, "--batch"},
        {{"--loss", "hinge"}, "--loss"},
        {{"--schedule", "sometimes"}, "--schedule"},
        {{"--optimizer", "rmsprop"}, "--optimizer"},
        {{"--classifier", "svm"}, "--classifier"},
        {{"--etf-mode", "pad"}, "--etf-mode"},
        {{"--optimizer", "adam", "--momentum", "0.5"}, "--momentum"},
        {{"--random-labels", "1.5"}, "--random-labels"},
        {{"--random-labels-mode", "derange"}, "--random-labels-mode"},
        {{"--resize", "0"}, "--resize"},
        {{"--seed", "-1"}, "--seed"},
        {{"--analyze", "sometimes"}, "--analyze"},
        {{"--bn-mode", "test"}, "--bn-mode"},
        {{"--frobnicate"}, "--frobnicate"},
        {{"--epochs"}, "--epochs needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[16] = {"train",   "--arch", "mlp", "--data",
                                "fashion", "--out",  out};
        int n = 7;
        for (int j = 0; j < 4 && cases[i].a[j]; j++)
            args[n++] = cases[i].a[j];
        args[n] = NULL;
        int st = run(&c, args);
        char *err = tc_slurp(c.err, NULL);
        cr_assert_eq(st, 2, "case %zu (%s): status %d, stderr: %s", i, cases[i].want, st,
                     err);
        cr_assert(strstr(err, cases[i].want), "case %zu: stderr lacks '%s': %s", i,
                  cases[i].want, err);
        cr_assert(strncmp(err, "collapse: ", 10) == 0 &&
                      strchr(err, '\n') == err + strlen(err) - 1,
                  "case %zu: want one line 'collapse: ...': %s", i, err);
        free(err);
        cr_assert(!tc_exists(out), "case %zu left %s behind", i, out);
    }
    /* missing --data, both/neither model options, --resume without --out */
    const char *no_data[] = {"train", "--arch", "mlp", NULL};
    cr_assert_eq(run(&c, no_data), 2);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "--data"), "%s", err);
    free(err);
    const char *both[] = {"train", "--arch", "mlp",     "--model",
                          "x.cfg", "--data", "fashion", NULL};
    cr_assert_eq(run(&c, both), 2);
    const char *resume[] = {"train",   "--arch",   "mlp", "--data",
                            "fashion", "--resume", NULL};
    cr_assert_eq(run(&c, resume), 2);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "--resume"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- bad files: file:line, status 1, no folder ---- */

Test(cli, bad_model_file_and_data_name_the_file)
{
    ctx c;
    ctx_init(&c, "files");
    char cfg[256], out[256];
    sub(cfg, sizeof cfg, "%s/bad.cfg", c.dir);
    sub(out, sizeof out, "%s/run", c.dir);
    tc_write_text(cfg, "[flatten]\nkind = flatten\n[fc1]\nkind = linear\nwidht = 3\n");
    const char *a1[] = {"train", "--model", cfg, "--data", "fashion", "--out", out, NULL};
    cr_assert_eq(run(&c, a1), 1);
    char *err = tc_slurp(c.err, NULL), want[300];
    sub(want, sizeof want, "%s:5:", cfg);
    cr_assert(strstr(err, want) && strstr(err, "widht"), "want '%s' naming 'widht': %s",
              want, err);
    free(err);
    cr_assert(!tc_exists(out));

    /* a model that does not fit the data: the model file is named */
    tc_write_text(cfg, "[model]\ntype = resnet20\ndepth = 2\n");
    cr_assert_eq(run(&c, a1), 1);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, cfg) && strstr(err, "depth"), "%s", err);
    free(err);
    cr_assert(!tc_exists(out));

    /* a layer that does not fit its input: file:line of the layer's section */
    tc_write_text(
        cfg, "[conv1]\nkind = conv2d\nout = 8\nk = 3\n\n[big]\nkind = conv2d\nout = 8\n"
             "k = 40\n[flatten]\nkind = flatten\n[fc]\nkind = linear\n");
    cr_assert_eq(run(&c, a1), 1);
    err = tc_slurp(c.err, NULL);
    sub(want, sizeof want, "%s:6: layer 'big'", cfg);
    cr_assert(strstr(err, want), "want '%s': %s", want, err);
    free(err);
    cr_assert(!tc_exists(out));

    const char *a2[] = {"train",   "--model", "no/such.cfg", "--data",
                        "fashion", "--out",   out,           NULL};
    cr_assert_eq(run(&c, a2), 1);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "no/such.cfg"), "%s", err);
    free(err);

    const char *a3[] = {"train", "--arch", "mlp", "--data", "/no/such/dataset",
                        "--out", out,      NULL};
    cr_assert_eq(run(&c, a3), 1);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "/no/such/dataset"), "%s", err);
    free(err);
    cr_assert(!tc_exists(out));

    const char *a4[] = {"train", "--arch", "resnet99", "--data", "fashion", NULL};
    cr_assert_eq(run(&c, a4), 2);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "--arch") && strstr(err, "resnet99"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- eval / features: usage and file errors ---- */

Test(cli, eval_and_features_errors)
{
    ctx c;
    ctx_init(&c, "everr");
    static const struct {
        const char *a[10];
        int status;
        const char *want;
    } cases[] = {
        {{"eval", "/no/such/run", "--data", "fashion"}, 1, "/no/such/run"},
        {{"eval", "--data", "fashion"}, 2, "checkpoint"},
        {{"eval", "x", "--data", "fashion", "--split", "dev"}, 2, "--split"},
        {{"eval", "x", "--data", "fashion", "--loss", "l1"}, 2, "--loss"},
        {{"eval", "x", "y", "--data", "fashion"}, 2, "'y'"},
        {{"features", "x", "--data", "fashion"}, 2, "--out"},
        {{"features", "x", "--data", "fashion", "--out", "o", "--bn-mode", "z"},
         2,
         "--bn-mode"},
        {{"features", "/no/such/run", "--data", "fashion", "--out", "o"},
         1,
         "/no/such/run"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = run(&c, cases[i].a);
        char *err = tc_slurp(c.err, NULL);
        cr_assert_eq(st, cases[i].status, "case %zu: status %d: %s", i, st, err);
        cr_assert(strstr(err, cases[i].want), "case %zu: want '%s': %s", i, cases[i].want,
                  err);
        free(err);
    }
    cr_assert(!tc_exists("o"), "features created its --out on an error");
    ctx_done(&c);
}
