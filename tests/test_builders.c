/* Model builders (builders.h) and the shipped model files: layer names and
 * shapes, parameter counts against PyTorch re-implementations, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "collapse/builders.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "common.h"

static void build(const char *type, cl_arch_opts o, int classes, cl_layer_spec **s,
                  int *n)
{
    cr_assert_eq(cl_build_arch(type, &o, classes, s, n), CL_OK, "%s: %s", type,
                 cl_errmsg());
}

/* "name:kind" of every layer, space separated. */
static void layout(const cl_layer_spec *s, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s:%s", i ? " " : "", s[i].name,
                                cl_layer_kind_name(s[i].kind));
}

Test(builders, mlp_names_and_widths)
{
    cl_layer_spec *s;
    int n;
    build("mlp", cl_arch_opts_default(), 10, &s, &n);
    char buf[1024];
    layout(s, n, buf, sizeof buf);
    cr_assert_str_eq(buf, "flatten:flatten fc1:linear relu1:relu fc2:linear relu2:relu "
                          "fc3:linear relu3:relu fc:linear");
    cr_assert_eq(s[1].out, 1024);
    cr_assert_eq(s[n - 1].out, 10);
    cr_assert(s[n - 1].classifier);
    cl_free(s);

    cl_arch_opts o = cl_arch_opts_default();
    o.width = 100;
    o.depth = 6;
    o.bn = 1;
    o.feature_dim = 16;
    build("mlp", o, 7, &s, &n);
    cr_assert_eq(n, 1 + 6 * 3 + 1);
    cr_assert_str_eq(s[2].name, "bn1");
    cr_assert_eq(s[2].kind, CL_LAYER_BATCHNORM);
    cr_assert_eq(s[1].out, 100);
    cr_assert_eq(s[16].out, 16, "last hidden layer gets the feature dim");
    cr_assert_str_eq(s[16].name, "fc6");
    cr_assert_eq(s[n - 1].out, 7);
    cl_free(s);
}

Test(builders, cifar_resnets)
{
    static const struct {
        const char *type;
        int blocks;
    } cases[] = {{"resnet20", 9}, {"resnet32", 15}, {"resnet56", 27}};
    for (int c = 0; c < 3; c++) {
        cl_layer_spec *s;
        int n;
        build(cases[c].type, cl_arch_opts_default(), 10, &s, &n);
        int nb = cases[c].blocks, per = nb / 3;
        cr_assert_eq(n, 3 + nb + 3, "%s", cases[c].type);
        cr_assert_str_eq(s[0].name, "stem_conv");
        cr_assert_eq(s[0].k, 3);
        cr_assert_eq(s[0].out, 16);
        cr_assert_str_eq(s[1].name, "stem_bn");
        cr_assert_str_eq(s[2].name, "stem_relu");
        for (int b = 0; b < nb; b++) {
            const cl_layer_spec *l = &s[3 + b];
            char name[32];
            snprintf(name, sizeof name, "block%d", b + 1);
            cr_assert_str_eq(l->name, name);
            cr_assert_eq(l->kind, CL_LAYER_BLOCK);
            cr_assert_eq(l->out, 16 << (b / per));
            cr_assert_eq(l->stride, b > 0 && b % per == 0 ? 2 : 1, "%s %s", cases[c].type,
                         name);
        }
        cr_assert_str_eq(s[n - 3].name, "pool");
        cr_assert_eq(s[n - 3].kind, CL_LAYER_GAP);
        cr_assert_str_eq(s[n - 2].name, "flatten");
        cr_assert_str_eq(s[n - 1].name, "fc");
        cl_free(s);
    }
}

Test(builders, resnet18_34_width_mult)
{
    cl_layer_spec *s;
    int n;
    cl_arch_opts o = cl_arch_opts_default();
    o.width_mult = 0.25;
    build("resnet18", o, 10, &s, &n);
    cr_assert_eq(n, 3 + 8 + 3);
    static const int w18[8] = {16, 16, 32, 32, 64, 64, 128, 128};
    static const int st18[8] = {1, 1, 2, 1, 2, 1, 2, 1};
    cr_assert_eq(s[0].out, 16, "stem is 64 x width_mult");
    for (int b = 0; b < 8; b++) {
        cr_assert_eq(s[3 + b].out, w18[b]);
        cr_assert_eq(s[3 + b].stride, st18[b]);
    }
    cl_free(s);
    build("resnet34", cl_arch_opts_default(), 100, &s, &n);
    cr_assert_eq(n, 3 + 16 + 3);
    cr_assert_eq(s[3 + 15].out, 512);
    cr_assert_eq(s[n - 1].out, 100);
    cl_free(s);
    o.width_mult = 0.001;
    cr_assert_eq(cl_build_arch("resnet18", &o, 10, &s, &n), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "width_mult"), "%s", cl_errmsg());
}

Test(builders, feature_dim_adds_feat_layer)
{
    cl_layer_spec *s;
    int n;
    cl_arch_opts o = cl_arch_opts_default();
    o.feature_dim = 12;
    build("resnet20", o, 10, &s, &n);
    cr_assert_str_eq(s[n - 3].name, "feat");
    cr_assert_eq(s[n - 3].kind, CL_LAYER_LINEAR);
    cr_assert_eq(s[n - 3].out, 12);
    cr_assert_str_eq(s[n - 2].name, "feat_relu");
    cl_free(s);
}

Test(builders, errors)
{
    cl_layer_spec *s;
    int n;
    cl_arch_opts o = cl_arch_opts_default();
    cr_assert_eq(cl_build_arch("resnet99", &o, 10, &s, &n), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "resnet99"), "%s", cl_errmsg());
    cr_assert_eq(cl_build_arch("mlp", &o, 1, &s, &n), CL_EINVAL);
    o.depth = 100;
    cr_assert_eq(cl_build_arch("mlp", &o, 10, &s, &n), CL_EINVAL);
}

/* The builder's ConvNet / MLP equal the layer-by-layer model files. */
static void same_as_file(const char *type, const char *path, cl_shape in)
{
    cl_modelcfg a, b;
    cr_assert_eq(cl_modelcfg_from_arch(type, &a), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_modelcfg_parse_file(path, &b), CL_OK, "%s", cl_errmsg());
    cl_head_opts h = {.classes = 10, .bias = 1};
    cl_layer_spec *sa, *sb;
    int na, nb;
    cr_assert_eq(cl_modelcfg_specs(&a, in, &h, &sa, &na), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_modelcfg_specs(&b, in, &h, &sb, &nb), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(na, nb, "%s vs %s", type, path);
    for (int i = 0; i < na; i++) {
        cr_assert_str_eq(sa[i].name, sb[i].name);
        cr_assert_eq(sa[i].kind, sb[i].kind, "%s", sa[i].name);
        cr_assert_eq(sa[i].out, sb[i].out, "%s", sa[i].name);
        cr_assert_eq(sa[i].k, sb[i].k, "%s", sa[i].name);
        cr_assert_eq(sa[i].pad, sb[i].pad, "%s", sa[i].name);
        cr_assert_eq(sa[i].bias, sb[i].bias, "%s", sa[i].name);
        cr_assert_eq(sa[i].classifier, sb[i].classifier, "%s", sa[i].name);
    }
    cl_free(sa);
    cl_free(sb);
    cl_modelcfg_free(&a);
    cl_modelcfg_free(&b);
}

Test(builders, builders_match_layer_files)
{
    same_as_file("convnet", "../models/convnet_layers.cfg", (cl_shape){1, 28, 28});
    same_as_file("mlp", "../models/mlp_layers.cfg", (cl_shape){1, 28, 28});
}

Test(builders, unused_keys_are_errors)
{
    cl_modelcfg c;
    cr_assert_eq(
        cl_modelcfg_parse_text("[model]\ntype = resnet20\ndepth = 4\n", "x.cfg", &c),
        CL_OK);
    cl_head_opts h = {.classes = 10, .bias = 1};
    cl_layer_spec *s;
    int n;
    cr_assert_eq(cl_modelcfg_specs(&c, (cl_shape){3, 32, 32}, &h, &s, &n), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "x.cfg") && strstr(cl_errmsg(), "'depth'"), "%s",
              cl_errmsg());
    cl_modelcfg_free(&c);
    cr_assert_eq(
        cl_modelcfg_parse_text("[model]\ntype = mlp\nwidth_mult = 2\n", "y.cfg", &c),
        CL_OK);
    cr_assert_eq(cl_modelcfg_specs(&c, (cl_shape){1, 28, 28}, &h, &s, &n), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "width_mult"), "%s", cl_errmsg());
    cl_modelcfg_free(&c);
}

/* Every shipped model file builds, with the parameter count of a PyTorch
 * re-implementation (projection shortcuts; counted with torch 1.13). */
Test(builders, model_files_build_with_torch_param_counts)
{
    static const struct {
        const char *file;
        cl_shape in;
        int64_t params;
    } cases[] = {
        {"../models/resnet20.cfg", {3, 32, 32}, 272474},
        {"../models/resnet32.cfg", {3, 32, 32}, 466906},
        {"../models/resnet56.cfg", {3, 32, 32}, 855770},
        {"../models/resnet18.cfg", {3, 32, 32}, 11173962},
        {"../models/resnet18_narrow.cfg", {3, 32, 32}, 701466},
        /* 784*1024+1024 + 2*(1024*1024+1024) + 1024*10+10 */
        {"../models/mlp.cfg", {1, 28, 28}, 2913290},
        {"../models/mlp_layers.cfg", {1, 28, 28}, 2913290},
        /* 784*100+100 + 5*(100*100+100) + 6*200 + 100*10+10 */
        {"../models/mlp_bn.cfg", {1, 28, 28}, 131210},
        /* 1*32*9 + 64 + 32*64*9 + 128 + 64*10+10 */
        {"../models/convnet.cfg", {1, 28, 28}, 19562},
        {"../models/convnet_layers.cfg", {1, 28, 28}, 19562},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cl_modelcfg c;
        cr_assert_eq(cl_modelcfg_parse_file(cases[i].file, &c), CL_OK, "%s", cl_errmsg());
        cl_head_opts h = {.classes = 10, .bias = 1};
        cl_rng rng;
        cl_rng_seed(&rng, 1);
        cl_model *m;
        char *text;
        cr_assert_eq(cl_modelcfg_build(&c, cases[i].in, &h, &rng, &m, &text), CL_OK,
                     "%s: %s", cases[i].file, cl_errmsg());
        cr_assert_eq(m->nparams, cases[i].params, "%s: %lld params", cases[i].file,
                     (long long)m->nparams);
        cr_assert_str_eq(m->layers[m->nlayers - 1].spec.name, "fc");
        cr_assert_eq(cl_model_classifier_index(m), m->nlayers - 1);
        cr_assert(cl_model_features_nonneg(m), "%s: ReLU features", cases[i].file);
        /* the spec text rebuilds the same model */
        cl_model *r;
        cr_assert_eq(cl_modelcfg_rebuild(text, "text", &r), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(r->nparams, m->nparams);
        cr_assert_eq(r->nlayers, m->nlayers);
        for (int l = 0; l < m->nlayers; l++)
            cr_assert_str_eq(r->layers[l].spec.name, m->layers[l].spec.name);
        cl_model_destroy(r);
        cl_model_destroy(m);
        cl_free(text);
        cl_modelcfg_free(&c);
    }
}

/* The fixed ETF head: frozen, no bias, rows of a simplex ETF; needs D >= K. */
Test(builders, etf_head)
{
    cl_modelcfg c;
    cr_assert_eq(cl_modelcfg_from_arch("resnet20", &c), CL_OK);
    cl_head_opts h = {.classes = 10, .bias = 1, .etf = 1, .etf_mode = 1, .etf_seed = 3};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    cl_model *m;
    cr_assert_eq(cl_modelcfg_build(&c, (cl_shape){3, 32, 32}, &h, &rng, &m, NULL), CL_OK,
                 "%s", cl_errmsg());
    int ci = cl_model_classifier_index(m);
    const cl_layer *l = &m->layers[ci];
    cr_assert(l->spec.frozen && !l->spec.bias);
    const float *W = m->params + l->param_off;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            double d = 0;
            for (int k = 0; k < 64; k++)
                d += (double)W[i * 64 + k] * W[j * 64 + k];
            cr_assert_float_eq(d, i == j ? 1.0 : -1.0 / 9, 1e-5, "W W^T [%d][%d] = %g", i,
                               j, d);
        }
    cl_model_destroy(m);
    h.feature_dim = 5;
    cr_assert_neq(cl_modelcfg_build(&c, (cl_shape){3, 32, 32}, &h, &rng, &m, NULL),
                  CL_OK);
    cr_assert(strstr(cl_errmsg(), "feature"), "%s", cl_errmsg());
    cl_modelcfg_free(&c);
}

/* One list of architecture names: every entry builds, is found by name, is
 * accepted by --arch and model files, and the messages list all of them. */
Test(builders, arch_table)
{
    int na = 0;
    const cl_arch_info *a = cl_arch_list(&na);
    cr_assert_geq(na, 7);
    char names[256];
    cl_arch_names(names, sizeof names, ", ");
    for (int i = 0; i < na; i++) {
        cr_assert_eq(cl_arch_find(a[i].name), &a[i]);
        cr_assert(cl_arch_known(a[i].name));
        cr_assert(a[i].descr && a[i].descr[0] && (a[i].keys & CL_ARCH_KEY_WIDTH));
        cr_assert(strstr(names, a[i].name), "%s", names);
        cl_modelcfg c;
        cr_assert_eq(cl_modelcfg_from_arch(a[i].name, &c), CL_OK, "%s", cl_errmsg());
        cr_assert_str_eq(c.type, a[i].name);
        cl_modelcfg_free(&c);
    }
    cr_assert_null(cl_arch_find("resnet99"));
    cr_assert_null(cl_arch_find(NULL));
    cl_modelcfg c;
    cr_assert_eq(cl_modelcfg_from_arch("resnet99", &c), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "unknown architecture 'resnet99'") &&
                  strstr(cl_errmsg(), names),
              "%s", cl_errmsg());
    char tiny[8];
    cl_arch_names(tiny, sizeof tiny, " ");
    cr_assert_eq(strlen(tiny), sizeof tiny - 1, "truncated, NUL-terminated: '%s'", tiny);
}

Test(builders, etf_mode_parse)
{
    cl_etf_mode m = CL_ETF_ROTATE;
    cr_assert_eq(cl_etf_mode_parse("pad", &m), CL_OK);
    cr_assert_eq(m, CL_ETF_PAD);
    cr_assert_eq(cl_etf_mode_parse("rotate", &m), CL_OK);
    cr_assert_eq(m, CL_ETF_ROTATE);
    cr_assert_str_eq(cl_etf_mode_name(m), "rotate");
    cr_assert_eq(cl_etf_mode_parse("Pad", &m), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "'Pad'"), "%s", cl_errmsg());
    cr_assert_eq(m, CL_ETF_ROTATE, "unchanged on error");
}

/* A checkpoint's model text is checked against the stored parameter count
 * before the model is allocated: a small file whose text describes a model
 * of 4G parameters (16 GB, twice with the gradients) is refused at once
 * (issue 11; eval/features/analyze rebuilt and zeroed it first). */
Test(builders, rebuild_sized_refuses_a_huge_text_before_allocating)
{
    const char *huge = "[input]\nshape = 1,1024,1024\n\n[flatten]\nkind = flatten\n\n"
                       "[fc]\nkind = linear\nout = 4096\nclassifier = 1\n";
    int capped = tc_limit_memory((size_t)1 << 30);
    cl_model *m = (cl_model *)1;
    cr_assert_eq(cl_modelcfg_rebuild_sized(huge, "x/model.ckpt", 10, 0, &m), CL_EFORMAT, "%s",
                 cl_errmsg());
    cr_assert_null(m);
    cr_assert(strstr(cl_errmsg(), "x/model.ckpt: 10 params/0 bufs stored, the model text needs "
                                  "4294971392/0"),
              "%s", cl_errmsg());
    if (capped) { /* without the count check the same text is an allocation of 32 GB */
        cr_assert_eq(cl_modelcfg_rebuild(huge, "x/model.ckpt", &m), CL_ENOMEM, "%s",
                     cl_errmsg());
        cr_assert_null(m);
    }
    /* the right counts rebuild a small model as before */
    const char *small = "[input]\nshape = 1,2,2\n\n[flatten]\nkind = flatten\n\n"
                        "[fc]\nkind = linear\nout = 3\nclassifier = 1\n";
    cr_assert_eq(cl_modelcfg_rebuild_sized(small, "s", 15, 0, &m), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(m->nparams, 15);
    cl_model_destroy(m);
}
