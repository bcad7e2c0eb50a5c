/* The reduction points of the streaming analyzer for data-parallel runs
 * (nc.h: cl_nc_stream_reduce1/2; issue 12). Every accumulator of a pass is
 * a sum over samples, so the sum over ranks of the per-rank sums is the
 * single-process total; the doubles differ from one process only by the
 * order of the additions. The derived quantities (means, Gram, eigenpairs,
 * metrics) are then computed identically on every rank by end1 and the
 * result. */
#include "collapse/nc.h"
#include "nc_internal.h"

cl_status cl_nc_stream_reduce1(cl_nc_stream *s, cl_comm *comm)
{
    if (s->state != NC_PASS1)
        return cl_error(CL_EINVAL, "nc: reduce1 called after end1 (pass 1 is over)");
    if (cl_comm_size(comm) < 2) return CL_OK;
    const int64_t K = s->K, KD = K * (int64_t)s->dim;
    CL_TRY(cl_comm_sum_i64(comm, s->cnt1, K));
    CL_TRY(cl_comm_sum_i64(comm, &s->n1, 1));
    CL_TRY(cl_comm_sum_f64(comm, s->sum, KD));
    if (s->nsum) CL_TRY(cl_comm_sum_f64(comm, s->nsum, KD)); /* gnc1's normalised sums */
    return CL_OK;
}

cl_status cl_nc_stream_reduce2(cl_nc_stream *s, cl_comm *comm)
{
    if (s->state != NC_PASS2)
        return cl_error(CL_EINVAL, "nc: reduce2 called outside pass 2 (after end1, before the "
                                   "result)");
    if (cl_comm_size(comm) < 2) return CL_OK;
    const int64_t K = s->K;
    int64_t cnt[4] = {s->n2, s->ncc_ok, s->cls_ok, s->agree};
    CL_TRY(cl_comm_sum_i64(comm, cnt, 4));
    s->n2 = cnt[0];
    s->ncc_ok = cnt[1];
    s->cls_ok = cnt[2];
    s->agree = cnt[3];
    CL_TRY(cl_comm_sum_i64(comm, s->cnt2, K));
    CL_TRY(cl_comm_sum_f64(comm, s->C, K * K));
    CL_TRY(cl_comm_sum_f64(comm, s->ssq, K));
    if (s->opts.gnc) CL_TRY(cl_comm_sum_f64(comm, s->nC, K * K));
    return CL_OK;
}
