/* collapse analyze, multi-label mode (--labels of shape [N, K], K-hot):
 * the NC keys of the single-label rows and the mlab keys of the two-label
 * sets (Li, Wang, Li & Qu, ICML 2024). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/json.h"
#include "collapse/mem.h"
#include "collapse/mlab.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "npyin.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: collapse analyze --features H.npy --labels Yk.npy [options]  (Yk [N, K])\n"
               "\n"
               "Multi-label collapse (Li, Wang, Li & Qu 2024): labels of shape [N, K], K >= 2,\n"
               "entries 0/1 (uint8 or int), every row at least one label.\n"
               "  --features H.npy   float32/float64 [N, dim] (trailing dims flattened)\n"
               "  --labels Yk.npy    K-hot labels [N, K]\n"
               "  --weights W.npy    classifier [K, dim] (the _W keys, nc3, nc4 of the\n"
               "                     single-label rows)\n"
               "  --bias b.npy       classifier bias [K] (needs --weights)\n"
               "  --weighted-mean, --nc4-no-bias, --nc4-cosine, --no-gnc: as without [N, K]\n"
               "  --json             one JSON object instead of a table\n"
               "NC keys: on the single-label rows (omitted when a class has none); mlab keys:\n"
               "the two-label sets. Formulas: docs/METRICS.md (Multi-label). Exit status 1 on\n"
               "bad input, 2 on usage.\n");
}

int cl_cli_khot_labels(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc && !path; i++) {
        if (!strncmp(argv[i], "--labels=", 9)) path = argv[i] + 9;
        if (!strcmp(argv[i], "--labels") && i + 1 < argc) path = argv[i + 1];
    }
    cl_npy a;
    if (!path || cl_npy_read(path, &a) != CL_OK) return 0; /* the other mode reports it */
    int khot = a.ndim == 2 && a.shape[1] > 1;
    cl_npy_free(&a);
    return khot;
}

typedef struct {
    const char *fpath, *ypath, *wpath, *bpath;
    int json;
    cl_nc_opts opts;
} mlab_args;

static int parse(int argc, char **argv, mlab_args *a)
{
    *a = (mlab_args){.opts = cl_nc_opts_default()};
    a->opts.gnc = 1;
    const char *const names[] = {"--features", "--labels", "--weights", "--bias"};
    const char **const dst[] = {&a->fpath, &a->ypath, &a->wpath, &a->bpath};
    const char *const flags[] = {"--json", "--weighted-mean", "--nc4-no-bias", "--nc4-cosine",
                                 "--no-gnc"};
    for (int i = 1; i < argc; i++) {
        int m, f = -1;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return -1;
        }
        for (int k = 0; k < 5 && f < 0; k++)
            if (cl_opt_flag(argv, i, flags[k])) f = k;
        if (f == 0) a->json = 1;
        if (f == 1) a->opts.weighted_mean = 1;
        if (f == 2) a->opts.nc4_bias = 0;
        if (f == 3) a->opts.nc4_cosine = 1;
        if (f == 4) a->opts.gnc = 0;
        if (f >= 0) continue;
        if ((m = cl_cli_file_flag(argc, argv, &i, 4, names, dst))) {
            if (m < 0) return 2;
            continue;
        }
        return cl_cli_fail(2, "analyze: unknown argument '%s' with [N, K] labels (see "
                              "collapse analyze --labels Yk.npy --help)",
                           argv[i]);
    }
    if (!a->fpath) return cl_cli_fail(2, "analyze: --features is required");
    if (a->bpath && !a->wpath) return cl_cli_fail(2, "analyze: --bias needs --weights");
    return 0;
}

typedef struct {
    float *H, *W, *b; /* [N, dim], [K, dim], [K] */
    uint8_t *Yk;      /* [N, K] */
    int64_t N, dim;
    int K;
} mlab_in;

/* Labels as 0/1 bytes; any integer dtype with values 0/1. */
static int load_labels(const mlab_args *a, mlab_in *in)
{
    int nd;
    int64_t sh[8];
    int32_t *y;
    if (cl_npy_read_i32(a->ypath, &y, &nd, sh) != CL_OK)
        return cl_cli_fail(1, "--labels %s", cl_errmsg());
    int rc = 0;
    if (nd != 2 || sh[0] != in->N || sh[1] < 2 || sh[1] > CL_MLAB_MAX_CLASSES)
        rc = cl_cli_fail(1, "--labels %s: need K-hot labels of shape [%lld, K] (one row per "
                            "row of --features, 2 <= K <= %d)",
                         a->ypath, (long long)in->N, CL_MLAB_MAX_CLASSES);
    else if (!(in->Yk = cl_alloc_array((size_t)(sh[0] * sh[1]), 1, "K-hot labels")))
        rc = cl_cli_fail(1, "%s", cl_errmsg());
    for (int64_t i = 0; !rc && i < sh[0] * sh[1]; i++) {
        if (y[i] != 0 && y[i] != 1)
            rc = cl_cli_fail(1, "--labels %s: value %d at [%lld, %lld]; K-hot labels are 0 or 1",
                             a->ypath, (int)y[i], (long long)(i / sh[1]),
                             (long long)(i % sh[1]));
        else
            in->Yk[i] = (uint8_t)y[i];
    }
    in->K = (int)sh[1];
    cl_free(y);
    if (!rc && cl_mlab_check_labels(in->Yk, in->N, in->K) != CL_OK)
        rc = cl_cli_fail(1, "--labels %s: %s", a->ypath, cl_errmsg());
    return rc;
}

static int load_all(const mlab_args *a, mlab_in *in)
{
    int64_t rows, cols;
    if (cl_cli_read_rows("--features", a->fpath, &in->H, NULL, &in->N, &in->dim)) return 1;
    if (in->dim > (1 << 30))
        return cl_cli_fail(1, "--features %s: feature dimension %lld out of range", a->fpath,
                           (long long)in->dim);
    if (load_labels(a, in)) return 1;
    if (a->wpath) {
        if (cl_cli_read_rows("--weights", a->wpath, &in->W, NULL, &rows, &cols)) return 1;
        if (rows != in->K || cols != in->dim)
            return cl_cli_fail(1, "--weights %s: shape [%lld, %lld], need [%d, %lld] (K of "
                                  "--labels x feature dim)",
                               a->wpath, (long long)rows, (long long)cols, in->K,
                               (long long)in->dim);
    }
    if (a->bpath) {
        if (cl_cli_read_rows("--bias", a->bpath, &in->b, NULL, &rows, &cols)) return 1;
        if (rows * cols != in->K)
            return cl_cli_fail(1, "--bias %s: %lld values, need %d (one per class)", a->bpath,
                               (long long)(rows * cols), in->K);
    }
    return 0;
}

/* The NC keys of the single-label rows into *nc; *have = 0 (and *why set)
 * when a class has no single-label row. Returns 0 or the exit status. */
static int single_nc(const mlab_args *a, const mlab_in *in, cl_nc_result *nc, int *have,
                     char *why, size_t cap)
{
    float *Hs;
    int32_t *ys;
    int64_t n;
    *have = 0;
    if (cl_mlab_single_subset(in->H, in->N, (int)in->dim, in->Yk, in->K, &Hs, &ys, &n) != CL_OK)
        return cl_cli_fail(1, "--labels %s: %s", a->ypath, cl_errmsg());
    int missing = -1;
    for (int k = 0; k < in->K && missing < 0; k++) {
        int64_t i = 0;
        while (i < n && ys[i] != k)
            i++;
        if (i == n) missing = k;
    }
    int rc = 0;
    if (missing >= 0) {
        snprintf(why, cap, "class %d has no single-label rows", missing);
    } else if (cl_nc_analyze(Hs, n, (int)in->dim, ys, in->K, in->W, in->b, &a->opts, nc) !=
               CL_OK) {
        rc = cl_cli_fail(1, "analyze %s (--labels %s, single-label rows): %s", a->fpath,
                         a->ypath, cl_errmsg());
    } else {
        *have = 1;
    }
    cl_free(Hs);
    cl_free(ys);
    return rc;
}

static void print_row(const char *name, double v, int dash, const char *desc)
{
    if (dash || isnan(v))
        printf("%-20s %14s  %s\n", name, "-", desc);
    else
        printf("%-20s %14.6g  %s\n", name, v, desc);
}

static void print_table(const mlab_args *a, const cl_mlab_result *m, const cl_nc_result *nc,
                        int have_nc, const char *why)
{
    printf("features %s: N = %lld, dim = %d; labels %s: K = %d (K-hot)\n", a->fpath,
           (long long)m->N, m->dim, a->ypath, m->K);
    printf("rows: %lld single-label, %lld two-label, %lld with more labels (skipped)\n",
           (long long)m->n_single, (long long)m->n_pair, (long long)m->n_multi);
    printf("two-label sets: %d present, %d skipped (a single-label class missing), %d measured\n",
           m->sets_present, m->sets_skipped, m->sets);
    printf("conventions: mlab centred on the mean of the single-label class means; NC keys on "
           "the single-label rows, mu_G %s\n\n",
           a->opts.weighted_mean ? "weighted" : "unweighted");
    printf("%-20s %14s  %s\n", "key", "value", "meaning");
    if (!have_nc) printf("(NC keys omitted: %s)\n", why);
    for (int i = 0; have_nc && i < cl_nc_nkeys(); i++)
        if (cl_nc_has_group(nc, cl_nc_key_group(i)))
            print_row(cl_nc_key_name(i), cl_nc_key_value(nc, i),
                      cl_nc_key_needs_W(i) && !nc->has_W, cl_nc_key_descr(i));
    for (int i = 0; i < cl_mlab_key_count(); i++)
        print_row(cl_mlab_key_name(i), cl_mlab_key_value(m, i), 0, cl_mlab_key_desc(i));
}

static int report(const mlab_args *a, const cl_mlab_result *m, const cl_nc_result *nc,
                  int have_nc, const char *why)
{
    if (!a->json) {
        print_table(a, m, nc, have_nc, why);
        return fflush(stdout) != 0 ? cl_cli_fail(1, "stdout: write failed") : 0;
    }
    cl_json j;
    cl_json_init(&j, stdout, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "features", a->fpath);
    cl_json_str(&j, "labels", a->ypath);
    cl_cli_json_path(&j, "weights", a->wpath);
    cl_cli_json_path(&j, "bias", a->bpath);
    cl_json_int(&j, "N", m->N);
    cl_json_int(&j, "dim", m->dim);
    cl_json_int(&j, "K", m->K);
    cl_json_int(&j, "n_single", m->n_single);
    cl_json_int(&j, "n_pair", m->n_pair);
    cl_json_int(&j, "n_multi", m->n_multi);
    cl_json_int(&j, "sets_present", m->sets_present);
    cl_json_int(&j, "sets_skipped", m->sets_skipped);
    cl_json_obj_begin(&j, "conventions");
    cl_json_str(&j, "mlab_centre", "mean of the single-label class means");
    cl_json_str(&j, "mu_G", a->opts.weighted_mean ? "weighted" : "unweighted");
    cl_json_str(&j, "nc_rows", "single-label");
    cl_json_obj_end(&j);
    if (have_nc)
        cl_json_null(&j, "nc_omitted");
    else
        cl_json_str(&j, "nc_omitted", why);
    cl_json_obj_begin(&j, "metrics");
    for (int i = 0; have_nc && i < cl_nc_nkeys(); i++)
        if (cl_nc_has_group(nc, cl_nc_key_group(i)))
            cl_json_num(&j, cl_nc_key_name(i), cl_nc_key_value(nc, i));
    for (int i = 0; i < cl_mlab_key_count(); i++)
        cl_json_num(&j, cl_mlab_key_name(i), cl_mlab_key_value(m, i));
    cl_json_obj_end(&j);
    cl_json_obj_end(&j);
    return cl_json_finish(&j, "stdout") != CL_OK ? cl_cli_fail(1, "%s", cl_errmsg()) : 0;
}

int cl_cmd_analyze_mlab(int argc, char **argv)
{
    mlab_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    mlab_in in = {0};
    if (!(rc = load_all(&a, &in))) {
        cl_mlab_result m;
        cl_nc_result nc;
        int have = 0;
        char why[128] = "";
        if (cl_mlab_analyze(in.H, in.N, (int)in.dim, in.Yk, in.K, &m) != CL_OK)
            rc = cl_cli_fail(1, "analyze %s (--labels %s): %s", a.fpath, a.ypath, cl_errmsg());
        else if (!(rc = single_nc(&a, &in, &nc, &have, why, sizeof why)))
            rc = report(&a, &m, &nc, have, why);
    }
    cl_free(in.H);
    cl_free(in.Yk);
    cl_free(in.W);
    cl_free(in.b);
    return rc;
}
