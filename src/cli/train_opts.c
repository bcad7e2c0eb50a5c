/* collapse train: the flags, their defaults and the checks between them. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collapse/builders.h"
#include "collapse/etf.h"
#include "opts.h"
#include "train_opts.h"

void cl_cli_train_usage(FILE *f)
{
    char archs[128];
    cl_arch_names(archs, sizeof archs, " ");
    fprintf(
        f,
        "usage: collapse train (--model FILE.cfg | --arch NAME) --data NAME [options]\n\n"
        "model:\n"
        "  --model FILE              model file (models/*.cfg)\n"
        "  --arch NAME               %s\n"
        "  --classifier learned|etf|cosine  learned linear head (default), fixed simplex\n"
        "                            ETF, or cosine head T <h/|h|, w/|w|> (no bias)\n"
        "  --temperature T           the cosine head's logit scale (needed with cosine)\n"
        "  --etf-mode pad|rotate     how the ETF sits in the feature space (default rotate)\n"
        "  --feature-dim DIM         width of the classifier's input\n"
        "  --no-classifier-bias      learned head without bias\n"
        "training:\n"
        "  --epochs E (30)  --batch B (128)  --lr LR (0.1 sgd, 1e-3 adam/adamw)\n"
        "  --optimizer sgd|adam|adamw (sgd)  --momentum M (0.9)  --nesterov\n"
        "  --wd WD (5e-4 sgd, 0 adam, 1e-2 adamw)  --wd-classifier WD (= --wd)\n"
        "  --schedule step|step=E1,E2,..|cosine|cosine=MIN|const (step: /10 at 1/3, "
        "2/3)\n"
        "  --warmup W                linear warmup over W epochs\n"
        "  --loss ce|mse|mse=S|ls=A|focal=G|clm (ce; clm: ordinal cumulative link,\n"
        "                            1-unit latent head + K-1 thresholds)\n"
        "  --loss pal|pal=mean       multi-label (K-hot) data: pick-all-label, CE summed\n"
        "                            over the labels or averaged (= ce on one label)\n"
        "  --clm-thresholds fixed[=S]|learned[=S]  clm thresholds, evenly spaced by S\n"
        "                            (4), centred on 0; learned ones stay ordered\n"
        "  --task classification|regression  regression: the head outputs the data's\n"
        "                            targets, loss (1/2) sum_j (p_j - t_j)^2, R^2 for acc\n"
        "  --threads T  --max-steps N  --eval-batch B\n"
        "fine-tuning (docs/training.md, \"Fine-tuning\"):\n"
        "  --init-from RUN           start from the body of a trained run (its newest\n"
        "                            good checkpoint); the head is new (this run's seed)\n"
        "  --freeze-through LAYER    train nothing up to and including LAYER\n"
        "  --frozen-bn eval|train    BN in the frozen layers: running statistics (eval,\n"
        "                            default) or batch statistics, updated (train)\n"
        "  --sync-bn                 data-parallel runs (mpirun, collapse-mpi): BN\n"
        "                            statistics of the global batch (default per rank)\n"
        "results:\n"
        "  --out DIR                 results folder (config.json, checkpoint/, metrics)\n"
        "  --resume                  continue the run in --out bit-exactly\n"
        "  --ckpt-every N            checkpoint every N epochs (1)\n"
        "  --keep-checkpoints N      also keep the checkpoint of every N-th epoch in\n"
        "                            DIR/checkpoint/epoch-EEEE (for probe --all-checkpoints)\n"
        "collapse study (needs --out):\n"
        "  --analyze log|all|none    analyzed epochs: log-spaced (default), every, none\n"
        "  --analyze-every N         every N epochs (and the last)\n"
        "  --bn-mode eval|train      BN statistics in the analysis sweeps (eval)\n"
        "  --no-layers  --no-plots  --no-initial  --no-features\n"
        "  --gnc                     also the generalized-NC keys (gnc1-3, hsu_log_*;\n"
        "                            on by itself when the features have < K-1 dims)\n"
        "  --minority-classes LIST   the minority set of the imbalance keys, e.g. 5-9\n"
        "                            (default: classes with fewer training samples than\n"
        "                            the largest; with a list, balanced runs get them too)\n",
        archs);
    cl_cli_data_usage(f);
}

/* The flag loop: 0, -1 after --help, else the exit status. */
static int parse_flags(int argc, char **argv, cl_cli_train_opts *o)
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
            cl_cli_train_usage(stdout);
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
        STR("--clm-thresholds", o->clm_thresholds)
        STR("--out", o->out)
        STR("--analyze", o->analyze)
        STR("--bn-mode", o->bn_mode)
        STR("--task", o->task)
        STR("--init-from", o->init_from)
        STR("--freeze-through", o->freeze_through)
        STR("--frozen-bn", o->frozen_bn)
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
        NUM("--temperature", cl_opt_double("--temperature", v, 1e-6, 1e6, &o->temperature))
        NUM("--feature-dim", cl_opt_int("--feature-dim", v, 1, 1 << 20, &o->feature_dim))
        NUM("--threads", cl_opt_int("--threads", v, 1, 1024, &o->threads))
        NUM("--ckpt-every", cl_opt_int("--ckpt-every", v, 1, 1000000, &o->ckpt_every))
        NUM("--keep-checkpoints",
            cl_opt_int("--keep-checkpoints", v, 1, 1000000, &o->keep_ckpt))
        NUM("--max-steps", cl_opt_i64("--max-steps", v, 1, INT64_MAX, &o->max_steps))
        NUM("--analyze-every",
            cl_opt_int("--analyze-every", v, 1, 1000000, &o->analyze_every))
        NUM("--minority-classes",
            (o->minority_classes = v, !cl_opt_class_list("--minority-classes", v,
                                                           CL_DATA_MAX_CLASSES, o->minority_set)))
#undef STR
#undef NUM
        if (cl_opt_flag(argv, i, "--nesterov"))
            o->nesterov = 1;
        else if (cl_opt_flag(argv, i, "--no-classifier-bias"))
            o->no_bias = 1;
        else if (cl_opt_flag(argv, i, "--resume"))
            o->resume = 1;
        else if (cl_opt_flag(argv, i, "--sync-bn"))
            o->sync_bn = 1;
        else if (cl_opt_flag(argv, i, "--no-layers"))
            o->no_layers = 1;
        else if (cl_opt_flag(argv, i, "--no-plots"))
            o->no_plots = 1;
        else if (cl_opt_flag(argv, i, "--no-initial"))
            o->no_initial = 1;
        else if (cl_opt_flag(argv, i, "--no-features"))
            o->no_features = 1;
        else if (cl_opt_flag(argv, i, "--gnc"))
            o->gnc = 1;
        else if (argv[i][0] == '-')
            return cl_cli_fail(
                2, "train: unknown option '%s' (try collapse train --help)", argv[i]);
        else
            return cl_cli_fail(
                2, "train: unexpected argument '%s' (try collapse train --help)",
                argv[i]);
    }
    return 0;
}

/* Checks between flags. */
static int check(cl_cli_train_opts *o)
{
    if (!o->model_path == !o->arch)
        return cl_cli_fail(2, "train: give exactly one of --model FILE and --arch NAME");
    if (cl_cli_data_check(&o->data)) return 2;
    if (strcmp(o->classifier, "learned") && strcmp(o->classifier, "etf") &&
        strcmp(o->classifier, "cosine"))
        return cl_cli_fail(2, "--classifier: unknown head '%s' (learned, etf or cosine)",
                           o->classifier);
    if (!strcmp(o->classifier, "cosine") && !(o->temperature > 0))
        return cl_cli_fail(2, "--classifier cosine needs --temperature T (the logit scale)");
    if (o->temperature > 0 && strcmp(o->classifier, "cosine"))
        return cl_cli_fail(2, "--temperature needs --classifier cosine");
    if (o->no_bias && !strcmp(o->classifier, "cosine"))
        return cl_cli_fail(
            2, "--no-classifier-bias is implied by --classifier cosine (no bias)");
    if (o->etf_mode && cl_etf_mode_parse(o->etf_mode, &(cl_etf_mode){0}) != CL_OK)
        return cl_cli_fail(2, "--etf-mode: unknown mode '%s' (pad or rotate)",
                           o->etf_mode);
    if (o->etf_mode && strcmp(o->classifier, "etf"))
        return cl_cli_fail(2, "--etf-mode needs --classifier etf");
    if (o->no_bias && !strcmp(o->classifier, "etf"))
        return cl_cli_fail(
            2, "--no-classifier-bias is implied by --classifier etf (no bias)");
    o->clm = !strcmp(o->loss, "clm");
    if (o->clm_thresholds && !o->clm)
        return cl_cli_fail(2, "--clm-thresholds needs --loss clm");
    if (o->clm && cl_cli_clm_thresholds_parse(o->clm_thresholds ? o->clm_thresholds : "fixed",
                                              &o->clm_learned, &o->clm_spacing))
        return 2;
    if (o->clm && (strcmp(o->classifier, "learned") || o->no_bias))
        return cl_cli_fail(2, "--loss clm builds its own head (a 1-unit latent without bias "
                              "and thresholds): drop %s",
                           o->no_bias ? "--no-classifier-bias" : "--classifier");
    if (o->clm && o->gnc) /* the 1-unit latent head has no K rows to compare */
        return cl_cli_fail(2, "--gnc: not with --loss clm (its keys are onc1-3)");
    if (o->keep_ckpt && !o->out)
        return cl_cli_fail(2, "--keep-checkpoints needs --out DIR (they go to DIR/checkpoint)");
    if (o->resume && !o->out)
        return cl_cli_fail(2, "--resume needs --out DIR (the run to continue)");
    if (o->analyze && strcmp(o->analyze, "log") && strcmp(o->analyze, "all") &&
        strcmp(o->analyze, "none"))
        return cl_cli_fail(2, "--analyze: unknown value '%s' (log, all or none)",
                           o->analyze);
    if (o->analyze && o->analyze_every)
        return cl_cli_fail(2, "--analyze and --analyze-every exclude each other");
    if ((o->data.targets || o->data.test_targets) && !o->data.ordinal_bins &&
        !(o->task && !strcmp(o->task, "regression")))
        return cl_cli_fail(2, "%s: targets are used by --task regression or --ordinal-bins K",
                           o->data.targets ? "--targets" : "--test-targets");
    if (o->task && strcmp(o->task, "classification") && strcmp(o->task, "regression"))
        return cl_cli_fail(2, "--task: unknown task '%s' (classification or regression)",
                           o->task);
    if (o->task && !strcmp(o->task, "regression")) {
        if (strcmp(o->classifier, "learned"))
            return cl_cli_fail(2, "--task regression needs --classifier learned");
        /* the regression loss is fixed (train.h): any other --loss would be ignored */
        if (strcmp(o->loss, "ce") && strcmp(o->loss, "mse"))
            return cl_cli_fail(2, "--task regression trains on (1/2) sum_j (p_j - t_j)^2: "
                                  "drop --loss %s", o->loss);
        if (o->gnc)
            return cl_cli_fail(2, "--gnc: classification keys, not with --task regression "
                                  "(which writes nrc1-3)");
        if (o->minority_classes)
            return cl_cli_fail(2, "--minority-classes: classification keys, not with --task "
                                  "regression");
    }
    if (o->frozen_bn && !o->freeze_through)
        return cl_cli_fail(2, "--frozen-bn needs --freeze-through LAYER");
    if (o->frozen_bn && strcmp(o->frozen_bn, "eval") && strcmp(o->frozen_bn, "train"))
        return cl_cli_fail(2, "--frozen-bn: unknown mode '%s' (eval or train)", o->frozen_bn);
    if (o->bn_mode) {
        if (!strcmp(o->bn_mode, "train"))
            o->bn_train = 1;
        else if (strcmp(o->bn_mode, "eval"))
            return cl_cli_fail(2, "--bn-mode: unknown mode '%s' (eval or train)",
                               o->bn_mode);
    }
    return 0;
}

int cl_cli_train_parse(int argc, char **argv, cl_cli_train_opts *o)
{
    int rc = parse_flags(argc, argv, o);
    return rc ? rc : check(o);
}
