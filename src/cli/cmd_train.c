/* collapse train: parse and validate every option, load the data, build the
 * model, then (and only then) create the results folder, write config.json
 * and run cl_train_run with the progress printer and the collapse study. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/builders.h"
#include "collapse/ckpt.h"
#include "collapse/etf.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "dataopts.h"
#include "opts.h"
#include "progress.h"

/* The only state a signal handler may touch. */
static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct {
    const char *model_path, *arch;
    cl_cli_data data;
    int epochs, batch, eval_batch;
    double lr, momentum, wd, wd_cls, warmup;
    int lr_set, momentum_set, wd_set, wd_cls_set, nesterov;
    const char *schedule, *optimizer, *loss, *classifier, *etf_mode;
    int feature_dim, no_bias, threads, ckpt_every, resume;
    int64_t max_steps;
    const char *out;
    /* study */
    const char *analyze;
    int analyze_every, bn_train, no_layers, no_plots, no_initial, no_features;
    const char *bn_mode;
} train_opts;

static void usage(FILE *f)
{
    char archs[128];
    cl_arch_names(archs, sizeof archs, " ");
    fprintf(
        f,
        "usage: collapse train (--model FILE.cfg | --arch NAME) --data NAME [options]\n\n"
        "model:\n"
        "  --model FILE              model file (models/*.cfg)\n"
        "  --arch NAME               %s\n"
        "  --classifier learned|etf  learned linear head (default) or fixed simplex ETF\n"
        "  --etf-mode pad|rotate     how the ETF sits in D dimensions (default rotate)\n"
        "  --feature-dim D           width of the classifier's input\n"
        "  --no-classifier-bias      learned head without bias\n"
        "training:\n"
        "  --epochs E (30)  --batch B (128)  --lr LR (0.1 sgd, 1e-3 adam/adamw)\n"
        "  --optimizer sgd|adam|adamw (sgd)  --momentum M (0.9)  --nesterov\n"
        "  --wd WD (5e-4 sgd, 0 adam, 1e-2 adamw)  --wd-classifier WD (= --wd)\n"
        "  --schedule step|step=E1,E2,..|cosine|cosine=MIN|const (step: /10 at 1/3, "
        "2/3)\n"
        "  --warmup W                linear warmup over W epochs\n"
        "  --loss ce|mse|mse=S|ls=A|focal=G (ce)\n"
        "  --threads T  --max-steps N  --eval-batch B\n"
        "results:\n"
        "  --out DIR                 results folder (config.json, checkpoint/, metrics)\n"
        "  --resume                  continue the run in --out bit-exactly\n"
        "  --ckpt-every N            checkpoint every N epochs (1)\n"
        "collapse study (needs --out):\n"
        "  --analyze log|all|none    analyzed epochs: log-spaced (default), every, none\n"
        "  --analyze-every N         every N epochs (and the last)\n"
        "  --bn-mode eval|train      BN statistics in the analysis sweeps (eval)\n"
        "  --no-layers  --no-plots  --no-initial  --no-features\n",
        archs);
    cl_cli_data_usage(f);
}

/* Returns 0 on success, else the exit status (message printed). */
static int parse(int argc, char **argv, train_opts *o)
{
    memset(o, 0, sizeof *o);
    cl_cli_data_init(&o->data);
    o->epochs = 30;
    o->batch = 128;
    o->ckpt_every = 1;
    o->schedule = "step";
    o->optimizer = "sgd";
    o->loss = "ce";
    o->classifier = "learned";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        }
        if ((r = cl_cli_data_flag(argc, argv, &i, &o->data)) != 0) {
            if (r < 0) return 2;
            continue;
        }
#define STR(flag, dst)                                                                   \
    if ((r = cl_opt_value(argc, argv, &i, flag, &v)) != 0) {                             \
        if (r < 0) return 2;                                                             \
        dst = v;                                                                         \
        continue;                                                                        \
    }
#define NUM(flag, conv)                                                                  \
    if ((r = cl_opt_value(argc, argv, &i, flag, &v)) != 0) {                             \
        if (r < 0 || !(conv)) return 2;                                                  \
        continue;                                                                        \
    }
        STR("--model", o->model_path)
        STR("--arch", o->arch)
        STR("--schedule", o->schedule)
        STR("--optimizer", o->optimizer)
        STR("--loss", o->loss)
        STR("--classifier", o->classifier)
        STR("--etf-mode", o->etf_mode)
        STR("--out", o->out)
        STR("--analyze", o->analyze)
        STR("--bn-mode", o->bn_mode)
        NUM("--epochs", cl_opt_int("--epochs", v, 1, 1000000, &o->epochs))
        NUM("--batch", cl_opt_int("--batch", v, 1, 1 << 20, &o->batch))
        NUM("--eval-batch", cl_opt_int("--eval-batch", v, 1, 1 << 20, &o->eval_batch))
        NUM("--lr", (o->lr_set = cl_opt_double("--lr", v, 1e-12, 1e6, &o->lr)))
        NUM("--momentum",
            (o->momentum_set = cl_opt_double("--momentum", v, 0, 0.999999, &o->momentum)))
        NUM("--wd", (o->wd_set = cl_opt_double("--wd", v, 0, 10, &o->wd)))
        NUM("--wd-classifier",
            (o->wd_cls_set = cl_opt_double("--wd-classifier", v, 0, 10, &o->wd_cls)))
        NUM("--warmup", cl_opt_double("--warmup", v, 0, 1e6, &o->warmup))
        NUM("--feature-dim", cl_opt_int("--feature-dim", v, 1, 1 << 20, &o->feature_dim))
        NUM("--threads", cl_opt_int("--threads", v, 1, 1024, &o->threads))
        NUM("--ckpt-every", cl_opt_int("--ckpt-every", v, 1, 1000000, &o->ckpt_every))
        NUM("--max-steps", cl_opt_i64("--max-steps", v, 1, INT64_MAX, &o->max_steps))
        NUM("--analyze-every",
            cl_opt_int("--analyze-every", v, 1, 1000000, &o->analyze_every))
#undef STR
#undef NUM
        if (cl_opt_flag(argv, i, "--nesterov"))
            o->nesterov = 1;
        else if (cl_opt_flag(argv, i, "--no-classifier-bias"))
            o->no_bias = 1;
        else if (cl_opt_flag(argv, i, "--resume"))
            o->resume = 1;
        else if (cl_opt_flag(argv, i, "--no-layers"))
            o->no_layers = 1;
        else if (cl_opt_flag(argv, i, "--no-plots"))
            o->no_plots = 1;
        else if (cl_opt_flag(argv, i, "--no-initial"))
            o->no_initial = 1;
        else if (cl_opt_flag(argv, i, "--no-features"))
            o->no_features = 1;
        else if (argv[i][0] == '-')
            return cl_cli_fail(
                2, "train: unknown option '%s' (try collapse train --help)", argv[i]);
        else
            return cl_cli_fail(
                2, "train: unexpected argument '%s' (try collapse train --help)",
                argv[i]);
    }
    if (!o->model_path == !o->arch)
        return cl_cli_fail(2, "train: give exactly one of --model FILE and --arch NAME");
    if (cl_cli_data_check(&o->data)) return 2;
    if (strcmp(o->classifier, "learned") && strcmp(o->classifier, "etf"))
        return cl_cli_fail(2, "--classifier: unknown head '%s' (learned or etf)",
                           o->classifier);
    if (o->etf_mode && cl_etf_mode_parse(o->etf_mode, &(cl_etf_mode){0}) != CL_OK)
        return cl_cli_fail(2, "--etf-mode: unknown mode '%s' (pad or rotate)",
                           o->etf_mode);
    if (o->etf_mode && strcmp(o->classifier, "etf"))
        return cl_cli_fail(2, "--etf-mode needs --classifier etf");
    if (o->no_bias && !strcmp(o->classifier, "etf"))
        return cl_cli_fail(
            2, "--no-classifier-bias is implied by --classifier etf (no bias)");
    if (o->resume && !o->out)
        return cl_cli_fail(2, "--resume needs --out DIR (the run to continue)");
    if (o->analyze && strcmp(o->analyze, "log") && strcmp(o->analyze, "all") &&
        strcmp(o->analyze, "none"))
        return cl_cli_fail(2, "--analyze: unknown value '%s' (log, all or none)",
                           o->analyze);
    if (o->analyze && o->analyze_every)
        return cl_cli_fail(2, "--analyze and --analyze-every exclude each other");
    if (o->bn_mode) {
        if (!strcmp(o->bn_mode, "train"))
            o->bn_train = 1;
        else if (strcmp(o->bn_mode, "eval"))
            return cl_cli_fail(2, "--bn-mode: unknown mode '%s' (eval or train)",
                               o->bn_mode);
    }
    return 0;
}

/* Builds the training config from the options (exit status on error). */
static int make_config(const train_opts *o, cl_train_config *cfg)
{
    *cfg = cl_train_config_default();
    cfg->epochs = o->epochs;
    cfg->batch = o->batch;
    cfg->eval_batch = o->eval_batch;
    cfg->max_steps = o->max_steps;
    cfg->seed = o->data.opts.seed;
    cfg->ckpt_every = o->ckpt_every;
    cfg->resume = o->resume;
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

static void json_kv_str(FILE *f, const char *k, const char *v)
{
    fprintf(f, ",\n  \"%s\": ", k);
    cl_cli_json_str(f, v);
}

/* The options that determine the result (hashed for --resume) as JSON. */
static void json_options(FILE *f, const train_opts *o, const cl_train_config *cfg)
{
    char loss[64], ms[256] = "";
    cl_loss_format(&cfg->loss, loss, sizeof loss);
    for (int i = 0, len = 0; i < cfg->sched.nmilestones && len < (int)sizeof ms - 32; i++)
        len += snprintf(ms + len, sizeof ms - (size_t)len, "%s%.17g", i ? ", " : "",
                        cfg->sched.milestones[i]);
    fprintf(
        f,
        "{\"epochs\": %d, \"batch\": %d, \"optimizer\": \"%s\", \"lr\": %.17g, "
        "\"momentum\": %.17g, \"nesterov\": %s, \"beta1\": %.17g, \"beta2\": %.17g, "
        "\"eps\": %.17g, \"wd\": %.17g, \"wd_classifier\": %.17g, \"schedule\": \"%s\", "
        "\"milestones\": [%s], \"gamma\": %.17g, \"min_lr\": %.17g, \"warmup\": %.17g, "
        "\"loss\": \"%s\", \"classifier\": \"%s\", \"etf_mode\": \"%s\", "
        "\"feature_dim\": %d, \"classifier_bias\": %s, \"seed\": %llu, \"data\": ",
        cfg->epochs, cfg->batch, cl_optim_kind_name(cfg->optim.kind), cfg->sched.lr,
        cfg->optim.momentum, cfg->optim.nesterov ? "true" : "false", cfg->optim.beta1,
        cfg->optim.beta2, cfg->optim.eps, cfg->optim.wd[0], cfg->optim.wd[1],
        cl_sched_kind_name(cfg->sched.kind), ms, cfg->sched.gamma, cfg->sched.min_lr,
        cfg->sched.warmup, loss, o->classifier, o->etf_mode ? o->etf_mode : "rotate",
        o->feature_dim, o->no_bias || !strcmp(o->classifier, "etf") ? "false" : "true",
        (unsigned long long)cfg->seed);
    cl_cli_data_json(f, &o->data, NULL, NULL);
    fputc('}', f);
}

typedef struct {
    char *text;
    size_t len;
} membuf;

/* config.json: everything needed to rerun the command. */
static int make_config_json(int argc, char **argv, const train_opts *o,
                            const cl_train_config *cfg, const char *model_text,
                            const cl_model *m, const cl_dataset *train,
                            const cl_dataset *test, const cl_study_opts *so, membuf *out,
                            uint64_t *hash)
{
    membuf opt = {0};
    FILE *f = open_memstream(&opt.text, &opt.len);
    if (!f) return cl_cli_fail(1, "out of memory");
    json_options(f, o, cfg);
    fclose(f);
    *hash = cl_fnv1a(CL_FNV_INIT, opt.text, opt.len);
    *hash = cl_fnv1a(*hash, model_text, strlen(model_text));
    if (!*hash) *hash = 1; /* 0 means "not checked" in the trainer */

    f = open_memstream(&out->text, &out->len);
    if (!f) {
        free(opt.text);
        return cl_cli_fail(1, "out of memory");
    }
    fputs("{\n  \"command\": [", f);
    for (int i = 0; i < argc; i++) {
        if (i) fputs(", ", f);
        cl_cli_json_str(f, i == 0 ? "collapse train" : argv[i]);
    }
    fputc(']', f);
    json_kv_str(f, "version", CL_VERSION);
    json_kv_str(f, "git", CL_GIT);
    json_kv_str(f, "blas_core", cl_blas_core());
    json_kv_str(f, "blas_threading", cl_blas_threading());
    fprintf(f, ",\n  \"threads\": %d", cl_blas_get_threads());
    fprintf(f, ",\n  \"options_hash\": \"%016llx\"", (unsigned long long)*hash);
    fprintf(f, ",\n  \"options\": %s", opt.text);
    fputs(",\n  \"data\": ", f);
    cl_cli_data_json(f, &o->data, train, test);
    fputs(",\n  \"model\": {\"file\": ", f);
    cl_cli_json_str(f, o->model_path);
    fputs(", \"arch\": ", f);
    cl_cli_json_str(f, o->arch);
    fprintf(f, ", \"params\": %lld, \"layers\": %d, \"spec\": ", (long long)m->nparams,
            m->nlayers);
    cl_cli_json_str(f, model_text);
    fputc('}', f);
    fprintf(f,
            ",\n  \"run\": {\"max_steps\": %lld, \"ckpt_every\": %d, \"eval_batch\": %d}",
            (long long)cfg->max_steps, cfg->ckpt_every, cfg->eval_batch);
    if (so)
        fprintf(
            f,
            ",\n  \"study\": {\"analyze\": \"%s\", \"every\": %d, \"bn_mode\": \"%s\", "
            "\"layers\": %s, \"plots\": %s, \"initial\": %s, \"save_features\": %s, "
            "\"mu_G\": \"%s\", \"nc4_bias\": %s}",
            so->none    ? "none"
            : so->every ? "every"
                        : "log",
            so->every, so->bn_train ? "train" : "eval", so->layers ? "true" : "false",
            so->plots ? "true" : "false", so->initial ? "true" : "false",
            so->save_features ? "true" : "false",
            so->nc.weighted_mean ? "weighted" : "unweighted",
            so->nc.nc4_bias ? "true" : "false");
    fputs("\n}\n", f);
    fclose(f);
    free(opt.text);
    return 0;
}

static int path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Threads recorded in DIR/config.json, or 0. */
static int recorded_threads(const char *dir)
{
    char path[4200], buf[8192];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strstr(buf, "\"threads\": ");
    return p ? atoi(p + 11) : 0;
}

/* Line of the "[name]" section header in a model file, or 0. */
static int section_line(const char *path, const char *name)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[512];
    int line = 0, found = 0;
    size_t nl = strlen(name);
    while (!found && fgets(buf, sizeof buf, f)) {
        line++;
        const char *p = buf;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '[') continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!strncmp(p, name, nl)) {
            p += nl;
            while (*p == ' ' || *p == '\t')
                p++;
            found = *p == ']';
        }
    }
    fclose(f);
    return found ? line : 0;
}

/* Reports a failed model build naming the model file (and the layer's
 * section line when the message names a layer). */
static int build_fail(const char *path, const char *arch)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cl_errmsg());
    const char *src = path ? path : "--arch";
    if (path && !strncmp(msg, path, strlen(path))) return cl_cli_fail(1, "%s", msg);
    const char *q = strstr(msg, "layer '");
    if (path && q) {
        char name[64];
        const char *e = strchr(q + 7, '\'');
        size_t n = e ? (size_t)(e - q - 7) : 0;
        if (n > 0 && n < sizeof name) {
            memcpy(name, q + 7, n);
            name[n] = 0;
            int line = section_line(path, name);
            if (line) return cl_cli_fail(1, "%s:%d: %s", path, line, msg);
        }
    }
    return cl_cli_fail(1, "%s%s%s: %s", src, arch ? " " : "", arch ? arch : "", msg);
}

/* The study's warnings (figures that could not be drawn): printed, the run goes on. */
static void study_warn(void *user, const char *msg)
{
    printf("warning: %s\n", msg);
    fflush(stdout);
}

int cl_cmd_train(int argc, char **argv)
{
    train_opts o;
    cl_train_config cfg;
    cl_modelcfg mc;
    memset(&mc, 0, sizeof mc);
    cl_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    cl_model *m = NULL;
    char *model_text = NULL;
    cl_study *study = NULL;
    membuf json = {0};
    struct sigaction old_int, old_term;
    int handlers = 0;
    int created_out = 0, rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = make_config(&o, &cfg))) return rc;
    if (o.threads) cl_blas_set_threads(o.threads);

    /* results folder: decide before the expensive work */
    char ckpt_dir[4200] = "";
    if (o.out) {
        snprintf(ckpt_dir, sizeof ckpt_dir, "%s/checkpoint", o.out);
        char cj[4200];
        snprintf(cj, sizeof cj, "%s/config.json", o.out);
        if (o.resume && !cl_ckpt_exists(ckpt_dir))
            return cl_cli_fail(1, "--resume: %s holds no complete checkpoint", ckpt_dir);
        if (!o.resume && (path_exists(cj) || path_exists(ckpt_dir)))
            return cl_cli_fail(
                2,
                "--out %s already holds a run (config.json/checkpoint); use "
                "--resume to continue it or choose another folder",
                o.out);
    }

    cl_study_opts so = cl_study_opts_default();
    so.every = o.analyze_every;
    so.none = o.analyze && !strcmp(o.analyze, "none");
    if (o.analyze && !strcmp(o.analyze, "all")) so.every = 1;
    so.bn_train = o.bn_train;
    so.layers = !o.no_layers;
    so.plots = !o.no_plots;
    so.initial = !o.no_initial && !o.resume;
    so.save_features = !o.no_features;
    so.resume = o.resume;
    so.warn = study_warn;
    int use_study = o.out && !so.none;
    if (!o.out && ((o.analyze && !so.none) || o.analyze_every || o.bn_mode ||
                   o.no_layers || o.no_plots || o.no_initial || o.no_features))
        return cl_cli_fail(2, "the collapse study options need --out DIR");

    /* model file */
    cl_status st = o.model_path ? cl_modelcfg_parse_file(o.model_path, &mc)
                                : cl_modelcfg_from_arch(o.arch, &mc);
    if (st != CL_OK) return cl_cli_fail(o.model_path ? 1 : 2, "%s", cl_errmsg());

    /* data */
    if (cl_cli_data_load(&o.data, &train, &test)) {
        rc = 1;
        goto done;
    }

    /* model */
    cl_head_opts head = {.classes = train.classes,
                         .feature_dim = o.feature_dim,
                         .bias = !o.no_bias,
                         .etf = !strcmp(o.classifier, "etf"),
                         .etf_mode = CL_ETF_ROTATE,
                         .etf_seed = cfg.seed};
    if (o.etf_mode) (void)cl_etf_mode_parse(o.etf_mode, &head.etf_mode); /* checked by parse */
    cl_rng init;
    cl_rng_seed(&init,
                cfg.seed ^ 0x696e697469616cULL); /* "initial": not the data streams */
    if ((st = cl_modelcfg_build(&mc, train.shape, &head, &init, &m, &model_text)) !=
        CL_OK) {
        rc = build_fail(o.model_path, o.arch);
        goto done;
    }
    int eb = cfg.eval_batch > cfg.batch ? cfg.eval_batch : cfg.batch;
    if ((st = cl_model_alloc(m, eb)) != CL_OK) {
        rc = cl_cli_fail(1, "model buffers for batch %d: %s", eb, cl_errmsg());
        goto done;
    }
    cl_optim *probe = NULL; /* validates the optimizer settings before --out exists */
    if ((st = cl_optim_create(&probe, &cfg.optim, m->nparams, m->ranges, m->nranges)) !=
        CL_OK) {
        rc = cl_cli_fail(2, "--optimizer: %s", cl_errmsg());
        goto done;
    }
    cl_optim_destroy(probe);

    uint64_t hash = 0;
    if ((rc = make_config_json(argc, argv, &o, &cfg, model_text, m, &train, &test,
                               use_study ? &so : NULL, &json, &hash)))
        goto done;
    cfg.config_hash = hash;
    cfg.model_text = model_text;

    /* header */
    {
        char *buf = malloc(1 << 16);
        if (buf) {
            int need = cl_model_summary(m, buf, 1 << 16);
            fputs(buf, stdout);
            if (need > 0 && need < (1 << 16) && buf[need - 1] != '\n')
                fputc('\n', stdout);
            free(buf);
        }
    }
    printf("model: %s  %lld parameters  classifier %s%s%s\n",
           o.model_path ? o.model_path : o.arch, (long long)m->nparams,
           head.etf ? "fixed simplex ETF (" : "learned",
           head.etf    ? cl_etf_mode_name((cl_etf_mode)head.etf_mode)
           : head.bias ? " with bias"
                       : " without bias",
           head.etf ? ")" : "");
    cl_cli_data_print(&o.data, &train, &test);
    {
        char loss[64], sched[200];
        cl_loss_format(&cfg.loss, loss, sizeof loss);
        int len = snprintf(sched, sizeof sched, "%s", cl_sched_kind_name(cfg.sched.kind));
        for (int i = 0; cfg.sched.kind == CL_SCHED_MULTISTEP &&
                        i < cfg.sched.nmilestones && len < (int)sizeof sched - 24;
             i++)
            len += snprintf(sched + len, sizeof sched - (size_t)len, "%s%g",
                            i ? "," : " at ", cfg.sched.milestones[i]);
        if (cfg.sched.warmup > 0)
            snprintf(sched + len, sizeof sched - (size_t)len, " warmup %g",
                     cfg.sched.warmup);
        printf(
            "train: %d epochs  batch %d  %s lr %g  momentum %g%s  wd %g (classifier %g)  "
            "schedule %s  loss %s  seed %llu\n",
            cfg.epochs, cfg.batch, cl_optim_kind_name(cfg.optim.kind), cfg.sched.lr,
            cfg.optim.kind == CL_OPTIM_SGD ? cfg.optim.momentum : cfg.optim.beta1,
            cfg.optim.nesterov ? " nesterov" : "", cfg.optim.wd[0], cfg.optim.wd[1],
            sched, loss, (unsigned long long)cfg.seed);
    }
    printf("OpenBLAS core %s, %s threading, %d threads\n", cl_blas_core(),
           cl_blas_threading(), cl_blas_get_threads());
    if (o.resume) {
        int t = recorded_threads(o.out);
        if (t && t != cl_blas_get_threads())
            printf("warning: the run used %d threads, now %d: the result is no longer "
                   "bit-exact "
                   "with an uninterrupted run\n",
                   t, cl_blas_get_threads());
    }
    fflush(stdout);

    /* views */
    cl_data_aug aug = {.d = &train, .pad = 4, .flip = 1};
    cl_train_data tv, sv;
    cl_data_view(&train, o.data.opts.augment ? &aug : NULL, &tv);
    cl_data_view(&test, NULL, &sv);

    /* From here on Ctrl-C stops the run cleanly (checkpoint, status 130). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers = 1;
    cfg.stop = &g_stop;

    /* everything is validated: create the results folder */
    if (o.out) {
        created_out = !path_exists(o.out);
        if (!cl_opt_mkdir_p("--out", o.out)) {
            rc = 1;
            goto done;
        }
        if (!o.resume) {
            char cj[4200];
            snprintf(cj, sizeof cj, "%s/config.json", o.out);
            if ((rc = cl_cli_write_file(cj, json.text, json.len))) goto done;
        }
        cfg.out_dir = o.out;
        cfg.ckpt_dir = ckpt_dir;
    }

    cl_cli_progress prog;
    cl_cli_progress_init(&prog);
    cl_train_callback cbs[2] = {{cl_cli_progress_epoch, &prog}};
    int ncb = 1;
    if (use_study) {
        if ((st = cl_study_create(&study, &so, m, &tv, &sv, o.out, cfg.epochs)) !=
            CL_OK) {
            rc = cl_cli_fail(1, "study: %s", cl_errmsg());
            goto done;
        }
        int sched[64], ns = cl_study_schedule(&so, cfg.epochs, NULL);
        printf("study: analyzed epochs ");
        if (ns <= 64) {
            cl_study_schedule(&so, cfg.epochs, sched);
            for (int i = 0; i < ns; i++)
                printf("%s%d", i ? "," : "", sched[i]);
        } else {
            printf("%d of %d", ns, cfg.epochs);
        }
        printf("%s; BN %s mode in sweeps; mu_G %s mean of class means; NC4 %s bias; "
               "layers %s; "
               "plots %s\n",
               so.initial ? " (and 0)" : "",
               so.bn_train ? "train (batch statistics)" : "eval",
               so.nc.weighted_mean ? "weighted" : "unweighted",
               so.nc.nc4_bias ? "with" : "without", so.layers ? "on" : "off",
               so.plots ? "on" : "off");
        fflush(stdout);
        if ((st = cl_study_initial(study, m, &cfg)) != CL_OK) {
            rc = cl_cli_fail(1, "study (epoch 0): %s", cl_errmsg());
            goto done;
        }
        /* the study runs first: on analyzed epochs its sweeps replace the
         * trainer's eval passes, and the epoch line reads its values */
        cbs[1] = cbs[0];
        cbs[0] = (cl_train_callback){cl_study_epoch, study};
        ncb++;
        prog.study = study;
        cfg.skip_eval = cl_study_skip_eval;
        cfg.skip_eval_user = study;
    } else if (o.out) {
        printf("study: off (--analyze none)\n");
    }

    cl_train_hooks hooks = {cbs, ncb, cl_cli_progress_update, &prog};
    cl_train_result res;
    st = cl_train_run(&cfg, m, &tv, &sv, &hooks, &res);
    cl_cli_progress_clear(&prog);
    double ev[4];
    if (study && isnan(res.train_loss) && cl_study_eval_values(study, res.epochs_done, ev)) {
        res.train_loss = ev[0];
        res.train_acc = ev[1];
        res.test_loss = ev[2];
        res.test_acc = ev[3];
    }
    char took[32];
    cl_cli_format_duration(res.seconds, took, sizeof took);
    if (st == CL_OK && isnan(res.train_loss) && o.resume &&
        res.epochs_done >= cfg.epochs) {
        printf("done: the run in %s was already complete (%d epochs, %lld steps)\n",
               o.out, res.epochs_done, (long long)res.steps);
        rc = 0;
    } else if (st == CL_OK) {
        printf("done: %d epochs, %lld steps in %s; train %.4f/%.2f%%  test "
               "%.4f/%.2f%%%s%s\n",
               res.epochs_done, (long long)res.steps, took, res.train_loss,
               100 * res.train_acc, res.test_loss, 100 * res.test_acc,
               o.out ? "; results in " : "", o.out ? o.out : "");
        rc = 0;
    } else if (st == CL_EINTERRUPT) {
        fflush(stdout);
        rc = cl_cli_fail(130, "%s%s", cl_errmsg(),
                         o.out ? " (continue with --resume)" : "");
    } else {
        fflush(stdout);
        rc = cl_cli_fail(1, "%s", cl_errmsg());
        /* a run that failed before its first step leaves no folder behind */
        if (o.out && created_out && res.steps == 0 && !cl_ckpt_exists(ckpt_dir) &&
            !use_study) {
            char cj[4200];
            snprintf(cj, sizeof cj, "%s/config.json", o.out);
            unlink(cj);
            rmdir(ckpt_dir);
            rmdir(o.out);
        }
    }
done:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (study) cl_study_destroy(study);
    free(json.text);
    cl_free(model_text);
    cl_model_destroy(m);
    cl_dataset_free(&train);
    cl_dataset_free(&test);
    cl_modelcfg_free(&mc);
    return rc;
}
