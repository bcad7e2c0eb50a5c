/* The MPI process group (see collapse/comm.h), compiled only by `make mpi`
 * (-DCL_MPI). Blocking collectives on MPI_COMM_WORLD; errors return with
 * MPI's message instead of aborting (MPI_ERRORS_RETURN). */
#ifdef CL_MPI
#include "collapse/comm.h"

#include <mpi.h>
#include <stdlib.h>

#include "collapse/mem.h"

struct cl_comm {
    int rank, size;
};

static cl_status mpi_check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return CL_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cl_error(CL_EIO, "MPI %s failed: %s", what, msg);
}

cl_status cl_comm_init(cl_comm **out, int *argc, char ***argv)
{
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) CL_TRY(mpi_check(MPI_Init(argc, argv), "init"));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    cl_comm *c = calloc(1, sizeof *c);
    if (!c) return cl_error(CL_ENOMEM, "out of memory");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    *out = c;
    return CL_OK;
}

void cl_comm_finalize(cl_comm *c)
{
    if (!c) return;
    free(c);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

int cl_comm_rank(const cl_comm *c) { return c ? c->rank : 0; }
int cl_comm_size(const cl_comm *c) { return c ? c->size : 1; }
int cl_comm_is_mpi_build(void) { return 1; }

/* MPI counts are int: large buffers go in chunks. */
static cl_status sum(cl_comm *c, void *buf, int64_t n, MPI_Datatype t, size_t esz)
{
    if (!c || c->size == 1) return CL_OK;
    const int64_t chunk = 1 << 28;
    for (int64_t i = 0; i < n; i += chunk) {
        int k = (int)(n - i < chunk ? n - i : chunk);
        CL_TRY(mpi_check(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + i * esz, k, t, MPI_SUM,
                                       MPI_COMM_WORLD), "allreduce"));
    }
    return CL_OK;
}

cl_status cl_comm_sum_f32(cl_comm *c, float *buf, int64_t n)
{
    return sum(c, buf, n, MPI_FLOAT, sizeof *buf);
}
cl_status cl_comm_sum_f64(cl_comm *c, double *buf, int64_t n)
{
    return sum(c, buf, n, MPI_DOUBLE, sizeof *buf);
}
cl_status cl_comm_sum_i64(cl_comm *c, int64_t *buf, int64_t n)
{
    return sum(c, buf, n, MPI_INT64_T, sizeof *buf);
}

cl_status cl_comm_bcast(cl_comm *c, void *buf, int64_t bytes)
{
    if (!c || c->size == 1) return CL_OK;
    const int64_t chunk = 1 << 30;
    for (int64_t i = 0; i < bytes; i += chunk) {
        int k = (int)(bytes - i < chunk ? bytes - i : chunk);
        CL_TRY(mpi_check(MPI_Bcast((char *)buf + i, k, MPI_BYTE, 0, MPI_COMM_WORLD), "bcast"));
    }
    return CL_OK;
}

cl_status cl_comm_barrier(cl_comm *c)
{
    if (!c || c->size == 1) return CL_OK;
    return mpi_check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}
#endif
