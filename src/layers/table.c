/* The ops table of every layer kind (indexed by cl_layer_kind) and the
 * kind names used by model files and summaries. */
#include <string.h>

#include "layers.h"

const cl_layer_ops *const cl_layer_ops_table[CL_LAYER_KIND_COUNT] = {
    [CL_LAYER_LINEAR] = &cl_linear_ops,   [CL_LAYER_CONV2D] = &cl_conv2d_ops,
    [CL_LAYER_BATCHNORM] = &cl_batchnorm_ops, [CL_LAYER_RELU] = &cl_relu_ops,
    [CL_LAYER_MAXPOOL] = &cl_maxpool_ops, [CL_LAYER_AVGPOOL] = &cl_avgpool_ops,
    [CL_LAYER_GAP] = &cl_gap_ops,         [CL_LAYER_FLATTEN] = &cl_flatten_ops,
    [CL_LAYER_BLOCK] = &cl_block_ops,
};

static const char *const kind_names[CL_LAYER_KIND_COUNT] = {
    [CL_LAYER_LINEAR] = "linear",   [CL_LAYER_CONV2D] = "conv2d", [CL_LAYER_BATCHNORM] = "batchnorm",
    [CL_LAYER_RELU] = "relu",       [CL_LAYER_MAXPOOL] = "maxpool", [CL_LAYER_AVGPOOL] = "avgpool",
    [CL_LAYER_GAP] = "gap",         [CL_LAYER_FLATTEN] = "flatten", [CL_LAYER_BLOCK] = "block",
};

const char *cl_layer_kind_name(cl_layer_kind k)
{
    if ((int)k < 0 || k >= CL_LAYER_KIND_COUNT) return "unknown";
    return kind_names[k];
}

int cl_layer_kind_parse(const char *name)
{
    if (!name) return -1;
    for (int k = 0; k < CL_LAYER_KIND_COUNT; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}
