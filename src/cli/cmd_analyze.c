/* collapse analyze: NC1-NC4 metrics of features stored as .npy. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collapse/json.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "npyin.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse analyze --features H.npy --labels y.npy [options]\n"
               "\n"
               "Neural-collapse metrics (NC1-NC4, He & Su's D) of a feature matrix.\n"
               "  --features H.npy   float32/float64 [N, dim] (or [N, C, H, W]: trailing "
               "dims flattened)\n"
               "  --labels y.npy     int32/int64/uint8 [N], values in [0, K)\n"
               "  --weights W.npy    classifier weights [K, dim] (enables the _W keys, "
               "nc3, nc4, acc)\n"
               "  --bias b.npy       classifier bias [K] (needs --weights)\n"
               "  --classes K        number of classes (default: rows of W, else max "
               "label + 1)\n"
               "  --weighted-mean    mu_G = mean of all samples (default: mean of the "
               "class means)\n"
               "  --nc4-no-bias      classifier decision argmax(W h), ignoring b\n"
               "  --nc4-cosine       cosine-head decision argmax(<w_k, h>/|w_k|), no b\n"
               "  --minority-classes LIST  minority set of the imbalance keys, e.g. 5-9 or\n"
               "                     5,7,9 (default: classes with fewer samples than the\n"
               "                     largest; balanced data then has no imbalance keys)\n"
               "  --no-gnc           skip the generalized-NC keys (gnc1-3, hsu_log_*)\n"
               "  --json             one JSON object instead of a table\n"
               "  --thresholds b.npy ordinal (cumulative-link) head: the onc keys instead\n"
               "                     (collapse analyze --thresholds b.npy --help)\n"
               "With --targets Y.npy: regression mode (NRC1-NRC3; see --targets x --help).\n"
               "With --labels of shape [N, K] (K-hot): multi-label mode (mlab keys; see\n"
               "collapse analyze --labels Yk.npy --help).\n"
               "Formulas and conventions: docs/METRICS.md. Exit status 1 on bad input, 2 "
               "on usage.\n");
}

/* Into the open JSON object j: "N", "dim" (the feature dimension), "K",
 * "has_W", "has_b", "conventions" {"mu_G": "unweighted"|"weighted",
 * "nc4_bias": whether b entered the classifier's decision, "std":
 * "population", "sb_pinv": "top K-1 eigenpairs"}, "groups" [the computed
 * key groups: "base", "imbalance", "gnc"], "nminority" (imbalance only)
 * and "metrics" {every key of the computed groups; null where undefined}.
 * The metrics sit in their own object, apart from the run's sizes. */
static void result_json(cl_json *j, const cl_nc_result *r)
{
    cl_json_int(j, "N", r->N);
    cl_json_int(j, "dim", r->dim);
    cl_json_int(j, "K", r->K);
    cl_json_bool(j, "has_W", r->has_W);
    cl_json_bool(j, "has_b", r->has_b);
    cl_json_obj_begin(j, "conventions");
    cl_json_str(j, "mu_G", r->opts.weighted_mean ? "weighted" : "unweighted");
    cl_json_bool(j, "nc4_bias", r->has_W && r->has_b && r->opts.nc4_bias && !r->opts.nc4_cosine);
    if (r->opts.nc4_cosine) cl_json_bool(j, "nc4_cosine", 1);
    cl_json_str(j, "std", "population");
    cl_json_str(j, "sb_pinv", "top K-1 eigenpairs");
    cl_json_obj_end(j);
    cl_json_int(j, "rank_M", r->rank_M); /* nc1_defined false: nc1 and D are null */
    cl_json_bool(j, "nc1_defined", r->nc1_defined);
    cl_json_arr_begin(j, "groups");
    for (int g = 0; g < CL_NC_NGROUPS; g++)
        if (cl_nc_has_group(r, g)) cl_json_str(j, NULL, cl_nc_group_name(g));
    cl_json_arr_end(j);
    if (cl_nc_has_group(r, CL_NC_GROUP_IMBALANCE)) cl_json_int(j, "nminority", r->nminority);
    cl_json_obj_begin(j, "metrics");
    for (int i = 0; i < cl_nc_nkeys(); i++)
        if (cl_nc_has_group(r, cl_nc_key_group(i)))
            cl_json_num(j, cl_nc_key_name(i), cl_nc_key_value(r, i));
    cl_json_obj_end(j);
}

static void print_table(const cl_nc_result *r, const char *feat)
{
    printf("features %s: N = %lld, dim = %d, K = %d\n", feat, (long long)r->N, r->dim, r->K);
    printf(
        "conventions: mu_G %s; NC4 decision argmax(%s%s); std population; Sb^+ on top "
        "K-1 eigenpairs\n\n",
        r->opts.weighted_mean ? "weighted (sample mean)"
                              : "unweighted (mean of class means)",
        r->opts.nc4_cosine ? "<w_k, h>/|w_k|" : "W h",
        r->has_W && r->has_b && r->opts.nc4_bias && !r->opts.nc4_cosine ? " + b" : "");
    if (!r->nc1_defined)
        printf("NC1 and D are undefined (nan): the class means have rank %d < min(K-1, dim) = %d "
               "(eigenvalues of M M^T above %g x the largest)\n",
               r->rank_M, r->K - 1 < r->dim ? r->K - 1 : r->dim, CL_NC_RANK_TOL);
    if (cl_nc_has_group(r, CL_NC_GROUP_IMBALANCE))
        printf("imbalance: %d minority class%s of %d\n", r->nminority,
               r->nminority == 1 ? "" : "es", r->K);
    printf("%-14s %14s  %s\n", "key", "value", "meaning");
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        if (!cl_nc_has_group(r, cl_nc_key_group(i))) continue;
        double v = cl_nc_key_value(r, i);
        if (cl_nc_key_needs_W(i) && !r->has_W)
            printf("%-14s %14s  %s\n", cl_nc_key_name(i), "-", cl_nc_key_descr(i));
        else
            printf("%-14s %14.6g  %s\n", cl_nc_key_name(i), isnan(v) ? NAN : v,
                   cl_nc_key_descr(i));
    }
}

typedef struct {
    const char *fpath, *ypath, *wpath, *bpath;
    const char *minority; /* --minority-classes LIST, checked by cl_opt_class_list */
    int json, classes;
    cl_nc_opts opts;
} analyze_args;

/* The inputs, as read (cl_alloc'ed; W and b may be NULL). */
typedef struct {
    float *H, *W, *b; /* H [N, dim], W [K, dim], b [K] */
    int32_t *y;       /* [N] */
    int64_t N;
    int dim, K;
    int32_t ymax;
} analyze_in;

/* Returns 0, -1 after --help, or the exit status. */
static int parse(int argc, char **argv, analyze_args *a)
{
    const char *v;
    *a = (analyze_args){.opts = cl_nc_opts_default()};
    const char *const names[] = {"--features", "--labels", "--weights", "--bias"};
    const char **const dst[] = {&a->fpath, &a->ypath, &a->wpath, &a->bpath};
    a->opts.gnc = 1;
    for (int i = 1; i < argc; i++) {
        int m;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return -1;
        }
        if (cl_opt_flag(argv, i, "--json"))
            a->json = 1;
        else if (cl_opt_flag(argv, i, "--weighted-mean"))
            a->opts.weighted_mean = 1;
        else if (cl_opt_flag(argv, i, "--nc4-no-bias"))
            a->opts.nc4_bias = 0;
        else if (cl_opt_flag(argv, i, "--nc4-cosine"))
            a->opts.nc4_cosine = 1;
        else if (cl_opt_flag(argv, i, "--no-gnc"))
            a->opts.gnc = 0;
        else if ((m = cl_opt_value(argc, argv, &i, "--minority-classes", &v))) {
            if (m < 0 || cl_opt_class_list("--minority-classes", v, 0, NULL)) return 2;
            a->minority = v;
        }
        else if ((m = cl_cli_file_flag(argc, argv, &i, 4, names, dst))) {
            if (m < 0) return 2;
        } else if ((m = cl_opt_value(argc, argv, &i, "--classes", &v))) {
            if (m < 0 || !cl_opt_int("--classes", v, 2, 46340, &a->classes)) return 2;
        } else {
            return cl_cli_fail(
                2, "analyze: unknown argument '%s' (see collapse analyze --help)",
                argv[i]);
        }
    }
    if (!a->fpath || !a->ypath) {
        return cl_cli_fail(2,
                           "analyze: --features and --labels are required (see collapse "
                           "analyze --help)");
    }
    if (a->bpath && !a->wpath) return cl_cli_fail(2, "analyze: --bias needs --weights");
    return 0;
}

/* Features [N, dim] (trailing dimensions flattened) and N labels. */
static int load_data(const analyze_args *a, analyze_in *in)
{
    const char *fpath = a->fpath, *ypath = a->ypath;
    int ndim;
    int64_t shape[8];
    if (cl_npy_read_f32(fpath, &in->H, &ndim, shape) != CL_OK)
        return cl_cli_fail(1, "--features %s", cl_errmsg());
    if (ndim < 1 || shape[0] < 1)
        return cl_cli_fail(1, "--features %s: need an [N, dim] array with N >= 1", fpath);
    int64_t N = shape[0], dim64 = 1;
    for (int d = 1; d < ndim; d++)
        dim64 *= shape[d];
    if (dim64 < 1 || dim64 > (1 << 30))
        return cl_cli_fail(1, "--features %s: feature dimension %lld out of range", fpath,
                           (long long)dim64);
    in->N = N;
    in->dim = (int)dim64;
    if (cl_cli_check_finite("--features", fpath, in->H, N * dim64, dim64)) return 1;

    int yndim;
    int64_t yshape[8];
    if (cl_npy_read_i32(ypath, &in->y, &yndim, yshape) != CL_OK)
        return cl_cli_fail(1, "--labels %s", cl_errmsg());
    if (!(yndim == 1 || (yndim == 2 && yshape[1] == 1)) || yshape[0] != N)
        return cl_cli_fail(
            1,
            "--labels %s: need %lld labels (one per row of --features), got shape "
            "with %lld entries",
            ypath, (long long)N, (long long)(yndim ? yshape[0] : 1));
    in->ymax = 0;
    for (int64_t i = 0; i < N; i++) {
        if (in->y[i] < 0)
            return cl_cli_fail(1, "--labels %s: negative label %d at index %lld", ypath,
                               (int)in->y[i], (long long)i);
        if (in->y[i] > in->ymax) in->ymax = in->y[i];
    }
    return 0;
}

/* The classifier W [K, dim] and b [K] when given, and K. */
static int load_classifier(const analyze_args *a, analyze_in *in)
{
    const char *wpath = a->wpath, *bpath = a->bpath, *ypath = a->ypath;
    int K = a->classes;
    if (wpath) {
        int wndim;
        int64_t wshape[8];
        if (cl_npy_read_f32(wpath, &in->W, &wndim, wshape) != CL_OK)
            return cl_cli_fail(1, "--weights %s", cl_errmsg());
        if (wndim != 2 || wshape[1] != in->dim || wshape[0] < 2)
            return cl_cli_fail(
                1, "--weights %s: need a [K, %d] array (K >= 2, dim of --features)", wpath,
                in->dim);
        if (a->classes && wshape[0] != a->classes)
            return cl_cli_fail(1, "--weights %s: %lld rows but --classes %d", wpath,
                               (long long)wshape[0], a->classes);
        K = (int)wshape[0];
        if (cl_cli_check_finite("--weights", wpath, in->W, wshape[0] * wshape[1], wshape[1])) return 1;
    }
    if (!K) {
        if (in->ymax >= 46340)
            return cl_cli_fail(
                1, "--labels %s: largest label %d means too many classes (at most 46340)",
                ypath, (int)in->ymax);
        K = in->ymax + 1;
    }
    if (in->ymax >= K)
        return cl_cli_fail(1, "--labels %s: label %d is out of range for K = %d classes",
                           ypath, (int)in->ymax, K);
    if (K < 2) return cl_cli_fail(1, "--labels %s: only one class (need K >= 2)", ypath);
    in->K = K;
    if (bpath) {
        int bndim;
        int64_t bshape[8];
        if (cl_npy_read_f32(bpath, &in->b, &bndim, bshape) != CL_OK)
            return cl_cli_fail(1, "--bias %s", cl_errmsg());
        if (bndim != 1 || bshape[0] != K)
            return cl_cli_fail(1, "--bias %s: need a [%d] array (one per row of --weights)",
                               bpath, K);
        if (cl_cli_check_finite("--bias", bpath, in->b, K, 1)) return 1;
    }
    return 0;
}

static int report(const analyze_args *a, const cl_nc_result *r)
{
    if (!a->json) {
        print_table(r, a->fpath);
        if (fflush(stdout) != 0) return cl_cli_fail(1, "stdout: write failed");
        return 0;
    }
    cl_json j;
    cl_json_init(&j, stdout, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "features", a->fpath);
    cl_json_str(&j, "labels", a->ypath);
    cl_cli_json_path(&j, "weights", a->wpath);
    cl_cli_json_path(&j, "bias", a->bpath);
    result_json(&j, r);
    cl_json_obj_end(&j);
    if (cl_json_finish(&j, "stdout") != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    return 0;
}

int cl_cmd_analyze(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) { /* modes with their own keys and flags */
        /* also the "--flag=VALUE" form, which cl_opt_value accepts */
        if (!strncmp(argv[i], "--thresholds", 12) && (!argv[i][12] || argv[i][12] == '='))
            return cl_cmd_analyze_onc(argc, argv); /* ordinal */
        if (!strncmp(argv[i], "--targets", 9) && (!argv[i][9] || argv[i][9] == '='))
            return cl_cmd_analyze_reg(argc, argv); /* regression */
    }
    if (cl_cli_khot_labels(argc, argv)) return cl_cmd_analyze_mlab(argc, argv); /* [N, K] */
    analyze_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    analyze_in in = {0};
    unsigned char *mino = NULL;
    if (!(rc = load_data(&a, &in)) && !(rc = load_classifier(&a, &in)) && a.minority) {
        if (!(mino = cl_alloc_array((size_t)in.K, 1, "minority set")))
            rc = cl_cli_fail(1, "%s", cl_errmsg());
        else
            rc = cl_opt_class_list("--minority-classes", a.minority, in.K, mino);
        a.opts.minority = mino;
    }
    if (!rc) {
        cl_nc_result r;
        if (cl_nc_analyze(in.H, in.N, in.dim, in.y, in.K, in.W, in.b, &a.opts, &r) != CL_OK)
            rc = cl_cli_fail(1, "analyze %s (--labels %s): %s", a.fpath, a.ypath,
                             cl_errmsg());
        else
            rc = report(&a, &r);
    }
    cl_free(in.H);
    cl_free(in.y);
    cl_free(in.W);
    cl_free(in.b);
    cl_free(mino);
    return rc;
}
