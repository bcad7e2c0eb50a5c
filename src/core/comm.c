/* The one-process group of the plain build (see collapse/comm.h); the MPI
 * build compiles src/core/comm_mpi.c instead (-DCL_MPI). cl_comm_shard and
 * cl_comm_agree are shared by both. */
#include "collapse/comm.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CL_MPI
struct cl_comm {
    int unused;
};

cl_status cl_comm_init(cl_comm **out, int *argc, char ***argv)
{
    *out = calloc(1, sizeof **out);
    return *out ? CL_OK : cl_error(CL_ENOMEM, "out of memory");
}

void cl_comm_finalize(cl_comm *c) { free(c); }
int cl_comm_rank(const cl_comm *c) { return 0; }
int cl_comm_size(const cl_comm *c) { return 1; }
int cl_comm_is_mpi_build(void) { return 0; }
cl_status cl_comm_sum_f32(cl_comm *c, float *buf, int64_t n) { return CL_OK; }
cl_status cl_comm_sum_f64(cl_comm *c, double *buf, int64_t n) { return CL_OK; }
cl_status cl_comm_sum_i64(cl_comm *c, int64_t *buf, int64_t n) { return CL_OK; }
cl_status cl_comm_bcast(cl_comm *c, void *buf, int64_t bytes) { return CL_OK; }
cl_status cl_comm_barrier(cl_comm *c) { return CL_OK; }
cl_status cl_comm_isum_f32(cl_comm *c, float *buf, int64_t n) { return CL_OK; }
void cl_comm_progress(cl_comm *c) {}
cl_status cl_comm_wait_all(cl_comm *c) { return CL_OK; }
int cl_comm_agree_code(cl_comm *c, int code, char *msg, int64_t cap, int *flag, int *who)
{
    if (who) *who = 0;
    return code;
}
int cl_comm_stopping(const cl_comm *c) { return 0; }
void cl_comm_abort(cl_comm *c, int code) {}
#endif

cl_status cl_comm_agree(cl_comm *c, cl_status st, int *flag)
{
    if (cl_comm_size(c) == 1) return cl_comm_agree_code(c, (int)st, NULL, 0, flag, NULL);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", st != CL_OK ? cl_errmsg() : "");
    int who = 0, code = cl_comm_agree_code(c, (int)st, msg, (int64_t)sizeof msg, flag, &who);
    if (code == CL_OK || who == cl_comm_rank(c)) return (cl_status)code;
    return cl_error((cl_status)code, "rank %d: %s", who, msg);
}

void cl_comm_shard(const cl_comm *c, int64_t n, int64_t *begin, int64_t *end)
{
    int64_t size = cl_comm_size(c), rank = cl_comm_rank(c);
    int64_t q = n / size, r = n % size;
    *begin = rank * q + (rank < r ? rank : r);
    *end = *begin + q + (rank < r);
}
