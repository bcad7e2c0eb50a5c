/* collapse train: the resume hash over a canonical serialization of the
 * options that change a result (not over config.json text, so formatting
 * can change freely). Each field adds its name (with the NUL), a type tag
 * and its value: integers and doubles as 8 little-endian bytes (a double
 * by its bits), strings with a presence byte and the NUL, enums by name.
 * Adding a field changes every hash (old checkpoints are then refused). */
#include <string.h>

#include "collapse/ckpt.h"
#include "collapse/loss.h"
#include "collapse/optim.h"
#include "collapse/sched.h"
#include "train_opts.h"

static void put(uint64_t *h, const void *p, size_t n)
{
    *h = cl_fnv1a(*h, p, n);
}

static void field(uint64_t *h, const char *name, char tag)
{
    put(h, name, strlen(name) + 1);
    put(h, &tag, 1);
}

static void put_u64(uint64_t *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(h, b, 8);
}

static void h_int(uint64_t *h, const char *name, int64_t v)
{
    field(h, name, 'i');
    put_u64(h, (uint64_t)v);
}

static void h_u64(uint64_t *h, const char *name, uint64_t v)
{
    field(h, name, 'u');
    put_u64(h, v);
}

static void h_dbl(uint64_t *h, const char *name, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    field(h, name, 'd');
    put_u64(h, bits);
}

static void h_str(uint64_t *h, const char *name, const char *s)
{
    field(h, name, 's');
    unsigned char present = s != NULL;
    put(h, &present, 1);
    if (s) put(h, s, strlen(s) + 1);
}

static void hash_train(uint64_t *h, const cl_train_config *cfg)
{
    h_int(h, "epochs", cfg->epochs);
    h_int(h, "batch", cfg->batch);
    h_u64(h, "seed", cfg->seed);
    h_str(h, "optimizer", cl_optim_kind_name(cfg->optim.kind));
    h_dbl(h, "momentum", cfg->optim.momentum);
    h_int(h, "nesterov", cfg->optim.nesterov);
    h_dbl(h, "beta1", cfg->optim.beta1);
    h_dbl(h, "beta2", cfg->optim.beta2);
    h_dbl(h, "eps", cfg->optim.eps);
    h_dbl(h, "wd", cfg->optim.wd[0]);
    h_dbl(h, "wd_classifier", cfg->optim.wd[1]);
    h_str(h, "schedule", cl_sched_kind_name(cfg->sched.kind));
    h_dbl(h, "lr", cfg->sched.lr);
    h_int(h, "milestones", cfg->sched.nmilestones);
    for (int i = 0; i < cfg->sched.nmilestones; i++)
        h_dbl(h, "milestone", cfg->sched.milestones[i]);
    h_dbl(h, "gamma", cfg->sched.gamma);
    h_dbl(h, "min_lr", cfg->sched.min_lr);
    h_dbl(h, "warmup", cfg->sched.warmup);
    h_str(h, "loss", cl_loss_kind_name(cfg->loss.kind));
    h_dbl(h, "loss_param", cfg->loss.param);
}

static void hash_data(uint64_t *h, const cl_cli_data *d)
{
    const cl_data_opts *o = &d->opts;
    h_str(h, "data", d->name);
    h_str(h, "data_dir", d->dir);
    h_int(h, "train_per_class", o->train_per_class);
    h_int(h, "test_per_class", o->test_per_class);
    h_dbl(h, "random_labels", o->random_labels);
    h_str(h, "random_labels_mode",
          o->random_labels_mode == CL_RANDLABEL_UNIFORM ? "uniform" : "permute");
    h_int(h, "random_pixels", o->random_pixels);
    h_int(h, "resize", o->resize);
    h_int(h, "normalize", o->normalize);
    h_int(h, "augment", o->augment);
    h_u64(h, "data_seed", o->seed);
}

/* The study as configured by the flags (`initial` as asked for: a resumed
 * session never redoes epoch 0, but the run it continues did). */
static void hash_study(uint64_t *h, const cl_cli_train_opts *o, const cl_study_opts *so)
{
    h_int(h, "study", so != NULL);
    if (!so) return;
    h_int(h, "analyze_every", so->every);
    h_int(h, "bn_train", so->bn_train);
    h_int(h, "layers", so->layers);
    h_int(h, "plots", so->plots);
    h_int(h, "initial", !o->no_initial);
    h_int(h, "save_features", so->save_features);
    h_int(h, "weighted_mean", so->nc.weighted_mean);
    h_int(h, "nc4_bias", so->nc.nc4_bias);
}

uint64_t cl_cli_train_hash(const cl_cli_train_opts *o, const cl_train_config *cfg,
                           const cl_study_opts *so, const char *model_text)
{
    uint64_t h = CL_FNV_INIT;
    h_str(&h, "collapse train options", "1");
    hash_train(&h, cfg);
    h_str(&h, "classifier", o->classifier);
    h_str(&h, "etf_mode", o->etf_mode ? o->etf_mode : "rotate");
    h_int(&h, "feature_dim", o->feature_dim);
    h_int(&h, "classifier_bias", !o->no_bias && strcmp(o->classifier, "etf"));
    hash_data(&h, &o->data);
    hash_study(&h, o, so);
    h_str(&h, "model", model_text);
    return h ? h : 1; /* 0 means "not checked" in the trainer */
}
