/* Blocked activations between layers (cl_model_forward_taps, nn.h): a
 * model whose consecutive identity blocks pass channel-blocked tensors
 * must give the bits of the all-NCHW forward (cl_model_forward): the
 * logits, the tapped activations, the parameter gradients and the running
 * statistics. The layout conversions are pure data moves and the residual
 * add of dx the same float additions, so nothing may differ. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/isa.h"
#include "collapse/mem.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "common.h"

/* Whether blocks of this shape run blocked on this machine and setting. */
static int blocked_here(void)
{
    const char *e = getenv("COLLAPSE_CONV");
    return cl_isa_current() == CL_ISA_AVX512 && !(e && *e && strcmp(e, "auto"));
}

enum { NL = 7, K = 10 };

/* block16, block16, block32 (projection, stride 2), block32, gap,
 * flatten, linear on 16 x 8 x 8 */
static cl_model *make(int n)
{
    cl_layer_spec s[NL];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 4; i++) s[i].kind = CL_LAYER_BLOCK, s[i].out = i < 2 ? 16 : 32;
    s[2].stride = 2;
    s[4].kind = CL_LAYER_GAP;
    s[5].kind = CL_LAYER_FLATTEN;
    s[6].kind = CL_LAYER_LINEAR, s[6].out = K, s[6].bias = 1;
    cl_rng r;
    cl_rng_seed(&r, 5);
    cl_model *m = NULL;
    cr_assert_eq(cl_model_create(&m, (cl_shape){16, 8, 8}, s, NL, &r), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_model_alloc(m, n), CL_OK, "%s", cl_errmsg());
    for (int64_t i = 0; i < m->nparams; i++) m->params[i] += 0.1f * (float)cl_rng_normal(&r);
    return m;
}

static void same(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(!memcmp(&a[i], &b[i], sizeof(float)), "%s: element %lld differs (%g vs %g)",
                  what, (long long)i, (double)a[i], (double)b[i]);
}

typedef struct {
    float *logits, *tap, *grads, *bufs;
    unsigned char blocked[NL];
} run_out;

/* Two train steps (forward + backward) then an eval forward; taps = NULL
 * with ntaps < 0: cl_model_forward, else cl_model_forward_taps. */
static run_out run(int n, const int *taps, int ntaps, int tap_layer)
{
    cl_model *m = make(n);
    cl_rng r;
    cl_rng_seed(&r, 9);
    const int64_t nx = (int64_t)n * 16 * 64;
    float *x = tc_randn(nx, &r, 1, 0.1), *dl = tc_randn((int64_t)n * K, &r, 1, 0);
    run_out o;
    cl_model_zero_grad(m);
    for (int step = 0; step < 2; step++) {
        if (ntaps < 0) cl_model_forward(m, x, n, 1);
        else cl_model_forward_taps(m, x, n, 1, taps, ntaps);
        memcpy(o.blocked, m->act_blocked, NL);
        cl_model_backward(m, x, dl, n, 1);
    }
    const float *y = ntaps < 0 ? cl_model_forward(m, x, n, 0)
                               : cl_model_forward_taps(m, x, n, 0, taps, ntaps);
    const int64_t nt = (int64_t)n * cl_shape_size(m->layers[tap_layer].out);
    o.logits = cl_alloc_array((size_t)n * K, sizeof(float), "logits");
    o.tap = cl_alloc_array((size_t)nt, sizeof(float), "tap");
    o.grads = cl_alloc_array((size_t)m->nparams, sizeof(float), "grads");
    o.bufs = cl_alloc_array((size_t)m->nbufs, sizeof(float), "bufs");
    memcpy(o.logits, y, sizeof(float) * (size_t)n * K);
    memcpy(o.tap, m->acts[tap_layer], sizeof(float) * (size_t)nt);
    memcpy(o.grads, m->grads, sizeof(float) * (size_t)m->nparams);
    memcpy(o.bufs, m->bufs, sizeof(float) * (size_t)m->nbufs);
    cl_free(x), cl_free(dl);
    cl_model_destroy(m);
    return o;
}

static void release(run_out *o)
{
    cl_free(o->logits), cl_free(o->tap), cl_free(o->grads), cl_free(o->bufs);
}

static void compare(int n, const int *taps, int ntaps, int tap_layer, const char *what)
{
    cl_model *m = make(n);
    const int64_t np = m->nparams, nb = m->nbufs;
    const int64_t nt = (int64_t)n * cl_shape_size(m->layers[tap_layer].out);
    cl_model_destroy(m);
    run_out a = run(n, NULL, -1, tap_layer), b = run(n, taps, ntaps, tap_layer);
    for (int i = 0; i < NL; i++) cr_assert_eq(a.blocked[i], 0, "%s: cl_model_forward blocked", what);
    same(a.logits, b.logits, (int64_t)n * K, what);
    same(a.tap, b.tap, nt, what);
    same(a.grads, b.grads, np, what);
    same(a.bufs, b.bufs, nb, what);
    /* identity blocks take and give blocked tensors, the projection (2)
     * gives them: blocked are 0 -> 1 and 2 -> 3 */
    for (int i = 0; i < NL; i++) {
        int want = blocked_here() && (i == 0 || i == 2);
        for (int k = 0; k < ntaps; k++) want &= taps[k] != i;
        cr_assert_eq(b.blocked[i], want, "%s: layer %d blocked %d, expected %d", what, i,
                     b.blocked[i], want);
    }
    release(&a), release(&b);
}

Test(model_layout, blocked_between_blocks_gives_the_same_bits)
{
    compare(3, NULL, 0, 3, "logits only"); /* layer 3 feeds the pool: NCHW */
}

Test(model_layout, a_tapped_activation_stays_nchw)
{
    const int taps[] = {1, -1, 99};
    compare(4, taps, 3, 1, "tap on block 1");
    const int t0[] = {0};
    compare(2, t0, 1, 0, "tap on block 0");
    const int t2[] = {2};
    compare(3, t2, 1, 2, "tap on the projection");
}
