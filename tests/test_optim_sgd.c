/* The vectorised SGD loops (optim.c) against a scalar reference of the
 * formula (bit for bit, every variant, several steps, the OpenMP path), and
 * the threaded finiteness check. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/optim.h"

enum { N = 70001 };

/* torch.optim.SGD: d = g + wd p; buf = mu buf + d (buf = d at the first
 * step, the same since buf starts at 0); d = d + mu buf (Nesterov) or buf;
 * p -= lr d; one element at a time, the choices inside the loop. */
static void ref_step(float *p, const float *g, float *buf, int n, float lr, float wd, float mu,
                     int nesterov)
{
    for (int i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (buf) {
            float b = mu * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + mu * b : b;
        }
        p[i] -= lr * d;
    }
}

Test(optim_sgd, variants_bit_identical_to_scalar_formula)
{
    float *p = cl_alloc(N * sizeof(float), "p"), *q = cl_alloc(N * sizeof(float), "q"),
          *g = cl_alloc(N * sizeof(float), "g"), *buf = cl_alloc(N * sizeof(float), "buf");
    cr_assert(p && q && g && buf);
    for (int v = 0; v < 3; v++) { /* plain, momentum, Nesterov */
        cl_optim_cfg c = cl_optim_cfg_default(CL_OPTIM_SGD);
        c.momentum = v ? 0.9 : 0;
        c.nesterov = v == 2;
        cl_param_range r = {.off = 0, .len = N, .group = 0};
        cl_optim *o;
        cr_assert_eq(cl_optim_create(&o, &c, N, &r, 1), CL_OK);
        memset(buf, 0, N * sizeof(float));
        for (int i = 0; i < N; i++) p[i] = q[i] = sinf(0.37f * (float)i);
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < N; i++) g[i] = cosf(0.11f * (float)i + (float)s);
            cl_optim_step(o, p, g, 0.05);
            ref_step(q, g, v ? buf : NULL, N, 0.05f, (float)c.wd[0], (float)c.momentum, v == 2);
            cr_assert(memcmp(p, q, N * sizeof(float)) == 0, "variant %d step %d: params differ",
                      v, s);
            if (v) cr_assert(memcmp(o->state, buf, N * sizeof(float)) == 0, "momentum differs");
        }
        cl_optim_destroy(o);
    }
    cl_free(p), cl_free(q), cl_free(g), cl_free(buf);
}

Test(optim_sgd, all_finite_threaded)
{
    float *x = cl_alloc(N * sizeof(float), "x");
    cr_assert(x);
    for (int i = 0; i < N; i++) x[i] = (float)i;
    cr_assert(cl_all_finite(x, N));
    const int at[] = {0, N / 2, N - 1};
    for (int k = 0; k < 3; k++) {
        x[at[k]] = k == 1 ? INFINITY : NAN;
        cr_assert(!cl_all_finite(x, N), "non-finite at %d missed", at[k]);
        x[at[k]] = 1.0f;
    }
    cl_free(x);
}
