/* Seed groups for the band figures of `collapse plot --bands` (issue 14):
 * runs whose folder names differ only in a seed suffix form a group, and a
 * group's metrics.csv files reduce to a mean and a standard deviation per
 * epoch and column. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "study_internal.h"

/* The group name of a run folder's base name: the name without a trailing
 * seed suffix "_s<N>", "-s<N>", "_seed<N>", "-seed<N>" or "seed<N>" (a
 * name that is only "seed<N>" keeps it: "seed"). */
void cl_study_seed_group(const char *name, char *group, size_t cap)
{
    snprintf(group, cap, "%s", name);
    size_t n = strlen(group), d = n;
    while (d > 0 && isdigit((unsigned char)group[d - 1])) d--;
    if (d == n || d == 0) return; /* no trailing number */
    static const char *const tags[] = {"_seed", "-seed", "_s", "-s", "seed"};
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
        size_t l = strlen(tags[t]);
        if (d < l || strncmp(group + d - l, tags[t], l)) continue;
        if (d == l) { /* "seed3" */
            group[l] = 0;
            return;
        }
        group[d - l] = 0;
        return;
    }
}

/* Row index of epoch e in c (epoch column ce), or -1. */
static int64_t find_epoch(const cl_csv *c, int ce, double e)
{
    for (int64_t r = 0; r < c->nrows; r++)
        if (c->num[r * c->ncols + ce] == e) return r;
    return -1;
}

static cl_status alloc_like(cl_csv *c, const cl_csv *like, int64_t nrows, const char *what)
{
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%.4000s (%s)", like->path, what);
    c->ncols = like->ncols;
    c->nrows = nrows;
    c->names = cl_alloc_array((size_t)like->ncols, sizeof *c->names, "band columns");
    c->num = cl_alloc_array((size_t)(nrows ? nrows : 1) * (size_t)like->ncols, sizeof(double),
                            "band columns");
    if (!c->names || !c->num) {
        cl_csv_free(c);
        return CL_ENOMEM;
    }
    memcpy(c->names, like->names, (size_t)like->ncols * sizeof *c->names);
    return CL_OK;
}

/* Mean and sample standard deviation (n - 1; 0 for one run) over the n
 * runs, at the epochs every run has (the first run's order) and for the
 * first run's columns; a column another run lacks, or a non-finite value,
 * gives NaN in that cell. Errors: CL_EFORMAT (no epoch column, or no epoch
 * common to all runs: the message names the first run), CL_ENOMEM. */
cl_status cl_study_bands_reduce(const cl_csv *const *runs, int n, cl_csv *mean, cl_csv *sd)
{
    memset(mean, 0, sizeof *mean);
    memset(sd, 0, sizeof *sd);
    if (n < 1 || n > 64) return cl_error(CL_EINVAL, "bands: 1 to 64 runs in a group, not %d", n);
    const cl_csv *a = runs[0];
    int ce[64];
    for (int k = 0; k < n; k++) CL_TRY(cl_csv_need(runs[k], "epoch", &ce[k]));
    int64_t common = 0;
    for (int64_t r = 0; r < a->nrows; r++) {
        int all = 1;
        for (int k = 1; k < n && all; k++)
            all = find_epoch(runs[k], ce[k], a->num[r * a->ncols + ce[0]]) >= 0;
        common += all;
    }
    if (!common)
        return cl_error(CL_EFORMAT, "%s: no epoch is analyzed in every run of its group",
                        a->path);
    /* col[k * ncols + j]: column j of the first run in run k (-1: missing) */
    int *col = cl_alloc_array((size_t)n * (size_t)a->ncols, sizeof(int), "band columns");
    if (!col) return CL_ENOMEM;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < a->ncols; j++) col[k * a->ncols + j] = cl_csv_col(runs[k], a->names[j]);
    cl_status st = alloc_like(mean, a, common, "mean");
    if (st == CL_OK && (st = alloc_like(sd, a, common, "std")) != CL_OK) cl_csv_free(mean);
    for (int64_t r = 0, out = 0; st == CL_OK && r < a->nrows; r++) {
        int64_t rows[64];
        int all = 1;
        for (int k = 0; k < n && all; k++)
            all = (rows[k] = find_epoch(runs[k], ce[k], a->num[r * a->ncols + ce[0]])) >= 0;
        if (!all) continue;
        for (int j = 0; j < a->ncols; j++) {
            double v[64], s = 0, ss = 0;
            for (int k = 0; k < n; k++) {
                int c = col[k * a->ncols + j];
                v[k] = c < 0 ? NAN : runs[k]->num[rows[k] * runs[k]->ncols + c];
                s += v[k];
            }
            double m = s / n;
            for (int k = 0; k < n; k++) ss += (v[k] - m) * (v[k] - m);
            mean->num[out * a->ncols + j] = m;
            sd->num[out * a->ncols + j] = n > 1 ? sqrt(ss / (n - 1)) : 0;
        }
        out++;
    }
    cl_free(col);
    return st;
}
