/* collapse analyze --thresholds: ordinal collapse (onc.h) of features under
 * a cumulative-link head (a 1-unit latent w and K-1 thresholds b), e.g. a
 * --loss clm run's features_train.npy, labels_train.npy, W.npy and
 * thresholds.npy. Reached from cmd_analyze.c when --thresholds is given. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/json.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "collapse/onc.h"
#include "npyin.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse analyze --features H.npy --labels y.npy --weights w.npy "
               "--thresholds b.npy [--json]\n"
               "\n"
               "Ordinal neural collapse (Ma, Obuchi & Tanaka 2025) under a cumulative-link "
               "head:\n"
               "  --features H.npy    float32/float64 [N, dim]\n"
               "  --labels y.npy      int [N], ordered classes in [0, K)\n"
               "  --weights w.npy     the 1-unit head, [1, dim] or [dim] (latent z = w.h)\n"
               "  --thresholds b.npy  the K-1 increasing thresholds (float64 or float32)\n"
               "  --weighted-mean     mu_G = mean of all samples (default: mean of the class "
               "means)\n"
               "  --json              one JSON object instead of a table\n"
               "Keys onc1 onc2 onc3_tau onc3_mid: docs/METRICS.md, \"Ordinal (ONC)\".\n");
}

typedef struct {
    const char *fpath, *ypath, *wpath, *bpath;
    int json;
    cl_nc_opts opts;
} onc_args;

static int parse(int argc, char **argv, onc_args *a)
{
    *a = (onc_args){.opts = cl_nc_opts_default()};
    const char *const names[] = {"--features", "--labels", "--weights", "--thresholds"};
    const char **const dst[] = {&a->fpath, &a->ypath, &a->wpath, &a->bpath};
    for (int i = 1; i < argc; i++) {
        int m;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return -1;
        }
        if (cl_opt_flag(argv, i, "--json")) {
            a->json = 1;
            continue;
        }
        if (cl_opt_flag(argv, i, "--weighted-mean")) {
            a->opts.weighted_mean = 1;
            continue;
        }
        if ((m = cl_cli_file_flag(argc, argv, &i, 4, names, dst)) < 0) return 2;
        if (!m)
            return cl_cli_fail(2, "analyze --thresholds: unknown argument '%s' (see collapse "
                                  "analyze --thresholds x --help)",
                               argv[i]);
    }
    if (!a->fpath || !a->ypath || !a->wpath || !a->bpath)
        return cl_cli_fail(2, "analyze --thresholds: --features, --labels, --weights and "
                              "--thresholds are all required");
    return 0;
}

typedef struct {
    float *H, *w;
    int32_t *y;
    double *b;
    int64_t N;
    int dim, K;
} onc_in;

/* Reads and checks the four files; 0 or the exit status. */
static int load(const onc_args *a, onc_in *in)
{
    int nd;
    int64_t sh[8], dim;
    if (cl_cli_read_rows("--features", a->fpath, &in->H, &nd, &in->N, &dim)) return 1;
    if (nd != 2 || dim > (1 << 30))
        return cl_cli_fail(1, "--features %s: need an [N, dim] array", a->fpath);
    in->dim = (int)dim;
    if (cl_npy_read_i32(a->ypath, &in->y, &nd, sh) != CL_OK)
        return cl_cli_fail(1, "--labels %s", cl_errmsg());
    if (nd != 1 || sh[0] != in->N)
        return cl_cli_fail(1, "--labels %s: need %lld labels (one per row of --features)",
                           a->ypath, (long long)in->N);
    if (cl_npy_read_f32(a->wpath, &in->w, &nd, sh) != CL_OK)
        return cl_cli_fail(1, "--weights %s", cl_errmsg());
    if (!((nd == 2 && sh[0] == 1 && sh[1] == in->dim) || (nd == 1 && sh[0] == in->dim)))
        return cl_cli_fail(1, "--weights %s: need the 1-unit head [1, %d] (or [%d])", a->wpath,
                           in->dim, in->dim);
    if (cl_cli_check_finite("--weights", a->wpath, in->w, in->dim, in->dim)) return 1;
    if (cl_npy_read_f64(a->bpath, &in->b, &nd, sh) != CL_OK)
        return cl_cli_fail(1, "--thresholds %s", cl_errmsg());
    if (nd != 1 || sh[0] < 1 || sh[0] > 46339)
        return cl_cli_fail(1, "--thresholds %s: need a [K-1] array, K >= 2", a->bpath);
    in->K = (int)sh[0] + 1;
    for (int q = 0; q < in->K - 1; q++)
        if (!isfinite(in->b[q]) || (q && !(in->b[q] > in->b[q - 1])))
            return cl_cli_fail(1, "--thresholds %s: must be finite and increasing (b[%d] = %g)",
                               a->bpath, q, in->b[q]);
    for (int64_t i = 0; i < in->N; i++)
        if (in->y[i] < 0 || in->y[i] >= in->K)
            return cl_cli_fail(1, "--labels %s: label %d at index %lld is outside [0, %d) "
                                  "(K = 1 + the %d thresholds)",
                               a->ypath, (int)in->y[i], (long long)i, in->K, in->K - 1);
    return 0;
}

static int report(const onc_args *a, const onc_in *in, const cl_onc_result *r, const double *z)
{
    const char *mg = r->weighted_mean ? "weighted" : "unweighted";
    if (!a->json) {
        printf("features %s: N = %lld, dim = %d, K = %d (ordered)\n", a->fpath, (long long)r->N,
               r->dim, r->K);
        printf("conventions: mu_G %s; tau-a (ties 0); midpoint distance over q = 1..K-2 in "
               "units of the mean gap %.6g\n\n", mg, r->gap);
        printf("%-10s %14s  %s\n", "key", "value", "meaning");
        for (int i = 0; i < cl_onc_nkeys(); i++)
            printf("%-10s %14.6g  %s\n", cl_onc_key_name(i), cl_onc_key_value(r, i),
                   cl_onc_key_descr(i));
        printf("\n%-6s %14s %14s\n", "class", "z_q = w.mu_q", "threshold b_q");
        for (int q = 0; q < in->K; q++)
            if (q < in->K - 1)
                printf("%-6d %14.6g %14.6g\n", q, z[q], in->b[q]);
            else
                printf("%-6d %14.6g %14s\n", q, z[q], "-");
        return fflush(stdout) ? cl_cli_fail(1, "stdout: write failed") : 0;
    }
    cl_json j;
    cl_json_init(&j, stdout, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "features", a->fpath);
    cl_json_str(&j, "labels", a->ypath);
    cl_json_str(&j, "weights", a->wpath);
    cl_json_str(&j, "thresholds", a->bpath);
    cl_json_int(&j, "N", r->N);
    cl_json_int(&j, "dim", r->dim);
    cl_json_int(&j, "K", r->K);
    cl_json_obj_begin(&j, "conventions");
    cl_json_str(&j, "mu_G", mg);
    cl_json_str(&j, "tau", "tau-a");
    cl_json_num(&j, "gap", r->gap);
    cl_json_obj_end(&j);
    cl_json_obj_begin(&j, "metrics");
    for (int i = 0; i < cl_onc_nkeys(); i++)
        cl_json_num(&j, cl_onc_key_name(i), cl_onc_key_value(r, i));
    cl_json_obj_end(&j);
    cl_json_arr_begin(&j, "z");
    for (int q = 0; q < in->K; q++) cl_json_num(&j, NULL, z[q]);
    cl_json_arr_end(&j);
    cl_json_obj_end(&j);
    return cl_json_finish(&j, "stdout") != CL_OK ? cl_cli_fail(1, "%s", cl_errmsg()) : 0;
}

int cl_cmd_analyze_onc(int argc, char **argv)
{
    onc_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    onc_in in = {0};
    double *z = NULL;
    if (!(rc = load(&a, &in))) {
        cl_onc_result r;
        if (!(z = cl_alloc_array((size_t)in.K, sizeof(double), "class latents")))
            rc = cl_cli_fail(1, "out of memory");
        else if (cl_onc_analyze(in.H, in.N, in.dim, in.y, in.K, in.w, in.b, &a.opts, z, &r) !=
                 CL_OK)
            rc = cl_cli_fail(1, "analyze %s (--labels %s): %s", a.fpath, a.ypath, cl_errmsg());
        else
            rc = report(&a, &in, &r, z);
    }
    cl_free(in.H);
    cl_free(in.y);
    cl_free(in.w);
    cl_free(in.b);
    cl_free(z);
    return rc;
}
