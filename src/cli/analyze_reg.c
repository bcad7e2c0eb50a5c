/* collapse analyze, regression mode (--targets): NRC1-NRC3 and per-target
 * MSE / R^2 of features, targets and a regression head stored as .npy. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/json.h"
#include "collapse/mem.h"
#include "collapse/nrc.h"
#include "npyin.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse analyze --features H.npy --targets Y.npy [--weights W.npy] "
               "[options]\n"
               "\n"
               "Regression collapse (NRC1-NRC3, Andriopoulos et al. 2024) of a feature matrix.\n"
               "  --features H.npy   float32/float64 [M, dim] (trailing dims flattened)\n"
               "  --targets Y.npy    float32/float64 [M, n] (or [M] for n = 1)\n"
               "  --weights W.npy    regression head [n, dim] (enables nrc2, nrc3, mse, r2)\n"
               "  --bias b.npy       head bias [n] (needs --weights)\n"
               "  --uncentred        normalise h/||h|| (default: centre, then normalise)\n"
               "  --json             one JSON object instead of a table\n"
               "Formulas and conventions: docs/METRICS.md (Regression). Exit status 1 on "
               "bad input, 2 on usage.\n");
}

typedef struct {
    const char *fpath, *tpath, *wpath, *bpath;
    int json;
    cl_nrc_opts opts;
} reg_args;

static int parse(int argc, char **argv, reg_args *a)
{
    *a = (reg_args){.opts = cl_nrc_opts_default()};
    const char *const names[] = {"--features", "--targets", "--weights", "--bias"};
    const char **const dst[] = {&a->fpath, &a->tpath, &a->wpath, &a->bpath};
    for (int i = 1; i < argc; i++) {
        int m;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return -1;
        }
        if (cl_opt_flag(argv, i, "--json"))
            a->json = 1;
        else if (cl_opt_flag(argv, i, "--uncentred"))
            a->opts.uncentred = 1;
        else if ((m = cl_cli_file_flag(argc, argv, &i, 4, names, dst))) {
            if (m < 0) return 2;
        } else {
            return cl_cli_fail(2,
                               "analyze: unknown argument '%s' in regression mode (see "
                               "collapse analyze --targets x --help)",
                               argv[i]);
        }
    }
    if (!a->fpath || !a->tpath)
        return cl_cli_fail(2, "analyze: --features and --targets are required");
    if (a->bpath && !a->wpath) return cl_cli_fail(2, "analyze: --bias needs --weights");
    return 0;
}

static void print_table(const reg_args *a, const cl_nrc_result *r)
{
    printf("features %s: M = %lld, dim = %d; targets %s: n = %d\n", a->fpath, (long long)r->M,
           r->dim, a->tpath, r->n);
    printf("conventions: features %s; Sigma population (1/M), eigenvalues [%.6g, %.6g]; "
           "prediction W h%s\n\n",
           r->opts.uncentred ? "h/||h|| (uncentred)" : "(h - h_bar)/||h - h_bar|| (centred)",
           r->sigma_min, r->sigma_max, r->has_b ? " + b" : "");
    printf("%-12s %14s  %s\n", "key", "value", "meaning");
    for (int i = 0; i < cl_nrc_nkeys(); i++) {
        double v = cl_nrc_key_value(r, i);
        if (isnan(v))
            printf("%-12s %14s  %s\n", cl_nrc_key_name(i), "-", cl_nrc_key_descr(i));
        else
            printf("%-12s %14.6g  %s\n", cl_nrc_key_name(i), v, cl_nrc_key_descr(i));
    }
    if (!r->has_W) return;
    for (int j = 0; j < r->n; j++)
        printf("target %-5d mse %12.6g  r2 %10.6g\n", j, r->mse_t[j], r->r2_t[j]);
}

static int report(const reg_args *a, const cl_nrc_result *r)
{
    if (!a->json) {
        print_table(a, r);
        return fflush(stdout) != 0 ? cl_cli_fail(1, "stdout: write failed") : 0;
    }
    cl_json j;
    cl_json_init(&j, stdout, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "features", a->fpath);
    cl_json_str(&j, "targets", a->tpath);
    cl_cli_json_path(&j, "weights", a->wpath);
    cl_cli_json_path(&j, "bias", a->bpath);
    cl_json_int(&j, "M", r->M);
    cl_json_int(&j, "dim", r->dim);
    cl_json_int(&j, "n", r->n);
    cl_json_obj_begin(&j, "conventions");
    cl_json_str(&j, "features", r->opts.uncentred ? "uncentred" : "centred");
    cl_json_str(&j, "sigma", "population");
    cl_json_num(&j, "sigma_min", r->sigma_min);
    cl_json_num(&j, "sigma_max", r->sigma_max);
    cl_json_obj_end(&j);
    cl_json_obj_begin(&j, "metrics");
    for (int i = 0; i < cl_nrc_nkeys(); i++)
        cl_json_num(&j, cl_nrc_key_name(i), cl_nrc_key_value(r, i));
    cl_json_obj_end(&j);
    cl_json_arr_begin(&j, "mse_per_target");
    for (int t = 0; t < r->n; t++)
        cl_json_num(&j, NULL, r->mse_t[t]);
    cl_json_arr_end(&j);
    cl_json_arr_begin(&j, "r2_per_target");
    for (int t = 0; t < r->n; t++)
        cl_json_num(&j, NULL, r->r2_t[t]);
    cl_json_arr_end(&j);
    cl_json_obj_end(&j);
    return cl_json_finish(&j, "stdout") != CL_OK ? cl_cli_fail(1, "%s", cl_errmsg()) : 0;
}

/* Loads and checks the shapes; returns 0 or the exit status. */
static int load_all(const reg_args *a, float **H, float **Y, float **W, float **b, int64_t *M,
                    int64_t *dim, int64_t *n)
{
    int64_t rows, cols;
    if (cl_cli_read_rows("--features", a->fpath, H, NULL, M, dim)) return 1;
    if (cl_cli_read_rows("--targets", a->tpath, Y, NULL, &rows, n)) return 1;
    if (rows != *M)
        return cl_cli_fail(1, "--targets %s: %lld rows, but --features has %lld", a->tpath,
                           (long long)rows, (long long)*M);
    if (*n > CL_NRC_MAX_TARGETS || *n > *dim)
        return cl_cli_fail(1, "--targets %s: %lld targets; need at most min(%d, feature dim "
                              "%lld)",
                           a->tpath, (long long)*n, CL_NRC_MAX_TARGETS, (long long)*dim);
    if (*dim > CL_NRC_MAX_DIM)
        return cl_cli_fail(1, "--features %s: feature dimension %lld above %d", a->fpath,
                           (long long)*dim, CL_NRC_MAX_DIM);
    if (a->wpath) {
        if (cl_cli_read_rows("--weights", a->wpath, W, NULL, &rows, &cols)) return 1;
        if (rows != *n || cols != *dim)
            return cl_cli_fail(1, "--weights %s: shape [%lld, %lld], need [%lld, %lld] "
                                  "(targets x feature dim)",
                               a->wpath, (long long)rows, (long long)cols, (long long)*n,
                               (long long)*dim);
    }
    if (a->bpath) {
        if (cl_cli_read_rows("--bias", a->bpath, b, NULL, &rows, &cols)) return 1;
        if (rows * cols != *n)
            return cl_cli_fail(1, "--bias %s: %lld values, need %lld (one per target)",
                               a->bpath, (long long)(rows * cols), (long long)*n);
    }
    return 0;
}

int cl_cmd_analyze_reg(int argc, char **argv)
{
    reg_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    float *H = NULL, *Y = NULL, *W = NULL, *b = NULL;
    int64_t M, dim, n;
    if (!(rc = load_all(&a, &H, &Y, &W, &b, &M, &dim, &n))) {
        cl_nrc_result r;
        if (cl_nrc_analyze(H, M, (int)dim, Y, (int)n, W, b, &a.opts, &r) != CL_OK)
            rc = cl_cli_fail(1, "analyze %s (--targets %s): %s", a.fpath, a.tpath, cl_errmsg());
        else
            rc = report(&a, &r);
    }
    cl_free(H);
    cl_free(Y);
    cl_free(W);
    cl_free(b);
    return rc;
}
