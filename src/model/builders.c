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

static int keeps_shape(cl_layer_kind k)
{
    return k == CL_LAYER_BATCHNORM || k == CL_LAYER_RELU || k == CL_LAYER_FLATTEN;
}

cl_status cl_specs_set_feature_dim(cl_layer_spec *specs, int ci, int dim)
{
    int j = ci - 1;
    while (j >= 0 && keeps_shape(specs[j].kind)) j--;
    if (j < 0 || specs[j].kind != CL_LAYER_LINEAR)
        return cl_error(CL_EINVAL, "--feature-dim needs a linear layer before the classifier "
                                   "(only batchnorm/relu/flatten in between)");
    specs[j].out = dim;
    return CL_OK;
}

/* The classifier `fc`, with a `feat` linear + ReLU before it if `feat`
 * (architectures that end without a linear layer) and dim > 0; then the
 * classifier input gets width dim. */
static void finish(list *l, int dim, int feat, int classes, cl_layer_spec **specs, int *n)
{
    if (dim > 0 && feat) {
        push(l, CL_LAYER_LINEAR, "feat", 0);
        push(l, CL_LAYER_RELU, "feat_relu", 0);
    }
    cl_layer_spec *fc = push(l, CL_LAYER_LINEAR, "fc", 0);
    fc->out = classes;
    fc->classifier = 1;
    if (dim > 0) {
        cl_status st = cl_specs_set_feature_dim(l->s, l->n - 1, dim);
        CL_ASSERT(st == CL_OK); /* every builder has a linear layer before fc */
    }
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
        push(&l, CL_LAYER_LINEAR, "fc%d", i)->out = width;
        if (bn) push(&l, CL_LAYER_BATCHNORM, "bn%d", i);
        push(&l, CL_LAYER_RELU, "relu%d", i);
    }
    finish(&l, o->feature_dim, 0, classes, specs, n); /* the last fcI gets feature_dim */
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
    finish(&l, o->feature_dim, 1, classes, specs, n);
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
    finish(&l, o->feature_dim, 1, classes, specs, n);
    return CL_OK;
}

/* CIFAR ResNet-20/32/56: three stages of n blocks, widths base x 1/2/4. */
static cl_status build_cifar_resnet(int nb, const cl_arch_opts *o, int classes,
                                    cl_layer_spec **specs, int *n)
{
    int base = o->width > 0 ? o->width : 16;
    int blocks[3] = {nb, nb, nb}, widths[3] = {base, 2 * base, 4 * base};
    return cl_build_resnet(blocks, widths, 3, o, classes, specs, n);
}

/* ResNet-18/34 (CIFAR variant): four stages, widths base x mult x 1/2/4/8. */
static cl_status build_wide_resnet(const char *type, const int *blocks, const cl_arch_opts *o,
                                   int classes, cl_layer_spec **specs, int *n)
{
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

static cl_status build_resnet20(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    return build_cifar_resnet(3, o, classes, specs, n);
}

static cl_status build_resnet32(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    return build_cifar_resnet(5, o, classes, specs, n);
}

static cl_status build_resnet56(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    return build_cifar_resnet(9, o, classes, specs, n);
}

static cl_status build_resnet18(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    static const int blocks[4] = {2, 2, 2, 2};
    return build_wide_resnet("resnet18", blocks, o, classes, specs, n);
}

static cl_status build_resnet34(const cl_arch_opts *o, int classes, cl_layer_spec **specs, int *n)
{
    static const int blocks[4] = {3, 4, 6, 3};
    return build_wide_resnet("resnet34", blocks, o, classes, specs, n);
}

/* The one list of named architectures (model files, --arch, messages). */
static const cl_arch_info archs[] = {
    {"mlp", "flatten, depth x (linear [bn] relu), linear (Papyan et al.)",
     CL_ARCH_KEY_WIDTH | CL_ARCH_KEY_DEPTH | CL_ARCH_KEY_BN, cl_build_mlp},
    {"resnet20", "CIFAR ResNet-20: 3 stages of 3 BasicBlocks, widths 16/32/64",
     CL_ARCH_KEY_WIDTH, build_resnet20},
    {"resnet32", "CIFAR ResNet-32: 3 stages of 5 BasicBlocks", CL_ARCH_KEY_WIDTH,
     build_resnet32},
    {"resnet56", "CIFAR ResNet-56: 3 stages of 9 BasicBlocks", CL_ARCH_KEY_WIDTH,
     build_resnet56},
    {"resnet18", "ResNet-18 (CIFAR stem): 2-2-2-2 BasicBlocks, widths 64..512",
     CL_ARCH_KEY_WIDTH | CL_ARCH_KEY_WIDTH_MULT, build_resnet18},
    {"resnet34", "ResNet-34 (CIFAR stem): 3-4-6-3 BasicBlocks, widths 64..512",
     CL_ARCH_KEY_WIDTH | CL_ARCH_KEY_WIDTH_MULT, build_resnet34},
    {"convnet", "depth x (conv3x3 [bn] relu maxpool), gap, linear",
     CL_ARCH_KEY_WIDTH | CL_ARCH_KEY_DEPTH | CL_ARCH_KEY_BN, cl_build_convnet},
};
#define NARCHS ((int)(sizeof archs / sizeof archs[0]))

const cl_arch_info *cl_arch_list(int *n)
{
    *n = NARCHS;
    return archs;
}

const cl_arch_info *cl_arch_find(const char *name)
{
    for (int i = 0; name && i < NARCHS; i++)
        if (!strcmp(name, archs[i].name)) return &archs[i];
    return NULL;
}

void cl_arch_names(char *buf, size_t cap, const char *sep)
{
    CL_ASSERT(buf && cap > 0);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < NARCHS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "", archs[i].name);
}

int cl_arch_known(const char *type) { return cl_arch_find(type) != NULL; }

cl_status cl_build_arch(const char *type, const cl_arch_opts *o, int classes,
                        cl_layer_spec **specs, int *n)
{
    if (o->width < 0 || o->depth < 0 || o->width_mult < 0 || o->feature_dim < 0)
        return cl_error(CL_EINVAL, "%s: negative width/depth/width_mult/feature_dim",
                        type);
    const cl_arch_info *a = cl_arch_find(type);
    if (!a) {
        char names[128];
        cl_arch_names(names, sizeof names, ", ");
        return cl_error(CL_EINVAL, "unknown architecture '%s' (%s)", type, names);
    }
    return a->build(o, classes, specs, n);
}
