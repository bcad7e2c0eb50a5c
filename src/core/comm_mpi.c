/* The MPI process group (see collapse/comm.h), compiled only by `make mpi`
 * (-DCL_MPI). Blocking collectives on MPI_COMM_WORLD; errors return with
 * MPI's message instead of aborting (MPI_ERRORS_RETURN). */
#ifdef CL_MPI
#include "collapse/comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"

struct cl_comm {
    int rank, size;
    int stopping;                         /* an agreement saw a failure or a flag */
    int npending;                         /* nonblocking sums in flight */
    MPI_Request pending[CL_COMM_MAX_PENDING];
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

#ifdef CL_MPI
cl_status cl_comm_wait_all(cl_comm *c)
{
    if (!c || !c->npending) return CL_OK;
    int n = c->npending;
    c->npending = 0;
    return mpi_check(MPI_Waitall(n, c->pending, MPI_STATUSES_IGNORE), "wait (allreduce)");
}

cl_status cl_comm_isum_f32(cl_comm *c, float *buf, int64_t n)
{
    if (!c || c->size == 1) return CL_OK;
    const int64_t chunk = 1 << 28;
    for (int64_t i = 0; i < n; i += chunk) {
        if (c->npending == CL_COMM_MAX_PENDING) CL_TRY(cl_comm_wait_all(c));
        int k = (int)(n - i < chunk ? n - i : chunk);
        CL_TRY(mpi_check(MPI_Iallreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM,
                                        MPI_COMM_WORLD, &c->pending[c->npending]),
                         "iallreduce"));
        c->npending++;
    }
    return CL_OK;
}

void cl_comm_progress(cl_comm *c)
{
    if (!c || !c->npending) return;
    int done = 0;
    MPI_Testall(c->npending, c->pending, &done, MPI_STATUSES_IGNORE);
    if (done) c->npending = 0; /* completed requests are MPI_REQUEST_NULL */
}

/* Two integers, reduced with MAX: size - (lowest failing rank) or 0, and the flag. */
int cl_comm_agree_code(cl_comm *c, int code, char *msg, int64_t cap, int *flag, int *who)
{
    if (who) *who = c ? c->rank : 0;
    if (!c || c->size == 1) return code;
    int v[2] = {code ? c->size - c->rank : 0, flag && *flag};
    if (MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        /* the group itself is broken: nothing can be agreed on any more */
        if (msg && cap > 0) snprintf(msg, (size_t)cap, "MPI allreduce failed (agreement)");
        c->stopping = 1;
        return code ? code : CL_EIO;
    }
    if (flag) *flag = v[1];
    if (v[1]) c->stopping = 1;
    if (!v[0]) return 0;
    int root = c->size - v[0];
    struct {
        int code;
        char msg[1024];
    } m;
    memset(&m, 0, sizeof m);
    m.code = code;
    if (msg && cap > 0) snprintf(m.msg, sizeof m.msg, "%s", msg);
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, root, MPI_COMM_WORLD);
    m.msg[sizeof m.msg - 1] = 0;
    if (msg && cap > 0) snprintf(msg, (size_t)cap, "%s", m.msg);
    if (who) *who = root;
    c->stopping = 1;
    return m.code ? m.code : 1;
}

int cl_comm_stopping(const cl_comm *c) { return c ? c->stopping : 0; }

void cl_comm_abort(cl_comm *c, int code)
{
    if (!c) return;
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}
#endif
