/* COLLAPSE_ISA at the command line (isa.h): a bad value or a path this CPU
 * does not run is one line naming the variable, status 2, no run folder;
 * a good one is recorded in config.json as "isa" next to "blas_core". */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/isa.h"
#include "common.h"

#define TRAIN(out)                                                                       \
    "train", "--arch", "mlp", "--data", "fashion", "--train-per-class", "5",             \
        "--test-per-class", "2", "--epochs", "1", "--threads", "1", "--analyze", "none", \
        "--out", out

/* Runs `collapse args` with var=value (COLLAPSE_ISA or COLLAPSE_CONV):
 * status 2, one line naming the variable and containing want, no folder at
 * out. */
static void expect_refused(ctx *c, const char *var, const char *value, const char *want,
                           const char *out)
{
    setenv(var, value, 1);
    const char *args[] = {TRAIN(out), NULL};
    int st = run(c, args);
    char *err = tc_slurp(c->err, NULL);
    char head[64];
    snprintf(head, sizeof head, "collapse: %s=%s", var, value);
    cr_assert_eq(st, 2, "%s: status %d, stderr: %s", head, st, err);
    cr_assert(strncmp(err, head, strlen(head)) == 0 && strstr(err, want) &&
                  strchr(err, '\n') == err + strlen(err) - 1,
              "%s: want one line naming it: %s", head, err);
    free(err);
    cr_assert(!tc_exists(out), "%s left %s behind", head, out);
    unsetenv(var);
}

Test(cli_isa, bad_value_is_one_line_and_no_folder, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "isa");
    char out[256];
    sub(out, sizeof out, "%s/run", c.dir);
    expect_refused(&c, "COLLAPSE_ISA", "avx3", "expected auto, avx512, avx2 or generic", out);
    expect_refused(&c, "COLLAPSE_ISA", "AVX2", "expected auto", out);
    if (cl_isa_best() < CL_ISA_AVX512)
        expect_refused(&c, "COLLAPSE_ISA", "avx512", "supports at most", out);
    unsetenv("COLLAPSE_ISA");
    ctx_done(&c);
}

Test(cli_isa, forced_path_is_recorded_in_config_json, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "isa_ok");
    char out[256], cj[300];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(cj, sizeof cj, "%s/config.json", out);
    setenv("COLLAPSE_ISA", "generic", 1);
    const char *args[] = {TRAIN(out), NULL};
    run_ok(&c, args);
    char *j = tc_slurp(cj, NULL);
    cr_assert(j && strstr(j, "\"isa\": \"generic\""), "%s", j ? j : "(no config.json)");
    free(j);
    unsetenv("COLLAPSE_ISA");
    ctx_done(&c);
}

/* COLLAPSE_CONV likewise (kernels_conv.h: auto|winograd|gemm): a typo is
 * one line naming the variable, status 2, no folder; a good value is
 * recorded in config.json as "conv". */
Test(cli_isa, conv_choice_checked_and_recorded, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "conv_env");
    char out[256], cj[300];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(cj, sizeof cj, "%s/config.json", out);
    expect_refused(&c, "COLLAPSE_CONV", "wino", "expected auto, winograd or gemm", out);
    const char *args[] = {TRAIN(out), NULL};
    setenv("COLLAPSE_CONV", "gemm", 1);
    run_ok(&c, args);
    char *j = tc_slurp(cj, NULL);
    cr_assert(j && strstr(j, "\"conv\": \"gemm\""), "%s", j ? j : "(no config.json)");
    free(j);
    unsetenv("COLLAPSE_CONV");
    ctx_done(&c);
}
