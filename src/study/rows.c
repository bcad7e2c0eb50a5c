/* The study's files (study.h has the formats): the metrics.csv and
 * layers.csv headers and rows, and the .npy files of the last epoch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "study_internal.h"

/* The analyzer keys written to metrics.csv: every key of the run's groups
 * (s->colgroups) but "acc" (the classifier accuracy is train_acc / test_acc). */
static int metric_key(const cl_study *s, int i)
{
    return strcmp(cl_nc_key_name(i), "acc") != 0 &&
           (s->colgroups & CL_NC_GROUP_BIT(cl_nc_key_group(i)));
}

static void metrics_header(const cl_study *s, char *h, size_t cap)
{
    snprintf(h, cap, "epoch,lr,train_loss,train_acc,test_loss,test_acc");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < cl_nc_nkeys(); i++)
            if (metric_key(s, i)) {
                size_t l = strlen(h);
                snprintf(h + l, cap - l, ",%s%s", pass ? "test_" : "", cl_nc_key_name(i));
            }
    size_t l = strlen(h);
    snprintf(h + l, cap - l, ",test_ncc_acc_train_means,epoch_seconds,analysis_seconds");
}

/* Ordinal runs only: the onc keys, train then test_, after the other columns. */
static void onc_header(char *h, size_t cap)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < cl_onc_nkeys(); i++) {
            size_t l = strlen(h);
            snprintf(h + l, cap - l, ",%s%s", pass ? "test_" : "", cl_onc_key_name(i));
        }
}

/* "D" is the fuzziness (the published metric key), "dim" the tap's size */
static const char layers_header[] = "epoch,layer,name,dim,D,nc1,rho,r2,r,intercept";

cl_status cl_study_files_open(cl_study *s, int resume, int from_epoch)
{
    char h[CL_STUDY_ROW_CAP];
    metrics_header(s, h, sizeof h);
    if (s->ord) onc_header(h, sizeof h);
    if (s->mlab) cl_study_mlab_header(h, sizeof h);
    CL_TRY(cl_csv_log_open(&s->fm, s->metrics_path, h, resume, from_epoch));
    if (s->o.layers)
        CL_TRY(cl_csv_log_open(&s->fl, s->layers_path, layers_header, resume, from_epoch));
    return CL_OK;
}

cl_status cl_study_metrics_write(cl_study *s, int epoch, const double *lead,
                                 const cl_nc_result *rtrain, const cl_nc_result *rtest,
                                 double heldout, double epoch_seconds, double analysis_seconds)
{
    char row[CL_STUDY_ROW_CAP];
    snprintf(row, sizeof row, "%d", epoch);
    for (int i = 0; i < 5; i++) cl_csv_put(row, sizeof row, lead[i], 0);
    for (int split = 0; split < 2; split++) {
        const cl_nc_result *r = split ? rtest : rtrain;
        for (int i = 0; i < cl_nc_nkeys(); i++)
            if (metric_key(s, i))
                cl_csv_put(row, sizeof row,
                           split && !s->test ? NAN : cl_nc_key_value(r, i), 0);
    }
    cl_csv_put(row, sizeof row, heldout, 0);
    cl_csv_put(row, sizeof row, epoch_seconds, 0);
    cl_csv_put(row, sizeof row, analysis_seconds, 0);
    for (int split = 0; s->ord && split < 2; split++)
        for (int i = 0; i < cl_onc_nkeys(); i++)
            cl_csv_put(row, sizeof row, split && !s->test ? NAN : cl_onc_key_value(&s->onc[split], i), 0);
    if (s->mlab) cl_study_mlab_row(s, row, sizeof row);
    return cl_csv_log_write_row(&s->fm, row);
}

cl_status cl_study_layers_write(cl_study *s, int epoch, const cl_study_job *jobs)
{
    char row[CL_STUDY_ROW_CAP];
    int L = s->ntaps;
    double *fuzz = cl_alloc_array((size_t)L, sizeof(double), "layer fuzziness");
    if (!fuzz) return CL_ENOMEM;
    for (int l = 0; l < L; l++) {
        snprintf(row, sizeof row, "%d,%d,%s,%d", epoch, l, jobs[l].tap->name, jobs[l].tap->dim);
        cl_csv_put(row, sizeof row, jobs[l].r.fuzz, 0);
        cl_csv_put(row, sizeof row, jobs[l].r.nc1, 0);
        for (int k = 0; k < 4; k++) cl_csv_put(row, sizeof row, 0, 1);
        fuzz[l] = jobs[l].r.fuzz;
        cl_status st = cl_csv_log_add(&s->fl, row);
        if (st != CL_OK) {
            cl_free(fuzz);
            return st;
        }
    }
    /* the fit needs L >= 2 and every fuzziness D > 0; otherwise its cells are nan */
    cl_nc_fit fit = {0};
    int ok = 1;
    for (int l = 0; l < L; l++) ok &= isfinite(fuzz[l]) && fuzz[l] > 0;
    if (!ok || L < 2 || cl_nc_fit_layers(fuzz, L, &fit) != CL_OK) {
        cl_errclear();
        fit.rho = fit.r2 = fit.pearson_r = fit.intercept = NAN;
    }
    cl_free(fuzz);
    snprintf(row, sizeof row, "%d,fit,fit,,,", epoch);
    cl_csv_put(row, sizeof row, fit.rho, 0);
    cl_csv_put(row, sizeof row, fit.r2, 0);
    cl_csv_put(row, sizeof row, fit.pearson_r, 0);
    cl_csv_put(row, sizeof row, fit.intercept, 0);
    CL_TRY(cl_csv_log_add(&s->fl, row));
    return cl_csv_log_commit(&s->fl); /* the epoch's rows in one rewrite */
}

cl_status cl_study_features_save(cl_study *s, const cl_study_job *pen, const float *W,
                                 const float *b)
{
    char p[CL_STUDY_PATH_CAP + 32];
    int64_t dim = pen->tap->dim;
    int64_t shape[2] = {s->train->n, dim};
    snprintf(p, sizeof p, "%s/features_train.npy", s->dir);
    CL_TRY(cl_npy_write(p, CL_NPY_F32, pen->cache, 2, shape));
    shape[0] = s->ord ? 1 : s->K; /* ordinal head: w [1, dim] (b: thresholds.npy) */
    snprintf(p, sizeof p, "%s/W.npy", s->dir);
    CL_TRY(cl_npy_write(p, CL_NPY_F32, W, 2, shape));
    if (s->ord) return CL_OK;
    snprintf(p, sizeof p, "%s/b.npy", s->dir);
    return cl_npy_write(p, CL_NPY_F32, b, 1, shape);
}
