/* Helpers shared by the study tests: see study_common.h. */
#include "study_common.h"

#include <criterion/criterion.h>
#include <string.h>

#include "collapse/mem.h"
#include "common.h"

cl_model *mlp(int in, int K, uint64_t seed)
{
    cl_layer_spec s[5] = {tc_spec(CL_LAYER_LINEAR, 8), tc_spec(CL_LAYER_RELU, 0),
                          tc_spec(CL_LAYER_LINEAR, 6), tc_spec(CL_LAYER_RELU, 0),
                          tc_spec(CL_LAYER_LINEAR, K)};
    s[4].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){in, 1, 1}, s, 5, &rng), CL_OK, "%s",
                 cl_errmsg());
    return m;
}

void toy_make(toy *t)
{
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    for (int i = 0; i < NTR + NTE; i++) {
        int c = i % KC;
        float *x = i < NTR ? t->xtr + i * DIN : t->xte + (i - NTR) * DIN;
        for (int d = 0; d < DIN; d++)
            x[d] = (float)((d == c ? 2.0 : 0.0) + 0.7 * cl_rng_normal(&rng));
        if (i < NTR)
            t->ytr[i] = c;
        else
            t->yte[i - NTR] = c;
    }
    t->train = (cl_train_data){NTR, {DIN, 1, 1}, KC, t->xtr, t->ytr, NULL, NULL, NULL};
    t->test = (cl_train_data){NTE, {DIN, 1, 1}, KC, t->xte, t->yte, NULL, NULL, NULL};
}

cl_train_config toy_cfg(const char *dir, int epochs)
{
    cl_train_config cfg = cl_train_config_default();
    cfg.epochs = epochs;
    cfg.batch = 16;
    cfg.out_dir = dir;
    cfg.sched = cl_sched_make(CL_SCHED_CONST, 0.2, epochs);
    return cfg;
}

/* Trains the toy MLP for `epochs` with the study writing to dir; with
 * skip, the study's sweeps replace the trainer's eval passes. */
void toy_run_ex(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep,
                int skip)
{
    cl_model *m = mlp(DIN, KC, 3);
    cl_train_config cfg = toy_cfg(dir, epochs);
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, o, m, &t->train, &t->test, dir, epochs), CL_OK,
                 "%s", cl_errmsg());
    if (skip) {
        cfg.skip_eval = cl_study_skip_eval;
        cfg.skip_eval_user = st;
    }
    cr_assert_eq(cl_study_initial(st, m, &cfg), CL_OK, "%s", cl_errmsg());
    cl_train_callback cb = {cl_study_epoch, st};
    cl_train_hooks hooks = {&cb, 1, NULL, NULL};
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t->train, &t->test, &hooks, &res), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_gt(cl_study_last_seconds(st), 0);
    cl_study_destroy(st);
    if (keep)
        *keep = m;
    else
        cl_model_destroy(m);
}

void toy_run(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep)
{
    toy_run_ex(t, dir, o, epochs, keep, 0);
}

double metric_of(const cl_csv *c, int64_t row, const char *name)
{
    int col = cl_csv_col(c, name);
    cr_assert_geq(col, 0, "%s", name);
    return c->num[row * c->ncols + col];
}
