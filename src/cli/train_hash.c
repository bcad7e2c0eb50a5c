/* collapse train: the options that determine a run's result, walked once
 * for config.json and for the resume hash (fields.h). */
#include <string.h>

#include "collapse/loss.h"
#include "collapse/optim.h"
#include "collapse/sched.h"
#include "train_opts.h"

void cl_cli_train_fields(cl_cli_fields *f, const cl_cli_train_opts *o,
                         const cl_train_config *cfg)
{
    char loss[64];
    cl_loss_format(&cfg->loss, loss, sizeof loss); /* exact: %.17g */
    f->i64(f, "epochs", cfg->epochs);
    f->i64(f, "batch", cfg->batch);
    f->str(f, "optimizer", cl_optim_kind_name(cfg->optim.kind));
    f->dbl(f, "lr", cfg->sched.lr);
    f->dbl(f, "momentum", cfg->optim.momentum);
    f->boolean(f, "nesterov", cfg->optim.nesterov);
    f->dbl(f, "beta1", cfg->optim.beta1);
    f->dbl(f, "beta2", cfg->optim.beta2);
    f->dbl(f, "eps", cfg->optim.eps);
    f->dbl(f, "wd", cfg->optim.wd[0]);
    f->dbl(f, "wd_classifier", cfg->optim.wd[1]);
    f->str(f, "schedule", cl_sched_kind_name(cfg->sched.kind));
    f->begin(f, "milestones", '[');
    for (int i = 0; i < cfg->sched.nmilestones; i++)
        f->dbl(f, NULL, cfg->sched.milestones[i]);
    f->end(f, '[');
    f->dbl(f, "gamma", cfg->sched.gamma);
    f->dbl(f, "min_lr", cfg->sched.min_lr);
    f->dbl(f, "warmup", cfg->sched.warmup);
    f->str(f, "loss", loss);
    f->str(f, "classifier", o->classifier);
    f->str(f, "etf_mode", o->etf_mode ? o->etf_mode : "rotate");
    f->i64(f, "feature_dim", o->feature_dim);
    f->boolean(f, "classifier_bias",
               !o->no_bias && strcmp(o->classifier, "etf") && strcmp(o->classifier, "cosine"));
    if (!strcmp(o->classifier, "cosine")) f->dbl(f, "temperature", o->temperature);
    if (o->sync_bn) f->boolean(f, "sync_bn", 1); /* only when on: other runs keep their hash */
    if (o->clm) { /* only for --loss clm: other runs keep their fields (and hash) */
        f->str(f, "clm_thresholds", o->clm_learned ? "learned" : "fixed");
        f->dbl(f, "clm_spacing", o->clm_spacing);
    }
    f->u64(f, "seed", cfg->seed);
    f->begin(f, "data", '{');
    cl_cli_data_fields(f, &o->data);
    f->end(f, '{');
    if (cfg->task == CL_TASK_REGRESS) f->str(f, "task", "regression"); /* only when set */
    cl_cli_train_finetune_fields(f, o); /* only when set, as above */
}

/* `initial` as the flags ask: a resumed session never redoes epoch 0, but
 * the run it continues did. */
void cl_cli_study_fields(cl_cli_fields *f, const cl_cli_train_opts *o, const cl_study_opts *so)
{
    f->str(f, "analyze", so->none ? "none" : so->every ? "every" : "log");
    f->i64(f, "every", so->every);
    f->str(f, "bn_mode", so->bn_train ? "train" : "eval");
    f->boolean(f, "layers", so->layers);
    f->boolean(f, "plots", so->plots);
    f->boolean(f, "initial", !o->no_initial);
    f->boolean(f, "save_features", so->save_features);
    f->str(f, "mu_G", so->nc.weighted_mean ? "weighted" : "unweighted");
    f->boolean(f, "nc4_bias", so->nc.nc4_bias);
    if (so->nc.gnc) f->boolean(f, "gnc", 1); /* only when on: older runs keep their hash */
    if (o->minority_classes) f->str(f, "minority_classes", o->minority_classes); /* same */
}

uint64_t cl_cli_train_hash(const cl_cli_train_opts *o, const cl_train_config *cfg,
                           const cl_study_opts *so, const char *model_text)
{
    cl_cli_fields_hash s;
    cl_cli_fields_hash_init(&s);
    cl_cli_fields *f = &s.f;
    f->str(f, "collapse train options", "1");
    f->begin(f, "options", '{');
    cl_cli_train_fields(f, o, cfg);
    f->end(f, '{');
    if (so) {
        f->begin(f, "study", '{');
        cl_cli_study_fields(f, o, so);
        f->end(f, '{');
    } else {
        f->str(f, "study", NULL);
    }
    f->str(f, "model", model_text);
    return s.h ? s.h : 1; /* 0 means "not checked" in the trainer */
}
