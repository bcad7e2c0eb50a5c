/* The study under a data-parallel run (study.h: opts.comm; issue 12): the
 * status agreement that keeps the ranks in step, the shard of a split
 * that a rank sweeps, and the gather of the saved features. */
#include <string.h>

#include "collapse/mem.h"
#include "study_internal.h"

/* Every rank gets the lowest failing rank's status and message ("rank R: "
 * before it on the other ranks), comm.h's cl_comm_agree. */
cl_status cl_study_agree_comm(cl_comm *c, cl_status st) { return cl_comm_agree(c, st, NULL); }

cl_status cl_study_agree(cl_study *s, cl_status st)
{
    st = cl_study_agree_comm(s->o.comm, st);
    if (st != CL_OK) s->shared = 1;
    return st;
}

cl_status cl_study_agree_exit(cl_study *s, cl_status st)
{
    if (!s->shared) st = cl_study_agree(s, st);
    s->shared = 0;
    return st;
}

int cl_study_shard(cl_comm *c, int bn_train, const cl_train_data *ds, cl_train_data *view,
                   int64_t *lo)
{
    *view = *ds;
    *lo = 0;
    if (cl_comm_size(c) < 2 || bn_train) return 0;
    int64_t hi;
    cl_comm_shard(c, ds->n, lo, &hi);
    view->n = hi - *lo;
    view->x = ds->x + *lo * cl_shape_size(ds->shape);
    view->y = ds->y + *lo;
    view->gather = NULL;
    view->ctx = NULL;
    return 1;
}

cl_status cl_study_gather(cl_study *s, cl_study_job *t, float *full, int64_t lo, int64_t n,
                          int64_t N)
{
    const int64_t dim = t->tap->dim;
    /* every other rank adds zeros to these rows: x + 0 = x exactly */
    if (n > 0) memcpy(full + lo * dim, t->cache, sizeof(float) * (size_t)(n * dim));
    cl_status st = cl_comm_sum_f32(s->o.comm, full, N * dim);
    if (st != CL_OK) { /* full is ours now either way */
        cl_free(full);
        return st;
    }
    cl_free(t->cache);
    t->cache = full;
    t->gather = 0;
    return CL_OK;
}

cl_status cl_study_bufs_share(cl_comm *c, int bn_train, cl_model *m, float **own, int *shared)
{
    *own = NULL;
    if (cl_comm_size(c) < 2 || bn_train || m->nbufs == 0) return CL_OK;
    *own = cl_alloc_array((size_t)m->nbufs, sizeof(float), "BN statistics copy");
    if (*own) memcpy(*own, m->bufs, sizeof(float) * (size_t)m->nbufs);
    cl_status st = cl_study_agree_comm(c, *own ? CL_OK : CL_ENOMEM);
    if (st != CL_OK) {
        *shared = 1;
        return st;
    }
    return cl_comm_bcast(c, m->bufs, (int64_t)sizeof(float) * m->nbufs);
}

void cl_study_bufs_restore(cl_model *m, float *own)
{
    if (own) memcpy(m->bufs, own, sizeof(float) * (size_t)m->nbufs);
    cl_free(own);
}
