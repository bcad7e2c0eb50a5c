/* The ordinal head: the loss `clm` (values against a direct formula,
 * finite-difference gradients, extreme logits, prediction, K = k + 1), the
 * cumlink layer (gradient check with fixed-looking and learned thresholds,
 * ordering kept by the softplus gaps) and how --loss clm builds the head. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/loss.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "gradcheck.h"

static const cl_loss_cfg CLM = {CL_LOSS_CLM, 0};

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* -log P(y) by the textbook difference of sigmoids (fine for moderate o). */
static double direct(const float *o, int k, int y)
{
    double hi = y == k ? 1.0 : sig(o[y]), lo = y == 0 ? 0.0 : sig(o[y - 1]);
    return -log(hi - lo);
}

Test(clm, parse_format_classes)
{
    cl_loss_cfg c;
    cr_assert_eq(cl_loss_parse("clm", &c), CL_OK);
    cr_assert_eq(c.kind, CL_LOSS_CLM);
    char buf[32];
    cl_loss_format(&c, buf, sizeof buf);
    cr_assert_str_eq(buf, "clm");
    cr_assert_str_eq(cl_loss_kind_name(CL_LOSS_CLM), "clm");
    cr_assert_eq(cl_loss_parse("clm=1", &c), CL_EINVAL);
    cr_assert_eq(cl_loss_classes(&CLM, 9), 10, "K-1 = 9 cumulative logits: 10 classes");
    cl_loss_cfg ce = {CL_LOSS_CE, 0};
    cr_assert_eq(cl_loss_classes(&ce, 9), 9);
}

Test(clm, values_and_prediction)
{
    /* K = 4 (k = 3 logits), o = b - z for b = (-3, 0, 3): z = 1.5 and z = 5 */
    const float o[6] = {-4.5f, -1.5f, 1.5f, -8.f, -5.f, -2.f};
    for (int y = 0; y <= 3; y++) {
        int32_t lab[2] = {y, y};
        double loss;
        int64_t nc;
        cr_assert_eq(cl_loss_compute(&CLM, o, lab, 2, 3, &loss, NULL, &nc), CL_OK, "%s",
                     cl_errmsg());
        double want = (direct(o, 3, y) + direct(o + 3, 3, y)) / 2;
        cr_assert(fabs(loss - want) < 1e-12, "y=%d: %.15g vs %.15g", y, loss, want);
        /* z = 1.5 sits midway between b_1 = 0 and b_2 = 3: class 2 is the most
         * likely (0.64); z = 5 is beyond the last threshold: class 3 (0.88) */
        cr_assert_eq(nc, (y == 2) + (y == 3), "y=%d: %lld correct", y, (long long)nc);
    }
    /* labels in [0, K) = [0, k]: k itself is a class, k + 1 is not */
    int32_t bad[1] = {4};
    double l;
    cr_assert_eq(cl_loss_compute(&CLM, o, bad, 1, 3, &l, NULL, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "outside [0, 4)"), "%s", cl_errmsg());
    cr_assert_eq(cl_loss_compute(&CLM, o, bad, 1, 0, &l, NULL, NULL), CL_EINVAL);
    /* K = 2: one logit; P(y = 0) = sigmoid(o_0) */
    int32_t one[1] = {1};
    cr_assert_eq(cl_loss_compute(&CLM, o, one, 1, 1, &l, NULL, NULL), CL_OK);
    cr_assert(fabs(l - log1p(exp(-4.5))) < 1e-12);
}

/* Central differences in double of the mean loss against dlogits, every
 * label, random increasing logits (k = 5). */
Test(clm, gradient_matches_finite_differences)
{
    enum { N = 6, k = 5 };
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    float o[N * k], d[N * k];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        double z = 2 * cl_rng_normal(&rng), b = -2;
        for (int q = 0; q < k; q++) {
            b += 0.3 + cl_rng_uniform(&rng);
            o[i * k + q] = (float)(b - z);
        }
        y[i] = i % (k + 1);
    }
    double loss;
    cr_assert_eq(cl_loss_compute(&CLM, o, y, N, k, &loss, d, NULL), CL_OK);
    double num = 0, den = 0;
    for (int j = 0; j < N * k; j++) {
        float keep = o[j];
        o[j] = keep + 1e-3f;
        double up = o[j], lp, lm;
        cl_loss_compute(&CLM, o, y, N, k, &lp, NULL, NULL);
        o[j] = keep - 1e-3f;
        double dn = o[j];
        cl_loss_compute(&CLM, o, y, N, k, &lm, NULL, NULL);
        o[j] = keep;
        double fd = (lp - lm) / (up - dn);
        num += (fd - d[j]) * (fd - d[j]);
        den += fd * fd;
    }
    cr_assert(sqrt(num / den) < 1e-4, "relative gradient error %g", sqrt(num / den));
}

Test(clm, extreme_logits_are_finite_and_exact)
{
    /* o = (1000, 2000): y = 0 certain, y = 1 costs 1000, y = 2 costs 2000 */
    const float o[2] = {1000.f, 2000.f};
    const double want[3] = {0.0, 1000.0, 2000.0};
    for (int y = 0; y < 3; y++) {
        int32_t lab[1] = {y};
        double l;
        float d[2];
        cr_assert_eq(cl_loss_compute(&CLM, o, lab, 1, 2, &l, d, NULL), CL_OK);
        cr_assert(fabs(l - want[y]) <= 1e-9 * (1 + want[y]), "y=%d: %.17g", y, l);
        cr_assert(isfinite(d[0]) && isfinite(d[1]), "y=%d: gradient not finite", y);
    }
    /* the mirror image, and a tiny gap: P(1) = sigmoid(1e-6) - 1/2 ~ 2.5e-7 */
    const float m[2] = {-2000.f, -1000.f}, t[2] = {0.f, 1e-6f};
    int32_t two[1] = {2}, mid[1] = {1};
    double l;
    float d[2];
    cr_assert_eq(cl_loss_compute(&CLM, m, two, 1, 2, &l, d, NULL), CL_OK);
    cr_assert(fabs(l) < 1e-12 && isfinite(d[0]) && isfinite(d[1]));
    cr_assert_eq(cl_loss_compute(&CLM, t, mid, 1, 2, &l, d, NULL), CL_OK);
    double p = (double)t[1] / 4; /* sigmoid(x) - 1/2 = x/4 + O(x^3) */
    cr_assert(fabs(l + log(p)) < 1e-6, "tiny gap: %.12g vs %.12g", l, -log(p));
    /* non-increasing logits: P = 0, an infinite loss (the trainer stops on it) */
    const float bad[2] = {1.f, 0.5f};
    cr_assert_eq(cl_loss_compute(&CLM, bad, mid, 1, 2, &l, d, NULL), CL_OK);
    cr_assert(isinf(l) && l > 0);
}

static cl_layer_spec cum(int out)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = CL_LAYER_CUMLINK;
    s.out = out;
    return s;
}

Test(clm, cumlink_gradcheck_even_and_learned)
{
    for (int jitter = 0; jitter < 2; jitter++) {
        cl_layer_spec s = cum(5);
        gc_opts o = gc_opts_default(6);
        o.param_jitter = jitter ? 0.8f : 0.f; /* raw gaps away from the even init */
        gc_result r;
        cr_assert_eq(gc_layer(&s, (cl_shape){1, 1, 1}, &o, &r), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(r.np, 5, "K-1 = 5 threshold parameters");
        gc_assert_tol(&r, jitter ? "cumlink learned" : "cumlink even", 1e-3);
    }
}

Test(clm, thresholds_even_and_always_ordered)
{
    float p[7];
    double b[7];
    cl_cumlink_set_even(p, 7, 0.5);
    cl_cumlink_thresholds(p, 7, b);
    for (int q = 0; q < 7; q++)
        cr_assert(fabs(b[q] - 0.5 * (q - 3)) < 1e-6, "b[%d] = %.9g", q, b[q]);
    cl_cumlink_set_even(p, 3, 40.0); /* large spacings stay exact too */
    cl_cumlink_thresholds(p, 3, b);
    cr_assert(fabs(b[0] + 40) < 1e-5 && fabs(b[1]) < 1e-5 && fabs(b[2] - 40) < 1e-5);
    /* any raw parameters decode to increasing thresholds */
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    for (int t = 0; t < 100; t++) {
        for (int q = 0; q < 7; q++) p[q] = (float)(8 * cl_rng_normal(&rng));
        cl_cumlink_thresholds(p, 7, b);
        for (int q = 1; q < 7; q++) cr_assert(b[q] > b[q - 1], "trial %d: b not increasing", t);
    }
    /* the layer needs the 1-unit latent */
    cl_layer_spec s = cum(4);
    cl_model *m = NULL;
    cl_rng_seed(&rng, 1);
    cr_assert_eq(cl_model_create(&m, (cl_shape){3, 1, 1}, &s, 1, &rng), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "1-unit latent"), "%s", cl_errmsg());
}

/* --loss clm on a named architecture and on a model file. */
Test(clm, head_building)
{
    cl_modelcfg c;
    cr_assert_eq(cl_modelcfg_from_arch("mlp", &c), CL_OK);
    cl_head_opts h = {.classes = 6, .bias = 1, .clm = 1, .clm_learned = 1, .clm_spacing = 2};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m = NULL;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 28, 28}, &h, &rng, &m, NULL), CL_OK, "%s",
                 cl_errmsg());
    const cl_layer *fc = &m->layers[m->nlayers - 2], *t = &m->layers[m->nlayers - 1];
    cr_assert_eq(t->spec.kind, CL_LAYER_CUMLINK);
    cr_assert(fc->spec.classifier && fc->out.c == 1 && !fc->spec.bias, "1-unit latent, no bias");
    cr_assert_eq(t->out.c, 5);
    cr_assert_eq(t->spec.frozen, 0, "learned thresholds are trained");
    double b[5];
    cl_cumlink_thresholds(m->params + t->param_off, 5, b);
    cr_assert(fabs(b[0] + 4) < 1e-5 && fabs(b[4] - 4) < 1e-5, "spacing 2: %g .. %g", b[0], b[4]);
    cl_model_destroy(m);
    h.clm_learned = 0;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 28, 28}, &h, &rng, &m, NULL), CL_OK);
    cr_assert_eq(m->layers[m->nlayers - 1].spec.frozen, 1, "fixed thresholds are frozen");
    cl_model_destroy(m);
    cl_modelcfg_free(&c);

    /* a model file that declares its cumlink (out filled from the data) */
    const char *txt = "[flat]\nkind = flatten\n[z]\nkind = linear\n[cuts]\nkind = cumlink\n";
    cr_assert_eq(cl_modelcfg_parse_text(txt, "o.cfg", &c), CL_OK, "%s", cl_errmsg());
    h.clm_learned = 1;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 4, 4}, &h, &rng, &m, NULL), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(m->nlayers, 3, "no second cumlink appended");
    cr_assert_eq(m->layers[2].out.c, 5);
    cl_model_destroy(m);
    /* the same file without --loss clm is refused, naming the layer */
    cl_head_opts plain = {.classes = 6, .bias = 1};
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){1, 4, 4}, &plain, &rng, &m, NULL), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "[cuts]") && strstr(cl_errmsg(), "--loss clm"), "%s",
              cl_errmsg());
    cl_modelcfg_free(&c);
}
