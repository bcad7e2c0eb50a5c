/* Data flags shared by train/eval/features, JSON and file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/atomic.h"
#include "collapse/ckpt.h"
#include "collapse/json.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/npy.h"
#include "dataopts.h"
#include "fields.h"
#include "opts.h"

void cl_cli_data_init(cl_cli_data *d)
{
    memset(d, 0, sizeof *d);
    d->opts = cl_data_opts_default();
}

int cl_cli_data_flag(int argc, char **argv, int *i, cl_cli_data *d)
{
    const char *v = NULL;
    int r;
    cl_data_opts *o = &d->opts;
    if ((r = cl_opt_value(argc, argv, i, "--data", &v)) != 0) {
        if (r > 0 && !*v) {
            cl_cli_fail(2, "--data: empty name");
            return -1;
        }
        d->name = v;
        d->set |= CL_CLI_D_DATA;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--data-dir", &v)) != 0) {
        d->dir = v;
        d->set |= CL_CLI_D_DIR;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--train-per-class", &v)) != 0) {
        d->set |= CL_CLI_D_TRAIN_PC;
        return r < 0 ? -1
               : cl_opt_i64("--train-per-class", v, 1, INT32_MAX, &o->train_per_class)
                   ? 1
                   : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--test-per-class", &v)) != 0) {
        d->set |= CL_CLI_D_TEST_PC;
        return r < 0                                                                 ? -1
               : cl_opt_i64("--test-per-class", v, 1, INT32_MAX, &o->test_per_class) ? 1
                                                                                     : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--random-labels", &v)) != 0) {
        d->set |= CL_CLI_D_RL;
        return r < 0                                                          ? -1
               : cl_opt_double("--random-labels", v, 0, 1, &o->random_labels) ? 1
                                                                              : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--random-labels-mode", &v)) != 0) {
        if (r < 0) return -1;
        if (cl_randlabel_mode_parse(v, &o->random_labels_mode) != CL_OK) {
            cl_cli_fail(2,
                        "--random-labels-mode: unknown mode '%s' (permute, shuffle or uniform)",
                        v);
            return -1;
        }
        d->mode_set = 1;
        d->set |= CL_CLI_D_RL_MODE;
        return 1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--resize", &v)) != 0) {
        d->set |= CL_CLI_D_RESIZE;
        return r < 0 ? -1 : cl_opt_int("--resize", v, 1, 4096, &o->resize) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--seed", &v)) != 0) {
        d->set |= CL_CLI_D_SEED;
        return r < 0 ? -1 : cl_opt_u64("--seed", v, &o->seed) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--imbalance", &v)) != 0) {
        d->set |= CL_CLI_D_IMB;
        return r < 0 ? -1 : cl_opt_double("--imbalance", v, 1, 1e9, &o->imbalance) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--minority", &v)) != 0) {
        d->set |= CL_CLI_D_MINORITY;
        return r < 0 ? -1 : cl_opt_int("--minority", v, 1, CL_DATA_MAX_CLASSES - 1, &o->minority) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--long-tail", &v)) != 0) {
        d->set |= CL_CLI_D_TAIL;
        return r < 0 ? -1 : cl_opt_double("--long-tail", v, 1, 1e9, &o->long_tail) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--targets", &v)) != 0) {
        d->set |= CL_CLI_D_TARGETS;
        d->targets = v;
        return r < 0 ? -1 : 1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--test-targets", &v)) != 0) {
        d->set |= CL_CLI_D_TEST_TARGETS;
        d->test_targets = v;
        return r < 0 ? -1 : 1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--ordinal-bins", &v)) != 0) {
        d->set |= CL_CLI_D_ORD;
        return r < 0 ? -1
               : cl_opt_int("--ordinal-bins", v, 2, CL_DATA_MAX_CLASSES, &d->ordinal_bins) ? 1
                                                                                          : -1;
    }
    if ((r = cl_cli_classes_flag(argc, argv, i, d)) != 0) return r; /* --classes */
    if (cl_opt_flag(argv, *i, "--random-pixels")) {
        d->set |= CL_CLI_D_RP;
        o->random_pixels = 1;
        return 1;
    }
    if (cl_opt_flag(argv, *i, "--normalize")) {
        d->set |= CL_CLI_D_NORM;
        o->normalize = 1;
        return 1;
    }
    if (cl_opt_flag(argv, *i, "--augment")) {
        d->set |= CL_CLI_D_AUG;
        o->augment = 1;
        return 1;
    }
    return 0;
}

int cl_cli_data_check(const cl_cli_data *d)
{
    if (!d->name)
        return cl_cli_fail(2, "--data is required (mnist, fashion, cifar10, cifar100 or "
                              "a PNG folder with train/ and test/)");
    if (d->mode_set && d->opts.random_labels <= 0)
        return cl_cli_fail(2, "--random-labels-mode needs --random-labels P with P > 0");
    if (d->opts.imbalance != 0 && d->opts.long_tail != 0)
        return cl_cli_fail(2, "--long-tail: not together with --imbalance (one profile at a time)");
    if (d->opts.imbalance != 0 && !d->opts.minority)
        return cl_cli_fail(2, "--imbalance needs --minority M (how many of the last classes)");
    if (d->opts.minority && d->opts.imbalance == 0)
        return cl_cli_fail(2, "--minority needs --imbalance R");
    return 0;
}

/* The config.json of a results folder given as the folder, its checkpoint/
 * folder or checkpoint/model.ckpt. */
static void config_path(const char *path, char *cfg, size_t cap)
{
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] == '/')
        base[--len] = 0;
    if (len > 11 && !strcmp(base + len - 11, "/model.ckpt")) base[len -= 11] = 0;
    if (len > 13 && !strncmp(base + len - 13, "/checkpoint/", 12)) base[len -= 2] = 0; /* slot */
    if (len > 11 && !strcmp(base + len - 11, "/checkpoint")) base[len -= 11] = 0;
    snprintf(cfg, cap, "%s/config.json", base);
}

/* The run's config.json parsed into *root (NULL when there is none).
 * Returns 0, or 1 after printing the parser's file:line:col message. */
static int read_run_config(const char *path, char *cfg, size_t cap, cl_json_value **root)
{
    *root = NULL;
    config_path(path, cfg, cap);
    if (access(cfg, F_OK) != 0) return 0;
    if (cl_json_parse_file(cfg, root) != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    return 0;
}

int cl_cli_run_config(const char *path, char *cfg, size_t cap, cl_json_value **root)
{
    return read_run_config(path, cfg, cap, root);
}

int cl_cli_run_option(const char *path, const char *key, char *buf, size_t cap)
{
    char cfg[4200];
    cl_json_value *root;
    if (read_run_config(path, cfg, sizeof cfg, &root)) return 0;
    const char *v = cl_json_as_str(cl_json_get(cl_json_get(root, "options"), key));
    if (v) snprintf(buf, cap, "%s", v);
    cl_json_value_free(root);
    return v != NULL;
}

/* The member `key` of the data object, unless the command line gave its
 * flag (bit `flag` of d->set). */
static const cl_json_value *data_value(const cl_json_value *obj, const cl_cli_data *d,
                                       unsigned flag, const char *key)
{
    return d->set & flag ? NULL : cl_json_get(obj, key);
}

/* Fills the data options the command line did not give; returns the first
 * value of the wrong type, or NULL. */
static const cl_json_value *data_options(const cl_json_value *obj, cl_cli_data *d)
{
    cl_data_opts *o = &d->opts;
    const cl_json_value *v;
    if ((v = data_value(obj, d, CL_CLI_D_DATA, "data"))) {
        if (!cl_json_as_str(v) || v->len >= sizeof d->name_buf) return v;
        memcpy(d->name_buf, v->text, v->len + 1);
        d->name = d->name_buf;
    }
    if ((v = data_value(obj, d, CL_CLI_D_DIR, "data_dir")) && v->type != CL_JSON_NULL) {
        if (!cl_json_as_str(v) || v->len >= sizeof d->dir_buf) return v;
        memcpy(d->dir_buf, v->text, v->len + 1);
        d->dir = d->dir_buf;
    }
    int64_t resize = o->resize;
    if (((v = data_value(obj, d, CL_CLI_D_TRAIN_PC, "train_per_class")) &&
         !cl_json_as_i64(v, &o->train_per_class)) ||
        ((v = data_value(obj, d, CL_CLI_D_TEST_PC, "test_per_class")) &&
         !cl_json_as_i64(v, &o->test_per_class)) ||
        ((v = data_value(obj, d, CL_CLI_D_RL, "random_labels")) &&
         !cl_json_as_double(v, &o->random_labels)) ||
        ((v = data_value(obj, d, CL_CLI_D_RP, "random_pixels")) &&
         !cl_json_as_bool(v, &o->random_pixels)) ||
        ((v = data_value(obj, d, CL_CLI_D_RESIZE, "resize")) &&
         (!cl_json_as_i64(v, &resize) || resize < 0 || resize > 4096)) ||
        ((v = data_value(obj, d, CL_CLI_D_NORM, "normalize")) &&
         !cl_json_as_bool(v, &o->normalize)) ||
        ((v = data_value(obj, d, CL_CLI_D_AUG, "augment")) &&
         !cl_json_as_bool(v, &o->augment)) ||
        ((v = data_value(obj, d, CL_CLI_D_SEED, "seed")) && !cl_json_as_u64(v, &o->seed)) ||
        ((v = data_value(obj, d, CL_CLI_D_IMB, "imbalance")) &&
         !cl_json_as_double(v, &o->imbalance)) ||
        ((v = data_value(obj, d, CL_CLI_D_TAIL, "long_tail")) &&
         !cl_json_as_double(v, &o->long_tail)))
        return v;
    int64_t minority = o->minority;
    if ((v = data_value(obj, d, CL_CLI_D_MINORITY, "minority")) &&
        (!cl_json_as_i64(v, &minority) || minority < 0 || minority >= CL_DATA_MAX_CLASSES))
        return v;
    o->minority = (int)minority;
    o->resize = (int)resize;
    int64_t bins = d->ordinal_bins;
    if ((v = data_value(obj, d, CL_CLI_D_ORD, "ordinal_bins")) &&
        (!cl_json_as_i64(v, &bins) || bins < 0 || bins > CL_DATA_MAX_CLASSES))
        return v;
    d->ordinal_bins = (int)bins;
    if ((v = data_value(obj, d, CL_CLI_D_TARGETS, "targets"))) {
        if (!cl_json_as_str(v) || v->len >= sizeof d->targets_buf) return v;
        memcpy(d->targets_buf, v->text, v->len + 1);
        d->targets = d->targets_buf;
    }
    if ((v = data_value(obj, d, CL_CLI_D_TEST_TARGETS, "test_targets"))) {
        if (!cl_json_as_str(v) || v->len >= sizeof d->test_targets_buf) return v;
        memcpy(d->test_targets_buf, v->text, v->len + 1);
        d->test_targets = d->test_targets_buf;
    }
    if ((v = data_value(obj, d, CL_CLI_D_RL_MODE, "random_labels_mode"))) {
        if (!cl_json_as_str(v)) return v;
        if (cl_randlabel_mode_parse(v->text, &o->random_labels_mode) != CL_OK) return v;
    }
    return cl_cli_classes_from_json(obj, d); /* NULL, or a malformed "classes" */
}

int cl_cli_data_from_run(const char *path, cl_cli_data *d)
{
    char cfg[4200];
    cl_json_value *root;
    if (read_run_config(path, cfg, sizeof cfg, &root)) return 1;
    if (!root) return 0;
    const cl_json_value *obj = cl_json_get(root, "data"), *bad;
    int rc = 0;
    if (!obj || obj->type != CL_JSON_OBJECT)
        rc = cl_cli_fail(1, "%s: no data options in it", cfg);
    else if ((bad = data_options(obj, d)))
        rc = cl_cli_fail(1, "%s:%d:%d: malformed data option '%s'", cfg, bad->line, bad->col,
                         bad->key);
    else
        printf("data options from %s (flags given override them)\n", cfg);
    cl_json_value_free(root);
    return rc;
}

/* Reads targets [N, n] (or [N]) from `path` into split d; `flag` names the
 * flag in errors. */
static cl_status load_targets(const char *flag, const char *path, cl_dataset *d)
{
    float *t;
    int nd;
    int64_t sh[8], cols = 1;
    char what[1100];
    snprintf(what, sizeof what, "%s %s", flag, path);
    if (cl_npy_read_f32(path, &t, &nd, sh) != CL_OK) {
        /* the message already names the file; copy it out of the buffer
         * cl_error writes into before prefixing the flag */
        char msg[1100];
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        return cl_error(CL_EINVAL, "%s %s", flag, msg);
    }
    for (int k = 1; k < nd; k++)
        cols *= sh[k];
    cl_status st = nd < 1 || nd > 2 || cols < 1 || cols > 1024
                       ? cl_error(CL_EINVAL, "%s: need an [N, n] float array", what)
                       : cl_data_set_targets(d, t, sh[0], (int)cols, what);
    cl_free(t);
    return st;
}

int cl_cli_data_load(const cl_cli_data *d, cl_dataset *train, cl_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    cl_status st = cl_data_load(d->name, d->dir, 1, train);
    if (st == CL_OK) st = cl_data_load(d->name, d->dir, 0, test);
    const char *bad = d->name; /* what the error line names */
    if (st == CL_OK && d->targets) {
        bad = d->targets;
        st = load_targets("--targets", d->targets, train);
    }
    if (st == CL_OK && d->test_targets) {
        bad = d->test_targets;
        st = load_targets("--test-targets", d->test_targets, test);
    }
    if (st == CL_OK) bad = "--classes", st = cl_cli_classes_apply(d, train, test);
    if (st == CL_OK && d->ordinal_bins) {
        bad = "--ordinal-bins"; /* its messages name the flag */
        st = cl_data_ordinal_bins(train, test, d->ordinal_bins, 0);
    }
    /* after --ordinal-bins, which sets K */
    if (st == CL_OK && (d->opts.imbalance != 0 || d->opts.long_tail != 0)) {
        if (cl_data_imbalance_check(&d->opts, train->classes) != CL_OK) {
            cl_cli_fail(2, "%s", cl_errmsg()); /* names the flag: --minority M for K */
            cl_dataset_free(train);
            cl_dataset_free(test);
            return 2;
        }
    }
    if (st == CL_OK) bad = d->name, st = cl_data_prepare(train, test, &d->opts);
    if (st != CL_OK) {
        if (bad == d->name)
            cl_cli_fail(1, "--data %s: %s", d->name, cl_errmsg());
        else
            cl_cli_fail(1, "%s", cl_errmsg());
        cl_dataset_free(train);
        cl_dataset_free(test);
        return 1;
    }
    return 0;
}

void cl_cli_data_fields(cl_cli_fields *f, const cl_cli_data *d)
{
    const cl_data_opts *o = &d->opts;
    f->str(f, "data", d->name);
    f->str(f, "data_dir", d->dir);
    f->i64(f, "train_per_class", o->train_per_class);
    f->i64(f, "test_per_class", o->test_per_class);
    f->dbl(f, "random_labels", o->random_labels);
    f->str(f, "random_labels_mode", cl_randlabel_mode_name(o->random_labels_mode));
    f->boolean(f, "random_pixels", o->random_pixels);
    f->i64(f, "resize", o->resize);
    f->boolean(f, "normalize", o->normalize);
    f->boolean(f, "augment", o->augment);
    f->u64(f, "seed", o->seed);
    /* only when on: runs without them keep their config.json and resume hash */
    if (o->imbalance != 0) {
        f->dbl(f, "imbalance", o->imbalance);
        f->i64(f, "minority", o->minority);
    }
    if (o->long_tail != 0) f->dbl(f, "long_tail", o->long_tail);
    /* regression/ordinal options only when given, so that the config and
     * resume hash of every other run stay as they were */
    if (d->targets) f->str(f, "targets", d->targets);
    if (d->test_targets) f->str(f, "test_targets", d->test_targets);
    if (d->ordinal_bins) f->i64(f, "ordinal_bins", d->ordinal_bins);
    cl_cli_classes_fields(f, d); /* only when given */
}

void cl_cli_data_json(cl_json *j, const char *key, const cl_cli_data *d,
                      const cl_dataset *train, const cl_dataset *test)
{
    cl_cli_fields_json sink;
    cl_cli_fields_json_init(&sink, j);
    cl_json_obj_begin(j, key);
    cl_cli_data_fields(&sink.f, d);
    if (train) {
        cl_json_int(j, "train_samples", train->n);
        cl_json_arr_begin(j, "shape");
        cl_json_int(j, NULL, train->shape.c);
        cl_json_int(j, NULL, train->shape.h);
        cl_json_int(j, NULL, train->shape.w);
        cl_json_arr_end(j);
        cl_json_int(j, "classes", train->classes);
        if (d->opts.imbalance != 0 || d->opts.long_tail != 0) {
            int64_t counts[CL_DATA_MAX_CLASSES];
            cl_data_histogram(train, counts);
            cl_json_arr_begin(j, "class_counts");
            for (int c = 0; c < train->classes; c++)
                cl_json_int(j, NULL, counts[c]);
            cl_json_arr_end(j);
        }
    }
    if (test) cl_json_int(j, "test_samples", test->n);
    cl_json_obj_end(j);
}

void cl_cli_data_print(const cl_cli_data *d, const cl_dataset *train,
                       const cl_dataset *test)
{
    const cl_data_opts *o = &d->opts;
    printf("data: %s  train %lld  test %lld  %dx%dx%d  %d classes", train->name,
           (long long)train->n, (long long)test->n, train->shape.c, train->shape.h,
           train->shape.w, train->classes);
    if (o->train_per_class)
        printf("  train-per-class %lld", (long long)o->train_per_class);
    if (o->test_per_class) printf("  test-per-class %lld", (long long)o->test_per_class);
    if (o->random_labels > 0)
        printf("  random-labels %g (%s)", o->random_labels,
               cl_randlabel_mode_name(o->random_labels_mode));
    if (o->random_pixels) printf("  random-pixels");
    if (o->resize) printf("  resize %d", o->resize);
    if (o->normalize) printf("  normalize");
    if (o->augment) printf("  augment");
    if (o->imbalance != 0) printf("  imbalance %g (last %d classes)", o->imbalance, o->minority);
    if (o->long_tail != 0) printf("  long-tail %g", o->long_tail);
    if (train->tdim) printf("  %d targets", train->tdim);
    if (d->ordinal_bins) printf("  ordinal-bins %d (target 0)", d->ordinal_bins);
    printf("\n");
    if (o->imbalance != 0 || o->long_tail != 0) {
        int64_t counts[CL_DATA_MAX_CLASSES];
        cl_data_histogram(train, counts);
        printf("class counts (train):");
        for (int c = 0; c < train->classes; c++)
            printf(" %lld", (long long)counts[c]);
        printf("\n");
    }
}

void cl_cli_data_usage(FILE *f)
{
    fprintf(
        f,
        "data options:\n"
        "  --data NAME|DIR           mnist, fashion, cifar10, cifar100, mnist-pose, mlab-mnist,\n"
        "                            a PNG folder"
        " with train/ and test/ (ROOT/<class>/*.png) or an IDX folder\n"
        "  --data-dir DIR            where the named dataset's files are\n"
        "  --train-per-class N       balanced training subset (seeded)\n"
        "  --test-per-class N        balanced test subset\n"
        "  --random-labels P         replace a fraction P of the training labels\n"
        "  --random-labels-mode M    permute (counts kept, every label changed; default) |\n"
        "                            shuffle (counts kept; for random labels) | uniform\n"
        "  --random-pixels           training inputs replaced by Gaussian noise\n"
        "  --resize S                area-average down-sampling to SxS\n"
        "  --normalize               per-channel standardisation (training-set stats)\n"
        "  --augment                 random crop (pad 4) + horizontal flip\n"
        "  --imbalance R --minority M  the last M classes keep 1/R of their training\n"
        "                            images (round, at least 1; seeded choice)\n"
        "  --long-tail R             class sizes decay exponentially, largest/smallest R\n"
        "  --seed S                  seeds subsets, labels, init and data order (1)\n"
        "  --targets Y.npy           float targets [N, n] of the training split\n"
        "  --test-targets Y.npy      float targets [N, n] of the test split\n"
        "  --ordinal-bins K          classes = K quantile bins of target column 0\n"
        "  --classes LIST            only these classes (0-4, 0,3,7), relabelled 0..k-1\n");
}

int cl_cli_write_file(const char *path, const char *text, size_t len)
{
    if (cl_atomic_write_file(path, text, len) != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    return 0;
}

int cl_cli_load_model(const char *path, int batch, cl_model **m, int64_t *step)
{
    char file[4200];
    char *text = NULL;
    float *p = NULL, *b = NULL;
    int64_t np = 0, nb = 0;
    *m = NULL;
    cl_ckpt_found f; /* the newest good checkpoint slot; say so if it is not the newest */
    cl_status st = cl_ckpt_resolve(path, file, sizeof file, &f);
    if (st == CL_OK && f.skipped[0]) printf("warning: %s; using %s\n", f.skipped, f.slot);
    if (st == CL_OK) st = cl_ckpt_read_model(file, &text, &p, &np, &b, &nb, step);
    if (st == CL_OK) st = cl_modelcfg_rebuild_sized(text, file, np, nb, m); /* counts checked */
    if (st == CL_OK) {
        memcpy((*m)->params, p, sizeof(float) * (size_t)np);
        memcpy((*m)->bufs, b, sizeof(float) * (size_t)nb);
        st = cl_model_alloc(*m, batch);
    }
    cl_free(text);
    cl_free(p);
    cl_free(b);
    if (st != CL_OK) {
        cl_cli_fail(1, "%s", cl_errmsg());
        if (*m) cl_model_destroy(*m);
        *m = NULL;
        return 1;
    }
    return 0;
}
