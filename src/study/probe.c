/* collapse probe (probe.h): a frozen body's features on new classes and
 * the transfer measures of Galanti, Gyorgy & Hutter (ICLR 2022: CDNV,
 * few-shot NCC) and Li et al. (TMLR 2024: NC1, linear probe). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/probe.h"
#include "collapse/train.h"
#include "collapse/transfer.h"

cl_probe_opts cl_probe_opts_default(void)
{
    cl_probe_opts o;
    memset(&o, 0, sizeof o);
    o.layer = -2; /* the caller picks the penultimate layer */
    o.shots[0] = 1;
    o.shots[1] = 5;
    o.nshots = 2;
    o.episodes = 100;
    o.seed = 1;
    return o;
}

typedef struct {
    int layer; /* -1 = input */
    int64_t dim;
    float *H; /* [N, dim] */
} collect;

/* One batch's rows of the tapped layer into their dataset positions. */
static cl_status take(void *user, const cl_model *m, const cl_batch *b)
{
    collect *c = user;
    const float *src = c->layer < 0 ? b->x : m->acts[c->layer];
    for (int i = 0; i < b->n; i++) {
        int64_t row = b->idx ? b->idx[i] : b->first + i;
        memcpy(c->H + row * c->dim, src + (int64_t)i * c->dim, sizeof(float) * (size_t)c->dim);
    }
    return CL_OK;
}

cl_status cl_probe_layer_features(cl_model *m, const cl_train_data *ds, int layer,
                                  int bn_train, float **H, int64_t *dim)
{
    *H = NULL;
    if (layer < -1 || layer >= m->nlayers)
        return cl_error(CL_EINVAL, "features: layer %d out of range", layer);
    collect c = {layer, layer < 0 ? cl_shape_size(m->in) : cl_shape_size(m->layers[layer].out),
                 NULL};
    *dim = c.dim;
    c.H = cl_alloc_array((size_t)ds->n, (size_t)c.dim * sizeof(float), "features");
    if (!c.H) {
        char msg[512]; /* cl_error writes into the buffer cl_errmsg returns */
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        return cl_error(CL_ENOMEM, "features of %lld x %lld floats: %s", (long long)ds->n,
                        (long long)c.dim, msg);
    }
    cl_status st = cl_train_forward_each_taps(m, ds, bn_train, &layer, 1, take, &c);
    if (st != CL_OK) {
        cl_free(c.H);
        return st;
    }
    *H = c.H;
    return CL_OK;
}

/* Eval-mode features of d at `layer` into a new *H (the new classes are
 * not checked against the head's outputs, which are not used). */
static cl_status features(cl_model *m, const cl_dataset *d, int layer, float **H)
{
    cl_train_data v;
    int64_t dim;
    cl_data_view(d, NULL, &v);
    v.classes = 0;
    return cl_probe_layer_features(m, &v, layer, 0, H, &dim);
}

/* NC1 without a classifier (nc.h: W = NULL); NAN when undefined. */
static cl_status nc1(const float *H, const cl_dataset *d, int dim, double *out)
{
    cl_nc_opts o = cl_nc_opts_default();
    cl_nc_result r;
    CL_TRY(cl_nc_analyze(H, d->n, dim, d->y, d->classes, NULL, NULL, &o, &r));
    *out = r.nc1_defined ? r.nc1 : NAN;
    return CL_OK;
}

static cl_status check(const cl_model *m, const cl_dataset *train, const cl_dataset *test,
                       const cl_probe_opts *o)
{
    if (o->layer < -1 || o->layer >= m->nlayers)
        return cl_error(CL_EINVAL, "probe: layer %d out of range", o->layer);
    if (o->nshots < 1 || o->nshots > CL_PROBE_MAX_SHOTS || o->episodes < 1)
        return cl_error(CL_EINVAL, "probe: need 1 to %d shot counts and episodes >= 1",
                        CL_PROBE_MAX_SHOTS);
    if (train->yk || test->yk) /* NC1, CDNV, NCC and the probe are single-label measures */
        return cl_error(CL_EINVAL, "probe: %s has multi-label (K-hot) samples; the transfer "
                                   "measures need single-label data", train->name);
    if (train->classes != test->classes || train->classes < 2)
        return cl_error(CL_EINVAL, "probe: train and test need the same K >= 2 (%d, %d)",
                        train->classes, test->classes);
    if (cl_shape_size(train->shape) != cl_shape_size(m->in) ||
        cl_shape_size(test->shape) != cl_shape_size(m->in))
        return cl_error(CL_EINVAL, "probe: the data's samples (%dx%dx%d) do not fit the "
                                   "model's input (%dx%dx%d)",
                        train->shape.c, train->shape.h, train->shape.w, m->in.c, m->in.h,
                        m->in.w);
    return CL_OK;
}

cl_status cl_probe_run(cl_model *m, const cl_dataset *train, const cl_dataset *test,
                       const cl_probe_opts *o, cl_probe_result *r)
{
    memset(r, 0, sizeof *r);
    CL_TRY(check(m, train, test, o));
    int64_t width = o->layer < 0 ? cl_shape_size(m->in) : cl_shape_size(m->layers[o->layer].out);
    if (width > INT32_MAX) return cl_error(CL_EINVAL, "probe: layer too wide");
    const int dim = (int)width, K = train->classes;
    float *htr = NULL, *hte = NULL;
    r->ntrain = train->n;
    r->ntest = test->n;
    r->dim = dim;
    r->K = K;
    cl_status st = features(m, train, o->layer, &htr);
    if (st == CL_OK) st = features(m, test, o->layer, &hte);
    if (st == CL_OK) st = nc1(htr, train, dim, &r->nc1_train);
    if (st == CL_OK) st = nc1(hte, test, dim, &r->nc1_test);
    if (st == CL_OK)
        st = cl_cdnv(htr, train->n, dim, train->y, K, &r->cdnv_train, &r->cdnv_max_train);
    if (st == CL_OK)
        st = cl_cdnv(hte, test->n, dim, test->y, K, &r->cdnv_test, &r->cdnv_max_test);
    r->nshots = o->nshots;
    for (int s = 0; st == CL_OK && s < o->nshots; s++) {
        r->shots[s] = o->shots[s];
        st = cl_fewshot_ncc(htr, train->n, train->y, hte, test->n, test->y, dim, K,
                            o->shots[s], o->episodes, o->seed, &r->fewshot_mean[s],
                            &r->fewshot_ci95[s], NULL);
    }
    if (st == CL_OK)
        st = cl_ridge_probe(htr, train->n, train->y, hte, test->n, test->y, dim, K,
                            o->ridge, o->seed, &r->probe_acc, &r->probe_lambda);
    cl_free(htr);
    cl_free(hte);
    return st;
}

void cl_probe_result_json(cl_json *j, const char *key, const cl_probe_result *r)
{
    cl_json_obj_begin(j, key);
    cl_json_int(j, "train_samples", r->ntrain);
    cl_json_int(j, "test_samples", r->ntest);
    cl_json_int(j, "dim", r->dim);
    cl_json_int(j, "classes", r->K);
    cl_json_num(j, "nc1_train", r->nc1_train);
    cl_json_num(j, "nc1_test", r->nc1_test);
    cl_json_num(j, "cdnv_train", r->cdnv_train);
    cl_json_num(j, "cdnv_test", r->cdnv_test);
    cl_json_num(j, "cdnv_max_train", r->cdnv_max_train);
    cl_json_num(j, "cdnv_max_test", r->cdnv_max_test);
    cl_json_arr_begin(j, "fewshot");
    for (int s = 0; s < r->nshots; s++) {
        cl_json_obj_begin(j, NULL);
        cl_json_int(j, "shots", r->shots[s]);
        cl_json_num(j, "acc_mean", r->fewshot_mean[s]);
        cl_json_num(j, "acc_ci95", r->fewshot_ci95[s]);
        cl_json_obj_end(j);
    }
    cl_json_arr_end(j);
    cl_json_num(j, "probe_acc", r->probe_acc);
    cl_json_num(j, "probe_lambda", r->probe_lambda);
    cl_json_obj_end(j);
}
