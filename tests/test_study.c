/* The per-epoch collapse study: schedule, tap rule, the callback inside a
 * real (tiny) training run writing metrics.csv / layers.csv / .npy / PNGs,
 * exact reproduction of the last row from the saved .npy files, resume
 * without duplicated rows, the streamed (two-sweep) path against the cached
 * one, and `collapse plot` on run folders (plus its error messages). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/study/study_internal.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"

TestSuite(study, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* ---- schedule ---- */

Test(study, schedule_log_list)
{
    cl_study_opts o = cl_study_opts_default();
    int ep[400];
    int n = cl_study_schedule(&o, 350, ep);
    for (int e = 1; e <= 14; e++) cr_assert_eq(ep[e - 1], e);
    for (int i = 1; i < n; i++) cr_assert_gt(ep[i], ep[i - 1]);
    cr_assert_eq(ep[n - 1], 350);
    /* Papyan's list has 50 epochs for 350; ours is the same spacing */
    cr_assert(n >= 45 && n <= 55, "n = %d", n);
    /* log-spaced after 14: gaps grow, ratio ~1.09 */
    cr_assert_lt(ep[15] - ep[14], ep[n - 2] - ep[n - 3]);
    cr_assert(ep[n - 2] > 300 && ep[n - 2] < 350, "%d", ep[n - 2]);
    /* is_analyzed agrees with the list, for every epoch */
    for (int e = 1, i = 0; e <= 350; e++) {
        int in = i < n && ep[i] == e;
        cr_assert_eq(cl_study_is_analyzed(&o, e, 350), in, "epoch %d", e);
        i += in;
    }
    /* short runs: every epoch */
    cr_assert_eq(cl_study_schedule(&o, 3, ep), 3);
    cr_assert(ep[0] == 1 && ep[1] == 2 && ep[2] == 3);
    cr_assert_eq(cl_study_schedule(&o, 1, ep), 1);
    cr_assert_eq(ep[0], 1);
    /* epoch 0 only with initial */
    cr_assert_eq(cl_study_is_analyzed(&o, 0, 10), 1);
    o.initial = 0;
    cr_assert_eq(cl_study_is_analyzed(&o, 0, 10), 0);
}

Test(study, schedule_every_and_none)
{
    cl_study_opts o = cl_study_opts_default();
    o.every = 5;
    int ep[64];
    int n = cl_study_schedule(&o, 12, ep);
    cr_assert_eq(n, 3);
    cr_assert(ep[0] == 5 && ep[1] == 10 && ep[2] == 12);
    cr_assert_eq(cl_study_schedule(&o, 10, ep), 2); /* 10 is both a multiple and the last */
    cr_assert(ep[0] == 5 && ep[1] == 10);
    cr_assert_eq(cl_study_is_analyzed(&o, 4, 12), 0);
    cr_assert_eq(cl_study_is_analyzed(&o, 12, 12), 1);
    o.every = 1;
    cr_assert_eq(cl_study_schedule(&o, 7, ep), 7);
    o.none = 1;
    cr_assert_eq(cl_study_schedule(&o, 7, ep), 0);
    cr_assert_eq(cl_study_is_analyzed(&o, 7, 7), 0);
}

/* ---- taps ---- */

static cl_model *mlp(int in, int K, uint64_t seed)
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

Test(study, taps_mlp)
{
    cl_model *m = mlp(4, 3, 1);
    cl_study_tap t[8];
    int n = cl_study_taps(m, t);
    cr_assert_eq(n, 3);
    cr_assert(t[0].layer == CL_STUDY_INPUT_TAP && t[0].dim == 4 && !strcmp(t[0].name, "input"));
    cr_assert(t[1].layer == 1 && t[1].dim == 8);
    cr_assert(t[2].layer == 3 && t[2].dim == 6); /* last relu = classifier input, once */
    cr_assert_str_eq(t[2].name, m->layers[3].spec.name);
    cl_model_destroy(m);
}

Test(study, taps_resnet_like)
{
    cl_layer_spec s[9];
    s[0] = tc_spec(CL_LAYER_CONV2D, 4);
    s[0].k = 3;
    s[0].pad = 1;
    s[0].bias = 0;
    s[1] = tc_spec(CL_LAYER_BATCHNORM, 0);
    s[2] = tc_spec(CL_LAYER_RELU, 0);
    s[3] = tc_spec(CL_LAYER_BLOCK, 4);
    s[4] = tc_spec(CL_LAYER_BLOCK, 8);
    s[4].stride = 2;
    s[5] = tc_spec(CL_LAYER_GAP, 0);
    s[6] = tc_spec(CL_LAYER_FLATTEN, 0);
    s[7] = tc_spec(CL_LAYER_LINEAR, 5);
    s[7].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 2);
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){3, 8, 8}, s, 8, &rng), CL_OK, "%s",
                 cl_errmsg());
    cl_study_tap t[12];
    int n = cl_study_taps(m, t);
    cr_assert_eq(n, 5);
    int layer[5] = {-1, 2, 3, 4, 6}, dim[5] = {192, 256, 256, 128, 8};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(t[i].layer, layer[i], "tap %d", i);
        cr_assert_eq(t[i].dim, dim[i], "tap %d", i);
    }
    cl_model_destroy(m);
}

/* The rule on the real builders: MLP = input + each hidden ReLU; ResNet-20 =
 * input, stem ReLU, 9 blocks, the pooled (flattened) feature of width 64. */
Test(study, taps_builders)
{
    const char *arch[2] = {"mlp", "resnet20"};
    cl_shape in[2] = {{1, 28, 28}, {3, 32, 32}};
    for (int a = 0; a < 2; a++) {
        cl_modelcfg mc;
        cr_assert_eq(cl_modelcfg_from_arch(arch[a], &mc), CL_OK, "%s", cl_errmsg());
        cl_head_opts h = {0};
        h.classes = 10;
        h.bias = 1;
        cl_rng rng;
        cl_rng_seed(&rng, 1);
        cl_model *m;
        cr_assert_eq(cl_modelcfg_build(&mc, in[a], &h, &rng, &m, NULL), CL_OK, "%s",
                     cl_errmsg());
        cl_study_tap t[64];
        int n = cl_study_taps(m, t);
        if (a == 0) {
            cr_assert_eq(n, 4);
            cr_assert_eq(t[0].dim, 784);
            for (int i = 1; i < 4; i++) cr_assert_eq(m->layers[t[i].layer].spec.kind, CL_LAYER_RELU);
        } else {
            cr_assert_eq(n, 12);
            cr_assert_str_eq(t[1].name, "stem_relu");
            cr_assert_eq(t[1].dim, 16 * 32 * 32);
            for (int i = 2; i < 11; i++) {
                char want[16];
                snprintf(want, sizeof want, "block%d", i - 1);
                cr_assert_str_eq(t[i].name, want);
            }
            cr_assert_eq(t[10].dim, 64 * 8 * 8);
            cr_assert_eq(t[11].dim, 64);
            cr_assert_eq(t[11].layer, cl_model_classifier_index(m) - 1);
        }
        cl_model_destroy(m);
        cl_modelcfg_free(&mc);
    }
}

/* ---- a tiny run ---- */

#define NTR 60
#define NTE 30
#define DIN 4
#define KC 3

typedef struct {
    float xtr[NTR * DIN], xte[NTE * DIN];
    int32_t ytr[NTR], yte[NTE];
    cl_train_data train, test;
} toy;

static void toy_make(toy *t)
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
    t->train = (cl_train_data){NTR, {DIN, 1, 1}, KC, t->xtr, t->ytr, NULL, NULL};
    t->test = (cl_train_data){NTE, {DIN, 1, 1}, KC, t->xte, t->yte, NULL, NULL};
}

static cl_train_config toy_cfg(const char *dir, int epochs)
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
static void toy_run_ex(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep,
                       int skip)
{
    cl_model *m = mlp(DIN, KC, 3);
    cl_train_config cfg = toy_cfg(dir, epochs);
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, o, m, &t->train, &t->test, dir, epochs), CL_OK, "%s",
                 cl_errmsg());
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

static void toy_run(toy *t, const char *dir, cl_study_opts *o, int epochs, cl_model **keep)
{
    toy_run_ex(t, dir, o, epochs, keep, 0);
}

static const char metrics_hdr[] =
    "epoch,lr,train_loss,train_acc,test_loss,test_acc,nc1,D,nc1_quotient,cdnv,equinorm_M,"
    "equinorm_W,equiangular_M,equiangular_W,maxangle_M,maxangle_W,etf_M,etf_W,nc3,nc3_zhu,"
    "nc4,ncc_acc,test_nc1,test_D,test_nc1_quotient,test_cdnv,test_equinorm_M,test_equinorm_W,"
    "test_equiangular_M,test_equiangular_W,test_maxangle_M,test_maxangle_W,test_etf_M,"
    "test_etf_W,test_nc3,test_nc3_zhu,test_nc4,test_ncc_acc,test_ncc_acc_train_means,"
    "epoch_seconds,analysis_seconds";

static void first_line(const char *path, char *buf, int cap)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s missing", path);
    cr_assert(fgets(buf, cap, f));
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

Test(study, callback_writes_results)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tpath("run"));
    toy_run(&t, dir, &o, 4, NULL);

    char line[2048];
    first_line(tpath("run/metrics.csv"), line, sizeof line);
    cr_assert_str_eq(line, metrics_hdr);
    first_line(tpath("run/layers.csv"), line, sizeof line);
    cr_assert_str_eq(line, "epoch,layer,name,dim,D,nc1,rho,r2,r,intercept");

    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(c.nrows, 5); /* epochs 0 (initial), 1, 2, 3, 4 */
    for (int r = 0; r < 5; r++) {
        cr_assert_eq(c.num[r * c.ncols], r);
        for (int k = 1; k < c.ncols; k++)
            cr_assert(isfinite(c.num[r * c.ncols + k]), "row %d col %s", r, c.names[k]);
        /* nc1 = D / K, train acc in [0, 1] */
        double nc1 = c.num[r * c.ncols + cl_csv_col(&c, "nc1")];
        double D = c.num[r * c.ncols + cl_csv_col(&c, "D")];
        cr_assert_float_eq(nc1 * KC, D, 1e-9 * D);
        double acc = c.num[r * c.ncols + cl_csv_col(&c, "train_acc")];
        cr_assert(acc >= 0 && acc <= 1);
    }
    /* learning happened: the last epoch separates the toy classes */
    cr_assert_gt(c.num[4 * c.ncols + cl_csv_col(&c, "train_acc")], 0.8);
    cl_csv_free(&c);

    cr_assert_eq(cl_csv_read(tpath("run/layers.csv"), "layer,name", &c), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(c.nrows, 5 * 4); /* 3 taps + 1 fit row per analyzed epoch */
    int cl = cl_csv_col(&c, "layer"), cn = cl_csv_col(&c, "name"), cd = cl_csv_col(&c, "dim");
    int crho = cl_csv_col(&c, "rho");
    for (int r = 0; r < 20; r++) {
        int e = r / 4, l = r % 4;
        cr_assert_eq(c.num[r * c.ncols], e);
        if (l < 3) {
            cr_assert_eq(c.num[r * c.ncols + cl], l);
            cr_assert(isnan(c.num[r * c.ncols + crho])); /* empty on layer rows */
            cr_assert_gt(c.num[r * c.ncols + cl_csv_col(&c, "D")], 0);
        } else {
            cr_assert_str_eq(c.txt[r * c.ncols + cl], "fit");
            cr_assert_str_eq(c.txt[r * c.ncols + cn], "fit");
            cr_assert(isnan(c.num[r * c.ncols + cd]));
            cr_assert_gt(c.num[r * c.ncols + crho], 0);
            double r2 = c.num[r * c.ncols + cl_csv_col(&c, "r2")];
            cr_assert(r2 >= 0 && r2 <= 1 + 1e-12);
        }
    }
    cr_assert_str_eq(c.txt[0 * c.ncols + cn], "input");
    cr_assert_eq(c.num[0 * c.ncols + cd], DIN);
    cr_assert_eq(c.num[2 * c.ncols + cd], 6);
    cl_csv_free(&c);

    const char *figs[] = {"nc1.png", "nc2.png", "nc3.png", "nc4.png", "accuracy.png",
                          "layers.png"};
    for (int i = 0; i < 6; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, figs[i]);
        cr_assert(tc_is_png(p), "%s", p);
    }
}

static double metric_of(const cl_csv *c, int64_t row, const char *name)
{
    int col = cl_csv_col(c, name);
    cr_assert_geq(col, 0, "%s", name);
    return c->num[row * c->ncols + col];
}

Test(study, npy_reproduce_last_row_exactly)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    cl_model *m;
    toy_run(&t, tpath("run"), &o, 3, &m);

    float *H, *W, *b;
    int32_t *y;
    int nd;
    int64_t sh[8], shw[8], shb[8], shy[8];
    cr_assert_eq(cl_npy_read_f32(tpath("run/features_train.npy"), &H, &nd, sh), CL_OK, "%s",
                 cl_errmsg());
    cr_assert(nd == 2 && sh[0] == NTR && sh[1] == 6);
    cr_assert_eq(cl_npy_read_f32(tpath("run/W.npy"), &W, &nd, shw), CL_OK);
    cr_assert(nd == 2 && shw[0] == KC && shw[1] == 6);
    cr_assert_eq(cl_npy_read_f32(tpath("run/b.npy"), &b, &nd, shb), CL_OK);
    cr_assert(nd == 1 && shb[0] == KC);
    cr_assert_eq(cl_npy_read_i32(tpath("run/labels_train.npy"), &y, &nd, shy), CL_OK);
    cr_assert(nd == 1 && shy[0] == NTR);
    cr_assert_eq(memcmp(y, t.ytr, sizeof t.ytr), 0);

    cl_nc_opts no = cl_nc_opts_default();
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(H, NTR, 6, y, KC, W, b, &no, &r), CL_OK, "%s", cl_errmsg());
    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK);
    int64_t last = c.nrows - 1;
    cr_assert_eq(metric_of(&c, last, "epoch"), 3);
    int checked = 0;
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        if (!strcmp(cl_nc_key_name(i), "acc")) continue;
        double want = cl_nc_key_value(&r, i), got = metric_of(&c, last, cl_nc_key_name(i));
        cr_assert(want == got || (isnan(want) && isnan(got)), "%s: %.17g vs %.17g",
                  cl_nc_key_name(i), want, got);
        checked++;
    }
    cr_assert_eq(checked, 16);
    /* classifier accuracy from the analyzer = the eval-mode train accuracy */
    cr_assert_float_eq(r.acc, metric_of(&c, last, "train_acc"), 1e-12);

    /* held-out nearest-class-mean accuracy: test features of the final model
     * against the class means of the saved training features */
    double mu[KC * 6] = {0}, mu2[KC] = {0};
    int64_t cnt[KC] = {0};
    for (int i = 0; i < NTR; i++) {
        cnt[y[i]]++;
        for (int d = 0; d < 6; d++) mu[y[i] * 6 + d] += H[i * 6 + d];
    }
    for (int k = 0; k < KC; k++)
        for (int d = 0; d < 6; d++) {
            mu[k * 6 + d] /= (double)cnt[k];
            mu2[k] += mu[k * 6 + d] * mu[k * 6 + d];
        }
    cr_assert_eq(cl_model_alloc(m, NTE), CL_OK);
    cl_model_forward(m, t.xte, NTE, 0);
    const float *Hte = m->acts[cl_model_classifier_index(m) - 1]; /* [NTE, 6] */
    int ok = 0;
    for (int i = 0; i < NTE; i++) {
        int best = 0;
        double bv = INFINITY;
        for (int k = 0; k < KC; k++) {
            double dist = 0;
            for (int d = 0; d < 6; d++) {
                double v = Hte[i * 6 + d] - mu[k * 6 + d];
                dist += v * v;
            }
            if (dist < bv) {
                bv = dist;
                best = k;
            }
        }
        ok += best == t.yte[i];
    }
    cr_assert_float_eq(metric_of(&c, last, "test_ncc_acc_train_means"), (double)ok / NTE, 1e-12,
                       "held-out NCC %g vs %g", metric_of(&c, last, "test_ncc_acc_train_means"),
                       (double)ok / NTE);
    cl_model_destroy(m);
    cl_csv_free(&c);
    cl_free(H);
    cl_free(W);
    cl_free(b);
    cl_free(y);
}

Test(study, streamed_matches_cached)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.save_features = 0;
    toy_run(&t, tpath("cached"), &o, 2, NULL);
    o.cache_mb = 0; /* every tap streamed: two sweeps per split */
    toy_run(&t, tpath("streamed"), &o, 2, NULL);
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tpath("cached/metrics.csv"), "", &a), CL_OK);
    cr_assert_eq(cl_csv_read(tpath("streamed/metrics.csv"), "", &b), CL_OK);
    cr_assert_eq(a.nrows, 3);
    cr_assert_eq(b.nrows, 3);
    for (int64_t r = 0; r < 3; r++)
        for (int k = 0; k < a.ncols - 2; k++) { /* not the timings */
            double x = a.num[r * a.ncols + k], z = b.num[r * b.ncols + k];
            cr_assert(fabs(x - z) <= 1e-9 * fmax(1, fabs(x)) || (isnan(x) && isnan(z)),
                      "row %ld %s: %.17g vs %.17g", (long)r, a.names[k], x, z);
        }
    cr_assert_eq(access(tpath("cached/features_train.npy"), F_OK), -1); /* save_features = 0 */
    cl_csv_free(&a);
    cl_csv_free(&b);
}

static int64_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f);
    int64_t n = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) n += ch == '\n';
    fclose(f);
    return n;
}

Test(study, resume_appends_without_duplicates)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    cl_model *m;
    toy_run(&t, tpath("run"), &o, 4, &m); /* rows 0..4 */
    cr_assert_eq(count_lines(tpath("run/metrics.csv")), 6);
    /* a half-written last line from a killed run is dropped too */
    FILE *f = fopen(tpath("run/metrics.csv"), "a");
    fputs("5,0.1,0.3", f);
    fclose(f);

    /* a resumed session whose first finished epoch is 3: rows 3, 4 go, 3 is rewritten */
    o.resume = 1;
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("run"), 4), CL_OK);
    cl_train_config cfg = toy_cfg(tpath("run"), 4);
    cr_assert_eq(cl_study_initial(st, m, &cfg), CL_OK); /* no-op when resuming */
    cl_epoch_info info = {0};
    info.epoch = 3;
    info.epochs = 4;
    info.lr = 0.05;
    info.train_loss = 0.5;
    info.train_acc = 0.9;
    info.test_loss = 0.6;
    info.test_acc = 0.8;
    info.model = m;
    info.train = &t.train;
    info.test = &t.test;
    info.cfg = &cfg;
    cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
    info.epoch = 4;
    cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
    cl_study_destroy(st);

    cl_csv c;
    cr_assert_eq(cl_csv_read(tpath("run/metrics.csv"), "", &c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(c.nrows, 5);
    for (int r = 0; r < 5; r++) cr_assert_eq(c.num[r * c.ncols], r);
    cr_assert_eq(metric_of(&c, 3, "train_loss"), 0.5); /* the new row */
    cl_csv_free(&c);
    cr_assert_eq(cl_csv_read(tpath("run/layers.csv"), "layer,name", &c), CL_OK);
    cr_assert_eq(c.nrows, 20);
    for (int r = 0; r < 20; r++) cr_assert_eq(c.num[r * c.ncols], r / 4);
    cl_csv_free(&c);
    cl_model_destroy(m);

    /* a file from another version cannot be resumed into */
    f = fopen(tpath("run/metrics.csv"), "w");
    fputs("epoch,something_else\n1,2\n", f);
    fclose(f);
    cl_model *m2 = mlp(DIN, KC, 3);
    cr_assert_eq(cl_model_alloc(m2, 16), CL_OK);
    cr_assert_eq(cl_study_create(&st, &o, m2, &t.train, &t.test, tpath("run"), 4), CL_OK);
    info.model = m2;
    cr_assert_eq(cl_study_epoch(&info, st), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv"), "%s", cl_errmsg());
    cl_study_destroy(st);
    cl_model_destroy(m2);
}

/* ---- figures / collapse plot ---- */

Test(study, plot_runs_and_cli)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    toy_run(&t, tpath("learned"), &o, 3, NULL);
    o.layers = 0;
    toy_run(&t, tpath("fixed"), &o, 2, NULL); /* no layers.csv */
    cr_assert_eq(access(tpath("fixed/layers.csv"), F_OK), -1);

    char learned[256], fixed[256];
    snprintf(learned, sizeof learned, "%s", tpath("learned"));
    snprintf(fixed, sizeof fixed, "%s", tpath("fixed"));
    const char *runs[2] = {learned, fixed};
    cr_assert_eq(mkdir(tpath("both"), 0755), 0);
    cr_assert_eq(cl_study_plot_runs(runs, 2, tpath("both")), CL_OK, "%s", cl_errmsg());
    cr_assert(tc_is_png(tpath("both/nc1.png")));
    cr_assert(tc_is_png(tpath("both/nc2.png")));
    cr_assert(tc_is_png(tpath("both/layers.png")));

    /* missing and garbled metrics.csv: the message names the file */
    cr_assert_eq(mkdir(tpath("empty"), 0755), 0);
    char empty[256];
    snprintf(empty, sizeof empty, "%s", tpath("empty"));
    const char *bad[1] = {empty};
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "empty/metrics.csv"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"), "epoch,lr,nc1\n1,0.1,zz\n");
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "empty/metrics.csv:2"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"), "epoch,lr,nc1\n1,0.1\n");
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv:2"), "%s", cl_errmsg());
    tc_write_text(tpath("empty/metrics.csv"),
                  "epoch,lr,nc1\n1,0.1,0.5\n"); /* columns missing */
    cr_assert_eq(cl_study_plot_runs(bad, 1, tpath("both")), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "metrics.csv") && strstr(cl_errmsg(), "'"), "%s",
              cl_errmsg());

    /* the CLI, when the binary is available */
    const char *bin = getenv("COLLAPSE_BIN");
    if (!bin || access(bin, X_OK) != 0) return;
    const char *plot2[] = {"plot", runs[0], runs[1], "--out", tpath("cli"), NULL};
    cr_assert_eq(tc_run(tpath("cli.log"), tpath("cli.log"), plot2), 0);
    cr_assert(tc_is_png(tpath("cli/nc4.png")));
    cr_assert(tc_is_png(tpath("cli/accuracy.png")));
    const char *plot_bad[] = {"plot", empty, NULL};
    int rc = tc_run(tpath("err.log"), tpath("err.log"), plot_bad);
    cr_assert(rc == 1, "rc %d", rc);
    FILE *f = fopen(tpath("err.log"), "r");
    char msg[512] = {0};
    cr_assert(fgets(msg, sizeof msg, f));
    fclose(f);
    cr_assert(strstr(msg, "metrics.csv"), "%s", msg);
    const char *plot0[] = {"plot", NULL};
    rc = tc_run("/dev/null", "/dev/null", plot0);
    cr_assert(rc == 2);
}

/* BN in train mode for the sweeps (He & Su): batch statistics change the
 * features (so the metrics), the model's running statistics are untouched,
 * and the two-sweep path agrees with the cached one. */
Test(study, bn_train_mode)
{
    toy t;
    toy_make(&t);
    cl_layer_spec s[4] = {tc_spec(CL_LAYER_LINEAR, 8), tc_spec(CL_LAYER_BATCHNORM, 0),
                          tc_spec(CL_LAYER_RELU, 0), tc_spec(CL_LAYER_LINEAR, KC)};
    s[3].classifier = 1;
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    cl_model *m;
    cr_assert_eq(cl_model_create(&m, (cl_shape){DIN, 1, 1}, s, 4, &rng), CL_OK, "%s",
                 cl_errmsg());
    cl_train_config cfg = toy_cfg(tpath("x"), 2);
    cfg.epochs = 1;
    cl_train_result res;
    cr_assert_eq(cl_train_run(&cfg, m, &t.train, &t.test, NULL, &res), CL_OK, "%s", cl_errmsg());
    float *bufs = malloc(sizeof(float) * (size_t)m->nbufs);
    memcpy(bufs, m->bufs, sizeof(float) * (size_t)m->nbufs);

    const char *names[3] = {"eval", "train", "train_streamed"};
    for (int v = 0; v < 3; v++) {
        cl_study_opts o = cl_study_opts_default();
        o.plots = 0;
        o.bn_train = v > 0;
        o.cache_mb = v == 2 ? 0 : 512;
        o.save_features = 0;
        cl_study *st;
        cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath(names[v]), 1), CL_OK);
        cl_epoch_info info = {0};
        info.epoch = 1;
        info.epochs = 1;
        info.model = m;
        info.train = &t.train;
        info.test = &t.test;
        info.cfg = &cfg;
        /* not measured by the trainer: the study's eval-mode sweep fills them in */
        info.train_loss = info.train_acc = info.test_loss = info.test_acc = NAN;
        cr_assert_eq(cl_study_epoch(&info, st), CL_OK, "%s", cl_errmsg());
        cl_study_destroy(st);
        cr_assert_eq(memcmp(bufs, m->bufs, sizeof(float) * (size_t)m->nbufs), 0);
    }
    cl_csv c[3];
    char p[300];
    for (int v = 0; v < 3; v++) {
        snprintf(p, sizeof p, "%s/metrics.csv", tpath(names[v]));
        cr_assert_eq(cl_csv_read(p, "", &c[v]), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(c[v].nrows, 1);
    }
    double tl, ta, sl, sa;
    cr_assert_eq(cl_train_evaluate(m, &t.train, &cfg.loss, &tl, &ta), CL_OK);
    cr_assert_eq(cl_train_evaluate(m, &t.test, &cfg.loss, &sl, &sa), CL_OK);
    cr_assert_eq(metric_of(&c[0], 0, "train_loss"), tl);
    cr_assert_eq(metric_of(&c[0], 0, "train_acc"), ta);
    cr_assert_eq(metric_of(&c[0], 0, "test_loss"), sl);
    cr_assert_eq(metric_of(&c[0], 0, "test_acc"), sa);
    cr_assert(isnan(metric_of(&c[1], 0, "train_loss"))); /* BN train mode: not eval logits */
    double nc1_eval = metric_of(&c[0], 0, "nc1"), nc1_train = metric_of(&c[1], 0, "nc1");
    cr_assert_neq(nc1_eval, nc1_train);
    cr_assert_float_eq(nc1_train, metric_of(&c[2], 0, "nc1"), 1e-9 * nc1_train);
    for (int v = 0; v < 3; v++) cl_csv_free(&c[v]);
    free(bufs);
    cl_model_destroy(m);
}

/* With cfg.skip_eval = cl_study_skip_eval the trainer runs no eval passes on
 * analyzed epochs; the rows must hold exactly the values the trainer's
 * passes give. */
Test(study, skip_eval_gives_the_same_rows)
{
    toy t;
    toy_make(&t);
    cl_study_opts o = cl_study_opts_default();
    o.plots = 0;
    o.every = 2;
    char d1[256], d2[256];
    snprintf(d1, sizeof d1, "%s", tpath("noskip"));
    snprintf(d2, sizeof d2, "%s", tpath("skip"));
    toy_run_ex(&t, d1, &o, 4, NULL, 0);
    toy_run_ex(&t, d2, &o, 4, NULL, 1);
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tpath("noskip/metrics.csv"), "", &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_csv_read(tpath("skip/metrics.csv"), "", &b), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(a.nrows, 3); /* epochs 0, 2, 4 */
    cr_assert_eq(b.nrows, a.nrows);
    for (int64_t r = 0; r < a.nrows; r++)
        for (int k = 0; k < a.ncols - 2; k++) /* all but the two timing columns */
            cr_assert_eq(a.num[r * a.ncols + k], b.num[r * b.ncols + k], "row %lld col %s",
                         (long long)r, a.names[k]);
    cl_csv_free(&a);
    cl_csv_free(&b);

    /* which epochs are skipped: analyzed ones, and never in BN train mode */
    cl_model *m = mlp(DIN, KC, 3);
    cl_study *st;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("q"), 4), CL_OK);
    cr_assert_eq(cl_study_skip_eval(st, 1), 0);
    cr_assert_eq(cl_study_skip_eval(st, 2), 1);
    cr_assert_eq(cl_study_skip_eval(st, 4), 1);
    double v[4];
    cr_assert_eq(cl_study_eval_values(st, 2, v), 0); /* nothing analyzed yet */
    cl_study_destroy(st);
    o.bn_train = 1;
    cr_assert_eq(cl_study_create(&st, &o, m, &t.train, &t.test, tpath("q2"), 4), CL_OK);
    cr_assert_eq(cl_study_skip_eval(st, 2), 0);
    cl_study_destroy(st);
    cl_model_destroy(m);
}
