/* collapse probe: a trained run's frozen features on new classes (transfer;
 * the measures are study/probe.c's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/probe.h"
#include "ckptargs.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: collapse probe RUN|CHECKPOINT --data NAME --classes LIST [data options]\n"
            "       [--layer NAME|input] [--shots 1,5] [--episodes 100] [--ridge L]\n"
            "       [--out FILE.json] [--all-checkpoints] [--batch B] [--threads T]\n"
            "Freezes the run's model and measures its features (eval mode; default the\n"
            "classifier's input) on the classes of --classes (relabelled 0..k-1): NC1 and\n"
            "CDNV on the target train and test splits, k-shot nearest-class-centre accuracy\n"
            "(episodes of k shots per class from the train split, queries = the test\n"
            "split; mean and 95%% interval) and a ridge linear probe's test accuracy\n"
            "(--ridge L fixes lambda = L tr(X^T X)/dim; default: chosen on a 20%% hold-out).\n"
            "--seed seeds the subsets, the episodes and the hold-out. Data options not\n"
            "given come from the run's config.json, except random labels/pixels and\n"
            "imbalance (off unless given). --all-checkpoints: every complete\n"
            "checkpoint of the run (the kept epochs of train --keep-checkpoints N and the\n"
            "two slots), oldest first, one JSON row each.\n");
    cl_cli_data_usage(f);
}

/* --shots "1,5" into o; 0 or 2 after printing. */
static int parse_shots(const char *v, cl_probe_opts *o)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    o->nshots = 0;
    for (char *p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
        if (o->nshots == CL_PROBE_MAX_SHOTS)
            return cl_cli_fail(2, "--shots %s: at most %d values", v, CL_PROBE_MAX_SHOTS);
        if (!cl_opt_int("--shots", p, 1, 100000, &o->shots[o->nshots++])) return 2;
    }
    return o->nshots ? 0 : cl_cli_fail(2, "--shots: need a list such as 1,5");
}

/* Turns off the data transforms a probe must not inherit from the run. */
static void target_data(cl_cli_data *d)
{
    cl_data_opts *o = &d->opts;
    if (!(d->set & CL_CLI_D_RL)) o->random_labels = 0;
    if (!(d->set & CL_CLI_D_RP)) o->random_pixels = 0;
    if (!(d->set & CL_CLI_D_IMB)) o->imbalance = 0, o->minority = 0;
    if (!(d->set & CL_CLI_D_TAIL)) o->long_tail = 0;
    if (!(d->set & CL_CLI_D_AUG)) o->augment = 0;
}

/* The checkpoints to probe into *list (cl_alloc'ed): with all = 1 every
 * complete checkpoint of RUN/checkpoint, the kept epochs (--keep-checkpoints)
 * and the slots, oldest first (cl_ckpt_list; a corrupt one is skipped with a
 * warning), else the path itself. Returns the count, 0 after printing. */
static int checkpoints(const char *path, int all, cl_ckpt_entry **list)
{
    int n = 0;
    if (!all) {
        if (!(*list = cl_alloc(sizeof **list, "checkpoint list")))
            return cl_cli_fail(1, "%s", cl_errmsg()), 0;
        snprintf((*list)[0].path, sizeof (*list)[0].path, "%s", path);
        (*list)[0].step = -1;
        return 1;
    }
    char dir[CL_CKPT_PATHMAX], skipped[CL_CKPT_PATHMAX + 256];
    snprintf(dir, sizeof dir, "%s/checkpoint", path);
    if (cl_ckpt_list(dir, list, &n, skipped, sizeof skipped) != CL_OK)
        return cl_cli_fail(1, "--all-checkpoints: %s", cl_errmsg()), 0;
    if (skipped[0]) fprintf(stderr, "warning: --all-checkpoints: skipped %s\n", skipped);
    if (!n) cl_cli_fail(1, "--all-checkpoints: %s holds no complete checkpoint", dir);
    return n;
}

/* The layer index of --layer (NULL: the classifier's input); -2 after printing. */
static int find_layer(const cl_model *m, const char *layer, const char *ckpt)
{
    int ci = cl_model_classifier_index(m), l;
    if (!layer) {
        if (ci < 0) return cl_cli_fail(1, "%s: the model has no linear classifier", ckpt), -2;
        return ci - 1;
    }
    if (!strcmp(layer, "input")) return -1;
    if ((l = cl_model_find(m, layer)) < 0)
        return cl_cli_fail(2, "--layer: no layer '%s' in %s", layer, ckpt), -2;
    return l;
}

static void print_row(const char *name, int64_t step, const cl_probe_result *r)
{
    printf("%-24s %8lld  nc1 %.4g/%.4g  cdnv %.4g/%.4g", name, (long long)step, r->nc1_train,
           r->nc1_test, r->cdnv_train, r->cdnv_test);
    for (int s = 0; s < r->nshots; s++)
        printf("  %d-shot %.2f%%±%.2f", r->shots[s], 100 * r->fewshot_mean[s],
               100 * r->fewshot_ci95[s]);
    printf("  probe %.2f%%\n", 100 * r->probe_acc);
}

typedef struct {
    const char *layer, *out;
    int all;
    cl_probe_opts po;
} probe_args;

static int probe_list(cl_cli_ckpt_args *a, probe_args *p, const cl_dataset *train,
                      const cl_dataset *test, cl_json *j, const cl_ckpt_entry *e, int n)
{
    cl_json_arr_begin(j, "rows");
    for (int k = 0; k < n; k++) {
        const char *ck = e[k].path;
        cl_model *m = NULL;
        int64_t st_ = 0;
        cl_probe_result r;
        if (cl_cli_load_model(ck, a->batch, &m, &st_)) return 1;
        p->po.layer = find_layer(m, p->layer, ck);
        cl_status st = p->po.layer < -1 ? CL_EINVAL : cl_probe_run(m, train, test, &p->po, &r);
        char lname[64];
        snprintf(lname, sizeof lname, "%s",
                 p->po.layer < 0 ? "input" : m->layers[p->po.layer < 0 ? 0 : p->po.layer].spec.name);
        cl_model_destroy(m);
        if (p->po.layer < -1) return 2;
        if (st != CL_OK) return cl_cli_fail(1, "probe %s: %s", ck, cl_errmsg());
        if (k == 0)
            printf("layer %s (%d values), %d classes, train %lld, test %lld\n%-24s %8s  nc1 "
                   "train/test  cdnv train/test  few-shot NCC (mean±95%%)  probe\n",
                   lname, r.dim, r.K, (long long)r.ntrain, (long long)r.ntest, "checkpoint",
                   "step");
        print_row(p->all ? ck : a->ckpt, st_, &r);
        cl_json_obj_begin(j, NULL);
        cl_json_str(j, "checkpoint", p->all ? ck : a->ckpt);
        cl_json_int(j, "step", st_);
        cl_json_str(j, "layer", lname);
        cl_probe_result_json(j, "metrics", &r);
        cl_json_obj_end(j);
    }
    cl_json_arr_end(j);
    return 0;
}

static int run_all(cl_cli_ckpt_args *a, probe_args *p, const cl_dataset *train,
                   const cl_dataset *test, cl_json *j)
{
    cl_ckpt_entry *list = NULL;
    int n = checkpoints(a->ckpt, p->all, &list);
    if (!n) return 1;
    int rc = probe_list(a, p, train, test, j, list, n);
    cl_free(list);
    return rc;
}

static int write_json(const char *out, const char *text, size_t len)
{
    return out ? cl_cli_write_file(out, text, len) : 0;
}

int cl_cmd_probe(int argc, char **argv)
{
    const char *layer = NULL, *shots = NULL, *episodes = NULL, *out = NULL, *ridge = NULL;
    const cl_cli_extra_flag extra[] = {{"--layer", &layer},       {"--shots", &shots},
                                       {"--episodes", &episodes}, {"--out", &out},
                                       {"--ridge", &ridge}};
    probe_args p = {.po = cl_probe_opts_default()};
    char **args = cl_alloc_array((size_t)argc + 1, sizeof(char *), "arguments");
    if (!args) return cl_cli_fail(1, "%s", cl_errmsg());
    int n = 0;
    for (int i = 0; i < argc; i++) /* the one boolean flag, before the shared parser */
        if (!strcmp(argv[i], "--all-checkpoints"))
            p.all = 1;
        else
            args[n++] = argv[i];
    cl_cli_ckpt_args a = {
        .cmd = "probe", .usage = usage, .extra = extra, .nextra = 5, .split = "train", .batch = 500};
    int rc = cl_cli_ckpt_args_parse(n, args, &a);
    cl_free(args);
    if (rc) return rc < 0 ? 0 : rc;
    if (shots && parse_shots(shots, &p.po)) return 2;
    if (episodes && !cl_opt_int("--episodes", episodes, 1, 1000000, &p.po.episodes)) return 2;
    if (ridge && !cl_opt_double("--ridge", ridge, 1e-12, 1e12, &p.po.ridge)) return 2;
    if ((rc = cl_cli_ckpt_args_data(&a))) return rc;
    if (!(a.data.set & CL_CLI_D_CLASSES)) /* not the run's own subset by default */
        return cl_cli_fail(2, "probe: --classes LIST is required (the target classes)");
    target_data(&a.data);
    p.po.seed = a.data.opts.seed;
    p.layer = layer;
    if (a.threads) cl_blas_set_threads(a.threads);
    cl_dataset train, test;
    if (cl_cli_data_load(&a.data, &train, &test)) return 1;
    cl_cli_data_print(&a.data, &train, &test);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        rc = cl_cli_fail(1, "probe: out of memory");
        goto done;
    }
    cl_json j;
    cl_json_init(&j, mem, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "run", a.ckpt);
    cl_json_str(&j, "layer", layer ? layer : "penultimate");
    cl_json_arr_begin(&j, "shots");
    for (int s = 0; s < p.po.nshots; s++) cl_json_int(&j, NULL, p.po.shots[s]);
    cl_json_arr_end(&j);
    cl_json_int(&j, "episodes", p.po.episodes);
    cl_json_u64(&j, "seed", p.po.seed);
    cl_json_num(&j, "ridge", p.po.ridge > 0 ? p.po.ridge : 0);
    cl_cli_data_json(&j, "data", &a.data, &train, &test);
    rc = run_all(&a, &p, &train, &test, &j);
    if (!rc) { /* after an error the JSON is left unfinished and not written */
        cl_json_obj_end(&j);
        if (cl_json_finish(&j, "probe JSON") != CL_OK) rc = cl_cli_fail(1, "%s", cl_errmsg());
    }
    fclose(mem);
    if (!rc && (rc = write_json(out, text, len)) == 0 && out) printf("written to %s\n", out);
done:
    free(text);
    cl_dataset_free(&train);
    cl_dataset_free(&test);
    return rc;
}
