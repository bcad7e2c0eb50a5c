/* collapse train: options -> training config, study options, classifier
 * head and model. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/etf.h"
#include "collapse/mem.h"
#include "opts.h"
#include "train_opts.h"

/* The library's warnings (the study's figures that could not be drawn, a
 * resume that fell back to an older checkpoint): printed, the run goes on. */
static void print_warning(void *user, const char *msg)
{
    printf("warning: %s\n", msg);
    fflush(stdout);
}

int cl_cli_train_config(const cl_cli_train_opts *o, cl_train_config *cfg)
{
    *cfg = cl_train_config_default();
    cfg->warn = print_warning;
    cfg->epochs = o->epochs;
    cfg->batch = o->batch;
    cfg->eval_batch = o->eval_batch;
    cfg->max_steps = o->max_steps;
    cfg->seed = o->data.opts.seed;
    cfg->sync_bn = o->sync_bn;
    cfg->ckpt_every = o->ckpt_every;
    cfg->keep_every = o->keep_ckpt;
    cfg->resume = o->resume;
    cfg->task = o->task && !strcmp(o->task, "regression") ? CL_TASK_REGRESS : CL_TASK_CLASSIFY;
    if (cl_loss_parse(o->loss, &cfg->loss) != CL_OK)
        return cl_cli_fail(2, "--loss: %s", cl_errmsg());
    cl_optim_kind kind;
    if (cl_optim_kind_parse(o->optimizer, &kind) != CL_OK)
        return cl_cli_fail(2, "--optimizer: %s", cl_errmsg());
    cfg->optim = cl_optim_cfg_default(kind);
    if (kind != CL_OPTIM_SGD && (o->momentum_set || o->nesterov))
        return cl_cli_fail(2, "--momentum/--nesterov apply to --optimizer sgd only");
    if (o->momentum_set) cfg->optim.momentum = o->momentum;
    if (o->nesterov && cfg->optim.momentum <= 0)
        return cl_cli_fail(2, "--nesterov needs --momentum > 0");
    cfg->optim.nesterov = o->nesterov;
    if (o->wd_set) cfg->optim.wd[0] = cfg->optim.wd[1] = o->wd;
    if (o->wd_cls_set) cfg->optim.wd[1] = o->wd_cls;
    double lr = o->lr_set ? o->lr : kind == CL_OPTIM_SGD ? 0.1 : 1e-3;
    cfg->sched = cl_sched_make(CL_SCHED_MULTISTEP, lr, o->epochs);
    if (cl_sched_parse(o->schedule, &cfg->sched) != CL_OK)
        return cl_cli_fail(2, "--schedule: %s", cl_errmsg());
    cfg->sched.lr = lr;
    cfg->sched.total = o->epochs;
    cfg->sched.warmup = o->warmup;
    if (cfg->sched.kind == CL_SCHED_MULTISTEP && cfg->sched.nmilestones == 0) {
        /* Papyan's milestones, written out (so config.json lists them) */
        cfg->sched.nmilestones = cl_sched_papyan_milestones(o->epochs, cfg->sched.milestones);
        if (!cfg->sched.nmilestones) cfg->sched.kind = CL_SCHED_CONST;
    }
    if (o->warmup >= o->epochs)
        return cl_cli_fail(2, "--warmup %g must be shorter than --epochs %d", o->warmup,
                           o->epochs);
    if (cl_sched_check(&cfg->sched) != CL_OK)
        return cl_cli_fail(2, "--schedule: %s", cl_errmsg());
    return 0;
}

int cl_cli_train_study_opts(const cl_cli_train_opts *o, cl_study_opts *so, int *use_study)
{
    *so = cl_study_opts_default();
    so->every = o->analyze_every;
    so->none = o->analyze && !strcmp(o->analyze, "none");
    if (o->analyze && !strcmp(o->analyze, "all")) so->every = 1;
    so->bn_train = o->bn_train;
    so->layers = !o->no_layers;
    so->plots = !o->no_plots;
    so->initial = !o->no_initial && !o->resume;
    so->save_features = !o->no_features;
    so->resume = o->resume;
    so->nc.gnc = o->gnc;
    if (o->minority_classes) so->nc.minority = o->minority_set; /* [K] of the run */
    so->warn = print_warning;
    *use_study = o->out && !so->none;
    if (!o->out && ((o->analyze && !so->none) || o->analyze_every || o->bn_mode ||
                    o->no_layers || o->no_plots || o->no_initial || o->no_features || o->gnc ||
                    o->minority_classes))
        return cl_cli_fail(2, "the collapse study options need --out DIR");
    return 0;
}

int cl_cli_clm_thresholds_parse(const char *s, int *learned, double *spacing)
{
    const char *eq = strchr(s, '=');
    size_t n = eq ? (size_t)(eq - s) : strlen(s);
    if (n == 5 && !strncmp(s, "fixed", 5))
        *learned = 0;
    else if (n == 7 && !strncmp(s, "learned", 7))
        *learned = 1;
    else
        return cl_cli_fail(2, "--clm-thresholds: unknown mode '%s' (fixed[=S] or learned[=S])",
                           s);
    *spacing = CL_CUMLINK_SPACING;
    if (eq && !cl_opt_double("--clm-thresholds", eq + 1, 1e-6, 1e6, spacing)) return 2;
    return 0;
}

cl_head_opts cl_cli_train_head(const cl_cli_train_opts *o, int classes, uint64_t seed)
{
    cl_head_opts h = {.classes = classes,
                      .feature_dim = o->feature_dim,
                      .bias = !o->no_bias,
                      .etf = !strcmp(o->classifier, "etf"),
                      .etf_mode = CL_ETF_ROTATE,
                      .etf_seed = seed,
                      .cosine = !strcmp(o->classifier, "cosine"),
                      .temperature = o->temperature};
    if (o->etf_mode) (void)cl_etf_mode_parse(o->etf_mode, &h.etf_mode); /* checked by parse */
    h.clm = o->clm;
    h.clm_learned = o->clm_learned;
    h.clm_spacing = o->clm_spacing;
    return h;
}

/* Index of the layer whose model fails to build: the shortest prefix of
 * specs[0..n) that cl_model_create refuses (it checks the layers in order),
 * or -1 when every prefix builds (the failure was not a layer's). */
static int failing_layer(const cl_layer_spec *specs, int n, cl_shape in)
{
    for (int k = 1; k <= n; k++) {
        cl_model *m = NULL;
        cl_rng rng;
        cl_rng_seed(&rng, 0);
        if (cl_model_create(&m, in, specs, k, &rng) != CL_OK) return k - 1;
        cl_model_destroy(m);
    }
    return -1;
}

int cl_cli_train_build(const cl_cli_train_opts *o, const cl_modelcfg *mc, cl_shape in,
                       const cl_head_opts *head, uint64_t seed, cl_model **m,
                       char **model_text)
{
    cl_rng init;
    cl_rng_seed(&init, seed ^ 0x696e697469616cULL); /* "initial": not the data streams */
    if (!o->model_path) {
        if (cl_modelcfg_build(mc, in, head, &init, m, model_text) == CL_OK) return 0;
        return cl_cli_fail(1, "--arch %s: %s", o->arch, cl_errmsg());
    }
    /* errors of the file as a whole (head, input shape, [model] keys) name it */
    cl_layer_spec *specs = NULL;
    int n = 0;
    if (cl_modelcfg_specs(mc, in, head, &specs, &n) != CL_OK)
        return cl_cli_fail(1, "%s", cl_errmsg());
    int rc = 0;
    if (cl_modelcfg_build(mc, in, head, &init, m, model_text) != CL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        int bad = mc->type[0] ? -1 : failing_layer(specs, n, in);
        if (bad >= 0 && bad < mc->nspecs && mc->line[bad])
            rc = cl_cli_fail(1, "%s:%d: %s", o->model_path, mc->line[bad], msg);
        else
            rc = cl_cli_fail(1, "%s: %s", o->model_path, msg);
    }
    cl_free(specs);
    return rc;
}
