/* Which layers the study taps (rule documented in study.h):
 * the input; every top-level RELU and BLOCK before the classifier; the
 * classifier's input (the layer just before it). */
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/study.h"

static void set_tap(cl_study_tap *t, int layer, int dim, const char *name)
{
    t->layer = layer;
    t->dim = dim;
    snprintf(t->name, sizeof t->name, "%s", name);
    for (char *c = t->name; *c; c++) /* the name goes into a CSV cell */
        if (*c == ',' || *c == '"' || *c == '\n' || *c == '\r') *c = '_';
}

int cl_study_taps(const cl_model *m, cl_study_tap *taps)
{
    int cls = cl_model_classifier_index(m);
    if (cls < 0) {
        cl_error(CL_EINVAL, "study: the model has no classifier (linear) layer");
        return -1;
    }
    int n = 0;
    set_tap(&taps[n++], CL_STUDY_INPUT_TAP, (int)cl_shape_size(m->in), "input");
    for (int i = 0; i < cls; i++) {
        cl_layer_kind k = m->layers[i].spec.kind;
        if (k == CL_LAYER_RELU || k == CL_LAYER_BLOCK)
            set_tap(&taps[n++], i, (int)cl_shape_size(m->layers[i].out), m->layers[i].spec.name);
    }
    int pen = cls - 1; /* -1 = the input itself */
    if (taps[n - 1].layer != pen) {
        const char *name = pen < 0 ? "input" : m->layers[pen].spec.name;
        int dim = (int)(pen < 0 ? cl_shape_size(m->in) : cl_shape_size(m->layers[pen].out));
        set_tap(&taps[n++], pen, dim, name);
    }
    return n;
}

cl_status cl_study_taps_alloc(const cl_model *m, cl_study_tap **taps, int *n)
{
    *n = 0;
    *taps = cl_alloc_array((size_t)m->nlayers + 2, sizeof **taps, "study taps");
    if (!*taps) return CL_ENOMEM;
    if ((*n = cl_study_taps(m, *taps)) < 0) {
        cl_free(*taps);
        *taps = NULL;
        *n = 0;
        return CL_EINVAL;
    }
    return CL_OK;
}
