/* C builders of the named architectures (MLP, CIFAR ResNets, ConvNet). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/builders.h"
#include "collapse/mem.h"

cl_arch_opts cl_arch_opts_default(void)
{
    cl_arch_opts o;
    memset(&o, 0, sizeof o);
    o.bn = -1;
    return o;
}

/* A spec list under construction (capacity fixed up front). */
typedef struct {
    cl_layer_spec *s;
    int n, cap;
} list;

static cl_layer_spec *push(list *l, cl_layer_kind kind, const char *fmt, int idx)
{
    CL_ASSERT(l->n < l->cap);
    cl_layer_spec *s = &l->s[l->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->bias = 1;
    snprintf(s->name, sizeof s->name, fmt, idx);
    return s;
}

static cl_status start(list *l, int cap, int classes, const char *what)
{
    if (classes < 2)
        return cl_error(CL_EINVAL, "%s: need at least 2 classes (got %d)", what, classes);
    l->s = cl_alloc_array((size_t)cap, sizeof *l->s, "model specs");
    l->n = 0;
    l->cap = cap;
    return l->s ? CL_OK : CL_ENOMEM;
}

/* Optional `feat` linear + ReLU, then the classifier `fc`. */
static void finish(list *l, int feature_dim, int classes, cl_layer_spec **specs, int *n)
{
    if (feature_dim > 0) {
        push(l, CL_LAYER_LINEAR, "feat", 0)->out = feature_dim;
        push(l, CL_LAYER_RELU, "feat_relu", 0);
    }
    cl_layer_spec *fc = push(l, CL_LAYER_LINEAR, "fc", 0);
    fc->out = classes;
    fc->classifier = 1;
    *specs = l->s;
    *n = l->n;
}

cl_status cl_build_mlp(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    int width = o->width > 0 ? o->width : 1024;
    int depth = o->depth > 0 ? o->depth : 3;
    int bn = o->bn >= 0 ? o->bn : 0;
    if (depth > 64)
        return cl_error(CL_EINVAL, "mlp: depth %d is too large (max 64)", depth);
    list l;
    CL_TRY(start(&l, 2 + 3 * depth, classes, "mlp"));
    push(&l, CL_LAYER_FLATTEN, "flatten", 0);
    for (int i = 1; i <= depth; i++) {
        int last = i == depth;
        push(&l, CL_LAYER_LINEAR, "fc%d", i)->out =
            last && o->feature_dim > 0 ? o->feature_dim : width;
        if (bn) push(&l, CL_LAYER_BATCHNORM, "bn%d", i);
        push(&l, CL_LAYER_RELU, "relu%d", i);
    }
    finish(&l, 0, classes, specs, n);
    return CL_OK;
}

cl_status cl_build_resnet(const int *blocks, const int *widths, int nstages,
                          const cl_arch_opts *o, int classes, cl_layer_spec **specs,
                          int *n)
{
    int nblocks = 0;
    for (int s = 0; s < nstages; s++) {
        if (widths[s] < 1)
            return cl_error(CL_EINVAL, "resnet: stage %d has width %d", s + 1, widths[s]);
        nblocks += blocks[s];
    }
    list l;
    CL_TRY(start(&l, nblocks + 8, classes, "resnet"));
    cl_layer_spec *c = push(&l, CL_LAYER_CONV2D, "stem_conv", 0);
    c->out = widths[0];
    c->k = 3;
    c->stride = 1;
    c->pad = 1;
    c->bias = 0;
    push(&l, CL_LAYER_BATCHNORM, "stem_bn", 0);
    push(&l, CL_LAYER_RELU, "stem_relu", 0);
    int b = 0;
    for (int s = 0; s < nstages; s++)
        for (int j = 0; j < blocks[s]; j++) {
            cl_layer_spec *blk = push(&l, CL_LAYER_BLOCK, "block%d", ++b);
            blk->out = widths[s];
            blk->stride = s > 0 && j == 0 ? 2 : 1;
            blk->bias = 0;
        }
    push(&l, CL_LAYER_GAP, "pool", 0);
    push(&l, CL_LAYER_FLATTEN, "flatten", 0);
    finish(&l, o->feature_dim, classes, specs, n);
    return CL_OK;
}

cl_status cl_build_convnet(const cl_arch_opts *o, int classes, cl_layer_spec **specs,
                           int *n)
{
    int width = o->width > 0 ? o->width : 32;
    int depth = o->depth > 0 ? o->depth : 2;
    int bn = o->bn >= 0 ? o->bn : 1;
    if (depth > 8)
        return cl_error(CL_EINVAL, "convnet: depth %d is too large (max 8)", depth);
    if ((int64_t)width << (depth - 1) > (1 << 16))
        return cl_error(CL_EINVAL, "convnet: width %d x 2^%d channels is too large",
                        width, depth - 1);
    list l;
    CL_TRY(start(&l, 4 * depth + 5, classes, "convnet"));
    for (int i = 1; i <= depth; i++) {
        cl_layer_spec *c = push(&l, CL_LAYER_CONV2D, "conv%d", i);
        c->out = width << (i - 1);
        c->k = 3;
        c->pad = 1;
        c->bias = 0;
        if (bn) push(&l, CL_LAYER_BATCHNORM, "bn%d", i);
        push(&l, CL_LAYER_RELU, "relu%d", i);
        push(&l, CL_LAYER_MAXPOOL, "pool%d", i)->k = 2;
    }
    push(&l, CL_LAYER_GAP, "gap", 0);
    push(&l, CL_LAYER_FLATTEN, "flatten", 0);
    finish(&l, o->feature_dim, classes, specs, n);
    return CL_OK;
}

static const char *const arch_names[] = {"mlp",      "resnet20", "resnet32", "resnet56",
                                         "resnet18", "resnet34", "convnet"};

int cl_arch_known(const char *type)
{
    for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++)
        if (!strcmp(type, arch_names[i])) return 1;
    return 0;
}

cl_status cl_build_arch(const char *type, const cl_arch_opts *o, int classes,
                        cl_layer_spec **specs, int *n)
{
    if (o->width < 0 || o->depth < 0 || o->width_mult < 0 || o->feature_dim < 0)
        return cl_error(CL_EINVAL, "%s: negative width/depth/width_mult/feature_dim",
                        type);
    if (!strcmp(type, "mlp")) return cl_build_mlp(o, classes, specs, n);
    if (!strcmp(type, "convnet")) return cl_build_convnet(o, classes, specs, n);
    int cifar = !strcmp(type, "resnet20")   ? 3
                : !strcmp(type, "resnet32") ? 5
                : !strcmp(type, "resnet56") ? 9
                                            : 0;
    if (cifar) {
        int base = o->width > 0 ? o->width : 16;
        int blocks[3] = {cifar, cifar, cifar}, widths[3] = {base, 2 * base, 4 * base};
        return cl_build_resnet(blocks, widths, 3, o, classes, specs, n);
    }
    static const int b18[4] = {2, 2, 2, 2}, b34[4] = {3, 4, 6, 3};
    const int *blocks = !strcmp(type, "resnet18")   ? b18
                        : !strcmp(type, "resnet34") ? b34
                                                    : NULL;
    if (!blocks)
        return cl_error(CL_EINVAL,
                        "unknown architecture '%s' (mlp, resnet20, resnet32, resnet56, "
                        "resnet18, resnet34, convnet)",
                        type);
    double mult = o->width_mult > 0 ? o->width_mult : 1.0;
    int base = o->width > 0 ? o->width : 64, widths[4];
    for (int s = 0; s < 4; s++) {
        double w = floor(base * mult * (1 << s) + 0.5);
        if (w < 1 || w > (1 << 16))
            return cl_error(CL_EINVAL, "%s: width_mult %g gives %g channels in stage %d",
                            type, mult, w, s + 1);
        widths[s] = (int)w;
    }
    return cl_build_resnet(blocks, widths, 4, o, classes, specs, n);
}
