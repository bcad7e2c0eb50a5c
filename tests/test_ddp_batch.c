/* Data-parallel runs whose --batch leaves a rank without a sample of some
 * batch (issue 12): refused with one line naming --batch before --out is
 * written (the check of cl_train_run came after config.json, epoch 0's
 * study files and figures). Needs build/collapse-mpi and mpirun, as
 * tests/test_ddp.c; skipped without them (ddp_mpi_bin). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/train.h"
#include "common.h"
#include "ddp_common.h"

TestSuite(ddp_batch, .timeout = TC_TIMEOUT);

/* One process: every batch is fine (the check is the identity). */
Test(ddp_batch, one_process_accepts_any_batch)
{
    cr_assert_eq(cl_train_ddp_check(NULL, 1, 7), CL_OK);
    cr_assert_eq(cl_train_ddp_check(NULL, 49, 100), CL_OK);
}

Test(ddp_batch, last_batch_too_small_refused_before_out)
{
    const char *bin = ddp_mpi_bin();
    if (!bin) return;
    ctx c;
    ctx_init(&c, "ddp_batch");
    char out[128], cmd[1024];
    sub(out, sizeof out, "%s/run", c.dir);
    /* 100 samples, batch 49: the last batch has 2 samples for 3 ranks */
    sub(cmd, sizeof cmd,
        "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
        "OMP_WAIT_POLICY=PASSIVE timeout 60 mpirun -np 3 --oversubscribe %s train --arch mlp "
        "--data mnist --train-per-class 10 --test-per-class 2 --epochs 1 --batch 49 "
        "--threads 1 --out %s >%s 2>%s",
        bin, out, c.out, c.err);
    int st = system(cmd);
    cr_assert(st != 0 && WEXITSTATUS(st) != 124, "status %d (124: mpirun hung)", st);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(e && strstr(e, "--batch 49 over 3 ranks"), "%s", e ? e : "");
    free(e);
    cr_assert(!tc_exists(out), "a refused run leaves no results folder");
    ctx_done(&c);
}
