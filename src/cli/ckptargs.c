/* The flag loop of eval and features. */
#include <stdio.h>
#include <string.h>

#include "ckptargs.h"
#include "cli.h"
#include "opts.h"

/* One argument (advancing *i past a value): 1 if taken, 0 if unknown,
 * -1 after printing an error. */
static int one_flag(int argc, char **argv, int *i, cl_cli_ckpt_args *a)
{
    const char *v = NULL;
    int r;
    if ((r = cl_cli_data_flag(argc, argv, i, &a->data)) != 0) return r;
    if ((r = cl_opt_value(argc, argv, i, "--split", &v)) != 0) {
        if (r > 0) a->split = v;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--batch", &v)) != 0) {
        a->batch_set = 1;
        return r < 0 || !cl_opt_int("--batch", v, 1, 1 << 20, &a->batch) ? -1 : 1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--threads", &v)) != 0)
        return r < 0 || !cl_opt_int("--threads", v, 1, 1024, &a->threads) ? -1 : 1;
    for (int k = 0; k < a->nextra; k++)
        if ((r = cl_opt_value(argc, argv, i, a->extra[k].flag, &v)) != 0) {
            if (r > 0) *a->extra[k].val = v;
            return r;
        }
    return 0;
}

int cl_cli_ckpt_args_parse(int argc, char **argv, cl_cli_ckpt_args *a)
{
    cl_cli_data_init(&a->data);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            a->usage(stdout);
            return -1;
        }
        int r = one_flag(argc, argv, &i, a);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (argv[i][0] == '-')
            return cl_cli_fail(2, "%s: unknown option '%s' (try collapse %s --help)", a->cmd,
                               argv[i], a->cmd);
        if (a->ckpt)
            return cl_cli_fail(2, "%s: unexpected argument '%s' (one checkpoint only)",
                               a->cmd, argv[i]);
        a->ckpt = argv[i];
    }
    if (!a->ckpt)
        return cl_cli_fail(2, "%s: give a checkpoint or results folder (try --help)",
                           a->cmd);
    return 0;
}

int cl_cli_ckpt_args_data(cl_cli_ckpt_args *a)
{
    if (!(a->data.set & CL_CLI_D_DATA) && cl_cli_data_from_run(a->ckpt, &a->data)) return 1;
    return cl_cli_data_check(&a->data) ? 2 : 0;
}

/* The run's BN mode ("eval" without a study) and the batch size of its
 * study's sweeps (the model's batch buffers: max(batch, eval_batch)), or
 * the first value of the wrong type. */
static const cl_json_value *run_bn(const cl_json_value *root, const char **mode, int *batch)
{
    const cl_json_value *v = cl_json_get(cl_json_get(root, "study"), "bn_mode");
    int64_t b = 0, eb = 0;
    *mode = "eval";
    if (v) {
        if (!cl_json_as_str(v) || (strcmp(v->text, "eval") && strcmp(v->text, "train")))
            return v;
        *mode = !strcmp(v->text, "train") ? "train" : "eval";
    }
    *batch = 0; /* not recorded */
    if ((v = cl_json_get(cl_json_get(root, "options"), "batch")) &&
        (!cl_json_as_i64(v, &b) || b < 1 || b > 1 << 20))
        return v;
    if ((v = cl_json_get(cl_json_get(root, "run"), "eval_batch")) &&
        (!cl_json_as_i64(v, &eb) || eb < 0 || eb > 1 << 20))
        return v;
    if (b) *batch = (int)(eb > b ? eb : b);
    return NULL;
}

int cl_cli_ckpt_args_bn(cl_cli_ckpt_args *a, const char **bn_mode)
{
    char cfg[4200];
    cl_json_value *root;
    if (cl_cli_run_config(a->ckpt, cfg, sizeof cfg, &root)) return 1;
    if (!root) {
        if (!*bn_mode) *bn_mode = "eval";
        return 0;
    }
    const char *mode;
    int batch, rc = 0;
    const cl_json_value *bad = run_bn(root, &mode, &batch);
    if (bad)
        rc = cl_cli_fail(1, "%s:%d:%d: malformed value of '%s'", cfg, bad->line, bad->col,
                         bad->key);
    cl_json_value_free(root);
    if (rc) return rc;
    if (!*bn_mode) {
        *bn_mode = mode;
        printf("BN mode %s from %s (--bn-mode overrides it)\n", mode, cfg);
    } else if (strcmp(*bn_mode, mode)) {
        printf("note: --bn-mode %s given; the run's study used %s (%s)\n", *bn_mode, mode,
               cfg);
    }
    if (strcmp(*bn_mode, "train")) return 0;
    if (!batch) {
        printf("note: %s records no batch size; BN batch statistics over batches of %d\n",
               cfg, a->batch);
    } else if (!a->batch_set) {
        a->batch = batch;
        printf("batch %d from %s: BN batch statistics over the run's batches (--batch "
               "overrides it)\n",
               batch, cfg);
    } else if (a->batch != batch) {
        printf("note: --batch %d given; the run's study used batches of %d (%s), so BN batch "
               "statistics differ from its features\n",
               a->batch, batch, cfg);
    }
    return 0;
}

int cl_cli_ckpt_args_task(const cl_cli_ckpt_args *a, const char **task, int *reg)
{
    static const char *const names[2] = {"classification", "regression"};
    char run_task[32];
    const char *t = *task;
    if (!t && cl_cli_run_option(a->ckpt, "task", run_task, sizeof run_task)) t = run_task;
    if (!t) t = names[0];
    for (int i = 0; i < 2; i++)
        if (!strcmp(t, names[i])) {
            *task = names[i]; /* static: run_task goes out of scope */
            *reg = i;
            return 0;
        }
    return cl_cli_fail(2, "--task: unknown task '%s' (classification or regression)", t);
}
