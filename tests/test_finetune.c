/* collapse train --init-from RUN [--freeze-through LAYER] [--frozen-bn M]
 * (src/cli/train_init.c), run as a child process ($COLLAPSE_BIN): the body
 * is copied (config.json's hash against the source's checkpoint), frozen
 * parameters and BN buffers stay bit-identical while the rest trains, a
 * head for another number of classes, refused bodies, a bit-exact --resume
 * that never reads the source again, bad flags. Plus the model's part
 * (nn.h): eval_prefix and no backward through a frozen prefix.
 * Small data: Fashion-MNIST and MNIST subsets, the small BN MLP. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_common.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "common.h"

/* flatten fc1 bn1 relu1 fc2 relu2 fc (cli_common.c's small_model). MNIST
 * and Fashion-MNIST for the real pair; tiny PNG folders (png_folder) where
 * the data does not matter, so those tests skip loading 60000 images. */
#define TRAIN(model, data, epochs, out)                                                  \
    "train", "--model", model, "--data", data, "--epochs", epochs, "--batch", "10",      \
        "--lr", "0.05", "--threads", "1", "--analyze", "none", "--out", out
#define FT_RUN(model, src, out, epochs)                                                  \
    TRAIN(model, c.png, epochs, out), "--seed", "5", "--init-from", src

/* The model of a run's newest good checkpoint, parameters and buffers in. */
static cl_model *load_run(const char *dir)
{
    char file[400];
    char *text = NULL;
    float *p = NULL, *b = NULL;
    int64_t np, nb, step;
    cl_model *m = NULL;
    cr_assert_eq(cl_ckpt_resolve(dir, file, sizeof file, NULL), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ckpt_read_model(file, &text, &p, &np, &b, &nb, &step), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_modelcfg_rebuild_sized(text, file, np, nb, &m), CL_OK, "%s",
                 cl_errmsg());
    memcpy(m->params, p, sizeof(float) * (size_t)np);
    memcpy(m->bufs, b, sizeof(float) * (size_t)nb);
    cl_free(text);
    cl_free(p);
    cl_free(b);
    return m;
}

static void png_class(const char *path, int k, int i)
{
    unsigned char px[28 * 28];
    for (int p = 0; p < 28 * 28; p++) /* class k: a bright band of rows, some noise */
        px[p] = (unsigned char)((p / 28) / 10 == k ? 200 + (p * 13 + i * 7) % 50
                                                   : (p * 31 + i * 17) % 40);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = img.height = 28;
    img.format = PNG_FORMAT_GRAY;
    cr_assert(png_image_write_to_file(&img, path, 0, px, 0, NULL), "%s", img.message);
}

/* ROOT/train|test/cK/I.png: K classes of n 28x28 gray images per split. */
static void png_folder(const char *root, int K, int n)
{
    char p[400];
    const char *split[2] = {"train", "test"};
    cr_assert_eq(mkdir(root, 0777), 0, "%s", root);
    for (int s = 0; s < 2; s++) {
        sub(p, sizeof p, "%s/%s", root, split[s]);
        cr_assert_eq(mkdir(p, 0777), 0);
        for (int k = 0; k < K; k++) {
            sub(p, sizeof p, "%s/%s/c%d", root, split[s], k);
            cr_assert_eq(mkdir(p, 0777), 0);
            for (int i = 0; i < n; i++) {
                sub(p, sizeof p, "%s/%s/c%d/%d.png", root, split[s], k, i);
                png_class(p, k, i + 100 * s);
            }
        }
    }
}

/* The test's scratch folder, the small model, a 4-class source folder
 * (src_png), a 3-class target folder (png) and the source run src
 * (2 epochs of 12 steps on src_png). */
typedef struct {
    ctx x;
    char model[256], src_png[256], png[256], src[256];
} fixture;

static void fixture_init(fixture *f, const char *name)
{
    ctx_init(&f->x, name);
    small_model(&f->x, f->model, sizeof f->model);
    sub(f->src_png, sizeof f->src_png, "%s/src_png", f->x.dir);
    sub(f->png, sizeof f->png, "%s/png", f->x.dir);
    sub(f->src, sizeof f->src, "%s/src", f->x.dir);
    png_folder(f->src_png, 4, 30);
    png_folder(f->png, 3, 20);
    const char *a[] = {TRAIN(f->model, f->src_png, "2", f->src), NULL};
    run_ok(&f->x, a);
}

/* 1 if layer `name` has the same params (bufs = 0) or bufs (bufs = 1) in both. */
static int same(const cl_model *a, const cl_model *b, const char *name, int bufs)
{
    int i = cl_model_find(a, name), j = cl_model_find(b, name);
    cr_assert(i >= 0 && j >= 0, "no layer %s", name);
    const cl_layer *la = &a->layers[i], *lb = &b->layers[j];
    if (bufs)
        return la->nbufs == lb->nbufs &&
               !memcmp(a->bufs + la->buf_off, b->bufs + lb->buf_off,
                       sizeof(float) * (size_t)la->nbufs);
    return la->nparams == lb->nparams &&
           !memcmp(a->params + la->param_off, b->params + lb->param_off,
                   sizeof(float) * (size_t)la->nparams);
}

/* Fails unless the status is `want` and stderr is one line holding a and b. */
static void expect_err(ctx *c, const char *const *args, int want, const char *a,
                       const char *b)
{
    int st = run(c, args);
    char *e = tc_slurp(c->err, NULL);
    cr_assert(e, "no stderr");
    cr_assert_eq(st, want, "status %d (want %d): %s", st, want, e);
    cr_assert(strstr(e, a) && (!b || strstr(e, b)), "'%s'/'%s' not in: %s", a, b ? b : "",
              e);
    char *nl = strchr(e, '\n');
    cr_assert(nl && !nl[1], "not one line: %s", e);
    free(e);
}

/* The real pair: an MLP body pretrained 2 epochs on 600 MNIST digits,
 * frozen through fc2 (the penultimate layer), a new head trained on
 * Fashion-MNIST: the body is bit-identical to the source's, the head
 * learns (test accuracy well above chance). */
Test(finetune, mnist_body_fashion_head, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "ft_real");
    char model[256], src[256], ft[256];
    small_model(&c, model, sizeof model);
    sub(src, sizeof src, "%s/src", c.dir);
    sub(ft, sizeof ft, "%s/ft", c.dir);
    const char *a[] = {TRAIN(model, "mnist", "2", src),
                       "--train-per-class",
                       "60",
                       "--test-per-class",
                       "10",
                       NULL};
    run_ok(&c, a);
    const char *b[] = {TRAIN(model, "fashion", "3", ft),
                       "--train-per-class",
                       "60",
                       "--test-per-class",
                       "30",
                       "--init-from",
                       src,
                       "--freeze-through",
                       "fc2",
                       NULL};
    run_ok(&c, b);
    char *so = tc_slurp(c.out, NULL);
    char *d = strstr(so, "done:");
    char *t = d ? strstr(d, "test ") : NULL;
    double acc = t ? strtod(strchr(t, '/') + 1, NULL) : 0;
    cr_assert(acc > 40, "test accuracy %g%%: %s", acc, so);
    free(so);
    cl_model *s = load_run(src), *f = load_run(ft);
    cr_assert(same(s, f, "fc1", 0) && same(s, f, "bn1", 0) && same(s, f, "bn1", 1) &&
              same(s, f, "fc2", 0));
    cr_assert(!same(s, f, "fc", 0), "the head trained");
    cr_assert(f->layers[cl_model_find(f, "fc2")].spec.frozen, "frozen in the spec text");
    cr_assert(!f->layers[cl_model_find(f, "fc")].spec.frozen);
    cl_model_destroy(s);
    cl_model_destroy(f);
    ctx_done(&c);
}

/* Frozen through relu1 on a 3-class target (the source had 4): fc1 and
 * bn1 stay, fc2 and the new 3-way head train; BN running statistics stay
 * with --frozen-bn eval (default) and move with train. */
Test(finetune, frozen_bn_modes_and_another_k, .timeout = TC_TIMEOUT)
{
    fixture c;
    fixture_init(&c, "ft_bn");
    char fe[256], ftr[256];
    sub(fe, sizeof fe, "%s/fe", c.x.dir);
    sub(ftr, sizeof ftr, "%s/ftr", c.x.dir);
    const char *a[] = {FT_RUN(c.model, c.src, fe, "3"), "--freeze-through", "relu1",
                       NULL};
    run_ok(&c.x, a);
    const char *b[] = {FT_RUN(c.model, c.src, ftr, "3"),
                       "--freeze-through",
                       "relu1",
                       "--frozen-bn",
                       "train",
                       NULL};
    run_ok(&c.x, b);
    cl_model *s = load_run(c.src), *e = load_run(fe), *t = load_run(ftr);
    cr_assert(s->layers[6].out.c == 4 && e->layers[6].out.c == 3);
    cr_assert(same(s, e, "fc1", 0) && same(s, e, "bn1", 0) && same(s, e, "bn1", 1));
    cr_assert(!same(s, e, "fc2", 0), "fc2 trained");
    cr_assert(same(s, t, "fc1", 0) && same(s, t, "bn1", 0) && !same(s, t, "bn1", 1));
    cr_assert(!same(e, t, "fc2", 0));
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", fe);
    char *js = tc_slurp(cj, NULL);
    cr_assert(strstr(js, "\"freeze_through\": \"relu1\"") &&
                  strstr(js, "\"frozen_bn\": \"eval\"") && strstr(js, "\"init_from\""),
              "%s", js);
    free(js);
    cl_model_destroy(s);
    cl_model_destroy(e);
    cl_model_destroy(t);
    ctx_done(&c.x);
}

/* The recorded hash is FNV-1a over the source's body (params then bufs per
 * layer); epoch and step are those of the source's last checkpoint. */
Test(finetune, init_records_the_source_body, .timeout = TC_TIMEOUT)
{
    fixture c;
    fixture_init(&c, "ft_init");
    char ft[256];
    sub(ft, sizeof ft, "%s/ft", c.x.dir);
    const char *a[] = {FT_RUN(c.model, c.src, ft, "1"), NULL};
    run_ok(&c.x, a);
    cl_model *s = load_run(c.src);
    uint64_t h = CL_FNV_INIT;
    int ci = cl_model_classifier_index(s);
    cr_assert_eq(ci, 6);
    for (int i = 0; i < ci; i++) {
        const cl_layer *l = &s->layers[i];
        h = cl_fnv1a(h, s->params + l->param_off, sizeof(float) * (size_t)l->nparams);
        h = cl_fnv1a(h, s->bufs + l->buf_off, sizeof(float) * (size_t)l->nbufs);
    }
    char want[64], cj[300];
    sub(want, sizeof want, "\"body_fnv1a\": \"%016" PRIx64 "\"", h);
    sub(cj, sizeof cj, "%s/config.json", ft);
    char *js = tc_slurp(cj, NULL);
    cr_assert(strstr(js, want) && strstr(js, "\"epoch\": 2") &&
                  strstr(js, "\"step\": 24"),
              "%s not in %s", want, js);
    cr_assert(!strstr(js, "freeze_through"), "written only when given");
    free(js);
    char *so = tc_slurp(c.x.out, NULL);
    cr_assert(strstr(so, "init: body of") && strstr(so, "6 layers"), "%s", so);
    free(so);
    cl_model_destroy(s);
    ctx_done(&c.x);
}

Test(finetune, mismatching_bodies_are_refused, .timeout = TC_TIMEOUT)
{
    fixture c;
    fixture_init(&c, "ft_mismatch");
    char ft[256], nope[256];
    sub(ft, sizeof ft, "%s/ft", c.x.dir);
    sub(nope, sizeof nope, "%s/nope", c.x.dir);
    /* another architecture */
    const char *a[] = {"train", "--arch",      "mlp", "--data", c.png, "--epochs",
                       "1",     "--init-from", c.src, "--out",  ft,    NULL};
    expect_err(&c.x, a, 1, "--init-from",
               "layer 1: source linear 'fc1' 784x1x1 -> 64x1x1");
    /* another input shape */
    const char *b[] = {FT_RUN(c.model, c.src, ft, "1"), "--resize", "14", NULL};
    expect_err(&c.x, b, 1, "--init-from", "layer 0: source flatten 'flatten' 1x28x28");
    /* another feature dimension: fc2 gets 16 outputs */
    const char *d[] = {FT_RUN(c.model, c.src, ft, "1"), "--feature-dim", "16", NULL};
    expect_err(&c.x, d, 1, "--init-from", "'fc2'");
    /* no run there */
    const char *e[] = {FT_RUN(c.model, nope, ft, "1"), NULL};
    expect_err(&c.x, e, 1, "--init-from", "no such run");
    cr_assert(!tc_exists(ft), "nothing left behind");
    ctx_done(&c.x);
}

Test(finetune, bad_flags, .timeout = TC_TIMEOUT)
{
    fixture c;
    fixture_init(&c, "ft_flags");
    char ft[256];
    sub(ft, sizeof ft, "%s/ft", c.x.dir);
    const char *a[] = {FT_RUN(c.model, c.src, ft, "1"), "--freeze-through", "fc9", NULL};
    expect_err(&c.x, a, 2, "--freeze-through", "(flatten fc1 bn1 relu1 fc2 relu2)");
    const char *b[] = {FT_RUN(c.model, c.src, ft, "1"), "--freeze-through", "fc", NULL};
    expect_err(&c.x, b, 2, "--freeze-through", "before the classifier");
    const char *d[] = {FT_RUN(c.model, c.src, ft, "1"), "--frozen-bn", "eval", NULL};
    expect_err(&c.x, d, 2, "--frozen-bn needs --freeze-through", NULL);
    const char *e[] = {FT_RUN(c.model, c.src, ft, "1"),
                       "--freeze-through",
                       "fc1",
                       "--frozen-bn",
                       "maybe",
                       NULL};
    expect_err(&c.x, e, 2, "--frozen-bn", "eval or train");
    const char *f[] = {FT_RUN(c.model, c.src, ft, "1"), "--init-from", NULL};
    expect_err(&c.x, f, 2, "--init-from", NULL);
    cr_assert(!tc_exists(ft), "nothing left behind");
    ctx_done(&c.x);
}

/* Stopped mid-epoch and resumed with the source moved away: the same bytes
 * as an uninterrupted fine-tune; another source path or layer is refused. */
Test(finetune, resume_is_bit_exact_without_the_source, .timeout = TC_TIMEOUT)
{
    fixture c;
    fixture_init(&c, "ft_resume");
    char moved[256], ra[256], rb[256];
    sub(ra, sizeof ra, "%s/a", c.x.dir);
    sub(rb, sizeof rb, "%s/b", c.x.dir);
    sub(moved, sizeof moved, "%s/moved", c.x.dir);
    const char *a[] = {FT_RUN(c.model, c.src, ra, "4"), "--freeze-through", "bn1", NULL};
    run_ok(&c.x, a);
    const char *b1[] = {FT_RUN(c.model, c.src, rb, "4"),
                        "--freeze-through",
                        "bn1",
                        "--max-steps",
                        "11",
                        NULL};
    run_ok(&c.x, b1);
    cr_assert_eq(rename(c.src, moved), 0);
    const char *b2[] = {FT_RUN(c.model, c.src, rb, "4"), "--freeze-through", "bn1",
                        "--resume", NULL};
    run_ok(&c.x, b2);
    char pa[300], pb[300];
    cr_assert_eq(cl_ckpt_resolve(ra, pa, sizeof pa, NULL), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ckpt_resolve(rb, pb, sizeof pb, NULL), CL_OK, "%s", cl_errmsg());
    size_t la, lb;
    char *xa = tc_slurp(pa, &la), *xb = tc_slurp(pb, &lb);
    cr_assert(xa && xb && la == lb && !memcmp(xa, xb, la), "resumed model differs");
    free(xa);
    free(xb);
    const char *b3[] = {FT_RUN(c.model, moved, rb, "4"), "--freeze-through", "bn1",
                        "--resume", NULL};
    expect_err(&c.x, b3, 1, "--resume", "options differ");
    const char *b4[] = {FT_RUN(c.model, c.src, rb, "4"), "--freeze-through", "fc2",
                        "--resume", NULL};
    expect_err(&c.x, b4, 1, "--resume", "options differ");
    ctx_done(&c.x);
}

/* The model's part: layers before eval_prefix run in eval mode (BN keeps
 * its running statistics), and a frozen prefix gets no gradients. */
Test(finetune, model_eval_prefix_and_frozen_backward)
{
    cl_layer_spec s[5] = {tc_spec(CL_LAYER_FLATTEN, 0), tc_spec(CL_LAYER_LINEAR, 6),
                          tc_spec(CL_LAYER_BATCHNORM, 0), tc_spec(CL_LAYER_RELU, 0),
                          tc_spec(CL_LAYER_LINEAR, 3)};
    s[1].frozen = s[2].frozen = 1;
    cl_rng r;
    cl_rng_seed(&r, 3);
    cl_model *m = NULL;
    cr_assert_eq(cl_model_create(&m, (cl_shape){1, 2, 2}, s, 5, &r), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, 4), CL_OK);
    float *x = tc_randn(16, &r, 1, 0.5), *dz = tc_randn(12, &r, 1, 0);
    float *b0 = cl_alloc_array((size_t)m->nbufs, sizeof(float), "t");
    memcpy(b0, m->bufs, sizeof(float) * (size_t)m->nbufs);
    m->eval_prefix = 3;
    cl_model_zero_grad(m);
    cl_model_forward(m, x, 4, 1);
    cr_assert(!memcmp(b0, m->bufs, sizeof(float) * (size_t)m->nbufs),
              "running stats moved");
    cl_model_backward(m, x, dz, 4, 1);
    const cl_layer *fc = &m->layers[4], *fc1 = &m->layers[1];
    double gf = 0, g1 = 0;
    for (int64_t i = 0; i < fc->nparams; i++)
        gf += fabsf(m->grads[fc->param_off + i]);
    for (int64_t i = 0; i < fc1->nparams; i++)
        g1 += fabsf(m->grads[fc1->param_off + i]);
    cr_assert(gf > 0 && g1 == 0, "head %g, frozen %g", gf, g1);
    m->eval_prefix = 0; /* train mode again: the running statistics move */
    cl_model_forward(m, x, 4, 1);
    cr_assert(memcmp(b0, m->bufs, sizeof(float) * (size_t)m->nbufs),
              "running stats fixed");
    cl_free(b0);
    cl_free(x);
    cl_free(dz);
    cl_model_destroy(m);
}
