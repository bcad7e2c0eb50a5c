/* collapse features: one layer's outputs over a split, plus the labels and
 * the classifier's W and b, as .npy files. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/npy.h"
#include "collapse/probe.h"
#include "collapse/train.h"
#include "ckptargs.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: collapse features CHECKPOINT|RUNDIR --data NAME [data options] --out "
        "DIR\n"
        "       [--split train|test] [--layer NAME|input] [--bn-mode eval|train]\n"
        "       [--batch B] [--threads T] [--task classification|regression]\n"
        "Writes DIR/features.npy [N, dim] (the layer's outputs; default: the classifier's\n"
        "input), labels.npy [N] (as trained), labels_true.npy [N] (when labels were\n"
        "randomised), W.npy [K, dim'] and b.npy [K] (the classifier; an ordinal --loss\n"
        "clm head: W.npy [1, dim'] and thresholds.npy [K-1], float64), and targets.npy\n"
        "[N, n] when the data has regression targets (mnist-pose, --targets): with\n"
        "W.npy and b.npy, `collapse analyze --targets` gives a regression run's NRC keys.\n"
        "Multi-label data (mlab-mnist) adds labels_khot.npy [N, K] (uint8, K-hot rows).\n"
        "Without --task, the run's (config.json; else classification).\n"
        "Without --data, the data options of the run (RUNDIR/config.json) are used.\n"
        "Without --bn-mode, the run's (config.json; else eval); in BN train mode the\n"
        "batch size defaults to the run's, so the features are those its study saw.\n");
    cl_cli_data_usage(f);
}

typedef struct {
    int layer; /* -1 = input */
    int64_t dim;
    float *H; /* [N, dim] */
} collect;

static int write_npy(const char *dir, const char *name, cl_npy_dtype t, const void *data,
                     int ndim, const int64_t *shape)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cl_npy_write(path, t, data, ndim, shape) != CL_OK)
        return cl_cli_fail(1, "%s", cl_errmsg());
    return 0;
}

int cl_cmd_features(int argc, char **argv)
{
    const char *layer = NULL, *bn_mode = NULL, *out = NULL, *task = NULL;
    const cl_cli_extra_flag extra[] = {
        {"--layer", &layer}, {"--bn-mode", &bn_mode}, {"--out", &out}, {"--task", &task}};
    cl_cli_ckpt_args a = {.cmd = "features",
                          .usage = usage,
                          .extra = extra,
                          .nextra = 4,
                          .split = "train",
                          .batch = 500};
    int rc = cl_cli_ckpt_args_parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (!out) return cl_cli_fail(2, "features: --out DIR is required");
    if ((rc = cl_cli_ckpt_args_data(&a))) return rc;
    const char *ckpt = a.ckpt, *split = a.split;
    if (strcmp(split, "train") && strcmp(split, "test"))
        return cl_cli_fail(2, "--split: unknown split '%s' (train or test)", split);
    if (bn_mode && strcmp(bn_mode, "eval") && strcmp(bn_mode, "train"))
        return cl_cli_fail(2, "--bn-mode: unknown mode '%s' (eval or train)", bn_mode);
    int reg;
    if ((rc = cl_cli_ckpt_args_task(&a, &task, &reg))) return rc;
    if (cl_cli_ckpt_args_bn(&a, &bn_mode)) return 1;
    if (a.threads) cl_blas_set_threads(a.threads);

    cl_model *m = NULL;
    int64_t step = 0;
    if (cl_cli_load_model(ckpt, a.batch, &m, &step)) return 1;
    collect c = {0};
    float *b = NULL;
    double *thr = NULL; /* thresholds of an ordinal (cumlink) head */
    cl_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    int ci = cl_model_classifier_index(m);
    if (ci < 0) {
        rc = cl_cli_fail(1, "%s: the model has no linear classifier", ckpt);
        goto done;
    }
    if (!layer)
        c.layer = ci - 1;
    else if (!strcmp(layer, "input"))
        c.layer = -1;
    else if ((c.layer = cl_model_find(m, layer)) < 0) {
        char names[1024] = "";
        for (int i = 0, len = 0; i < m->nlayers && len < (int)sizeof names - 40; i++)
            len += snprintf(names + len, sizeof names - (size_t)len, "%s%s", i ? " " : "",
                            m->layers[i].spec.name);
        rc =
            cl_cli_fail(2, "--layer: no layer '%s' in %s (input %s)", layer, ckpt, names);
        goto done;
    }
    if (cl_cli_data_load(&a.data, &train, &test)) {
        rc = 1;
        goto done;
    }
    const cl_dataset *d = !strcmp(split, "train") ? &train : &test;
    cl_train_data v;
    cl_data_view(d, NULL, &v);
    if (reg) v.classes = 0; /* a regression head: targets, not labels */
    cl_status fs = cl_probe_layer_features(m, &v, c.layer, !strcmp(bn_mode, "train"), &c.H,
                                           &c.dim); /* study/probe.c */
    if (fs != CL_OK) {
        rc = cl_cli_fail(1, "%s%s", fs == CL_ENOMEM ? "" : "forward pass: ", cl_errmsg());
        goto done;
    }
    const cl_layer *cl = &m->layers[ci];
    int64_t K = cl_shape_size(cl->out), dim_w = cl_shape_size(cl->in);
    b = cl_alloc_array((size_t)K, sizeof(float), "classifier bias");
    if (!b) {
        rc = cl_cli_fail(1, "%s", cl_errmsg());
        goto done;
    }
    if (cl->spec.bias)
        memcpy(b, m->params + cl->param_off + K * dim_w, sizeof(float) * (size_t)K);
    if (!cl_opt_mkdir_p("--out", out)) {
        rc = 1;
        goto done;
    }
    int64_t sh_h[2] = {d->n, c.dim}, sh_y[1] = {d->n}, sh_w[2] = {K, dim_w}, sh_b[1] = {K};
    int randomized = d->y_true && memcmp(d->y, d->y_true, sizeof(int32_t) * (size_t)d->n);
    if ((rc = write_npy(out, "features.npy", CL_NPY_F32, c.H, 2, sh_h)) ||
        (rc = write_npy(out, "labels.npy", CL_NPY_I32, d->y, 1, sh_y)) ||
        (randomized &&
         (rc = write_npy(out, "labels_true.npy", CL_NPY_I32, d->y_true, 1, sh_y))) ||
        (rc = write_npy(out, "W.npy", CL_NPY_F32, m->params + cl->param_off, 2, sh_w)))
        goto done;
    const cl_layer *last = &m->layers[m->nlayers - 1];
    if (last->spec.kind == CL_LAYER_CUMLINK) { /* ordinal head: w [1, dim] + thresholds */
        int64_t sh_thr[1] = {cl_shape_size(last->out)};
        thr = cl_alloc_array((size_t)sh_thr[0], sizeof(double), "thresholds");
        if (!thr) {
            rc = cl_cli_fail(1, "%s", cl_errmsg());
            goto done;
        }
        cl_cumlink_thresholds(m->params + last->param_off, (int)sh_thr[0], thr);
        if ((rc = write_npy(out, "thresholds.npy", CL_NPY_F64, thr, 1, sh_thr))) goto done;
    } else if ((rc = write_npy(out, "b.npy", CL_NPY_F32, b, 1, sh_b))) {
        goto done;
    }
    int64_t sh_t[2] = {d->n, d->tdim};
    if (d->t && (rc = write_npy(out, "targets.npy", CL_NPY_F32, d->t, 2, sh_t))) goto done;
    int64_t sh_k[2] = {d->n, d->classes}; /* multi-label data: the K-hot rows too */
    if (d->yk && (rc = write_npy(out, "labels_khot.npy", CL_NPY_U8, d->yk, 2, sh_k))) goto done;
    printf("features: layer %s (%lld values per sample), %s split, %lld samples, BN %s "
           "mode; "
           "classifier %s [%lld x %lld]%s; written to %s\n",
           c.layer < 0 ? "input" : m->layers[c.layer].spec.name, (long long)c.dim, split,
           (long long)d->n, bn_mode, cl->spec.name, (long long)K, (long long)dim_w,
           d->t ? ", targets" : "", out);
done:
    cl_free(c.H);
    cl_free(b);
    cl_free(thr);
    cl_model_destroy(m);
    cl_dataset_free(&train);
    cl_dataset_free(&test);
    return rc;
}
