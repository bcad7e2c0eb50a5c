/* The ops table of every layer kind (indexed by cl_layer_kind); the kind
 * names, name prefixes and key masks live in the ops themselves. */
#include <stdio.h>
#include <string.h>

#include "layers.h"

const cl_layer_ops *const cl_layer_ops_table[CL_LAYER_KIND_COUNT] = {
    [CL_LAYER_LINEAR] = &cl_linear_ops,   [CL_LAYER_CONV2D] = &cl_conv2d_ops,
    [CL_LAYER_BATCHNORM] = &cl_batchnorm_ops, [CL_LAYER_RELU] = &cl_relu_ops,
    [CL_LAYER_MAXPOOL] = &cl_maxpool_ops, [CL_LAYER_AVGPOOL] = &cl_avgpool_ops,
    [CL_LAYER_GAP] = &cl_gap_ops,         [CL_LAYER_FLATTEN] = &cl_flatten_ops,
    [CL_LAYER_BLOCK] = &cl_block_ops,
    [CL_LAYER_CUMLINK] = &cl_cumlink_ops,
    [CL_LAYER_COSINE] = &cl_cosine_ops,
};

const char *cl_layer_kind_name(cl_layer_kind k)
{
    if ((int)k < 0 || k >= CL_LAYER_KIND_COUNT) return "unknown";
    return cl_layer_ops_table[k]->name;
}

cl_status cl_layer_kind_parse(const char *name, cl_layer_kind *kind)
{
    char all[128];
    size_t len = 0;
    for (int k = 0; k < CL_LAYER_KIND_COUNT; k++) {
        if (name && !strcmp(name, cl_layer_ops_table[k]->name)) {
            *kind = (cl_layer_kind)k;
            return CL_OK;
        }
        if (len < sizeof all)
            len += (size_t)snprintf(all + len, sizeof all - len, "%s%s", k ? ", " : "",
                                    cl_layer_ops_table[k]->name);
    }
    return cl_error(CL_EINVAL, "unknown layer kind '%s' (%s)", name ? name : "(null)", all);
}

cl_status cl_layer_check_keys(const cl_layer *l)
{
    const cl_layer_spec *s = &l->spec;
    const cl_layer_ops *o = cl_layer_ops_table[s->kind];
    const char *nm = s->name[0] ? s->name : "(unnamed)";
    const struct {
        unsigned key;
        const char *name;
        int set;
    } f[] = {{CL_LAYER_KEY_OUT, "out", s->out != 0},          {CL_LAYER_KEY_K, "k", s->k != 0},
             {CL_LAYER_KEY_STRIDE, "stride", s->stride != 0}, {CL_LAYER_KEY_PAD, "pad", s->pad != 0},
             {CL_LAYER_KEY_EPS, "eps", s->eps != 0},
             {CL_LAYER_KEY_MOMENTUM, "momentum", s->momentum != 0},
             {CL_LAYER_KEY_TEMPERATURE, "temperature", s->temperature != 0}};
    const int nf = (int)(sizeof f / sizeof f[0]);
    int bad = 0, nout = 0;
    for (int i = 0; i < nf; i++)
        if (!(o->keys & f[i].key)) {
            nout++;
            bad |= f[i].set;
        }
    if (bad) {
        /* "a, b and c" of the keys the kind does not use */
        char list[96];
        size_t len = 0;
        for (int i = 0, j = 0; i < nf; i++)
            if (!(o->keys & f[i].key)) {
                const char *sep = !j ? "" : nout == nf ? ", " : j == nout - 1 ? " and " : ", ";
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", sep, f[i].name);
                j++;
            }
        if (nout == nf)
            return cl_error(CL_EINVAL, "layer '%s' (%s): takes no options (%s)", nm, o->name,
                            list);
        return cl_error(CL_EINVAL, "layer '%s' (%s): %s do not apply", nm, o->name, list);
    }
    if (s->classifier && !(o->keys & CL_LAYER_KEY_CLASSIFIER))
        return cl_error(CL_EINVAL, "layer '%s' (%s): has no parameters, cannot be the classifier",
                        nm, o->name);
    return CL_OK;
}
