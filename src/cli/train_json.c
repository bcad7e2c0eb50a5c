/* collapse train: config.json (written with io/json.c's writer, read back
 * with its reader). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/comm.h"
#include "collapse/blas.h"
#include "collapse/isa.h"
#include "collapse/json.h"
#include "train_opts.h"

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
    cl_json_int(j, "trainable_params", cl_model_trainable_params(m));
    cl_json_int(j, "layers", m->nlayers);
    cl_json_str(j, "spec", model_text);
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
    cl_json_str(&j, "isa", cl_isa_name(cl_isa_current())); /* hand-written kernels' path */
    const char *conv = getenv("COLLAPSE_CONV"); /* checked at start-up (main.c) */
    cl_json_str(&j, "conv", conv && *conv ? conv : "auto");
    cl_json_str(&j, "blas_threading", cl_blas_threading());
    cl_json_int(&j, "threads", cl_blas_get_threads());
    if (cl_comm_is_mpi_build()) cl_json_int(&j, "ranks", cl_comm_size(cfg->comm)); /* issue 12 */
    char hash[24];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)cfg->config_hash);
    cl_json_str(&j, "options_hash", hash);
    cl_cli_fields_json sink;
    cl_cli_fields_json_init(&sink, &j);
    cl_json_obj_begin(&j, "options");
    cl_cli_train_fields(&sink.f, o, cfg);
    cl_json_obj_end(&j);
    cl_cli_data_json(&j, "data", &o->data, train, test);
    json_model(&j, o, m, model_text);
    cl_json_obj_begin(&j, "run");
    cl_json_int(&j, "max_steps", cfg->max_steps);
    cl_json_int(&j, "ckpt_every", cfg->ckpt_every);
    if (cfg->keep_every) cl_json_int(&j, "keep_checkpoints", cfg->keep_every); /* not hashed */
    cl_json_int(&j, "eval_batch", cfg->eval_batch);
    cl_json_obj_end(&j);
    if (so) {
        cl_json_obj_begin(&j, "study");
        cl_cli_study_fields(&sink.f, o, so);
        cl_json_obj_end(&j);
    }
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
