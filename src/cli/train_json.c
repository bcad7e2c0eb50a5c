/* collapse train: config.json (written with io/json.c's writer, read back
 * with its reader). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/json.h"
#include "collapse/loss.h"
#include "collapse/optim.h"
#include "collapse/sched.h"
#include "train_opts.h"

/* The options that determine the result, as given (the hash covers them). */
static void json_options(cl_json *j, const cl_cli_train_opts *o, const cl_train_config *cfg)
{
    char loss[64];
    cl_loss_format(&cfg->loss, loss, sizeof loss);
    cl_json_obj_begin(j, "options");
    cl_json_int(j, "epochs", cfg->epochs);
    cl_json_int(j, "batch", cfg->batch);
    cl_json_str(j, "optimizer", cl_optim_kind_name(cfg->optim.kind));
    cl_json_num(j, "lr", cfg->sched.lr);
    cl_json_num(j, "momentum", cfg->optim.momentum);
    cl_json_bool(j, "nesterov", cfg->optim.nesterov);
    cl_json_num(j, "beta1", cfg->optim.beta1);
    cl_json_num(j, "beta2", cfg->optim.beta2);
    cl_json_num(j, "eps", cfg->optim.eps);
    cl_json_num(j, "wd", cfg->optim.wd[0]);
    cl_json_num(j, "wd_classifier", cfg->optim.wd[1]);
    cl_json_str(j, "schedule", cl_sched_kind_name(cfg->sched.kind));
    cl_json_arr_begin(j, "milestones");
    for (int i = 0; i < cfg->sched.nmilestones; i++)
        cl_json_num(j, NULL, cfg->sched.milestones[i]);
    cl_json_arr_end(j);
    cl_json_num(j, "gamma", cfg->sched.gamma);
    cl_json_num(j, "min_lr", cfg->sched.min_lr);
    cl_json_num(j, "warmup", cfg->sched.warmup);
    cl_json_str(j, "loss", loss);
    cl_json_str(j, "classifier", o->classifier);
    cl_json_str(j, "etf_mode", o->etf_mode ? o->etf_mode : "rotate");
    cl_json_int(j, "feature_dim", o->feature_dim);
    cl_json_bool(j, "classifier_bias", !o->no_bias && strcmp(o->classifier, "etf"));
    cl_json_u64(j, "seed", cfg->seed);
    cl_cli_data_json(j, "data", &o->data, NULL, NULL);
    cl_json_obj_end(j);
}

static void json_str_or_null(cl_json *j, const char *key, const char *s)
{
    if (s)
        cl_json_str(j, key, s);
    else
        cl_json_null(j, key);
}

static void json_model(cl_json *j, const cl_cli_train_opts *o, const cl_model *m,
                       const char *model_text)
{
    cl_json_obj_begin(j, "model");
    json_str_or_null(j, "file", o->model_path);
    json_str_or_null(j, "arch", o->arch);
    cl_json_int(j, "params", m->nparams);
    cl_json_int(j, "layers", m->nlayers);
    cl_json_str(j, "spec", model_text);
    cl_json_obj_end(j);
}

static void json_study(cl_json *j, const cl_study_opts *so)
{
    cl_json_obj_begin(j, "study");
    cl_json_str(j, "analyze", so->none ? "none" : so->every ? "every" : "log");
    cl_json_int(j, "every", so->every);
    cl_json_str(j, "bn_mode", so->bn_train ? "train" : "eval");
    cl_json_bool(j, "layers", so->layers);
    cl_json_bool(j, "plots", so->plots);
    cl_json_bool(j, "initial", so->initial);
    cl_json_bool(j, "save_features", so->save_features);
    cl_json_str(j, "mu_G", so->nc.weighted_mean ? "weighted" : "unweighted");
    cl_json_bool(j, "nc4_bias", so->nc.nc4_bias);
    cl_json_obj_end(j);
}

int cl_cli_train_config_json(int argc, char **argv, const cl_cli_train_opts *o,
                             const cl_train_config *cfg, const char *model_text,
                             const cl_model *m, const cl_dataset *train,
                             const cl_dataset *test, const cl_study_opts *so,
                             cl_cli_membuf *out)
{
    FILE *f = open_memstream(&out->text, &out->len);
    if (!f) return cl_cli_fail(1, "out of memory");
    cl_json j;
    cl_json_init(&j, f, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_arr_begin(&j, "command");
    for (int i = 0; i < argc; i++)
        cl_json_str(&j, NULL, i == 0 ? "collapse train" : argv[i]);
    cl_json_arr_end(&j);
    cl_json_str(&j, "version", CL_VERSION);
    cl_json_str(&j, "git", CL_GIT);
    cl_json_str(&j, "blas_core", cl_blas_core());
    cl_json_str(&j, "blas_threading", cl_blas_threading());
    cl_json_int(&j, "threads", cl_blas_get_threads());
    char hash[24];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)cfg->config_hash);
    cl_json_str(&j, "options_hash", hash);
    json_options(&j, o, cfg);
    cl_cli_data_json(&j, "data", &o->data, train, test);
    json_model(&j, o, m, model_text);
    cl_json_obj_begin(&j, "run");
    cl_json_int(&j, "max_steps", cfg->max_steps);
    cl_json_int(&j, "ckpt_every", cfg->ckpt_every);
    cl_json_int(&j, "eval_batch", cfg->eval_batch);
    cl_json_obj_end(&j);
    if (so) json_study(&j, so);
    cl_json_obj_end(&j);
    cl_status st = cl_json_finish(&j, "config.json");
    fclose(f);
    if (st != CL_OK) {
        free(out->text);
        out->text = NULL;
        return cl_cli_fail(1, "%s", cl_errmsg());
    }
    return 0;
}

/* DIR/config.json parsed into *root; 0 also when there is none (*root NULL). */
static int read_config(const char *dir, cl_json_value **root)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    *root = NULL;
    if (access(path, F_OK) != 0) return 0;
    if (cl_json_parse_file(path, root) != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    return 0;
}

int cl_cli_train_check_resume(const char *dir, uint64_t hash)
{
    cl_json_value *root;
    int rc = read_config(dir, &root);
    const char *was = cl_json_as_str(cl_json_get(root, "options_hash"));
    char now[24];
    snprintf(now, sizeof now, "%016llx", (unsigned long long)hash);
    if (!rc && was && strcmp(was, now))
        rc = cl_cli_fail(1,
                         "--resume: the options differ from the run in %s (options_hash "
                         "%s in its config.json, now %s); resume needs the same options",
                         dir, was, now);
    cl_json_value_free(root);
    return rc;
}

int cl_cli_train_recorded_threads(const char *dir)
{
    cl_json_value *root;
    int64_t t = 0;
    if (read_config(dir, &root) || !cl_json_as_i64(cl_json_get(root, "threads"), &t) ||
        t < 0 || t > 1 << 20)
        t = 0;
    cl_json_value_free(root);
    return (int)t;
}
