/* Fuzz target: the model file parser (cl_modelcfg_parse_text, libinih
 * underneath) and the spec resolution (cl_modelcfg_specs). The input is
 * the file text (cut at the first NUL, as a text file would be refused).
 * An explicit layer list that resolves must survive cl_modelcfg_format ->
 * parse -> specs unchanged: that text is what checkpoints store.
 * FUZZ_ARGS: -max_len=4096 */
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "fuzz.h"

static void same_specs(const cl_layer_spec *a, const cl_layer_spec *b, int n)
{
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(a[i].kind == b[i].kind && !strcmp(a[i].name, b[i].name));
        FUZZ_CHECK(a[i].out == b[i].out && a[i].k == b[i].k);
        FUZZ_CHECK(a[i].stride == b[i].stride && a[i].pad == b[i].pad);
        FUZZ_CHECK(a[i].bias == b[i].bias && a[i].frozen == b[i].frozen);
        FUZZ_CHECK(a[i].classifier == b[i].classifier);
        FUZZ_CHECK(a[i].eps == b[i].eps && a[i].momentum == b[i].momentum);
    }
}

/* format -> parse -> specs gives the same specs (head options are already
 * applied, so applying them again must change nothing). */
static void round_trip(cl_shape in, const cl_head_opts *head, const cl_layer_spec *s, int n)
{
    char *text = NULL;
    FUZZ_CHECK(cl_modelcfg_format(in, s, n, &text) == CL_OK);
    cl_modelcfg c2;
    FUZZ_CHECK(cl_modelcfg_parse_text(text, "<round trip>", &c2) == CL_OK);
    FUZZ_CHECK(c2.nspecs == n && !c2.type[0]);
    FUZZ_CHECK(c2.in.c == in.c && c2.in.h == in.h && c2.in.w == in.w);
    same_specs(s, c2.specs, n);
    cl_layer_spec *s2 = NULL;
    int n2 = 0;
    FUZZ_CHECK(cl_modelcfg_specs(&c2, in, head, &s2, &n2) == CL_OK);
    FUZZ_CHECK(n2 == n);
    same_specs(s, s2, n);
    cl_free(s2);
    cl_modelcfg_free(&c2);
    cl_free(text);
}

int fuzz_modelcfg(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    cl_modelcfg cfg;
    if (cl_modelcfg_parse_text(text, "fuzz.cfg", &cfg) != CL_OK) {
        FUZZ_CHECK(cfg.specs == NULL);
        free(text);
        return 0;
    }
    FUZZ_CHECK(cfg.nspecs >= 0 && cfg.nspecs <= CL_MODELCFG_MAX_LAYERS);
    cl_shape in = cfg.in.c ? cfg.in : (cl_shape){1, 8, 8};
    cl_head_opts head = {.classes = 10, .bias = 1};
    cl_layer_spec *s = NULL;
    int n = 0;
    if (cl_modelcfg_specs(&cfg, in, &head, &s, &n) == CL_OK) {
        FUZZ_CHECK(n >= 0);
        if (!cfg.type[0]) round_trip(in, &head, s, n);
        cl_free(s);
    }
    cl_modelcfg_free(&cfg);
    free(text);
    return 0;
}

CL_FUZZ_ENTRY(modelcfg)
