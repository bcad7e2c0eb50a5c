/* The per-epoch collapse study (study.h) against the epoch it analyses:
 * MNIST MLP (3 x 1024), 500 training images per class (--quick: 50), batch
 * 128. Times one training epoch (alone, and with the trainer's eval passes
 * over train and test) and one analysis: penultimate only, every tap cached
 * (one sweep), every tap streamed (two sweeps), cached + figures. Prints
 * each as a fraction of the epoch. Skipped (status 0) without MNIST. */
#include <math.h>
#include <unistd.h>

#include "bench_common.h"
#include "collapse/data.h"
#include "collapse/modelcfg.h"
#include "collapse/study.h"
#include "collapse/train.h"

typedef struct {
    cl_model *m;
    cl_train_config cfg;
    const cl_train_data *train, *test;
} epoch_call;

static void epoch_run(void *p)
{
    epoch_call *c = p;
    cl_train_result res;
    bench_check(cl_train_run(&c->cfg, c->m, c->train, c->test, NULL, &res), "cl_train_run");
}

typedef struct {
    cl_study *st;
    cl_epoch_info info;
} study_call;

static void study_run(void *p)
{
    study_call *c = p;
    bench_check(cl_study_epoch(&c->info, c->st), "cl_study_epoch");
}

int main(int argc, char **argv)
{
    bench_env env = bench_init(argc, argv, "collapse study: analysis cost vs a training epoch");
    cl_dataset tr, te;
    cl_data_opts dopt = cl_data_opts_default();
    dopt.train_per_class = env.quick ? 50 : 500;
    dopt.test_per_class = dopt.train_per_class / 5;
    if (cl_data_load("mnist", NULL, 1, &tr) != CL_OK) {
        printf("# skipped: %s (make data)\n", cl_errmsg());
        return 0;
    }
    bench_check(cl_data_load("mnist", NULL, 0, &te), "mnist test");
    bench_check(cl_data_prepare(&tr, &te, &dopt), "cl_data_prepare");
    cl_train_data tv, sv;
    cl_data_view(&tr, NULL, &tv);
    cl_data_view(&te, NULL, &sv);
    cl_modelcfg mc;
    bench_check(cl_modelcfg_from_arch("mlp", &mc), "mlp");
    cl_head_opts head = {0};
    head.classes = tr.classes;
    head.bias = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m;
    bench_check(cl_modelcfg_build(&mc, tr.shape, &head, &rng, &m, NULL), "build");

    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/collapse_bench_study_%d", (int)getpid());
    epoch_call ec = {m, cl_train_config_default(), &tv, &sv};
    ec.cfg.epochs = 1;
    ec.cfg.eval_train = ec.cfg.eval_test = 0;
    double t_train = bench_min(epoch_run, &ec, 1, 3, 10);
    ec.cfg.eval_train = ec.cfg.eval_test = 1;
    double t_full = bench_min(epoch_run, &ec, 1, 3, 10);
    printf("mlp mnist N=%lld Ntest=%lld batch %d\n", (long long)tv.n, (long long)sv.n,
           ec.cfg.batch);
    printf("  %-40s %7.3f s\n", "training epoch", t_train);
    printf("  %-40s %7.3f s\n", "training epoch + trainer's eval passes", t_full);
    printf("  (net = study minus the eval passes it replaces, per training epoch)\n");

    const char *what[4] = {"study: penultimate only", "study: all taps cached (1 sweep)",
                           "study: all taps streamed (2 sweeps)", "study: cached + figures"};
    for (int v = 0; v < 4; v++) {
        cl_study_opts o = cl_study_opts_default();
        o.layers = v > 0;
        o.plots = v == 3;
        o.save_features = 0;
        if (v == 2) o.cache_mb = 0;
        study_call sc = {NULL, {0}};
        bench_check(cl_study_create(&sc.st, &o, m, &tv, &sv, dir, 10), "cl_study_create");
        sc.info.epoch = sc.info.epochs = 10;
        sc.info.model = m;
        sc.info.train = &tv;
        sc.info.test = &sv;
        sc.info.cfg = &ec.cfg;
        sc.info.lr = 0.1;
        sc.info.train_loss = sc.info.train_acc = sc.info.test_loss = sc.info.test_acc = 0.5;
        sc.info.seconds = 1e9; /* always draw the figures */
        double t = bench_min(study_run, &sc, 1, 3, 10);
        /* collapse train skips its own eval passes on analyzed epochs (the
         * study's sweep measures the same loss/accuracy): what a run pays
         * on top of evaluating every epoch is t - (t_full - t_train) */
        printf("  %-40s %7.3f s  = %.2f of the training epoch, %.2f with its eval; net %.2f\n",
               what[v], t, t / t_train, t / t_full, (t - (t_full - t_train)) / t_train);
        cl_study_destroy(sc.st);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    cl_model_destroy(m);
    cl_modelcfg_free(&mc);
    cl_dataset_free(&tr);
    cl_dataset_free(&te);
    return 0;
}
