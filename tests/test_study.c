/* The per-epoch collapse study: the schedule of analyzed epochs and the tap
 * rule (which layers are analyzed). The study inside a training run, its
 * sweeps and its figures are in test_study_{run,sweeps,plot}.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/study.h"
#include "collapse/train.h"
#include "common.h"
#include "study_common.h"

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
