/* The study under MPI through the CLI (issue 12): np = 2 against one
 * process; helpers in ddp_common.c, skipped as tests/test_ddp.c. */
#include <criterion/criterion.h>
#include <unistd.h>

#include "cli_common.h"
#include "common.h"
#include "ddp_common.h"

/* The study under MPI through the CLI: an MLP with the default study, two
 * epochs (rows 0, 1, 2), np=2 vs one process: metrics.csv and layers.csv to
 * 1e-4 relative in every column but the timings, the same files. */
Test(ddp, study_np2_rows_match_one_process, .timeout = TC_TIMEOUT)
{
    if (!ddp_mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_study");
    char a[128], b[128], fa[192], fb[192];
    sub(a, sizeof a, "%s/one", c.dir);
    sub(b, sizeof b, "%s/two", c.dir);
#define STUDY_RUN(out)                                                                   \
    "train", "--arch", "mlp", "--data", "mnist", "--train-per-class", "30",             \
        "--test-per-class", "10", "--epochs", "2", "--batch", "64", "--seed", "4",      \
        "--threads", "1", "--no-plots", "--out", out
    const char *one[] = {STUDY_RUN(a), NULL}, *two[] = {STUDY_RUN(b), NULL};
#undef STUDY_RUN
    ddp_run_np_ok(&c, 0, one);
    ddp_run_np_ok(&c, 2, two);
    const char *files[] = {"metrics.csv", "layers.csv"};
    for (int i = 0; i < 2; i++) {
        sub(fa, sizeof fa, "%s/%s", a, files[i]);
        sub(fb, sizeof fb, "%s/%s", b, files[i]);
        ddp_same_csv(fa, fb);
    }
    const char *npy[] = {"features_train.npy", "labels_train.npy", "W.npy"};
    for (int i = 0; i < 3; i++) {
        sub(fb, sizeof fb, "%s/%s", b, npy[i]);
        cr_assert_eq(access(fb, R_OK), 0, "np=2 did not write %s", npy[i]);
    }
    ctx_done(&c);
}
