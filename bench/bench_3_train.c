/* Whole-epoch throughput of the training loop (cl_train_run, eval passes
 * and checkpoints off) against the raw train-step throughput of the same
 * model on the same machine a moment earlier: the loop (shuffle, gather,
 * loss, finiteness checks, schedule) should add nothing measurable.
 *   ResNet-20 on a CIFAR-10 subset (256 per class), plain and augmented
 *   MLP 784-1024x3-10 on an MNIST subset (1000 per class)
 * Then the per-epoch collapse study (cl_study_epoch, every epoch) on the MLP
 * MNIST setting, as a fraction of the training epoch time.
 * Real data through cl_data_load ($COLLAPSE_DATA or data/, `make data`);
 * without it, random data of the same shape (said in the output). */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_layers.h"
#include "collapse/data.h"
#include "collapse/study.h"
#include "collapse/train.h"

/* A dataset: real (prepared subset, normalised) or random of the same shape. */
static int load_data(const char *name, int64_t per_class, cl_dataset *tr, cl_dataset *te,
                     cl_shape shape, int64_t n_fallback)
{
    memset(tr, 0, sizeof *tr);
    memset(te, 0, sizeof *te);
    cl_status st = cl_data_load(name, NULL, 1, tr);
    if (st == CL_OK) st = cl_data_load(name, NULL, 0, te);
    if (st == CL_OK) {
        cl_data_opts o = cl_data_opts_default();
        o.train_per_class = per_class;
        o.test_per_class = per_class / 5;
        o.normalize = 1;
        st = cl_data_prepare(tr, te, &o);
    }
    if (st == CL_OK) {
        printf("data: %s from %s, %lld train / %lld test samples (subset, normalised)\n", name,
               cl_data_root(), (long long)tr->n, (long long)te->n);
        return 1;
    }
    printf("data: %s not loadable (%s); RANDOM data of the same shape instead\n", name,
           cl_errmsg());
    cl_dataset_free(tr);
    cl_dataset_free(te);
    cl_dataset *ds[2] = {tr, te};
    for (int s = 0; s < 2; s++) {
        cl_dataset *d = ds[s];
        d->n = s ? n_fallback / 5 : n_fallback;
        d->shape = shape;
        d->classes = 10;
        d->x = bench_alloc(sizeof(float) * (size_t)(d->n * cl_shape_size(shape)), "x");
        d->y = bench_alloc(sizeof(int32_t) * (size_t)d->n, "y");
        bench_fill(d->x, d->n * cl_shape_size(shape), 3 + s);
        for (int64_t i = 0; i < d->n; i++) d->y[i] = (int32_t)(i % 10);
    }
    return 0;
}

typedef struct {
    double best_ips, best_sec;
    int64_t n;
    cl_study *study; /* optional */
    double study_sec[8], epoch_sec[8];
    int nep;
} epoch_rec;

static cl_status on_epoch(const cl_epoch_info *info, void *user)
{
    epoch_rec *r = user;
    if (info->img_per_s > r->best_ips) {
        r->best_ips = info->img_per_s;
        r->best_sec = info->seconds;
    }
    if (r->study) {
        CL_TRY(cl_study_epoch(info, r->study));
        if (r->nep < 8) {
            r->study_sec[r->nep] = cl_study_last_seconds(r->study);
            r->epoch_sec[r->nep] = info->seconds;
        }
    }
    r->nep++;
    return CL_OK;
}

static cl_train_config loop_config(int epochs)
{
    cl_train_config c = cl_train_config_default();
    c.epochs = epochs;
    c.batch = 128;
    c.eval_train = 0;
    c.eval_test = 0;
    c.sched = cl_sched_make(CL_SCHED_MULTISTEP, 0.01, 0);
    return c;
}

/* Per-step times inside cl_train_run, from the progress hook (called after
 * every batch): the gap between two calls in the same epoch is one whole
 * loop iteration (gather, step, checks, bookkeeping). */
typedef struct {
    double last, best;
    int last_epoch;
} step_rec;

static void on_progress(const cl_epoch_info *info, void *user)
{
    step_rec *s = user;
    double t = bench_now();
    /* the last batch of an epoch may be partial: not a full step */
    if (info->epoch == s->last_epoch && info->batch_index > 1 &&
        info->batch_index < info->batches && t - s->last < s->best)
        s->best = t - s->last;
    s->last = t;
    s->last_epoch = info->epoch;
}

/* Best epoch img/s of `epochs` epochs of cl_train_run; *sec = that epoch's
 * seconds, *step_min = the fastest loop iteration. */
static double loop_ips(bench_model *b, const cl_train_data *tv, int epochs, double *sec,
                       double *step_min)
{
    cl_train_config c = loop_config(epochs);
    epoch_rec r;
    memset(&r, 0, sizeof r);
    step_rec sr = {0, 1e300, -1};
    cl_train_callback cb = {on_epoch, &r};
    cl_train_hooks h = {&cb, 1, on_progress, &sr};
    cl_train_result res;
    bench_check(cl_train_run(&c, b->m, tv, NULL, &h, &res), "cl_train_run");
    *sec = r.best_sec;
    *step_min = sr.best;
    return r.best_ips;
}

typedef struct {
    const float *g;
    int64_t n;
} finite_call;

static void finite_run(void *p)
{
    finite_call *f = p;
    if (!cl_all_finite(f->g, f->n)) abort();
}

/* Raw steps (bench_train_step on random data at batch 128): the fastest
 * single step and the speed of a window of back-to-back steps. */
typedef struct {
    double step_min, win_ips;
} raw_speed;

static raw_speed raw_measure(bench_model *b, int quick)
{
    raw_speed r;
    b->n = 128;
    r.step_min = bench_min(bench_train_step, b, quick ? 1 : 5, 50, quick ? 0.0 : 1.0);
    int w = quick ? 2 : 10;
    r.win_ips = 128 / bench_time(bench_train_step, b, 0, 1, w);
    return r;
}

/* The loop against the raw steps: fastest single step vs fastest loop
 * iteration, and the raw window vs the best epoch. */
static void compare(const char *what, bench_model *b, const raw_speed *raw,
                    const cl_train_data *tv, int epochs)
{
    double sec, loop_min, ips = loop_ips(b, tv, epochs, &sec, &loop_min);
    finite_call fc = {b->m->grads, b->m->nparams};
    double tfin = bench_min(finite_run, &fc, 3, 100, 0.01);
    printf("%-32s %8.2f %8.2f %6.3f | %8.0f %8.0f %6.3f | %6.2f\n", what, 1e3 * raw->step_min,
           1e3 * loop_min, raw->step_min / loop_min, raw->win_ips, ips, ips / raw->win_ips,
           1e3 * tfin);
    fflush(stdout);
}

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s;
    (void)flag;
    (void)f;
    return remove(p);
}

int main(int argc, char **argv)
{
    bench_env e = bench_init(argc, argv, "training loop and per-epoch study");
    int q = e.quick;
    cl_dataset ctr, cte, mtr, mte;
    int creal = load_data("cifar10", q ? 26 : 256, &ctr, &cte, (cl_shape){3, 32, 32}, q ? 260 : 2560);
    int mreal = load_data("mnist", q ? 100 : 1000, &mtr, &mte, (cl_shape){1, 28, 28}, q ? 1000 : 10000);

    printf("\nbatch 128; step = fastest single step (ms); raw win = img/s of 10 "
           "back-to-back steps\n");
    printf("%-32s %8s %8s %6s | %8s %8s %6s | %6s\n", "", "raw step", "in loop", "ratio",
           "raw win", "epoch", "ratio", "finite");
    cl_arch_opts def = cl_arch_opts_default();
    bench_model r20, mlp;
    bench_model_create(&r20, "resnet20", &def, ctr.shape, 10, 128);
    cl_train_data tv;
    cl_data_view(&ctr, NULL, &tv);
    char what[64];
    snprintf(what, sizeof what, "ResNet-20, CIFAR-10 %s%lld", creal ? "" : "RANDOM ",
             (long long)ctr.n);
    raw_speed raw = raw_measure(&r20, q);
    compare(what, &r20, &raw, &tv, 1);
    cl_data_aug aug = {.d = &ctr, .pad = 4, .flip = 1};
    cl_train_data tva;
    cl_data_view(&ctr, &aug, &tva);
    snprintf(what, sizeof what, "  same, crop+flip augmentation");
    compare(what, &r20, &raw, &tva, 1);
    bench_model_destroy(&r20);

    bench_model_create(&mlp, "mlp", &def, mtr.shape, 10, 128);
    cl_train_data mv, mtv;
    cl_data_view(&mtr, NULL, &mv);
    cl_data_view(&mte, NULL, &mtv);
    snprintf(what, sizeof what, "MLP, MNIST %s%lld", mreal ? "" : "RANDOM ", (long long)mtr.n);
    raw = raw_measure(&mlp, q);
    compare(what, &mlp, &raw, &mv, q ? 1 : 2);
    printf("ratio = loop speed / raw speed (1.0 = the loop adds nothing); raw = forward, CE, "
           "zero_grad, backward, SGD on random data; epoch = the best epoch of cl_train_run "
           "(eval and checkpoints off); finite = ms of the trainer's per-step gradient "
           "finiteness check (part of the loop)\n");
    fflush(stdout);

    /* ---- the per-epoch study on the MLP setting ---- */
    char dir[] = "/tmp/collapse-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int epochs = q ? 1 : 2;
    printf("\nper-epoch collapse study, MLP on MNIST %s%lld train / %lld test, every epoch, "
           "taps input + 3 ReLUs (+ classifier input), results in a temporary folder:\n",
           mreal ? "" : "RANDOM ", (long long)mtr.n, (long long)mte.n);
    for (int plots = 0; plots < 2; plots++) {
        cl_study_opts so = cl_study_opts_default();
        so.every = 1;
        so.initial = 0;
        so.plots = plots;
        so.save_features = 0;
        cl_study *st;
        char sub[64];
        snprintf(sub, sizeof sub, "%s/run%d", dir, plots);
        bench_check(cl_study_create(&st, &so, mlp.m, &mv, &mtv, sub, epochs), "cl_study_create");
        epoch_rec r;
        memset(&r, 0, sizeof r);
        r.study = st;
        cl_train_config c = loop_config(epochs);
        cl_train_callback cb = {on_epoch, &r};
        cl_train_hooks h = {&cb, 1, NULL, NULL};
        bench_check(cl_train_run(&c, mlp.m, &mv, NULL, &h, NULL), "cl_train_run with study");
        int k = r.nep < 8 ? r.nep - 1 : 7;
        double ts = r.study_sec[k], te = r.epoch_sec[k];
        for (int i = 0; i <= k; i++)
            if (r.study_sec[i] < ts) ts = r.study_sec[i], te = r.epoch_sec[i];
        printf("  study %-18s %7.2f s per analyzed epoch = %5.2f x the training epoch (%.2f s)\n",
               plots ? "(with figures)" : "(no figures)", ts, ts / te, te);
        fflush(stdout);
        cl_study_destroy(st);
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    bench_model_destroy(&mlp);
    cl_dataset_free(&ctr);
    cl_dataset_free(&cte);
    cl_dataset_free(&mtr);
    cl_dataset_free(&mte);
    return 0;
}
