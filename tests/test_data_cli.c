/* Data module, the `collapse data` command: usage errors, fetch errors
 * and info. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

/* ---- the CLI ---- */

TestSuite(data_cli, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(data_cli, usage_errors_and_info)
{
    char out[8192], a[512];
    cr_assert_eq(tc_run_capture("data --help", out, sizeof out), 0);
    cr_assert(strstr(out, "collapse data fetch NAME"));
    cr_assert_eq(tc_run_capture("data fetch", out, sizeof out), 2);
    cr_assert_eq(tc_run_capture("data fetch mnist --bogus", out, sizeof out), 2);
    cr_assert(strstr(out, "--bogus"), "%s", out);
    cr_assert_eq(tc_run_capture("data fetch imagenet", out, sizeof out), 2);
    cr_assert_eq(tc_run_capture("data frobnicate", out, sizeof out), 2);
    snprintf(a, sizeof a, "data fetch cifar10 --from %s/none --to %s/c", tc_tmpdir(),
             tc_tmpdir());
    cr_assert_eq(tc_run_capture(a, out, sizeof out), 1);
    cr_assert(strstr(out, "/none: no such file or folder"), "%s", out);
    cr_assert_eq(tc_count_entries(tpath("c")), 0);
    cr_assert_eq(tc_run_capture("data info mnist --split test", out, sizeof out), 0, "%s",
                 out);
    cr_assert(strstr(out, "10000 samples") && strstr(out, "1135"), "%s", out);
    cr_assert_eq(tc_run_capture("data info nosuchset", out, sizeof out), 1);
    cr_assert(strstr(out, "nosuchset: unknown dataset"), "%s", out);
}
