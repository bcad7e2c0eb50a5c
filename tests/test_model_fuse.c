/* cl_model_backward runs a batch norm followed by a ReLU (top-level
 * layers, e.g. a ResNet stem) as one fused kernel: the gradients and the
 * input gradient must be the bits of the layers' own backwards run one
 * after the other, also with the BN in eval mode (eval_prefix), with the
 * BN as the first trained layer (no dx), and at 1 and 2 threads. */
#include <criterion/criterion.h>
#include <omp.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"

#define NL 8
#define BATCH 6

static cl_model *make(void)
{
    cl_layer_spec s[NL];
    memset(s, 0, sizeof s);
    cl_layer_kind k[NL] = {CL_LAYER_CONV2D, CL_LAYER_BATCHNORM, CL_LAYER_RELU,
                           CL_LAYER_CONV2D, CL_LAYER_BATCHNORM, CL_LAYER_RELU,
                           CL_LAYER_GAP,    CL_LAYER_LINEAR};
    for (int i = 0; i < NL; i++) s[i].kind = k[i];
    s[0].out = s[3].out = 5;
    s[0].k = s[3].k = 3;
    s[0].pad = s[3].pad = 1;
    s[7].out = 4;
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    cl_model *m;
    cl_shape in = {3, 9, 9};
    cr_assert_eq(cl_model_create(&m, in, s, NL, &rng), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, BATCH), CL_OK);
    /* BN params away from 1/0, so the mask and the scale matter */
    for (int i = 0; i < NL; i++)
        if (k[i] == CL_LAYER_BATCHNORM)
            for (int64_t j = 0; j < m->layers[i].nparams; j++)
                m->params[m->layers[i].param_off + j] = 0.3f + 0.1f * (float)j;
    return m;
}

/* The layer-by-layer backward (what cl_model_backward did before the
 * fusion) from the same forward state, its gradients into grads. */
static void reference(cl_model *m, const float *x, const float *dz, int train, int first,
                      float *grads)
{
    int64_t big = 0;
    for (int i = 0; i < NL; i++) {
        int64_t a = (int64_t)BATCH * cl_shape_size(m->layers[i].out);
        if (a > big) big = a;
    }
    float *b[2] = {cl_alloc_array((size_t)big, sizeof(float), "t"),
                   cl_alloc_array((size_t)big, sizeof(float), "t")};
    memset(grads, 0, sizeof(float) * (size_t)m->nparams);
    cl_run r = {.n = BATCH, .train = train, .ws = m->ws};
    const float *dy = dz;
    for (int i = NL - 1; i >= first; i--) {
        cl_layer *l = &m->layers[i];
        r.train = train && i >= m->eval_prefix;
        float *dx = i == first ? NULL : b[i & 1];
        cl_layer_ops_table[l->spec.kind]->backward(l, &r, m->params + l->param_off,
                                                   i ? m->acts[i - 1] : x, m->acts[i],
                                                   m->saved + l->saved_off, dy, dx,
                                                   grads + l->param_off);
        dy = dx;
    }
    cl_free(b[0]);
    cl_free(b[1]);
}

static void check(int eval_prefix, int freeze_conv0, int threads)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    cl_model *m = make();
    m->eval_prefix = eval_prefix;
    if (freeze_conv0) m->layers[0].spec.frozen = 1; /* bn1 becomes the first trained layer */
    cl_rng rng;
    cl_rng_seed(&rng, 17);
    float *x = tc_randn(BATCH * 243, &rng, 1, 0.2), *dz = tc_randn(BATCH * 4, &rng, 1, 0);
    float *ref = cl_alloc_array((size_t)m->nparams, sizeof(float), "t");
    cl_model_forward(m, x, BATCH, 1);
    reference(m, x, dz, 1, freeze_conv0, ref);
    cl_model_zero_grad(m);
    cl_model_backward(m, x, dz, BATCH, 1);
    for (int i = 0; i < NL; i++) {
        const cl_layer *l = &m->layers[i];
        cr_assert(memcmp(m->grads + l->param_off, ref + l->param_off,
                         sizeof(float) * (size_t)l->nparams) == 0,
                  "layer %d: gradients differ from the layer-by-layer backward (eval_prefix %d, "
                  "frozen conv %d, %d threads)",
                  i, eval_prefix, freeze_conv0, threads);
    }
    cl_free(x), cl_free(dz), cl_free(ref);
    cl_model_destroy(m);
    omp_set_num_threads(saved);
}

Test(model_fuse, bn_relu_backward_same_bits_as_layers)
{
    for (int th = 1; th <= 2; th++) {
        check(0, 0, th);       /* train mode */
        check(NL + 1, 0, th);  /* every BN in eval mode */
        check(2, 0, th);       /* the first BN in eval mode, the second in train mode */
        check(0, 1, th);       /* bn1 first trained layer: no dx */
    }
}
