/* The study's ordinal part (--loss clm; Ma, Obuchi & Tanaka, arXiv
 * 2506.05801): the head is the 1-unit latent z = w^T h (the classifier,
 * out = 1, no bias) followed by a cumlink layer with the K-1 thresholds.
 * The onc keys (onc.h) of a split are computed from the class sums the
 * sweep gathers, with w and the thresholds decoded in double. */
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/npy.h"
#include "study_internal.h"

int cl_study_ordinal(const cl_model *m, int cls, int K)
{
    int last = m->nlayers - 1, any = 0;
    for (int i = 0; i < m->nlayers; i++) any |= m->layers[i].spec.kind == CL_LAYER_CUMLINK;
    if (!any) return 0;
    const cl_layer *t = &m->layers[last];
    if (t->spec.kind != CL_LAYER_CUMLINK || cls != last - 1 ||
        cl_shape_size(m->layers[cls].out) != 1 || m->layers[cls].spec.bias ||
        cl_shape_size(t->out) != K - 1) {
        cl_error(CL_EINVAL,
                 "study: an ordinal head is a 1-unit classifier without bias followed by the "
                 "last layer, a cumlink with K-1 = %d thresholds",
                 K - 1);
        return -1;
    }
    return 1;
}

/* The thresholds b [K-1] of the cumlink layer (the last one). */
static void thresholds(const cl_model *m, double *b)
{
    const cl_layer *t = &m->layers[m->nlayers - 1];
    cl_cumlink_thresholds(m->params + t->param_off, (int)t->nparams, b);
}

cl_status cl_study_onc(const cl_study *s, const cl_model *m, const double *sums,
                       const cl_train_data *ds, double onc1, cl_onc_result *r)
{
    const int K = s->K, dim = s->taps[s->ntaps - 1].dim;
    double *mu = cl_alloc_array((size_t)K * ((size_t)dim + 1) + (size_t)K, sizeof(double),
                                "onc class means");
    int64_t *cnt = cl_alloc_array((size_t)K, sizeof(int64_t), "class counts");
    cl_status st = CL_ENOMEM;
    if (mu && cnt) {
        memcpy(mu, sums, sizeof(double) * (size_t)K * (size_t)dim);
        for (int64_t i = 0; i < ds->n; i++) cnt[ds->y[i]]++;
        double *b = mu + (size_t)K * ((size_t)dim + 1);
        cl_nc_class_means(mu, mu + (size_t)K * dim, cnt, K, dim);
        thresholds(m, b);
        const float *w = m->params + m->layers[s->cls].param_off;
        st = cl_onc_from_means(mu, cnt, K, dim, w, b, &s->o.nc, onc1, NULL, r);
        r->N = ds->n;
    }
    cl_free(mu);
    cl_free(cnt);
    return st;
}

cl_status cl_study_thresholds_save(const cl_study *s, const cl_model *m)
{
    double *b = cl_alloc_array((size_t)s->K, sizeof(double), "thresholds");
    if (!b) return CL_ENOMEM;
    thresholds(m, b);
    char p[CL_STUDY_PATH_CAP + 32];
    snprintf(p, sizeof p, "%s/thresholds.npy", s->dir);
    int64_t shape[1] = {s->K - 1};
    cl_status st = cl_npy_write(p, CL_NPY_F64, b, 1, shape);
    cl_free(b);
    return st;
}
