/* The one-process group of the plain build (see collapse/comm.h); the MPI
 * build compiles src/core/comm_mpi.c instead (-DCL_MPI). cl_comm_shard is
 * shared by both. */
#include "collapse/comm.h"

#include <stddef.h>
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
#endif

void cl_comm_shard(const cl_comm *c, int64_t n, int64_t *begin, int64_t *end)
{
    int64_t size = cl_comm_size(c), rank = cl_comm_rank(c);
    int64_t q = n / size, r = n % size;
    *begin = rank * q + (rank < r ? rank : r);
    *end = *begin + q + (rank < r);
}
