/* Helpers of the MPI tests (tests/test_ddp.c, tests/test_ddp_study.c):
 * mpirun in its own process group under a deadline, the plain binary for
 * np = 0, final parameters and CSV comparisons. */
#ifndef TESTS_DDP_COMMON_H
#define TESTS_DDP_COMMON_H

#include <stdint.h>
#include <sys/types.h>

#include "cli_common.h"

#define DDP_DEADLINE 60 /* seconds per mpirun before we call it a hang */

/* The MPI binary ($COLLAPSE_MPI_BIN), or NULL after skipping the test
 * (SAN=1, no binary, no mpirun). */
const char *ddp_mpi_bin(void);
/* `mpirun -np NP --oversubscribe [pre...] BIN args...` (np = 0: the plain
 * binary) in a new process group, output into c->out / c->err. */
pid_t ddp_spawn_np(ctx *c, int np, const char *const *pre, const char *const *args);
/* Exit status (1000 + signal when killed); a hang kills the group and fails. */
int ddp_wait_np(ctx *c, pid_t pid);
int ddp_run_np(ctx *c, int np, const char *const *pre, const char *const *args);
void ddp_run_np_ok(ctx *c, int np, const char *const *args);
/* The newest good checkpoint's parameters of run folder dir (cl_free). */
float *ddp_final_params(const char *dir, int64_t *n);
/* max |a - b| / max |b| over the final parameters of two runs. */
double ddp_rel_diff(const char *da, const char *db);
void ddp_same_bytes(const char *da, const char *db);
int ddp_file_has(const char *path, const char *s);
/* Two CSV files cell by cell: same header and rows, text equal, numbers to
 * 1e-4 relative, "_seconds" columns skipped. */
void ddp_same_csv(const char *pa, const char *pb);

#endif
